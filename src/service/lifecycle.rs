//! Keys, the report lifecycle, supports and the public event stream.
//!
//! Every change by a city service is ONE store transaction (status, state,
//! public event) applied only if the report is still in the status the
//! change was checked against; then the in-memory index, the state map and
//! the tile cache follow, under `change_lock` so that they see changes in
//! commit order. The event stream is fed by a pump that reads the store's
//! event log after each commit: what a client sees live is exactly what a
//! client resuming with `Last-Event-ID` reads back.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::{Arc, RwLock, Weak};
use std::time::Duration;

use time::OffsetDateTime;
use tokio::sync::{Mutex, Notify, broadcast};

use super::{App, ServiceError, from_unix_ms, unix_ms};
use crate::auth;
use crate::model::{
    Action, MAX_CLIENT_ID_CHARS, ReportId, Role, Status, TransitionError, validate_text,
};
use crate::spatial::ReportSummary;
use crate::store::{Changed, EventRow, ReportChange, StateRow, Supported};

/// Longest public note accepted, in characters.
pub const MAX_NOTE_CHARS: usize = 2_000;
/// Live events kept for slow subscribers before they must resume from the
/// store.
const EVENT_CHANNEL: usize = 4_096;
/// Events read from the store per pump round or replay page.
pub const EVENT_PAGE: u32 = 1_000;

/// Who is calling, from a valid API key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    pub key_id: i64,
    /// The key's name: what the public timeline shows as the author.
    pub name: String,
    pub role: Role,
}

/// How long a key checked against the store is trusted without asking it
/// again: a key revoked from the command line (another process) stops
/// working within this delay; one revoked through the API, at once.
pub const KEY_CACHE_TTL: Duration = Duration::from_secs(5);

/// Keys recently found valid, by digest: filing a report must not cost a
/// store read (ingest runs at over 10,000 reports/s).
#[derive(Debug, Default)]
pub(crate) struct KeyCache {
    valid: RwLock<HashMap<[u8; 32], (Caller, std::time::Instant)>>,
}

impl KeyCache {
    fn get(&self, digest: &[u8; 32]) -> Option<Caller> {
        let map = self
            .valid
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        map.get(digest)
            .filter(|(_, at)| at.elapsed() < KEY_CACHE_TTL)
            .map(|(c, _)| c.clone())
    }

    fn put(&self, digest: [u8; 32], caller: Caller) {
        let mut map = self
            .valid
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        map.retain(|_, (_, at)| at.elapsed() < KEY_CACHE_TTL);
        map.insert(digest, (caller, std::time::Instant::now()));
    }

    fn forget(&self, key_id: i64) {
        self.valid
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .retain(|_, (c, _)| c.key_id != key_id);
    }
}

/// What changed about a report since it was filed, in memory.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ReportState {
    pub updated_ms: i64,
    pub closed_ms: Option<i64>,
    pub duplicate_of: Option<ReportId>,
    /// When a city service first acted on it.
    pub first_response_ms: Option<i64>,
}

impl ReportState {
    /// When a report filed at `created` last changed: its filing, or its
    /// last change of state, note or support.
    #[must_use]
    pub fn updated_at(&self, created: OffsetDateTime) -> OffsetDateTime {
        from_unix_ms(self.updated_ms)
            .filter(|t| *t > created)
            .unwrap_or(created)
    }
}

impl From<&StateRow> for ReportState {
    fn from(s: &StateRow) -> Self {
        Self {
            updated_ms: s.updated_at_ms,
            closed_ms: s.closed_at_ms,
            duplicate_of: s.duplicate_of,
            first_response_ms: s.first_response_at_ms,
        }
    }
}

/// One entry of a report's public timeline, and one message of the event
/// stream. No personal data: the author is an API key's name.
#[derive(Debug, Clone, PartialEq)]
pub struct PublicEvent {
    pub id: i64,
    pub report_id: ReportId,
    pub at: OffsetDateTime,
    /// `created`, `status`, `note`, `support`, `duplicate` or `photo`.
    pub kind: String,
    pub status: Status,
    pub note: Option<String>,
    pub author: Option<String>,
    pub duplicate_of: Option<ReportId>,
    pub photo: Option<String>,
    /// The report as the index holds it (for filters and the payload).
    pub report: Option<ReportSummary>,
    pub supports: u32,
}

