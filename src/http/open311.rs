//! Open311 GeoReport v2 over HTTP, under `/open311/v2/`: the wiring of the
//! pure core ([`crate::open311`]) to the service.
//!
//! Every resource ends in `.json` or `.xml`, which picks the [`Format`] of
//! the answer, errors included; any other ending is a 404 (in JSON, since
//! no format was named). Routes:
//!
//! | method | resource | answer |
//! | --- | --- | --- |
//! | GET | `discovery.{fmt}` | service discovery |
//! | GET | `services.{fmt}` | one service per category, with its group |
//! | GET | `services/{code}.{fmt}` | the service's attributes (404 unknown) |
//! | POST | `requests.{fmt}` | a new request (`api_key` of role app or agent) |
//! | GET | `requests.{fmt}` | requests by ids or filters, newest first |
//! | GET | `requests/{id}.{fmt}` | one request (404 unknown) |
//! | GET | `tokens/{token}.{fmt}` | always 404: no token is ever issued |
//! | GET | `servicerequestupdates.{fmt}` | mySociety: updates of a window |
//! | POST | `servicerequestupdates.{fmt}` | mySociety: an update (role agent) |
//!
//! Choices:
//! - a missing, unknown or revoked `api_key`, or one whose role may not do
//!   the action, is **403** (the spec's code), never the JSON API's 401; the
//!   key is checked before anything else of the form;
//! - every service is `realtime`: a POST answers with the request id, so
//!   `tokens/{token}` never knows a token;
//! - `media_url` is checked but neither fetched nor stored (photos are
//!   uploaded, never pulled from a URL); the POST answer's `service_notice`
//!   says so, and also lists open reports of the same service nearby;
//! - `email` (else `phone`) becomes the report's private contact; names,
//!   `device_id` and `account_id` are dropped. None of them is ever written
//!   in an answer or a log;
//! - requests are filed on the `web` channel; `jurisdiction_id` is
//!   accepted and ignored (one city);
//! - an anomaly (the default `attribute[kind]`) needs `attribute[subcategory]`,
//!   as every report of the JSON API does;
//! - `extensions=true` adds `extended_attributes` (DansMaRue state, kind,
//!   arrondissement, working-class district, duplicate, supports) and
//!   `notes` (the public timeline: filing, changes of state, notes);
//! - a mySociety update's `updated_datetime` and `media_url` are not kept:
//!   the change is recorded at the time it is received.
//!
//! Refusals are Open311 error lists with 400 (bad input, or a change the
//! workflow does not allow), 403 or 404 (405 for a method a resource does
//! not take), 429 (a filing quota used up, with `Retry-After`) or 503 (the
//! index is full); a 500 only for a server failure, whose cause is logged
//! and never sent.

use std::collections::HashMap;

use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, PathRejection};
use axum::extract::{Path, RawQuery, State};
use axum::http::header::{CONTENT_TYPE, HOST};
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use time::OffsetDateTime;
use time::macros::datetime;
use utoipa_axum::router::{OpenApiRouter, UtoipaMethodRouterExt};
use utoipa_axum::routes;

use super::{ApiError, AppState};
use crate::model::{Action, Layer, ReportId};
use crate::open311::{
    CreatedRequest, Discovery, Document, Endpoint, EndpointType, Errors, Format,
    GEOREPORT_V2_SPECIFICATION, Note, Open311Error, PostedUpdate, Receipt, RequestExtensions,
    RequestUpdates, Selection, ServiceRequests, check_attributes, extended_attributes,
    parse_post_request, parse_post_update, parse_request_options, parse_requests_query,
    parse_updates_query, request_update, requested_kind, requested_subcategory, service_definition,
    service_request, services,
};
use crate::service::{App, Caller, Codec, NewReport, PublicEvent, RequestRecord, ServiceError};

