//! Rows and operations of schema 5: webhooks (registration, delivery cursor,
//! last outcome) and their delivery log. Plain strings and numbers, as the
//! rest of the store.
//!
//! # Delivery leases (PostgreSQL)
//! Several instances on one database each run a worker per webhook, but
//! only the holder of the webhook's lease delivers (PostgreSQL schema 3,
//! `webhook_leases`): [`Store::take_webhook_lease`] takes a free or run-out
//! lease, or renews the caller's own, by the database server's clock. A
//! delivery is recorded ([`Store::record_delivery`]) and the cursor moved
//! ([`Store::advance_webhook`]) only while the caller's lease still runs,
//! and only forwards; a takeover waits for such a transaction to commit.
//! So a former holder whose lease ran out (stalled, cut off) can neither
//! move the cursor back nor record an event again. On SQLite one process
//! serves the store: it always holds every lease, and nothing is stored.

use std::time::Duration;

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
    /// The caller no longer holds the webhook's lease, or the cursor is
    /// already at or past the event (another holder recorded it): nothing
    /// written. Take the lease again before delivering on.
    Superseded,
}

/// What [`Store::take_webhook_lease`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lease {
    /// The caller holds the lease for the asked time from the statement
    /// (by the server's clock). `term` changes whenever the lease changed
    /// hands or ran out meanwhile: the cursor may have moved, read it again.
    Held { term: i64 },
    /// Another holder's lease runs.
    Busy,
    /// The webhook is deleted, disabled or unknown.
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
    /// out); never backwards. With a `holder` (PostgreSQL), only while that
    /// holder's lease runs. Whether it moved.
    ///
    /// # Errors
    /// As [`Store::webhooks`].
    pub async fn advance_webhook(
        &self,
        id: i64,
        cursor: i64,
        holder: Option<&str>,
    ) -> Result<bool, StoreError> {
        match &self.backend {
            Backend::Sqlite(s) => s.advance_webhook(id, cursor).await,
            Backend::Postgres(s) => s.advance_webhook(id, cursor, holder).await,
        }
    }

    /// Records the outcome of an event's delivery in ONE transaction: the
    /// log row (pruning the log to [`DELIVERIES_KEPT`]), the cursor moved to
    /// the event, the count of failures in a row, and the webhook disabled
    /// (with `disable_reason`) when a failure brings that count to
    /// `disable_after`. With a `holder` (PostgreSQL), only while that
    /// holder's lease runs and the cursor is before the event
    /// ([`Recorded::Superseded`] otherwise); SQLite ignores it.
    ///
    /// # Errors
    /// As [`Store::webhooks`].
    pub async fn record_delivery(
        &self,
        d: DeliveryRow,
        disable_after: i64,
        disable_reason: &str,
        holder: Option<&str>,
    ) -> Result<Recorded, StoreError> {
        match &self.backend {
            Backend::Sqlite(s) => s.record_delivery(d, disable_after, disable_reason).await,
            Backend::Postgres(s) => {
                s.record_delivery(d, disable_after, disable_reason, holder)
                    .await
            }
        }
    }

    /// Takes the delivery lease of a webhook for `lease` (by the server's
    /// clock) if it is free or ran out, or renews it if `holder` holds it.
    /// SQLite: always [`Lease::Held`] (one process per store), no IO.
    ///
    /// # Errors
    /// As [`Store::webhooks`].
    pub async fn take_webhook_lease(
        &self,
        id: i64,
        holder: &str,
        lease: Duration,
    ) -> Result<Lease, StoreError> {
        match &self.backend {
            Backend::Sqlite(_) => Ok(Lease::Held { term: 0 }),
            Backend::Postgres(s) => s.take_webhook_lease(id, holder, lease).await,
        }
    }

    /// Ends `holder`'s lease of a webhook now, so that another instance
    /// takes it over at once (an instance that stops delivering).
    ///
    /// # Errors
    /// As [`Store::webhooks`].
    pub async fn release_webhook_lease(&self, id: i64, holder: &str) -> Result<(), StoreError> {
        match &self.backend {
            Backend::Sqlite(_) => Ok(()),
            Backend::Postgres(s) => s.release_webhook_lease(id, holder).await,
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
