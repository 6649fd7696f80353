//! Erasing reporters' contacts over HTTP: one report's
//! (`/reports/{id}/contact`, agent or admin) or a resident's
//! (`/privacy/erasure`, admin). The contact to erase travels in a JSON
//! body, never in a URL: URLs are logged.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use serde::{Deserialize, Serialize};

use super::auth::Key;
use super::dto::rfc3339;
use super::lifecycle::report_id;
use super::{ApiError, ApiJson, ApiPath, AppState};
use crate::model::{Action, ReportId};
use crate::service::from_unix_ms;
use crate::service::privacy::ContactStatus;

/// One recorded erasure (never the value).
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ErasureJson {
    pub at: String,
    /// `request` or `retention`.
    pub reason: String,
    /// The key's name, for a request.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub by: Option<String>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ContactJson {
    pub report_id: ReportId,
    /// Whether the store still holds a contact for the report.
    pub contact_held: bool,
    /// Whether this request erased it (absent on a GET).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub erased: Option<bool>,
    pub erasures: Vec<ErasureJson>,
}

impl ContactJson {
    fn new(s: ContactStatus, erased: Option<bool>) -> Self {
        Self {
            report_id: s.report_id,
            contact_held: s.record.held,
            erased,
            erasures: s
                .record
                .erasures
                .into_iter()
                .map(|e| ErasureJson {
                    at: from_unix_ms(e.at_ms).map(rfc3339).unwrap_or_default(),
                    reason: e.reason,
                    by: e.author,
                })
                .collect(),
        }
    }
}

/// `GET /api/v1/reports/{id}/contact` (agent, admin): whether a contact is
/// held and its erasures.
#[utoipa::path(
    get,
    path = "/reports/{id}/contact",
    tag = "privacy",
    params(("id" = i64, Path, description = "Report id", minimum = 1)),
    security(("bearer" = []), ("api_key" = [])),
    responses(
        (status = 200, description = "Whether a contact is held and its erasures, never the contact itself", body = ContactJson),
        crate::http::openapi::KeyRefusals,
        crate::http::openapi::NotFound,
        crate::http::openapi::Refusals
    )
)]
pub async fn contact(
    key: Key,
    State(app): State<AppState>,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<ContactJson>, ApiError> {
    answer(&key, &app, &id, false).await
}

/// `DELETE /api/v1/reports/{id}/contact` (agent, admin): erases it; 200
/// also when there was nothing left to erase (`"erased": false`).
#[utoipa::path(
    delete,
    path = "/reports/{id}/contact",
    tag = "privacy",
    params(("id" = i64, Path, description = "Report id", minimum = 1)),
    security(("bearer" = []), ("api_key" = [])),
    responses(
        (status = 200, description = "The contact is erased (idempotent); the report stays, anonymous", body = ContactJson),
        crate::http::openapi::KeyRefusals,
        crate::http::openapi::NotFound,
        crate::http::openapi::Refusals
    )
)]
pub async fn erase(
    key: Key,
    State(app): State<AppState>,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<ContactJson>, ApiError> {
    answer(&key, &app, &id, true).await
}

async fn answer(
    key: &Key,
    app: &AppState,
    id: &str,
    erase: bool,
) -> Result<Json<ContactJson>, ApiError> {
    let caller = key.may(Action::EraseContact)?;
    let id = report_id(id)?;
    Ok(Json(if erase {
        let (caller, change) = (caller.clone(), Arc::clone(app));
        let s = super::to_completion(async move { change.erase_report_contact(&caller, id).await })
            .await?;
        let erased = s.erased_now;
        ContactJson::new(s, Some(erased))
    } else {
        ContactJson::new(app.contact_status(caller, id).await?, None)
    }))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ErasureBody {
    pub contact: String,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ErasureAnswer {
    /// Reports whose contact was erased by this request.
    pub erased: usize,
    pub report_ids: Vec<ReportId>,
}

/// `POST /api/v1/privacy/erasure` (admin): `{"contact"}` is erased from
/// every report holding it.
#[utoipa::path(
    post,
    path = "/privacy/erasure",
    tag = "privacy",
    request_body = ErasureBody,
    security(("bearer" = []), ("api_key" = [])),
    responses(
        (status = 200, description = "Every report filed with this contact is now anonymous", body = ErasureAnswer),
        crate::http::openapi::KeyRefusals,
        crate::http::openapi::BodyRefusals,
        crate::http::openapi::Refusals
    )
)]
pub async fn erase_resident(
    key: Key,
    State(app): State<AppState>,
    ApiJson(body): ApiJson<ErasureBody>,
) -> Result<Json<ErasureAnswer>, ApiError> {
    let caller = key.may(Action::EraseResidentContacts)?;
    let (caller, change) = (caller.clone(), Arc::clone(&app));
    let ids = super::to_completion(async move {
        change.erase_resident_contacts(&caller, &body.contact).await
    })
    .await?;
    Ok(Json(ErasureAnswer {
        erased: ids.len(),
        report_ids: ids,
    }))
}
