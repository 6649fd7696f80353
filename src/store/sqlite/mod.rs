//! The SQLite backend: one file `civicmap.db` in the data directory, in WAL
//! mode with `synchronous=FULL` (a commit is on disk when it returns).
//!
//! Connections: one writer (a pool of size one, so writes are serialised
//! in-process and every write transaction starts with `BEGIN IMMEDIATE`) and
//! a few read-only readers, which WAL lets run beside the writer.
//!
//! Batched statements: a multi-row statement for `n` rows is split into
//! chunks whose sizes are powers of two (at most [`MAX_CHUNK_ROWS`]), so at
//! most nine distinct SQL texts exist per statement kind and all of them stay
//! in each connection's prepared-statement cache. Id lists are passed as one
//! JSON array (`json_each`), which keeps those queries static.
//!
//! Tuning, each measured on the 2-core target (see the constants): 2 KiB
//! pages, a large writer cache, a 32 MiB WAL before auto-checkpoint,
//! `temp_store=MEMORY` (a multi-row `INSERT` inside a transaction keeps a
//! statement journal, which otherwise went to a temporary file and took a
//! quarter of insert time), memory-mapped readers. The boot scan has its own
//! module, [`index_scan`].

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{AssertSqlSafe, SqlitePool};

pub(crate) mod export;
mod index_scan;
mod lifecycle;
mod migrate;
mod open311;
mod photos;
mod privacy;
mod webhooks;

use super::error::StoreError;
use super::rows::{
    DistrictIds, IndexRow, Inserted, LayerRow, ProjectRow, ReportRow, SqlitePragmas,
};
use crate::store::decode::{layer_from_row, project_from_row, report_from_row};

/// The database file's name inside the data directory.
pub const DB_FILE_NAME: &str = "civicmap.db";

/// Largest number of rows in one multi-row statement. With 21 parameters per
/// report that is 5,376 bound values, far below SQLite's limit (32,766).
const MAX_CHUNK_ROWS: usize = 256;

/// Readers in the read pool: enough for concurrent API reads and for the
/// boot scan's pages in flight.
const READER_CONNECTIONS: u32 = 4;

/// How long a connection waits for a lock held by another process.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// Page size of a new database (an existing one keeps its own). Smaller than
/// SQLite's 4 KiB default because a batch of reports dirties one page per
/// index group it touches and every dirty page is written whole to the WAL at
/// commit: 2 KiB pages gave about 25% more group-commit throughput, with no
/// loss on the boot scan.
const PAGE_SIZE_BYTES: u32 = 2048;

/// Page cache of the writer: holds the hot index pages of a large store.
const WRITER_CACHE_KIB: u32 = 64 * 1024;

/// Page cache of each reader (reads go through `mmap` first).
const READER_CACHE_KIB: u32 = 16 * 1024;

/// Readers map the database file (up to this size) instead of copying pages
/// through `read()`: about 10% less CPU in the boot scan. The mapped pages
/// count in the process's VmRSS (as file pages, reclaimable by the kernel);
/// turning the mapping off was measured to *raise* anonymous memory and boot
/// time at 1M reports (BENCHMARKS.md), so it stays on.
const READER_MMAP_BYTES: u64 = 1 << 30;

/// WAL size that triggers a checkpoint, in pages (32 MiB at 2 KiB). SQLite's
/// default (1,000 pages) checkpointed every few batches and cost a third of
/// group-commit throughput; a hot page rewritten by many batches is copied
/// back to the database once per checkpoint.
const WAL_AUTOCHECKPOINT_PAGES: u32 = 16 * 1024;

/// `secure_delete` of the writer: `FAST` zeroes freed space inside the pages
/// a write rewrites anyway (no extra IO), so that moving records between
/// pages (a B-tree split) leaves no stale copy of them in unused space, which
/// an erasure could not find later. Erasures run with `ON` (freed pages are
/// zeroed too): see `privacy.rs`.
const SECURE_DELETE: &str = "FAST";

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");

