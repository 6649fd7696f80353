//! One canonical tree per response, written out as JSON or as XML.
//!
//! Every response type builds a [`Node`] tree once; the two writers below turn
//! that same tree into JSON (the GeoReport v2 shape: the root element is
//! dropped, so a list document is a bare array) or into XML (the root element
//! kept, each list item wrapped in its singular element, the "Spark"
//! convention of the Open311 wiki). The two formats therefore cannot drift
//! apart field by field.

use std::borrow::Cow;
use std::fmt::Write as _;

use serde::ser::{SerializeMap, SerializeSeq};
use time::OffsetDateTime;

/// The representation a client asked for, from the extension of the resource
/// (`services.json`, `requests.xml`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Format {
    Json,
    Xml,
}

impl Format {
    /// Both formats, in the order announced by service discovery.
    pub const ALL: [Format; 2] = [Format::Xml, Format::Json];

    /// The format named by a resource extension (`json`, `xml`), exactly.
    ///
    /// ```
    /// use civicmap::open311::Format;
    /// assert_eq!(Format::from_extension("xml"), Some(Format::Xml));
    /// assert_eq!(Format::from_extension("html"), None);
    /// ```
    #[must_use]
    pub fn from_extension(ext: &str) -> Option<Format> {
        match ext {
            "json" => Some(Format::Json),
            "xml" => Some(Format::Xml),
            _ => None,
        }
    }

    /// Splits the last path segment of an Open311 resource into its stem and
    /// format: `"services.json"` → `("services", Json)`,
    /// `"123.xml"` → `("123", Xml)`. `None` when there is no known extension.
    ///
    /// ```
    /// use civicmap::open311::Format;
    /// assert_eq!(Format::split_resource("42.json"), Some(("42", Format::Json)));
    /// assert_eq!(Format::split_resource("42"), None);
    /// ```
    #[must_use]
    pub fn split_resource(segment: &str) -> Option<(&str, Format)> {
        let (stem, ext) = segment.rsplit_once('.')?;
        Format::from_extension(ext).map(|f| (stem, f))
    }

    /// The `Content-Type` of a response body in this format.
    #[must_use]
    pub fn content_type(self) -> &'static str {
        match self {
            Format::Json => "application/json; charset=utf-8",
            Format::Xml => "text/xml; charset=utf-8",
        }
    }

    /// The media type announced in service discovery (`formats`).
    #[must_use]
    pub fn media_type(self) -> &'static str {
        match self {
            Format::Json => "application/json",
            Format::Xml => "text/xml",
        }
    }
}

/// A response document: something with a GeoReport v2 root element.
///
/// Implemented by every response type of [`crate::open311`]; the HTTP side
/// only needs [`Document::render`] and [`Format::content_type`].
pub trait Document {
    /// The body in the requested format (UTF-8; XML starts with its
    /// declaration).
    fn render(&self, format: Format) -> String;
}

/// A value of the canonical tree. Field and element names are `'static`:
/// they are the spec's names, never client input, so they need no escaping.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Node<'a> {
    /// JSON `null`, XML empty element.
    Null,
    Bool(bool),
    Int(i64),
    /// Non-finite values are written as `null` / empty.
    Num(f64),
    Text(Cow<'a, str>),
    /// A list; in XML each item is wrapped in an element of the given name.
    List(&'static str, Vec<Node<'a>>),
    /// Fields in output order.
    Object(Vec<(&'static str, Node<'a>)>),
}

impl<'a> Node<'a> {
    pub(crate) fn text(s: &'a str) -> Self {
        Node::Text(Cow::Borrowed(s))
    }

    pub(crate) fn opt_text(s: Option<&'a str>) -> Self {
        s.map_or(Node::Null, Node::text)
    }

    pub(crate) fn datetime(t: OffsetDateTime) -> Self {
        Node::Text(Cow::Owned(w3c_datetime(t)))
    }

    pub(crate) fn opt_datetime(t: Option<OffsetDateTime>) -> Self {
        t.map_or(Node::Null, Node::datetime)
    }
}

/// A whole document: the root element name and its content.
pub(crate) struct Root<'a> {
    pub(crate) name: &'static str,
    pub(crate) node: Node<'a>,
}

impl Root<'_> {
    pub(crate) fn render(&self, format: Format) -> String {
        match format {
            Format::Json => to_json(&self.node),
            Format::Xml => to_xml(self.name, &self.node),
        }
    }
}

