//! Rows and operations of schema 2: API keys, the report lifecycle (event
//! log, current state, supports) and campaigns. Plain strings and numbers,
//! as the rest of the store.

use super::{Backend, Store, StoreError};

/// Every `role` the schema accepts.
pub const KEY_ROLES: [&str; 4] = ["app", "agent", "admin", "analyst"];

/// Every event `kind` the schema accepts.
pub const EVENT_KINDS: [&str; 6] = ["created", "status", "note", "support", "duplicate", "photo"];

/// An API key as stored: a digest, never the key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyRow {
    /// Assigned by the store (give 0).
    pub id: i64,
    pub name: String,
    /// One of [`KEY_ROLES`].
    pub role: String,
    /// The key's first characters, to tell keys apart in listings.
    pub prefix: String,
    /// SHA-256 of the whole key.
    pub hash: Vec<u8>,
    pub created_at_ms: i64,
    pub revoked_at_ms: Option<i64>,
}

/// One entry of a report's public timeline (and of the event stream).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventRow {
    /// Assigned by the store: the position in the event stream.
    pub id: i64,
    pub report_id: i64,
    pub at_ms: i64,
    /// One of [`EVENT_KINDS`].
    pub kind: String,
    /// The report's status after the event.
    pub status: String,
    /// Public note.
    pub note: Option<String>,
    /// Name of the API key that acted.
    pub author: Option<String>,
    pub duplicate_of: Option<i64>,
    /// Name of the photo added, for `photo` events.
    pub photo: Option<String>,
}

/// What changed about a report since it was filed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct StateRow {
    pub report_id: i64,
    pub updated_at_ms: i64,
    pub closed_at_ms: Option<i64>,
    pub duplicate_of: Option<i64>,
    pub supports: i64,
    /// When a city service first acted on it (schema 7).
    pub first_response_at_ms: Option<i64>,
}

/// A change of a report by a city service, applied only if the report is
/// still in `expected_status` (so two agents acting at once cannot both
/// pass a transition checked against the same state).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReportChange {
    pub report_id: i64,
    pub expected_status: String,
    /// `status`, `note`, `duplicate` or `photo`.
    pub kind: String,
    pub new_status: String,
    pub at_ms: i64,
    pub note: Option<String>,
    pub author: String,
    /// For `duplicate`: the report this one repeats.
    pub duplicate_of: Option<i64>,
    pub photo: Option<String>,
    /// The new `closed_at_ms`: set when the report enters a closed state,
    /// `None` when it is (re)opened; unchanged by notes and photos.
    pub closed_at_ms: Option<i64>,
    /// Whether a city service acts (the first such change sets the
    /// report's first response time); `false` for a resident's photo.
    pub responds: bool,
}

/// What [`Store::change_report`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
// One per status change, returned and dropped at once: its size is moot.
#[allow(clippy::large_enum_variant)]
pub enum Changed {
    /// Committed: the event and the state after it.
    Done { event: EventRow, state: StateRow },
    /// No report with this id.
    NotFound,
    /// The report is no longer in the expected status: its current one.
    Moved { status: String },
}

/// What [`Store::add_support`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Supported {
    /// A new support: its event, and the count after it.
    New {
        event: EventRow,
        supports: i64,
    },
    /// This client id had already supported the report: the count.
    Already {
        supports: i64,
    },
    NotFound,
}

/// A campaign of positive contributions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CampaignRow {
    /// Assigned by the store (give 0).
    pub id: i64,
    pub slug: String,
    pub title: String,
    pub question: String,
    /// JSON array of category codes (empty: any).
    pub categories: String,
    pub starts_at_ms: i64,
    pub ends_at_ms: i64,
    /// Public id of a district, or
    pub district: Option<String>,
    /// a GeoJSON polygon or multipolygon geometry, or neither.
    pub perimeter: Option<String>,
    pub created_by: String,
    pub created_at_ms: i64,
}

impl Store {
    /// Stores a new API key; returns its id.
    ///
    /// # Errors
    /// [`StoreError::Constraint`] for an unknown role, an empty or long name
    /// or a digest already stored; [`StoreError::Io`]/[`StoreError::Database`].
    pub async fn insert_key(&self, key: KeyRow) -> Result<i64, StoreError> {
        match &self.backend {
            Backend::Sqlite(s) => s.insert_key(key).await,
            Backend::Postgres(s) => s.insert_key(key).await,
        }
    }

    /// The key with this digest, revoked or not.
    ///
    /// # Errors
    /// [`StoreError::Io`] or [`StoreError::Database`] on database failure.
    pub async fn key_by_hash(&self, hash: &[u8]) -> Result<Option<KeyRow>, StoreError> {
        match &self.backend {
            Backend::Sqlite(s) => s.key_by_hash(hash).await,
            Backend::Postgres(s) => s.key_by_hash(hash).await,
        }
    }

    /// Every key, by id.
    ///
    /// # Errors
    /// As [`Store::key_by_hash`].
    pub async fn keys(&self) -> Result<Vec<KeyRow>, StoreError> {
        match &self.backend {
            Backend::Sqlite(s) => s.keys().await,
            Backend::Postgres(s) => s.keys().await,
        }
    }

