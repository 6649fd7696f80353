//! Following a shared store: several instances on one PostgreSQL database
//! keep their in-memory index, statistics, lifecycle states and tile caches
//! in step with what the others commit.
//!
//! The store's change feed (`store::changes`) lists every changed report by
//! a sequence number in commit order. At boot, [`FollowStart::begin`]
//! LISTENs first, then reads the last seq, and only then is the index
//! loaded: a change committed in between is both in the index and after the
//! seq, and applying it again changes nothing (a refresh writes what the
//! store holds now). The follower task ([`App::start_follower`]) wakes on a
//! notification or at least every [`FOLLOW_EVERY`] (a notification lost
//! while the listening connection was down costs at most that delay, never
//! a change), reads the changes after the last seq it applied, page by
//! page, and refreshes each changed report from the store: row, state,
//! supports and campaign into the index, the state map, and the cached
//! tiles at its place dropped under the index write lock, as the writer's
//! hook does. Then it wakes the event pump, so that this instance's event
//! streams and webhooks carry the other instances' events too.
//!
//! A refresh reads and applies under the lifecycle's `change_lock`: a local
//! change (which holds it from its read of the index to its update of
//! memory) cannot interleave with it. Since every change has a seq, and a
//! report is read after the seq that named it, the last refresh of a report
//! always reads its last committed version: memory converges. Errors are
//! logged (never a contact: rows are not logged) and the next round
//! retries from the same seq.
//!
//! `created` changes of reports this instance already indexes are skipped
//! (its own filings, indexed by its writer's hook, or reports loaded at
//! boot): a filed row changes only through later changes of other kinds.
//!
//! The sequence is pruned by every instance's follower (every
//! [`PRUNE_EVERY`]: rows older than [`CHANGES_KEPT_FOR`] beyond the newest
//! [`CHANGES_KEPT_AT_LEAST`]). After each page the follower reads the
//! store's pruned mark (the highest seq deleted); if it is above the last
//! seq applied, rows this instance never read may be gone, and it reloads
//! its whole memory instead ([`App::reload_all`]): it reads the last seq
//! first, then rebuilds the index (statistics included), states, supports,
//! campaigns and webhook workers from the store, drops every cached report
//! tile, and catches up from that seq. Only an instance stalled for longer
//! than the retention (or started from a stale position) gets there.
//!
//! Campaigns and webhooks are in the sequence too (kinds `campaign` and
//! `webhook`, written by the transaction that creates, changes or deletes
//! one): a `campaign` change reloads the campaign list (what filings are
//! checked against and what `GET /api/v1/campaigns` lists), a `webhook`
//! change reads that webhook and starts its worker if it is active (the
//! worker stands by while another instance holds its delivery lease) or
//! stops it if not. Reloading what the store holds now is, again, harmless
//! to repeat.

use std::collections::HashMap;
use std::sync::{Arc, Weak};
use std::time::Duration;

use tokio::sync::Notify;

use super::lifecycle::ReportState;
use super::{App, ServiceError, summary_of};
use crate::model::ReportId;
use crate::spatial::ReportSummary;
use crate::store::{ChangeListener, ChangeNote, ChangeRow, StateRow, Store, StoreError};

/// The longest a follower sleeps without a notification.
pub const FOLLOW_EVERY: Duration = Duration::from_secs(1);
/// Changes read per page.
pub const CHANGE_PAGE: u32 = 1_000;
/// How often a follower prunes the change sequence.
pub const PRUNE_EVERY: Duration = Duration::from_secs(60);
/// Changes younger than this are kept: a follower that stalls for less
/// never needs a full reload.
pub const CHANGES_KEPT_FOR: Duration = Duration::from_secs(15 * 60);
/// The newest changes kept whatever their age.
pub const CHANGES_KEPT_AT_LEAST: i64 = 10_000;

/// Where a follower starts: a listener LISTENing since before `seq` was
/// read, itself read before the index was loaded.
#[derive(Debug)]
pub struct FollowStart {
    listener: ChangeListener,
    seq: i64,
    /// The runtime boot ran on: the router (which starts the follower) may
    /// be built outside it.
    runtime: tokio::runtime::Handle,
}

impl FollowStart {
    /// LISTENs, then reads the last seq; `None` for a store without a
    /// change feed (SQLite). Call it before loading the index.
    ///
    /// # Errors
    /// [`StoreError`] if the listener cannot connect or the seq be read.
    pub async fn begin(store: &Store) -> Result<Option<Self>, StoreError> {
        let Some(listener) = store.listen_changes().await? else {
            return Ok(None);
        };
        let seq = store.change_seq().await?.unwrap_or(0);
        let runtime = tokio::runtime::Handle::current();
        Ok(Some(Self {
            listener,
            seq,
            runtime,
        }))
    }
}