/// When the discovery document last changed.
const CHANGESET: OffsetDateTime = datetime!(2026-12-05 00:00 UTC);
/// Who runs the API (discovery `contact`).
const CONTACT: &str = "Ville de Paris, civicmap : voir la documentation du service";
/// How to get an API key (discovery `key_service`).
const KEY_SERVICE: &str = "Les clés d'API sont délivrées par un administrateur de civicmap \
                           (rôle app pour déposer des demandes, agent pour les mises à jour).";
/// The `service_notice` of a POST that carried a `media_url`.
const MEDIA_URL_NOTICE: &str = "La photo indiquée par media_url n'a pas été récupérée : \
                                civicmap ne télécharge aucune adresse web.";
/// At most this many nearby report ids in a `service_notice`.
const NEARBY_IN_NOTICE: usize = 5;

/// The Open311 routes, to nest under `/open311/v2`.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(get_resource, post_resource).map(|r| r.fallback(method_not_allowed)))
        .routes(routes!(one_service).map(|r| r.fallback(method_not_allowed)))
        .routes(routes!(one_request).map(|r| r.fallback(method_not_allowed)))
        .routes(routes!(token).map(|r| r.fallback(method_not_allowed)))
        .fallback(unknown_resource)
}

/// A document in its format, with its status.
fn answer(format: Format, status: StatusCode, doc: &impl Document) -> Response {
    (
        status,
        [(CONTENT_TYPE, format.content_type())],
        doc.render(format),
    )
        .into_response()
}

fn ok(format: Format, doc: &impl Document) -> Response {
    answer(format, StatusCode::OK, doc)
}

/// A refusal: one Open311 error, in the client's format, with its code as
/// the HTTP status.
#[derive(Debug)]
struct Refusal {
    format: Format,
    status: StatusCode,
    description: String,
    /// `Retry-After` in seconds (429, 503).
    retry_after_s: Option<u64>,
}

impl Refusal {
    fn new(format: Format, status: StatusCode, description: impl Into<String>) -> Self {
        Self {
            format,
            status,
            description: description.into(),
            retry_after_s: None,
        }
    }

    /// A limit of the server (429 or 503), as the JSON API words it.
    fn limit(format: Format, e: ApiError) -> Self {
        let retry_after_s = match &e {
            ApiError::TooManyRequests { retry_after_s, .. } => Some(*retry_after_s),
            ApiError::Unavailable { retry_after_s, .. } => *retry_after_s,
            _ => None,
        };
        Self {
            retry_after_s,
            ..Self::new(format, e.status(), e.to_string())
        }
    }

    /// Bad input, as the core describes it (400).
    fn input(format: Format, e: &Open311Error) -> Self {
        Self::new(format, StatusCode::BAD_REQUEST, e.to_string())
    }

    fn not_found(format: Format, description: impl Into<String>) -> Self {
        Self::new(format, StatusCode::NOT_FOUND, description)
    }

    /// A refusal or failure of the service: bad input and workflow
    /// conflicts are 400, keys 403, unknown reports 404; a server failure
    /// is logged and sent as an opaque 500.
    fn service(format: Format, e: ServiceError) -> Self {
        let (status, description) = match e {
            ServiceError::Invalid { field, reason } | ServiceError::OverLimit { field, reason } => {
                (
                    StatusCode::BAD_REQUEST,
                    format!("{}: {reason}", open311_field(field)),
                )
            }
            ServiceError::AddressNotFound(_) => {
                (StatusCode::BAD_REQUEST, format!("address_string: {e}"))
            }
            ServiceError::Conflict(m)
            | ServiceError::PayloadTooLarge(m)
            | ServiceError::UnsupportedMedia(m) => (StatusCode::BAD_REQUEST, m),
            ServiceError::Unauthorized(_) => (StatusCode::FORBIDDEN, "invalid api_key".to_owned()),
            ServiceError::Forbidden(m) => (StatusCode::FORBIDDEN, m),
            ServiceError::NotFound(m) => (StatusCode::NOT_FOUND, m),
            ServiceError::Store(_) | ServiceError::Internal(_) => {
                tracing::error!(cause = %e, "open311 request failed");
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "internal error".to_owned(),
                )
            }
        };
        Self::new(format, status, description)
    }
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        let errors = Errors::one(self.status.as_u16(), self.description);
        let mut response = answer(self.format, self.status, &errors);
        if let Some(s) = self.retry_after_s {
            response
                .headers_mut()
                .insert(axum::http::header::RETRY_AFTER, s.into());
        }
        response
    }
}

