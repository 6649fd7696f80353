//! Moving a whole store to another backend: `civicmap migrate-store`, for a
//! city whose SQLite store outgrew one machine and moves to PostgreSQL.
//!
//! This module holds what does not depend on a dialect: the **plan** (every
//! table, in an order that satisfies the foreign keys, with its columns,
//! their kinds, the key it is paged by, whether the target numbers it with
//! an identity, and the checks compared at the end), the column-wise pages
//! rows travel in, and the orchestration ([`Store::migrate_to`]). The
//! statements are in `sqlite/migrate.rs` (the reader) and
//! `postgres/migrate.rs` (the writer). It runs no statement; its one piece of SQL is the
//! portable aggregate of the checks (`checks_statement`), spelled once for both.
//!
//! # What is copied, and how
//! Every table of the schema, every column, with its ids: report, event,
//! key, webhook and delivery ids are the same after the move, so webhook
//! cursors, `Last-Event-ID`s held by clients and links to reports stay
//! valid. Before anything is written, both schemas are compared with the
//! plan (a column the plan does not know is refused rather than dropped:
//! see [`MigrateError::SchemaDrift`]), and the target must be empty
//! ([`MigrateError::TargetNotEmpty`]).
//!
//! The source is read in pages by key (keyset, never `OFFSET`) inside ONE
//! read transaction, so a consistent snapshot is copied even if something
//! writes to the source meanwhile (it should not: stop the server first).
//! Each page is written as one statement in a transaction of its own while
//! the next page is read; memory holds two pages, whatever the store's size.
//!
//! After the copy, the target's identity sequences are moved past the
//! largest id copied (the next report, key or webhook gets a fresh id), and
//! every [`Check`] of the plan is computed on both sides: the result says
//! whether they all agree ([`Migrated::verified`]).
//!
//! PostgreSQL's change sequence (`changes`) is not copied and starts empty:
//! it tells running instances what changed since they loaded their memory,
//! and an instance that starts on the migrated store loads every report at
//! boot. Its `seq` then numbers the first change made after the move 1.
//!
//! Every copied webhook gets a free delivery lease (`webhook_leases`), as
//! registering one does on PostgreSQL, so the first instance to start takes
//! it and delivers from the copied cursor.
//!
//! Photo files are not rows: they stay in the source's data directory
//! (`photos/`), which must be copied to (or shared with) the data directory
//! of the instances serving the target.
//!
//! A copy that fails half-way leaves the pages already committed in the
//! target, which is then not empty: drop and recreate that database before
//! trying again.

use super::{Backend, Store, StoreError};

/// Rows per page read from the source and per transaction written to the
/// target, unless told otherwise: large enough that per-statement costs
/// vanish, small enough that two pages of reports stay a few MiB.
pub const DEFAULT_PAGE_ROWS: u32 = 5_000;

/// What a column holds, independently of the backend's type names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A 64-bit integer (SQLite INTEGER; PostgreSQL BIGINT, or INTEGER for
    /// a small count such as a project's edition).
    Int,
    /// A double (SQLite REAL; PostgreSQL DOUBLE PRECISION).
    Real,
    Text,
    /// A flag (SQLite 0/1 INTEGER; PostgreSQL BOOLEAN).
    Bool,
    /// Bytes (SQLite BLOB; PostgreSQL BYTEA).
    Bytes,
}

/// A column of a table, named as in both schemas.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Column {
    pub name: &'static str,
    pub kind: Kind,
}

/// An aggregate computed on both sides after the copy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Check {
    /// The number of rows.
    Rows,
    /// The sum of an integer column (ids and report ids only: they cannot
    /// overflow).
    Sum(&'static str),
    /// The number of rows where the column is not NULL (contacts still
    /// held, revoked keys…).
    NotNull(&'static str),
}

impl Check {
    /// The aggregate in SQL both backends run as it is (the sum cast to
    /// BIGINT: PostgreSQL sums BIGINTs into NUMERIC).
    fn aggregate(&self) -> String {
        match self {
            Check::Rows => "count(*)".to_owned(),
            Check::Sum(c) => format!("CAST(coalesce(sum({c}), 0) AS BIGINT)"),
            Check::NotNull(c) => format!("count({c})"),
        }
    }
}

/// The one statement of a table's checks, in plan order: the only SQL of
/// this module, spelled once for both backends.
pub(crate) fn checks_statement(table: &Table) -> String {
    let aggregates: Vec<String> = table.checks.iter().map(Check::aggregate).collect();
    format!("SELECT {} FROM {}", aggregates.join(", "), table.name)
}

impl std::fmt::Display for Check {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Check::Rows => f.write_str("rows"),
            Check::Sum(c) => write!(f, "sum({c})"),
            Check::NotNull(c) => write!(f, "count({c})"),
        }
    }
}

