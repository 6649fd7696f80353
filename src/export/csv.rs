//! CSV (RFC 4180): a header line, then one line per record, CRLF line ends,
//! a field quoted when it holds a comma, a quote, CR or LF (quotes doubled
//! inside). A missing value is an empty field; booleans are `true`/`false`;
//! times are RFC 3339 in UTC as in the JSON API. Districts take three
//! columns per layer: `district_{layer}_id` (the public id),
//! `district_{layer}_code`, `district_{layer}_name` (a project's own
//! `arrondissement_code` is the city's, as published).

use std::fmt::Write as _;

use super::{Context, ReportRecord, write_rfc3339_ms};
use crate::model::{Districts, Layer, Project};

/// The report columns before the district ones.
const REPORT_COLUMNS: [&str; 21] = [
    "id",
    "kind",
    "category",
    "category_label",
    "subcategory",
    "subcategory_label",
    "description",
    "lon",
    "lat",
    "h3",
    "address",
    "channel",
    "created_at",
    "status",
    "open",
    "updated_at",
    "closed_at",
    "supports",
    "duplicate_of",
    "campaign",
    "working_class",
];

/// The project columns before the district ones.
const PROJECT_COLUMNS: [&str; 22] = [
    "id",
    "title",
    "edition",
    "theme",
    "lead_department",
    "budget_eur",
    "scale",
    "address",
    "arrondissement_code",
    "working_class_flag",
    "progress",
    "studies_start",
    "procedures_start",
    "works_start",
    "delivery_planned",
    "opened",
    "url",
    "lon",
    "lat",
    "geocode_quality",
    "h3",
    "working_class",
];

/// Appends the header line of the reports file.
pub fn report_header(out: &mut Vec<u8>) {
    header(out, &REPORT_COLUMNS);
}

/// Appends the header line of the projects file.
pub fn project_header(out: &mut Vec<u8>) {
    header(out, &PROJECT_COLUMNS);
}

fn header(out: &mut Vec<u8>, columns: &[&str]) {
    let mut line = Line::new(out);
    for c in columns {
        line.text(c);
    }
    for layer in Layer::ALL {
        for part in ["id", "code", "name"] {
            line.raw(format_args!("district_{}_{part}", layer.as_str()));
        }
    }
    line.end();
}

/// Appends one report line.
pub fn write_report(out: &mut Vec<u8>, ctx: &Context<'_>, r: &ReportRecord<'_>) {
    let (category, category_label) = ctx.category(r);
    let sub = ctx.subcategory(r);
    let mut line = Line::new(out);
    line.int(r.id);
    line.text(r.kind.as_str());
    line.text(category);
    line.text(category_label);
    line.opt(sub.map(|s| s.0));
    line.opt(sub.map(|s| s.1));
    line.text(r.description);
    line.raw(format_args!("{}", r.location.lon()));
    line.raw(format_args!("{}", r.location.lat()));
    line.raw(format_args!("{:x}", r.h3));
    line.opt(r.address);
    line.text(r.channel.as_str());
    line.time(Some(r.created_ms));
    line.text(r.status.as_str());
    line.bool(r.status.is_open());
    line.time(Some(r.updated_ms));
    line.time(r.closed_ms);
    line.int(i64::from(r.supports));
    line.opt_int(r.duplicate_of);
    line.opt(r.campaign);
    line.bool(r.districts.working_class());
    line.districts(ctx, &r.districts);
    line.end();
}

/// Appends one project line.
pub fn write_project(out: &mut Vec<u8>, ctx: &Context<'_>, p: &Project) {
    let mut line = Line::new(out);
    line.int(p.id);
    line.opt(p.title.as_deref());
    line.int(i64::from(p.edition));
    line.opt(p.theme.as_deref());
    line.opt(p.lead_department.as_deref());
    line.int(p.budget_eur);
    line.text(p.scale.as_str());
    line.opt(p.address.as_deref());
    line.opt(p.arrondissement_code.as_deref());
    line.bool(p.working_class_flag);
    for milestone in [
        &p.progress,
        &p.studies_start,
        &p.procedures_start,
        &p.works_start,
        &p.delivery_planned,
        &p.opened,
        &p.url,
    ] {
        line.opt(milestone.as_deref());
    }
    match p.location {
        Some(l) => {
            line.raw(format_args!("{}", l.lon()));
            line.raw(format_args!("{}", l.lat()));
        }
        None => {
            line.opt(None);
            line.opt(None);
        }
    }
    line.opt(p.geocode_quality.as_deref());
    match p.h3 {
        Some(h) => line.raw(format_args!("{h:x}")),
        None => line.opt(None),
    }
    line.bool(p.districts.working_class());
    line.districts(ctx, &p.districts);
    line.end();
}