type Answer = Result<Response, Refusal>;

/// The Open311 name of a field the service names.
fn open311_field(field: &str) -> &str {
    match field {
        "lon" => "long",
        "category" => "service_code",
        "subcategory" => "attribute[subcategory]",
        "kind" => "attribute[kind]",
        "address" => "address_string",
        "contact" => "email",
        "note" => "description",
        other => other,
    }
}

fn extension(format: Format) -> &'static str {
    match format {
        Format::Json => "json",
        Format::Xml => "xml",
    }
}

/// The format named by the last segment of a path (JSON if none is).
fn format_of(uri: &Uri) -> Format {
    uri.path()
        .rsplit('/')
        .next()
        .and_then(Format::split_resource)
        .map_or(Format::Json, |(_, f)| f)
}

fn no_such_resource(format: Format, path: &str) -> Refusal {
    Refusal::not_found(format, format!("no Open311 resource {path}"))
}

/// Any path under `/open311/v2` that no route knows.
async fn unknown_resource(uri: Uri) -> Refusal {
    no_such_resource(format_of(&uri), uri.path())
}

/// A method a resource does not take.
async fn method_not_allowed(method: Method, uri: Uri) -> Refusal {
    Refusal::new(
        format_of(&uri),
        StatusCode::METHOD_NOT_ALLOWED,
        format!("{} does not take {method}", uri.path()),
    )
}

/// The stem and format of a route's last segment; a segment without a
/// known format is a 404.
fn resource(path: Result<Path<String>, PathRejection>) -> Result<(String, Format), Refusal> {
    let Ok(Path(segment)) = path else {
        return Err(no_such_resource(Format::Json, "(undecodable path)"));
    };
    match Format::split_resource(&segment) {
        Some((stem, format)) => Ok((stem.to_owned(), format)),
        None => Err(no_such_resource(
            Format::Json,
            &format!("{segment}: name a format, .json or .xml"),
        )),
    }
}