/// The lifecycle's in-memory side, part of [`App`].
#[derive(Debug)]
pub struct Lifecycle {
    states: RwLock<HashMap<ReportId, ReportState>>,
    /// Serialises changes so that memory follows the store in commit order.
    pub(crate) change_lock: Mutex<()>,
    events: broadcast::Sender<Arc<PublicEvent>>,
    /// Woken after each commit that wrote events.
    pub(crate) pump: Arc<Notify>,
    /// Id of the last event broadcast.
    published: AtomicI64,
    pump_started: AtomicBool,
    keys: KeyCache,
}

impl Lifecycle {
    #[must_use]
    pub fn new(pump: Arc<Notify>) -> Self {
        Self {
            states: RwLock::new(HashMap::new()),
            change_lock: Mutex::new(()),
            events: broadcast::channel(EVENT_CHANNEL).0,
            pump,
            published: AtomicI64::new(0),
            pump_started: AtomicBool::new(false),
            keys: KeyCache::default(),
        }
    }

    /// The state of a report (default: never changed).
    #[must_use]
    pub fn state(&self, id: ReportId) -> ReportState {
        self.states
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(&id)
            .copied()
            .unwrap_or_default()
    }

    /// Replaces every state (a full reload from the store).
    pub(crate) fn replace_states(&self, states: impl IntoIterator<Item = (ReportId, ReportState)>) {
        let fresh: HashMap<ReportId, ReportState> = states.into_iter().collect();
        *self
            .states
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = fresh;
    }

    pub(crate) fn set_state(&self, id: ReportId, s: ReportState) {
        self.states
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(id, s);
    }

    /// A receiver of live events, and the id of the last one broadcast
    /// before it subscribed.
    #[must_use]
    fn subscribe(&self) -> (broadcast::Receiver<Arc<PublicEvent>>, i64) {
        let rx = self.events.subscribe();
        (rx, self.published.load(Ordering::Acquire))
    }
}

fn transition_error(e: TransitionError) -> ServiceError {
    match e {
        TransitionError::ReasonRequired => ServiceError::invalid("note", e),
        TransitionError::NotAllowed { .. } => ServiceError::Conflict(e.to_string()),
    }
}

fn check_note(note: Option<String>) -> Result<Option<String>, ServiceError> {
    let Some(n) = note else { return Ok(None) };
    validate_text("note", &n, MAX_NOTE_CHARS).map_err(|e| ServiceError::invalid("note", e))?;
    let n = n.trim().to_owned();
    Ok((!n.is_empty()).then_some(n))
}

impl App {
    /// The caller behind an API key.
    ///
    /// # Errors
    /// [`ServiceError::Unauthorized`] for a malformed, unknown or revoked
    /// key; [`ServiceError::Store`] if the store cannot be read.
    pub async fn authenticate(&self, key: &str) -> Result<Caller, ServiceError> {
        if !auth::looks_like_key(key) {
            return Err(ServiceError::Unauthorized("malformed API key".into()));
        }
        let digest = auth::digest(key);
        if let Some(caller) = self.lifecycle.keys.get(&digest) {
            return Ok(caller);
        }
        let Some(row) = self.store.key_by_hash(&digest).await? else {
            return Err(ServiceError::Unauthorized("unknown API key".into()));
        };
        if row.revoked_at_ms.is_some() {
            return Err(ServiceError::Unauthorized("revoked API key".into()));
        }
        let role = row
            .role
            .parse::<Role>()
            .map_err(|e| ServiceError::Internal(format!("stored key role: {e}")))?;
        let caller = Caller {
            key_id: row.id,
            name: row.name,
            role,
        };
        self.lifecycle.keys.put(digest, caller.clone());
        Ok(caller)
    }

    /// Revokes a key now (in this process at once; another process serving
    /// the same store stops accepting it within [`KEY_CACHE_TTL`]).
    ///
    /// # Errors
    /// [`ServiceError::Store`] on a write failure.
    pub async fn revoke_key(&self, id: i64) -> Result<bool, ServiceError> {
        let done = self
            .store
            .revoke_key(id, unix_ms(OffsetDateTime::now_utc()))
            .await?;
        self.lifecycle.keys.forget(id);
        Ok(done)
    }

