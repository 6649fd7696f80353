//! The boot scan: every report's [`IndexRow`], fast.
//!
//! Measured on the 2-core target, sqlx's SQLite driver costs about 1 µs per
//! row and 0.2–0.5 µs per column (each value is copied by the worker thread,
//! sent over a channel, then freed by the reader): 13 plain columns took
//! about 5 s for a million reports, against a boot budget of 1.5 s. So the
//! scan lets SQLite pack the rows of a page into ONE text value:
//!
//! ```text
//! SELECT count(*), group_concat(<record>, RS) FROM (reports of a range of ids)
//! record = id US lon US lat US created_at_ms US h3 US kind US status US category
//!          US arrondissement US quartier US conseil_quartier US iris US working_class
//!          US channel US reporter
//! ```
//!
//! with `US` = U+001F and `RS` = U+001E, which the schema forbids in every
//! text column read here (so a stray separator cannot shift fields; the
//! parser checks the field count anyway and reports [`StoreError::Corrupt`]).
//! A NULL district is the empty field (the schema forbids empty ids).
//!
//! Coordinates stay exact without printing floats (slow in SQLite): for
//! `|v| >= 1/8` the field is the integer `v × 2⁵⁵`, exact because scaling by a
//! power of two is exact, the product is integral (the lowest mantissa bit
//! of such a `v` weighs at least 2⁻⁵⁵) and fits in an `i64` (`|v| <= 180`
//! by the schema's `CHECK`); it is decoded by the same exact division. Smaller
//! values (near the equator or the prime meridian) are printed with 17
//! significant digits behind an `f`, which round-trips.
//!
//! Pages are ranges of ids, fetched several at a time on separate reader
//! connections (SQLite works on every core) while the oldest is parsed, and
//! handed to the caller in id order.

use std::collections::VecDeque;

use sqlx::sqlite::SqliteRow;
use sqlx::{Row as _, SqlitePool};

use super::StoreError;
use crate::store::rows::{IndexRow, REPORT_CHANNELS, REPORT_KINDS, REPORT_STATUSES};

/// Ids per page: about 2 MB of text per round trip when ids are dense
/// (they are: the store numbers reports from the largest id and never
/// deletes).
const PAGE_IDS: i64 = 16_384;

/// Pages in flight. Each runs on its own reader connection, i.e. its own
/// SQLite worker thread, so SQLite packs pages on every core while this task
/// parses the oldest one.
const PAGES_IN_FLIGHT: usize = 3;

/// 2⁵⁵: see the module docs.
const COORD_SCALE: f64 = 36_028_797_018_963_968.0;

/// Fields per record (see the module docs).
const FIELDS: usize = 15;

/// The page query: the reports with `$1 <= id < $2`, packed. Columns: the
/// number of rows, the packed rows (NULL when none).
const SELECT_PAGE: &str = "SELECT count(*), group_concat(record, char(30)) \
     FROM (SELECT id, concat_ws(char(31), id, \
         CASE WHEN abs(lon) >= 0.125 THEN CAST(lon * 36028797018963968.0 AS INTEGER) \
              ELSE 'f' || printf('%!.17g', lon) END, \
         CASE WHEN abs(lat) >= 0.125 THEN CAST(lat * 36028797018963968.0 AS INTEGER) \
              ELSE 'f' || printf('%!.17g', lat) END, \
         created_at_ms, h3, kind, status, category, \
         coalesce(arrondissement, ''), coalesce(quartier, ''), coalesce(conseil_quartier, ''), \
         coalesce(iris, ''), coalesce(working_class, ''), channel, coalesce(reporter, '')) \
         AS record \
       FROM reports WHERE id >= $1 AND id < $2 ORDER BY id)";

/// The first stored id at or after `$1`.
const SELECT_NEXT_ID: &str = "SELECT min(id) FROM reports WHERE id >= $1";