/// `GET /open311/v2/{discovery|services|requests|servicerequestupdates}.{fmt}`.
#[utoipa::path(
    get,
    path = "/{resource}",
    tag = "open311",
    params(
        ("resource" = String, Path, description = "discovery, services, requests or servicerequestupdates, with .json or .xml", pattern = "^(discovery|services|requests|servicerequestupdates)\\.(json|xml)$"),
        ("jurisdiction_id" = Option<String>, Query, description = "Ignored when it is this city"),
        ("service_request_id" = Option<String>, Query, description = "requests: ids, comma-separated"),
        ("service_code" = Option<String>, Query, description = "requests: category codes, comma-separated"),
        ("start_date" = Option<String>, Query, description = "requests: filed at or after (W3C date-time)"),
        ("end_date" = Option<String>, Query, description = "requests: filed before (W3C date-time)"),
        ("status" = Option<String>, Query, description = "requests: open or closed"),
        ("updated_after" = Option<String>, Query, description = "updates: changed after (W3C date-time)"),
        ("updated_before" = Option<String>, Query, description = "updates: changed before (W3C date-time)"),
        ("page" = Option<String>, Query, description = "requests: page number, from 1"),
        ("page_size" = Option<String>, Query, description = "requests: results per page"),
        ("extensions" = Option<String>, Query, description = "requests: true for civicmap\'s extra fields")
    ),
    responses(
        (status = 200, description = "The document in the asked format", content((serde_json::Value = "application/json"), (String = "text/xml"))),
        (status = 400, description = "Bad input (the parameter is named)", content((crate::http::openapi::Open311Refusal = "application/json"), (String = "text/xml"))),
        (status = 404, description = "No such resource or request", content((crate::http::openapi::Open311Refusal = "application/json"), (String = "text/xml"))),
        (status = 405, description = "The resource does not take this method", content((crate::http::openapi::Open311Refusal = "application/json"), (String = "text/xml"))),
        (status = 500, description = "A failure inside the server (opaque)", content((crate::http::openapi::Open311Refusal = "application/json"), (String = "text/xml"))),
        (status = 503, description = "The server is at a limit (`Retry-After`)", content((crate::http::openapi::Open311Refusal = "application/json"), (String = "text/xml")))
    )
)]
async fn get_resource(
    State(app): State<AppState>,
    path: Result<Path<String>, PathRejection>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Answer {
    let (stem, format) = resource(path)?;
    let query = query.unwrap_or_default();
    match stem.as_str() {
        "discovery" => Ok(ok(format, &discovery(&headers))),
        "services" => Ok(ok(format, &services(app.taxonomy.categories()))),
        "requests" => list_requests(&app, format, query.as_bytes()).await,
        "servicerequestupdates" => list_updates(&app, format, query.as_bytes()).await,
        _ => Err(no_such_resource(
            format,
            &format!("{stem}.{}", extension(format)),
        )),
    }
}

/// `POST /open311/v2/{requests|servicerequestupdates}.{fmt}`.
#[utoipa::path(
    post,
    path = "/{resource}",
    tag = "open311",
    params(
        ("resource" = String, Path, description = "discovery, services, requests or servicerequestupdates, with .json or .xml", pattern = "^(discovery|services|requests|servicerequestupdates)\\.(json|xml)$")
    ),
    request_body(content = crate::http::openapi::Open311Form, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 201, description = "Committed: the new request or update", content((serde_json::Value = "application/json"), (String = "text/xml"))),
        (status = 200, description = "A retry of a request already filed", content((serde_json::Value = "application/json"), (String = "text/xml"))),
        (status = 400, description = "Bad input (the parameter is named)", content((crate::http::openapi::Open311Refusal = "application/json"), (String = "text/xml"))),
        (status = 403, description = "No valid key, or a key that may not do this", content((crate::http::openapi::Open311Refusal = "application/json"), (String = "text/xml"))),
        (status = 404, description = "No such resource or request", content((crate::http::openapi::Open311Refusal = "application/json"), (String = "text/xml"))),
        (status = 405, description = "The resource does not take this method", content((crate::http::openapi::Open311Refusal = "application/json"), (String = "text/xml"))),
        (status = 429, description = "A quota is used up (`Retry-After`)", content((crate::http::openapi::Open311Refusal = "application/json"), (String = "text/xml"))),
        (status = 500, description = "A failure inside the server (opaque)", content((crate::http::openapi::Open311Refusal = "application/json"), (String = "text/xml"))),
        (status = 503, description = "The server is at a limit (`Retry-After`)", content((crate::http::openapi::Open311Refusal = "application/json"), (String = "text/xml")))
    )
)]
async fn post_resource(
    State(app): State<AppState>,
    client: super::limits::Client,
    path: Result<Path<String>, PathRejection>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Answer {
    let (stem, format) = resource(path)?;
    let action = match stem.as_str() {
        "requests" => Action::FileReport,
        "servicerequestupdates" => Action::ChangeStatus,
        "discovery" | "services" => {
            return Err(Refusal::new(
                format,
                StatusCode::METHOD_NOT_ALLOWED,
                format!("{stem}.{} does not take POST", extension(format)),
            ));
        }
        _ => {
            return Err(no_such_resource(
                format,
                &format!("{stem}.{}", extension(format)),
            ));
        }
    };
    let body = body.map_err(|_| {
        Refusal::new(
            format,
            StatusCode::BAD_REQUEST,
            format!(
                "the body could not be read (at most {} bytes)",
                crate::config::MAX_BODY_BYTES
            ),
        )
    })?;
    if let Some(ct) = headers.get(CONTENT_TYPE) {
        let form = ct
            .to_str()
            .ok()
            .and_then(|v| v.split(';').next())
            .is_some_and(|m| {
                m.trim()
                    .eq_ignore_ascii_case("application/x-www-form-urlencoded")
            });
        if !form {
            return Err(Refusal::new(
                format,
                StatusCode::BAD_REQUEST,
                "expected a form body, Content-Type: application/x-www-form-urlencoded",
            ));
        }
    }
    let caller = caller_of(&app, &body, action)
        .await
        .map_err(|e| Refusal::service(format, e))?;
    if action == Action::FileReport {
        client
            .admit(Some(&caller), crate::limits::Quota::Report)
            .await
            .map_err(|d| Refusal::limit(format, d.into()))?;
        client
            .guard
            .room_for_reports(&app)
            .map_err(|e| Refusal::limit(format, e))?;
        create_request(&app, format, &body).await
    } else {
        post_update(&app, format, &caller, &body).await
    }
}

/// The caller behind the form's `api_key`, allowed to do `action`. Checked
/// before the rest of the form is read: without a good key, nothing else
/// is answered.
async fn caller_of(app: &App, form: &[u8], action: Action) -> Result<Caller, ServiceError> {
    let key = form_urlencoded::parse(form)
        .find(|(k, _)| k == "api_key")
        .map(|(_, v)| v.trim().to_owned())
        .filter(|v| !v.is_empty());
    let Some(key) = key else {
        return Err(ServiceError::Forbidden("api_key is required".into()));
    };
    let caller = app.authenticate(&key).await?;
    App::authorize(&caller, action)?;
    Ok(caller)
}

/// The absolute base URL of this endpoint, as the client reached it.
fn base_url(headers: &HeaderMap) -> String {
    let host = headers
        .get(HOST)
        .and_then(|h| h.to_str().ok())
        .filter(|h| {
            !h.is_empty()
                && h.len() <= 255
                && h.chars()
                    .all(|c| c.is_ascii_alphanumeric() || ".-:[]".contains(c))
        })
        .unwrap_or("localhost");
    let https = headers
        .get("x-forwarded-proto")
        .and_then(|h| h.to_str().ok())
        .is_some_and(|p| p.eq_ignore_ascii_case("https"));
    let scheme = if https { "https" } else { "http" };
    format!("{scheme}://{host}/open311/v2")
}

fn discovery(headers: &HeaderMap) -> Discovery {
    Discovery {
        changeset: CHANGESET,
        contact: CONTACT.to_owned(),
        key_service: KEY_SERVICE.to_owned(),
        endpoints: vec![Endpoint {
            specification: GEOREPORT_V2_SPECIFICATION.to_owned(),
            url: base_url(headers),
            changeset: CHANGESET,
            endpoint_type: EndpointType::Production,
            formats: Format::ALL.to_vec(),
        }],
    }
}

/// `GET services/{code}.{fmt}`.
#[utoipa::path(
    get,
    path = "/services/{resource}",
    tag = "open311",
    params(
        ("resource" = String, Path, description = "A service code with .json or .xml")
    ),
    responses(
        (status = 200, description = "The service definition", content((serde_json::Value = "application/json"), (String = "text/xml"))),
        (status = 404, description = "No such resource or request", content((crate::http::openapi::Open311Refusal = "application/json"), (String = "text/xml"))),
        (status = 405, description = "The resource does not take this method", content((crate::http::openapi::Open311Refusal = "application/json"), (String = "text/xml"))),
        (status = 500, description = "A failure inside the server (opaque)", content((crate::http::openapi::Open311Refusal = "application/json"), (String = "text/xml"))),
        (status = 503, description = "The server is at a limit (`Retry-After`)", content((crate::http::openapi::Open311Refusal = "application/json"), (String = "text/xml")))
    )
)]
async fn one_service(
    State(app): State<AppState>,
    path: Result<Path<String>, PathRejection>,
) -> Answer {
    let (code, format) = resource(path)?;
    let id = app
        .service_category(&code)
        .ok_or_else(|| Refusal::not_found(format, format!("no service {code}")))?;
    Ok(ok(format, &service_definition(app.taxonomy.category(id))))
}