/// Columns of `reports`, in table order (see the migration for why the order
/// matters). Decoded by [`report_from_row`].
macro_rules! report_columns {
    () => {
        "id, kind, status, category, lon, lat, created_at_ms, h3, \
         arrondissement, quartier, conseil_quartier, iris, working_class, \
         subcategory, channel, seed, client_id, campaign, address, contact, description, reporter"
    };
}
const REPORT_COLUMN_COUNT: usize = 22;

/// Columns of `projects`, in table order. Decoded by [`project_from_row`].
macro_rules! project_columns {
    () => {
        "id, title, edition, theme, lead_department, budget_eur, scale, address, \
         arrondissement_code, working_class_flag, progress, studies_start, procedures_start, \
         works_start, delivery_planned, opened, url, lon, lat, geocode_quality, h3, \
         arrondissement, quartier, conseil_quartier, iris, working_class"
    };
}
const PROJECT_COLUMN_COUNT: usize = 26;

/// Columns of `perimeter_layers`. Decoded by [`layer_from_row`].
macro_rules! layer_columns {
    () => {
        "layer, version, source, official, valid_from, valid_to, code_property, \
         name_property, geojson, imported_at_ms"
    };
}

const SELECT_REPORT_BY_ID: &str =
    concat!("SELECT ", report_columns!(), " FROM reports WHERE id = $1");
const SELECT_REPORT_BY_CLIENT_ID: &str = concat!(
    "SELECT ",
    report_columns!(),
    " FROM reports WHERE client_id = $1"
);
const SELECT_REPORTS_BY_IDS: &str = concat!(
    "SELECT ",
    report_columns!(),
    " FROM reports WHERE id IN (SELECT value FROM json_each($1))"
);
const SELECT_REPORTS_BY_CLIENT_IDS: &str = concat!(
    "SELECT ",
    report_columns!(),
    " FROM reports WHERE client_id IN (SELECT value FROM json_each($1))"
);
const SELECT_PROJECTS: &str = concat!("SELECT ", project_columns!(), " FROM projects ORDER BY id");
const SELECT_LAYERS: &str = concat!(
    "SELECT ",
    layer_columns!(),
    " FROM perimeter_layers ORDER BY layer, valid_from, version"
);
const UPSERT_LAYER: &str = concat!(
    "INSERT INTO perimeter_layers (",
    layer_columns!(),
    ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) \
     ON CONFLICT (layer, version) DO UPDATE SET source = excluded.source, \
     official = excluded.official, valid_from = excluded.valid_from, \
     valid_to = excluded.valid_to, code_property = excluded.code_property, \
     name_property = excluded.name_property, geojson = excluded.geojson, \
     imported_at_ms = excluded.imported_at_ms"
);

/// The multi-row statements, one SQL text per power-of-two chunk size.
struct ChunkedSql {
    /// `by_size[k]` holds the statement for `2^k` rows.
    by_size: Vec<Arc<str>>,
}

impl ChunkedSql {
    /// `head` then `rows` tuples of `params_per_row` placeholders, then
    /// `tail`.
    ///
    /// The placeholders are SQLite's anonymous `?`, not `$n`: the driver
    /// asks SQLite for each parameter's name when binding, a linear scan,
    /// which made a 256-row insert (5,376 `$n`) quadratic and bulk inserts
    /// six times slower. (These statements are SQLite's own; PostgreSQL will
    /// use `UNNEST` arrays.)
    fn new(head: &str, params_per_row: usize, tail: &str) -> Self {
        let mut by_size = Vec::new();
        let mut rows = 1;
        while rows <= MAX_CHUNK_ROWS {
            let mut sql =
                String::with_capacity(head.len() + tail.len() + rows * params_per_row * 7);
            sql.push_str(head);
            for r in 0..rows {
                sql.push_str(if r == 0 { "(" } else { ", (" });
                for p in 0..params_per_row {
                    if p > 0 {
                        sql.push_str(", ");
                    }
                    sql.push('?');
                }
                sql.push(')');
            }
            sql.push_str(tail);
            by_size.push(Arc::from(sql));
            rows *= 2;
        }
        ChunkedSql { by_size }
    }

