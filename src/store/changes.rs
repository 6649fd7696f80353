//! The change feed: what lets several instances on one shared store keep
//! their memory in step (PostgreSQL only; SQLite serves one instance and has
//! no feed).
//!
//! Every transaction that changes a report appends one `changes` row per
//! report (`seq`, increasing in commit order under the log lock) and sends
//! `NOTIFY civicmap_changes, '<its last seq>'` at commit. A follower LISTENs
//! ([`Store::listen_changes`]), reads [`Store::change_seq`], loads its
//! memory, then applies [`Store::changes_after`] its last applied seq on
//! each notification and at least every second: a notification lost (the
//! listening connection dropped, see [`ChangeNote::Reconnected`]) delays an
//! update, it never loses one.
//!
//! The sequence is pruned ([`Store::prune_changes`]): rows older than a
//! while and not among the newest are deleted, and the highest seq deleted
//! is kept (`meta`, [`Store::changes_pruned_through`]). A follower whose
//! last applied seq is below it may have missed deleted rows: it reloads
//! its whole memory from the store instead (`service::follower`). The
//! mark, not a hole in the numbers, tells: a rolled-back transaction leaves
//! holes in `seq` too.

use std::time::Duration;

use sqlx::postgres::PgListener;

use super::{Backend, StateRow, Store, StoreError};

/// Every `kind` of a change row: the event kinds of the log, plus
/// `districts` (re-attribution), `contact` (erasure), `reporter` (a
/// pseudonym given to an old report), then the [`ENTITY_KINDS`].
pub const CHANGE_KINDS: [&str; 11] = [
    "created",
    "status",
    "note",
    "duplicate",
    "photo",
    "support",
    "districts",
    "contact",
    "reporter",
    "campaign",
    "webhook",
];

/// The kinds of a change of something else than a report (PostgreSQL
/// schema 3): a campaign or a webhook created, changed or deleted, named
/// by `entity_id`.
pub const ENTITY_KINDS: [&str; 2] = ["campaign", "webhook"];

/// One row of the change sequence: report `report_id` changed (`kind`), or
/// for the [`ENTITY_KINDS`], the campaign or webhook `entity_id`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChangeRow {
    pub seq: i64,
    /// `None` for the [`ENTITY_KINDS`].
    pub report_id: Option<i64>,
    /// One of [`CHANGE_KINDS`].
    pub kind: String,
    /// The campaign or webhook id of the [`ENTITY_KINDS`], else `None`.
    pub entity_id: Option<i64>,
}

/// What [`ChangeListener::recv`] heard.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChangeNote {
    /// A transaction committed changes up to this seq.
    Seq(i64),
    /// The listening connection was lost and is back: notifications sent
    /// meanwhile are lost, read the sequence to catch up.
    Reconnected,
}

/// A connection LISTENing to the change notifications, on a pool of its own
/// (one connection, made with the store's connect options): it never takes
/// a connection from the store's pool.
pub struct ChangeListener {
    /// Always `Some` but in `drop`.
    inner: Option<PgListener>,
}

impl Drop for ChangeListener {
    /// sqlx's listener spawns its UNLISTEN when dropped, which panics
    /// outside a Tokio runtime (a runtime shutting down drops its tasks
    /// outside it): there the connection is left to the process's end.
    fn drop(&mut self) {
        if tokio::runtime::Handle::try_current().is_err()
            && let Some(l) = self.inner.take()
        {
            std::mem::forget(l);
        }
    }
}

impl std::fmt::Debug for ChangeListener {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChangeListener").finish_non_exhaustive()
    }
}

impl ChangeListener {
    pub(crate) fn new(inner: PgListener) -> Self {
        Self { inner: Some(inner) }
    }

