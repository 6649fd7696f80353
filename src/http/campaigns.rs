//! `/api/v1/campaigns`: questions the city asks residents for a while.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};

use super::auth::Key;
use super::dto::{DistrictJson, rfc3339};
use super::reports::parse_instant;
use super::{ApiError, ApiJson, ApiPath, ApiQuery, AppState};
use crate::model::Action;
use crate::service::{App, Campaign, DEFAULT_NEAR_M, NewCampaign, Perimeter, from_unix_ms};

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct CampaignJson {
    pub id: i64,
    pub slug: String,
    pub title: String,
    pub question: String,
    /// Category codes a contribution may take (empty: any).
    pub categories: Vec<String>,
    pub starts_at: String,
    pub ends_at: String,
    pub open: bool,
    /// `city`, `district` or `area`.
    pub perimeter: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub district: Option<DistrictJson>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub geometry: Option<serde_json::Value>,
    /// Metres from the point asked about to the perimeter.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub distance_m: Option<f64>,
    /// Where to see the contributions.
    pub reports_url: String,
}

impl CampaignJson {
    pub fn new(app: &App, c: &Campaign, distance_m: Option<f64>) -> Self {
        let (perimeter, district, geometry) = match &c.perimeter {
            Perimeter::City => ("city", None, None),
            Perimeter::District(d) => ("district", DistrictJson::of(app, *d), None),
            Perimeter::Area(_) => (
                "area",
                None,
                c.perimeter_source
                    .as_deref()
                    .and_then(|g| serde_json::from_str(g).ok()),
            ),
        };
        Self {
            id: c.id,
            slug: c.slug.clone(),
            title: c.title.clone(),
            question: c.question.clone(),
            categories: c
                .categories
                .iter()
                .map(|id| app.taxonomy.category(*id).code.clone())
                .collect(),
            starts_at: rfc3339(c.starts),
            ends_at: rfc3339(c.ends),
            open: c.is_open_at(time::OffsetDateTime::now_utc()),
            perimeter,
            district,
            geometry,
            distance_m: distance_m.map(|d| (d * 10.0).round() / 10.0),
            reports_url: format!("/api/v1/reports?campaign={}", c.slug),
        }
    }
}

#[derive(Debug, Deserialize, Default, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct NearQuery {
    pub lon: Option<String>,
    pub lat: Option<String>,
    /// Metres around the point (default 2,000, at most 50,000).
    pub within_m: Option<String>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct CampaignsJson {
    pub items: Vec<CampaignJson>,
}

fn number(field: &'static str, s: &str) -> Result<f64, ApiError> {
    s.trim()
        .parse::<f64>()
        .ok()
        .filter(|v| v.is_finite())
        .ok_or_else(|| ApiError::bad(field, format!("{field} must be a finite number")))
}

/// `GET /api/v1/campaigns?lon=&lat=&within_m=`: campaigns open now, nearest
/// first (all open ones without a point).
#[utoipa::path(
    get,
    path = "/campaigns",
    tag = "campaigns",
    params(NearQuery),
    responses(
        (status = 200, description = "Campaigns, open ones first", body = CampaignsJson),
        crate::http::openapi::Invalid,
        crate::http::openapi::Refusals
    )
)]
pub async fn list(
    State(app): State<AppState>,
    ApiQuery(q): ApiQuery<NearQuery>,
) -> Result<Json<CampaignsJson>, ApiError> {
    let near = match (q.lon.as_deref(), q.lat.as_deref()) {
        (Some(lon), Some(lat)) => {
            Some(app.check_position(number("lon", lon)?, number("lat", lat)?)?)
        }
        (None, None) => None,
        (Some(_), None) => return Err(ApiError::bad("lat", "lon was given without lat")),
        (None, Some(_)) => return Err(ApiError::bad("lon", "lat was given without lon")),
    };
    let within = match q.within_m.as_deref() {
        None => DEFAULT_NEAR_M,
        Some(s) => Some(number("within_m", s)?)
            .filter(|m| (0.0..=50_000.0).contains(m))
            .ok_or_else(|| ApiError::bad("within_m", "within_m must be from 0 to 50000"))?,
    };
    let items = app
        .open_campaigns(near, within)
        .iter()
        .map(|(c, d)| CampaignJson::new(&app, c, near.map(|_| *d)))
        .collect();
    Ok(Json(CampaignsJson { items }))
}