    /// Checks that `caller` may do `action`.
    ///
    /// # Errors
    /// [`ServiceError::Forbidden`] naming the roles that may.
    pub fn authorize(caller: &Caller, action: Action) -> Result<(), ServiceError> {
        if action.allows(caller.role) {
            Ok(())
        } else {
            let roles: Vec<&str> = action.roles().iter().map(|r| r.as_str()).collect();
            Err(ServiceError::Forbidden(format!(
                "a key with role {} may not do this; it needs role {}",
                caller.role,
                roles.join(" or ")
            )))
        }
    }

    /// Loads the lifecycle state and campaigns from the store (at boot).
    ///
    /// # Errors
    /// [`ServiceError::Store`] on a read failure.
    pub async fn load_lifecycle(&self) -> Result<(), ServiceError> {
        let states = self.store.report_states().await?;
        {
            let mut map = self
                .lifecycle
                .states
                .write()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            for s in &states {
                map.insert(s.report_id, ReportState::from(s));
            }
        }
        let members = self.store.report_campaigns().await?;
        {
            let mut idx = self
                .reports
                .write()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            for s in &states {
                idx.set_supports(s.report_id, u32::try_from(s.supports).unwrap_or(u32::MAX));
            }
            for (id, campaign) in &members {
                idx.set_campaign(*id, campaign);
            }
        }
        let last = self.store.last_event_id().await?;
        self.lifecycle.published.store(last, Ordering::Release);
        self.load_campaigns().await
    }

    /// Moves a report to another status, with a public note (a reason, for
    /// a rejection).
    ///
    /// # Errors
    /// [`ServiceError::NotFound`], [`ServiceError::Invalid`] (unknown status,
    /// missing reason, note too long), [`ServiceError::Conflict`] for a
    /// transition outside the workflow.
    pub async fn change_status(
        &self,
        caller: &Caller,
        id: ReportId,
        to: &str,
        note: Option<String>,
    ) -> Result<PublicEvent, ServiceError> {
        Self::authorize(caller, Action::ChangeStatus)?;
        let to: Status = to.parse().map_err(|e| ServiceError::invalid("status", e))?;
        let note = check_note(note)?;
        self.apply_change(caller, id, "status", |from| {
            from.check_transition(to, note.as_deref())
                .map_err(transition_error)?;
            Ok((to, note.clone(), None))
        })
        .await
    }

    /// Adds a public note (an answer) without changing the status.
    ///
    /// # Errors
    /// As [`App::change_status`]; a blank note is refused.
    pub async fn add_note(
        &self,
        caller: &Caller,
        id: ReportId,
        note: Option<String>,
    ) -> Result<PublicEvent, ServiceError> {
        Self::authorize(caller, Action::AddNote)?;
        let Some(note) = check_note(note)? else {
            return Err(ServiceError::invalid("note", "a note needs some text"));
        };
        self.apply_change(caller, id, "note", |from| {
            Ok((from, Some(note.clone()), None))
        })
        .await
    }

    /// Marks a report as a duplicate of another: it is rejected with that
    /// reason and points to the original, whose supports residents should
    /// add to instead.
    ///
    /// # Errors
    /// As [`App::change_status`]; [`ServiceError::Invalid`] if `of` is the
    /// report itself, unknown, or itself a duplicate.
    pub async fn mark_duplicate(
        &self,
        caller: &Caller,
        id: ReportId,
        of: ReportId,
        note: Option<String>,
    ) -> Result<PublicEvent, ServiceError> {
        Self::authorize(caller, Action::MarkDuplicate)?;
        if of == id {
            return Err(ServiceError::invalid(
                "duplicate_of",
                "a report cannot duplicate itself",
            ));
        }
        if self.reports().get(of).is_none() {
            return Err(ServiceError::invalid(
                "duplicate_of",
                format!("no report {of}"),
            ));
        }
        if let Some(orig) = self.lifecycle.state(of).duplicate_of {
            return Err(ServiceError::invalid(
                "duplicate_of",
                format!("report {of} is itself a duplicate of {orig}: point to {orig}"),
            ));
        }
        let note = check_note(note)?.unwrap_or_else(|| format!("Doublon du signalement {of}"));
        self.apply_change(caller, id, "duplicate", |from| {
            from.check_transition(Status::Rejected, Some(&note))
                .map_err(transition_error)?;
            Ok((Status::Rejected, Some(note.clone()), Some(of)))
        })
        .await
    }

