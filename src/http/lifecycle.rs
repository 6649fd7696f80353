//! The report lifecycle over HTTP: status changes, notes, duplicates,
//! supports and the public timeline.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};

use super::auth::Key;
use super::dto::rfc3339;
use super::{ApiError, ApiJson, ApiPath, AppState};
use crate::model::{Action, ReportId};
use crate::service::PublicEvent;
use crate::spatial::h3_hex;

/// Parses a report id path segment.
pub fn report_id(s: &str) -> Result<ReportId, ApiError> {
    s.parse::<ReportId>()
        .ok()
        .filter(|i| *i > 0)
        .ok_or_else(|| ApiError::bad("id", "report id must be a positive integer"))
}

/// One entry of a timeline or of the event stream.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct EventJson {
    pub id: i64,
    /// `created`, `status`, `note`, `support`, `duplicate` or `photo`.
    #[serde(rename = "type")]
    pub kind: String,
    pub at: String,
    pub report_id: ReportId,
    /// The report's status after this event.
    pub status: &'static str,
    pub open: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    /// The API key's name (a service, never a person).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub by: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub duplicate_of: Option<ReportId>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub photo_url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub report: Option<EventReportJson>,
}

/// Where and what the report of an event is (for live maps).
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct EventReportJson {
    pub kind: &'static str,
    pub category: String,
    pub lon: f64,
    pub lat: f64,
    pub h3: String,
    pub supports: u32,
}

impl EventJson {
    pub fn new(app: &crate::service::App, e: &PublicEvent) -> Self {
        Self {
            id: e.id,
            kind: e.kind.clone(),
            at: rfc3339(e.at),
            report_id: e.report_id,
            status: e.status.as_str(),
            open: e.status.is_open(),
            note: e.note.clone(),
            by: e.author.clone(),
            duplicate_of: e.duplicate_of,
            photo_url: e.photo.as_ref().map(|p| format!("/photos/{p}")),
            report: e.report.map(|s| EventReportJson {
                kind: s.kind.as_str(),
                category: app.taxonomy.category(s.category).code.clone(),
                lon: s.location.lon(),
                lat: s.location.lat(),
                h3: h3_hex(s.h3),
                supports: e.supports,
            }),
        }
    }
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct HistoryJson {
    pub report_id: ReportId,
    pub status: &'static str,
    pub supports: u32,
    pub events: Vec<EventJson>,
}

/// `GET /api/v1/reports/{id}/history`: the public timeline, oldest first.
#[utoipa::path(
    get,
    path = "/reports/{id}/history",
    tag = "lifecycle",
    params(("id" = i64, Path, description = "Report id", minimum = 1)),
    responses(
        (status = 200, description = "The report's public timeline, oldest first", body = HistoryJson),
        crate::http::openapi::NotFound,
        crate::http::openapi::Refusals
    )
)]
pub async fn history(
    State(app): State<AppState>,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<HistoryJson>, ApiError> {
    let id = report_id(&id)?;
    let events = app
        .history(id)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("no report {id}")))?;
    let status = app.reports().get(id).map_or("new", |s| s.status.as_str());
    Ok(Json(HistoryJson {
        report_id: id,
        status,
        supports: app.supports(id),
        events: events.iter().map(|e| EventJson::new(&app, e)).collect(),
    }))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StatusBody {
    pub status: String,
    #[serde(default)]
    pub note: Option<String>,
}

