//! What the Open311 edge (`http::open311`) asks of the application beyond
//! the JSON API's operations: selecting reports the GeoReport v2 way (any of
//! several services, open or closed, by update time), reading a page of
//! reports with their state and timelines at once, the updates of a time
//! window, and applying a mySociety update as a status change or a note.

use std::collections::HashMap;

use time::OffsetDateTime;

use super::{App, Caller, PublicEvent, ReportState, ServiceError, unix_ms};
use crate::model::{Action, CategoryId, Report, ReportId};
use crate::open311::{RequestFilter, RequestStatus, UpdateStatus, status_for_update};
use crate::spatial::{ReportFilter, ReportSummary};

/// The event kinds that are updates of a request by the city (mySociety's
/// service request updates): changes of state, duplicates and notes. Not
/// `created` (the request itself), `support` (residents) or `photo`.
pub const OPEN311_UPDATE_KINDS: [&str; 3] = ["status", "duplicate", "note"];

/// A stored report with what changed about it since it was filed.
#[derive(Debug, Clone)]
pub struct RequestRecord {
    pub report: Report,
    pub state: ReportState,
    /// Residents' supports ("me too").
    pub supports: u32,
}

impl RequestRecord {
    /// When the request last changed: its creation, or its last change of
    /// state, note or support.
    #[must_use]
    pub fn updated(&self) -> OffsetDateTime {
        self.state.updated_at(self.report.created_at)
    }
}

/// The update time of an index summary, as [`RequestRecord::updated`] in ms.
fn updated_ms(app: &App, s: &ReportSummary) -> i64 {
    s.created_ms.max(app.lifecycle.state(s.id).updated_ms)
}

impl App {
    /// The category whose code is exactly `code` (not its label).
    #[must_use]
    pub fn service_category(&self, code: &str) -> Option<CategoryId> {
        self.taxonomy
            .category_id(code)
            .ok()
            .filter(|id| self.taxonomy.category(*id).code == code)
    }