    /// Records a photo added to a report (by the photo upload).
    ///
    /// # Errors
    /// [`ServiceError::NotFound`] or [`ServiceError::Store`].
    pub async fn record_photo(
        &self,
        caller: &Caller,
        id: ReportId,
        photo: String,
    ) -> Result<PublicEvent, ServiceError> {
        let photo = Some(photo);
        self.apply_change_with(caller, id, "photo", photo, |from| Ok((from, None, None)))
            .await
    }

    async fn apply_change<F>(
        &self,
        caller: &Caller,
        id: ReportId,
        kind: &str,
        decide: F,
    ) -> Result<PublicEvent, ServiceError>
    where
        F: Fn(Status) -> Result<(Status, Option<String>, Option<ReportId>), ServiceError>,
    {
        self.apply_change_with(caller, id, kind, None, decide).await
    }

    async fn apply_change_with<F>(
        &self,
        caller: &Caller,
        id: ReportId,
        kind: &str,
        photo: Option<String>,
        decide: F,
    ) -> Result<PublicEvent, ServiceError>
    where
        F: Fn(Status) -> Result<(Status, Option<String>, Option<ReportId>), ServiceError>,
    {
        let _serial = self.lifecycle.change_lock.lock().await;
        let Some(summary) = self.reports().get(id) else {
            return Err(ServiceError::NotFound(format!("no report {id}")));
        };
        let from = summary.status;
        let (to, note, duplicate_of) = decide(from)?;
        let now = unix_ms(OffsetDateTime::now_utc());
        let closed_at_ms = (!to.is_open()).then(|| {
            if from.is_open() {
                now
            } else {
                self.lifecycle.state(id).closed_ms.unwrap_or(now)
            }
        });
        let change = ReportChange {
            report_id: id,
            expected_status: from.as_str().to_owned(),
            kind: kind.to_owned(),
            new_status: to.as_str().to_owned(),
            at_ms: now,
            note,
            author: caller.name.clone(),
            duplicate_of,
            photo,
            closed_at_ms,
            responds: caller.role != Role::App,
        };
        let (event, state) = match self.store.change_report(change).await? {
            Changed::Done { event, state } => (event, state),
            Changed::NotFound => return Err(ServiceError::NotFound(format!("no report {id}"))),
            // Another instance (or process) changed its status since this
            // one read it: catch up on this report now (the follower would
            // soon) and let the client decide again.
            Changed::Moved { status } => {
                if let Err(e) = self.refresh_reports(&[id]).await {
                    tracing::warn!(report = id, error = %e, "moved report could not be refreshed");
                }
                return Err(ServiceError::Conflict(format!(
                    "report {id} was moved to {status} by another change meanwhile \
                     (this instance had {from}): read it again and retry"
                )));
            }
        };
        let state = ReportState::from(&state);
        self.lifecycle.set_state(id, state);
        let updated = ReportSummary {
            status: to,
            closed_ms: state.closed_ms,
            first_response_ms: state.first_response_ms,
            ..summary
        };
        if to != from || updated.first_response_ms != summary.first_response_ms {
            let mut idx = self
                .reports
                .write()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            idx.upsert(&updated);
            // Under the write lock: see `tiles::cache`.
            if to != from {
                self.tiles
                    .cache
                    .invalidate_report_at(&self.tiles.settings, updated.location);
            }
        }
        self.lifecycle.pump.notify_one();
        Ok(self.public_event(&event, Some(updated), self.supports(id)))
    }

