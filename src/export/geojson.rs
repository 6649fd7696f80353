//! GeoJSON (RFC 7946): one `FeatureCollection`, written feature by feature,
//! one feature per line. Positions are `[lon, lat]` in WGS 84 (no `crs`
//! member); the feature `id` is the record's id; the properties are the
//! fields of the JSON API (`GET /api/v1/reports/{id}`,
//! `GET /api/v1/projects/{id}`) but the position, with the same names and
//! values. A project that could not be located has a `null` geometry.

use serde::Serialize;

use super::{Context, ReportRecord, Rfc3339Ms};
use crate::model::{Districts, Layer, Project};

/// The bytes before the first feature.
pub const START: &[u8] = b"{\"type\":\"FeatureCollection\",\"features\":[\n";

/// The bytes after the last feature.
pub const END: &[u8] = b"\n]}\n";

#[derive(Serialize)]
struct Feature<P> {
    #[serde(rename = "type")]
    kind: &'static str,
    id: i64,
    geometry: Option<Point>,
    properties: P,
}

#[derive(Serialize)]
struct Point {
    #[serde(rename = "type")]
    kind: &'static str,
    coordinates: [f64; 2],
}

impl Point {
    fn new(lon: f64, lat: f64) -> Self {
        Self {
            kind: "Point",
            coordinates: [lon, lat],
        }
    }
}

/// An H3 index as lower-case hex, as the API writes it.
struct Hex(u64);

impl Serialize for Hex {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        // `{:x}`, on the stack.
        let mut buf = [0_u8; 16];
        let mut start = buf.len();
        let mut v = self.0;
        loop {
            start -= 1;
            buf[start] = b"0123456789abcdef"[(v & 15) as usize];
            v >>= 4;
            if v == 0 {
                break;
            }
        }
        s.serialize_str(std::str::from_utf8(&buf[start..]).unwrap_or_default())
    }
}

#[derive(Serialize)]
struct DistrictProps<'a> {
    id: &'a str,
    code: &'a str,
    name: &'a str,
}

#[derive(Serialize)]
struct DistrictsProps<'a> {
    arrondissement: Option<DistrictProps<'a>>,
    quartier: Option<DistrictProps<'a>>,
    conseil_quartier: Option<DistrictProps<'a>>,
    iris: Option<DistrictProps<'a>>,
    working_class: Option<DistrictProps<'a>>,
}

impl<'a> DistrictsProps<'a> {
    fn new(ctx: &Context<'a>, d: &Districts) -> Self {
        let one = |layer| {
            ctx.district(d, layer).map(|d| DistrictProps {
                id: &d.public_id,
                code: &d.code,
                name: &d.name,
            })
        };
        Self {
            arrondissement: one(Layer::Arrondissement),
            quartier: one(Layer::Quartier),
            conseil_quartier: one(Layer::ConseilQuartier),
            iris: one(Layer::Iris),
            working_class: one(Layer::WorkingClass),
        }
    }
}

#[derive(Serialize)]
struct ReportProps<'a> {
    id: i64,
    kind: &'static str,
    category: &'a str,
    category_label: &'a str,
    subcategory: Option<&'a str>,
    subcategory_label: Option<&'a str>,
    description: &'a str,
    h3: Hex,
    address: Option<&'a str>,
    channel: &'static str,
    created_at: Rfc3339Ms,
    status: &'static str,
    open: bool,
    updated_at: Rfc3339Ms,
    closed_at: Option<Rfc3339Ms>,
    supports: u32,
    duplicate_of: Option<i64>,
    campaign: Option<&'a str>,
    districts: DistrictsProps<'a>,
    working_class: bool,
}