    /// The next notification, or [`ChangeNote::Reconnected`] after the
    /// connection was lost and made again (it reconnects by itself). Not
    /// cancel-safe: run it in a task of its own rather than in a `select!`.
    ///
    /// # Errors
    /// [`StoreError::Database`] or [`StoreError::Io`] when the connection
    /// failed or cannot be made again (the next call tries again; wait
    /// before it), [`StoreError::Corrupt`] for a payload that is not a seq.
    pub async fn recv(&mut self) -> Result<ChangeNote, StoreError> {
        let Some(inner) = self.inner.as_mut() else {
            return Ok(ChangeNote::Reconnected);
        };
        match inner.try_recv().await? {
            None => Ok(ChangeNote::Reconnected),
            Some(n) => n
                .payload()
                .parse()
                .map(ChangeNote::Seq)
                .map_err(|_| StoreError::Corrupt {
                    what: "change notification",
                    detail: "payload is not a sequence number".into(),
                }),
        }
    }
}

impl Store {
    /// Whether the store has a change feed (PostgreSQL: other instances may
    /// write to it).
    #[must_use]
    pub fn has_change_feed(&self) -> bool {
        matches!(self.backend, Backend::Postgres(_))
    }

    /// The last seq of the change sequence (0: none yet; never below the
    /// pruned mark); `None` without a feed (SQLite).
    ///
    /// # Errors
    /// [`StoreError::Io`] or [`StoreError::Database`] on database failure.
    pub async fn change_seq(&self) -> Result<Option<i64>, StoreError> {
        match &self.backend {
            Backend::Sqlite(_) => Ok(None),
            Backend::Postgres(s) => s.change_seq().await.map(Some),
        }
    }

    /// Deletes the changes older than `keep_for` (by the server's clock)
    /// that are not among the newest `keep_last` (at least 1), and raises
    /// the pruned mark to the highest seq deleted, in one transaction; how
    /// many were deleted (0 without a feed).
    ///
    /// # Errors
    /// As [`Store::change_seq`].
    pub async fn prune_changes(
        &self,
        keep_for: Duration,
        keep_last: i64,
    ) -> Result<u64, StoreError> {
        match &self.backend {
            Backend::Sqlite(_) => Ok(0),
            Backend::Postgres(s) => s.prune_changes(keep_for, keep_last.max(1)).await,
        }
    }

    /// The highest seq pruned from the sequence (0: none; always 0 without
    /// a feed). A follower that applied less than this may have missed
    /// changes. Read it after the page of changes it guards.
    ///
    /// # Errors
    /// As [`Store::change_seq`].
    pub async fn changes_pruned_through(&self) -> Result<i64, StoreError> {
        match &self.backend {
            Backend::Sqlite(_) => Ok(0),
            Backend::Postgres(s) => s.changes_pruned_through().await,
        }
    }

    /// At most `limit` changes after `seq`, in seq order (empty without a
    /// feed).
    ///
    /// # Errors
    /// As [`Store::change_seq`].
    pub async fn changes_after(&self, seq: i64, limit: u32) -> Result<Vec<ChangeRow>, StoreError> {
        match &self.backend {
            Backend::Sqlite(_) => Ok(Vec::new()),
            Backend::Postgres(s) => s.changes_after(seq, limit).await,
        }
    }

    /// A listener of change notifications, LISTENing when this returns
    /// (`None` without a feed).
    ///
    /// # Errors
    /// As [`Store::change_seq`].
    pub async fn listen_changes(&self) -> Result<Option<ChangeListener>, StoreError> {
        match &self.backend {
            Backend::Sqlite(_) => Ok(None),
            Backend::Postgres(s) => s.listen_changes().await.map(Some),
        }
    }

    /// The state rows of these reports (those that changed since they were
    /// filed), by report id.
    ///
    /// # Errors
    /// As [`Store::change_seq`].
    pub async fn report_states_of(&self, ids: &[i64]) -> Result<Vec<StateRow>, StoreError> {
        match &self.backend {
            Backend::Sqlite(s) => s.report_states_of(ids).await,
            Backend::Postgres(s) => s.report_states_of(ids).await,
        }
    }
}