    /// Splits `total` rows into chunk lengths: as many of the largest as fit,
    /// then the binary digits of the rest.
    fn chunks(total: usize) -> impl Iterator<Item = usize> {
        let mut left = total;
        std::iter::from_fn(move || {
            if left == 0 {
                return None;
            }
            let len = if left >= MAX_CHUNK_ROWS {
                MAX_CHUNK_ROWS
            } else {
                1 << left.ilog2()
            };
            left -= len;
            Some(len)
        })
    }

    /// The statement for `len` rows, `len` a power of two ≤ [`MAX_CHUNK_ROWS`].
    fn sql(&self, len: usize) -> AssertSqlSafe<Arc<str>> {
        AssertSqlSafe(Arc::clone(&self.by_size[len.ilog2() as usize]))
    }
}

fn insert_reports_sql() -> &'static ChunkedSql {
    static SQL: OnceLock<ChunkedSql> = OnceLock::new();
    SQL.get_or_init(|| {
        ChunkedSql::new(
            concat!("INSERT INTO reports (", report_columns!(), ") VALUES "),
            REPORT_COLUMN_COUNT,
            "",
        )
    })
}

fn upsert_projects_sql() -> &'static ChunkedSql {
    static SQL: OnceLock<ChunkedSql> = OnceLock::new();
    SQL.get_or_init(|| {
        let set = project_columns!()
            .split(',')
            .map(str::trim)
            .filter(|c| *c != "id")
            .map(|c| format!("{c} = excluded.{c}"))
            .collect::<Vec<_>>()
            .join(", ");
        ChunkedSql::new(
            concat!("INSERT INTO projects (", project_columns!(), ") VALUES "),
            PROJECT_COLUMN_COUNT,
            &format!(" ON CONFLICT (id) DO UPDATE SET {set}"),
        )
    })
}

fn update_districts_sql(table: &str) -> ChunkedSql {
    ChunkedSql::new(
        &format!(
            "UPDATE {table} SET arrondissement = v.column2, quartier = v.column3, \
             conseil_quartier = v.column4, iris = v.column5, working_class = v.column6 \
             FROM (VALUES "
        ),
        6,
        &format!(") AS v WHERE {table}.id = v.column1"),
    )
}

fn update_report_districts_sql() -> &'static ChunkedSql {
    static SQL: OnceLock<ChunkedSql> = OnceLock::new();
    SQL.get_or_init(|| update_districts_sql("reports"))
}

fn update_project_districts_sql() -> &'static ChunkedSql {
    static SQL: OnceLock<ChunkedSql> = OnceLock::new();
    SQL.get_or_init(|| update_districts_sql("projects"))
}

/// What `insert_reports` does with one input row.
enum Plan {
    /// Insert it: index into the rows to insert.
    New(usize),
    /// Its client id is stored: index into the stored rows found.
    Stored(usize),
    /// Its client id came earlier in the batch: index into the rows to insert.
    EarlierInBatch(usize),
}

/// The SQLite store: cheap to clone (the pools are shared).
#[derive(Clone)]
pub(crate) struct SqliteStore {
    writer: SqlitePool,
    readers: SqlitePool,
    path: Arc<PathBuf>,
}