/// One line being written: fields separated by commas.
struct Line<'o> {
    out: &'o mut Vec<u8>,
    first: bool,
}

impl<'o> Line<'o> {
    fn new(out: &'o mut Vec<u8>) -> Self {
        Self { out, first: true }
    }

    fn next(&mut self) {
        if !std::mem::take(&mut self.first) {
            self.out.push(b',');
        }
    }

    /// A field that never needs quoting (numbers, codes).
    fn raw(&mut self, value: std::fmt::Arguments<'_>) {
        self.next();
        let _ = ByteWriter(self.out).write_fmt(value);
    }

    fn text(&mut self, s: &str) {
        self.next();
        if s.bytes().any(|b| matches!(b, b',' | b'"' | b'\r' | b'\n')) {
            self.out.push(b'"');
            for part in s.split_inclusive('"') {
                self.out.extend_from_slice(part.as_bytes());
                if part.ends_with('"') {
                    self.out.push(b'"');
                }
            }
            self.out.push(b'"');
        } else {
            self.out.extend_from_slice(s.as_bytes());
        }
    }

    fn opt(&mut self, s: Option<&str>) {
        match s {
            Some(s) => self.text(s),
            None => self.next(),
        }
    }

    fn int(&mut self, v: i64) {
        self.raw(format_args!("{v}"));
    }

    fn opt_int(&mut self, v: Option<i64>) {
        match v {
            Some(v) => self.int(v),
            None => self.next(),
        }
    }

    fn bool(&mut self, b: bool) {
        self.next();
        self.out
            .extend_from_slice(if b { b"true" } else { b"false" });
    }

    fn time(&mut self, ms: Option<i64>) {
        self.next();
        if let Some(ms) = ms {
            write_rfc3339_ms(self.out, ms);
        }
    }

    fn districts(&mut self, ctx: &Context<'_>, d: &Districts) {
        for layer in Layer::ALL {
            let district = ctx.district(d, layer);
            self.opt(district.map(|d| d.public_id.as_str()));
            self.opt(district.map(|d| d.code.as_str()));
            self.opt(district.map(|d| d.name.as_str()));
        }
    }

    fn end(self) {
        self.out.extend_from_slice(b"\r\n");
    }
}

/// `fmt::Write` into a byte buffer (numbers are written without an
/// intermediate `String`).
struct ByteWriter<'a>(&'a mut Vec<u8>);

impl std::fmt::Write for ByteWriter<'_> {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        self.0.extend_from_slice(s.as_bytes());
        Ok(())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn one_field(s: &str) -> String {
        let mut out = Vec::new();
        let mut line = Line::new(&mut out);
        line.text(s);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn fields_with_commas_quotes_or_line_breaks_are_quoted_and_quotes_doubled() {
        assert_eq!(one_field("plain text"), "plain text");
        assert_eq!(one_field("a,b"), "\"a,b\"");
        assert_eq!(one_field("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(one_field("\"\""), "\"\"\"\"\"\"");
        assert_eq!(one_field("a\r\nb"), "\"a\r\nb\"");
        assert_eq!(one_field(""), "");
    }

    #[test]
    fn each_header_names_every_column_once() {
        for (write, plain) in [
            (report_header as fn(&mut Vec<u8>), REPORT_COLUMNS.len()),
            (project_header, PROJECT_COLUMNS.len()),
        ] {
            let mut out = Vec::new();
            write(&mut out);
            let text = String::from_utf8(out).unwrap();
            let names: Vec<&str> = text.trim_end().split(',').collect();
            assert_eq!(names.len(), plain + 15);
            let mut unique = names.clone();
            unique.sort_unstable();
            unique.dedup();
            assert_eq!(unique.len(), names.len(), "{text}");
            assert!(names.contains(&"district_working_class_code"));
        }
    }
}