/// Formats a datetime as the W3C profile of ISO 8601 that GeoReport v2
/// requires: `YYYY-MM-DDThh:mm:ss` then `Z` for UTC or `±hh:mm`, whole
/// seconds (the offset the value carries is kept; seconds of offset, which
/// no real zone has today, are dropped).
///
/// ```
/// use civicmap::open311::w3c_datetime;
/// use time::macros::datetime;
/// assert_eq!(w3c_datetime(datetime!(2024-05-01 08:15:30.25 UTC)), "2024-05-01T08:15:30Z");
/// assert_eq!(w3c_datetime(datetime!(2024-05-01 10:15:30 +02:00)), "2024-05-01T10:15:30+02:00");
/// ```
#[must_use]
pub fn w3c_datetime(t: OffsetDateTime) -> String {
    let mut s = String::with_capacity(25);
    match u16::try_from(t.year()) {
        // Digits pushed one by one (bulk exports write two per request).
        Ok(year) if year <= 9999 => {
            let mut digits = |n: u16, width: u32| {
                for p in (0..width).rev() {
                    let d = n / 10_u16.pow(p) % 10;
                    s.push(char::from(b'0' + u8::try_from(d).unwrap_or(0)));
                }
            };
            digits(year, 4);
            for (sep, n) in [
                ('-', u8::from(t.month())),
                ('-', t.day()),
                ('T', t.hour()),
                (':', t.minute()),
                (':', t.second()),
            ] {
                s.push(sep);
                s.push(char::from(b'0' + n / 10));
                s.push(char::from(b'0' + n % 10));
            }
        }
        _ => {
            let _ = write!(
                s,
                "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}",
                t.year(),
                u8::from(t.month()),
                t.day(),
                t.hour(),
                t.minute(),
                t.second()
            );
        }
    }
    let minutes = t.offset().whole_minutes();
    if minutes == 0 {
        s.push('Z');
    } else {
        let sign = if minutes < 0 { '-' } else { '+' };
        let m = minutes.unsigned_abs();
        let _ = write!(s, "{sign}{:02}:{:02}", m / 60, m % 60);
    }
    s
}

impl serde::Serialize for Node<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Node::Null => s.serialize_unit(),
            Node::Bool(b) => s.serialize_bool(*b),
            Node::Int(i) => s.serialize_i64(*i),
            Node::Num(x) if x.is_finite() => s.serialize_f64(*x),
            Node::Num(_) => s.serialize_unit(),
            Node::Text(t) => s.serialize_str(t),
            Node::List(_, items) => {
                let mut seq = s.serialize_seq(Some(items.len()))?;
                for item in items {
                    seq.serialize_element(item)?;
                }
                seq.end()
            }
            Node::Object(fields) => {
                let mut map = s.serialize_map(Some(fields.len()))?;
                for (k, v) in fields {
                    map.serialize_entry(k, v)?;
                }
                map.end()
            }
        }
    }
}

/// The body sent if JSON writing ever failed (it cannot: every key is a
/// string and every value a plain one), so that no panic path exists.
const JSON_FALLBACK: &str = r#"[{"code":500,"description":"internal error"}]"#;

fn to_json(node: &Node<'_>) -> String {
    serde_json::to_string(node).unwrap_or_else(|_| JSON_FALLBACK.to_owned())
}

/// The first line of every XML document.
pub(crate) const XML_DECLARATION: &str = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n";

fn to_xml(root: &'static str, node: &Node<'_>) -> String {
    let mut out = String::from(XML_DECLARATION);
    write_element(&mut out, root, node);
    out.push('\n');
    out
}

/// Appends one item of a list document as the whole document's writer
/// would write it: its JSON value, or its XML element named `item`.
pub(crate) fn write_item(out: &mut String, format: Format, item: &'static str, node: &Node<'_>) {
    match format {
        Format::Json => out.push_str(&serde_json::to_string(node).unwrap_or_default()),
        Format::Xml => write_element(out, item, node),
    }
}

fn write_element(out: &mut String, name: &'static str, node: &Node<'_>) {
    debug_assert!(is_xml_name(name), "not an XML element name: {name:?}");
    let empty = match node {
        Node::Null => true,
        Node::Num(x) => !x.is_finite(),
        Node::List(_, items) => items.is_empty(),
        Node::Object(fields) => fields.is_empty(),
        Node::Bool(_) | Node::Int(_) | Node::Text(_) => false,
    };
    // Tags pushed piece by piece: `write!` goes through `core::fmt`, which
    // was a tenth of the bulk XML export's time (BENCHMARKS.md §22).
    out.push('<');
    out.push_str(name);
    if empty {
        out.push_str("/>");
        return;
    }
    out.push('>');
    match node {
        Node::Null => {}
        Node::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Node::Int(i) => {
            let _ = write!(out, "{i}");
        }
        // Rust's `Display` for f64 is the shortest round-trip form and never
        // uses an exponent, which XML clients parse most easily.
        Node::Num(x) => {
            let _ = write!(out, "{x}");
        }
        Node::Text(t) => escape_text(out, t),
        Node::List(item, items) => {
            for i in items {
                write_element(out, item, i);
            }
        }
        Node::Object(fields) => {
            for (k, v) in fields {
                write_element(out, k, v);
            }
        }
    }
    out.push_str("</");
    out.push_str(name);
    out.push('>');
}

/// Whether `name` is a plain ASCII XML element name (what the spec uses).
fn is_xml_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-' || c == '.')
}