impl SqliteStore {
    pub(crate) async fn open(data_dir: &Path) -> Result<Self, StoreError> {
        tokio::fs::create_dir_all(data_dir)
            .await
            .map_err(|e| StoreError::CreateDir {
                path: data_dir.to_owned(),
                source: Arc::new(e),
            })?;
        let path = data_dir.join(DB_FILE_NAME);
        let options = SqliteConnectOptions::new()
            .filename(&path)
            .create_if_missing(true)
            .page_size(PAGE_SIZE_BYTES)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .foreign_keys(true)
            .busy_timeout(BUSY_TIMEOUT)
            .pragma("temp_store", "MEMORY");
        let writer_options = options
            .clone()
            .pragma("cache_size", format!("-{WRITER_CACHE_KIB}"))
            .pragma("wal_autocheckpoint", WAL_AUTOCHECKPOINT_PAGES.to_string())
            .pragma("secure_delete", SECURE_DELETE);
        let reader_options = options
            .read_only(true)
            .pragma("cache_size", format!("-{READER_CACHE_KIB}"))
            .pragma("mmap_size", READER_MMAP_BYTES.to_string());
        let writer = SqlitePoolOptions::new()
            .max_connections(1)
            .min_connections(1)
            .connect_with(writer_options)
            .await?;
        MIGRATOR.run(&writer).await?;
        // After a crash the WAL may hold up to WAL_AUTOCHECKPOINT_PAGES
        // frames; copy them into the database now, so that readers (the
        // boot scan first) need not look pages up in the WAL. PASSIVE: never
        // waits for another process using the file.
        sqlx::query("PRAGMA wal_checkpoint(PASSIVE)")
            .execute(&writer)
            .await?;
        let store = SqliteStore {
            readers: SqlitePoolOptions::new()
                .max_connections(READER_CONNECTIONS)
                .connect_with(reader_options)
                .await?,
            writer,
            path: Arc::new(path),
        };
        store.check_pragmas().await?;
        tracing::info!(path = %store.path.display(), "sqlite store open");
        Ok(store)
    }

    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    pub(crate) async fn close(&self) {
        self.writer.close().await;
        self.readers.close().await;
    }

    pub(crate) async fn pragmas(&self) -> Result<SqlitePragmas, StoreError> {
        let mut conn = self.writer.acquire().await?;
        let journal_mode: String = sqlx::query_scalar("PRAGMA journal_mode")
            .fetch_one(&mut *conn)
            .await?;
        let synchronous: i64 = sqlx::query_scalar("PRAGMA synchronous")
            .fetch_one(&mut *conn)
            .await?;
        let foreign_keys: i64 = sqlx::query_scalar("PRAGMA foreign_keys")
            .fetch_one(&mut *conn)
            .await?;
        let busy_timeout_ms: i64 = sqlx::query_scalar("PRAGMA busy_timeout")
            .fetch_one(&mut *conn)
            .await?;
        Ok(SqlitePragmas {
            journal_mode,
            synchronous,
            foreign_keys: foreign_keys == 1,
            busy_timeout_ms,
        })
    }

    /// Fails unless the writer runs in WAL mode with `synchronous=FULL` (else
    /// a commit may not survive a power cut) and with foreign keys on.
    async fn check_pragmas(&self) -> Result<(), StoreError> {
        // `concat_ws` (3.44) in the boot scan; STRICT tables, `UPDATE FROM`
        // and JSON are older. The bundled SQLite is newer; a system one may not be.
        let version: String = sqlx::query_scalar("SELECT sqlite_version()")
            .fetch_one(&self.writer)
            .await?;
        let number: Vec<u32> = version.split('.').map_while(|p| p.parse().ok()).collect();
        if number.as_slice() < [3, 44].as_slice() {
            return Err(StoreError::Pragma {
                pragma: "sqlite_version()",
                expected: "3.44 or newer",
                found: version,
            });
        }
        let p = self.pragmas().await?;
        if !p.journal_mode.eq_ignore_ascii_case("wal") {
            return Err(StoreError::Pragma {
                pragma: "journal_mode",
                expected: "wal",
                found: p.journal_mode,
            });
        }
        if p.synchronous != 2 {
            return Err(StoreError::Pragma {
                pragma: "synchronous",
                expected: "2 (FULL)",
                found: p.synchronous.to_string(),
            });
        }
        if !p.foreign_keys {
            return Err(StoreError::Pragma {
                pragma: "foreign_keys",
                expected: "1 (ON)",
                found: "0".to_owned(),
            });
        }
        Ok(())
    }

