//! The PostgreSQL backend: a shared database that several civicmap
//! instances may use at once (migrations in `migrations/postgres/`).
//!
//! Durability: every connection runs with `synchronous_commit = on`, and
//! start-up refuses a server whose `fsync` is off, so a commit that returned
//! is on the server's disk (an `Ok` means durable, as on SQLite). Replication
//! to a standby is the operator's business.
//!
//! Writes that change a report or the event log (filings, lifecycle changes,
//! supports, district updates, erasures, pseudonyms) first take ONE
//! transaction-level advisory lock, [`LOG_LOCK`], held until they commit.
//! Across every instance they therefore commit one at a time, in the order
//! they took the lock, which gives:
//! - report ids, reserved as a block per batch from the sequence
//!   `reports_id_seq`, that increase in commit order (the in-memory index
//!   appends) and form one contiguous range per batch (the batch's `created`
//!   event row stands for that range, as on SQLite);
//! - event ids assigned as `max(id) + n` that increase in commit order (the
//!   event pump reads the log after a cursor and must not see id n+1 before
//!   id n);
//! - the change sequence (`changes.seq`, see the migration) in commit order,
//!   with a `NOTIFY civicmap_changes, '<seq>'` in the same transaction.
//!
//! The lock serialises those writes, as SQLite's single writer does: they
//! never run in parallel, whatever the number of instances (its cost with
//! several instances is not measured yet). Each instance's group-commit
//! writer still puts many filings in one transaction.
//!
//! Batches are written with `UNNEST` arrays: one statement and one round trip
//! per table and batch, whatever its size.
//!
//! Photo files are not in the database: they stay under the data directory
//! (`<data dir>/photos/`), which several instances must share.

use std::collections::HashMap;
use std::sync::Arc;

use sqlx::postgres::{PgConnectOptions, PgPoolOptions, PgRow};
use sqlx::{PgConnection, PgPool, Row as _};

mod changes;
pub(crate) mod export;
mod lifecycle;
mod migrate;
mod open311;
mod photos;
mod privacy;
mod quotas;
mod webhooks;

use super::error::StoreError;
use super::rows::{
    DistrictIds, IndexRow, Inserted, LayerRow, ProjectRow, REPORT_CHANNELS, REPORT_KINDS,
    REPORT_STATUSES, ReportRow,
};
use crate::store::decode::{layer_from_row, project_from_row, report_from_row};

/// The advisory lock that orders writes of reports, events and changes
/// across instances (the bytes of "civicmap").
pub(crate) const LOG_LOCK: i64 = 0x6369_7669_636d_6170;

/// The channel of change notifications (payload: the last `changes.seq` of
/// the committed transaction).
pub const CHANGES_CHANNEL: &str = "civicmap_changes";

/// Connections of one instance's pool (writer task, readers, the boot scan).
const POOL_CONNECTIONS: u32 = 8;

/// Reports per page of the boot scan.
const SCAN_PAGE_ROWS: i64 = 16_384;

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

/// Columns of `reports`, in the order [`report_from_row`] decodes.
macro_rules! report_columns {
    () => {
        "id, kind, status, category, lon, lat, created_at_ms, h3, \
         arrondissement, quartier, conseil_quartier, iris, working_class, \
         subcategory, channel, seed, client_id, campaign, address, contact, description, reporter"
    };
}