/// `GET tokens/{token}.{fmt}`: every service is realtime, so no token was
/// ever issued and none is known.
#[utoipa::path(
    get,
    path = "/tokens/{resource}",
    tag = "open311",
    params(
        ("resource" = String, Path, description = "A token with .json or .xml")
    ),
    responses(
        (status = 404, description = "No such resource or request", content((crate::http::openapi::Open311Refusal = "application/json"), (String = "text/xml"))),
        (status = 405, description = "The resource does not take this method", content((crate::http::openapi::Open311Refusal = "application/json"), (String = "text/xml"))),
        (status = 500, description = "A failure inside the server (opaque)", content((crate::http::openapi::Open311Refusal = "application/json"), (String = "text/xml"))),
        (status = 503, description = "The server is at a limit (`Retry-After`)", content((crate::http::openapi::Open311Refusal = "application/json"), (String = "text/xml")))
    )
)]
async fn token(path: Result<Path<String>, PathRejection>) -> Refusal {
    match resource(path) {
        Ok((_, format)) => Refusal::not_found(
            format,
            "unknown token: every service is realtime, POST requests answers with the \
             service_request_id and no token is ever issued",
        ),
        Err(refusal) => refusal,
    }
}

/// `POST requests.{fmt}` by an authorised caller.
async fn create_request(app: &App, format: Format, form: &[u8]) -> Answer {
    let post = parse_post_request(form).map_err(|e| Refusal::input(format, &e))?;
    let category = app
        .service_category(&post.service_code)
        .ok_or_else(|| Refusal::not_found(format, format!("no service {}", post.service_code)))?;
    let definition = service_definition(app.taxonomy.category(category));
    check_attributes(&definition, &post.attributes).map_err(|e| Refusal::input(format, &e))?;
    let location = &post.location;
    if location.point.is_none() && location.address_string.is_none() {
        return Err(Refusal::new(
            format,
            StatusCode::BAD_REQUEST,
            "address_id is not supported here: give lat and long, or address_string",
        ));
    }
    let contact = post
        .reporter
        .email
        .as_ref()
        .or(post.reporter.phone.as_ref())
        .map(|c| c.expose().to_owned());
    let input = NewReport {
        kind: requested_kind(&post.attributes).as_str().to_owned(),
        category: post.service_code.clone(),
        subcategory: requested_subcategory(&post.attributes).map(str::to_owned),
        description: post.description.clone(),
        lon: location.point.map(|p| p.lon()),
        lat: location.point.map(|p| p.lat()),
        address: location.address_string.clone(),
        client_id: None,
        channel: Some("web".to_owned()),
        contact,
        campaign: None,
    };
    let created = app
        .create_report(input)
        .await
        .map_err(|e| Refusal::service(format, e))?;
    let mut notice = Vec::new();
    if !created.nearby.is_empty() {
        let ids: Vec<String> = created
            .nearby
            .iter()
            .take(NEARBY_IN_NOTICE)
            .map(|n| n.report.id.to_string())
            .collect();
        notice.push(format!(
            "Signalements de ce type déjà ouverts à proximité : {}.",
            ids.join(", ")
        ));
    }
    if post.media_url.is_some() {
        notice.push(MEDIA_URL_NOTICE.to_owned());
    }
    Ok(ok(
        format,
        &CreatedRequest {
            receipt: Receipt::Id(created.report.id.to_string()),
            service_notice: (!notice.is_empty()).then(|| notice.join(" ")),
            account_id: None,
        },
    ))
}

