//! The OpenAPI 3.1 document of the service, served at `/openapi.json`.
//!
//! It is generated from the code, never written beside it: each handler
//! carries a `#[utoipa::path]` attribute (method, path, parameters, body,
//! every response), request and response types derive `ToSchema`, and the
//! routers are built with utoipa-axum's `OpenApiRouter`, which registers a
//! handler with axum and its operation in the document in one call
//! (`routes!`). A route that is served is therefore documented, under the
//! path it is served at. The error responses shared by many operations are
//! the response sets below.

use utoipa::IntoResponses;
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{ContactBuilder, InfoBuilder, LicenseBuilder, OpenApi, Tag};

use super::error::ErrorBody;

/// The security scheme names operations refer to.
pub const BEARER: &str = "bearer";
pub const API_KEY: &str = "api_key";

/// What any operation may answer besides its own responses: a malformed
/// request, the server's own load limits, and a failure inside it.
#[derive(IntoResponses)]
#[allow(dead_code)]
pub enum Refusals {
    /// A malformed request: a path segment, a query parameter or the body
    /// (named in `field`).
    #[response(status = 400)]
    BadRequest(ErrorBody),
    /// The server is at its in-flight limit, or the response was not ready
    /// before the request deadline: retry after `Retry-After` seconds.
    #[response(
        status = 503,
        headers(("Retry-After" = u64, description = "Seconds to wait before retrying"))
    )]
    Unavailable(ErrorBody),
    /// A failure inside the server; the body says nothing more (the cause
    /// is logged).
    #[response(status = 500)]
    Internal(ErrorBody),
}

/// The refusals of an operation that needs an API key.
#[derive(IntoResponses)]
#[allow(dead_code)]
pub enum KeyRefusals {
    /// No API key, or one that is not valid (revoked, unknown).
    #[response(
        status = 401,
        headers(("WWW-Authenticate" = String, description = "`Bearer realm=\"civicmap\"`"))
    )]
    Unauthorized(ErrorBody),
    /// A valid key whose role may not do this.
    #[response(status = 403)]
    Forbidden(ErrorBody),
}

/// A key that is given must be valid, even where none is needed.
#[derive(IntoResponses)]
#[response(
    status = 401,
    headers(("WWW-Authenticate" = String, description = "`Bearer realm=\"civicmap\"`"))
)]
#[allow(dead_code)]
pub struct BadKey(ErrorBody);

/// The resource named in the path does not exist.
#[derive(IntoResponses)]
#[response(status = 404)]
#[allow(dead_code)]
pub struct NotFound(ErrorBody);

/// Well-formed but not acceptable: out of range, unknown category or
/// district, too long, outside the served city (the field is named).
#[derive(IntoResponses)]
#[response(status = 422)]
#[allow(dead_code)]
pub struct Invalid(ErrorBody);

/// The refusals of a JSON body.
#[derive(IntoResponses)]
#[allow(dead_code)]
pub enum BodyRefusals {
    /// The body is larger than the limit.
    #[response(status = 413)]
    TooLarge(ErrorBody),
    /// The body is not `application/json`.
    #[response(status = 415)]
    NotJson(ErrorBody),
    /// Well-formed but not acceptable (the field is named).
    #[response(status = 422)]
    Invalid(ErrorBody),
}

/// A quota of the caller's address or key is used up.
#[derive(IntoResponses)]
#[response(
    status = 429,
    headers(("Retry-After" = u64, description = "Seconds until the quota allows one more"))
)]
#[allow(dead_code)]
pub struct TooMany(ErrorBody);

/// The change conflicts with the resource's current state.
#[derive(IntoResponses)]
#[response(status = 409)]
#[allow(dead_code)]
pub struct Conflict(ErrorBody);

