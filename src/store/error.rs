//! The store's one error type.

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;

/// Which integrity rule of the schema a write broke.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ConstraintKind {
    /// A `CHECK` constraint (an enumeration, a coordinate range, an empty id…).
    Check,
    /// A `UNIQUE` or primary-key constraint.
    Unique,
    /// A `NOT NULL` constraint (also what a NaN coordinate becomes).
    NotNull,
    /// A foreign-key constraint.
    ForeignKey,
    /// Another constraint the backend did not classify.
    Other,
}

impl fmt::Display for ConstraintKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ConstraintKind::Check => "check",
            ConstraintKind::Unique => "unique",
            ConstraintKind::NotNull => "not null",
            ConstraintKind::ForeignKey => "foreign key",
            ConstraintKind::Other => "other",
        })
    }
}

/// Why a store operation failed.
///
/// It is `Clone` (sources are behind [`Arc`]) so that the group-commit writer
/// can hand the one error of a failed transaction to every request of the
/// batch. Messages never contain row values (SQLite's constraint messages name
/// the constraint, not the value), so they are safe to log.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// A row broke an integrity rule of the schema; the whole transaction was
    /// rolled back. The HTTP layer maps it to 409 (unique) or 422, never 500.
    #[error("{kind} constraint violated: {message}")]
    Constraint {
        kind: ConstraintKind,
        message: String,
    },
    /// The database could not be reached, read or written (I/O, pool closed
    /// or exhausted, worker thread gone).
    #[error("database unavailable: {0}")]
    Io(#[source] Arc<sqlx::Error>),
    /// Any other error reported by the database or the driver.
    #[error("database error: {0}")]
    Database(#[source] Arc<sqlx::Error>),
    /// Applying the embedded migrations failed.
    #[error("migration failed: {0}")]
    Migrate(#[source] Arc<sqlx::migrate::MigrateError>),
    /// The data directory could not be created.
    #[error("cannot create data directory {path}: {source}")]
    CreateDir {
        path: PathBuf,
        #[source]
        source: Arc<std::io::Error>,
    },
    /// A durability setting, or the SQLite version, is not what the store
    /// requires (checked at start-up).
    #[error("PRAGMA {pragma} is {found}, expected {expected}")]
    Pragma {
        pragma: &'static str,
        expected: &'static str,
        found: String,
    },
    /// A PostgreSQL server setting that durability depends on is not what
    /// the store requires (checked at start-up).
    #[error("setting {setting} is {found}, expected {expected}")]
    Setting {
        setting: &'static str,
        expected: &'static str,
        found: String,
    },
    /// A database URL names a scheme that no backend serves.
    #[error(
        "unknown database URL scheme {scheme:?}: expected postgres://, postgresql:// or sqlite://"
    )]
    UnknownScheme { scheme: String },
    /// A stored value cannot be represented in a row type (e.g. an unknown
    /// enumeration spelling written by another program).
    #[error("stored {what} is invalid: {detail}")]
    Corrupt { what: &'static str, detail: String },
    /// The group-commit writer has stopped; nothing was written for this request.
    #[error("the store writer has stopped")]
    WriterClosed,
    /// The batch was committed (it is durable and will be visible after a
    /// restart) but the `on_commit` hook panicked, so the in-memory view may
    /// lack it. Retrying with the same `client_id` returns the stored row.
    #[error("committed, but the on_commit hook panicked")]
    HookPanicked,
}

impl StoreError {
    /// Whether the error is a constraint violation (the request's fault, not
    /// the server's).
    #[must_use]
    pub fn is_constraint(&self) -> bool {
        matches!(self, StoreError::Constraint { .. })
    }

    /// The violated constraint's kind, if this is a constraint violation.
    #[must_use]
    pub fn constraint_kind(&self) -> Option<ConstraintKind> {
        match self {
            StoreError::Constraint { kind, .. } => Some(*kind),
            _ => None,
        }
    }
}

impl From<sqlx::Error> for StoreError {
    fn from(e: sqlx::Error) -> Self {
        use sqlx::error::ErrorKind;
        match &e {
            sqlx::Error::Database(db) => {
                let kind = match db.kind() {
                    ErrorKind::UniqueViolation => Some(ConstraintKind::Unique),
                    ErrorKind::ForeignKeyViolation => Some(ConstraintKind::ForeignKey),
                    ErrorKind::NotNullViolation => Some(ConstraintKind::NotNull),
                    ErrorKind::CheckViolation => Some(ConstraintKind::Check),
                    _ if is_sqlite_constraint(db.code().as_deref()) => Some(ConstraintKind::Other),
                    _ if is_postgres_constraint(db.as_ref()) => Some(ConstraintKind::Other),
                    _ => None,
                };
                match kind {
                    Some(kind) => StoreError::Constraint {
                        kind,
                        message: db.message().to_owned(),
                    },
                    None => StoreError::Database(Arc::new(e)),
                }
            }
            sqlx::Error::Io(_)
            | sqlx::Error::PoolTimedOut
            | sqlx::Error::PoolClosed
            | sqlx::Error::WorkerCrashed => StoreError::Io(Arc::new(e)),
            _ => StoreError::Database(Arc::new(e)),
        }
    }
}

impl From<sqlx::migrate::MigrateError> for StoreError {
    fn from(e: sqlx::migrate::MigrateError) -> Self {
        StoreError::Migrate(Arc::new(e))
    }
}

/// `SQLITE_CONSTRAINT` (19) and its extended codes, which keep 19 in their
/// low byte.
fn is_sqlite_constraint(code: Option<&str>) -> bool {
    code.and_then(|c| c.parse::<i64>().ok())
        .is_some_and(|n| n & 0xff == 19)
}

/// PostgreSQL's SQLSTATE class 23, "integrity constraint violation" (sqlx
/// classifies its unique, foreign-key, not-null and check codes itself;
/// this catches the rest, e.g. an exclusion constraint).
fn is_postgres_constraint(db: &dyn sqlx::error::DatabaseError) -> bool {
    db.try_downcast_ref::<sqlx::postgres::PgDatabaseError>()
        .is_some_and(|pg| pg.code().starts_with("23"))
}
