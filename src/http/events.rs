//! `GET /api/v1/events`: Server-Sent Events of new reports, supports and
//! lifecycle changes as they commit, filtered by area, district, kind,
//! category or report, and resumable with `Last-Event-ID`.
//!
//! Each client first reads from the store's event log everything after its
//! cursor, then follows the live broadcast, dropping what it already sent;
//! a client too slow for the broadcast goes back to the log. So a client
//! never misses an event and never gets one twice, across reconnections.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::sse::{Event, KeepAlive, Sse};
use futures_util::Stream;
use serde::Deserialize;
use tokio::sync::broadcast;

use super::lifecycle::EventJson;
use super::reports::{bbox_param, parse_district};
use super::{ApiError, ApiQuery, AppState};
use crate::model::Kind;
use crate::service::{App, EventFilter, PublicEvent};

#[derive(Debug, Deserialize, Default, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct EventsQuery {
    pub bbox: Option<String>,
    pub district: Option<String>,
    pub kind: Option<String>,
    pub category: Option<String>,
    /// Follow one report.
    pub report: Option<String>,
    /// Resume after this event (as the `Last-Event-ID` header does).
    pub last_event_id: Option<String>,
}

fn cursor_of(headers: &HeaderMap, q: Option<&str>) -> Result<Option<i64>, ApiError> {
    let raw = match headers.get("last-event-id") {
        Some(v) => Some(
            v.to_str()
                .map_err(|_| ApiError::bad("Last-Event-ID", "must be an event id"))?
                .to_owned(),
        ),
        None => q.map(str::to_owned),
    };
    raw.map(|s| {
        s.trim()
            .parse::<i64>()
            .ok()
            .filter(|i| *i >= 0)
            .ok_or_else(|| ApiError::bad("Last-Event-ID", "must be a non-negative event id"))
    })
    .transpose()
}

struct Follow {
    app: Arc<App>,
    rx: broadcast::Receiver<Arc<PublicEvent>>,
    filter: EventFilter,
    /// Id of the last event handled (sent or filtered out).
    cursor: i64,
    /// Read from the log, not yet handled.
    pending: VecDeque<PublicEvent>,
    /// Whether the log was read up to the broadcast.
    live: bool,
}

impl Follow {
    /// The next event to send, or `None` when the service shuts down.
    async fn next(&mut self) -> Option<PublicEvent> {
        loop {
            while let Some(e) = self.pending.pop_front() {
                self.cursor = e.id;
                if self.filter.matches(&e) {
                    return Some(e);
                }
            }
            if !self.live {
                match self.app.events_after(self.cursor).await {
                    Ok(page) if page.is_empty() => self.live = true,
                    Ok(page) => self.pending.extend(page),
                    Err(e) => {
                        tracing::warn!(error = %e, "event stream could not read the log");
                        tokio::time::sleep(Duration::from_secs(1)).await;
                    }
                }
                continue;
            }
            match self.rx.recv().await {
                Ok(e) if e.id <= self.cursor => {}
                Ok(e) => self.pending.push_back((*e).clone()),
                Err(broadcast::error::RecvError::Lagged(_)) => self.live = false,
                Err(broadcast::error::RecvError::Closed) => return None,
            }
        }
    }
}

/// `GET /api/v1/events`.
#[utoipa::path(
    get,
    path = "/events",
    tag = "events",
    params(EventsQuery, ("Last-Event-ID" = Option<i64>, Header, description = "Resume after this event")),
    responses(
        (status = 200, description = "Server-sent events: one `EventJson` per `data:` line, its id as the event id", content_type = "text/event-stream", body = String),
        crate::http::openapi::Invalid,
        crate::http::openapi::TooMany,
        crate::http::openapi::Refusals
    )
)]
pub async fn stream(
    State(app): State<AppState>,
    axum::Extension(guard): axum::Extension<Arc<super::limits::Guard>>,
    headers: HeaderMap,
    ApiQuery(q): ApiQuery<EventsQuery>,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, ApiError> {
    let filter = EventFilter {
        bbox: q.bbox.as_deref().map(|b| bbox_param(&app, b)).transpose()?,
        district: q
            .district
            .as_deref()
            .map(|d| parse_district(&app, d))
            .transpose()?,
        kind: q
            .kind
            .as_deref()
            .map(|k| {
                k.parse::<Kind>()
                    .map_err(|e| ApiError::bad("kind", e.to_string()))
            })
            .transpose()?,
        categories: q
            .category
            .as_deref()
            .map(|c| app.category(c))
            .transpose()?
            .into_iter()
            .collect(),
        report: q
            .report
            .as_deref()
            .map(super::lifecycle::report_id)
            .transpose()?,
        ..EventFilter::default()
    };
    let cursor = cursor_of(&headers, q.last_event_id.as_deref())?;
    let (rx, _) = app.subscribe();
    // Without a cursor: from now on.
    let cursor = match cursor {
        Some(c) => c,
        None => app
            .store()
            .last_event_id()
            .await
            .map_err(crate::service::ServiceError::from)?,
    };
    let follow = Follow {
        app: Arc::clone(&app),
        rx,
        filter,
        cursor,
        pending: VecDeque::new(),
        live: false,
    };
    let events = futures_util::stream::unfold(follow, |mut f| async move {
        let e = f.next().await?;
        let json = EventJson::new(&f.app, &e);
        let event = Event::default()
            .id(e.id.to_string())
            .event(e.kind.clone())
            .json_data(&json)
            .unwrap_or_else(|_| Event::default().comment("unserialisable event"));
        Some((Ok(event), f))
    });
    // Bounded: a stream ends cleanly after its longest duration or when the
    // server drains; the client resumes with Last-Event-ID.
    let events = super::limits::until(
        events,
        guard.limits.events_max_duration,
        guard.drained(),
        || None,
    );
    Ok(Sse::new(events).keep_alive(KeepAlive::new().interval(Duration::from_secs(15))))
}
