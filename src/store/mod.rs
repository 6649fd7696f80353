//! The durable store: the only module with SQL.
//!
//! It persists **plain rows** ([`ReportRow`], [`ProjectRow`], [`LayerRow`],
//! meta key/values) made of strings and numbers; the service converts them to
//! and from the domain model. The store knows nothing of the model's dense
//! ids, taxonomies or district registries, and does no validation beyond the
//! schema's own `CHECK` constraints (which report as
//! [`StoreError::Constraint`]).
//!
//! # Backends
//! [`Store`] is a cheap-to-clone handle around an enum of backends: SQLite
//! ([`Store::open_sqlite`], the embedded default, migrations in
//! `migrations/sqlite/`) and PostgreSQL ([`Store::open_postgres`], a shared
//! database several instances may use, migrations in `migrations/postgres/`;
//! see `postgres/mod.rs` for what it guarantees across instances).
//! [`Store::open_url`] picks one from a database URL. [`Store::migrate_to`]
//! copies a whole SQLite store into an empty PostgreSQL one, ids and all
//! (`migrate.rs`: the plan of every table; the reader and the writer are in
//! each backend's `migrate.rs`).
//!
//! An enum rather than a trait because the API is `async`: a `dyn` trait
//! would need boxed futures on every call, a generic `Store<B>` would spread a
//! type parameter through the whole service and its tests, and the set of
//! backends is closed and known here. Each public method is one `match`, so
//! the public API stays backend-neutral and the SQL dialects stay in their
//! backend module.
//!
//! # Writes and durability
//! Every write is one transaction that has committed when the call returns
//! (SQLite: WAL with `synchronous=FULL`, asserted at start-up; PostgreSQL:
//! `synchronous_commit = on` and the server's `fsync` on, asserted too). Concurrent
//! report submissions go through the group-commit [`Writer`], which batches
//! them into one transaction (one fsync for many reports) and runs an
//! `on_commit` hook after the commit and before answering, so that an
//! acknowledged report is both durable and visible in the in-memory index.
//!
//! # Privacy
//! `contact` is stored (the city needs it) but never logged: `Debug` of
//! [`ReportRow`] redacts it, error messages carry no row values, and the boot
//! view [`IndexRow`] does not include it. [`Store::erase_contacts`] erases
//! it and its pseudonym: on SQLite for good (the old bytes are overwritten in
//! the database pages by `secure_delete` and the write-ahead log is
//! truncated); on PostgreSQL from every query at once, from the disk only
//! as old row versions are vacuumed and WAL segments recycled (see
//! `postgres/privacy.rs`).
//!
//! # What is deliberately absent
//! No query builder for the list API (the in-memory index answers lists and
//! hands ids to [`Store::reports_by_ids`]); no deletes (reports change status,
//! they are not removed); no compile-time-checked `query!` macros (they cannot
//! serve two backends from one crate).

mod changes;
mod decode;
mod error;
mod export;
mod lifecycle;
pub mod migrate;
mod open311;
pub mod photos;
mod postgres;
mod privacy;
mod quotas;
mod rows;
mod sqlite;
mod webhooks;
mod writer;

use std::path::Path;

pub use changes::{CHANGE_KINDS, ChangeListener, ChangeNote, ChangeRow, ENTITY_KINDS};
pub use error::{ConstraintKind, StoreError};
pub use export::{ExportFilter, ExportPage, ExportRow};
pub use lifecycle::{
    CampaignRow, Changed, EVENT_KINDS, EventRow, KEY_ROLES, KeyRow, ReportChange, StateRow,
    Supported,
};
pub use postgres::CHANGES_CHANNEL;
pub use privacy::{ContactRecord, ERASURE_REASONS, Erased, ErasureRow};
pub use quotas::{Charged, QUOTA_HOLDER_KINDS, QuotaCharge};
pub use rows::{
    DISTRICT_LAYERS, DistrictIds, IndexRow, Inserted, LayerRow, ProjectRow, REPORT_CHANNELS,
    REPORT_KINDS, REPORT_STATUSES, ReportRow, SqlitePragmas,
};
pub use sqlite::DB_FILE_NAME;
pub use webhooks::{DELIVERIES_KEPT, DeliveryRow, Lease, Recorded, WebhookRow};
pub use writer::{DEFAULT_MAX_BATCH, OnCommit, Writer, WriterHandle};