    /// Adds a resident's support ("me too") to a report, once per client id.
    /// Returns the support count and whether this one was new.
    ///
    /// # Errors
    /// [`ServiceError::NotFound`], [`ServiceError::Invalid`] for a bad client
    /// id or a closed report.
    pub async fn support(
        &self,
        caller: &Caller,
        id: ReportId,
        client_id: &str,
    ) -> Result<(u32, bool), ServiceError> {
        Self::authorize(caller, Action::Support)?;
        validate_text("client_id", client_id, MAX_CLIENT_ID_CHARS)
            .map_err(|e| ServiceError::invalid("client_id", e))?;
        if client_id.trim().is_empty() {
            return Err(ServiceError::invalid("client_id", "must not be empty"));
        }
        let _serial = self.lifecycle.change_lock.lock().await;
        let Some(summary) = self.reports().get(id) else {
            return Err(ServiceError::NotFound(format!("no report {id}")));
        };
        if !summary.status.is_open() {
            return Err(ServiceError::Conflict(format!(
                "report {id} is {}: only open reports can be supported",
                summary.status
            )));
        }
        if let Some(orig) = self.lifecycle.state(id).duplicate_of {
            return Err(ServiceError::Conflict(format!(
                "report {id} is a duplicate of {orig}: support {orig}"
            )));
        }
        let now = unix_ms(OffsetDateTime::now_utc());
        match self.store.add_support(id, client_id, now).await? {
            Supported::NotFound => Err(ServiceError::NotFound(format!("no report {id}"))),
            Supported::Already { supports } => {
                Ok((u32::try_from(supports).unwrap_or(u32::MAX), false))
            }
            Supported::New { supports, .. } => {
                let supports = u32::try_from(supports).unwrap_or(u32::MAX);
                let mut state = self.lifecycle.state(id);
                state.updated_ms = state.updated_ms.max(now);
                self.lifecycle.set_state(id, state);
                {
                    // The count is drawn in point tiles.
                    let mut idx = self
                        .reports
                        .write()
                        .unwrap_or_else(std::sync::PoisonError::into_inner);
                    idx.set_supports(id, supports);
                    self.tiles
                        .cache
                        .invalidate_report_at(&self.tiles.settings, summary.location);
                }
                self.lifecycle.pump.notify_one();
                Ok((supports, true))
            }
        }
    }

    /// A report's public timeline, oldest first (`None`: no such report).
    ///
    /// # Errors
    /// [`ServiceError::Store`] if the store cannot be read.
    pub async fn history(&self, id: ReportId) -> Result<Option<Vec<PublicEvent>>, ServiceError> {
        let Some(summary) = self.reports().get(id) else {
            return Ok(None);
        };
        let events = self.store.events_of_reports(&[id]).await?;
        let supports = self.supports(id);
        Ok(Some(
            events
                .iter()
                .map(|e| self.public_event(e, Some(summary), supports))
                .collect(),
        ))
    }

    /// Events after `after`, as the stream sends them.
    ///
    /// # Errors
    /// [`ServiceError::Store`] if the store cannot be read.
    pub async fn events_after(&self, after: i64) -> Result<Vec<PublicEvent>, ServiceError> {
        let rows = self.store.events_after(after, EVENT_PAGE).await?;
        let idx = self.reports();
        Ok(rows
            .iter()
            .map(|e| {
                let s = idx.get(e.report_id);
                self.public_event(e, s, idx.supports(e.report_id))
            })
            .collect())
    }

    pub(crate) fn public_event(
        &self,
        e: &EventRow,
        report: Option<ReportSummary>,
        supports: u32,
    ) -> PublicEvent {
        PublicEvent {
            id: e.id,
            report_id: e.report_id,
            at: from_unix_ms(e.at_ms).unwrap_or(OffsetDateTime::UNIX_EPOCH),
            kind: e.kind.clone(),
            status: e.status.parse().unwrap_or(Status::New),
            note: e.note.clone(),
            author: e.author.clone(),
            duplicate_of: e.duplicate_of,
            photo: e.photo.clone(),
            report,
            supports,
        }
    }

    /// Subscribes to live events (starting the event pump on first use),
    /// with the id of the last event broadcast before.
    #[must_use]
    pub fn subscribe(self: &Arc<Self>) -> (broadcast::Receiver<Arc<PublicEvent>>, i64) {
        self.start_event_pump();
        self.lifecycle.subscribe()
    }