/// One table of the plan.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Table {
    pub name: &'static str,
    /// Every column, in the order pages carry them.
    pub columns: &'static [Column],
    /// The columns the source is paged by (its primary key): unique, and
    /// among [`Table::columns`].
    pub key: &'static [&'static str],
    /// Whether the target numbers new rows with an identity on `id`, whose
    /// sequence must then be moved past the ids copied.
    pub identity: bool,
    /// Compared on both sides at the end; [`Check::Rows`] first.
    pub checks: &'static [Check],
}

impl Table {
    /// The position of a column in [`Table::columns`].
    #[must_use]
    pub fn position(&self, column: &str) -> Option<usize> {
        self.columns.iter().position(|c| c.name == column)
    }
}

const fn col(name: &'static str, kind: Kind) -> Column {
    Column { name, kind }
}

use Kind::{Bool, Bytes, Int, Real, Text};

/// Every table copied, parents before the tables that refer to them.
pub const TABLES: [Table; 13] = [
    Table {
        name: "meta",
        columns: &[col("key", Text), col("value", Text)],
        key: &["key"],
        identity: false,
        checks: &[Check::Rows],
    },
    Table {
        name: "perimeter_layers",
        columns: &[
            col("layer", Text),
            col("version", Text),
            col("source", Text),
            col("official", Bool),
            col("valid_from", Text),
            col("valid_to", Text),
            col("code_property", Text),
            col("name_property", Text),
            col("geojson", Text),
            col("imported_at_ms", Int),
        ],
        key: &["layer", "version"],
        identity: false,
        checks: &[Check::Rows],
    },
    Table {
        name: "projects",
        columns: &[
            col("id", Int),
            col("title", Text),
            col("edition", Int),
            col("theme", Text),
            col("lead_department", Text),
            col("budget_eur", Int),
            col("scale", Text),
            col("address", Text),
            col("arrondissement_code", Text),
            col("working_class_flag", Bool),
            col("progress", Text),
            col("studies_start", Text),
            col("procedures_start", Text),
            col("works_start", Text),
            col("delivery_planned", Text),
            col("opened", Text),
            col("url", Text),
            col("lon", Real),
            col("lat", Real),
            col("geocode_quality", Text),
            col("h3", Int),
            col("arrondissement", Text),
            col("quartier", Text),
            col("conseil_quartier", Text),
            col("iris", Text),
            col("working_class", Text),
        ],
        key: &["id"],
        identity: false,
        checks: &[Check::Rows, Check::Sum("id"), Check::NotNull("lon")],
    },
    Table {
        name: "api_keys",
        columns: &[
            col("id", Int),
            col("name", Text),
            col("role", Text),
            col("prefix", Text),
            col("hash", Bytes),
            col("created_at_ms", Int),
            col("revoked_at_ms", Int),
        ],
        key: &["id"],
        identity: true,
        checks: &[
            Check::Rows,
            Check::Sum("id"),
            Check::NotNull("revoked_at_ms"),
        ],
    },
    Table {
        name: "campaigns",
        columns: &[
            col("id", Int),
            col("slug", Text),
            col("title", Text),
            col("question", Text),
            col("categories", Text),
            col("starts_at_ms", Int),
            col("ends_at_ms", Int),
            col("district", Text),
            col("perimeter", Text),
            col("created_by", Text),
            col("created_at_ms", Int),
        ],
        key: &["id"],
        identity: true,
        checks: &[Check::Rows, Check::Sum("id")],
    },
    Table {
        name: "reports",
        columns: &[
            col("id", Int),
            col("kind", Text),
            col("status", Text),
            col("category", Text),
            col("lon", Real),
            col("lat", Real),
            col("created_at_ms", Int),
            col("h3", Int),
            col("arrondissement", Text),
            col("quartier", Text),
            col("conseil_quartier", Text),
            col("iris", Text),
            col("working_class", Text),
            col("subcategory", Text),
            col("channel", Text),
            col("seed", Bool),
            col("client_id", Text),
            col("campaign", Text),
            col("address", Text),
            col("contact", Text),
            col("description", Text),
            col("reporter", Int),
        ],
        key: &["id"],
        identity: true,
        checks: &[
            Check::Rows,
            Check::Sum("id"),
            Check::NotNull("contact"),
            Check::NotNull("reporter"),
            Check::NotNull("client_id"),
            Check::NotNull("campaign"),
        ],
    },
    Table {
        name: "report_events",
        columns: &[
            col("id", Int),
            col("report_id", Int),
            col("at_ms", Int),
            col("kind", Text),
            col("status", Text),
            col("note", Text),
            col("author", Text),
            col("duplicate_of", Int),
            col("photo", Text),
            col("first_report", Int),
        ],
        key: &["id"],
        // Numbered by the store (`max(id) + n` under the log lock).
        identity: false,
        checks: &[
            Check::Rows,
            Check::Sum("id"),
            Check::Sum("report_id"),
            Check::NotNull("first_report"),
        ],
    },
    Table {
        name: "report_state",
        columns: &[
            col("report_id", Int),
            col("updated_at_ms", Int),
            col("closed_at_ms", Int),
            col("duplicate_of", Int),
            col("supports", Int),
            col("first_response_at_ms", Int),
        ],
        key: &["report_id"],
        identity: false,
        checks: &[
            Check::Rows,
            Check::Sum("report_id"),
            Check::Sum("supports"),
            Check::NotNull("closed_at_ms"),
        ],
    },
    Table {
        name: "supports",
        columns: &[
            col("report_id", Int),
            col("client_id", Text),
            col("at_ms", Int),
        ],
        key: &["report_id", "client_id"],
        identity: false,
        checks: &[Check::Rows, Check::Sum("report_id")],
    },
    Table {
        name: "photos",
        columns: &[
            col("id", Int),
            col("report_id", Int),
            col("hash", Text),
            col("role", Text),
            col("width", Int),
            col("height", Int),
            col("full_bytes", Int),
            col("display_bytes", Int),
            col("uploaded_by", Text),
            col("created_at_ms", Int),
        ],
        key: &["id"],
        identity: true,
        checks: &[Check::Rows, Check::Sum("id"), Check::Sum("report_id")],
    },
    Table {
        name: "webhooks",
        columns: &[
            col("id", Int),
            col("key_id", Int),
            col("name", Text),
            col("description", Text),
            col("url", Text),
            col("secret", Text),
            col("district", Text),
            col("area", Text),
            col("bbox", Text),
            col("categories", Text),
            col("kinds", Text),
            col("cursor", Int),
            col("created_at_ms", Int),
            col("deleted_at_ms", Int),
            col("disabled_at_ms", Int),
            col("disabled_reason", Text),
            col("failures", Int),
        ],
        key: &["id"],
        identity: true,
        checks: &[Check::Rows, Check::Sum("id"), Check::Sum("cursor")],
    },
    Table {
        name: "webhook_deliveries",
        columns: &[
            col("id", Int),
            col("webhook_id", Int),
            col("event_id", Int),
            col("at_ms", Int),
            col("attempts", Int),
            col("ok", Bool),
            col("status", Int),
            col("error", Text),
            col("duration_ms", Int),
        ],
        key: &["id"],
        identity: true,
        checks: &[Check::Rows, Check::Sum("id"), Check::Sum("event_id")],
    },
    Table {
        name: "contact_erasures",
        columns: &[
            col("id", Int),
            col("report_id", Int),
            col("at_ms", Int),
            col("reason", Text),
            col("author", Text),
        ],
        key: &["id"],
        identity: true,
        checks: &[
            Check::Rows,
            Check::Sum("id"),
            Check::Sum("report_id"),
            Check::NotNull("author"),
        ],
    },
];