/// A report id of the API (`None`: not one, so not found).
fn report_id(s: &str) -> Option<ReportId> {
    s.parse::<ReportId>().ok().filter(|i| *i > 0)
}

/// `GET requests.{fmt}`.
async fn list_requests(app: &App, format: Format, query: &[u8]) -> Answer {
    let q = parse_requests_query(query, OffsetDateTime::now_utc())
        .map_err(|e| Refusal::input(format, &e))?;
    if let Selection::Filter(f) = &q.selection
        && let Some(bbox) = &f.bbox
    {
        let (area, max) = (bbox.area_km2(), app.config.limits.max_bbox_km2);
        if area > max {
            return Err(Refusal::new(
                format,
                StatusCode::BAD_REQUEST,
                format!(
                    "lat_ne,long_ne,lat_sw,long_sw: the box covers {area:.0} km², more than the \
                     {max:.0} km² allowed"
                ),
            ));
        }
    }
    let ids = match &q.selection {
        // The spec: ids "override all other arguments", paging included.
        Selection::Ids(ids) => ids.iter().filter_map(|s| report_id(s)).collect(),
        Selection::Filter(f) => app
            .select_requests(f, q.offset(), q.page_size)
            .map_err(|e| Refusal::service(format, e))?,
    };
    let doc = requests(app, &ids, q.extensions)
        .await
        .map_err(|e| Refusal::service(format, e))?;
    Ok(ok(format, &doc))
}