impl App {
    /// Gives the application the follower's start, for
    /// [`App::start_follower`] (boot does).
    pub fn follow_from(&self, start: FollowStart) {
        *self
            .follow
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(start);
    }

    /// Starts the follower task, once, if the application was given a
    /// start (serving does). It ends with the application.
    pub fn start_follower(self: &Arc<Self>) {
        let start = self
            .follow
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take();
        let Some(FollowStart {
            listener,
            seq,
            runtime,
        }) = start
        else {
            return;
        };
        let wake = Arc::new(Notify::new());
        let listening = runtime.spawn(listen(listener, Arc::clone(&wake)));
        runtime.spawn(follow(Arc::downgrade(self), seq, wake, listening));
    }

    /// Applies every change after `applied`; returns the last seq applied
    /// (on an error, logged, the last one fully applied before it).
    pub async fn catch_up(self: &Arc<Self>, mut applied: i64) -> i64 {
        loop {
            let page = match self.store.changes_after(applied, CHANGE_PAGE).await {
                Ok(p) => p,
                Err(e) => {
                    tracing::warn!(error = %e, after = applied, "follower could not read the changes");
                    return applied;
                }
            };
            // Read after the page: rows pruned before it was read show here.
            match self.store.changes_pruned_through().await {
                Ok(mark) if mark > applied => {
                    tracing::warn!(
                        applied,
                        pruned_through = mark,
                        "follower is behind the retained change sequence: reloading everything"
                    );
                    match self.reload_all().await {
                        Ok(seq) => {
                            applied = seq;
                            continue;
                        }
                        Err(e) => {
                            tracing::warn!(error = %e, "follower could not reload from the store");
                            return applied;
                        }
                    }
                }
                Ok(_) => {}
                Err(e) => {
                    tracing::warn!(error = %e, after = applied, "follower could not read the pruned mark");
                    return applied;
                }
            }
            let Some(last) = page.last().map(|c| c.seq) else {
                return applied;
            };
            if let Err(e) = self.follow_entities(&page).await {
                tracing::warn!(error = %e, after = applied, "follower could not reload a campaign or webhook");
                return applied;
            }
            let mut ids: Vec<ReportId> = {
                let idx = self.reports();
                page.iter()
                    .filter_map(|c| Some((c.report_id?, c)))
                    .filter(|(id, c)| c.kind != "created" || idx.get(*id).is_none())
                    .map(|(id, _)| id)
                    .collect()
            };
            ids.sort_unstable();
            ids.dedup();
            if !ids.is_empty() {
                let _serial = self.lifecycle.change_lock.lock().await;
                if let Err(e) = self.refresh_reports(&ids).await {
                    tracing::warn!(error = %e, after = applied, "follower could not refresh changed reports");
                    return applied;
                }
            }
            applied = last;
            // Other instances' events are in the log: stream them.
            self.lifecycle.pump.notify_one();
            if page.len() < CHANGE_PAGE as usize {
                return applied;
            }
        }
    }

    /// Rebuilds this instance's memory of the store whole, for a follower
    /// whose position was pruned away (see the module docs); returns the
    /// seq to catch up from (read before anything else, so that whatever
    /// commits meanwhile is applied after). Under `change_lock`; the index
    /// is swapped under its write lock with every cached report tile
    /// dropped. A filing this instance acknowledges while the index is
    /// rebuilt is indexed by its writer into the old index and read again
    /// by the catch-up that follows (its `created` change is after the seq),
    /// so between the swap and that catch-up (one round) it may be missing
    /// from lists and tiles.
    ///
    /// # Errors
    /// [`ServiceError::Store`] on a read failure; memory is then unchanged
    /// (but for campaigns and webhooks, reloaded whole or not at all each).
    pub async fn reload_all(self: &Arc<Self>) -> Result<i64, ServiceError> {
        let seq = self.store.change_seq().await?.unwrap_or(0);
        let _serial = self.lifecycle.change_lock.lock().await;
        let mut fresh = crate::boot::load_index_with(&self.store, &self.taxonomy, &self.districts)
            .await
            .map_err(|e| ServiceError::Internal(format!("reloading the index: {e}")))?;
        let states = self.store.report_states().await?;
        let members = self.store.report_campaigns().await?;
        for s in &states {
            fresh.set_supports(s.report_id, u32::try_from(s.supports).unwrap_or(u32::MAX));
        }
        for (id, campaign) in &members {
            fresh.set_campaign(*id, campaign);
        }
        self.lifecycle
            .replace_states(states.iter().map(|s| (s.report_id, ReportState::from(s))));
        {
            let mut idx = self
                .reports
                .write()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            *idx = fresh;
            // Under the write lock: see `tiles::cache`.
            self.tiles.cache.invalidate_all_reports();
        }
        self.load_campaigns().await?;
        for row in self.store.webhooks().await? {
            self.follow_webhook(row.id).await?;
        }
        tracing::info!(
            seq,
            reports = self.reports().len(),
            "memory reloaded from the store"
        );
        Ok(seq)
    }