/// Tables of a schema that are deliberately not copied: PostgreSQL's change
/// sequence (see the module docs), its webhook delivery leases (made free
/// for every copied webhook), its shared quota state (a client's quota
/// starts afresh, as after a restart of one instance), and the migration
/// tools' own bookkeeping (each side keeps the record of its own
/// migrations).
pub const NOT_COPIED: [&str; 4] = [
    "changes",
    "webhook_leases",
    "quota_tats",
    "_sqlx_migrations",
];

/// The plan's table of this name.
#[must_use]
pub fn table(name: &str) -> Option<&'static Table> {
    TABLES.iter().find(|t| t.name == name)
}

/// One column of a page: a value (or NULL) per row.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Values {
    Int(Vec<Option<i64>>),
    Real(Vec<Option<f64>>),
    Text(Vec<Option<String>>),
    Bool(Vec<Option<bool>>),
    Bytes(Vec<Option<Vec<u8>>>),
}

impl Values {
    pub(crate) fn with_capacity(kind: Kind, rows: usize) -> Values {
        match kind {
            Kind::Int => Values::Int(Vec::with_capacity(rows)),
            Kind::Real => Values::Real(Vec::with_capacity(rows)),
            Kind::Text => Values::Text(Vec::with_capacity(rows)),
            Kind::Bool => Values::Bool(Vec::with_capacity(rows)),
            Kind::Bytes => Values::Bytes(Vec::with_capacity(rows)),
        }
    }