/// Escapes character data for XML 1.0: the five predefined entities, `\r` as
/// a character reference (so that it survives end-of-line normalisation), and
/// the characters XML 1.0 cannot carry at all (C0 controls other than tab and
/// newline, U+FFFE, U+FFFF) replaced by U+FFFD.
pub(crate) fn escape_text(out: &mut String, s: &str) {
    // Runs of characters that need nothing are copied whole; only a
    // character that needs a replacement ends a run.
    let mut run = 0;
    for (at, c) in s.char_indices() {
        let replacement = match c {
            '&' => "&amp;",
            '<' => "&lt;",
            '>' => "&gt;",
            '"' => "&quot;",
            '\'' => "&apos;",
            '\r' => "&#13;",
            '\t' | '\n' => continue,
            c if c < ' ' || c == '\u{FFFE}' || c == '\u{FFFF}' => "\u{FFFD}",
            _ => continue,
        };
        out.push_str(&s[run..at]);
        out.push_str(replacement);
        run = at + c.len_utf8();
    }
    out.push_str(&s[run..]);
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    /// Character by character, as the escaping rule reads.
    fn escaped_one_by_one(s: &str) -> String {
        let mut out = String::new();
        for c in s.chars() {
            match c {
                '&' => out.push_str("&amp;"),
                '<' => out.push_str("&lt;"),
                '>' => out.push_str("&gt;"),
                '"' => out.push_str("&quot;"),
                '\'' => out.push_str("&apos;"),
                '\r' => out.push_str("&#13;"),
                '\t' | '\n' => out.push(c),
                c if c < ' ' || c == '\u{FFFE}' || c == '\u{FFFF}' => out.push('\u{FFFD}'),
                c => out.push(c),
            }
        }
        out
    }

    proptest::proptest! {
        #[test]
        fn datetimes_written_digit_by_digit_read_as_the_formatted_ones(
            secs in -62_000_000_000_i64..253_402_214_399,
            offset_min in -15 * 60_i32..=15 * 60,
        ) {
            let offset = time::UtcOffset::from_whole_seconds(offset_min * 60).unwrap();
            let t = OffsetDateTime::from_unix_timestamp(secs).unwrap().to_offset(offset);
            let mut want = format!(
                "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}",
                t.year(), u8::from(t.month()), t.day(), t.hour(), t.minute(), t.second()
            );
            if offset_min == 0 {
                want.push('Z');
            } else {
                let m = offset_min.unsigned_abs();
                want.push_str(&format!("{}{:02}:{:02}", if offset_min < 0 { '-' } else { '+' }, m / 60, m % 60));
            }
            proptest::prop_assert_eq!(w3c_datetime(t), want);
        }

        #[test]
        fn escaping_by_runs_writes_what_escaping_each_character_writes(
            s in "[a-zé€😀&<>\"'\r\t\n\\x00-\\x1f\u{FFFE}\u{FFFF} ]{0,40}|\\PC{0,40}",
        ) {
            let mut out = String::from("kept");
            escape_text(&mut out, &s);
            proptest::prop_assert_eq!(out, format!("kept{}", escaped_one_by_one(&s)));
        }
    }

    #[test]
    fn datetimes_are_w3c_with_an_offset_and_whole_seconds() {
        assert_eq!(
            w3c_datetime(datetime!(2010-04-14 14:37:38.123 UTC)),
            "2010-04-14T14:37:38Z"
        );
        assert_eq!(
            w3c_datetime(datetime!(2010-04-14 06:37:38 -08:00)),
            "2010-04-14T06:37:38-08:00"
        );
        assert_eq!(
            w3c_datetime(datetime!(2010-04-14 20:07:38 +05:30)),
            "2010-04-14T20:07:38+05:30"
        );
    }

    #[test]
    fn xml_text_escapes_markup_quotes_and_carriage_returns_and_drops_what_xml_cannot_carry() {
        let mut out = String::new();
        escape_text(&mut out, "a<b>&\"c\"'d'\r\n\te\u{1}f\u{FFFF}");
        assert_eq!(
            out,
            "a&lt;b&gt;&amp;&quot;c&quot;&apos;d&apos;&#13;\n\te\u{FFFD}f\u{FFFD}"
        );
    }

    #[test]
    fn empty_lists_and_nulls_are_empty_elements_and_non_finite_numbers_are_null() {
        let node = Node::Object(vec![
            ("a", Node::Null),
            ("b", Node::List("x", vec![])),
            ("c", Node::Num(f64::NAN)),
            ("d", Node::Num(48.5)),
        ]);
        let root = Root { name: "r", node };
        assert_eq!(
            root.render(Format::Xml),
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<r><a/><b/><c/><d>48.5</d></r>\n"
        );
        assert_eq!(
            root.render(Format::Json),
            r#"{"a":null,"b":[],"c":null,"d":48.5}"#
        );
    }

    #[test]
    fn resource_names_split_into_stem_and_format() {
        assert_eq!(
            Format::split_resource("services.xml"),
            Some(("services", Format::Xml))
        );
        assert_eq!(
            Format::split_resource("a.b.json"),
            Some(("a.b", Format::Json))
        );
        assert_eq!(Format::split_resource("services.JSON"), None);
        assert_eq!(Format::split_resource("services"), None);
    }
}
