//! Vector tiles: `/tiles` (catalog), `/tiles/{layers}.json` (TileJSON
//! 3.0.0) and `/tiles/{layers}/{z}/{x}/{y}.mvt` (or `.pbf`).
//!
//! Conventions: gzip when the client accepts it (`Vary: Accept-Encoding`);
//! a strong `ETag` and `Cache-Control: no-cache` (clients revalidate, so a
//! new report shows on the next load; a 304 costs no drawing); an empty tile
//! is `204 No Content`; a zoom outside the served range is 404; a tile
//! address that cannot exist (x or y ≥ 2^z) is 400.

use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use serde_json::{Value as Json, json};

use super::reports::{ListQuery, report_filter};
use super::{ApiError, ApiPath, ApiQuery, AppState};
use crate::model::Layer;
use crate::spatial::ProjectFilter;
use crate::tiles::{TileId, TileLayer, TileQuery, layer_fields};

/// Query of tiles and TileJSON: report filters (as `GET /reports`), the
/// district layer drawn, and the date of its perimeters.
#[derive(Debug, Default, Deserialize, Serialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct TileParams {
    pub kind: Option<String>,
    pub category: Option<String>,
    pub status: Option<String>,
    pub from: Option<String>,
    pub to: Option<String>,
    /// Only the contributions answering this campaign (slug or id).
    pub campaign: Option<String>,
    /// District layer of `districts` (default `arrondissement`).
    pub layer: Option<String>,
    /// Draw the perimeters valid at this day (`YYYY-MM-DD`; default today).
    pub date: Option<String>,
}

impl TileParams {
    /// The canonical query string (fixed order, only given fields): the
    /// cache variant and the query carried into TileJSON URLs.
    fn canonical(&self) -> String {
        serde_urlencoded::to_string(self).unwrap_or_default()
    }
}

/// Parses `reports,projects` into distinct layers in a fixed order.
fn parse_layers(s: &str) -> Result<Vec<TileLayer>, ApiError> {
    let mut layers = Vec::new();
    for name in s.split(',') {
        let layer = TileLayer::parse(name).ok_or_else(|| {
            ApiError::NotFound(format!(
                "no tile layer {name:?}: the layers are reports, projects and districts"
            ))
        })?;
        layers.push(layer);
    }
    layers.sort_unstable();
    layers.dedup();
    Ok(layers)
}

fn tile_query(
    app: &AppState,
    layers: Vec<TileLayer>,
    p: &TileParams,
) -> Result<TileQuery, ApiError> {
    let list = ListQuery {
        kind: p.kind.clone(),
        category: p.category.clone(),
        status: p.status.clone(),
        from: p.from.clone(),
        to: p.to.clone(),
        campaign: p.campaign.clone(),
        ..ListQuery::default()
    };
    let reports = report_filter(app, &list)?;
    let district_layer = match p.layer.as_deref() {
        None => Layer::Arrondissement,
        Some(s) => s
            .parse::<Layer>()
            .map_err(|e| ApiError::bad("layer", e.to_string()))?,
    };
    let district_date = match p.date.as_deref() {
        None => time::OffsetDateTime::now_utc().date(),
        Some(s) => crate::reference::parse_day(s)
            .ok_or_else(|| ApiError::bad("date", "expected a day as YYYY-MM-DD"))?,
    };
    Ok(TileQuery {
        layers,
        reports,
        projects: ProjectFilter::default(),
        district_layer,
        district_date: Some(district_date),
        aggregate_reports: false,
    })
}

