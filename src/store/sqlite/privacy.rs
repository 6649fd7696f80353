//! SQLite statements of schema 8 (contact erasure).
//!
//! Erasing must leave no copy of the value in the files: the `UPDATE` runs
//! with `PRAGMA secure_delete = ON` (SQLite then zeroes the space the old
//! record occupied in every page it rewrites, overflow pages included,
//! instead of leaving it as free space), and a `wal_checkpoint(TRUNCATE)`
//! after the commit copies the new pages into the database file and empties
//! the write-ahead log, which still held the frames written when the report
//! was filed. `secure_delete` is set for the erasure only: left on, it would
//! cost every ingest batch the zeroing of what it frees.

use sqlx::Connection as _;
use sqlx::Row as _;

use super::{SqliteStore, json_id_array};
use crate::store::StoreError;
use crate::store::privacy::{ContactRecord, Erased, ErasureRow};

/// Clears contact and pseudonym of the listed reports that hold one.
const ERASE: &str = "UPDATE reports SET contact = NULL, reporter = NULL \
     WHERE id IN (SELECT value FROM json_each($1)) \
       AND (contact IS NOT NULL OR reporter IS NOT NULL) \
     RETURNING id";

const RECORD: &str = "INSERT INTO contact_erasures (report_id, at_ms, reason, author) \
     SELECT value, $2, $3, $4 FROM json_each($1)";

impl SqliteStore {
    pub(crate) async fn erase_contacts(
        &self,
        ids: &[i64],
        at_ms: i64,
        reason: &str,
        author: Option<&str>,
        truncate_log: bool,
    ) -> Result<Erased, StoreError> {
        if ids.is_empty() {
            return Ok(Erased::default());
        }
        let mut conn = self.writer.acquire().await?;
        let before: i64 = sqlx::query_scalar("PRAGMA secure_delete")
            .fetch_one(&mut *conn)
            .await?;
        sqlx::query("PRAGMA secure_delete = ON")
            .execute(&mut *conn)
            .await?;
        let erased = async {
            let mut tx = conn.begin_with("BEGIN IMMEDIATE").await?;
            let mut erased: Vec<i64> = sqlx::query_scalar(ERASE)
                .bind(json_id_array(ids))
                .fetch_all(&mut *tx)
                .await?;
            erased.sort_unstable();
            sqlx::query(RECORD)
                .bind(json_id_array(&erased))
                .bind(at_ms)
                .bind(reason)
                .bind(author)
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
            Ok::<_, StoreError>(erased)
        }
        .await;
        // Restored whatever happened: the connection goes back to ingest.
        let restored = sqlx::query(sqlx::AssertSqlSafe(format!(
            "PRAGMA secure_delete = {}",
            before.clamp(0, 2)
        )))
        .execute(&mut *conn)
        .await;
        let ids = erased?;
        restored?;
        let log_truncated = if truncate_log && !ids.is_empty() {
            checkpoint_truncate(&mut conn).await?
        } else {
            true
        };
        Ok(Erased { ids, log_truncated })
    }

    pub(crate) async fn reports_of_contact(
        &self,
        contact: &str,
        reporter: i64,
    ) -> Result<Vec<i64>, StoreError> {
        Ok(sqlx::query_scalar(
            "SELECT id FROM reports WHERE reporter = $1 OR contact = $2 ORDER BY id",
        )
        .bind(reporter)
        .bind(contact)
        .fetch_all(&self.readers)
        .await?)
    }

    pub(crate) async fn contacts_filed_before(
        &self,
        before_ms: i64,
        limit: u32,
    ) -> Result<Vec<i64>, StoreError> {
        // Through the partial index `reports_contact_created`.
        Ok(sqlx::query_scalar(
            "SELECT id FROM reports WHERE contact IS NOT NULL AND created_at_ms < $1 \
             ORDER BY created_at_ms LIMIT $2",
        )
        .bind(before_ms)
        .bind(i64::from(limit))
        .fetch_all(&self.readers)
        .await?)
    }

    pub(crate) async fn contact_record(
        &self,
        report_id: i64,
    ) -> Result<Option<ContactRecord>, StoreError> {
        let held: Option<bool> = sqlx::query_scalar(
            "SELECT contact IS NOT NULL OR reporter IS NOT NULL FROM reports WHERE id = $1",
        )
        .bind(report_id)
        .fetch_optional(&self.readers)
        .await?;
        let Some(held) = held else { return Ok(None) };
        let erasures = sqlx::query(
            "SELECT report_id, at_ms, reason, author FROM contact_erasures \
             WHERE report_id = $1 ORDER BY id",
        )
        .bind(report_id)
        .fetch_all(&self.readers)
        .await?
        .iter()
        .map(|r| {
            Ok(ErasureRow {
                report_id: r.try_get(0)?,
                at_ms: r.try_get(1)?,
                reason: r.try_get(2)?,
                author: r.try_get(3)?,
            })
        })
        .collect::<Result<Vec<_>, sqlx::Error>>()?;
        Ok(Some(ContactRecord { held, erasures }))
    }

    pub(crate) async fn vacuum(&self) -> Result<bool, StoreError> {
        let mut conn = self.writer.acquire().await?;
        sqlx::query("VACUUM").execute(&mut *conn).await?;
        checkpoint_truncate(&mut conn).await
    }

    pub(crate) async fn truncate_log(&self) -> Result<bool, StoreError> {
        let mut conn = self.writer.acquire().await?;
        checkpoint_truncate(&mut conn).await
    }
}

/// `PRAGMA wal_checkpoint(TRUNCATE)`: true when it completed (the log is
/// empty), false when a reader kept it busy.
async fn checkpoint_truncate(conn: &mut sqlx::SqliteConnection) -> Result<bool, StoreError> {
    let row = sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
        .fetch_one(&mut *conn)
        .await?;
    let busy: i64 = row.try_get(0)?;
    Ok(busy == 0)
}
