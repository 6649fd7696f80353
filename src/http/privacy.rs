//! Erasing reporters' contacts over HTTP: one report's
//! (`/reports/{id}/contact`, agent or admin) or a resident's
//! (`/privacy/erasure`, admin). The contact to erase travels in a JSON
//! body, never in a URL: URLs are logged.

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
#[derive(Debug, Serialize)]
pub struct ErasureJson {
    pub at: String,
    /// `request` or `retention`.
    pub reason: String,
    /// The key's name, for a request.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub by: Option<String>,
}

#[derive(Debug, Serialize)]
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
pub async fn contact(
    key: Key,
    State(app): State<AppState>,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<ContactJson>, ApiError> {
    answer(&key, &app, &id, false).await
}

/// `DELETE /api/v1/reports/{id}/contact` (agent, admin): erases it; 200
/// also when there was nothing left to erase (`"erased": false`).
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
        let s = app.erase_report_contact(caller, id).await?;
        let erased = s.erased_now;
        ContactJson::new(s, Some(erased))
    } else {
        ContactJson::new(app.contact_status(caller, id).await?, None)
    }))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ErasureBody {
    pub contact: String,
}

#[derive(Debug, Serialize)]
pub struct ErasureAnswer {
    /// Reports whose contact was erased by this request.
    pub erased: usize,
    pub report_ids: Vec<ReportId>,
}

/// `POST /api/v1/privacy/erasure` (admin): `{"contact"}` is erased from
/// every report holding it.
pub async fn erase_resident(
    key: Key,
    State(app): State<AppState>,
    ApiJson(body): ApiJson<ErasureBody>,
) -> Result<Json<ErasureAnswer>, ApiError> {
    let caller = key.may(Action::EraseResidentContacts)?;
    let ids = app.erase_resident_contacts(caller, &body.contact).await?;
    Ok(Json(ErasureAnswer {
        erased: ids.len(),
        report_ids: ids,
    }))
}