/// Completes a document gathered from the routers: what the service is,
/// its licence, the key schemes and the tags.
#[must_use]
pub fn complete(mut doc: OpenApi) -> OpenApi {
    doc.info = InfoBuilder::new()
        .title("civicmap")
        .version(env!("CARGO_PKG_VERSION"))
        .description(Some(
            "Street reports (anomalies and positive contributions), participatory-budget \
             projects and district statistics of a city on a map: JSON API under /api/v1, \
             vector tiles under /tiles, Open311 GeoReport v2 under /open311/v2. Reading is \
             public; filing needs an app key, lifecycle changes an agent key, unsuppressed \
             statistics an analyst key. Refusals are JSON bodies naming the field and the \
             reason.",
        ))
        .license(Some(
            LicenseBuilder::new()
                .name(env!("CARGO_PKG_LICENSE"))
                .build(),
        ))
        .contact(Some(ContactBuilder::new().name(Some("civicmap")).build()))
        .build();
    // Operation ids are the handlers' names, which repeat across modules
    // (`list`, `one`): prefixed with the operation's tag they are unique.
    for item in doc.paths.paths.values_mut() {
        for op in [
            &mut item.get,
            &mut item.post,
            &mut item.put,
            &mut item.delete,
            &mut item.patch,
        ]
        .into_iter()
        .flatten()
        {
            if let (Some(id), Some(tag)) =
                (&op.operation_id, op.tags.as_ref().and_then(|t| t.first()))
            {
                op.operation_id = Some(format!("{tag}.{id}"));
            }
        }
    }
    let components = doc.components.get_or_insert_with(Default::default);
    components.add_security_scheme(
        BEARER,
        SecurityScheme::Http(
            HttpBuilder::new()
                .scheme(HttpAuthScheme::Bearer)
                .description(Some("An API key: `Authorization: Bearer <key>`"))
                .build(),
        ),
    );
    components.add_security_scheme(
        API_KEY,
        SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
            "X-Api-Key",
            "The same API key in its own header",
        ))),
    );
    doc.tags = Some(
        [
            ("reports", "Street reports: filing, reading, the taxonomy"),
            (
                "lifecycle",
                "Status changes, notes, duplicates, supports, timelines",
            ),
            ("photos", "Photos of reports, sanitised"),
            ("privacy", "Reporter contacts: held or erased, never shown"),
            ("projects", "Participatory-budget projects"),
            ("districts", "District layers and their perimeters"),
            ("geocoding", "Addresses of the city's address base"),
            (
                "statistics",
                "Per-district, hexagon, series and equity statistics",
            ),
            ("export", "Open-data exports of reports and projects"),
            (
                "campaigns",
                "Themes the city opens for positive contributions",
            ),
            ("events", "The live stream of changes"),
            ("webhooks", "Deliveries of changes to a receiver"),
            ("keys", "API keys"),
            ("tiles", "Vector tiles (MVT) and their TileJSON"),
            ("open311", "GeoReport v2 (Open311)"),
            ("viewer", "The map page"),
            ("service", "Health and this document"),
        ]
        .into_iter()
        .map(|(name, description)| {
            let mut tag = Tag::new(name);
            tag.description = Some(description.to_owned());
            tag
        })
        .collect(),
    );
    doc
}

/// One Open311 error; an Open311 refusal is a list of them (in XML:
/// `<errors><error><code/><description/></error></errors>`).
#[derive(serde::Serialize, utoipa::ToSchema)]
#[allow(dead_code)]
pub struct Open311ErrorJson {
    /// The HTTP status.
    pub code: u16,
    pub description: String,
}

/// An Open311 refusal in JSON: the GeoReport error list, or, when the
/// server's load limits refuse before the route is reached, the API's own
/// error body.
#[derive(serde::Serialize, utoipa::ToSchema)]
#[serde(untagged)]
#[allow(dead_code)]
pub enum Open311Refusal {
    Open311(Vec<Open311ErrorJson>),
    Api(ErrorBody),
}

/// A GeoReport v2 form body (`application/x-www-form-urlencoded`): a new
/// service request (`requests.*`) or an update (`servicerequestupdates.*`).
/// The contact fields are private: never shown again, erased on request.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
pub struct Open311Form {
    /// An app key (filing) or an agent key (updates).
    pub api_key: String,
    pub jurisdiction_id: Option<String>,
    /// A category code (`services.json`); filing only.
    pub service_code: Option<String>,
    /// WGS84 latitude; filing needs `lat`/`long` or `address_string`.
    pub lat: Option<f64>,
    /// WGS84 longitude.
    pub long: Option<f64>,
    pub address_string: Option<String>,
    pub address_id: Option<String>,
    pub description: Option<String>,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub device_id: Option<String>,
    pub account_id: Option<String>,
    /// Never fetched (the service downloads nothing): noted in the answer.
    pub media_url: Option<String>,
    /// Updates: the report id.
    pub service_request_id: Option<String>,
    /// Updates: `open` or `closed`, or a civicmap status.
    pub status: Option<String>,
}
