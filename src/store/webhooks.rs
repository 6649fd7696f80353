//! Rows and operations of schema 5: webhooks (registration, delivery cursor,
//! last outcome) and their delivery log. Plain strings and numbers, as the
//! rest of the store.

use super::{Backend, Store, StoreError};

/// Deliveries kept per webhook in the log (older ones are pruned when a
/// new one is recorded).
pub const DELIVERIES_KEPT: i64 = 100;

/// A webhook as stored.
#[derive(Clone, PartialEq, Eq)]
pub struct WebhookRow {
    /// Assigned by the store (give 0).
    pub id: i64,
    /// The API key that registered it.
    pub key_id: i64,
    pub name: String,
    pub description: String,
    pub url: String,
    /// The signing secret (needed to sign; never logged: see `Debug`).
    pub secret: String,
    /// Public id of a district, or
    pub district: Option<String>,
    /// a GeoJSON Polygon or MultiPolygon, or
    pub area: Option<String>,
    /// `minlon,minlat,maxlon,maxlat`, or none of the three (the city).
    pub bbox: Option<String>,
    /// JSON array of category codes (empty: any).
    pub categories: String,
    /// JSON array of event kinds (empty: any).
    pub kinds: String,
    /// Id of the last event handled.
    pub cursor: i64,
    pub created_at_ms: i64,
    pub deleted_at_ms: Option<i64>,
    pub disabled_at_ms: Option<i64>,
    pub disabled_reason: Option<String>,
    /// Events in a row that failed every attempt.
    pub failures: i64,
}

impl std::fmt::Debug for WebhookRow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebhookRow")
            .field("id", &self.id)
            .field("key_id", &self.key_id)
            .field("url", &self.url)
            .field("cursor", &self.cursor)
            .finish_non_exhaustive()
    }
}

/// The outcome of one event's delivery to one webhook (after its retries).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryRow {
    /// Assigned by the store (give 0).
    pub id: i64,
    pub webhook_id: i64,
    pub event_id: i64,
    pub at_ms: i64,
    pub attempts: i64,
    pub ok: bool,
    /// HTTP status of the last attempt (`None`: no answer).
    pub status: Option<i64>,
    pub error: Option<String>,
    pub duration_ms: i64,
}

/// What [`Store::record_delivery`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Recorded {
    /// Recorded, the cursor moved to the event.
    Done,
    /// Recorded, and this failure disabled the webhook.
    Disabled,
    /// The webhook is no longer active: nothing written.
    Inactive,
}

impl Store {
    /// Stores a new webhook; returns its id.
    ///
    /// # Errors
    /// [`StoreError::Constraint`] for a row the schema refuses (two areas,
    /// unknown key…); [`StoreError::Io`]/[`StoreError::Database`].
    pub async fn insert_webhook(&self, w: WebhookRow) -> Result<i64, StoreError> {
        match &self.backend {
            Backend::Sqlite(s) => s.insert_webhook(w).await,
            Backend::Postgres(s) => s.insert_webhook(w).await,
        }
    }

    /// Every webhook, active or not, by id.
    ///
    /// # Errors
    /// [`StoreError::Io`] or [`StoreError::Database`] on database failure.
    pub async fn webhooks(&self) -> Result<Vec<WebhookRow>, StoreError> {
        match &self.backend {
            Backend::Sqlite(s) => s.webhooks().await,
            Backend::Postgres(s) => s.webhooks().await,
        }
    }

    /// The webhook with this id.
    ///
    /// # Errors
    /// As [`Store::webhooks`].
    pub async fn webhook(&self, id: i64) -> Result<Option<WebhookRow>, StoreError> {
        match &self.backend {
            Backend::Sqlite(s) => s.webhook(id).await,
            Backend::Postgres(s) => s.webhook(id).await,
        }
    }

    /// Makes a webhook disabled after failures active again (its failure
    /// count back to 0); false if no such disabled webhook.
    ///
    /// # Errors
    /// As [`Store::webhooks`].
    pub async fn enable_webhook(&self, id: i64) -> Result<bool, StoreError> {
        match &self.backend {
            Backend::Sqlite(s) => s.enable_webhook(id).await,
            Backend::Postgres(s) => s.enable_webhook(id).await,
        }
    }

    /// Deactivates a webhook (active or disabled); false if no such
    /// webhook or already deleted.
    ///
    /// # Errors
    /// As [`Store::webhooks`].
    pub async fn delete_webhook(&self, id: i64, at_ms: i64) -> Result<bool, StoreError> {
        match &self.backend {
            Backend::Sqlite(s) => s.delete_webhook(id, at_ms).await,
            Backend::Postgres(s) => s.delete_webhook(id, at_ms).await,
        }
    }

    /// Moves an active webhook's cursor forward to `cursor` (events filtered
    /// out); never backwards.
    ///
    /// # Errors
    /// As [`Store::webhooks`].
    pub async fn advance_webhook(&self, id: i64, cursor: i64) -> Result<(), StoreError> {
        match &self.backend {
            Backend::Sqlite(s) => s.advance_webhook(id, cursor).await,
            Backend::Postgres(s) => s.advance_webhook(id, cursor).await,
        }
    }

    /// Records the outcome of an event's delivery in ONE transaction: the
    /// log row (pruning the log to [`DELIVERIES_KEPT`]), the cursor moved to
    /// the event, the count of failures in a row, and the webhook disabled
    /// (with `disable_reason`) when a failure brings that count to
    /// `disable_after`.
    ///
    /// # Errors
    /// As [`Store::webhooks`].
    pub async fn record_delivery(
        &self,
        d: DeliveryRow,
        disable_after: i64,
        disable_reason: &str,
    ) -> Result<Recorded, StoreError> {
        match &self.backend {
            Backend::Sqlite(s) => s.record_delivery(d, disable_after, disable_reason).await,
            Backend::Postgres(s) => s.record_delivery(d, disable_after, disable_reason).await,
        }
    }

    /// The last deliveries of a webhook, newest first, at most `limit`.
    ///
    /// # Errors
    /// As [`Store::webhooks`].
    pub async fn webhook_deliveries(
        &self,
        webhook_id: i64,
        limit: u32,
    ) -> Result<Vec<DeliveryRow>, StoreError> {
        match &self.backend {
            Backend::Sqlite(s) => s.webhook_deliveries(webhook_id, limit).await,
            Backend::Postgres(s) => s.webhook_deliveries(webhook_id, limit).await,
        }
    }
}
