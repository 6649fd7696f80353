//! The export page query and its packed format.
//!
//! As the boot scan (`index_scan.rs`), SQLite packs a page of rows into ONE
//! text value, so that sqlx's per-row and per-column costs are paid once per
//! page:
//!
//! ```text
//! page   = record (RS record)*
//! record = id US lon US lat US created_at_ms US h3 US kind US status US channel
//!          US category US arrondissement US quartier US conseil_quartier US iris
//!          US working_class US text(subcategory) US text(campaign) US text(address) US text(description)
//! text   = "-" (NULL) | byte-length ":" bytes
//! ```
//!
//! `US` = U+001F and `RS` = U+001E, which the schema forbids in every
//! unprefixed text column (kind, status, channel by their `CHECK` lists;
//! category and district ids by `NOT GLOB`). Free texts (description,
//! address, subcategory, campaign) may hold anything, so they carry their
//! length and are never split on a separator. An empty district is NULL.
//! Coordinates use the boot scan's exact encoding: the
//! integer `v × 2⁵⁵` when `|v| >= 1/8`, else `f` and 17 significant digits.

use sqlx::Row as _;

use super::SqliteStore;
use super::index_scan::coordinate;
use crate::store::StoreError;
use crate::store::export::{ExportFilter, ExportPage, ExportRow};

/// The page query. `$1`: the id to start after; `$2`: the row limit;
/// `$3..$6`: bbox; `$7..$11`: district ids; `$12` kind, `$13` category,
/// `$14` status, `$15`/`$16` time range, `$17` campaign. A NULL filter
/// passes every row; the planner walks the table by id whatever is given.
const SELECT_PAGE: &str = "SELECT count(*), max(id), group_concat(record, char(30)) \
     FROM (SELECT r.id AS id, concat_ws(char(31), r.id, \
         CASE WHEN abs(r.lon) >= 0.125 THEN CAST(r.lon * 36028797018963968.0 AS INTEGER) \
              ELSE 'f' || printf('%!.17g', r.lon) END, \
         CASE WHEN abs(r.lat) >= 0.125 THEN CAST(r.lat * 36028797018963968.0 AS INTEGER) \
              ELSE 'f' || printf('%!.17g', r.lat) END, \
         r.created_at_ms, r.h3, r.kind, r.status, r.channel, r.category, \
         coalesce(r.arrondissement, ''), coalesce(r.quartier, ''), \
         coalesce(r.conseil_quartier, ''), coalesce(r.iris, ''), coalesce(r.working_class, ''), \
         CASE WHEN r.subcategory IS NULL THEN '-' \
              ELSE octet_length(r.subcategory) || ':' || r.subcategory END, \
         CASE WHEN r.campaign IS NULL THEN '-' \
              ELSE octet_length(r.campaign) || ':' || r.campaign END, \
         CASE WHEN r.address IS NULL THEN '-' \
              ELSE octet_length(r.address) || ':' || r.address END, \
         octet_length(r.description) || ':' || r.description) AS record \
       FROM reports r \
       WHERE r.id > $1 \
         AND ($3 IS NULL OR r.lon >= $3) AND ($4 IS NULL OR r.lat >= $4) \
         AND ($5 IS NULL OR r.lon <= $5) AND ($6 IS NULL OR r.lat <= $6) \
         AND ($7 IS NULL OR r.arrondissement = $7) AND ($8 IS NULL OR r.quartier = $8) \
         AND ($9 IS NULL OR r.conseil_quartier = $9) AND ($10 IS NULL OR r.iris = $10) \
         AND ($11 IS NULL OR r.working_class = $11) \
         AND ($12 IS NULL OR r.kind = $12) AND ($13 IS NULL OR r.category = $13) \
         AND ($14 IS NULL OR r.status = $14) \
         AND ($15 IS NULL OR r.created_at_ms >= $15) AND ($16 IS NULL OR r.created_at_ms < $16) \
         AND ($17 IS NULL OR r.campaign = $17) \
       ORDER BY r.id LIMIT $2)";

/// Fields separated by `US` before the length-prefixed texts.
const PLAIN_FIELDS: usize = 14;

impl SqliteStore {
    pub(crate) async fn export_reports_page(
        &self,
        filter: &ExportFilter,
        after: i64,
        limit: u32,
    ) -> Result<ExportPage, StoreError> {
        let bbox = filter.bbox.map_or([None; 4], |b| b.map(Some));
        let [d0, d1, d2, d3, d4] = &filter.districts;
        let row = sqlx::query(SELECT_PAGE)
            .bind(after)
            .bind(i64::from(limit))
            .bind(bbox[0])
            .bind(bbox[1])
            .bind(bbox[2])
            .bind(bbox[3])
            .bind(d0.as_deref())
            .bind(d1.as_deref())
            .bind(d2.as_deref())
            .bind(d3.as_deref())
            .bind(d4.as_deref())
            .bind(filter.kind.as_deref())
            .bind(filter.category.as_deref())
            .bind(filter.status.as_deref())
            .bind(filter.from_ms)
            .bind(filter.to_ms)
            .bind(filter.campaign.as_deref())
            .fetch_one(&self.readers)
            .await?;
        let count: i64 = row.try_get(0)?;
        Ok(ExportPage {
            count: usize::try_from(count).map_err(|_| corrupt("row count"))?,
            last_id: row.try_get(1)?,
            packed: row.try_get::<Option<String>, _>(2)?.unwrap_or_default(),
        })
    }
}

