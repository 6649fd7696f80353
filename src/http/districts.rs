//! `/api/v1/districts`, `/api/v1/layers` and `/api/v1/geocode`.

use axum::Json;
use axum::extract::State;
use axum::http::header::CONTENT_TYPE;
use axum::response::{IntoResponse, Response};
use geo::orient::{Direction, Orient};
use serde::{Deserialize, Serialize};
use time::Date;

use super::dto::{AddressJson, GeocodeJson};
use super::{ApiError, ApiPath, ApiQuery, AppState};
use crate::districts::District;
use crate::model::Layer;

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    pub layer: Option<String>,
    /// Only perimeters valid at this date (`YYYY-MM-DD`); default: today.
    pub date: Option<String>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct DistrictSummaryJson {
    pub id: String,
    pub layer: &'static str,
    pub code: String,
    pub name: String,
    pub version: String,
    pub official: bool,
    pub population: Option<u64>,
    pub url: String,
}

fn summary(app: &AppState, d: &District) -> DistrictSummaryJson {
    let meta = app
        .districts
        .layer_version(d.layer_version)
        .map(|v| &v.meta);
    DistrictSummaryJson {
        id: d.public_id.clone(),
        layer: d.layer.as_str(),
        code: d.code.clone(),
        name: d.name.clone(),
        version: meta.map(|m| m.version.clone()).unwrap_or_default(),
        official: meta.is_some_and(|m| m.official),
        population: d.attributes.population,
        url: format!("/api/v1/districts/{}", d.public_id),
    }
}

fn parse_date(s: Option<&str>) -> Result<Option<Date>, ApiError> {
    s.map(|s| {
        crate::reference::parse_day(s)
            .filter(|_| s.len() == 10)
            .ok_or_else(|| ApiError::bad("date", "expected YYYY-MM-DD"))
    })
    .transpose()
}

fn parse_layer(s: &str) -> Result<Layer, ApiError> {
    s.parse::<Layer>()
        .map_err(|e| ApiError::bad("layer", e.to_string()))
}

#[utoipa::path(
    get,
    path = "/districts",
    tag = "districts",
    params(ListQuery),
    responses(
        (status = 200, description = "The districts valid at the date", body = Vec<DistrictSummaryJson>),
        crate::http::openapi::Refusals
    )
)]
pub async fn list(
    State(app): State<AppState>,
    ApiQuery(q): ApiQuery<ListQuery>,
) -> Result<Json<Vec<DistrictSummaryJson>>, ApiError> {
    let date =
        parse_date(q.date.as_deref())?.unwrap_or_else(|| time::OffsetDateTime::now_utc().date());
    let layers = match q.layer.as_deref() {
        Some(l) => vec![parse_layer(l)?],
        None => Layer::ALL.to_vec(),
    };
    let mut out = Vec::new();
    for layer in layers {
        out.extend(
            app.districts
                .districts(layer, Some(date))
                .filter_map(|id| app.districts.get(id))
                .map(|d| summary(&app, d)),
        );
    }
    Ok(Json(out))
}