    fn len(&self) -> usize {
        match self {
            Values::Int(v) => v.len(),
            Values::Real(v) => v.len(),
            Values::Text(v) => v.len(),
            Values::Bool(v) => v.len(),
            Values::Bytes(v) => v.len(),
        }
    }

    /// The last row's value as a paging key (integer or text, never NULL).
    fn last_key(&self) -> Option<KeyValue> {
        match self {
            Values::Int(v) => v.last().copied().flatten().map(KeyValue::Int),
            Values::Text(v) => v.last().cloned().flatten().map(KeyValue::Text),
            Values::Real(_) | Values::Bool(_) | Values::Bytes(_) => None,
        }
    }
}

/// A value of a key column: where the next page starts (after it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum KeyValue {
    Int(i64),
    Text(String),
}

/// Rows of one table, column by column (as [`Table::columns`]).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Page {
    pub(crate) columns: Vec<Values>,
}

impl Page {
    pub(crate) fn rows(&self) -> usize {
        self.columns.first().map_or(0, Values::len)
    }

    /// The key of the last row, which the next page starts after.
    fn last_key(&self, table: &Table) -> Result<Vec<KeyValue>, MigrateError> {
        table
            .key
            .iter()
            .map(|k| {
                table
                    .position(k)
                    .and_then(|i| self.columns.get(i))
                    .and_then(Values::last_key)
                    .ok_or(MigrateError::BadKey {
                        table: table.name,
                        column: k,
                    })
            })
            .collect()
    }
}

/// Where a migration is, for a progress display.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Progress {
    /// Copying this table starts: `rows` rows to copy.
    Table { table: &'static str, rows: u64 },
    /// `done` rows of this table are committed in the target.
    Copied { table: &'static str, done: u64 },
    /// Every table is copied; the checks are being computed on both sides.
    Verifying,
}

/// One check of one table, on both sides.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Compared {
    pub table: &'static str,
    pub check: Check,
    pub source: i64,
    pub target: i64,
}

impl Compared {
    #[must_use]
    pub fn agrees(&self) -> bool {
        self.source == self.target
    }
}

/// What [`Store::migrate_to`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Migrated {
    /// Every check of the plan, table by table, in plan order.
    pub checks: Vec<Compared>,
    /// Photo rows copied: their files must reach the target's data directory.
    pub photos: u64,
}

impl Migrated {
    /// Whether every check agrees.
    #[must_use]
    pub fn verified(&self) -> bool {
        self.checks.iter().all(Compared::agrees)
    }

    /// The checks that differ.
    pub fn differences(&self) -> impl Iterator<Item = &Compared> {
        self.checks.iter().filter(|c| !c.agrees())
    }
}

/// Why a migration did not run, or stopped.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum MigrateError {
    /// Only SQLite to PostgreSQL is implemented.
    #[error("cannot migrate from {from} to {to}: only sqlite to postgres is supported")]
    Unsupported {
        from: &'static str,
        to: &'static str,
    },
    /// The target URL does not name a PostgreSQL database.
    #[error("the target must be a PostgreSQL database (postgres://…), not {scheme}")]
    TargetUrl { scheme: String },
    /// The source directory holds no store (opening it would have made an
    /// empty one).
    #[error("no SQLite store at {path}")]
    NoSource { path: std::path::PathBuf },
    /// The target already holds rows: nothing was written.
    #[error(
        "the target store is not empty ({}): refusing to migrate into it; nothing was written \
         (a migration that failed half-way leaves its rows: drop and recreate the database)",
        .held.iter().map(|(t, n)| format!("{t}: {n} rows")).collect::<Vec<_>>().join(", ")
    )]
    TargetNotEmpty { held: Vec<(String, u64)> },
    /// A schema has a table or column the plan does not know (or lacks one
    /// it knows): copying would drop or invent data. Nothing was written.
    #[error("the {backend} schema does not match the migration plan: {detail}")]
    SchemaDrift {
        backend: &'static str,
        detail: String,
    },
    /// A key column of a page was NULL or not an integer or text.
    #[error("table {table}: key column {column} cannot page the copy")]
    BadKey {
        table: &'static str,
        column: &'static str,
    },
    /// The source or target store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Opens the source of a migration named by `url` (`sqlite://<dir>` or a
