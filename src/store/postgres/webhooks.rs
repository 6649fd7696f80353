//! PostgreSQL statements of schema 5 (webhooks and their delivery log) and
//! of the delivery leases (schema 3, see `store::webhooks`).

use std::time::Duration;

use sqlx::PgConnection;

use crate::store::StoreError;
use crate::store::decode::{delivery_from_row, webhook_from_row};
use crate::store::postgres::{PgStore, record_entity_change};
use crate::store::webhooks::{DELIVERIES_KEPT, DeliveryRow, Lease, Recorded, WebhookRow};

const WEBHOOK_COLUMNS: &str = "id, key_id, name, description, url, secret, district, area, \
                               bbox, categories, kinds, cursor, created_at_ms, deleted_at_ms, \
                               disabled_at_ms, disabled_reason, failures";
const DELIVERY_COLUMNS: &str =
    "id, webhook_id, event_id, at_ms, attempts, ok, status, error, duration_ms";

impl PgStore {
    pub(crate) async fn insert_webhook(&self, w: WebhookRow) -> Result<i64, StoreError> {
        let mut tx = self.pool.begin().await?;
        // The webhook and its free lease, in one statement.
        let id: i64 = sqlx::query_scalar(
            "WITH w AS (INSERT INTO webhooks (key_id, name, description, url, secret, district, \
             area, bbox, categories, kinds, cursor, created_at_ms) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) RETURNING id), \
             l AS (INSERT INTO webhook_leases (webhook_id, holder, term, until) \
                   SELECT id, '', 0, '-infinity' FROM w) \
             SELECT id FROM w",
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
        .fetch_one(&mut *tx)
        .await?;
        // Other instances start a worker for it.
        record_entity_change(&mut tx, "webhook", id).await?;
        tx.commit().await?;
        Ok(id)
    }

    pub(crate) async fn webhooks(&self) -> Result<Vec<WebhookRow>, StoreError> {
        let sql = format!("SELECT {WEBHOOK_COLUMNS} FROM webhooks ORDER BY id");
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .fetch_all(&self.pool)
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
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.as_ref().map(webhook_from_row).transpose()?)
    }

    pub(crate) async fn delete_webhook(&self, id: i64, at_ms: i64) -> Result<bool, StoreError> {
        let mut tx = self.pool.begin().await?;
        let done = sqlx::query(
            "UPDATE webhooks SET deleted_at_ms = $2 WHERE id = $1 AND deleted_at_ms IS NULL",
        )
        .bind(id)
        .bind(at_ms)
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() == 1 {
            // Other instances stop their worker.
            record_entity_change(&mut tx, "webhook", id).await?;
        }
        tx.commit().await?;
        Ok(done.rows_affected() == 1)
    }

    pub(crate) async fn enable_webhook(&self, id: i64) -> Result<bool, StoreError> {
        let mut tx = self.pool.begin().await?;
        let done = sqlx::query(
            "UPDATE webhooks SET disabled_at_ms = NULL, disabled_reason = NULL, failures = 0 \
             WHERE id = $1 AND deleted_at_ms IS NULL AND disabled_at_ms IS NOT NULL",
        )
        .bind(id)
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() == 1 {
            // Other instances start a worker again.
            record_entity_change(&mut tx, "webhook", id).await?;
        }
        tx.commit().await?;
        Ok(done.rows_affected() == 1)
    }

    pub(crate) async fn advance_webhook(
        &self,
        id: i64,
        cursor: i64,
        holder: Option<&str>,
    ) -> Result<bool, StoreError> {
        let mut tx = self.pool.begin().await?;
        if let Some(h) = holder
            && !hold_lease(&mut tx, id, h).await?
        {
            return Ok(false);
        }
        let done = sqlx::query(
            "UPDATE webhooks SET cursor = $2 WHERE id = $1 AND cursor < $2 \
             AND deleted_at_ms IS NULL AND disabled_at_ms IS NULL",
        )
        .bind(id)
        .bind(cursor)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(done.rows_affected() == 1)
    }

