//! SQLite statements of schema 5 (webhooks and their delivery log).

use crate::store::StoreError;
use crate::store::decode::{delivery_from_row, webhook_from_row};
use crate::store::sqlite::SqliteStore;
use crate::store::webhooks::{DELIVERIES_KEPT, DeliveryRow, Recorded, WebhookRow};

const WEBHOOK_COLUMNS: &str = "id, key_id, name, description, url, secret, district, area, \
                               bbox, categories, kinds, cursor, created_at_ms, deleted_at_ms, \
                               disabled_at_ms, disabled_reason, failures";
const DELIVERY_COLUMNS: &str =
    "id, webhook_id, event_id, at_ms, attempts, ok, status, error, duration_ms";

impl SqliteStore {
    pub(crate) async fn insert_webhook(&self, w: WebhookRow) -> Result<i64, StoreError> {
        Ok(sqlx::query_scalar(
            "INSERT INTO webhooks (key_id, name, description, url, secret, district, area, \
             bbox, categories, kinds, cursor, created_at_ms) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) RETURNING id",
        )
        .bind(w.key_id)
        .bind(w.name)
        .bind(w.description)
        .bind(w.url)
        .bind(w.secret)
        .bind(w.district)
        .bind(w.area)
        .bind(w.bbox)
        .bind(w.categories)
        .bind(w.kinds)
        .bind(w.cursor)
        .bind(w.created_at_ms)
        .fetch_one(&self.writer)
        .await?)
    }

    pub(crate) async fn webhooks(&self) -> Result<Vec<WebhookRow>, StoreError> {
        let sql = format!("SELECT {WEBHOOK_COLUMNS} FROM webhooks ORDER BY id");
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .fetch_all(&self.readers)
            .await?;
        Ok(rows
            .iter()
            .map(webhook_from_row)
            .collect::<Result<_, _>>()?)
    }

    pub(crate) async fn webhook(&self, id: i64) -> Result<Option<WebhookRow>, StoreError> {
        let sql = format!("SELECT {WEBHOOK_COLUMNS} FROM webhooks WHERE id = $1");
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(id)
            .fetch_optional(&self.readers)
            .await?;
        Ok(row.as_ref().map(webhook_from_row).transpose()?)
    }

    pub(crate) async fn delete_webhook(&self, id: i64, at_ms: i64) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "UPDATE webhooks SET deleted_at_ms = $2 WHERE id = $1 AND deleted_at_ms IS NULL",
        )
        .bind(id)
        .bind(at_ms)
        .execute(&self.writer)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    pub(crate) async fn enable_webhook(&self, id: i64) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "UPDATE webhooks SET disabled_at_ms = NULL, disabled_reason = NULL, failures = 0 \
             WHERE id = $1 AND deleted_at_ms IS NULL AND disabled_at_ms IS NOT NULL",
        )
        .bind(id)
        .execute(&self.writer)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    pub(crate) async fn advance_webhook(&self, id: i64, cursor: i64) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "UPDATE webhooks SET cursor = $2 WHERE id = $1 AND cursor < $2 \
             AND deleted_at_ms IS NULL AND disabled_at_ms IS NULL",
        )
        .bind(id)
        .bind(cursor)
        .execute(&self.writer)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    pub(crate) async fn record_delivery(
        &self,
        d: DeliveryRow,
        disable_after: i64,
        disable_reason: &str,
    ) -> Result<Recorded, StoreError> {
        let mut tx = self.writer.begin_with("BEGIN IMMEDIATE").await?;
        let failures: Option<i64> = sqlx::query_scalar(
            "UPDATE webhooks SET cursor = max(cursor, $2), \
             failures = CASE WHEN $3 THEN 0 ELSE failures + 1 END \
             WHERE id = $1 AND deleted_at_ms IS NULL AND disabled_at_ms IS NULL \
             RETURNING failures",
        )
        .bind(d.webhook_id)
        .bind(d.event_id)
        .bind(d.ok)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(failures) = failures else {
            return Ok(Recorded::Inactive);
        };
        sqlx::query(
            "INSERT INTO webhook_deliveries (webhook_id, event_id, at_ms, attempts, ok, status, \
             error, duration_ms) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(d.webhook_id)
        .bind(d.event_id)
        .bind(d.at_ms)
        .bind(d.attempts)
        .bind(d.ok)
        .bind(d.status)
        .bind(d.error.as_deref())
        .bind(d.duration_ms)
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "DELETE FROM webhook_deliveries WHERE webhook_id = $1 AND id <= \
             (SELECT id FROM webhook_deliveries WHERE webhook_id = $1 \
              ORDER BY id DESC LIMIT 1 OFFSET $2)",
        )
        .bind(d.webhook_id)
        .bind(DELIVERIES_KEPT)
        .execute(&mut *tx)
        .await?;
        let disabled = !d.ok && failures >= disable_after;
        if disabled {
            sqlx::query(
                "UPDATE webhooks SET disabled_at_ms = $2, disabled_reason = $3 WHERE id = $1",
            )
            .bind(d.webhook_id)
            .bind(d.at_ms)
            .bind(disable_reason)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(if disabled {
            Recorded::Disabled
        } else {
            Recorded::Done
        })
    }

    pub(crate) async fn webhook_deliveries(
        &self,
        webhook_id: i64,
        limit: u32,
    ) -> Result<Vec<DeliveryRow>, StoreError> {
        let sql = format!(
            "SELECT {DELIVERY_COLUMNS} FROM webhook_deliveries WHERE webhook_id = $1 \
             ORDER BY id DESC LIMIT $2"
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(webhook_id)
            .bind(i64::from(limit))
            .fetch_all(&self.readers)
            .await?;
        Ok(rows
            .iter()
            .map(delivery_from_row)
            .collect::<Result<_, _>>()?)
    }
}
