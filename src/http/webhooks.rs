//! `/api/v1/webhooks` (agent or admin): webhooks a back office registers.
//! The signing secret is shown once, in the 201. Delivery and signature:
//! see `service::webhooks`.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};

use super::auth::Key;
use super::dto::{DistrictJson, rfc3339};
use super::lifecycle::EventJson;
use super::{ApiError, ApiJson, ApiPath, AppState};
use crate::model::Action;
use crate::service::{App, DeliveryOutcome, NewWebhook, PublicEvent, Webhook, WebhookArea};

/// Deliveries listed by `GET /api/v1/webhooks/{id}/deliveries`.
const DELIVERIES_LISTED: u32 = 100;

/// A delivery body: the event's public JSON, as the event stream sends it.
pub fn render(app: &App, e: &PublicEvent) -> Vec<u8> {
    // Strings and numbers only: serialising cannot fail.
    serde_json::to_vec(&EventJson::new(app, e)).unwrap_or_default()
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct DeliveryJson {
    pub event_id: i64,
    /// `delivered` or `failed` (every attempt failed; the webhook moved on).
    pub status: &'static str,
    /// HTTP status of the last attempt (absent: no answer).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub http_status: Option<u16>,
    pub attempts: u32,
    pub at: String,
    pub duration_ms: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl DeliveryJson {
    fn new(d: &DeliveryOutcome) -> Self {
        Self {
            event_id: d.event_id,
            status: if d.ok { "delivered" } else { "failed" },
            http_status: d.status,
            attempts: d.attempts,
            at: rfc3339(d.at),
            duration_ms: d.duration_ms,
            error: d.error.clone(),
        }
    }
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct WebhookJson {
    pub id: i64,
    pub name: String,
    pub description: String,
    pub url: String,
    /// `active`, `deleted` or `disabled` (too many failed events in a row).
    pub state: &'static str,
    /// `city`, `district`, `area` or `bbox`.
    pub perimeter: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub district: Option<DistrictJson>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub geometry: Option<serde_json::Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bbox: Option<[f64; 4]>,
    /// Category codes (empty: any).
    pub categories: Vec<String>,
    /// Event kinds (empty: any).
    pub kinds: Vec<String>,
    /// Id of the last event handled (delivered, failed or filtered out).
    pub cursor: i64,
    pub created_at: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub deleted_at: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub disabled_at: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub disabled_reason: Option<String>,
    /// Events in a row that failed every attempt.
    pub consecutive_failures: i64,
    /// Only in a single webhook's answer.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_delivery: Option<Option<DeliveryJson>>,
    /// The signing secret: only in the answer that created the webhook.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
}

impl WebhookJson {
    fn new(app: &App, w: &Webhook) -> Self {
        let (perimeter, district, geometry, bbox) = match &w.area {
            WebhookArea::City => ("city", None, None, None),
            WebhookArea::District(d) => ("district", DistrictJson::of(app, *d), None, None),
            WebhookArea::Area(_) => (
                "area",
                None,
                w.area_source
                    .as_deref()
                    .and_then(|g| serde_json::from_str(g).ok()),
                None,
            ),
            WebhookArea::Bbox(b) => (
                "bbox",
                None,
                None,
                Some([b.min_lon, b.min_lat, b.max_lon, b.max_lat]),
            ),
        };
        let state = match (w.deleted, w.disabled) {
            (Some(_), _) => "deleted",
            (None, Some(_)) => "disabled",
            (None, None) => "active",
        };
        Self {
            id: w.id,
            name: w.name.clone(),
            description: w.description.clone(),
            url: w.url.clone(),
            state,
            perimeter,
            district,
            geometry,
            bbox,
            categories: w
                .categories
                .iter()
                .map(|id| app.taxonomy.category(*id).code.clone())
                .collect(),
            kinds: w.kinds.clone(),
            cursor: w.cursor,
            created_at: rfc3339(w.created),
            deleted_at: w.deleted.map(rfc3339),
            disabled_at: w.disabled.map(rfc3339),
            disabled_reason: w.disabled_reason.clone(),
            consecutive_failures: w.failures,
            last_delivery: None,
            secret: None,
        }
    }
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewWebhookBody {
    pub url: String,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub description: Option<String>,
    /// Public id of a district, e.g. `arrondissement:75111`.
    #[serde(default)]
    pub district: Option<String>,
    /// A GeoJSON Polygon or MultiPolygon.
    #[serde(default)]
    pub area: Option<serde_json::Value>,
    /// `[minlon, minlat, maxlon, maxlat]`.
    #[serde(default)]
    pub bbox: Option<Vec<f64>>,
    #[serde(default)]
    pub categories: Vec<String>,
    /// Event kinds: created, status, note, support, duplicate, photo.
    #[serde(default)]
    pub kinds: Option<Vec<String>>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct WebhooksJson {
    pub items: Vec<WebhookJson>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct DeliveriesJson {
    pub webhook_id: i64,
    /// Newest first.
    pub items: Vec<DeliveryJson>,
}

fn webhook_id(s: &str) -> Result<i64, ApiError> {
    s.parse::<i64>()
        .ok()
        .filter(|i| *i > 0)
        .ok_or_else(|| ApiError::bad("id", "webhook id must be a positive integer"))
}

/// `POST /api/v1/webhooks`: 201 with the secret, shown once.
#[utoipa::path(
    post,
    path = "/webhooks",
    tag = "webhooks",
    request_body = NewWebhookBody,
    security(("bearer" = []), ("api_key" = [])),
    responses(
        (status = 201, description = "The webhook, with its signing secret shown this once", body = WebhookJson),
        crate::http::openapi::KeyRefusals,
        crate::http::openapi::BodyRefusals,
        crate::http::openapi::Refusals
    )
)]
pub async fn create(
    key: Key,
    State(app): State<AppState>,
    ApiJson(b): ApiJson<NewWebhookBody>,
) -> Result<(StatusCode, Json<WebhookJson>), ApiError> {
    let caller = key.may(Action::ManageWebhooks)?;
    let input = NewWebhook {
        url: b.url,
        name: b.name,
        description: b.description,
        district: b.district,
        area: b.area,
        bbox: b.bbox,
        categories: b.categories,
        kinds: b.kinds,
    };
    let (w, secret) = app.create_webhook(caller, input).await?;
    let mut json = WebhookJson::new(&app, &w);
    json.secret = Some(secret);
    Ok((StatusCode::CREATED, Json(json)))
}

/// `GET /api/v1/webhooks`: an admin sees all, an agent its key's.
#[utoipa::path(
    get,
    path = "/webhooks",
    tag = "webhooks",
    security(("bearer" = []), ("api_key" = [])),
    responses(
        (status = 200, description = "The webhooks", body = WebhooksJson),
        crate::http::openapi::KeyRefusals,
        crate::http::openapi::Refusals
    )
)]
pub async fn list(key: Key, State(app): State<AppState>) -> Result<Json<WebhooksJson>, ApiError> {
    let caller = key.may(Action::ManageWebhooks)?;
    let items = app
        .list_webhooks(caller)
        .await?
        .iter()
        .map(|w| WebhookJson::new(&app, w))
        .collect();
    Ok(Json(WebhooksJson { items }))
}

/// `GET /api/v1/webhooks/{id}`, with its last delivery.
#[utoipa::path(
    get,
    path = "/webhooks/{id}",
    tag = "webhooks",
    params(("id" = i64, Path, description = "Webhook id", minimum = 1)),
    security(("bearer" = []), ("api_key" = [])),
    responses(
        (status = 200, description = "The webhook", body = WebhookJson),
        crate::http::openapi::KeyRefusals,
        crate::http::openapi::NotFound,
        crate::http::openapi::Refusals
    )
)]
pub async fn one(
    key: Key,
    State(app): State<AppState>,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<WebhookJson>, ApiError> {
    let caller = key.may(Action::ManageWebhooks)?;
    let (w, last) = app.webhook(caller, webhook_id(&id)?, 1).await?;
    let mut json = WebhookJson::new(&app, &w);
    json.last_delivery = Some(last.first().map(DeliveryJson::new));
    Ok(Json(json))
}

/// `GET /api/v1/webhooks/{id}/deliveries`: the last deliveries, newest
/// first.
#[utoipa::path(
    get,
    path = "/webhooks/{id}/deliveries",
    tag = "webhooks",
    params(("id" = i64, Path, description = "Webhook id", minimum = 1)),
    security(("bearer" = []), ("api_key" = [])),
    responses(
        (status = 200, description = "The latest deliveries and their outcomes", body = DeliveriesJson),
        crate::http::openapi::KeyRefusals,
        crate::http::openapi::NotFound,
        crate::http::openapi::Refusals
    )
)]
pub async fn deliveries(
    key: Key,
    State(app): State<AppState>,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<DeliveriesJson>, ApiError> {
    let caller = key.may(Action::ManageWebhooks)?;
    let (w, log) = app
        .webhook(caller, webhook_id(&id)?, DELIVERIES_LISTED)
        .await?;
    Ok(Json(DeliveriesJson {
        webhook_id: w.id,
        items: log.iter().map(DeliveryJson::new).collect(),
    }))
}

/// `POST /api/v1/webhooks/{id}/enable`: delivers again with a webhook
/// disabled after failed events, from where it stopped.
#[utoipa::path(
    post,
    path = "/webhooks/{id}/enable",
    tag = "webhooks",
    params(("id" = i64, Path, description = "Webhook id", minimum = 1)),
    security(("bearer" = []), ("api_key" = [])),
    responses(
        (status = 200, description = "The webhook, delivering again", body = WebhookJson),
        crate::http::openapi::KeyRefusals,
        crate::http::openapi::NotFound,
        crate::http::openapi::Refusals
    )
)]
pub async fn enable(
    key: Key,
    State(app): State<AppState>,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<WebhookJson>, ApiError> {
    let caller = key.may(Action::ManageWebhooks)?;
    let w = app.enable_webhook(caller, webhook_id(&id)?).await?;
    Ok(Json(WebhookJson::new(&app, &w)))
}

/// `DELETE /api/v1/webhooks/{id}`: deactivates it (it stays listed); no
/// delivery starts after the 204.
#[utoipa::path(
    delete,
    path = "/webhooks/{id}",
    tag = "webhooks",
    params(("id" = i64, Path, description = "Webhook id", minimum = 1)),
    security(("bearer" = []), ("api_key" = [])),
    responses(
        (status = 204, description = "Deleted"),
        crate::http::openapi::KeyRefusals,
        crate::http::openapi::NotFound,
        crate::http::openapi::Refusals
    )
)]
pub async fn delete(
    key: Key,
    State(app): State<AppState>,
    ApiPath(id): ApiPath<String>,
) -> Result<StatusCode, ApiError> {
    let caller = key.may(Action::ManageWebhooks)?;
    app.delete_webhook(caller, webhook_id(&id)?).await?;
    Ok(StatusCode::NO_CONTENT)
}
