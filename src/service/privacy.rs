//! Erasing reporters' contacts: on request (one report, or every report of
//! one resident) and automatically after the retention period.
//!
//! What erasure removes: the contact (`reports.contact`) and its keyed
//! pseudonym (`reports.reporter`, and the reporter column of the in-memory
//! fact table), which would otherwise keep the report linkable to the
//! resident's other reports. The report itself stays, anonymous. Erasures
//! are recorded privately (when, why, which key; never the value) and not
//! in the public event log: erasures made at once for one resident would
//! link their reports publicly, so neither the timeline nor `updated_at`
//! changes. Nothing else holds contact data (see ARCHITECTURE.md:
//! responses, tiles, exports, snapshots, events and webhooks never carried
//! it).
//!
//! Statistics: an erased report counts as a reporter of its own, as one
//! filed without a contact. So k-anonymity can no longer tell that several
//! erased reports came from one person, and a cell of such reports may be
//! published where it was suppressed before; what it protected (that these
//! reports share a reporter) is exactly what is no longer known.

use std::sync::Arc;
use std::time::Duration;

use time::OffsetDateTime;

use super::{App, Caller, ServiceError, unix_ms};
use crate::model::{Action, ReportId, validate_contact};
use crate::store::{ContactRecord, Erased, Store, StoreError};

/// Reports erased per transaction by the retention purge (and per
/// transaction of a resident's erasure): each batch holds the writer for
/// one short transaction, so filings wait at most that long.
pub const ERASURE_BATCH: u32 = 500;
/// How often the service looks for contacts past their retention period.
pub const RETENTION_CHECK_EVERY: Duration = Duration::from_secs(3_600);
/// Pause between two purge batches, which lets queued filings commit.
const PURGE_PAUSE: Duration = Duration::from_millis(20);

/// What is known about a report's contact (never its value).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContactStatus {
    pub report_id: ReportId,
    /// Whether this call erased it (false: there was nothing to erase).
    pub erased_now: bool,
    pub record: ContactRecord,
}

/// Outcome of a purge of contacts past their retention period.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Purged {
    pub reports: u64,
    /// See [`Erased::log_truncated`].
    pub log_truncated: bool,
}

/// Erases, in batches of [`ERASURE_BATCH`], the contacts of reports filed
/// before `before_ms` (reason `retention`, at `now_ms`), calling `erased`
/// with the ids of each batch once committed; then truncates the write-ahead
/// log. Shared by the service's task and `civicmap privacy purge`.
///
/// # Errors
/// [`StoreError`] on a store failure (the batches committed before stay
/// erased).
pub async fn purge_contacts(
    store: &Store,
    before_ms: i64,
    now_ms: i64,
    mut erased: impl FnMut(&[i64]),
) -> Result<Purged, StoreError> {
    let mut total = 0_u64;
    loop {
        let ids = store
            .contacts_filed_before(before_ms, ERASURE_BATCH)
            .await?;
        if ids.is_empty() {
            break;
        }
        let Erased { ids: done, .. } = store
            .erase_contacts(&ids, now_ms, "retention", None, false)
            .await?;
        if done.is_empty() {
            // Nothing left to erase among them: do not spin.
            break;
        }
        erased(&done);
        total += done.len() as u64;
        tokio::time::sleep(PURGE_PAUSE).await;
    }
    let log_truncated = total == 0 || store.truncate_log().await?;
    Ok(Purged {
        reports: total,
        log_truncated,
    })
}

/// The filing time before which contacts are past a retention of `days`
/// at `now`.
#[must_use]
pub fn retention_cutoff_ms(now: OffsetDateTime, days: u32) -> i64 {
    unix_ms(now) - i64::from(days) * 86_400_000
}

impl App {
    /// Erases one report's contact and pseudonym (idempotent: a report
    /// without one is answered as it is).
    ///
    /// # Errors
    /// [`ServiceError::Forbidden`], [`ServiceError::NotFound`],
    /// [`ServiceError::Store`].
    pub async fn erase_report_contact(
        &self,
        caller: &Caller,
        id: ReportId,
    ) -> Result<ContactStatus, ServiceError> {
        Self::authorize(caller, Action::EraseContact)?;
        let now = unix_ms(OffsetDateTime::now_utc());
        if self.reports().get(id).is_none() {
            return Err(ServiceError::NotFound(format!("no report {id}")));
        }
        let erased = self
            .store
            .erase_contacts(&[id], now, "request", Some(&caller.name), true)
            .await?;
        self.forget_reporters(&erased);
        let mut status = self.contact_status(caller, id).await?;
        status.erased_now = !erased.ids.is_empty();
        Ok(status)
    }