    /// Applies the campaign and webhook changes of a page: the campaign list
    /// reloaded once if any campaign changed, each changed webhook's worker
    /// started or stopped as the store says.
    async fn follow_entities(self: &Arc<Self>, page: &[ChangeRow]) -> Result<(), ServiceError> {
        if page.iter().any(|c| c.kind == "campaign") {
            self.load_campaigns().await?;
        }
        let mut hooks: Vec<i64> = page
            .iter()
            .filter(|c| c.kind == "webhook")
            .filter_map(|c| c.entity_id)
            .collect();
        hooks.sort_unstable();
        hooks.dedup();
        for id in hooks {
            self.follow_webhook(id).await?;
        }
        Ok(())
    }

    /// Reads these reports from the store and puts what it holds into
    /// memory: index (status, districts, reporter, closing and first
    /// response), supports, campaign, lifecycle state; drops the cached
    /// tiles at each report's place. The caller holds `change_lock`.
    pub(crate) async fn refresh_reports(&self, ids: &[ReportId]) -> Result<(), ServiceError> {
        let rows = self.store.reports_by_ids(ids).await?;
        let states: HashMap<ReportId, StateRow> = self
            .store
            .report_states_of(ids)
            .await?
            .into_iter()
            .map(|s| (s.report_id, s))
            .collect();
        let codec = self.codec();
        let mut fresh: Vec<(ReportSummary, Option<String>, u32)> = Vec::with_capacity(rows.len());
        for row in rows {
            let r = match codec.report_from_row(&row) {
                Ok(r) => r,
                Err(e) => {
                    tracing::error!(report = row.id, error = %e, "changed report could not be indexed");
                    continue;
                }
            };
            let state = states.get(&row.id);
            let summary = ReportSummary {
                reporter: row.reporter.map(|p| u64::from_ne_bytes(p.to_ne_bytes())),
                closed_ms: state.and_then(|s| s.closed_at_ms),
                first_response_ms: state.and_then(|s| s.first_response_at_ms),
                ..summary_of(&r)
            };
            let supports = state.map_or(0, |s| u32::try_from(s.supports).unwrap_or(u32::MAX));
            fresh.push((summary, row.campaign, supports));
        }
        for s in states.values() {
            self.lifecycle.set_state(s.report_id, ReportState::from(s));
        }
        let mut idx = self
            .reports
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        for (summary, campaign, supports) in &fresh {
            idx.upsert(summary);
            idx.set_supports(summary.id, *supports);
            if let Some(c) = campaign {
                idx.set_campaign(summary.id, c);
            }
            // Under the write lock: see `tiles::cache`.
            self.tiles
                .cache
                .invalidate_report_at(&self.tiles.settings, summary.location);
        }
        Ok(())
    }
}

/// Wakes the follower on each notification and after each reconnection.
/// A task of its own: receiving is not cancel-safe.
async fn listen(mut listener: ChangeListener, wake: Arc<Notify>) {
    loop {
        match listener.recv().await {
            Ok(ChangeNote::Seq(_)) => wake.notify_one(),
            Ok(ChangeNote::Reconnected) => {
                tracing::warn!("change listener reconnected: catching up by the change sequence");
                wake.notify_one();
            }
            Err(e) => {
                tracing::warn!(error = %e, "change listener failed: retrying");
                wake.notify_one();
                tokio::time::sleep(FOLLOW_EVERY).await;
            }
        }
    }
}

/// The follower loop (see the module docs); it also prunes the change
/// sequence every [`PRUNE_EVERY`].
async fn follow(
    app: Weak<App>,
    mut applied: i64,
    wake: Arc<Notify>,
    listening: tokio::task::JoinHandle<()>,
) {
    let mut pruned = tokio::time::Instant::now();
    loop {
        let Some(a) = app.upgrade() else {
            listening.abort();
            return;
        };
        applied = a.catch_up(applied).await;
        if pruned.elapsed() >= PRUNE_EVERY {
            pruned = tokio::time::Instant::now();
            match a
                .store
                .prune_changes(CHANGES_KEPT_FOR, CHANGES_KEPT_AT_LEAST)
                .await
            {
                Ok(0) => {}
                Ok(n) => tracing::info!(changes = n, "change sequence pruned"),
                Err(e) => tracing::warn!(error = %e, "change sequence not pruned"),
            }
        }
        drop(a);
        let _ = tokio::time::timeout(FOLLOW_EVERY, wake.notified()).await;
    }
}
