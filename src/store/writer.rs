//! Group commit: one task writes every submitted report, many per transaction.
//!
//! A durable commit costs an fsync (milliseconds), a row a few microseconds.
//! So [`WriterHandle::submit`] does not write: it queues the row on a bounded
//! channel and waits. ONE writer task takes everything pending (up to
//! `max_batch` rows), stores it with one [`Store::insert_reports`] call (one
//! transaction, one fsync), calls the `on_commit` hook, and only then answers
//! each request. While a batch commits the next one accumulates, so batches
//! grow with load and throughput follows.
//!
//! Guarantees:
//! - `submit` returns `Ok` only after COMMIT and after `on_commit` returned:
//!   an acknowledged report is durable *and* visible to whoever the hook
//!   updates (the in-memory index);
//! - a failed transaction acknowledges nothing of its batch. A constraint
//!   violation is one request's fault, so the batch is then split in halves
//!   and retried until the offending rows are isolated: only they get the
//!   [`StoreError::Constraint`], the others are committed as usual. Any other
//!   failure (I/O…) is returned to every request of the batch;
//! - the task survives failed batches and a panicking hook;
//! - when every [`WriterHandle`] is dropped, the task commits what is still
//!   queued and ends. A request whose submitter stopped waiting is still
//!   committed (it was queued), only its answer is lost.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::time::Instant;

use tokio::sync::{mpsc, oneshot};

use super::{Inserted, ReportRow, Store, StoreError};

/// A batch size that keeps a transaction well under a few milliseconds of
/// SQL while amortising the fsync.
pub const DEFAULT_MAX_BATCH: usize = 512;

/// The hook called after each COMMIT with the outcome of each request of the
/// batch, in queue order (new rows and idempotent repeats alike).
pub type OnCommit = Arc<dyn Fn(&[Inserted]) + Send + Sync>;

/// Starts the group-commit task: ONE task that takes every pending
/// [`WriterHandle::submit`] (up to `max_batch`), stores them in one
/// transaction, runs the `on_commit` hook, then answers each. A failed
/// transaction acknowledges nothing of its batch; a constraint violation is
/// isolated by splitting the batch so that only the offending rows fail.
#[derive(Debug, Clone, Copy)]
pub struct Writer;

impl Writer {
    /// Spawns the writer task on the current tokio runtime, with no hook.
    /// A `max_batch` of 0 is taken as 1.
    ///
    /// # Panics
    /// If called outside a tokio runtime.
    #[must_use]
    pub fn spawn(store: Store, max_batch: usize) -> WriterHandle {
        Self::start(store, max_batch, None)
    }

    /// As [`Writer::spawn`], with a hook called after each COMMIT and before
    /// the batch's requests are answered. Keep it short: the next batch waits
    /// for it. If it panics, the batch's requests get
    /// [`StoreError::HookPanicked`] (their rows are committed).
    ///
    /// # Panics
    /// If called outside a tokio runtime.
    #[must_use]
    pub fn spawn_with_hook<F>(store: Store, max_batch: usize, on_commit: F) -> WriterHandle
    where
        F: Fn(&[Inserted]) + Send + Sync + 'static,
    {
        Self::start(store, max_batch, Some(Arc::new(on_commit)))
    }

    fn start(store: Store, max_batch: usize, on_commit: Option<OnCommit>) -> WriterHandle {
        let max_batch = max_batch.max(1);
        let (tx, rx) = mpsc::channel(max_batch.saturating_mul(2));
        let task = Task { store, on_commit };
        tokio::spawn(task.run(rx, max_batch));
        WriterHandle { tx }
    }
}

/// Submits reports to the writer task. Cheap to clone; the task ends when
/// every clone is dropped.
#[derive(Clone)]
pub struct WriterHandle {
    tx: mpsc::Sender<Request>,
}

impl std::fmt::Debug for WriterHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WriterHandle")
            .field("closed", &self.tx.is_closed())
            .finish()
    }
}

