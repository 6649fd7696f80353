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
pub mod openapi;
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
use axum::{Extension, Router};
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::cors::CorsLayer;
use tower_http::trace::TraceLayer;
use utoipa_axum::router::{OpenApiRouter, UtoipaMethodRouterExt};
use utoipa_axum::routes;

pub use error::ApiError;
pub use extract::{ApiJson, ApiPath, ApiQuery, parse_json};
pub use viewer::{parse_maplibre_dir, parse_maplibre_url};

use crate::config::MAX_BODY_BYTES;
use crate::service::App;

/// Shared state of every handler.
pub type AppState = Arc<App>;

/// The whole HTTP API, ready to serve (tests drive it without a socket).
/// Serving is what makes an application deliver its webhooks and follow a
/// shared store: this starts their delivery and the follower (once per
/// application).
pub fn router(app: AppState) -> Router {
    serving(app).0
}

/// The router and its limits guard, whose [`limits::Guard::start_draining`]
/// ends the live event streams when the server shuts down.
pub fn serving(app: AppState) -> (Router, Arc<limits::Guard>) {
    app.start_webhooks(webhooks::render);
    app.start_follower();
    let guard = Arc::new(limits::Guard::new(&app.config.limits, app.store()));
    let both = (Arc::clone(&app), Arc::clone(&guard));
    let heavy = || from_fn_with_state(both.clone(), limits::heavy_read);
    let geocoding = || from_fn_with_state(both.clone(), limits::geocode);
    let api =
        OpenApiRouter::new()
            .routes(routes!(reports::list, reports::create))
            .routes(routes!(reports::one))
            .routes(routes!(lifecycle::history))
            .routes(routes!(lifecycle::change_status))
            .routes(routes!(lifecycle::add_note))
            .routes(routes!(lifecycle::mark_duplicate))
            .routes(routes!(lifecycle::support))
            .routes(routes!(privacy::contact, privacy::erase))
            .routes(routes!(privacy::erase_resident))
            .routes(
                routes!(photos::list, photos::upload)
                    .layer(DefaultBodyLimit::max(photos::MAX_UPLOAD_REQUEST_BYTES)),
            )
            .routes(routes!(campaigns::list, campaigns::create))
            .routes(routes!(campaigns::one))
            .routes(routes!(campaigns::close))
            .routes(routes!(events::stream).map(|r| {
                r.route_layer(from_fn_with_state(Arc::clone(&guard), limits::event_stream))
            }))
            .routes(routes!(keys::list, keys::create))
            .routes(routes!(keys::revoke))
            .routes(routes!(webhooks::list, webhooks::create))
            .routes(routes!(webhooks::one, webhooks::delete))
            .routes(routes!(webhooks::deliveries))
            .routes(routes!(webhooks::enable))
            .routes(routes!(stats::districts).map(|r| r.route_layer(heavy())))
            .routes(routes!(stats::series).map(|r| r.route_layer(heavy())))
            .routes(routes!(stats::hexagons).map(|r| r.route_layer(heavy())))
            .routes(routes!(stats::equity).map(|r| r.route_layer(heavy())))
            .routes(routes!(export::file).map(|r| r.route_layer(heavy())))
            .routes(routes!(projects::list))
            .routes(routes!(projects::one))
            .routes(routes!(districts::list))
            .routes(routes!(districts::at))
            .routes(routes!(districts::one))
            .routes(routes!(districts::layers))
            .routes(routes!(reports::categories))
            .routes(routes!(districts::geocode).map(|r| r.route_layer(geocoding())))
            .routes(routes!(districts::reverse).map(|r| r.route_layer(geocoding())));
    let (router, doc) = OpenApiRouter::new()
        .routes(routes!(photos::file))
        .routes(routes!(tiles::catalog))
        .routes(routes!(tiles::tilejson))
        .routes(routes!(tiles::tile))
        .nest("/api/v1", api)
        .nest("/open311/v2", open311::routes())
        .merge(viewer::routes())
        .split_for_parts();
    // Outside the in-flight limit and the deadline: a loaded server still
    // says it is alive, and still describes itself.
    let (outside, outside_doc) = OpenApiRouter::new()
        .routes(routes!(health))
        .routes(routes!(openapi_json))
        .split_for_parts();
    let mut doc = doc;
    doc.merge(outside_doc);
    // A document of strings and maps always serialises; were it ever not to,
    // the service must not start with a broken contract (tests/openapi.rs
    // reads it on every run).
    let doc = OpenApiJson(axum::body::Bytes::from(
        openapi::complete(doc)
            .to_json()
            .expect("the OpenAPI document serialises to JSON"),
    ));
    let outside = outside.with_state(Arc::clone(&app)).layer(Extension(doc));
    let router = router
        .method_not_allowed_fallback(method_not_allowed)
        .fallback(not_found)
        .with_state(Arc::clone(&app))
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(from_fn_with_state(Arc::clone(&guard), limits::deadline))
        .layer(from_fn_with_state(Arc::clone(&guard), limits::shed))
        .layer(Extension(Arc::clone(&guard)))
        .merge(outside)
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

/// The service's health, once serving.
#[derive(serde::Serialize, utoipa::ToSchema)]
struct HealthJson {
    /// Always `ok` when the service answers.
    status: &'static str,
    /// Reports in the index.
    reports: usize,
    /// Budget projects in the index.
    projects: usize,
}

/// Answers 200 once serving, outside the in-flight limit and the request
/// deadline, so that a loaded server still says it is alive.
#[utoipa::path(
    get,
    path = "/health",
    tag = "service",
    responses((status = 200, description = "Serving", body = HealthJson))
)]
async fn health(
    axum::extract::State(app): axum::extract::State<AppState>,
) -> axum::Json<HealthJson> {
    axum::Json(HealthJson {
        status: "ok",
        reports: app.reports().len(),
        projects: app.projects().len(),
    })
}