    pub(crate) async fn insert_reports(
        &self,
        rows: Vec<ReportRow>,
    ) -> Result<Vec<Inserted>, StoreError> {
        if rows.is_empty() {
            return Ok(Vec::new());
        }
        let mut tx = self.writer.begin_with("BEGIN IMMEDIATE").await?;

        // Rows already stored under one of the batch's client ids.
        let client_ids: Vec<&str> = rows.iter().filter_map(|r| r.client_id.as_deref()).collect();
        let mut stored: Vec<ReportRow> = Vec::new();
        if !client_ids.is_empty() {
            let found = sqlx::query(SELECT_REPORTS_BY_CLIENT_IDS)
                .bind(json_string_array(&client_ids))
                .fetch_all(&mut *tx)
                .await?;
            stored = found
                .iter()
                .map(report_from_row)
                .collect::<Result<_, _>>()?;
        }
        let stored_by_client_id: HashMap<&str, usize> = stored
            .iter()
            .enumerate()
            .filter_map(|(i, r)| Some((r.client_id.as_deref()?, i)))
            .collect();

        // Decide, in order, which rows are new; number them after the
        // largest id (the write lock is held, so nobody else can).
        let max_id: i64 = sqlx::query_scalar("SELECT coalesce(max(id), 0) FROM reports")
            .fetch_one(&mut *tx)
            .await?;
        let mut next_id = max_id;
        let mut plan = Vec::with_capacity(rows.len());
        let mut fresh: Vec<ReportRow> = Vec::with_capacity(rows.len());
        let mut fresh_by_client_id: HashMap<String, usize> = HashMap::new();
        for mut row in rows {
            if let Some(c) = row.client_id.as_deref() {
                if let Some(&i) = stored_by_client_id.get(c) {
                    plan.push(Plan::Stored(i));
                    continue;
                }
                if let Some(&i) = fresh_by_client_id.get(c) {
                    plan.push(Plan::EarlierInBatch(i));
                    continue;
                }
                fresh_by_client_id.insert(c.to_owned(), fresh.len());
            }
            next_id += 1;
            row.id = next_id;
            plan.push(Plan::New(fresh.len()));
            fresh.push(row);
        }

        let sql = insert_reports_sql();
        let mut start = 0;
        for len in ChunkedSql::chunks(fresh.len()) {
            let mut q = sqlx::query(sql.sql(len));
            for r in &fresh[start..start + len] {
                q = q
                    .bind(r.id)
                    .bind(r.kind.as_str())
                    .bind(r.status.as_str())
                    .bind(r.category.as_str())
                    .bind(r.lon)
                    .bind(r.lat)
                    .bind(r.created_at_ms)
                    .bind(r.h3);
                for d in &r.districts {
                    q = q.bind(d.as_deref());
                }
                q = q
                    .bind(r.subcategory.as_deref())
                    .bind(r.channel.as_str())
                    .bind(r.seed)
                    .bind(r.client_id.as_deref())
                    .bind(r.campaign.as_deref())
                    .bind(r.address.as_deref())
                    .bind(r.contact.as_deref())
                    .bind(r.description.as_str())
                    .bind(r.reporter);
            }
            q.execute(&mut *tx).await?;
            start += len;
        }
        // The filings' place in the event log: one row per batch, which
        // readers expand into one `created` event per report (schema 4).
        let filed: Vec<&ReportRow> = fresh.iter().filter(|r| !r.seed).collect();
        for run in filed.chunk_by(|a, b| a.status == b.status) {
            let (Some(first), Some(last)) = (run.first(), run.last()) else {
                continue;
            };
            let at_ms = run.iter().map(|r| r.created_at_ms).max().unwrap_or(0);
            sqlx::query(
                "INSERT INTO report_events (id, report_id, first_report, at_ms, kind, status) \
                 SELECT coalesce(max(id), 0) + $1, $2, $3, $4, 'created', $5 FROM report_events",
            )
            .bind(i64::try_from(run.len()).map_err(|_| internal("batch size"))?)
            .bind(last.id)
            .bind(first.id)
            .bind(at_ms)
            .bind(first.status.as_str())
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;

        // Hand the rows back: moved when new, cloned for repeats.
        let repeated: HashMap<usize, ReportRow> = plan
            .iter()
            .filter_map(|p| match p {
                Plan::EarlierInBatch(i) => Some((*i, fresh[*i].clone())),
                _ => None,
            })
            .collect();
        let mut fresh: Vec<Option<ReportRow>> = fresh.into_iter().map(Some).collect();
        let mut out = Vec::with_capacity(plan.len());
        for p in plan {
            out.push(match p {
                Plan::New(i) => Inserted::New(take(&mut fresh, i)?),
                Plan::Stored(i) => Inserted::Existing(
                    stored
                        .get(i)
                        .cloned()
                        .ok_or_else(|| internal("stored row"))?,
                ),
                Plan::EarlierInBatch(i) => Inserted::Existing(
                    repeated
                        .get(&i)
                        .cloned()
                        .ok_or_else(|| internal("in-batch repeat"))?,
                ),
            });
        }
        Ok(out)
    }

    pub(crate) async fn report(&self, id: i64) -> Result<Option<ReportRow>, StoreError> {
        let row = sqlx::query(SELECT_REPORT_BY_ID)
            .bind(id)
            .fetch_optional(&self.readers)
            .await?;
        row.as_ref().map(report_from_row).transpose()
    }

    pub(crate) async fn report_by_client_id(
        &self,
        client_id: &str,
    ) -> Result<Option<ReportRow>, StoreError> {
        let row = sqlx::query(SELECT_REPORT_BY_CLIENT_ID)
            .bind(client_id)
            .fetch_optional(&self.readers)
            .await?;
        row.as_ref().map(report_from_row).transpose()
    }

    pub(crate) async fn reports_by_ids(&self, ids: &[i64]) -> Result<Vec<ReportRow>, StoreError> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let rows = sqlx::query(SELECT_REPORTS_BY_IDS)
            .bind(json_id_array(ids))
            .fetch_all(&self.readers)
            .await?;
        let mut by_id: HashMap<i64, ReportRow> = HashMap::with_capacity(rows.len());
        for row in &rows {
            let r = report_from_row(row)?;
            by_id.insert(r.id, r);
        }
        let mut out = Vec::with_capacity(ids.len());
        for id in ids {
            // Cloned rather than moved: an id may be asked for twice.
            if let Some(r) = by_id.get(id) {
                out.push(r.clone());
            }
        }
        Ok(out)
    }