/// `POST /api/v1/reports/{id}/status` (agent): moves the report on.
#[utoipa::path(
    post,
    path = "/reports/{id}/status",
    tag = "lifecycle",
    params(("id" = i64, Path, description = "Report id", minimum = 1)),
    request_body = StatusBody,
    security(("bearer" = []), ("api_key" = [])),
    responses(
        (status = 200, description = "The status change", body = EventJson),
        crate::http::openapi::KeyRefusals,
        crate::http::openapi::NotFound,
        crate::http::openapi::Conflict,
        crate::http::openapi::BodyRefusals,
        crate::http::openapi::Refusals
    )
)]
pub async fn change_status(
    key: Key,
    State(app): State<AppState>,
    ApiPath(id): ApiPath<String>,
    ApiJson(body): ApiJson<StatusBody>,
) -> Result<Json<EventJson>, ApiError> {
    let caller = key.may(Action::ChangeStatus)?;
    let id = report_id(&id)?;
    let (caller, change) = (caller.clone(), Arc::clone(&app));
    let e = super::to_completion(async move {
        change
            .change_status(&caller, id, &body.status, body.note)
            .await
    })
    .await?;
    Ok(Json(EventJson::new(&app, &e)))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NoteBody {
    pub note: String,
}

/// `POST /api/v1/reports/{id}/notes` (agent): a public answer.
#[utoipa::path(
    post,
    path = "/reports/{id}/notes",
    tag = "lifecycle",
    params(("id" = i64, Path, description = "Report id", minimum = 1)),
    request_body = NoteBody,
    security(("bearer" = []), ("api_key" = [])),
    responses(
        (status = 201, description = "The note, public in the timeline", body = EventJson),
        crate::http::openapi::KeyRefusals,
        crate::http::openapi::NotFound,
        crate::http::openapi::Conflict,
        crate::http::openapi::BodyRefusals,
        crate::http::openapi::Refusals
    )
)]
pub async fn add_note(
    key: Key,
    State(app): State<AppState>,
    ApiPath(id): ApiPath<String>,
    ApiJson(body): ApiJson<NoteBody>,
) -> Result<(StatusCode, Json<EventJson>), ApiError> {
    let caller = key.may(Action::AddNote)?;
    let id = report_id(&id)?;
    let (caller, change) = (caller.clone(), Arc::clone(&app));
    let e =
        super::to_completion(async move { change.add_note(&caller, id, Some(body.note)).await })
            .await?;
    Ok((StatusCode::CREATED, Json(EventJson::new(&app, &e))))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DuplicateBody {
    pub duplicate_of: i64,
    #[serde(default)]
    pub note: Option<String>,
}

/// `POST /api/v1/reports/{id}/duplicate` (agent).
#[utoipa::path(
    post,
    path = "/reports/{id}/duplicate",
    tag = "lifecycle",
    params(("id" = i64, Path, description = "Report id", minimum = 1)),
    request_body = DuplicateBody,
    security(("bearer" = []), ("api_key" = [])),
    responses(
        (status = 200, description = "The report, closed as a duplicate", body = EventJson),
        crate::http::openapi::KeyRefusals,
        crate::http::openapi::NotFound,
        crate::http::openapi::Conflict,
        crate::http::openapi::BodyRefusals,
        crate::http::openapi::Refusals
    )
)]
pub async fn mark_duplicate(
    key: Key,
    State(app): State<AppState>,
    ApiPath(id): ApiPath<String>,
    ApiJson(body): ApiJson<DuplicateBody>,
) -> Result<Json<EventJson>, ApiError> {
    let caller = key.may(Action::MarkDuplicate)?;
    let id = report_id(&id)?;
    let (caller, change) = (caller.clone(), Arc::clone(&app));
    let e = super::to_completion(async move {
        change
            .mark_duplicate(&caller, id, body.duplicate_of, body.note)
            .await
    })
    .await?;
    Ok(Json(EventJson::new(&app, &e)))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SupportBody {
    pub client_id: String,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct SupportJson {
    pub report_id: ReportId,
    pub supports: u32,
    /// False when this client id had already supported the report.
    pub counted: bool,
}

/// `POST /api/v1/reports/{id}/supports` (app): "me too", once per client id.
#[utoipa::path(
    post,
    path = "/reports/{id}/supports",
    tag = "lifecycle",
    params(("id" = i64, Path, description = "Report id", minimum = 1)),
    request_body = SupportBody,
    security(("bearer" = []), ("api_key" = [])),
    responses(
        (status = 201, description = "A new support", body = SupportJson),
        (status = 200, description = "This client already supports the report", body = SupportJson),
        crate::http::openapi::KeyRefusals,
        crate::http::openapi::NotFound,
        crate::http::openapi::Conflict,
        crate::http::openapi::BodyRefusals,
        crate::http::openapi::Refusals
    )
)]
pub async fn support(
    key: Key,
    State(app): State<AppState>,
    ApiPath(id): ApiPath<String>,
    ApiJson(body): ApiJson<SupportBody>,
) -> Result<(StatusCode, Json<SupportJson>), ApiError> {
    let caller = key.may(Action::Support)?;
    let id = report_id(&id)?;
    let (caller, change) = (caller.clone(), Arc::clone(&app));
    let (supports, counted) =
        super::to_completion(async move { change.support(&caller, id, &body.client_id).await })
            .await?;
    let status = if counted {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((
        status,
        Json(SupportJson {
            report_id: id,
            supports,
            counted,
        }),
    ))
}