/// The OpenAPI document, serialised once when the router is built (each
/// answer shares its bytes).
#[derive(Clone)]
struct OpenApiJson(axum::body::Bytes);

/// This document: the OpenAPI 3.1 description of every route, generated
/// from the handlers as the router is built.
#[utoipa::path(
    get,
    path = "/openapi.json",
    tag = "service",
    responses((status = 200, description = "The OpenAPI document", content_type = "application/json", body = Object))
)]
async fn openapi_json(Extension(doc): Extension<OpenApiJson>) -> axum::response::Response {
    axum::response::IntoResponse::into_response((
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        doc.0,
    ))
}

/// Runs a change of the service on its own task to its end, and waits for
/// it. A change commits in the store and then updates memory (the index,
/// the lifecycle state, the tile cache, the statistics); run inside the
/// handler, it would be cut between the two when the client goes away or
/// the request deadline drops the handler, and memory would disagree with
/// the store until a restart. Spawned, it always completes.
pub(crate) async fn to_completion<T, F>(change: F) -> Result<T, ApiError>
where
    F: std::future::Future<Output = Result<T, crate::service::ServiceError>> + Send + 'static,
    T: Send + 'static,
{
    tokio::spawn(change)
        .await
        .map_err(|e| ApiError::Internal(format!("change task ended: {e}")))?
        .map_err(ApiError::from)
}

async fn not_found(uri: axum::http::Uri) -> ApiError {
    ApiError::NotFound(format!("no route for {}", uri.path()))
}

/// A route asked with a method it does not take: a JSON 405 (axum's own has
/// an empty body). Open311 routes answer in their own format.
async fn method_not_allowed(method: axum::http::Method, uri: axum::http::Uri) -> ApiError {
    ApiError::MethodNotAllowed(format!("{} does not take {method}", uri.path()))
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::time::Duration;

    use super::to_completion;

    #[tokio::test]
    async fn a_change_runs_to_its_end_when_the_request_that_asked_for_it_is_dropped() {
        let done = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&done);
        let request = to_completion(async move {
            tokio::time::sleep(Duration::from_millis(50)).await;
            flag.store(true, Ordering::SeqCst);
            Ok::<_, crate::service::ServiceError>(())
        });
        // The client goes away (or the deadline fires) before the change ends.
        let cut = tokio::time::timeout(Duration::from_millis(5), request).await;
        assert!(cut.is_err(), "the request was not cut");
        assert!(!done.load(Ordering::SeqCst));
        for _ in 0..200 {
            if done.load(Ordering::SeqCst) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("the change was dropped with its request");
    }
}