    pub(crate) async fn count_reports(&self) -> Result<u64, StoreError> {
        let n: i64 = sqlx::query_scalar("SELECT count(*) FROM reports")
            .fetch_one(&self.readers)
            .await?;
        u64::try_from(n).map_err(|_| internal("negative count"))
    }

    pub(crate) async fn load_index_rows<F>(&self, f: F) -> Result<u64, StoreError>
    where
        F: FnMut(IndexRow<'_>) + Send,
    {
        let n = index_scan::load_index_rows(&self.readers, f).await?;
        self.unmap_readers().await?;
        Ok(n)
    }

    /// Drops every reader's file mapping (SQLite unmaps when `mmap_size`
    /// shrinks, and maps lazily again when it grows back). After the boot
    /// scan, the whole table's pages would otherwise stay in the process's
    /// RSS as mapped file pages; unmapped, they stay in the kernel's page
    /// cache, which is where the next reads find them.
    async fn unmap_readers(&self) -> Result<(), StoreError> {
        let mut held = Vec::with_capacity(READER_CONNECTIONS as usize);
        for _ in 0..self.readers.size() {
            held.push(self.readers.acquire().await?);
        }
        for conn in &mut held {
            // The scan's page-cache entries too: they would stay allocated
            // (tens of MB at 1M reports, BENCHMARKS.md §21) for pages the
            // server may never read again.
            sqlx::query("PRAGMA shrink_memory")
                .execute(&mut **conn)
                .await?;
            sqlx::query("PRAGMA mmap_size = 0")
                .execute(&mut **conn)
                .await?;
            sqlx::query(AssertSqlSafe(format!(
                "PRAGMA mmap_size = {READER_MMAP_BYTES}"
            )))
            .execute(&mut **conn)
            .await?;
        }
        Ok(())
    }

    pub(crate) async fn insert_projects(&self, rows: Vec<ProjectRow>) -> Result<(), StoreError> {
        if rows.is_empty() {
            return Ok(());
        }
        let mut tx = self.writer.begin_with("BEGIN IMMEDIATE").await?;
        let sql = upsert_projects_sql();
        let mut start = 0;
        for len in ChunkedSql::chunks(rows.len()) {
            let mut q = sqlx::query(sql.sql(len));
            for p in &rows[start..start + len] {
                q = q
                    .bind(p.id)
                    .bind(p.title.as_deref())
                    .bind(p.edition)
                    .bind(p.theme.as_deref())
                    .bind(p.lead_department.as_deref())
                    .bind(p.budget_eur)
                    .bind(p.scale.as_str())
                    .bind(p.address.as_deref())
                    .bind(p.arrondissement_code.as_deref())
                    .bind(p.working_class_flag)
                    .bind(p.progress.as_deref())
                    .bind(p.studies_start.as_deref())
                    .bind(p.procedures_start.as_deref())
                    .bind(p.works_start.as_deref())
                    .bind(p.delivery_planned.as_deref())
                    .bind(p.opened.as_deref())
                    .bind(p.url.as_deref())
                    .bind(p.lon)
                    .bind(p.lat)
                    .bind(p.geocode_quality.as_deref())
                    .bind(p.h3);
                for d in &p.districts {
                    q = q.bind(d.as_deref());
                }
            }
            q.execute(&mut *tx).await?;
            start += len;
        }
        tx.commit().await?;
        Ok(())
    }

    pub(crate) async fn projects(&self) -> Result<Vec<ProjectRow>, StoreError> {
        let rows = sqlx::query(SELECT_PROJECTS)
            .fetch_all(&self.readers)
            .await?;
        rows.iter().map(project_from_row).collect()
    }

    pub(crate) async fn save_layer(&self, layer: LayerRow) -> Result<(), StoreError> {
        sqlx::query(UPSERT_LAYER)
            .bind(layer.layer)
            .bind(layer.version)
            .bind(layer.source)
            .bind(layer.official)
            .bind(layer.valid_from)
            .bind(layer.valid_to)
            .bind(layer.code_property)
            .bind(layer.name_property)
            .bind(layer.geojson)
            .bind(layer.imported_at_ms)
            .execute(&self.writer)
            .await?;
        Ok(())
    }

    pub(crate) async fn layers(&self) -> Result<Vec<LayerRow>, StoreError> {
        let rows = sqlx::query(SELECT_LAYERS).fetch_all(&self.readers).await?;
        rows.iter().map(layer_from_row).collect()
    }

    pub(crate) async fn update_report_districts(
        &self,
        updates: Vec<(i64, DistrictIds)>,
    ) -> Result<u64, StoreError> {
        self.update_districts(update_report_districts_sql(), updates)
            .await
    }

    pub(crate) async fn update_project_districts(
        &self,
        updates: Vec<(i64, DistrictIds)>,
    ) -> Result<u64, StoreError> {
        self.update_districts(update_project_districts_sql(), updates)
            .await
    }

    async fn update_districts(
        &self,
        sql: &ChunkedSql,
        updates: Vec<(i64, DistrictIds)>,
    ) -> Result<u64, StoreError> {
        if updates.is_empty() {
            return Ok(0);
        }
        let mut tx = self.writer.begin_with("BEGIN IMMEDIATE").await?;
        let mut changed = 0;
        let mut start = 0;
        for len in ChunkedSql::chunks(updates.len()) {
            let mut q = sqlx::query(sql.sql(len));
            for (id, districts) in &updates[start..start + len] {
                q = q.bind(*id);
                for d in districts {
                    q = q.bind(d.as_deref());
                }
            }
            changed += q.execute(&mut *tx).await?.rows_affected();
            start += len;
        }
        tx.commit().await?;
        Ok(changed)
    }

    pub(crate) async fn meta_get(&self, key: &str) -> Result<Option<String>, StoreError> {
        Ok(sqlx::query_scalar("SELECT value FROM meta WHERE key = $1")
            .bind(key)
            .fetch_optional(&self.readers)
            .await?)
    }

    pub(crate) async fn meta_set(&self, key: &str, value: &str) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO meta (key, value) VALUES ($1, $2) \
             ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        )
        .bind(key)
        .bind(value)
        .execute(&self.writer)
        .await?;
        Ok(())
    }

    pub(crate) async fn set_missing_reporters<F>(&self, pseudonym: F) -> Result<u64, StoreError>
    where
        F: Fn(&str) -> i64 + Send,
    {
        let mut tx = self.writer.begin_with("BEGIN IMMEDIATE").await?;
        let rows: Vec<(i64, String)> = sqlx::query_as(
            "SELECT id, contact FROM reports WHERE contact IS NOT NULL AND reporter IS NULL",
        )
        .fetch_all(&mut *tx)
        .await?;
        for (id, contact) in &rows {
            sqlx::query("UPDATE reports SET reporter = $2 WHERE id = $1")
                .bind(id)
                .bind(pseudonym(contact))
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(rows.len() as u64)
    }
}