/// `GET /tiles/{layers}/{z}/{x}/{y}.mvt`
#[utoipa::path(
    get,
    path = "/tiles/{layers}/{z}/{x}/{y}",
    tag = "tiles",
    params(("layers" = String, Path, description = "reports, projects, districts, hexagons, joined by commas"), ("z" = u32, Path, description = "Zoom"), ("x" = u32, Path, description = "Column"), ("y" = String, Path, description = "Row, with .mvt or .pbf"), TileParams, ("If-None-Match" = Option<String>, Header, description = "An ETag of this tile")),
    responses(
        (status = 200, description = "A Mapbox Vector Tile", content_type = "application/vnd.mapbox-vector-tile", body = Vec<u8>, headers(("ETag" = String), ("Cache-Control" = String))),
        (status = 204, description = "Nothing in this tile"),
        (status = 304, description = "Not modified since the given ETag"),
        crate::http::openapi::NotFound,
        crate::http::openapi::Invalid,
        crate::http::openapi::Refusals
    )
)]
pub async fn tile(
    State(app): State<AppState>,
    ApiPath((layers, z, x, y)): ApiPath<(String, String, String, String)>,
    ApiQuery(params): ApiQuery<TileParams>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let layers = parse_layers(&layers)?;
    let y = y
        .strip_suffix(".mvt")
        .or_else(|| y.strip_suffix(".pbf"))
        .ok_or_else(|| ApiError::NotFound("tiles end in .mvt or .pbf".into()))?;
    let number = |field: &'static str, s: &str| {
        s.parse::<u32>()
            .map_err(|_| ApiError::bad(field, "expected a non-negative integer"))
    };
    let (z, x, y) = (number("z", &z)?, number("x", &x)?, number("y", y)?);
    let settings = app.tiles.settings;
    let z = u8::try_from(z)
        .ok()
        .filter(|z| settings.serves(*z))
        .ok_or_else(|| {
            ApiError::NotFound(format!(
                "zoom {z} is not served: tiles go from zoom {} to {}",
                settings.min_zoom, settings.max_zoom
            ))
        })?;
    let tile = TileId::new(z, x, y).map_err(|e| ApiError::bad("tile", e.to_string()))?;
    let query = tile_query(&app, layers, &params)?;
    let gzip = accepts_gzip(&headers);
    let variant = format!(
        "{}?{}#{}",
        query
            .layers
            .iter()
            .map(|l| l.as_str())
            .collect::<Vec<_>>()
            .join(","),
        params.canonical(),
        if gzip { "gzip" } else { "identity" }
    );
    let served = app.tile(tile, &query, &variant, gzip);
    let etag = HeaderValue::from_str(&format!("\"{}\"", served.etag))
        .map_err(|e| ApiError::Internal(e.to_string()))?;
    let mut response = if headers
        .get(header::IF_NONE_MATCH)
        .is_some_and(|v| v.as_bytes() == etag.as_bytes())
    {
        StatusCode::NOT_MODIFIED.into_response()
    } else if served.body.is_empty() {
        StatusCode::NO_CONTENT.into_response()
    } else {
        let mut r = served.body.to_vec().into_response();
        r.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/vnd.mapbox-vector-tile"),
        );
        if gzip {
            r.headers_mut()
                .insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
        }
        r
    };
    let h = response.headers_mut();
    h.insert(header::ETAG, etag);
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    h.insert(header::VARY, HeaderValue::from_static("Accept-Encoding"));
    Ok(response)
}

fn accepts_gzip(headers: &HeaderMap) -> bool {
    headers
        .get_all(header::ACCEPT_ENCODING)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|coding| {
            let mut parts = coding.split(';');
            let name = parts.next().unwrap_or("").trim();
            let refused = parts.any(|p| {
                p.trim()
                    .strip_prefix("q=")
                    .and_then(|q| q.trim().parse::<f32>().ok())
                    .is_some_and(|q| q == 0.0)
            });
            (name.eq_ignore_ascii_case("gzip") || name == "*") && !refused
        })
}

/// `GET /tiles/{layers}.json`: TileJSON 3.0.0.
#[utoipa::path(
    get,
    path = "/tiles/{name}",
    tag = "tiles",
    params(("name" = String, Path, description = "Layers joined by commas, with .json: reports.json, reports,projects.json"), TileParams),
    responses(
        (status = 200, description = "TileJSON 3.0", body = Object),
        crate::http::openapi::NotFound,
        crate::http::openapi::Invalid,
        crate::http::openapi::Refusals
    )
)]
pub async fn tilejson(
    State(app): State<AppState>,
    ApiPath(name): ApiPath<String>,
    ApiQuery(params): ApiQuery<TileParams>,
    headers: HeaderMap,
) -> Result<axum::Json<Json>, ApiError> {
    let layers = name
        .strip_suffix(".json")
        .ok_or_else(|| ApiError::NotFound(format!("no route for /tiles/{name}")))?;
    let parsed = parse_layers(layers)?;
    // Checks the parameters now rather than on every tile.
    tile_query(&app, parsed.clone(), &params)?;
    Ok(axum::Json(tilejson_doc(
        &app,
        &parsed,
        &params,
        &origin(&headers),
    )))
}