/// directory; `postgres://…`), refusing a SQLite directory without a store
/// rather than creating an empty one.
///
/// # Errors
/// [`MigrateError::NoSource`], or those of [`Store::open_url`].
pub async fn open_source(url: &str) -> Result<Store, MigrateError> {
    let dir = match url.split_once("://") {
        Some(("sqlite", dir)) => Some(dir),
        Some(_) => None,
        None => Some(url),
    };
    if let Some(dir) = dir {
        let path = std::path::Path::new(dir).join(super::DB_FILE_NAME);
        if !path.is_file() {
            return Err(MigrateError::NoSource { path });
        }
    }
    Store::open_url(Some(url), std::path::Path::new("."))
        .await
        .map_err(MigrateError::Store)
}

/// Opens the target of a migration named by `url`: a PostgreSQL database
/// (`postgres://…` or `postgresql://…`), its schema created if it has none.
/// Another URL is refused before anything is opened (or created).
///
/// # Errors
/// [`MigrateError::TargetUrl`] for another URL, or those of
/// [`Store::open_postgres`].
pub async fn open_target(url: &str) -> Result<Store, MigrateError> {
    match url.split_once("://") {
        Some(("postgres" | "postgresql", _)) => {
            Store::open_postgres(url).await.map_err(MigrateError::Store)
        }
        Some((scheme, _)) => Err(MigrateError::TargetUrl {
            scheme: scheme.to_owned(),
        }),
        None => Err(MigrateError::TargetUrl {
            scheme: "a directory".to_owned(),
        }),
    }
}

/// The columns of one table as a schema has them.
pub(crate) type SchemaTables = std::collections::BTreeMap<String, Vec<String>>;

/// Compares a schema's tables and columns with the plan.
fn compare_schema(backend: &'static str, found: &SchemaTables) -> Result<(), MigrateError> {
    let drift = |detail: String| MigrateError::SchemaDrift { backend, detail };
    for (name, columns) in found {
        if NOT_COPIED.contains(&name.as_str()) {
            continue;
        }
        let Some(t) = table(name) else {
            return Err(drift(format!("table {name} is not in the plan")));
        };
        for c in columns {
            if t.position(c).is_none() {
                return Err(drift(format!("column {name}.{c} is not in the plan")));
            }
        }
        for c in t.columns {
            if !columns.iter().any(|f| f == c.name) {
                return Err(drift(format!("column {name}.{} is missing", c.name)));
            }
        }
    }
    for t in &TABLES {
        if !found.contains_key(t.name) {
            return Err(drift(format!("table {} is missing", t.name)));
        }
    }
    Ok(())
}

