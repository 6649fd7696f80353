//! Rows and operations of schema 3: report photos. The pixels are files
//! written by the service (see `migrations/sqlite/0003_photos.sql`); the
//! store keeps one row per photo of a report.

use super::{Backend, Store, StoreError};

/// Every photo `role` the schema accepts: a reporter's photo, and the
/// after-treatment photo an agent adds when the report is done.
pub const PHOTO_ROLES: [&str; 2] = ["report", "after"];

/// One photo of a report as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PhotoRow {
    /// Assigned by the store (give 0).
    pub id: i64,
    pub report_id: i64,
    /// SHA-256 of the full-size JPEG: 64 lowercase hex digits, the files'
    /// name.
    pub hash: String,
    /// One of [`PHOTO_ROLES`].
    pub role: String,
    /// Of the full-size rendition.
    pub width: i64,
    pub height: i64,
    pub full_bytes: i64,
    pub display_bytes: i64,
    /// Name of the API key that uploaded it.
    pub uploaded_by: String,
    pub created_at_ms: i64,
}

/// Photos of one report and one role, inserted in ONE transaction by
/// [`Store::add_photos`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PhotoBatch {
    pub report_id: i64,
    /// One of [`PHOTO_ROLES`]; every row's role must be this one.
    pub role: String,
    /// Most photos of this role the report may hold after the insert.
    pub max: i64,
    /// Insert only while the report is in this status (the after-treatment
    /// photo needs `done`).
    pub required_status: Option<String>,
    pub rows: Vec<PhotoRow>,
}

/// What [`Store::add_photos`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PhotosAdded {
    /// Committed: for each input row in order, the stored row and whether
    /// it is new (false: this report already held this photo, with the same
    /// role, or it came earlier in the batch).
    Done(Vec<(PhotoRow, bool)>),
    /// No report with this id; nothing written.
    NotFound,
    /// The report is not in the required status: its current one; nothing
    /// written.
    WrongStatus { status: String },
    /// The new photos would take the report over `max` of the role: how
    /// many it holds; nothing written.
    Full { stored: i64 },
    /// The report already holds this photo with another role; nothing
    /// written.
    RoleTaken { hash: String, role: String },
}

impl Store {
    /// Adds photos to a report in ONE transaction, after checking there
    /// that the report exists, is in the required status and stays within
    /// `max` photos of the role. A photo the report already holds (same
    /// hash, same role) is not written again and comes back as not new.
    ///
    /// # Errors
    /// [`StoreError::Constraint`] for a row the schema refuses (bad hash,
    /// unknown role); [`StoreError::Io`]/[`StoreError::Database`]. Nothing is
    /// written in either case.
    pub async fn add_photos(&self, batch: PhotoBatch) -> Result<PhotosAdded, StoreError> {
        match &self.backend {
            Backend::Sqlite(s) => s.add_photos(batch).await,
            Backend::Postgres(s) => s.add_photos(batch).await,
        }
    }

    /// The photos of a report, oldest first.
    ///
    /// # Errors
    /// [`StoreError::Io`] or [`StoreError::Database`] on database failure.
    pub async fn photos_of(&self, report_id: i64) -> Result<Vec<PhotoRow>, StoreError> {
        match &self.backend {
            Backend::Sqlite(s) => s.photos_of(report_id).await,
            Backend::Postgres(s) => s.photos_of(report_id).await,
        }
    }

    /// Whether some report holds the photo with this hash (64 lowercase hex
    /// digits).
    ///
    /// # Errors
    /// As [`Store::photos_of`].
    pub async fn photo_exists(&self, hash: &str) -> Result<bool, StoreError> {
        match &self.backend {
            Backend::Sqlite(s) => s.photo_exists(hash).await,
            Backend::Postgres(s) => s.photo_exists(hash).await,
        }
    }
}