#[derive(Serialize)]
struct ProjectProps<'a> {
    id: i64,
    title: Option<&'a str>,
    edition: i32,
    theme: Option<&'a str>,
    lead_department: Option<&'a str>,
    budget_eur: i64,
    scale: &'static str,
    address: Option<&'a str>,
    arrondissement_code: Option<&'a str>,
    working_class_flag: bool,
    progress: Option<&'a str>,
    studies_start: Option<&'a str>,
    procedures_start: Option<&'a str>,
    works_start: Option<&'a str>,
    delivery_planned: Option<&'a str>,
    opened: Option<&'a str>,
    url: Option<&'a str>,
    geocode_quality: Option<&'a str>,
    h3: Option<Hex>,
    districts: DistrictsProps<'a>,
    working_class: bool,
}

/// Appends one report feature; `first` is whether it is the collection's
/// first (the others are preceded by a comma and a line break).
pub fn write_report(out: &mut Vec<u8>, ctx: &Context<'_>, r: &ReportRecord<'_>, first: bool) {
    let (category, category_label) = ctx.category(r);
    let sub = ctx.subcategory(r);
    let feature = Feature {
        kind: "Feature",
        id: r.id,
        geometry: Some(Point::new(r.location.lon(), r.location.lat())),
        properties: ReportProps {
            id: r.id,
            kind: r.kind.as_str(),
            category,
            category_label,
            subcategory: sub.map(|s| s.0),
            subcategory_label: sub.map(|s| s.1),
            description: r.description,
            h3: Hex(r.h3),
            address: r.address,
            channel: r.channel.as_str(),
            created_at: Rfc3339Ms(r.created_ms),
            status: r.status.as_str(),
            open: r.status.is_open(),
            updated_at: Rfc3339Ms(r.updated_ms),
            closed_at: r.closed_ms.map(Rfc3339Ms),
            supports: r.supports,
            duplicate_of: r.duplicate_of,
            campaign: r.campaign,
            districts: DistrictsProps::new(ctx, &r.districts),
            working_class: r.districts.working_class(),
        },
    };
    write(out, &feature, first);
}

/// Appends one project feature, as [`write_report`].
pub fn write_project(out: &mut Vec<u8>, ctx: &Context<'_>, p: &Project, first: bool) {
    let feature = Feature {
        kind: "Feature",
        id: p.id,
        geometry: p.location.map(|l| Point::new(l.lon(), l.lat())),
        properties: ProjectProps {
            id: p.id,
            title: p.title.as_deref(),
            edition: p.edition,
            theme: p.theme.as_deref(),
            lead_department: p.lead_department.as_deref(),
            budget_eur: p.budget_eur,
            scale: p.scale.as_str(),
            address: p.address.as_deref(),
            arrondissement_code: p.arrondissement_code.as_deref(),
            working_class_flag: p.working_class_flag,
            progress: p.progress.as_deref(),
            studies_start: p.studies_start.as_deref(),
            procedures_start: p.procedures_start.as_deref(),
            works_start: p.works_start.as_deref(),
            delivery_planned: p.delivery_planned.as_deref(),
            opened: p.opened.as_deref(),
            url: p.url.as_deref(),
            geocode_quality: p.geocode_quality.as_deref(),
            h3: p.h3.map(Hex),
            districts: DistrictsProps::new(ctx, &p.districts),
            working_class: p.districts.working_class(),
        },
    };
    write(out, &feature, first);
}

fn write<P: Serialize>(out: &mut Vec<u8>, feature: &Feature<P>, first: bool) {
    if !first {
        out.extend_from_slice(b",\n");
    }
    // Writing into a Vec cannot fail, and every value is a plain one
    // (serde_json writes a non-finite number as null).
    let _ = serde_json::to_writer(&mut *out, feature);
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn h3_cells_are_written_as_the_api_writes_them() {
        for cell in [0, 1, 15, 16, 0xff, 0x08c1_fb46_e5b2_dbff, u64::MAX] {
            let json = serde_json::to_string(&Hex(cell)).unwrap();
            assert_eq!(json, format!("\"{}\"", crate::spatial::h3_hex(cell)));
        }
    }
}
