//! SQLite statements of schema 2 (keys, lifecycle, supports, campaigns).

use sqlx::Row as _;

use super::SqliteStore;
use crate::store::StoreError;
use crate::store::decode::{campaign_from_row, event_from_row, key_from_row, state_from_row};
use crate::store::lifecycle::{
    CampaignRow, Changed, EventRow, KeyRow, ReportChange, StateRow, Supported,
};

pub(super) const EVENT_COLUMNS: &str =
    "id, report_id, at_ms, kind, status, note, author, duplicate_of, photo";
/// [`EVENT_COLUMNS`] and the first report of a batch of filings.
const LOG_COLUMNS: &str =
    "id, report_id, at_ms, kind, status, note, author, duplicate_of, photo, first_report";

/// Contributions answering a campaign, read at boot. Ordered by the partial
/// index `reports_campaign` (campaign, id): `ORDER BY id` alone made SQLite
/// scan the whole table (and map all of it) to skip a sort.
pub(super) const CAMPAIGN_MEMBERS: &str =
    "SELECT id, campaign FROM reports WHERE campaign IS NOT NULL ORDER BY campaign, id";

/// The `created` events of these reports (a JSON array of ids), from the log
/// rows that stand for them: the batch row whose range holds the report
/// (the first `created` row at or after it in report order), its id counted
/// back from the batch row's by the filings after it in the batch. Sample
/// reports have none.
pub(super) const CREATED_EVENTS: &str = "\
    WITH asked (r) AS (SELECT DISTINCT value FROM json_each($1)), \
    covering (r, row_id) AS ( \
        SELECT r, (SELECT e.id FROM report_events e \
                   WHERE e.kind = 'created' AND e.report_id >= r \
                   ORDER BY e.report_id, e.id LIMIT 1) FROM asked) \
    SELECT e.id - (SELECT count(*) FROM reports x \
                   WHERE x.id > c.r AND x.id <= e.report_id AND x.seed = 0), \
           c.r, rep.created_at_ms, 'created', e.status, NULL, NULL, NULL, NULL \
    FROM covering c \
    JOIN report_events e ON e.id = c.row_id \
    JOIN reports rep ON rep.id = c.r \
    WHERE coalesce(e.first_report, e.report_id) <= c.r AND rep.seed = 0";
const KEY_COLUMNS: &str = "id, name, role, prefix, hash, created_at_ms, revoked_at_ms";
const STATE_COLUMNS: &str =
    "report_id, updated_at_ms, closed_at_ms, duplicate_of, supports, first_response_at_ms";
const CAMPAIGN_COLUMNS: &str = "id, slug, title, question, categories, starts_at_ms, ends_at_ms, \
                                district, perimeter, created_by, created_at_ms";

/// Inserts an event inside `tx` and returns it with its id.
async fn insert_event(
    conn: &mut sqlx::SqliteConnection,
    mut e: EventRow,
) -> Result<EventRow, StoreError> {
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO report_events (report_id, at_ms, kind, status, note, author, \
         duplicate_of, photo) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id",
    )
    .bind(e.report_id)
    .bind(e.at_ms)
    .bind(e.kind.as_str())
    .bind(e.status.as_str())
    .bind(e.note.as_deref())
    .bind(e.author.as_deref())
    .bind(e.duplicate_of)
    .bind(e.photo.as_deref())
    .fetch_one(&mut *conn)
    .await?;
    e.id = id;
    Ok(e)
}

impl SqliteStore {
    pub(crate) async fn insert_key(&self, k: KeyRow) -> Result<i64, StoreError> {
        Ok(sqlx::query_scalar(
            "INSERT INTO api_keys (name, role, prefix, hash, created_at_ms, revoked_at_ms) \
             VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
        )
        .bind(k.name)
        .bind(k.role)
        .bind(k.prefix)
        .bind(k.hash)
        .bind(k.created_at_ms)
        .bind(k.revoked_at_ms)
        .fetch_one(&self.writer)
        .await?)
    }