/// A handle on the durable store. Cloning it is cheap and shares the
/// connections.
#[derive(Clone)]
pub struct Store {
    backend: Backend,
}

#[derive(Clone)]
enum Backend {
    Sqlite(sqlite::SqliteStore),
    Postgres(postgres::PgStore),
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.backend {
            Backend::Sqlite(s) => f.debug_struct("Store").field("sqlite", &s.path()).finish(),
            Backend::Postgres(s) => f
                .debug_struct("Store")
                .field("postgres", &s.name())
                .finish(),
        }
    }
}

impl Store {
    /// Opens (creating it if needed) the SQLite store `civicmap.db` in
    /// `data_dir`, which is created too. Sets WAL, `synchronous=FULL`,
    /// foreign keys and a busy timeout, applies the embedded migrations, then
    /// reads the settings back.
    ///
    /// # Errors
    /// [`StoreError::CreateDir`] if the directory cannot be created,
    /// [`StoreError::Io`] if the file cannot be opened,
    /// [`StoreError::Migrate`] if a migration fails or an applied one was
    /// changed, [`StoreError::Pragma`] if the journal mode is not WAL or
    /// `synchronous` is not FULL (e.g. on a file system without shared memory).
    pub async fn open_sqlite(data_dir: &Path) -> Result<Store, StoreError> {
        Ok(Store {
            backend: Backend::Sqlite(sqlite::SqliteStore::open(data_dir).await?),
        })
    }

    /// Opens the PostgreSQL database at `url` (`postgres://` or
    /// `postgresql://`), applies the embedded migrations of
    /// `migrations/postgres/` (several instances starting at once apply them
    /// once), then checks that commits are durable.
    ///
    /// # Errors
    /// [`StoreError::Io`] or [`StoreError::Database`] if the URL does not
    /// parse or the server cannot be reached, [`StoreError::Migrate`] if a
    /// migration fails or an applied one was changed,
    /// [`StoreError::Setting`] if the server runs with `fsync` off or our
    /// connections without `synchronous_commit`.
    pub async fn open_postgres(url: &str) -> Result<Store, StoreError> {
        Ok(Store {
            backend: Backend::Postgres(postgres::PgStore::open(url).await?),
        })
    }

    /// Opens the store a database URL names:
    /// - none: SQLite in `data_dir` (the default);
    /// - `sqlite://<dir>`: SQLite in that directory (`civicmap.db` in it);
    /// - `postgres://…` or `postgresql://…`: PostgreSQL;
    /// - anything without a scheme: a directory, for SQLite.
    ///
    /// Photo files stay under `data_dir` whatever the backend.
    ///
    /// # Errors
    /// [`StoreError::UnknownScheme`] for another scheme; otherwise those of
    /// [`Store::open_sqlite`] or [`Store::open_postgres`].
    pub async fn open_url(url: Option<&str>, data_dir: &Path) -> Result<Store, StoreError> {
        let Some(url) = url else {
            return Store::open_sqlite(data_dir).await;
        };
        match url.split_once("://") {
            Some(("postgres" | "postgresql", _)) => Store::open_postgres(url).await,
            Some(("sqlite", dir)) => Store::open_sqlite(Path::new(dir)).await,
            Some((scheme, _)) => Err(StoreError::UnknownScheme {
                scheme: scheme.to_owned(),
            }),
            None => Store::open_sqlite(Path::new(url)).await,
        }
    }