impl Store {
    /// Copies every table of this store into `target`, which must be empty,
    /// keeping every id; moves the target's identity sequences past the ids
    /// copied; then compares the plan's checks on both sides (the result
    /// says whether they agree: see [`Migrated::verified`]). `page_rows`
    /// rows are read per page and written per transaction (0 is taken as
    /// 1). `progress` is called as tables start and pages commit.
    ///
    /// Only SQLite to PostgreSQL is implemented. Nothing else should write
    /// to either store meanwhile: the source is read in one snapshot, but
    /// writes made to it after that snapshot are not copied, and an
    /// instance writing to the target would take ids the copy needs.
    ///
    /// # Errors
    /// [`MigrateError::Unsupported`] for another pair of backends;
    /// [`MigrateError::SchemaDrift`] or [`MigrateError::TargetNotEmpty`]
    /// before anything is written; [`MigrateError::Store`] if a store
    /// fails (the pages committed before stay in the target).
    pub async fn migrate_to<F>(
        &self,
        target: &Store,
        page_rows: u32,
        mut progress: F,
    ) -> Result<Migrated, MigrateError>
    where
        F: FnMut(Progress) + Send,
    {
        let (Backend::Sqlite(source), Backend::Postgres(dest)) = (&self.backend, &target.backend)
        else {
            return Err(MigrateError::Unsupported {
                from: self.backend_name(),
                to: target.backend_name(),
            });
        };
        let page_rows = usize::try_from(page_rows.max(1)).unwrap_or(usize::MAX);
        compare_schema("sqlite", &source.schema_tables().await?)?;
        compare_schema("postgres", &dest.schema_tables().await?)?;
        let held: Vec<(String, u64)> = dest
            .row_counts(TABLES.iter().map(|t| t.name).chain(["changes"]))
            .await?
            .into_iter()
            .filter(|(_, n)| *n > 0)
            .collect();
        if !held.is_empty() {
            return Err(MigrateError::TargetNotEmpty { held });
        }

        let mut reader = source.migration_reader().await?;
        for table in &TABLES {
            let rows = reader.count(table).await?;
            progress(Progress::Table {
                table: table.name,
                rows,
            });
            let mut done = 0_u64;
            let mut page = reader.page(table, None, page_rows).await?;
            while page.rows() > 0 {
                // A full page may have more after it.
                let full = page.rows() == page_rows;
                let after = page.last_key(table)?;
                // Write this page while the next one is read.
                let (written, next) = tokio::join!(dest.write_page(table, &page), async {
                    if full {
                        reader.page(table, Some(&after), page_rows).await
                    } else {
                        Ok(Page {
                            columns: Vec::new(),
                        })
                    }
                });
                written?;
                done += page.rows() as u64;
                progress(Progress::Copied {
                    table: table.name,
                    done,
                });
                page = next?;
            }
        }
        dest.advance_identities(TABLES.iter().filter(|t| t.identity).map(|t| t.name))
            .await?;
        dest.free_webhook_leases().await?;

        progress(Progress::Verifying);
        let mut checks = Vec::new();
        let mut photos = 0;
        for table in &TABLES {
            let source_values = reader.checks(table).await?;
            let target_values = dest.checks(table).await?;
            for ((check, s), t) in table.checks.iter().zip(source_values).zip(target_values) {
                if table.name == "photos" && *check == Check::Rows {
                    photos = u64::try_from(s).unwrap_or(0);
                }
                checks.push(Compared {
                    table: table.name,
                    check: *check,
                    source: s,
                    target: t,
                });
            }
        }
        reader.finish().await?;
        Ok(Migrated { checks, photos })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn every_table_of_the_plan_pages_by_columns_it_has_and_checks_rows_first() {
        for t in &TABLES {
            assert!(!t.key.is_empty(), "{}", t.name);
            for k in t.key {
                let i = t.position(k).unwrap();
                assert!(
                    matches!(t.columns[i].kind, Kind::Int | Kind::Text),
                    "{}.{k}",
                    t.name
                );
            }
            assert_eq!(t.checks.first(), Some(&Check::Rows), "{}", t.name);
            for c in t.checks {
                if let Check::Sum(c) | Check::NotNull(c) = c {
                    assert!(t.position(c).is_some(), "{}.{c}", t.name);
                }
            }
            if t.identity {
                assert_eq!(t.key, ["id"], "{}", t.name);
            }
        }
    }

    #[test]
    fn a_page_starts_after_the_last_key_of_the_one_before() {
        let t = table("supports").unwrap();
        let page = Page {
            columns: vec![
                Values::Int(vec![Some(1), Some(2)]),
                Values::Text(vec![Some("a".into()), Some("b".into())]),
                Values::Int(vec![Some(10), Some(20)]),
            ],
        };
        assert_eq!(page.rows(), 2);
        assert_eq!(
            page.last_key(t).unwrap(),
            vec![KeyValue::Int(2), KeyValue::Text("b".into())]
        );
    }

    #[test]
    fn a_schema_with_a_column_the_plan_does_not_know_is_refused() {
        let mut found: SchemaTables = TABLES
            .iter()
            .map(|t| {
                (
                    t.name.to_owned(),
                    t.columns.iter().map(|c| c.name.to_owned()).collect(),
                )
            })
            .collect();
        found.insert("changes".into(), vec!["seq".into()]);
        compare_schema("sqlite", &found).unwrap();

        found.get_mut("reports").unwrap().push("mood".to_owned());
        let err = compare_schema("sqlite", &found).unwrap_err().to_string();
        assert!(err.contains("reports.mood"), "{err}");

        found.get_mut("reports").unwrap().pop();
        found.insert("likes".into(), vec!["id".into()]);
        let err = compare_schema("sqlite", &found).unwrap_err().to_string();
        assert!(err.contains("table likes"), "{err}");

        found.remove("likes");
        found.remove("supports");
        let err = compare_schema("sqlite", &found).unwrap_err().to_string();
        assert!(err.contains("table supports is missing"), "{err}");
    }
}