fn corrupt(detail: &str) -> StoreError {
    StoreError::Corrupt {
        what: "export record",
        detail: detail.to_owned(),
    }
}

/// Parses every record of a page, checking the count and the order.
pub(crate) fn parse_page(page: &ExportPage) -> Result<Vec<ExportRow<'_>>, StoreError> {
    let mut rows = Vec::with_capacity(page.count);
    let mut rest = page.packed.as_str();
    while !rest.is_empty() {
        let (row, after) = parse_record(rest)?;
        rows.push(row);
        rest = match after.strip_prefix('\u{1e}') {
            Some(next) if !next.is_empty() => next,
            Some(_) => return Err(corrupt("trailing record separator")),
            None if after.is_empty() => after,
            None => return Err(corrupt("text longer than its length")),
        };
    }
    if rows.len() != page.count {
        return Err(corrupt("record count"));
    }
    // SQLite aggregates in the order of the subquery (by id); make sure.
    if !rows.is_sorted_by_key(|r| r.id) {
        rows.sort_unstable_by_key(|r| r.id);
    }
    Ok(rows)
}

/// One record from the start of `s`; returns it and what follows it.
fn parse_record(s: &str) -> Result<(ExportRow<'_>, &str), StoreError> {
    let mut fields = [""; PLAIN_FIELDS];
    let mut rest = s;
    for slot in &mut fields {
        let (field, after) = rest
            .split_once('\u{1f}')
            .ok_or_else(|| corrupt("too few fields"))?;
        *slot = field;
        rest = after;
    }
    let (subcategory, rest) = text(rest)?;
    let rest = separator(rest)?;
    let (campaign, rest) = text(rest)?;
    let rest = separator(rest)?;
    let (address, rest) = text(rest)?;
    let rest = separator(rest)?;
    let (description, rest) = text(rest)?;
    let description = description.ok_or_else(|| corrupt("NULL description"))?;
    let int = |s: &str| s.parse::<i64>().map_err(|_| corrupt("not an integer"));
    let [
        id,
        lon,
        lat,
        created,
        h3,
        kind,
        status,
        channel,
        category,
        d0,
        d1,
        d2,
        d3,
        d4,
    ] = fields;
    let row = ExportRow {
        id: int(id)?,
        lon: coordinate(lon)?,
        lat: coordinate(lat)?,
        created_at_ms: int(created)?,
        h3: int(h3)?,
        kind,
        status,
        channel,
        category,
        districts: [d0, d1, d2, d3, d4].map(|d| (!d.is_empty()).then_some(d)),
        subcategory,
        campaign,
        address,
        description,
    };
    Ok((row, rest))
}

fn separator(s: &str) -> Result<&str, StoreError> {
    s.strip_prefix('\u{1f}')
        .ok_or_else(|| corrupt("text longer than its length"))
}

/// A length-prefixed text (`-` for NULL) from the start of `s`.
fn text(s: &str) -> Result<(Option<&str>, &str), StoreError> {
    if let Some(rest) = s.strip_prefix('-') {
        return Ok((None, rest));
    }
    let (len, rest) = s
        .split_once(':')
        .ok_or_else(|| corrupt("text without a length"))?;
    let len: usize = len.parse().map_err(|_| corrupt("bad text length"))?;
    if !rest.is_char_boundary(len) || rest.len() < len {
        return Err(corrupt("text length off a character"));
    }
    let (text, rest) = rest.split_at(len);
    Ok((Some(text), rest))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn page(packed: &str, count: usize) -> ExportPage {
        ExportPage {
            count,
            last_id: None,
            packed: packed.to_owned(),
        }
    }

    const PLAIN: &str = "7\u{1f}f2.5\u{1f}f48.5\u{1f}1700000000000\u{1f}-7\u{1f}anomaly\u{1f}done\u{1f}web\u{1f}\
         voirie\u{1f}arr:1\u{1f}\u{1f}\u{1f}\u{1f}wc:1\u{1f}";

    #[test]
    fn free_texts_may_hold_separators_and_keep_their_bytes() {
        let text = "a\u{1e}b\u{1f}c, \"d\"\né";
        let record = format!("{PLAIN}-\u{1f}3:abc\u{1f}-\u{1f}{}:{text}", text.len());
        let packed = format!("{record}\u{1e}{record}");
        let p = page(&packed, 2);
        let rows = parse_page(&p).unwrap();
        assert_eq!(rows.len(), 2);
        let r = &rows[0];
        assert_eq!((r.id, r.lon, r.lat, r.h3), (7, 2.5, 48.5, -7));
        assert_eq!((r.kind, r.status, r.channel), ("anomaly", "done", "web"));
        assert_eq!(r.districts, [Some("arr:1"), None, None, None, Some("wc:1")]);
        assert_eq!(
            (r.subcategory, r.campaign, r.address),
            (None, Some("abc"), None)
        );
        assert_eq!(r.description, text);
    }

    #[test]
    fn a_page_that_does_not_add_up_is_corrupt_not_misread() {
        let good = format!("{PLAIN}-\u{1f}-\u{1f}-\u{1f}2:ab");
        assert!(parse_page(&page(&good, 1)).is_ok());
        assert!(parse_page(&page(&good, 2)).is_err());
        assert!(parse_page(&page(&good.replace("2:ab", "3:ab"), 1)).is_err());
        assert!(parse_page(&page(&good.replace("2:ab", "1:ab"), 1)).is_err());
        assert!(parse_page(&page(&format!("{good}\u{1e}"), 1)).is_err());
        assert!(parse_page(&page("7\u{1f}f1", 1)).is_err());
    }
}