    /// The backend's name: `"sqlite"` or `"postgres"`.
    #[must_use]
    pub fn backend_name(&self) -> &'static str {
        match &self.backend {
            Backend::Sqlite(_) => "sqlite",
            Backend::Postgres(_) => "postgres",
        }
    }

    /// The durability settings of the SQLite writer connection, as read back
    /// from SQLite (`None` for other backends).
    ///
    /// # Errors
    /// [`StoreError::Io`] or [`StoreError::Database`] if they cannot be read.
    pub async fn sqlite_pragmas(&self) -> Result<Option<SqlitePragmas>, StoreError> {
        match &self.backend {
            Backend::Sqlite(s) => s.pragmas().await.map(Some),
            Backend::Postgres(_) => Ok(None),
        }
    }

    /// Closes every connection, after waiting for those in use. Later calls
    /// fail with [`StoreError::Io`]. Dropping every clone also closes them,
    /// but without waiting.
    pub async fn close(&self) {
        match &self.backend {
            Backend::Sqlite(s) => s.close().await,
            Backend::Postgres(s) => s.close().await,
        }
    }

    /// Stores reports in ONE transaction and returns after COMMIT, one
    /// [`Inserted`] per input row, in input order.
    ///
    /// Ids are assigned by the store (the input `id` is ignored), increasing
    /// in input order. A row whose `client_id` is already stored is not
    /// written and comes back as [`Inserted::Existing`] with the stored row;
    /// so does a later row of the same batch repeating an earlier one's
    /// `client_id`.
    ///
    /// # Errors
    /// [`StoreError::Constraint`] if a row breaks the schema (unknown kind,
    /// status or channel, coordinate out of range, NaN, empty district id…):
    /// nothing of the batch is written. [`StoreError::Io`] or
    /// [`StoreError::Database`] on database failure, also with nothing written.
    pub async fn insert_reports(&self, rows: Vec<ReportRow>) -> Result<Vec<Inserted>, StoreError> {
        match &self.backend {
            Backend::Sqlite(s) => s.insert_reports(rows).await,
            Backend::Postgres(s) => s.insert_reports(rows).await,
        }
    }

    /// The report with this id.
    ///
    /// # Errors
    /// [`StoreError::Io`] or [`StoreError::Database`] on database failure,
    /// [`StoreError::Corrupt`] if the stored row cannot be decoded.
    pub async fn report(&self, id: i64) -> Result<Option<ReportRow>, StoreError> {
        match &self.backend {
            Backend::Sqlite(s) => s.report(id).await,
            Backend::Postgres(s) => s.report(id).await,
        }
    }

    /// The reports with these ids, in the order given; ids that are not
    /// stored are left out, a repeated id is repeated.
    ///
    /// # Errors
    /// As [`Store::report`].
    pub async fn reports_by_ids(&self, ids: &[i64]) -> Result<Vec<ReportRow>, StoreError> {
        match &self.backend {
            Backend::Sqlite(s) => s.reports_by_ids(ids).await,
            Backend::Postgres(s) => s.reports_by_ids(ids).await,
        }
    }

    /// The report stored under this client-generated idempotency id.
    ///
    /// # Errors
    /// As [`Store::report`].
    pub async fn report_by_client_id(
        &self,
        client_id: &str,
    ) -> Result<Option<ReportRow>, StoreError> {
        match &self.backend {
            Backend::Sqlite(s) => s.report_by_client_id(client_id).await,
            Backend::Postgres(s) => s.report_by_client_id(client_id).await,
        }
    }

    /// How many reports are stored.
    ///
    /// # Errors
    /// [`StoreError::Io`] or [`StoreError::Database`] on database failure.
    pub async fn count_reports(&self) -> Result<u64, StoreError> {
        match &self.backend {
            Backend::Sqlite(s) => s.count_reports().await,
            Backend::Postgres(s) => s.count_reports().await,
        }
    }

    /// Calls `f` once per stored report, in id order, with the light
    /// [`IndexRow`] the in-memory index is rebuilt from at boot; returns how
    /// many rows were passed. Rows are borrowed from the read buffer (no
    /// allocation per row): copy what you keep.
    ///
    /// The scan pages through the table by id, so reports committed while it
    /// runs may or may not be seen: run it before accepting writes.
    ///
    /// # Errors
    /// [`StoreError::Io`] or [`StoreError::Database`] on database failure,
    /// [`StoreError::Corrupt`] on an unknown stored kind or status; `f` may
    /// have been called for some rows before.
    pub async fn load_index_rows<F>(&self, f: F) -> Result<u64, StoreError>
    where
        F: FnMut(IndexRow<'_>) + Send,
    {
        match &self.backend {
            Backend::Sqlite(s) => s.load_index_rows(f).await,
            Backend::Postgres(s) => s.load_index_rows(f).await,
        }
    }

    /// Inserts projects, or replaces every column of those whose `id` is
    /// already stored, in one transaction.
    ///
    /// # Errors
    /// [`StoreError::Constraint`] if a row breaks the schema (nothing is
    /// written), [`StoreError::Io`] or [`StoreError::Database`] on failure.
    pub async fn insert_projects(&self, rows: Vec<ProjectRow>) -> Result<(), StoreError> {
        match &self.backend {
            Backend::Sqlite(s) => s.insert_projects(rows).await,
            Backend::Postgres(s) => s.insert_projects(rows).await,
        }
    }

    /// Every stored project, by id.
    ///
    /// # Errors
    /// As [`Store::report`].
    pub async fn projects(&self) -> Result<Vec<ProjectRow>, StoreError> {
        match &self.backend {
            Backend::Sqlite(s) => s.projects().await,
            Backend::Postgres(s) => s.projects().await,
        }
    }

    /// Stores a perimeter layer, replacing the one with the same
    /// `(layer, version)`.
    ///
    /// # Errors
    /// [`StoreError::Constraint`] for an unknown layer name or an empty
    /// version, [`StoreError::Io`] or [`StoreError::Database`] on failure.
    pub async fn save_layer(&self, layer: LayerRow) -> Result<(), StoreError> {
        match &self.backend {
            Backend::Sqlite(s) => s.save_layer(layer).await,
            Backend::Postgres(s) => s.save_layer(layer).await,
        }
    }

    /// Every stored perimeter layer, by layer name, `valid_from`, version.
    ///
    /// # Errors
    /// As [`Store::report`].
    pub async fn layers(&self) -> Result<Vec<LayerRow>, StoreError> {
        match &self.backend {
            Backend::Sqlite(s) => s.layers().await,
            Backend::Postgres(s) => s.layers().await,
        }
    }

    /// Replaces the five district ids of these reports (after a new
    /// perimeter layer was imported), in one transaction; returns how many
    /// reports were found and updated.
    ///
    /// # Errors
    /// [`StoreError::Constraint`] for an empty district id (nothing is
    /// written), [`StoreError::Io`] or [`StoreError::Database`] on failure.
    pub async fn update_report_districts(
        &self,
        updates: Vec<(i64, DistrictIds)>,
    ) -> Result<u64, StoreError> {
        match &self.backend {
            Backend::Sqlite(s) => s.update_report_districts(updates).await,
            Backend::Postgres(s) => s.update_report_districts(updates).await,
        }
    }

    /// As [`Store::update_report_districts`], for projects.
    ///
    /// # Errors
    /// As [`Store::update_report_districts`].
    pub async fn update_project_districts(
        &self,
        updates: Vec<(i64, DistrictIds)>,
    ) -> Result<u64, StoreError> {
        match &self.backend {
            Backend::Sqlite(s) => s.update_project_districts(updates).await,
            Backend::Postgres(s) => s.update_project_districts(updates).await,
        }
    }

    /// The value stored under `key` in the meta table.
    ///
    /// # Errors
    /// [`StoreError::Io`] or [`StoreError::Database`] on database failure.
    pub async fn meta_get(&self, key: &str) -> Result<Option<String>, StoreError> {
        match &self.backend {
            Backend::Sqlite(s) => s.meta_get(key).await,
            Backend::Postgres(s) => s.meta_get(key).await,
        }
    }

    /// Stores `value` under `key` in the meta table, replacing any value.
    ///
    /// # Errors
    /// [`StoreError::Io`] or [`StoreError::Database`] on database failure.
    pub async fn meta_set(&self, key: &str, value: &str) -> Result<(), StoreError> {
        match &self.backend {
            Backend::Sqlite(s) => s.meta_set(key, value).await,
            Backend::Postgres(s) => s.meta_set(key, value).await,
        }
    }

    /// Gives every report stored with a contact but no reporter pseudonym
    /// (filed before schema 7) the pseudonym `pseudonym(contact)`, in one
    /// transaction; returns how many.
    ///
    /// # Errors
    /// [`StoreError::Io`] or [`StoreError::Database`] on database failure.
    pub async fn set_missing_reporters<F>(&self, pseudonym: F) -> Result<u64, StoreError>
    where
        F: Fn(&str) -> i64 + Send,
    {
        match &self.backend {
            Backend::Sqlite(s) => s.set_missing_reporters(pseudonym).await,
            Backend::Postgres(s) => s.set_missing_reporters(pseudonym).await,
        }
    }
}
