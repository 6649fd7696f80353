//! The change feed's reads and its listener (see `store::changes`).

use std::time::Duration;

use sqlx::postgres::{PgListener, PgPoolOptions};

use super::{CHANGES_CHANNEL, PgStore};
use crate::store::StoreError;
use crate::store::changes::{ChangeListener, ChangeRow};

/// Where the highest pruned seq is kept in `meta`.
const PRUNED_KEY: &str = "changes_pruned_through";

impl PgStore {
    pub(crate) async fn change_seq(&self) -> Result<i64, StoreError> {
        Ok(sqlx::query_scalar(
            "SELECT greatest(coalesce(max(seq), 0), \
                    coalesce((SELECT value::bigint FROM meta WHERE key = $1), 0)) FROM changes",
        )
        .bind(PRUNED_KEY)
        .fetch_one(&self.pool)
        .await?)
    }

    pub(crate) async fn prune_changes(
        &self,
        keep_for: Duration,
        keep_last: i64,
    ) -> Result<u64, StoreError> {
        let keep_ms = i64::try_from(keep_for.as_millis()).unwrap_or(i64::MAX);
        let mut tx = self.pool.begin().await?;
        let upto: Option<i64> = sqlx::query_scalar(
            "SELECT max(seq) FROM changes \
             WHERE at_ms < (extract(epoch FROM clock_timestamp()) * 1000)::bigint - $1 \
               AND seq <= (SELECT max(seq) FROM changes) - $2",
        )
        .bind(keep_ms)
        .bind(keep_last)
        .fetch_one(&mut *tx)
        .await?;
        let Some(upto) = upto else {
            return Ok(0);
        };
        // The mark first: a follower reads it after its page, so it must
        // never lag the rows deleted (both commit together anyway).
        sqlx::query(
            "INSERT INTO meta (key, value) VALUES ($1, $2) \
             ON CONFLICT (key) DO UPDATE SET value = excluded.value \
             WHERE meta.value::bigint < excluded.value::bigint",
        )
        .bind(PRUNED_KEY)
        .bind(upto.to_string())
        .execute(&mut *tx)
        .await?;
        let gone = sqlx::query("DELETE FROM changes WHERE seq <= $1")
            .bind(upto)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(gone.rows_affected())
    }

    pub(crate) async fn changes_pruned_through(&self) -> Result<i64, StoreError> {
        let mark: Option<i64> = sqlx::query_scalar("SELECT value::bigint FROM meta WHERE key = $1")
            .bind(PRUNED_KEY)
            .fetch_optional(&self.pool)
            .await?;
        Ok(mark.unwrap_or(0))
    }

    pub(crate) async fn changes_after(
        &self,
        seq: i64,
        limit: u32,
    ) -> Result<Vec<ChangeRow>, StoreError> {
        let rows: Vec<(i64, Option<i64>, String, Option<i64>)> = sqlx::query_as(
            "SELECT seq, report_id, kind, entity_id FROM changes WHERE seq > $1 \
             ORDER BY seq LIMIT $2",
        )
        .bind(seq)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .into_iter()
            .map(|(seq, report_id, kind, entity_id)| ChangeRow {
                seq,
                report_id,
                kind,
                entity_id,
            })
            .collect())
    }

    /// A listener on a one-connection pool of its own, made with the
    /// store's connect options (`synchronous_commit` included, harmless).
    pub(crate) async fn listen_changes(&self) -> Result<ChangeListener, StoreError> {
        let options = (*self.pool.connect_options()).clone();
        let pool = PgPoolOptions::new()
            .max_connections(1)
            .min_connections(0)
            .connect_lazy_with(options);
        let mut listener = PgListener::connect_with(&pool).await?;
        listener.listen(CHANGES_CHANNEL).await?;
        Ok(ChangeListener::new(listener))
    }
}