    /// Revokes a key; false if no such key or already revoked.
    ///
    /// # Errors
    /// As [`Store::key_by_hash`].
    pub async fn revoke_key(&self, id: i64, at_ms: i64) -> Result<bool, StoreError> {
        match &self.backend {
            Backend::Sqlite(s) => s.revoke_key(id, at_ms).await,
            Backend::Postgres(s) => s.revoke_key(id, at_ms).await,
        }
    }

    /// Applies a change to a report in ONE transaction (status, state,
    /// event), committed when it returns `Changed::Done`.
    ///
    /// # Errors
    /// [`StoreError::Constraint`] for an unknown status or a missing
    /// `duplicate_of` report; [`StoreError::Io`]/[`StoreError::Database`].
    pub async fn change_report(&self, change: ReportChange) -> Result<Changed, StoreError> {
        match &self.backend {
            Backend::Sqlite(s) => s.change_report(change).await,
            Backend::Postgres(s) => s.change_report(change).await,
        }
    }

    /// Records a support of `client_id` for a report, once.
    ///
    /// # Errors
    /// As [`Store::change_report`].
    pub async fn add_support(
        &self,
        report_id: i64,
        client_id: &str,
        at_ms: i64,
    ) -> Result<Supported, StoreError> {
        match &self.backend {
            Backend::Sqlite(s) => s.add_support(report_id, client_id, at_ms).await,
            Backend::Postgres(s) => s.add_support(report_id, client_id, at_ms).await,
        }
    }

    /// The events after `after_id`, in order, at most `limit`.
    ///
    /// # Errors
    /// As [`Store::key_by_hash`].
    pub async fn events_after(
        &self,
        after_id: i64,
        limit: u32,
    ) -> Result<Vec<EventRow>, StoreError> {
        match &self.backend {
            Backend::Sqlite(s) => s.events_after(after_id, limit).await,
            Backend::Postgres(s) => s.events_after(after_id, limit).await,
        }
    }

    /// The id of the last event (0 if none).
    ///
    /// # Errors
    /// As [`Store::key_by_hash`].
    pub async fn last_event_id(&self) -> Result<i64, StoreError> {
        match &self.backend {
            Backend::Sqlite(s) => s.last_event_id().await,
            Backend::Postgres(s) => s.last_event_id().await,
        }
    }

    /// The timelines of these reports (filings and changes), by report id
    /// then event id, in one query for a whole page.
    ///
    /// # Errors
    /// As [`Store::key_by_hash`].
    pub async fn events_of_reports(&self, ids: &[i64]) -> Result<Vec<EventRow>, StoreError> {
        match &self.backend {
            Backend::Sqlite(s) => s.events_of_reports(ids).await,
            Backend::Postgres(s) => s.events_of_reports(ids).await,
        }
    }

    /// The state rows of every report that changed since it was filed.
    ///
    /// # Errors
    /// As [`Store::key_by_hash`].
    pub async fn report_states(&self) -> Result<Vec<StateRow>, StoreError> {
        match &self.backend {
            Backend::Sqlite(s) => s.report_states().await,
            Backend::Postgres(s) => s.report_states().await,
        }
    }

    /// `(report id, campaign)` of every report answering a campaign.
    ///
    /// # Errors
    /// As [`Store::key_by_hash`].
    pub async fn report_campaigns(&self) -> Result<Vec<(i64, String)>, StoreError> {
        match &self.backend {
            Backend::Sqlite(s) => s.report_campaigns().await,
            Backend::Postgres(s) => s.report_campaigns().await,
        }
    }

    /// Stores a new campaign; returns its id.
    ///
    /// # Errors
    /// [`StoreError::Constraint`] for a slug already used or an empty window;
    /// [`StoreError::Io`]/[`StoreError::Database`].
    pub async fn insert_campaign(&self, c: CampaignRow) -> Result<i64, StoreError> {
        match &self.backend {
            Backend::Sqlite(s) => s.insert_campaign(c).await,
            Backend::Postgres(s) => s.insert_campaign(c).await,
        }
    }

    /// Moves a campaign's end (closing it early); false if no such campaign.
    ///
    /// # Errors
    /// As [`Store::insert_campaign`].
    pub async fn set_campaign_end(&self, id: i64, ends_at_ms: i64) -> Result<bool, StoreError> {
        match &self.backend {
            Backend::Sqlite(s) => s.set_campaign_end(id, ends_at_ms).await,
            Backend::Postgres(s) => s.set_campaign_end(id, ends_at_ms).await,
        }
    }

    /// Every campaign, by id.
    ///
    /// # Errors
    /// As [`Store::key_by_hash`].
    pub async fn campaigns(&self) -> Result<Vec<CampaignRow>, StoreError> {
        match &self.backend {
            Backend::Sqlite(s) => s.campaigns().await,
            Backend::Postgres(s) => s.campaigns().await,
        }
    }
}
