//! The target side of `migrate-store` on PostgreSQL: the schema as it is,
//! the emptiness check, pages written with one `UNNEST` statement in a
//! transaction each, the identity sequences moved past the ids copied, and
//! the checks. The plan is in `store/migrate.rs`.
//!
//! The copy writes no `changes` rows and sends no notification: no
//! instance runs on the target yet, and one that starts loads every report
//! at boot (see `store/migrate.rs`).

use sqlx::{AssertSqlSafe, Row as _};

use super::PgStore;
use crate::store::StoreError;
use crate::store::migrate::{Kind, Page, SchemaTables, Table, Values, checks_statement};

impl PgStore {
    /// Every table of the current schema with its columns, in table order.
    pub(crate) async fn schema_tables(&self) -> Result<SchemaTables, StoreError> {
        let rows: Vec<(String, String)> = sqlx::query_as(
            "SELECT table_name::text, column_name::text FROM information_schema.columns \
             WHERE table_schema = current_schema() ORDER BY table_name, ordinal_position",
        )
        .fetch_all(&self.pool)
        .await?;
        let mut out = SchemaTables::new();
        for (table, column) in rows {
            out.entry(table).or_default().push(column);
        }
        Ok(out)
    }

    /// The number of rows of each of these tables (names from the plan).
    pub(crate) async fn row_counts(
        &self,
        tables: impl Iterator<Item = &'static str>,
    ) -> Result<Vec<(String, u64)>, StoreError> {
        let mut out = Vec::new();
        for t in tables {
            let n: i64 = sqlx::query_scalar(AssertSqlSafe(format!("SELECT count(*) FROM {t}")))
                .fetch_one(&self.pool)
                .await?;
            out.push((t.to_owned(), u64::try_from(n).unwrap_or(0)));
        }
        Ok(out)
    }

    /// Inserts a page of rows, ids included, in one transaction.
    pub(crate) async fn write_page(&self, table: &Table, page: &Page) -> Result<(), StoreError> {
        if page.rows() == 0 {
            return Ok(());
        }
        let columns = table
            .columns
            .iter()
            .map(|c| c.name)
            .collect::<Vec<_>>()
            .join(", ");
        let arrays = table
            .columns
            .iter()
            .enumerate()
            .map(|(i, c)| {
                let ty = match c.kind {
                    Kind::Int => "bigint",
                    Kind::Real => "float8",
                    Kind::Text => "text",
                    Kind::Bool => "bool",
                    Kind::Bytes => "bytea",
                };
                format!("${}::{ty}[]", i + 1)
            })
            .collect::<Vec<_>>()
            .join(", ");
        // Names from the plan, never from input; values are bound. A BIGINT
        // array fills an INTEGER column (a project's edition) by assignment.
        let sql = format!(
            "INSERT INTO {} ({columns}) SELECT * FROM UNNEST({arrays})",
            table.name
        );
        let mut q = sqlx::query(AssertSqlSafe(sql));
        for values in &page.columns {
            q = match values {
                Values::Int(v) => q.bind(v),
                Values::Real(v) => q.bind(v),
                Values::Text(v) => q.bind(v),
                Values::Bool(v) => q.bind(v),
                Values::Bytes(v) => q.bind(v),
            };
        }
        let mut tx = self.pool.begin().await?;
        q.execute(&mut *tx).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Moves the identity sequence of each table's `id` to its largest id,
    /// so that the next row inserted without an id gets a fresh one (an
    /// empty table keeps its sequence as it is).
    pub(crate) async fn advance_identities(
        &self,
        tables: impl Iterator<Item = &'static str>,
    ) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        for t in tables {
            sqlx::query(AssertSqlSafe(format!(
                "SELECT setval(pg_get_serial_sequence($1, 'id'), max(id)) FROM {t} \
                 HAVING max(id) IS NOT NULL"
            )))
            .bind(t)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Gives every copied webhook its delivery lease, free (what registering
    /// a webhook does on PostgreSQL): without its row no instance could take
    /// the lease, and the webhook would never be delivered.
    pub(crate) async fn free_webhook_leases(&self) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO webhook_leases (webhook_id, holder, term, until) \
             SELECT id, '', 0, '-infinity' FROM webhooks \
             ON CONFLICT (webhook_id) DO NOTHING",
        )
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// The values of the table's checks, in plan order.
    pub(crate) async fn checks(&self, table: &Table) -> Result<Vec<i64>, StoreError> {
        let row = sqlx::query(AssertSqlSafe(checks_statement(table)))
            .fetch_one(&self.pool)
            .await?;
        (0..table.checks.len())
            .map(|i| row.try_get::<i64, _>(i).map_err(StoreError::from))
            .collect()
    }
}
