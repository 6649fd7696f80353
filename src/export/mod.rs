//! Open-data export formats: the pure part of `GET /api/v1/export/…` and of
//! the daily snapshot (`civicmap snapshot`).
//!
//! Each writer appends the bytes of a batch of records to a buffer, so an
//! export is written page by page and never held whole: [`csv`] (RFC 4180,
//! one header line), [`geojson`] (an RFC 7946 `FeatureCollection`, one
//! feature per line) and [`georeport`] (Open311 GeoReport v2 service
//! requests with civicmap's extended attributes, one JSON array or one XML
//! `<service_requests>` document, rendered by [`crate::open311`]). Each
//! format has a `start`, a per-record writer and an `end`; concatenated
//! they make one valid document, whatever the number of batches.
//!
//! Every public field of a report is written (those of `GET
//! /api/v1/reports/{id}`, with the same values); a [`ReportRecord`] has no
//! field for the reporter's contact or the client id, so no writer can leak
//! them. Closed reports are included: an export is the full record, faded or
//! not.
//!
//! Pure: no IO, no HTTP, no SQL. The service reads the store and turns its
//! rows into records (`service/export.rs`).

pub mod csv;
pub mod geojson;
pub mod georeport;

use crate::districts::{District, DistrictRegistry};
use crate::model::{
    CategoryId, Channel, Districts, Kind, Layer, LonLat, ReportId, Status, Taxonomy,
};

/// One report as exported: a [`crate::model::Report`] without its private
/// fields, with what changed since it was filed, borrowing its texts from
/// the page it was read from.
#[derive(Debug, Clone, PartialEq)]
pub struct ReportRecord<'a> {
    pub id: ReportId,
    pub kind: Kind,
    pub category: CategoryId,
    /// Index into the category's subcategories.
    pub subcategory: Option<u16>,
    pub description: &'a str,
    pub location: LonLat,
    pub h3: u64,
    pub address: Option<&'a str>,
    pub channel: Channel,
    pub created_ms: i64,
    pub status: Status,
    /// The filing, or the last change of state, note or support, whichever
    /// is later (unix ms).
    pub updated_ms: i64,
    /// When it last closed; `None` while open.
    pub closed_ms: Option<i64>,
    pub supports: u32,
    pub duplicate_of: Option<ReportId>,
    pub campaign: Option<&'a str>,
    pub districts: Districts,
}

/// What the writers look labels and districts up in.
#[derive(Clone, Copy)]
pub struct Context<'a> {
    pub taxonomy: &'a Taxonomy,
    pub districts: &'a DistrictRegistry,
}

impl<'a> Context<'a> {
    fn category(&self, r: &ReportRecord<'_>) -> (&'a str, &'a str) {
        let c = self.taxonomy.category(r.category);
        (&c.code, &c.label)
    }

    fn subcategory(&self, r: &ReportRecord<'_>) -> Option<(&'a str, &'a str)> {
        r.subcategory
            .and_then(|i| self.taxonomy.subcategory(r.category, i))
            .map(|s| (s.code.as_str(), s.label.as_str()))
    }

    fn district(&self, d: &Districts, layer: Layer) -> Option<&'a District> {
        d.get(layer).and_then(|id| self.districts.get(id))
    }
}

/// The media type of each export format.
pub mod media_type {
    pub const CSV: &str = "text/csv; charset=utf-8; header=present";
    pub const GEOJSON: &str = "application/geo+json";
}

/// Writes `ms` (unix milliseconds) as RFC 3339 in UTC exactly as the JSON
/// API does (`time`'s `Rfc3339`): `YYYY-MM-DDThh:mm:ss`, the fraction of a
/// second without trailing zeros when not zero, then `Z`. Years outside
/// 0–9999, which RFC 3339 cannot write, give an empty string, as the API.
pub fn write_rfc3339_ms(out: &mut Vec<u8>, ms: i64) {
    out.extend_from_slice(Rfc3339Buf::new(ms).as_bytes());
}

/// The text of [`write_rfc3339_ms`] on the stack (at most 24 bytes).
struct Rfc3339Buf {
    bytes: [u8; 24],
    len: usize,
}

impl Rfc3339Buf {
    fn new(ms: i64) -> Self {
        let mut b = Self {
            bytes: [0; 24],
            len: 0,
        };
        let days = ms.div_euclid(86_400_000);
        let in_day = ms.rem_euclid(86_400_000);
        let (year, month, day) = civil_from_days(days);
        if !(0..=9999).contains(&year) {
            return b;
        }
        let secs = in_day / 1000;
        let frac = in_day % 1000;
        b.two(year / 100);
        b.two(year % 100);
        b.push(b'-');
        b.two(month);
        b.push(b'-');
        b.two(day);
        b.push(b'T');
        b.two(secs / 3600);
        b.push(b':');
        b.two(secs / 60 % 60);
        b.push(b':');
        b.two(secs % 60);
        if frac != 0 {
            b.push(b'.');
            let digits = [frac / 100, frac / 10 % 10, frac % 10];
            let keep = if frac % 100 == 0 {
                1
            } else if frac % 10 == 0 {
                2
            } else {
                3
            };
            for d in &digits[..keep] {
                b.digit(*d);
            }
        }
        b.push(b'Z');
        b
    }

    fn push(&mut self, byte: u8) {
        self.bytes[self.len] = byte;
        self.len += 1;
    }

    fn digit(&mut self, d: i64) {
        self.push(b'0' + u8::try_from(d).unwrap_or(0));
    }

    fn two(&mut self, v: i64) {
        self.digit(v / 10);
        self.digit(v % 10);
    }

    fn as_bytes(&self) -> &[u8] {
        &self.bytes[..self.len]
    }

    fn as_str(&self) -> &str {
        // ASCII digits and separators only.
        std::str::from_utf8(self.as_bytes()).unwrap_or_default()
    }
}

/// Year, month and day of a day count since 1970-01-01 (proleptic
/// Gregorian; H. Hinnant's `civil_from_days`).
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    (yoe + era * 400 + i64::from(month <= 2), month, day)
}

/// The RFC 3339 text of `ms`, for serde writers (formatted on the stack).
struct Rfc3339Ms(i64);

impl serde::Serialize for Rfc3339Ms {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(Rfc3339Buf::new(self.0).as_str())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use time::OffsetDateTime;
    use time::format_description::well_known::Rfc3339;

    fn by_time(ms: i64) -> String {
        OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
            .unwrap()
            .format(&Rfc3339)
            .unwrap_or_default()
    }

    fn ours(ms: i64) -> String {
        let mut out = Vec::new();
        write_rfc3339_ms(&mut out, ms);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn timestamps_are_written_as_the_json_api_writes_them() {
        for ms in [
            0,
            1,
            10,
            100,
            120,
            999,
            1_000,
            -1,
            951_782_400_000,   // 2000-02-29
            1_709_164_800_123, // 2024-02-29
            4_102_444_799_999, // 2099-12-31T23:59:59.999
            253_402_300_799_999,
            -62_167_219_200_000, // year 0
        ] {
            assert_eq!(ours(ms), by_time(ms), "{ms}");
        }
    }

    proptest! {
        #[test]
        fn any_instant_of_years_0_to_9999_is_written_as_time_writes_it(
            ms in -62_167_219_200_000_i64..253_402_300_800_000
        ) {
            prop_assert_eq!(ours(ms), by_time(ms));
        }
    }
}