fn internal(what: &'static str) -> StoreError {
    StoreError::Corrupt {
        what,
        detail: "internal inconsistency".to_owned(),
    }
}

fn take(rows: &mut [Option<ReportRow>], i: usize) -> Result<ReportRow, StoreError> {
    rows.get_mut(i)
        .and_then(Option::take)
        .ok_or_else(|| internal("inserted row"))
}

/// A JSON array of strings, for `json_each`.
fn json_string_array(items: &[&str]) -> String {
    // serde_json escapes exactly as SQLite's JSON parser expects.
    serde_json::to_string(items).unwrap_or_else(|_| "[]".to_owned())
}

/// Ids as one JSON array, for `json_each($n)`.
fn json_id_array(ids: &[i64]) -> String {
    let mut json = String::with_capacity(ids.len() * 8 + 2);
    json.push('[');
    for (i, id) in ids.iter().enumerate() {
        if i > 0 {
            json.push(',');
        }
        json.push_str(&id.to_string());
    }
    json.push(']');
    json
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn chunks_are_powers_of_two_that_add_up() {
        for total in [0, 1, 2, 3, 7, 64, 255, 256, 257, 1000] {
            let chunks: Vec<usize> = ChunkedSql::chunks(total).collect();
            assert_eq!(chunks.iter().sum::<usize>(), total);
            assert!(
                chunks
                    .iter()
                    .all(|c| c.is_power_of_two() && *c <= MAX_CHUNK_ROWS)
            );
        }
    }

    #[test]
    fn chunked_statements_repeat_one_tuple_of_placeholders_per_row() {
        let sql = ChunkedSql::new("INSERT INTO t (a, b) VALUES ", 2, " RETURNING a");
        assert_eq!(
            &*sql.sql(1).0,
            "INSERT INTO t (a, b) VALUES (?, ?) RETURNING a"
        );
        assert_eq!(
            &*sql.sql(2).0,
            "INSERT INTO t (a, b) VALUES (?, ?), (?, ?) RETURNING a"
        );
        assert_eq!(sql.by_size.len(), MAX_CHUNK_ROWS.ilog2() as usize + 1);
    }

    #[test]
    fn column_lists_match_their_counts() {
        assert_eq!(report_columns!().split(',').count(), REPORT_COLUMN_COUNT);
        assert_eq!(project_columns!().split(',').count(), PROJECT_COLUMN_COUNT);
    }
}