    /// Starts the event pump, once.
    pub(crate) fn start_event_pump(self: &Arc<Self>) {
        if !self.lifecycle.pump_started.swap(true, Ordering::AcqRel) {
            tokio::spawn(run_event_pump(Arc::downgrade(self)));
        }
    }
}

/// The event pump: after each commit that wrote events (and at least every
/// second, for events written by another process), reads the new ones from
/// the store and broadcasts them in order, then wakes the webhook workers
/// (which read the log from their own cursors). With nobody subscribed it
/// only notes how far the log goes, without reading it: a stream reads the
/// store from its own cursor before it listens. Ends with the application.
async fn run_event_pump(app: Weak<App>) {
    loop {
        let Some(pump) = app.upgrade().map(|a| Arc::clone(&a.lifecycle.pump)) else {
            return;
        };
        let _ = tokio::time::timeout(Duration::from_secs(1), pump.notified()).await;
        let Some(app) = app.upgrade() else { return };
        let before = app.lifecycle.published.load(Ordering::Acquire);
        // Read before looking for subscribers: one that subscribes after the
        // look reads at least up to `last` from the store itself.
        let last = match app.store.last_event_id().await {
            Ok(last) => last,
            Err(e) => {
                tracing::warn!(error = %e, "event pump could not read the store");
                continue;
            }
        };
        if last <= before {
            continue;
        }
        if app.lifecycle.events.receiver_count() == 0 {
            app.lifecycle.published.store(last, Ordering::Release);
        } else {
            broadcast_after(&app).await;
        }
        app.wake_webhooks();
    }
}

/// Reads every event after the last broadcast one and broadcasts it.
async fn broadcast_after(app: &App) {
    loop {
        let after = app.lifecycle.published.load(Ordering::Acquire);
        let events = match app.events_after(after).await {
            Ok(e) => e,
            Err(e) => {
                tracing::warn!(error = %e, "event pump could not read the store");
                return;
            }
        };
        let Some(last) = events.last().map(|e| e.id) else {
            return;
        };
        for e in events {
            // No subscriber (any more) is not an error.
            let _ = app.lifecycle.events.send(Arc::new(e));
        }
        app.lifecycle.published.store(last, Ordering::Release);
    }
}

/// Creates an API key in the store; returns its row and the key itself
/// (shown once: only its digest is stored). Used by the CLI and by admins.
///
/// # Errors
/// [`ServiceError::Invalid`] for an empty or long name (100 characters),
/// [`ServiceError::Store`] on a write failure.
pub async fn create_key(
    store: &crate::store::Store,
    name: &str,
    role: Role,
) -> Result<(crate::store::KeyRow, String), ServiceError> {
    let name = name.trim();
    if name.is_empty() {
        return Err(ServiceError::invalid("name", "a key needs a name"));
    }
    validate_text("name", name, 100).map_err(|e| ServiceError::invalid("name", e))?;
    let new = auth::generate();
    let mut row = crate::store::KeyRow {
        id: 0,
        name: name.to_owned(),
        role: role.as_str().to_owned(),
        prefix: new.prefix.clone(),
        hash: new.digest.to_vec(),
        created_at_ms: unix_ms(OffsetDateTime::now_utc()),
        revoked_at_ms: None,
    };
    row.id = store.insert_key(row.clone()).await?;
    Ok((row, new.secret))
}

impl App {
    /// What public maps and lists leave out at `now`: closed reports older
    /// than their category's fading age (see [`crate::config::Config`]).
    #[must_use]
    pub fn public_view(&self, now: OffsetDateTime) -> crate::spatial::PublicView {
        let min = |days: u32| days.saturating_mul(24 * 60);
        let after_min: Vec<u32> = self
            .taxonomy
            .categories()
            .iter()
            .map(|c| {
                self.config
                    .fade_days_by_category
                    .iter()
                    .find(|(code, _)| *code == c.code)
                    .map_or(min(self.config.fade_days), |(_, d)| min(*d))
            })
            .collect();
        crate::spatial::PublicView {
            now_min: u32::try_from(unix_ms(now).div_euclid(60_000)).unwrap_or(u32::MAX),
            after_min: after_min.into(),
            default_min: min(self.config.fade_days),
        }
    }
}