/// Streams every report's [`IndexRow`] to `f`, in id order; returns how many.
pub(super) async fn load_index_rows<F>(readers: &SqlitePool, mut f: F) -> Result<u64, StoreError>
where
    F: FnMut(IndexRow<'_>) + Send,
{
    let (min, max): (Option<i64>, Option<i64>) =
        sqlx::query_as("SELECT min(id), max(id) FROM reports")
            .fetch_one(readers)
            .await?;
    let (Some(min), Some(max)) = (min, max) else {
        return Ok(0);
    };

    // Pages [next_start, next_start + PAGE_IDS) are started in order.
    let mut next_start = min;
    let mut in_flight = VecDeque::with_capacity(PAGES_IN_FLIGHT);
    let fill = |in_flight: &mut VecDeque<_>, next_start: &mut i64| {
        while in_flight.len() < PAGES_IN_FLIGHT && *next_start <= max {
            let end = next_start.saturating_add(PAGE_IDS);
            in_flight.push_back(fetch(readers, *next_start, end));
            *next_start = end;
        }
    };
    fill(&mut in_flight, &mut next_start);

    let mut total = 0_u64;
    while let Some(fetching) = in_flight.pop_front() {
        let page = fetching.await.map_err(|e| StoreError::Corrupt {
            what: "boot scan task",
            detail: e.to_string(),
        })??;
        let count: i64 = page.try_get(0)?;
        let Some(packed) = page.try_get::<Option<&str>, _>(1)? else {
            // A gap in the ids (none are made by this store, but a row may
            // have been written by hand): jump to the next stored id rather
            // than walk the gap page by page.
            let next: Option<i64> = sqlx::query_scalar(SELECT_NEXT_ID)
                .bind(next_start)
                .fetch_one(readers)
                .await?;
            next_start = next.map_or(max.saturating_add(1), |n| n.max(next_start));
            fill(&mut in_flight, &mut next_start);
            continue;
        };
        fill(&mut in_flight, &mut next_start);
        let mut rows = Vec::with_capacity(usize::try_from(count).unwrap_or(0));
        for record in packed.split('\u{1e}') {
            rows.push(parse_record(record)?);
        }
        if usize::try_from(count).ok() != Some(rows.len()) {
            return Err(corrupt("record count"));
        }
        // SQLite aggregates in the order of the subquery (by id); make sure.
        if !rows.is_sorted_by_key(|r| r.id) {
            rows.sort_unstable_by_key(|r| r.id);
        }
        total += rows.len() as u64;
        rows.into_iter().for_each(&mut f);
    }
    Ok(total)
}

fn fetch(
    readers: &SqlitePool,
    start: i64,
    end: i64,
) -> tokio::task::JoinHandle<Result<SqliteRow, sqlx::Error>> {
    let readers = readers.clone();
    tokio::spawn(async move {
        sqlx::query(SELECT_PAGE)
            .bind(start)
            .bind(end)
            .fetch_one(&readers)
            .await
    })
}

fn corrupt(detail: &str) -> StoreError {
    StoreError::Corrupt {
        what: "boot scan record",
        detail: detail.to_owned(),
    }
}

fn parse_record(record: &str) -> Result<IndexRow<'_>, StoreError> {
    let mut fields = [""; FIELDS];
    let mut parts = record.split('\u{1f}');
    for slot in &mut fields {
        *slot = parts.next().ok_or_else(|| corrupt("too few fields"))?;
    }
    if parts.next().is_some() {
        return Err(corrupt("too many fields"));
    }
    let int = |s: &str| s.parse::<i64>().map_err(|_| corrupt("not an integer"));
    Ok(IndexRow {
        id: int(fields[0])?,
        lon: coordinate(fields[1])?,
        lat: coordinate(fields[2])?,
        created_at_ms: int(fields[3])?,
        h3: int(fields[4])?,
        kind: known(&REPORT_KINDS, fields[5]).ok_or_else(|| corrupt("unknown kind"))?,
        status: known(&REPORT_STATUSES, fields[6]).ok_or_else(|| corrupt("unknown status"))?,
        category: fields[7],
        districts: [
            district(fields[8]),
            district(fields[9]),
            district(fields[10]),
            district(fields[11]),
            district(fields[12]),
        ],
        channel: known(&REPORT_CHANNELS, fields[13]).ok_or_else(|| corrupt("unknown channel"))?,
        reporter: if fields[14].is_empty() {
            None
        } else {
            Some(int(fields[14])?)
        },
    })
}

/// An empty district field is a NULL district.
fn district(s: &str) -> Option<&str> {
    (!s.is_empty()).then_some(s)
}

/// Decodes a coordinate field: `v × 2⁵⁵` as an integer, or `f` and a decimal
/// (the boot scan's encoding, shared by the export read).
pub(super) fn coordinate(s: &str) -> Result<f64, StoreError> {
    if let Some(decimal) = s.strip_prefix('f') {
        return decimal.parse::<f64>().map_err(|_| corrupt("not a number"));
    }
    let scaled = s
        .parse::<i64>()
        .map_err(|_| corrupt("not a scaled coordinate"))?;
    // At most 53 significant bits (it came from a double), so exact.
    #[allow(clippy::cast_precision_loss)]
    Ok(scaled as f64 / COORD_SCALE)
}

/// The schema's own spelling of `s`, if it is one of `all`.
fn known(all: &[&'static str], s: &str) -> Option<&'static str> {
    all.iter().copied().find(|k| *k == s)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn a_packed_record_parses_into_its_fields() {
        let lon = 2.294_481_234_567_891_f64;
        let scaled = (lon * COORD_SCALE) as i64;
        let record = format!(
            "42\u{1f}{scaled}\u{1f}f-0.0001\u{1f}1700000000000\u{1f}-7\u{1f}anomaly\u{1f}done\u{1f}\
             voirie\u{1f}arr:75101\u{1f}\u{1f}cq:3\u{1f}\u{1f}wc:1\u{1f}ios\u{1f}-12345"
        );
        let row = parse_record(&record).unwrap();
        assert_eq!(row.id, 42);
        assert_eq!(row.lon.to_bits(), lon.to_bits());
        assert_eq!(row.lat, -0.0001);
        assert_eq!((row.created_at_ms, row.h3), (1_700_000_000_000, -7));
        assert_eq!(
            (row.kind, row.status, row.category),
            ("anomaly", "done", "voirie")
        );
        assert_eq!(
            row.districts,
            [Some("arr:75101"), None, Some("cq:3"), None, Some("wc:1")]
        );
        assert_eq!((row.channel, row.reporter), ("ios", Some(-12345)));
    }

    #[test]
    fn a_record_with_a_stray_separator_is_corrupt_not_misread() {
        let ok = "1\u{1f}f1\u{1f}f1\u{1f}0\u{1f}0\u{1f}anomaly\u{1f}new\u{1f}c\u{1f}\u{1f}\u{1f}\u{1f}\u{1f}\u{1f}web\u{1f}";
        assert!(parse_record(ok).is_ok());
        assert!(parse_record(&format!("{ok}\u{1f}x")).is_err());
        assert!(parse_record("1\u{1f}f1").is_err());
        assert!(parse_record(&ok.replace("anomaly", "other")).is_err());
    }
}