    pub(crate) async fn key_by_hash(&self, hash: &[u8]) -> Result<Option<KeyRow>, StoreError> {
        let sql = format!("SELECT {KEY_COLUMNS} FROM api_keys WHERE hash = $1");
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(hash)
            .fetch_optional(&self.readers)
            .await?;
        Ok(row.as_ref().map(key_from_row).transpose()?)
    }

    pub(crate) async fn keys(&self) -> Result<Vec<KeyRow>, StoreError> {
        let sql = format!("SELECT {KEY_COLUMNS} FROM api_keys ORDER BY id");
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .fetch_all(&self.readers)
            .await?;
        Ok(rows.iter().map(key_from_row).collect::<Result<_, _>>()?)
    }

    pub(crate) async fn revoke_key(&self, id: i64, at_ms: i64) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "UPDATE api_keys SET revoked_at_ms = $2 WHERE id = $1 AND revoked_at_ms IS NULL",
        )
        .bind(id)
        .bind(at_ms)
        .execute(&self.writer)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    pub(crate) async fn change_report(&self, c: ReportChange) -> Result<Changed, StoreError> {
        let mut tx = self.writer.begin_with("BEGIN IMMEDIATE").await?;
        let current: Option<String> =
            sqlx::query_scalar("SELECT status FROM reports WHERE id = $1")
                .bind(c.report_id)
                .fetch_optional(&mut *tx)
                .await?;
        let Some(current) = current else {
            return Ok(Changed::NotFound);
        };
        if current != c.expected_status {
            return Ok(Changed::Moved { status: current });
        }
        if c.new_status != current {
            sqlx::query("UPDATE reports SET status = $2 WHERE id = $1")
                .bind(c.report_id)
                .bind(c.new_status.as_str())
                .execute(&mut *tx)
                .await?;
        }
        let status_changes = c.kind == "status" || c.kind == "duplicate";
        let sql = format!(
            "INSERT INTO report_state (report_id, updated_at_ms, closed_at_ms, duplicate_of, \
             first_response_at_ms) \
             VALUES ($1, $2, $3, $4, CASE WHEN $6 THEN $2 END) ON CONFLICT (report_id) DO UPDATE SET \
             updated_at_ms = excluded.updated_at_ms, \
             closed_at_ms = CASE WHEN $5 THEN excluded.closed_at_ms ELSE closed_at_ms END, \
             duplicate_of = coalesce(excluded.duplicate_of, duplicate_of), \
             first_response_at_ms = coalesce(first_response_at_ms, excluded.first_response_at_ms) \
             RETURNING {STATE_COLUMNS}"
        );
        let state = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(c.report_id)
            .bind(c.at_ms)
            .bind(if status_changes { c.closed_at_ms } else { None })
            .bind(c.duplicate_of)
            .bind(status_changes)
            .bind(c.responds)
            .fetch_one(&mut *tx)
            .await?;
        let state = state_from_row(&state)?;
        let event = insert_event(
            &mut tx,
            EventRow {
                id: 0,
                report_id: c.report_id,
                at_ms: c.at_ms,
                kind: c.kind,
                status: c.new_status,
                note: c.note,
                author: Some(c.author),
                duplicate_of: c.duplicate_of,
                photo: c.photo,
            },
        )
        .await?;
        tx.commit().await?;
        Ok(Changed::Done { event, state })
    }

    pub(crate) async fn add_support(
        &self,
        report_id: i64,
        client_id: &str,
        at_ms: i64,
    ) -> Result<Supported, StoreError> {
        let mut tx = self.writer.begin_with("BEGIN IMMEDIATE").await?;
        let status: Option<String> = sqlx::query_scalar("SELECT status FROM reports WHERE id = $1")
            .bind(report_id)
            .fetch_optional(&mut *tx)
            .await?;
        let Some(status) = status else {
            return Ok(Supported::NotFound);
        };
        let added = sqlx::query(
            "INSERT INTO supports (report_id, client_id, at_ms) VALUES ($1, $2, $3) \
             ON CONFLICT DO NOTHING",
        )
        .bind(report_id)
        .bind(client_id)
        .bind(at_ms)
        .execute(&mut *tx)
        .await?
        .rows_affected()
            == 1;
        if !added {
            let supports: Option<i64> =
                sqlx::query_scalar("SELECT supports FROM report_state WHERE report_id = $1")
                    .bind(report_id)
                    .fetch_optional(&mut *tx)
                    .await?;
            return Ok(Supported::Already {
                supports: supports.unwrap_or(0),
            });
        }
        let supports: i64 = sqlx::query_scalar(
            "INSERT INTO report_state (report_id, updated_at_ms, supports) VALUES ($1, $2, 1) \
             ON CONFLICT (report_id) DO UPDATE SET supports = supports + 1, \
             updated_at_ms = max(updated_at_ms, excluded.updated_at_ms) \
             RETURNING supports",
        )
        .bind(report_id)
        .bind(at_ms)
        .fetch_one(&mut *tx)
        .await?;
        let event = insert_event(
            &mut tx,
            EventRow {
                id: 0,
                report_id,
                at_ms,
                kind: "support".to_owned(),
                status,
                note: None,
                author: None,
                duplicate_of: None,
                photo: None,
            },
        )
        .await?;
        tx.commit().await?;
        Ok(Supported::New { event, supports })
    }

    pub(crate) async fn events_after(
        &self,
        after_id: i64,
        limit: u32,
    ) -> Result<Vec<EventRow>, StoreError> {
        let sql =
            format!("SELECT {LOG_COLUMNS} FROM report_events WHERE id > $1 ORDER BY id LIMIT $2");
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(after_id)
            .bind(i64::from(limit))
            .fetch_all(&self.readers)
            .await?;
        let limit = usize::try_from(limit).unwrap_or(usize::MAX);
        let mut out = Vec::with_capacity(rows.len());
        for r in &rows {
            let e = event_from_row(r)?;
            match r.try_get::<Option<i64>, _>(9)? {
                Some(first) if e.kind == "created" => {
                    let filings = self.expand_filings(&e, first).await?;
                    out.extend(filings.into_iter().filter(|f| f.id > after_id));
                }
                _ => out.push(e),
            }
            if out.len() >= limit {
                break;
            }
        }
        out.truncate(limit);
        Ok(out)
    }

    /// The `created` events a batch row stands for: one per non-sample
    /// report from `first` to the row's report, numbered up to the row's id.
    async fn expand_filings(
        &self,
        batch: &EventRow,
        first: i64,
    ) -> Result<Vec<EventRow>, StoreError> {
        let filed: Vec<(i64, i64)> = sqlx::query_as(
            "SELECT id, created_at_ms FROM reports \
             WHERE id BETWEEN $1 AND $2 AND seed = 0 ORDER BY id",
        )
        .bind(first)
        .bind(batch.report_id)
        .fetch_all(&self.readers)
        .await?;
        let start = batch.id - i64::try_from(filed.len()).unwrap_or(i64::MAX);
        Ok(filed
            .into_iter()
            .zip(1..)
            .map(|((report_id, at_ms), k)| EventRow {
                id: start + k,
                report_id,
                at_ms,
                ..batch.clone()
            })
            .collect())
    }

    /// Every event of these reports, by report then id: their filings and
    /// what happened to them since.
    pub(crate) async fn events_of_reports(&self, ids: &[i64]) -> Result<Vec<EventRow>, StoreError> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let ids = super::open311::json_array(ids);
        let created = sqlx::query(sqlx::AssertSqlSafe(CREATED_EVENTS))
            .bind(ids.as_str())
            .fetch_all(&self.readers)
            .await?;
        let sql = format!(
            "SELECT {EVENT_COLUMNS} FROM report_events \
             WHERE report_id IN (SELECT value FROM json_each($1)) AND kind <> 'created'"
        );
        let changes = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(ids.as_str())
            .fetch_all(&self.readers)
            .await?;
        let mut out = created
            .iter()
            .chain(&changes)
            .map(event_from_row)
            .collect::<Result<Vec<_>, _>>()?;
        out.sort_unstable_by_key(|e| (e.report_id, e.id));
        Ok(out)
    }

    pub(crate) async fn last_event_id(&self) -> Result<i64, StoreError> {
        Ok(
            sqlx::query_scalar("SELECT coalesce(max(id), 0) FROM report_events")
                .fetch_one(&self.readers)
                .await?,
        )
    }

    pub(crate) async fn report_states(&self) -> Result<Vec<StateRow>, StoreError> {
        let sql = format!("SELECT {STATE_COLUMNS} FROM report_state ORDER BY report_id");
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .fetch_all(&self.readers)
            .await?;
        Ok(rows.iter().map(state_from_row).collect::<Result<_, _>>()?)
    }

    pub(crate) async fn report_campaigns(&self) -> Result<Vec<(i64, String)>, StoreError> {
        Ok(sqlx::query_as(CAMPAIGN_MEMBERS)
            .fetch_all(&self.readers)
            .await?)
    }

    pub(crate) async fn insert_campaign(&self, c: CampaignRow) -> Result<i64, StoreError> {
        Ok(sqlx::query_scalar(
            "INSERT INTO campaigns (slug, title, question, categories, starts_at_ms, ends_at_ms, \
             district, perimeter, created_by, created_at_ms) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) RETURNING id",
        )
        .bind(c.slug)
        .bind(c.title)
        .bind(c.question)
        .bind(c.categories)
        .bind(c.starts_at_ms)
        .bind(c.ends_at_ms)
        .bind(c.district)
        .bind(c.perimeter)
        .bind(c.created_by)
        .bind(c.created_at_ms)
        .fetch_one(&self.writer)
        .await?)
    }

    pub(crate) async fn set_campaign_end(
        &self,
        id: i64,
        ends_at_ms: i64,
    ) -> Result<bool, StoreError> {
        let done = sqlx::query("UPDATE campaigns SET ends_at_ms = $2 WHERE id = $1")
            .bind(id)
            .bind(ends_at_ms)
            .execute(&self.writer)
            .await?;
        Ok(done.rows_affected() == 1)
    }

    pub(crate) async fn campaigns(&self) -> Result<Vec<CampaignRow>, StoreError> {
        let sql = format!("SELECT {CAMPAIGN_COLUMNS} FROM campaigns ORDER BY id");
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .fetch_all(&self.readers)
            .await?;
        Ok(rows
            .iter()
            .map(campaign_from_row)
            .collect::<Result<_, _>>()?)
    }
}