    /// Whether a report holds a contact, and its erasures.
    ///
    /// # Errors
    /// As [`App::erase_report_contact`].
    pub async fn contact_status(
        &self,
        caller: &Caller,
        id: ReportId,
    ) -> Result<ContactStatus, ServiceError> {
        Self::authorize(caller, Action::EraseContact)?;
        let record = self
            .store
            .contact_record(id)
            .await?
            .ok_or_else(|| ServiceError::NotFound(format!("no report {id}")))?;
        Ok(ContactStatus {
            report_id: id,
            erased_now: false,
            record,
        })
    }

    /// Erases a resident's contact from every report holding it (matched
    /// as statistics match reporters: e-mail case and phone punctuation do
    /// not matter); returns the reports erased now, by id. Idempotent: a
    /// second call finds none.
    ///
    /// # Errors
    /// [`ServiceError::Forbidden`], [`ServiceError::Invalid`] (`contact`:
    /// not an e-mail address or a phone number; the message never repeats
    /// it), [`ServiceError::Store`].
    pub async fn erase_resident_contacts(
        &self,
        caller: &Caller,
        contact: &str,
    ) -> Result<Vec<ReportId>, ServiceError> {
        Self::authorize(caller, Action::EraseResidentContacts)?;
        let contact = validate_contact(contact).map_err(|e| ServiceError::invalid("contact", e))?;
        let pseudonym = self.pseudonyms.pseudonym(contact.expose());
        let ids = self
            .store
            .reports_of_contact(contact.expose(), pseudonym)
            .await?;
        let now = unix_ms(OffsetDateTime::now_utc());
        let mut all = Vec::with_capacity(ids.len());
        let mut chunks = ids.chunks(ERASURE_BATCH as usize).peekable();
        while let Some(chunk) = chunks.next() {
            // The log is truncated once, after the last batch.
            let last = chunks.peek().is_none();
            let erased = self
                .store
                .erase_contacts(chunk, now, "request", Some(&caller.name), last)
                .await?;
            self.forget_reporters(&erased);
            all.extend(erased.ids);
        }
        Ok(all)
    }

    /// Erases the contacts past the retention period at `now`
    /// (`Config::contact_retention_days`; 0: kept, nothing done).
    ///
    /// # Errors
    /// [`ServiceError::Store`].
    pub async fn purge_expired_contacts(
        &self,
        now: OffsetDateTime,
    ) -> Result<Purged, ServiceError> {
        let days = self.config.contact_retention_days;
        if days == 0 {
            return Ok(Purged {
                reports: 0,
                log_truncated: true,
            });
        }
        let before = retention_cutoff_ms(now, days);
        Ok(purge_contacts(&self.store, before, unix_ms(now), |ids| {
            self.forget_reporter_ids(ids);
        })
        .await?)
    }

    fn forget_reporters(&self, erased: &Erased) {
        if !erased.log_truncated {
            tracing::warn!(
                "contacts erased, but a reader kept the write-ahead log from being truncated: \
                 the old bytes stay in it until the next complete checkpoint"
            );
        }
        self.forget_reporter_ids(&erased.ids);
    }

    /// Statistics forget the pseudonyms of these reports. (A report whose
    /// commit hook has not run yet when it is erased keeps its pseudonym in
    /// memory until the next start; the store has none.)
    fn forget_reporter_ids(&self, ids: &[i64]) {
        if ids.is_empty() {
            return;
        }
        let mut idx = self
            .reports
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        for id in ids {
            idx.forget_reporter(*id);
        }
    }
}

/// Starts the retention task: every [`RETENTION_CHECK_EVERY`] (the first
/// time at once), erases the contacts past the retention period. Ends with
/// the application. Nothing is started when retention is off (0 days).
pub fn spawn_retention(app: &Arc<App>) -> Option<tokio::task::JoinHandle<()>> {
    if app.config.contact_retention_days == 0 {
        return None;
    }
    let weak = Arc::downgrade(app);
    Some(tokio::spawn(async move {
        let mut every = tokio::time::interval(RETENTION_CHECK_EVERY);
        every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            every.tick().await;
            let Some(app) = weak.upgrade() else { return };
            match app.purge_expired_contacts(OffsetDateTime::now_utc()).await {
                Ok(p) if p.reports > 0 => tracing::info!(
                    reports = p.reports,
                    log_truncated = p.log_truncated,
                    "contacts past their retention period erased"
                ),
                Ok(_) => {}
                Err(e) => tracing::error!(error = %e, "contact retention purge failed"),
            }
        }
    }))
}