fn origin(headers: &HeaderMap) -> String {
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .filter(|h| {
            !h.is_empty()
                && h.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b".-:[]".contains(&b))
        })
        .unwrap_or("localhost");
    format!("http://{host}")
}

fn tilejson_doc(app: &AppState, layers: &[TileLayer], params: &TileParams, origin: &str) -> Json {
    let settings = app.tiles.settings;
    let names: Vec<&str> = layers.iter().map(|l| l.as_str()).collect();
    let query = params.canonical();
    let query = if query.is_empty() {
        String::new()
    } else {
        format!("?{query}")
    };
    let mut vector_layers = Vec::new();
    for layer in layers {
        for (id, fields) in layer_fields(*layer) {
            let (minzoom, maxzoom) = match id {
                "reports" => (settings.points_min_zoom, settings.max_zoom),
                "reports_h3" => (settings.min_zoom, settings.max_zoom),
                _ => (settings.min_zoom, settings.max_zoom),
            };
            let fields: serde_json::Map<String, Json> = fields
                .iter()
                .map(|(k, t)| ((*k).to_owned(), Json::from(*t)))
                .collect();
            vector_layers.push(json!({
                "id": id,
                "fields": fields,
                "minzoom": minzoom,
                "maxzoom": maxzoom,
                "description": layer_description(id),
            }));
        }
    }
    let e = app.config.envelope;
    json!({
        "tilejson": "3.0.0",
        "name": format!("civicmap {}", names.join(", ")),
        "description": "Street reports, participatory-budget projects and districts of the city",
        "version": env!("CARGO_PKG_VERSION"),
        "attribution": ATTRIBUTION,
        "scheme": "xyz",
        "tiles": [format!("{origin}/tiles/{}/{{z}}/{{x}}/{{y}}.mvt{query}", names.join(","))],
        "minzoom": settings.min_zoom,
        "maxzoom": settings.max_zoom,
        "bounds": [e.min_lon, e.min_lat, e.max_lon, e.max_lat],
        "center": [(e.min_lon + e.max_lon) / 2.0, (e.min_lat + e.max_lat) / 2.0, 12],
        "vector_layers": vector_layers,
    })
}

/// Data attribution shown by map clients.
pub const ATTRIBUTION: &str = "Reports and budget projects: Ville de Paris (ODbL); districts: Ville de Paris, IGN-INSEE (Licence Ouverte); addresses: BAN (Licence Ouverte)";

fn layer_description(id: &str) -> &'static str {
    match id {
        "reports" => "One point per report (nothing personal)",
        "reports_h3" => "H3 hexagons with exact report counts, below the point zooms",
        "projects" => "Participatory-budget projects with a location",
        "districts" => "Polygons of the chosen district layer, clipped and simplified",
        _ => "",
    }
}

/// `GET /tiles`: the catalog of tile sets.
#[utoipa::path(
    get,
    path = "/tiles",
    tag = "tiles",
    responses(
        (status = 200, description = "The tile layers and their TileJSON URLs", body = Object),
        crate::http::openapi::Refusals
    )
)]
pub async fn catalog(State(app): State<AppState>, headers: HeaderMap) -> axum::Json<Json> {
    let origin = origin(&headers);
    let settings = app.tiles.settings;
    let sets: Vec<Json> = TileLayer::ALL
        .iter()
        .map(|l| {
            json!({
                "id": l.as_str(),
                "tilejson": format!("{origin}/tiles/{}.json", l.as_str()),
                "layers": layer_fields(*l).iter().map(|(id, _)| *id).collect::<Vec<_>>(),
            })
        })
        .collect();
    axum::Json(json!({
        "tilesets": sets,
        "composite": format!("{origin}/tiles/reports,projects,districts.json"),
        "minzoom": settings.min_zoom,
        "maxzoom": settings.max_zoom,
        "points_min_zoom": settings.points_min_zoom,
        "district_layers": Layer::ALL.iter().map(|l| l.as_str()).collect::<Vec<_>>(),
        "filters": ["kind", "category", "status", "from", "to", "campaign", "layer", "date"],
    }))
}
