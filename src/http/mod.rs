//! The HTTP edge: the only module with axum and request/response types.
//! Domain values are converted by hand (no mass assignment: a client can never
//! set `id`, `status`, districts or timestamps).

mod auth;
mod campaigns;
mod districts;
mod dto;
mod error;
mod events;
mod export;
mod extract;
mod keys;
mod lifecycle;
pub mod limits;
mod open311;
mod photos;
mod privacy;
mod projects;
mod reports;
mod stats;
mod tiles;
mod viewer;
mod webhooks;

use std::sync::Arc;
use std::time::Duration;

use axum::extract::DefaultBodyLimit;
use axum::middleware::from_fn_with_state;
use axum::routing::{delete, get, post};
use axum::{Extension, Router};
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::cors::CorsLayer;
use tower_http::trace::TraceLayer;

pub use error::ApiError;
pub use extract::{ApiJson, ApiPath, ApiQuery, parse_json};
pub use viewer::{parse_maplibre_dir, parse_maplibre_url};

use crate::config::MAX_BODY_BYTES;
use crate::service::App;

/// Shared state of every handler.
pub type AppState = Arc<App>;

/// The whole HTTP API, ready to serve (tests drive it without a socket).
/// Serving is what makes an application deliver its webhooks: this starts
/// their delivery (once per application).
pub fn router(app: AppState) -> Router {
    serving(app).0
}

/// The router and its limits guard, whose [`limits::Guard::start_draining`]
/// ends the live event streams when the server shuts down.
pub fn serving(app: AppState) -> (Router, Arc<limits::Guard>) {
    app.start_webhooks(webhooks::render);
    let guard = Arc::new(limits::Guard::new(&app.config.limits));
    let both = (Arc::clone(&app), Arc::clone(&guard));
    let heavy = || from_fn_with_state(both.clone(), limits::heavy_read);
    let geocoding = || from_fn_with_state(both.clone(), limits::geocode);
    let api = Router::new()
        .route("/reports", get(reports::list).post(reports::create))
        .route("/reports/{id}", get(reports::one))
        .route("/reports/{id}/history", get(lifecycle::history))
        .route("/reports/{id}/status", post(lifecycle::change_status))
        .route("/reports/{id}/notes", post(lifecycle::add_note))
        .route("/reports/{id}/duplicate", post(lifecycle::mark_duplicate))
        .route("/reports/{id}/supports", post(lifecycle::support))
        .route(
            "/reports/{id}/contact",
            get(privacy::contact).delete(privacy::erase),
        )
        .route("/privacy/erasure", post(privacy::erase_resident))
        .route(
            "/reports/{id}/photos",
            get(photos::list)
                .post(photos::upload)
                .layer(DefaultBodyLimit::max(photos::MAX_UPLOAD_REQUEST_BYTES)),
        )
        .route("/campaigns", get(campaigns::list).post(campaigns::create))
        .route("/campaigns/{id}", get(campaigns::one))
        .route("/campaigns/{id}/close", post(campaigns::close))
        .route("/events", get(events::stream))
        .route("/keys", get(keys::list).post(keys::create))
        .route("/keys/{id}", delete(keys::revoke))
        .route("/webhooks", get(webhooks::list).post(webhooks::create))
        .route(
            "/webhooks/{id}",
            get(webhooks::one).delete(webhooks::delete),
        )
        .route("/webhooks/{id}/deliveries", get(webhooks::deliveries))
        .route("/webhooks/{id}/enable", post(webhooks::enable))
        .route(
            "/stats/districts",
            get(stats::districts).route_layer(heavy()),
        )
        .route("/stats/series", get(stats::series).route_layer(heavy()))
        .route("/stats/h3", get(stats::hexagons).route_layer(heavy()))
        .route("/stats/equity", get(stats::equity).route_layer(heavy()))
        .route("/export/{file}", get(export::file).route_layer(heavy()))
        .route("/projects", get(projects::list))
        .route("/projects/{id}", get(projects::one))
        .route("/districts", get(districts::list))
        .route("/districts/at", get(districts::at))
        .route("/districts/{id}", get(districts::one))
        .route("/layers", get(districts::layers))
        .route("/categories", get(reports::categories))
        .route("/geocode", get(districts::geocode).route_layer(geocoding()))
        .route(
            "/geocode/reverse",
            get(districts::reverse).route_layer(geocoding()),
        );
    let router = Router::new()
        .route("/photos/{name}", get(photos::file))
        .route("/tiles", get(tiles::catalog))
        .route("/tiles/{name}", get(tiles::tilejson))
        .route("/tiles/{layers}/{z}/{x}/{y}", get(tiles::tile))
        .nest("/api/v1", api)
        .nest("/open311/v2", open311::routes())
        .merge(viewer::routes())
        .method_not_allowed_fallback(method_not_allowed)
        .fallback(not_found)
        .with_state(Arc::clone(&app))
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(from_fn_with_state(Arc::clone(&guard), limits::deadline))
        .layer(from_fn_with_state(Arc::clone(&guard), limits::shed))
        .layer(Extension(Arc::clone(&guard)))
        // Outside the in-flight limit and the deadline: a loaded server
        // still says it is alive.
        .route("/health", get(health).with_state(app))
        .method_not_allowed_fallback(method_not_allowed)
        .layer(CorsLayer::permissive().max_age(Duration::from_secs(3_600)))
        .layer(TraceLayer::new_for_http())
        .layer(CatchPanicLayer::custom(
            |_: Box<dyn std::any::Any + Send>| {
                axum::response::IntoResponse::into_response(ApiError::Internal(
                    "handler panicked".into(),
                ))
            },
        ));
    (router, guard)
}

async fn health(
    axum::extract::State(app): axum::extract::State<AppState>,
) -> axum::Json<serde_json::Value> {
    axum::Json(serde_json::json!({
        "status": "ok",
        "reports": app.reports().len(),
        "projects": app.projects().len(),
    }))
}

async fn not_found(uri: axum::http::Uri) -> ApiError {
    ApiError::NotFound(format!("no route for {}", uri.path()))
}

/// A route asked with a method it does not take: a JSON 405 (axum's own has
/// an empty body). Open311 routes answer in their own format.
async fn method_not_allowed(method: axum::http::Method, uri: axum::http::Uri) -> ApiError {
    ApiError::MethodNotAllowed(format!("{} does not take {method}", uri.path()))
}