    /// The ids of the reports matching an Open311 filter, newest first,
    /// skipping `offset`, at most `limit`.
    ///
    /// # Errors
    /// [`ServiceError::Invalid`] naming `service_code` for a code that is no
    /// service.
    pub fn select_requests(
        &self,
        f: &RequestFilter,
        offset: u64,
        limit: u32,
    ) -> Result<Vec<ReportId>, ServiceError> {
        let categories = f
            .service_codes
            .iter()
            .map(|c| {
                self.service_category(c)
                    .ok_or_else(|| ServiceError::invalid("service_code", format!("no service {c}")))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let mut filter = ReportFilter {
            bbox: f.bbox,
            ..ReportFilter::default()
        };
        if let [one] = categories[..] {
            filter.category = Some(one);
        }
        if let Some(w) = f.requested {
            filter.from_ms = Some(unix_ms(w.start));
            // The window's end is inclusive, the filter's is not.
            filter.to_ms = Some(unix_ms(w.end).saturating_add(1));
        }
        let by_update = f.updated_after.is_some() || f.updated_before.is_some();
        let (after, before) = (
            f.updated_after.map_or(i64::MIN, unix_ms),
            f.updated_before.map_or(i64::MAX, unix_ms),
        );
        let skip = usize::try_from(offset).unwrap_or(usize::MAX);
        let take = usize::try_from(limit).unwrap_or(usize::MAX);
        // Summaries first, then the state map: never both locks at once.
        let summaries: Vec<ReportSummary> = {
            let idx = self.reports();
            let page = idx.page(&filter, None, idx.len());
            page.ids
                .iter()
                .filter_map(|id| idx.get(*id))
                .filter(|s| categories.len() < 2 || categories.contains(&s.category))
                .filter(|s| {
                    f.status
                        .is_none_or(|st| (st == RequestStatus::Open) == s.status.is_open())
                })
                .collect()
        };
        Ok(summaries
            .iter()
            .filter(|s| {
                !by_update || {
                    let u = updated_ms(self, s);
                    after <= u && u <= before
                }
            })
            .skip(skip)
            .take(take)
            .map(|s| s.id)
            .collect())
    }

    /// These reports with their state, in the order given; unknown ids are
    /// left out.
    ///
    /// # Errors
    /// [`ServiceError::Store`] if the store cannot be read.
    pub async fn requests_by_ids(
        &self,
        ids: &[ReportId],
    ) -> Result<Vec<RequestRecord>, ServiceError> {
        let rows = self.store.reports_by_ids(ids).await?;
        let codec = self.codec();
        rows.iter()
            .map(|row| {
                Ok(RequestRecord {
                    report: codec.report_from_row(row)?,
                    state: self.lifecycle.state(row.id),
                    supports: self.supports(row.id),
                })
            })
            .collect()
    }

    /// The public timelines of these reports, oldest event first: changes of
    /// state, duplicates and notes, and the filing itself (supports and
    /// photos are left out).
    ///
    /// # Errors
    /// [`ServiceError::Store`] if the store cannot be read.
    pub async fn request_timelines(
        &self,
        ids: &[ReportId],
    ) -> Result<HashMap<ReportId, Vec<PublicEvent>>, ServiceError> {
        let rows = self.store.events_of_reports(ids).await?;
        let mut out: HashMap<ReportId, Vec<PublicEvent>> = HashMap::new();
        for e in rows
            .iter()
            .filter(|e| e.kind == "created" || OPEN311_UPDATE_KINDS.contains(&e.kind.as_str()))
        {
            out.entry(e.report_id)
                .or_default()
                .push(self.public_event(e, None, 0));
        }
        Ok(out)
    }

    /// The updates ([`OPEN311_UPDATE_KINDS`]) made between `start` and `end`
    /// (both included), oldest first, skipping `offset`, at most `limit`.
    ///
    /// # Errors
    /// [`ServiceError::Store`] if the store cannot be read.
    pub async fn request_updates(
        &self,
        start: OffsetDateTime,
        end: OffsetDateTime,
        offset: u64,
        limit: u32,
    ) -> Result<Vec<PublicEvent>, ServiceError> {
        let rows = self
            .store
            .events_between(
                unix_ms(start),
                unix_ms(end),
                &OPEN311_UPDATE_KINDS,
                offset,
                limit,
            )
            .await?;
        Ok(rows.iter().map(|e| self.public_event(e, None, 0)).collect())
    }

    /// Applies a mySociety update (`POST servicerequestupdates`) from a city
    /// service: the state [`status_for_update`] proposes, with the
    /// description as its public note, or the description alone as a note
    /// when the state stays.
    ///
    /// Returns the id of the event that records the update. A retry is
    /// recognised: when the state stays and the report's latest event is by
    /// the same key, in this state and with this note, that event's id is
    /// returned and nothing is written.
    ///
    /// # Errors
    /// [`ServiceError::Forbidden`] unless the caller may change statuses,
    /// [`ServiceError::NotFound`], [`ServiceError::Conflict`] for a change
    /// outside the workflow, [`ServiceError::Invalid`] naming `note` (a
    /// rejection without a reason, a note too long) or `description` (an
    /// update that would record nothing).
    pub async fn apply_request_update(
        &self,
        caller: &Caller,
        id: ReportId,
        update: UpdateStatus,
        description: &str,
    ) -> Result<i64, ServiceError> {
        Self::authorize(caller, Action::ChangeStatus)?;
        let Some(current) = self.reports().get(id).map(|s| s.status) else {
            return Err(ServiceError::NotFound(format!("no request {id}")));
        };
        let target = status_for_update(current, update);
        let note = Some(description.trim())
            .filter(|d| !d.is_empty())
            .map(str::to_owned);
        if target != current {
            return self
                .change_status(caller, id, target.as_str(), note)
                .await
                .map(|e| e.id);
        }
        let latest = self.store.events_of_reports(&[id]).await?.pop();
        if let Some(e) = latest.filter(|e| {
            e.author.as_deref() == Some(caller.name.as_str())
                && e.note == note
                && e.status == current.as_str()
                && (e.kind == "status" || (note.is_some() && e.kind == "note"))
        }) {
            return Ok(e.id);
        }
        if note.is_none() {
            return Err(ServiceError::invalid(
                "description",
                format!(
                    "request {id} is already {current} ({}) and the description is empty: \
                     nothing to record",
                    update.as_str()
                ),
            ));
        }
        self.add_note(caller, id, note).await.map(|e| e.id)
    }
}