/// `GET /api/v1/campaigns/{id or slug}`, open or not.
#[utoipa::path(
    get,
    path = "/campaigns/{id}",
    tag = "campaigns",
    params(("id" = String, Path, description = "Campaign id or slug")),
    responses(
        (status = 200, description = "The campaign", body = CampaignJson),
        crate::http::openapi::NotFound,
        crate::http::openapi::Refusals
    )
)]
pub async fn one(
    State(app): State<AppState>,
    ApiPath(key): ApiPath<String>,
) -> Result<Json<CampaignJson>, ApiError> {
    let c = app
        .campaign(&key)
        .ok_or_else(|| ApiError::NotFound(format!("no campaign {key:?}")))?;
    Ok(Json(CampaignJson::new(&app, &c, None)))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewCampaignBody {
    pub slug: String,
    pub title: String,
    pub question: String,
    #[serde(default)]
    pub categories: Vec<String>,
    /// RFC 3339 or `YYYY-MM-DD`; default now.
    #[serde(default)]
    pub starts_at: Option<String>,
    pub ends_at: String,
    #[serde(default)]
    pub district: Option<String>,
    /// A GeoJSON Polygon or MultiPolygon.
    #[serde(default)]
    pub perimeter: Option<serde_json::Value>,
}

fn instant(field: &'static str, s: &str) -> Result<time::OffsetDateTime, ApiError> {
    let ms = parse_instant(field, s)?;
    from_unix_ms(ms).ok_or_else(|| ApiError::bad(field, "out of range"))
}

/// `POST /api/v1/campaigns` (admin).
#[utoipa::path(
    post,
    path = "/campaigns",
    tag = "campaigns",
    request_body = NewCampaignBody,
    security(("bearer" = []), ("api_key" = [])),
    responses(
        (status = 201, description = "The campaign, open", body = CampaignJson),
        crate::http::openapi::KeyRefusals,
        crate::http::openapi::Conflict,
        crate::http::openapi::BodyRefusals,
        crate::http::openapi::Refusals
    )
)]
pub async fn create(
    key: Key,
    State(app): State<AppState>,
    ApiJson(b): ApiJson<NewCampaignBody>,
) -> Result<(StatusCode, Json<CampaignJson>), ApiError> {
    let caller = key.may(Action::ManageCampaigns)?;
    let input = NewCampaign {
        slug: b.slug,
        title: b.title,
        question: b.question,
        categories: b.categories,
        starts: b
            .starts_at
            .as_deref()
            .map(|s| instant("starts_at", s))
            .transpose()?,
        ends: instant("ends_at", &b.ends_at)?,
        district: b.district,
        perimeter: b.perimeter,
    };
    let (caller, change) = (caller.clone(), Arc::clone(&app));
    let c =
        super::to_completion(async move { change.create_campaign(&caller, input).await }).await?;
    Ok((StatusCode::CREATED, Json(CampaignJson::new(&app, &c, None))))
}

/// `POST /api/v1/campaigns/{id or slug}/close` (admin): ends it now.
#[utoipa::path(
    post,
    path = "/campaigns/{id}/close",
    tag = "campaigns",
    params(("id" = String, Path, description = "Campaign id or slug")),
    security(("bearer" = []), ("api_key" = [])),
    responses(
        (status = 200, description = "The campaign, closed", body = CampaignJson),
        crate::http::openapi::KeyRefusals,
        crate::http::openapi::NotFound,
        crate::http::openapi::Conflict,
        crate::http::openapi::Refusals
    )
)]
pub async fn close(
    key: Key,
    State(app): State<AppState>,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<CampaignJson>, ApiError> {
    let caller = key.may(Action::ManageCampaigns)?;
    let (caller, change) = (caller.clone(), Arc::clone(&app));
    let c = super::to_completion(async move { change.close_campaign(&caller, &id).await }).await?;
    Ok(Json(CampaignJson::new(&app, &c, None)))
}