/// `GET requests/{id}.{fmt}`.
#[utoipa::path(
    get,
    path = "/requests/{resource}",
    tag = "open311",
    params(
        ("resource" = String, Path, description = "A request id with .json or .xml"),
        ("jurisdiction_id" = Option<String>, Query, description = "Ignored when it is this city"),
        ("extensions" = Option<String>, Query, description = "true for civicmap\'s extra fields")
    ),
    responses(
        (status = 200, description = "The request, as a list of one", content((serde_json::Value = "application/json"), (String = "text/xml"))),
        (status = 400, description = "Bad input (the parameter is named)", content((crate::http::openapi::Open311Refusal = "application/json"), (String = "text/xml"))),
        (status = 404, description = "No such resource or request", content((crate::http::openapi::Open311Refusal = "application/json"), (String = "text/xml"))),
        (status = 405, description = "The resource does not take this method", content((crate::http::openapi::Open311Refusal = "application/json"), (String = "text/xml"))),
        (status = 500, description = "A failure inside the server (opaque)", content((crate::http::openapi::Open311Refusal = "application/json"), (String = "text/xml"))),
        (status = 503, description = "The server is at a limit (`Retry-After`)", content((crate::http::openapi::Open311Refusal = "application/json"), (String = "text/xml")))
    )
)]
async fn one_request(
    State(app): State<AppState>,
    path: Result<Path<String>, PathRejection>,
    RawQuery(query): RawQuery,
) -> Answer {
    let (stem, format) = resource(path)?;
    let options = parse_request_options(query.unwrap_or_default().as_bytes())
        .map_err(|e| Refusal::input(format, &e))?;
    let not_found = || Refusal::not_found(format, format!("no request {stem}"));
    let id = report_id(&stem).ok_or_else(not_found)?;
    let doc = requests(&app, &[id], options.extensions)
        .await
        .map_err(|e| Refusal::service(format, e))?;
    if doc.0.is_empty() {
        return Err(not_found());
    }
    Ok(ok(format, &doc))
}