/// Columns of `projects`, in the order [`project_from_row`] decodes.
macro_rules! project_columns {
    () => {
        "id, title, edition, theme, lead_department, budget_eur, scale, address, \
         arrondissement_code, working_class_flag, progress, studies_start, procedures_start, \
         works_start, delivery_planned, opened, url, lon, lat, geocode_quality, h3, \
         arrondissement, quartier, conseil_quartier, iris, working_class"
    };
}

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
    " FROM reports WHERE id = ANY($1)"
);
const SELECT_REPORTS_BY_CLIENT_IDS: &str = concat!(
    "SELECT ",
    report_columns!(),
    " FROM reports WHERE client_id = ANY($1)"
);
const INSERT_REPORTS: &str = concat!(
    "INSERT INTO reports (",
    report_columns!(),
    ") SELECT * FROM UNNEST($1::bigint[], $2::text[], $3::text[], $4::text[], \
     $5::float8[], $6::float8[], $7::bigint[], $8::bigint[], $9::text[], $10::text[], \
     $11::text[], $12::text[], $13::text[], $14::text[], $15::text[], $16::bool[], \
     $17::text[], $18::text[], $19::text[], $20::text[], $21::text[], $22::bigint[])"
);
const UPSERT_PROJECTS: &str = concat!(
    "INSERT INTO projects (",
    project_columns!(),
    ") SELECT * FROM UNNEST($1::bigint[], $2::text[], $3::int4[], $4::text[], $5::text[], \
     $6::bigint[], $7::text[], $8::text[], $9::text[], $10::bool[], $11::text[], $12::text[], \
     $13::text[], $14::text[], $15::text[], $16::text[], $17::text[], $18::float8[], \
     $19::float8[], $20::text[], $21::bigint[], $22::text[], $23::text[], $24::text[], \
     $25::text[], $26::text[]) \
     ON CONFLICT (id) DO UPDATE SET title = excluded.title, edition = excluded.edition, \
     theme = excluded.theme, lead_department = excluded.lead_department, \
     budget_eur = excluded.budget_eur, scale = excluded.scale, address = excluded.address, \
     arrondissement_code = excluded.arrondissement_code, \
     working_class_flag = excluded.working_class_flag, progress = excluded.progress, \
     studies_start = excluded.studies_start, procedures_start = excluded.procedures_start, \
     works_start = excluded.works_start, delivery_planned = excluded.delivery_planned, \
     opened = excluded.opened, url = excluded.url, lon = excluded.lon, lat = excluded.lat, \
     geocode_quality = excluded.geocode_quality, h3 = excluded.h3, \
     arrondissement = excluded.arrondissement, quartier = excluded.quartier, \
     conseil_quartier = excluded.conseil_quartier, iris = excluded.iris, \
     working_class = excluded.working_class"
);
const SELECT_PROJECTS: &str = concat!("SELECT ", project_columns!(), " FROM projects ORDER BY id");
const SELECT_LAYERS: &str = concat!(
    "SELECT ",
    layer_columns!(),
    " FROM perimeter_layers ORDER BY layer, valid_from NULLS FIRST, version"
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

/// The boot scan's page: the light columns of the reports after `$1`.
const SELECT_INDEX_PAGE: &str = "SELECT id, lon, lat, kind, category, status, created_at_ms, h3, \
     arrondissement, quartier, conseil_quartier, iris, working_class, channel, reporter \
     FROM reports WHERE id > $1 ORDER BY id LIMIT $2";

/// What `insert_reports` does with one input row.
enum Plan {
    /// Insert it: index into the rows to insert.
    New(usize),
    /// Its client id is stored: index into the stored rows found.
    Stored(usize),
    /// Its client id came earlier in the batch: index into the rows to insert.
    EarlierInBatch(usize),
}

/// The PostgreSQL store: cheap to clone (the pool is shared).
#[derive(Clone)]
pub(crate) struct PgStore {
    pool: PgPool,
    /// `host/database`, for `Debug` and logs (never the password).
    name: Arc<str>,
}

impl PgStore {
    pub(crate) async fn open(url: &str) -> Result<Self, StoreError> {
        let options: PgConnectOptions = url.parse()?;
        let name: Arc<str> = Arc::from(format!(
            "{}/{}",
            options.get_host(),
            options.get_database().unwrap_or_default()
        ));
        let options = options.options([("synchronous_commit", "on")]);
        let pool = PgPoolOptions::new()
            .max_connections(POOL_CONNECTIONS)
            .connect_with(options)
            .await?;
        // Several instances may start at once: sqlx takes an advisory lock
        // around the migrations.
        MIGRATOR.run(&pool).await?;
        let store = PgStore { pool, name };
        store.check_settings().await?;
        tracing::info!(database = %store.name, "postgres store open");
        Ok(store)
    }

    pub(crate) fn name(&self) -> &str {
        &self.name
    }

    pub(crate) async fn close(&self) {
        self.pool.close().await;
    }

    /// Fails unless a commit waits for the server's disk: `fsync` on and
    /// `synchronous_commit` not `off` on our connections.
    async fn check_settings(&self) -> Result<(), StoreError> {
        let (fsync, sync_commit): (String, String) = sqlx::query_as(
            "SELECT current_setting('fsync'), current_setting('synchronous_commit')",
        )
        .fetch_one(&self.pool)
        .await?;
        if fsync != "on" {
            return Err(StoreError::Setting {
                setting: "fsync",
                expected: "on",
                found: fsync,
            });
        }
        if sync_commit == "off" {
            return Err(StoreError::Setting {
                setting: "synchronous_commit",
                expected: "on",
                found: sync_commit,
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
        let mut tx = self.pool.begin().await?;
        // Under the lock, no other instance files or looks up a client id
        // until this commits: a repeat is always found, never inserted twice.
        lock_log(&mut tx).await?;

        let client_ids: Vec<&str> = rows.iter().filter_map(|r| r.client_id.as_deref()).collect();
        let mut stored: Vec<ReportRow> = Vec::new();
        if !client_ids.is_empty() {
            let found = sqlx::query(SELECT_REPORTS_BY_CLIENT_IDS)
                .bind(&client_ids)
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

        let mut plan = Vec::with_capacity(rows.len());
        let mut fresh: Vec<ReportRow> = Vec::with_capacity(rows.len());
        let mut fresh_by_client_id: HashMap<String, usize> = HashMap::new();
        for row in rows {
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
            plan.push(Plan::New(fresh.len()));
            fresh.push(row);
        }

        if !fresh.is_empty() {
            // A row written with an explicit id past the sequence (by hand,
            // by another program): number after it, as SQLite does, so that
            // ids keep growing.
            // (A no-op otherwise: the sequence is not written.)
            sqlx::query(
                "SELECT setval('reports_id_seq', s.m) \
                 FROM (SELECT max(id) AS m FROM reports) AS s, reports_id_seq AS q \
                 WHERE s.m > q.last_value OR (s.m = q.last_value AND NOT q.is_called)",
            )
            .execute(&mut *tx)
            .await?;
            // A block of ids from the sequence: contiguous, since every
            // filing takes them under the lock.
            let mut ids: Vec<i64> =
                sqlx::query_scalar("SELECT nextval('reports_id_seq') FROM generate_series(1, $1)")
                    .bind(i64::try_from(fresh.len()).map_err(|_| internal("batch size"))?)
                    .fetch_all(&mut *tx)
                    .await?;
            ids.sort_unstable();
            if ids.len() != fresh.len() {
                return Err(internal("reserved ids"));
            }
            for (row, id) in fresh.iter_mut().zip(&ids) {
                row.id = *id;
            }
            insert_report_rows(&mut tx, &fresh).await?;

            // The filings' place in the event log: one row per batch (and
            // status), which readers expand into one `created` event per
            // report, as on SQLite (schema 4).
            let filed: Vec<&ReportRow> = fresh.iter().filter(|r| !r.seed).collect();
            for run in filed.chunk_by(|a, b| a.status == b.status) {
                let (Some(first), Some(last)) = (run.first(), run.last()) else {
                    continue;
                };
                let at_ms = run.iter().map(|r| r.created_at_ms).max().unwrap_or(0);
                sqlx::query(
                    "INSERT INTO report_events (id, report_id, first_report, at_ms, kind, status) \
                     SELECT coalesce(max(id), 0) + $1, $2, $3, $4, 'created', $5 \
                     FROM report_events",
                )
                .bind(i64::try_from(run.len()).map_err(|_| internal("batch size"))?)
                .bind(last.id)
                .bind(first.id)
                .bind(at_ms)
                .bind(first.status.as_str())
                .execute(&mut *tx)
                .await?;
            }
            record_changes(&mut tx, &ids, "created").await?;
        }
        tx.commit().await?;

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
                Plan::New(i) => Inserted::New(
                    fresh
                        .get_mut(i)
                        .and_then(Option::take)
                        .ok_or_else(|| internal("inserted row"))?,
                ),
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
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(report_from_row).transpose()
    }

    pub(crate) async fn report_by_client_id(
        &self,
        client_id: &str,
    ) -> Result<Option<ReportRow>, StoreError> {
        let row = sqlx::query(SELECT_REPORT_BY_CLIENT_ID)
            .bind(client_id)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(report_from_row).transpose()
    }

    pub(crate) async fn reports_by_ids(&self, ids: &[i64]) -> Result<Vec<ReportRow>, StoreError> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let rows = sqlx::query(SELECT_REPORTS_BY_IDS)
            .bind(ids)
            .fetch_all(&self.pool)
            .await?;
        let mut by_id: HashMap<i64, ReportRow> = HashMap::with_capacity(rows.len());
        for row in &rows {
            let r = report_from_row(row)?;
            by_id.insert(r.id, r);
        }
        Ok(ids.iter().filter_map(|id| by_id.get(id).cloned()).collect())
    }

    pub(crate) async fn count_reports(&self) -> Result<u64, StoreError> {
        let n: i64 = sqlx::query_scalar("SELECT count(*) FROM reports")
            .fetch_one(&self.pool)
            .await?;
        u64::try_from(n).map_err(|_| internal("negative count"))
    }

    /// Pages of [`SCAN_PAGE_ROWS`] by id; each row is decoded in place
    /// (the text fields borrow the driver's row).
    pub(crate) async fn load_index_rows<F>(&self, mut f: F) -> Result<u64, StoreError>
    where
        F: FnMut(IndexRow<'_>) + Send,
    {
        let mut after = i64::MIN;
        let mut total = 0_u64;
        loop {
            let rows = sqlx::query(SELECT_INDEX_PAGE)
                .bind(after)
                .bind(SCAN_PAGE_ROWS)
                .fetch_all(&self.pool)
                .await?;
            let Some(last) = rows.last() else { break };
            after = last.try_get(0)?;
            for row in &rows {
                f(index_row(row)?);
            }
            total += rows.len() as u64;
            if i64::try_from(rows.len()).unwrap_or(i64::MAX) < SCAN_PAGE_ROWS {
                break;
            }
        }
        Ok(total)
    }

    pub(crate) async fn insert_projects(&self, rows: Vec<ProjectRow>) -> Result<(), StoreError> {
        if rows.is_empty() {
            return Ok(());
        }
        // An id given twice: the last row wins, as in SQLite's multi-row
        // upsert (PostgreSQL refuses to update one row twice in a statement).
        let mut last_of: HashMap<i64, usize> = HashMap::with_capacity(rows.len());
        for (i, p) in rows.iter().enumerate() {
            last_of.insert(p.id, i);
        }
        let rows: Vec<&ProjectRow> = rows
            .iter()
            .enumerate()
            .filter(|(i, p)| last_of.get(&p.id) == Some(i))
            .map(|(_, p)| p)
            .collect();
        let col =
            |f: fn(&ProjectRow) -> Option<&str>| rows.iter().map(|p| f(p)).collect::<Vec<_>>();
        let districts = district_columns(rows.iter().map(|p| &p.districts));
        let mut tx = self.pool.begin().await?;
        sqlx::query(UPSERT_PROJECTS)
            .bind(rows.iter().map(|p| p.id).collect::<Vec<_>>())
            .bind(col(|p| p.title.as_deref()))
            .bind(rows.iter().map(|p| p.edition).collect::<Vec<_>>())
            .bind(col(|p| p.theme.as_deref()))
            .bind(col(|p| p.lead_department.as_deref()))
            .bind(rows.iter().map(|p| p.budget_eur).collect::<Vec<_>>())
            .bind(col(|p| Some(p.scale.as_str())))
            .bind(col(|p| p.address.as_deref()))
            .bind(col(|p| p.arrondissement_code.as_deref()))
            .bind(
                rows.iter()
                    .map(|p| p.working_class_flag)
                    .collect::<Vec<_>>(),
            )
            .bind(col(|p| p.progress.as_deref()))
            .bind(col(|p| p.studies_start.as_deref()))
            .bind(col(|p| p.procedures_start.as_deref()))
            .bind(col(|p| p.works_start.as_deref()))
            .bind(col(|p| p.delivery_planned.as_deref()))
            .bind(col(|p| p.opened.as_deref()))
            .bind(col(|p| p.url.as_deref()))
            .bind(rows.iter().map(|p| p.lon).collect::<Vec<_>>())
            .bind(rows.iter().map(|p| p.lat).collect::<Vec<_>>())
            .bind(col(|p| p.geocode_quality.as_deref()))
            .bind(rows.iter().map(|p| p.h3).collect::<Vec<_>>())
            .bind(&districts[0])
            .bind(&districts[1])
            .bind(&districts[2])
            .bind(&districts[3])
            .bind(&districts[4])
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    pub(crate) async fn projects(&self) -> Result<Vec<ProjectRow>, StoreError> {
        let rows = sqlx::query(SELECT_PROJECTS).fetch_all(&self.pool).await?;
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
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    pub(crate) async fn layers(&self) -> Result<Vec<LayerRow>, StoreError> {
        let rows = sqlx::query(SELECT_LAYERS).fetch_all(&self.pool).await?;
        rows.iter().map(layer_from_row).collect()
    }

    pub(crate) async fn update_report_districts(
        &self,
        updates: Vec<(i64, DistrictIds)>,
    ) -> Result<u64, StoreError> {
        if updates.is_empty() {
            return Ok(0);
        }
        let mut tx = self.pool.begin().await?;
        lock_log(&mut tx).await?;
        let ids = update_districts(&mut tx, "reports", &updates).await?;
        // Reports only: projects are not in the change sequence.
        record_changes(&mut tx, &ids, "districts").await?;
        tx.commit().await?;
        Ok(ids.len() as u64)
    }

    pub(crate) async fn update_project_districts(
        &self,
        updates: Vec<(i64, DistrictIds)>,
    ) -> Result<u64, StoreError> {
        if updates.is_empty() {
            return Ok(0);
        }
        let mut tx = self.pool.begin().await?;
        let ids = update_districts(&mut tx, "projects", &updates).await?;
        tx.commit().await?;
        Ok(ids.len() as u64)
    }

    pub(crate) async fn meta_get(&self, key: &str) -> Result<Option<String>, StoreError> {
        Ok(sqlx::query_scalar("SELECT value FROM meta WHERE key = $1")
            .bind(key)
            .fetch_optional(&self.pool)
            .await?)
    }

    pub(crate) async fn meta_set(&self, key: &str, value: &str) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO meta (key, value) VALUES ($1, $2) \
             ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        )
        .bind(key)
        .bind(value)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    pub(crate) async fn set_missing_reporters<F>(&self, pseudonym: F) -> Result<u64, StoreError>
    where
        F: Fn(&str) -> i64 + Send,
    {
        let mut tx = self.pool.begin().await?;
        lock_log(&mut tx).await?;
        let rows: Vec<(i64, String)> = sqlx::query_as(
            "SELECT id, contact FROM reports WHERE contact IS NOT NULL AND reporter IS NULL",
        )
        .fetch_all(&mut *tx)
        .await?;
        if rows.is_empty() {
            return Ok(0);
        }
        let ids: Vec<i64> = rows.iter().map(|(id, _)| *id).collect();
        let reporters: Vec<i64> = rows.iter().map(|(_, c)| pseudonym(c)).collect();
        sqlx::query(
            "UPDATE reports SET reporter = v.reporter \
             FROM UNNEST($1::bigint[], $2::bigint[]) AS v (id, reporter) WHERE reports.id = v.id",
        )
        .bind(&ids)
        .bind(&reporters)
        .execute(&mut *tx)
        .await?;
        record_changes(&mut tx, &ids, "reporter").await?;
        tx.commit().await?;
        Ok(rows.len() as u64)
    }
}

/// Takes the log lock for the rest of the transaction (see the module docs).
pub(crate) async fn lock_log(conn: &mut PgConnection) -> Result<(), StoreError> {
    sqlx::query("SELECT pg_advisory_xact_lock($1)")
        .bind(LOG_LOCK)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// Appends one row per report to the change sequence and notifies
/// [`CHANGES_CHANNEL`] with the last `seq` (delivered at commit). The caller
/// holds the log lock.
pub(crate) async fn record_changes(
    conn: &mut PgConnection,
    report_ids: &[i64],
    kind: &str,
) -> Result<(), StoreError> {
    if report_ids.is_empty() {
        return Ok(());
    }
    sqlx::query(
        "WITH added AS (INSERT INTO changes (report_id, kind) \
                        SELECT unnest($1::bigint[]), $2 RETURNING seq) \
         SELECT pg_notify('civicmap_changes', max(seq)::text) FROM added",
    )
    .bind(report_ids)
    .bind(kind)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Appends a change of a campaign or a webhook (`kind`: one of
/// `store::changes::ENTITY_KINDS`) to the change sequence and notifies, as
/// [`record_changes`]. Takes the log lock itself (for the rest of the
/// transaction): the seq must follow commit order.
pub(crate) async fn record_entity_change(
    conn: &mut PgConnection,
    kind: &str,
    entity_id: i64,
) -> Result<(), StoreError> {
    lock_log(conn).await?;
    sqlx::query(
        "WITH added AS (INSERT INTO changes (kind, entity_id) VALUES ($1, $2) RETURNING seq) \
         SELECT pg_notify('civicmap_changes', seq::text) FROM added",
    )
    .bind(kind)
    .bind(entity_id)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Inserts fully numbered report rows with one `UNNEST` statement.
async fn insert_report_rows(conn: &mut PgConnection, rows: &[ReportRow]) -> Result<(), StoreError> {
    let text = |f: fn(&ReportRow) -> &str| rows.iter().map(f).collect::<Vec<_>>();
    let opt = |f: fn(&ReportRow) -> Option<&str>| rows.iter().map(f).collect::<Vec<_>>();
    let districts = district_columns(rows.iter().map(|r| &r.districts));
    sqlx::query(INSERT_REPORTS)
        .bind(rows.iter().map(|r| r.id).collect::<Vec<_>>())
        .bind(text(|r| r.kind.as_str()))
        .bind(text(|r| r.status.as_str()))
        .bind(text(|r| r.category.as_str()))
        .bind(rows.iter().map(|r| r.lon).collect::<Vec<_>>())
        .bind(rows.iter().map(|r| r.lat).collect::<Vec<_>>())
        .bind(rows.iter().map(|r| r.created_at_ms).collect::<Vec<_>>())
        .bind(rows.iter().map(|r| r.h3).collect::<Vec<_>>())
        .bind(&districts[0])
        .bind(&districts[1])
        .bind(&districts[2])
        .bind(&districts[3])
        .bind(&districts[4])
        .bind(opt(|r| r.subcategory.as_deref()))
        .bind(text(|r| r.channel.as_str()))
        .bind(rows.iter().map(|r| r.seed).collect::<Vec<_>>())
        .bind(opt(|r| r.client_id.as_deref()))
        .bind(opt(|r| r.campaign.as_deref()))
        .bind(opt(|r| r.address.as_deref()))
        .bind(opt(|r| r.contact.as_deref()))
        .bind(text(|r| r.description.as_str()))
        .bind(rows.iter().map(|r| r.reporter).collect::<Vec<_>>())
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// The five district columns of some rows, one array per layer.
fn district_columns<'a>(
    districts: impl Iterator<Item = &'a DistrictIds>,
) -> [Vec<Option<&'a str>>; 5] {
    let mut out: [Vec<Option<&str>>; 5] = Default::default();
    for d in districts {
        for (column, id) in out.iter_mut().zip(d) {
            column.push(id.as_deref());
        }
    }
    out
}

/// Replaces the districts of `table`'s rows; returns the ids updated.
async fn update_districts(
    conn: &mut PgConnection,
    table: &'static str,
    updates: &[(i64, DistrictIds)],
) -> Result<Vec<i64>, StoreError> {
    let sql = match table {
        "reports" => {
            "UPDATE reports SET arrondissement = v.a, quartier = v.q, conseil_quartier = v.c, \
             iris = v.i, working_class = v.w \
             FROM UNNEST($1::bigint[], $2::text[], $3::text[], $4::text[], $5::text[], \
                         $6::text[]) AS v (id, a, q, c, i, w) \
             WHERE reports.id = v.id RETURNING reports.id"
        }
        _ => {
            "UPDATE projects SET arrondissement = v.a, quartier = v.q, conseil_quartier = v.c, \
             iris = v.i, working_class = v.w \
             FROM UNNEST($1::bigint[], $2::text[], $3::text[], $4::text[], $5::text[], \
                         $6::text[]) AS v (id, a, q, c, i, w) \
             WHERE projects.id = v.id RETURNING projects.id"
        }
    };
    let districts = district_columns(updates.iter().map(|(_, d)| d));
    let mut ids: Vec<i64> = sqlx::query_scalar(sql)
        .bind(updates.iter().map(|(id, _)| *id).collect::<Vec<_>>())
        .bind(&districts[0])
        .bind(&districts[1])
        .bind(&districts[2])
        .bind(&districts[3])
        .bind(&districts[4])
        .fetch_all(&mut *conn)
        .await?;
    ids.sort_unstable();
    Ok(ids)
}

pub(crate) fn internal(what: &'static str) -> StoreError {
    StoreError::Corrupt {
        what,
        detail: "internal inconsistency".to_owned(),
    }
}

/// The schema's own spelling of `s`, if it is one of `all`.
fn known(all: &[&'static str], s: &str) -> Option<&'static str> {
    all.iter().copied().find(|k| *k == s)
}

fn corrupt(what: &'static str, found: &str) -> StoreError {
    StoreError::Corrupt {
        what,
        detail: format!("unknown value {found:?}"),
    }
}

fn index_row(row: &PgRow) -> Result<IndexRow<'_>, StoreError> {
    let kind: &str = row.try_get(3)?;
    let status: &str = row.try_get(5)?;
    let channel: &str = row.try_get(13)?;
    Ok(IndexRow {
        id: row.try_get(0)?,
        lon: row.try_get(1)?,
        lat: row.try_get(2)?,
        kind: known(&REPORT_KINDS, kind).ok_or_else(|| corrupt("report kind", kind))?,
        category: row.try_get(4)?,
        status: known(&REPORT_STATUSES, status).ok_or_else(|| corrupt("report status", status))?,
        created_at_ms: row.try_get(6)?,
        h3: row.try_get(7)?,
        districts: [
            row.try_get(8)?,
            row.try_get(9)?,
            row.try_get(10)?,
            row.try_get(11)?,
            row.try_get(12)?,
        ],
        channel: known(&REPORT_CHANNELS, channel)
            .ok_or_else(|| corrupt("report channel", channel))?,
        reporter: row.try_get(14)?,
    })
}
