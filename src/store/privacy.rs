//! Rows and operations of schema 8: erasing reporters' contacts (on request
//! and after the retention period) and the private record of erasures.

use super::{Backend, Store, StoreError};

/// Every erasure `reason` the schema accepts.
pub const ERASURE_REASONS: [&str; 2] = ["request", "retention"];

/// One erasure of a report's contact, as recorded (never the value).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ErasureRow {
    pub report_id: i64,
    pub at_ms: i64,
    /// One of [`ERASURE_REASONS`].
    pub reason: String,
    /// Name of the API key that asked (`request`); `None` for retention.
    pub author: Option<String>,
}

/// What the store holds about a report's contact, without the value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContactRecord {
    /// Whether a contact (or its pseudonym) is still stored.
    pub held: bool,
    /// Its erasures, oldest first.
    pub erasures: Vec<ErasureRow>,
}

/// Outcome of erasing contacts.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Erased {
    /// The reports whose contact was erased now (those that held one), by id.
    pub ids: Vec<i64>,
    /// Whether the write-ahead log was emptied after the commit (false when
    /// a reader kept it busy: the erased bytes then stay in it until the
    /// next complete checkpoint).
    pub log_truncated: bool,
}

impl Store {
    /// Erases the contact and the reporter pseudonym of these reports (those
    /// that hold one) in ONE transaction, recording one erasure each with
    /// `reason` and `author`; the rewritten pages are overwritten (SQLite's
    /// `secure_delete`) and the write-ahead log is checkpointed and
    /// truncated after the commit when `truncate_log`. Idempotent: a report
    /// without a contact is left as it is and not recorded again.
    ///
    /// On PostgreSQL the value is overwritten then cleared in one
    /// transaction; old row versions stay on disk until vacuumed and the
    /// write-ahead log is never emptied (`log_truncated` is false when
    /// something was erased): see `postgres/privacy.rs`.
    ///
    /// # Errors
    /// [`StoreError::Constraint`] for an unknown reason or a bad author;
    /// [`StoreError::Io`]/[`StoreError::Database`].
    pub async fn erase_contacts(
        &self,
        ids: &[i64],
        at_ms: i64,
        reason: &str,
        author: Option<&str>,
        truncate_log: bool,
    ) -> Result<Erased, StoreError> {
        match &self.backend {
            Backend::Sqlite(s) => {
                s.erase_contacts(ids, at_ms, reason, author, truncate_log)
                    .await
            }
            Backend::Postgres(s) => {
                s.erase_contacts(ids, at_ms, reason, author, truncate_log)
                    .await
            }
        }
    }

    /// The reports holding this contact: its pseudonym `reporter`, or the
    /// contact itself exactly (read from a reader: the writer is not held).
    ///
    /// # Errors
    /// [`StoreError::Io`]/[`StoreError::Database`].
    pub async fn reports_of_contact(
        &self,
        contact: &str,
        reporter: i64,
    ) -> Result<Vec<i64>, StoreError> {
        match &self.backend {
            Backend::Sqlite(s) => s.reports_of_contact(contact, reporter).await,
            Backend::Postgres(s) => s.reports_of_contact(contact, reporter).await,
        }
    }

    /// Up to `limit` reports filed before `before_ms` that still hold a
    /// contact, oldest first.
    ///
    /// # Errors
    /// [`StoreError::Io`]/[`StoreError::Database`].
    pub async fn contacts_filed_before(
        &self,
        before_ms: i64,
        limit: u32,
    ) -> Result<Vec<i64>, StoreError> {
        match &self.backend {
            Backend::Sqlite(s) => s.contacts_filed_before(before_ms, limit).await,
            Backend::Postgres(s) => s.contacts_filed_before(before_ms, limit).await,
        }
    }

    /// Whether a report holds a contact, and its erasures (`None`: no such
    /// report).
    ///
    /// # Errors
    /// [`StoreError::Io`]/[`StoreError::Database`].
    pub async fn contact_record(
        &self,
        report_id: i64,
    ) -> Result<Option<ContactRecord>, StoreError> {
        match &self.backend {
            Backend::Sqlite(s) => s.contact_record(report_id).await,
            Backend::Postgres(s) => s.contact_record(report_id).await,
        }
    }

    /// Rewrites the whole database from its live content (SQLite's
    /// `VACUUM`), then truncates the write-ahead log: no byte of a deleted
    /// or erased value survives anywhere in the files, including copies a
    /// store written before erasure existed left in unused page space.
    /// Writes wait meanwhile (minutes for millions of reports). On
    /// PostgreSQL: `VACUUM FULL reports` (the table file rewritten), and
    /// false (the write-ahead log is not emptied).
    ///
    /// # Errors
    /// [`StoreError::Io`]/[`StoreError::Database`].
    pub async fn vacuum(&self) -> Result<bool, StoreError> {
        match &self.backend {
            Backend::Sqlite(s) => s.vacuum().await,
            Backend::Postgres(s) => s.vacuum().await,
        }
    }

    /// Copies the write-ahead log into the database and truncates it; false
    /// when a reader kept it from completing. On PostgreSQL nothing this
    /// process may run empties the log: always false.
    ///
    /// # Errors
    /// [`StoreError::Io`]/[`StoreError::Database`].
    pub async fn truncate_log(&self) -> Result<bool, StoreError> {
        match &self.backend {
            Backend::Sqlite(s) => s.truncate_log().await,
            Backend::Postgres(s) => s.truncate_log().await,
        }
    }
}