/// These reports as service requests, in order, with their extensions if
/// asked.
async fn requests(
    app: &App,
    ids: &[ReportId],
    extensions: bool,
) -> Result<ServiceRequests, ServiceError> {
    let records = app.requests_by_ids(ids).await?;
    let mut timelines = if extensions {
        app.request_timelines(ids).await?
    } else {
        HashMap::new()
    };
    let codec = app.codec();
    Ok(ServiceRequests(
        records
            .iter()
            .map(|rec| {
                let mut r = service_request(&rec.report, &app.taxonomy);
                r.updated_datetime = Some(rec.updated());
                if extensions {
                    r.extensions = Some(request_extensions(
                        &codec,
                        rec,
                        timelines.remove(&rec.report.id).unwrap_or_default(),
                    ));
                }
                r
            })
            .collect(),
    ))
}

fn request_extensions(
    codec: &Codec<'_>,
    rec: &RequestRecord,
    timeline: Vec<PublicEvent>,
) -> RequestExtensions {
    let district = |layer: Layer| {
        rec.report
            .districts
            .get(layer)
            .and_then(|d| codec.district_ref(d))
    };
    let mut attrs = extended_attributes(&rec.report);
    attrs.arrondissement = district(Layer::Arrondissement);
    attrs.working_class_district = district(Layer::WorkingClass);
    attrs.duplicate_of = rec.state.duplicate_of.map(|d| d.to_string());
    attrs.supports = rec.supports;
    RequestExtensions {
        extended_attributes: attrs,
        notes: timeline
            .into_iter()
            .map(|e| Note {
                datetime: e.at,
                // A plain note leaves the state as it was.
                status: (e.kind != "note").then_some(e.status),
                description: e.note,
                author: e.author,
            })
            .collect(),
    }
}

/// `GET servicerequestupdates.{fmt}` (mySociety).
async fn list_updates(app: &App, format: Format, query: &[u8]) -> Answer {
    let q = parse_updates_query(query, OffsetDateTime::now_utc())
        .map_err(|e| Refusal::input(format, &e))?;
    let events = app
        .request_updates(q.window.start, q.window.end, q.offset(), q.page_size)
        .await
        .map_err(|e| Refusal::service(format, e))?;
    let updates = events
        .into_iter()
        .map(|e| {
            request_update(
                e.id.to_string(),
                e.report_id,
                e.status,
                e.at,
                e.note.unwrap_or_default(),
            )
        })
        .collect();
    Ok(ok(format, &RequestUpdates(updates)))
}

/// `POST servicerequestupdates.{fmt}` (mySociety) by an agent.
async fn post_update(app: &App, format: Format, caller: &Caller, form: &[u8]) -> Answer {
    let u = parse_post_update(form).map_err(|e| Refusal::input(format, &e))?;
    let id = report_id(&u.service_request_id).ok_or_else(|| {
        Refusal::not_found(format, format!("no request {}", u.service_request_id))
    })?;
    let update_id = app
        .apply_request_update(caller, id, u.status, &u.description)
        .await
        .map_err(|e| Refusal::service(format, e))?;
    Ok(ok(
        format,
        &PostedUpdate {
            update_id: update_id.to_string(),
            account_id: None,
        },
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn service_field_names_become_open311_names() {
        assert_eq!(open311_field("lon"), "long");
        assert_eq!(open311_field("lat"), "lat");
        assert_eq!(open311_field("subcategory"), "attribute[subcategory]");
        assert_eq!(open311_field("note"), "description");
    }

    #[test]
    fn the_discovery_url_is_the_host_the_client_used_and_nothing_else() {
        let mut h = HeaderMap::new();
        assert_eq!(base_url(&h), "http://localhost/open311/v2");
        h.insert(HOST, "civicmap.example.org:8443".parse().unwrap());
        h.insert("x-forwarded-proto", "https".parse().unwrap());
        assert_eq!(base_url(&h), "https://civicmap.example.org:8443/open311/v2");
        h.insert(HOST, "evil/<x>".parse().unwrap());
        assert_eq!(base_url(&h), "https://localhost/open311/v2");
    }
}
