//! SQLite statements of the Open311 edge's event-log reads.

use super::SqliteStore;
use super::lifecycle::EVENT_COLUMNS;
use crate::store::decode::event_from_row;
use crate::store::{EventRow, StoreError};

/// A JSON array, for `json_each`: the statements stay static.
pub(super) fn json_array<T: serde::Serialize>(items: &[T]) -> String {
    serde_json::to_string(items).unwrap_or_else(|_| "[]".to_owned())
}

impl SqliteStore {
    /// Changes made between two times (filings are not listed: a batch
    /// row's time is its commit's, not each report's).
    pub(crate) async fn events_between(
        &self,
        from_ms: i64,
        to_ms: i64,
        kinds: &[&str],
        offset: u64,
        limit: u32,
    ) -> Result<Vec<EventRow>, StoreError> {
        let sql = format!(
            "SELECT {EVENT_COLUMNS} FROM report_events \
             WHERE at_ms BETWEEN $1 AND $2 AND kind IN (SELECT value FROM json_each($3)) \
             AND kind <> 'created' \
             ORDER BY at_ms, id LIMIT $4 OFFSET $5"
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(from_ms)
            .bind(to_ms)
            .bind(json_array(kinds))
            .bind(i64::from(limit))
            .bind(i64::try_from(offset).unwrap_or(i64::MAX))
            .fetch_all(&self.readers)
            .await?;
        Ok(rows.iter().map(event_from_row).collect::<Result<_, _>>()?)
    }
}
