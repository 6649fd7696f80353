//! The change feed's reads and its listener (see `store::changes`).

use sqlx::postgres::{PgListener, PgPoolOptions};

use super::{CHANGES_CHANNEL, PgStore};
use crate::store::StoreError;
use crate::store::changes::{ChangeListener, ChangeRow};

impl PgStore {
    pub(crate) async fn change_seq(&self) -> Result<i64, StoreError> {
        Ok(
            sqlx::query_scalar("SELECT coalesce(max(seq), 0) FROM changes")
                .fetch_one(&self.pool)
                .await?,
        )
    }

    pub(crate) async fn changes_after(
        &self,
        seq: i64,
        limit: u32,
    ) -> Result<Vec<ChangeRow>, StoreError> {
        let rows: Vec<(i64, i64, String)> = sqlx::query_as(
            "SELECT seq, report_id, kind FROM changes WHERE seq > $1 ORDER BY seq LIMIT $2",
        )
        .bind(seq)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .into_iter()
            .map(|(seq, report_id, kind)| ChangeRow {
                seq,
                report_id,
                kind,
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