    pub(crate) async fn record_delivery(
        &self,
        d: DeliveryRow,
        disable_after: i64,
        disable_reason: &str,
        holder: Option<&str>,
    ) -> Result<Recorded, StoreError> {
        let mut tx = self.pool.begin().await?;
        if let Some(h) = holder
            && !hold_lease(&mut tx, d.webhook_id, h).await?
        {
            return Ok(Recorded::Superseded);
        }
        // A holder moves the cursor only forwards: an event at or before it
        // was recorded already (by an earlier holder).
        let failures: Option<i64> = sqlx::query_scalar(
            "UPDATE webhooks SET cursor = greatest(cursor, $2), \
             failures = CASE WHEN $3 THEN 0 ELSE failures + 1 END \
             WHERE id = $1 AND deleted_at_ms IS NULL AND disabled_at_ms IS NULL \
             AND ($4 = FALSE OR cursor < $2) \
             RETURNING failures",
        )
        .bind(d.webhook_id)
        .bind(d.event_id)
        .bind(d.ok)
        .bind(holder.is_some())
        .fetch_optional(&mut *tx)
        .await?;
        let Some(failures) = failures else {
            let active: Option<bool> = sqlx::query_scalar(
                "SELECT deleted_at_ms IS NULL AND disabled_at_ms IS NULL FROM webhooks \
                 WHERE id = $1",
            )
            .bind(d.webhook_id)
            .fetch_optional(&mut *tx)
            .await?;
            return Ok(if active == Some(true) {
                Recorded::Superseded
            } else {
                Recorded::Inactive
            });
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
            // Other instances stop their worker.
            record_entity_change(&mut tx, "webhook", d.webhook_id).await?;
        }
        tx.commit().await?;
        Ok(if disabled {
            Recorded::Disabled
        } else {
            Recorded::Done
        })
    }

    /// Takes or renews the lease (see the schema 3 migration): free or run
    /// out, or held by `holder`; `term` goes up unless `holder` held it and
    /// it still ran. Then whether the webhook is active, for a refusal.
    pub(crate) async fn take_webhook_lease(
        &self,
        id: i64,
        holder: &str,
        lease: Duration,
    ) -> Result<Lease, StoreError> {
        let (term, active): (Option<i64>, Option<bool>) = sqlx::query_as(
            "WITH taken AS ( \
               UPDATE webhook_leases AS l SET holder = $2, \
                 term = CASE WHEN l.holder = $2 AND l.until > clock_timestamp() \
                             THEN l.term ELSE l.term + 1 END, \
                 until = clock_timestamp() + $3::float8 * interval '1 millisecond' \
               FROM webhooks AS w \
               WHERE l.webhook_id = $1 AND w.id = l.webhook_id \
                 AND w.deleted_at_ms IS NULL AND w.disabled_at_ms IS NULL \
                 AND (l.holder = $2 OR l.until <= clock_timestamp()) \
               RETURNING l.term) \
             SELECT (SELECT term FROM taken), \
                    (SELECT deleted_at_ms IS NULL AND disabled_at_ms IS NULL \
                     FROM webhooks WHERE id = $1)",
        )
        .bind(id)
        .bind(holder)
        .bind(lease.as_secs_f64() * 1_000.0)
        .fetch_one(&self.pool)
        .await?;
        Ok(match (term, active) {
            (Some(term), _) => Lease::Held { term },
            (None, Some(true)) => Lease::Busy,
            (None, _) => Lease::Inactive,
        })
    }

    pub(crate) async fn release_webhook_lease(
        &self,
        id: i64,
        holder: &str,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE webhook_leases SET until = '-infinity' WHERE webhook_id = $1 AND holder = $2",
        )
        .bind(id)
        .bind(holder)
        .execute(&self.pool)
        .await?;
        Ok(())
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
            .fetch_all(&self.pool)
            .await?;
        Ok(rows
            .iter()
            .map(delivery_from_row)
            .collect::<Result<_, _>>()?)
    }
}

/// Whether `holder`'s lease of the webhook still runs; if so the lease row
/// stays locked `FOR SHARE` until the transaction ends, so that a takeover
/// (which updates it) waits for this transaction's cursor move to commit.
async fn hold_lease(conn: &mut PgConnection, id: i64, holder: &str) -> Result<bool, StoreError> {
    let held: Option<i32> = sqlx::query_scalar(
        "SELECT 1 FROM webhook_leases \
         WHERE webhook_id = $1 AND holder = $2 AND until > clock_timestamp() FOR SHARE",
    )
    .bind(id)
    .bind(holder)
    .fetch_optional(&mut *conn)
    .await?;
    Ok(held.is_some())
}
