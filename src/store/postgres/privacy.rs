//! PostgreSQL statements of schema 8 (contact erasure), and what they can
//! and cannot promise.
//!
//! An erasure is ONE transaction (under the log lock): the contact is first
//! overwritten with as many `x` as it had characters and the pseudonym with
//! 0, then both are set to NULL, the erasure is recorded and a `contact`
//! change is appended. After the commit no query of the database returns
//! the value.
//!
//! What that does NOT do, stated plainly: PostgreSQL never updates a row in
//! place (MVCC). Each `UPDATE` writes a new version of the row and leaves the
//! old one in the table file as a dead tuple, so the version written at
//! filing, which holds the contact, stays on disk after the commit. The
//! overwrite step only adds one more (harmless) version; it is there so that
//! no version written by the erasure itself holds the value, not because it
//! removes the original. The old versions go away as follows:
//! - `VACUUM` (autovacuum, or [`Store::vacuum`](crate::store::Store::vacuum)
//!   which runs `VACUUM FULL reports`) removes dead tuples once no
//!   transaction can still see them. A plain `VACUUM` marks their space free
//!   for reuse; the bytes stay in the file until a later row overwrites them.
//!   `VACUUM FULL` writes a new table file and deletes the old one; the old
//!   file's blocks are then free space of the file system, not zeroed.
//! - The write-ahead log holds the filing's row (and full-page images of the
//!   pages it touched) until its segments are recycled after later
//!   checkpoints; WAL archives, replicas and base backups keep their own
//!   copies for as long as they are kept. Nothing this process can run
//!   empties them, so [`Erased::log_truncated`] is always false here when
//!   something was erased, and `truncate_log` returns false.
//!
//! Operators who need the bytes gone from the disks must therefore bound the
//! retention of WAL archives and backups, and run `civicmap privacy purge
//! --vacuum` after erasures; the record of erasures tells them when.

use sqlx::Row as _;

use super::{PgStore, lock_log, record_changes};
use crate::store::StoreError;
use crate::store::privacy::{ContactRecord, Erased, ErasureRow};

/// Overwrites contact and pseudonym of the listed reports that hold one.
const OVERWRITE: &str = "UPDATE reports SET \
         contact = CASE WHEN contact IS NULL THEN NULL ELSE repeat('x', length(contact)) END, \
         reporter = CASE WHEN reporter IS NULL THEN NULL ELSE 0 END \
     WHERE id = ANY($1) AND (contact IS NOT NULL OR reporter IS NOT NULL)";

/// Clears them; returns the ids cleared.
const ERASE: &str = "UPDATE reports SET contact = NULL, reporter = NULL \
     WHERE id = ANY($1) AND (contact IS NOT NULL OR reporter IS NOT NULL) \
     RETURNING id";

const RECORD: &str = "INSERT INTO contact_erasures (report_id, at_ms, reason, author) \
     SELECT unnest($1::bigint[]), $2, $3, $4";

impl PgStore {
    pub(crate) async fn erase_contacts(
        &self,
        ids: &[i64],
        at_ms: i64,
        reason: &str,
        author: Option<&str>,
        _truncate_log: bool,
    ) -> Result<Erased, StoreError> {
        if ids.is_empty() {
            return Ok(Erased::default());
        }
        let mut tx = self.pool.begin().await?;
        lock_log(&mut tx).await?;
        sqlx::query(OVERWRITE).bind(ids).execute(&mut *tx).await?;
        let mut erased: Vec<i64> = sqlx::query_scalar(ERASE)
            .bind(ids)
            .fetch_all(&mut *tx)
            .await?;
        erased.sort_unstable();
        sqlx::query(RECORD)
            .bind(&erased)
            .bind(at_ms)
            .bind(reason)
            .bind(author)
            .execute(&mut *tx)
            .await?;
        record_changes(&mut tx, &erased, "contact").await?;
        tx.commit().await?;
        // The log keeps the filing's bytes whatever happens (module docs).
        let log_truncated = erased.is_empty();
        Ok(Erased {
            ids: erased,
            log_truncated,
        })
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
        .fetch_all(&self.pool)
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
        .fetch_all(&self.pool)
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
        .fetch_optional(&self.pool)
        .await?;
        let Some(held) = held else { return Ok(None) };
        let erasures = sqlx::query(
            "SELECT report_id, at_ms, reason, author FROM contact_erasures \
             WHERE report_id = $1 ORDER BY id",
        )
        .bind(report_id)
        .fetch_all(&self.pool)
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

    /// `VACUUM FULL reports`: the table rewritten from its live rows (an
    /// exclusive lock on `reports` meanwhile: writes and reads of reports
    /// wait). Returns false: the write-ahead log is not emptied.
    pub(crate) async fn vacuum(&self) -> Result<bool, StoreError> {
        sqlx::raw_sql("VACUUM FULL reports")
            .execute(&self.pool)
            .await?;
        Ok(false)
    }

    /// Nothing to do that would empty PostgreSQL's write-ahead log: false.
    #[allow(clippy::unused_async)]
    pub(crate) async fn truncate_log(&self) -> Result<bool, StoreError> {
        Ok(false)
    }
}
