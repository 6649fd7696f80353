//! The source side of `migrate-store` on SQLite: the schema as it is, and
//! every table read in pages by its key, all inside ONE read transaction
//! (one WAL snapshot: the copy and its checks see the same store, whatever
//! is committed meanwhile). The plan is in `store/migrate.rs`.

use sqlx::sqlite::SqliteRow;
use sqlx::{AssertSqlSafe, Row as _, Sqlite, Transaction};

use super::SqliteStore;
use crate::store::StoreError;
use crate::store::migrate::{KeyValue, Page, SchemaTables, Table, Values, checks_statement};

/// A read transaction on one reader connection, held for a whole migration.
pub(crate) struct MigrationReader {
    tx: Transaction<'static, Sqlite>,
}

impl SqliteStore {
    /// Every table (but SQLite's own) with its columns, in table order.
    pub(crate) async fn schema_tables(&self) -> Result<SchemaTables, StoreError> {
        let rows: Vec<(String, String)> = sqlx::query_as(
            "SELECT m.name, c.name FROM sqlite_schema AS m, pragma_table_info(m.name) AS c \
             WHERE m.type = 'table' AND m.name NOT LIKE 'sqlite!_%' ESCAPE '!' \
             ORDER BY m.name, c.cid",
        )
        .fetch_all(&self.readers)
        .await?;
        let mut out = SchemaTables::new();
        for (table, column) in rows {
            out.entry(table).or_default().push(column);
        }
        Ok(out)
    }

    /// Starts the read transaction of a migration, its snapshot taken now.
    pub(crate) async fn migration_reader(&self) -> Result<MigrationReader, StoreError> {
        let mut tx = self.readers.begin().await?;
        // A deferred transaction takes its snapshot at its first read.
        sqlx::query("SELECT count(*) FROM meta")
            .fetch_one(&mut *tx)
            .await?;
        Ok(MigrationReader { tx })
    }
}

impl MigrationReader {
    /// The number of rows of a table.
    pub(crate) async fn count(&mut self, table: &Table) -> Result<u64, StoreError> {
        let n: i64 = sqlx::query_scalar(AssertSqlSafe(format!(
            "SELECT count(*) FROM {}",
            table.name
        )))
        .fetch_one(&mut *self.tx)
        .await?;
        Ok(u64::try_from(n).unwrap_or(0))
    }

    /// At most `limit` rows of a table, by key, after the key `after`.
    pub(crate) async fn page(
        &mut self,
        table: &Table,
        after: Option<&[KeyValue]>,
        limit: usize,
    ) -> Result<Page, StoreError> {
        let columns = table
            .columns
            .iter()
            .map(|c| c.name)
            .collect::<Vec<_>>()
            .join(", ");
        let key = table.key.join(", ");
        let filter = match after {
            None => String::new(),
            Some(_) => format!(
                " WHERE ({key}) > ({})",
                vec!["?"; table.key.len()].join(", ")
            ),
        };
        // Names from the plan, never from input; values are bound.
        let sql = format!(
            "SELECT {columns} FROM {}{filter} ORDER BY {key} LIMIT ?",
            table.name
        );
        let mut q = sqlx::query(AssertSqlSafe(sql));
        for k in after.unwrap_or_default() {
            q = match k {
                KeyValue::Int(v) => q.bind(*v),
                KeyValue::Text(v) => q.bind(v.clone()),
            };
        }
        let rows = q
            .bind(i64::try_from(limit).unwrap_or(i64::MAX))
            .fetch_all(&mut *self.tx)
            .await?;
        page_of(table, &rows)
    }

    /// The values of the table's checks, in plan order.
    pub(crate) async fn checks(&mut self, table: &Table) -> Result<Vec<i64>, StoreError> {
        let row = sqlx::query(AssertSqlSafe(checks_statement(table)))
            .fetch_one(&mut *self.tx)
            .await?;
        (0..table.checks.len())
            .map(|i| row.try_get::<i64, _>(i).map_err(StoreError::from))
            .collect()
    }

    /// Ends the read transaction.
    pub(crate) async fn finish(self) -> Result<(), StoreError> {
        self.tx.rollback().await?;
        Ok(())
    }
}

/// Rows decoded column by column, as the plan's kinds say.
fn page_of(table: &Table, rows: &[SqliteRow]) -> Result<Page, StoreError> {
    let mut columns: Vec<Values> = table
        .columns
        .iter()
        .map(|c| Values::with_capacity(c.kind, rows.len()))
        .collect();
    for row in rows {
        for (i, values) in columns.iter_mut().enumerate() {
            match values {
                Values::Int(v) => v.push(row.try_get(i)?),
                Values::Real(v) => v.push(row.try_get(i)?),
                Values::Text(v) => v.push(row.try_get(i)?),
                Values::Bool(v) => v.push(row.try_get(i)?),
                Values::Bytes(v) => v.push(row.try_get(i)?),
            }
        }
    }
    Ok(Page { columns })
}
