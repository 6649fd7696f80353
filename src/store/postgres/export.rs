//! The export page query on PostgreSQL.
//!
//! It produces the SAME packed page as the SQLite backend (the format and
//! its parser are in `sqlite/export.rs`), so [`ExportPage::rows`] reads
//! pages of both backends. The only difference is the coordinates: they are
//! always written as `f` and PostgreSQL's float text, which is the shortest
//! text that reads back to the same double (PostgreSQL 12 and later, with
//! `extra_float_digits` above 0, as sqlx sets it).
//!
//! [`ExportPage::rows`]: crate::store::ExportPage::rows

use sqlx::Row as _;

use super::{PgStore, internal};
use crate::store::StoreError;
use crate::store::export::{ExportFilter, ExportPage};

/// The page query, with the parameters of the SQLite one: `$1` the id to
/// start after, `$2` the row limit, `$3..$6` bbox, `$7..$11` district ids,
/// `$12` kind, `$13` category, `$14` status, `$15`/`$16` time range, `$17`
/// campaign.
const SELECT_PAGE: &str = "SELECT count(*), max(id), string_agg(record, chr(30) ORDER BY id) \
     FROM (SELECT r.id AS id, concat_ws(chr(31), r.id, \
         'f' || r.lon::text, 'f' || r.lat::text, \
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
         AND ($3::float8 IS NULL OR r.lon >= $3) AND ($4::float8 IS NULL OR r.lat >= $4) \
         AND ($5::float8 IS NULL OR r.lon <= $5) AND ($6::float8 IS NULL OR r.lat <= $6) \
         AND ($7::text IS NULL OR r.arrondissement = $7) \
         AND ($8::text IS NULL OR r.quartier = $8) \
         AND ($9::text IS NULL OR r.conseil_quartier = $9) \
         AND ($10::text IS NULL OR r.iris = $10) \
         AND ($11::text IS NULL OR r.working_class = $11) \
         AND ($12::text IS NULL OR r.kind = $12) AND ($13::text IS NULL OR r.category = $13) \
         AND ($14::text IS NULL OR r.status = $14) \
         AND ($15::bigint IS NULL OR r.created_at_ms >= $15) \
         AND ($16::bigint IS NULL OR r.created_at_ms < $16) \
         AND ($17::text IS NULL OR r.campaign = $17) \
       ORDER BY r.id LIMIT $2) AS page";

impl PgStore {
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
            .fetch_one(&self.pool)
            .await?;
        let count: i64 = row.try_get(0)?;
        Ok(ExportPage {
            count: usize::try_from(count).map_err(|_| internal("export row count"))?,
            last_id: row.try_get(1)?,
            packed: row.try_get::<Option<String>, _>(2)?.unwrap_or_default(),
        })
    }
}