impl SqliteStore {
    pub(crate) async fn report_states_of(&self, ids: &[i64]) -> Result<Vec<StateRow>, StoreError> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let sql = format!(
            "SELECT {STATE_COLUMNS} FROM report_state \
             WHERE report_id IN (SELECT value FROM json_each($1)) ORDER BY report_id"
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(super::json_id_array(ids))
            .fetch_all(&self.readers)
            .await?;
        Ok(rows.iter().map(state_from_row).collect::<Result<_, _>>()?)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    /// SQLite's plan of a statement, one line per step.
    async fn plan(store: &SqliteStore, sql: &str, params: usize) -> Vec<String> {
        let mut q = sqlx::query(sqlx::AssertSqlSafe(format!("EXPLAIN QUERY PLAN {sql}")));
        for _ in 0..params {
            q = q.bind("[1]");
        }
        q.fetch_all(&store.readers)
            .await
            .unwrap()
            .iter()
            .map(|r| r.get::<String, _>(3))
            .collect()
    }

    #[tokio::test]
    async fn boot_and_event_reads_search_indexes_and_never_scan_reports_or_the_log() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(dir.path()).await.unwrap();
        let after = format!("SELECT {LOG_COLUMNS} FROM report_events WHERE id > $1 ORDER BY id");
        for (sql, params) in [
            (CAMPAIGN_MEMBERS, 0),
            (CREATED_EVENTS, 1),
            (after.as_str(), 1),
        ] {
            let steps = plan(&store, sql, params).await;
            assert!(
                !steps.iter().any(|s| s.starts_with("SCAN reports")
                    || s.starts_with("SCAN report_events")
                    || s.starts_with("SCAN e")
                    || s.starts_with("SCAN x")),
                "{sql}\n{steps:#?}"
            );
        }
    }
}