/// One district as an RFC 7946 GeoJSON Feature.
#[utoipa::path(
    get,
    path = "/districts/{id}",
    tag = "districts",
    params(("id" = String, Path, description = "A district id, such as arrondissement-75104")),
    responses(
        (status = 200, description = "The district as an RFC 7946 GeoJSON Feature", content_type = "application/geo+json", body = Object),
        crate::http::openapi::NotFound,
        crate::http::openapi::Refusals
    )
)]
pub async fn one(
    State(app): State<AppState>,
    ApiPath(id): ApiPath<String>,
) -> Result<Response, ApiError> {
    let dense = app
        .districts
        .by_public_id(&id)
        .ok_or_else(|| ApiError::NotFound(format!("no district {id:?}")))?;
    let d = app
        .districts
        .get(dense)
        .ok_or_else(|| ApiError::NotFound(format!("no district {id:?}")))?;
    let meta = app
        .districts
        .layer_version(d.layer_version)
        .map(|v| &v.meta);
    let mut properties = serde_json::Map::new();
    let s = summary(&app, d);
    properties.insert("id".into(), s.id.clone().into());
    properties.insert("layer".into(), s.layer.into());
    properties.insert("code".into(), s.code.into());
    properties.insert("name".into(), s.name.into());
    properties.insert("version".into(), s.version.into());
    properties.insert("official".into(), s.official.into());
    properties.insert("source".into(), meta.map(|m| m.source.clone()).into());
    properties.insert(
        "valid_from".into(),
        meta.and_then(|m| m.valid_from)
            .map(|v| v.to_string())
            .into(),
    );
    properties.insert(
        "valid_to".into(),
        meta.and_then(|m| m.valid_to).map(|v| v.to_string()).into(),
    );
    let a = &d.attributes;
    properties.insert("population".into(), a.population.into());
    properties.insert("population_year".into(), a.population_year.into());
    if let Some(c) = &a.census_15_plus {
        properties.insert("census_year".into(), c.year.into());
        properties.insert("population_15_plus".into(), c.total.into());
        for (i, n) in c.by_category.iter().enumerate() {
            properties.insert(format!("population_15_plus_pcs{}", i + 1), (*n).into());
        }
        properties.insert("working_class_share".into(), c.working_class_share().into());
    }
    if !a.derived_from.is_empty() {
        properties.insert("derived_from".into(), a.derived_from.clone().into());
    }
    let feature = geojson::Feature {
        bbox: None,
        // RFC 7946 §3.1.6: exterior rings counterclockwise, holes clockwise.
        geometry: Some(geojson::Geometry::from(
            &d.geometry.orient(Direction::Default),
        )),
        id: Some(geojson::feature::Id::String(s.id)),
        properties: Some(properties),
        foreign_members: None,
    };
    Ok((
        [(CONTENT_TYPE, "application/geo+json")],
        feature.to_string(),
    )
        .into_response())
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct PointQuery {
    /// WGS84 longitude.
    #[param(value_type = Option<f64>, minimum = -180.0, maximum = 180.0)]
    pub lon: Option<String>,
    /// WGS84 latitude.
    #[param(value_type = Option<f64>, minimum = -90.0, maximum = 90.0)]
    pub lat: Option<String>,
    pub date: Option<String>,
}

fn point(app: &AppState, q: &PointQuery) -> Result<crate::model::LonLat, ApiError> {
    let num = |field: &'static str, v: Option<&String>| -> Result<f64, ApiError> {
        v.ok_or_else(|| ApiError::bad(field, format!("{field} is required")))?
            .parse::<f64>()
            .map_err(|_| ApiError::bad(field, format!("{field} must be a number")))
    };
    let (lon, lat) = (num("lon", q.lon.as_ref())?, num("lat", q.lat.as_ref())?);
    Ok(app.check_position(lon, lat)?)
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct AtJson {
    pub layer: &'static str,
    pub id: String,
    pub code: String,
    pub name: String,
}

/// Every district containing a point (one per layer, boundary rule applied).
#[utoipa::path(
    get,
    path = "/districts/at",
    tag = "districts",
    params(PointQuery),
    responses(
        (status = 200, description = "Every district containing the point, one per layer (a point on a shared boundary goes to one district by the documented rule)", body = Vec<AtJson>),
        crate::http::openapi::Invalid,
        crate::http::openapi::Refusals
    )
)]
pub async fn at(
    State(app): State<AppState>,
    ApiQuery(q): ApiQuery<PointQuery>,
) -> Result<Json<Vec<AtJson>>, ApiError> {
    let p = point(&app, &q)?;
    let date =
        parse_date(q.date.as_deref())?.unwrap_or_else(|| time::OffsetDateTime::now_utc().date());
    let attributed = app.districts.attribute(p, date);
    Ok(Json(
        Layer::ALL
            .into_iter()
            .filter_map(|l| attributed.get(l))
            .filter_map(|id| app.districts.get(id))
            .map(|d| AtJson {
                layer: d.layer.as_str(),
                id: d.public_id.clone(),
                code: d.code.clone(),
                name: d.name.clone(),
            })
            .collect(),
    ))
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct LayerJson {
    pub layer: &'static str,
    pub version: String,
    pub official: bool,
    pub source: String,
    pub valid_from: Option<String>,
    pub valid_to: Option<String>,
    pub districts: usize,
}

#[utoipa::path(
    get,
    path = "/layers",
    tag = "districts",
    responses(
        (status = 200, description = "The loaded layer versions", body = Vec<LayerJson>),
        crate::http::openapi::Refusals
    )
)]
pub async fn layers(State(app): State<AppState>) -> Json<Vec<LayerJson>> {
    Json(
        app.districts
            .layer_versions()
            .iter()
            .map(|l| LayerJson {
                layer: l.meta.layer.as_str(),
                version: l.meta.version.clone(),
                official: l.meta.official,
                source: l.meta.source.clone(),
                valid_from: l.meta.valid_from.map(|d| d.to_string()),
                valid_to: l.meta.valid_to.map(|d| d.to_string()),
                districts: l.len(),
            })
            .collect(),
    )
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct GeocodeQuery {
    pub q: Option<String>,
    pub limit: Option<String>,
}

#[utoipa::path(
    get,
    path = "/geocode",
    tag = "geocoding",
    params(GeocodeQuery),
    responses(
        (status = 200, description = "Matching addresses, best first", body = Vec<GeocodeJson>),
        crate::http::openapi::TooMany,
        crate::http::openapi::Refusals
    )
)]
pub async fn geocode(
    State(app): State<AppState>,
    ApiQuery(q): ApiQuery<GeocodeQuery>,
) -> Result<Json<Vec<GeocodeJson>>, ApiError> {
    let text =
        q.q.as_deref()
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .ok_or_else(|| ApiError::bad("q", "q is required"))?;
    if text.chars().count() > 200 {
        return Err(ApiError::bad("q", "q is longer than 200 characters"));
    }
    let limit = match q.limit.as_deref() {
        None => 5,
        Some(l) => l
            .parse::<usize>()
            .ok()
            .filter(|l| (1..=20).contains(l))
            .ok_or_else(|| ApiError::bad("limit", "limit must be 1 to 20"))?,
    };
    Ok(Json(
        app.geocode(text, limit)
            .iter()
            .map(GeocodeJson::from)
            .collect(),
    ))
}

/// The nearest address to a point, or 404 when none lies within the radius.
#[utoipa::path(
    get,
    path = "/geocode/reverse",
    tag = "geocoding",
    params(PointQuery),
    responses(
        (status = 200, description = "The nearest address (geodesic metres)", body = AddressJson),
        crate::http::openapi::NotFound,
        crate::http::openapi::Invalid,
        crate::http::openapi::TooMany,
        crate::http::openapi::Refusals
    )
)]
pub async fn reverse(
    State(app): State<AppState>,
    ApiQuery(q): ApiQuery<PointQuery>,
) -> Result<Json<AddressJson>, ApiError> {
    if q.date.is_some() {
        return Err(ApiError::bad("date", "unknown parameter date"));
    }
    let p = point(&app, &q)?;
    let m = app
        .geocoder
        .reverse(p, crate::config::REVERSE_GEOCODE_MAX_M)
        .ok_or_else(|| {
            ApiError::NotFound(format!(
                "no address within {} m",
                crate::config::REVERSE_GEOCODE_MAX_M
            ))
        })?;
    Ok(Json(AddressJson::from(&m)))
}