impl WriterHandle {
    /// Queues one report and waits until its batch committed and the
    /// `on_commit` hook ran. Idempotent on `client_id`, as
    /// [`Store::insert_reports`].
    ///
    /// # Errors
    /// [`StoreError::Constraint`] if this row breaks the schema (nothing of
    /// it is written); [`StoreError::Io`] or [`StoreError::Database`] if its
    /// batch's transaction failed (nothing of the batch is written);
    /// [`StoreError::HookPanicked`] if committed but the hook panicked;
    /// [`StoreError::WriterClosed`] if the writer task is gone.
    pub async fn submit(&self, row: ReportRow) -> Result<Inserted, StoreError> {
        let (reply, answer) = oneshot::channel();
        self.tx
            .send(Request { row, reply })
            .await
            .map_err(|_| StoreError::WriterClosed)?;
        answer.await.map_err(|_| StoreError::WriterClosed)?
    }
}

struct Request {
    row: ReportRow,
    reply: oneshot::Sender<Result<Inserted, StoreError>>,
}

struct Task {
    store: Store,
    on_commit: Option<OnCommit>,
}

impl Task {
    async fn run(self, mut rx: mpsc::Receiver<Request>, max_batch: usize) {
        let mut pending = Vec::with_capacity(max_batch);
        // `recv_many` waits for one request, then takes all that are queued.
        while rx.recv_many(&mut pending, max_batch).await > 0 {
            // Let submitters that are ready to run queue their rows first,
            // for as long as each round of them brings more: a fuller batch
            // shares the fsync among more rows, and costs no wait when
            // nobody else is submitting.
            while pending.len() < max_batch {
                let before = pending.len();
                tokio::task::yield_now().await;
                while pending.len() < max_batch {
                    match rx.try_recv() {
                        Ok(request) => pending.push(request),
                        Err(_) => break,
                    }
                }
                if pending.len() == before {
                    break;
                }
            }
            let batch = std::mem::replace(&mut pending, Vec::with_capacity(max_batch));
            self.commit(batch).await;
        }
        tracing::debug!("store writer stopped: every handle dropped");
    }

    /// Commits `batch`, splitting it to isolate rows that break a constraint.
    async fn commit(&self, batch: Vec<Request>) {
        let mut groups = vec![batch];
        while let Some(group) = groups.pop() {
            let started = Instant::now();
            let rows: Vec<ReportRow> = group.iter().map(|r| r.row.clone()).collect();
            match self.store.insert_reports(rows).await {
                Ok(inserted) => {
                    tracing::debug!(
                        rows = group.len(),
                        elapsed_us = started.elapsed().as_micros(),
                        "store writer committed a batch"
                    );
                    self.answer(group, inserted);
                }
                Err(e @ StoreError::Constraint { .. }) if group.len() > 1 => {
                    tracing::debug!(rows = group.len(), error = %e, "batch refused, splitting it");
                    let mut left = group;
                    let right = left.split_off(left.len() / 2);
                    // Popped last-in first: the left half is tried first.
                    groups.push(right);
                    groups.push(left);
                }
                Err(e) => {
                    if e.is_constraint() {
                        tracing::debug!(error = %e, "report refused by the store");
                    } else {
                        tracing::error!(rows = group.len(), error = %e, "store writer batch failed");
                    }
                    for req in group {
                        // The submitter may have stopped waiting: nothing to do.
                        let _ = req.reply.send(Err(e.clone()));
                    }
                }
            }
        }
    }

    /// Runs the hook, then answers each request of a committed group.
    fn answer(&self, group: Vec<Request>, inserted: Vec<Inserted>) {
        let started = Instant::now();
        if let Some(hook) = &self.on_commit
            && catch_unwind(AssertUnwindSafe(|| hook(&inserted))).is_err()
        {
            tracing::error!(rows = group.len(), "on_commit hook panicked after a commit");
            for req in group {
                let _ = req.reply.send(Err(StoreError::HookPanicked));
            }
            return;
        }
        tracing::debug!(
            rows = group.len(),
            elapsed_us = started.elapsed().as_micros(),
            "store writer ran the hook"
        );
        for (req, outcome) in group.into_iter().zip(inserted) {
            let _ = req.reply.send(Ok(outcome));
        }
    }
}
