//! Report photos over HTTP: the upload (`multipart/form-data`), a report's
//! list, and the files themselves.
//!
//! * `POST /api/v1/reports/{id}/photos` (app or agent key): one to three
//!   `photo` fields, and `after_treatment=true` for the agent's photo of a
//!   done report. The part's file name and declared type are ignored: the
//!   bytes say what they are. All or none are stored. 201 with the photos
//!   (200 when every one was already held: a retried upload).
//! * `GET /api/v1/reports/{id}/photos`: the photos of a report, public.
//! * `GET /photos/{name}`: a sanitised JPEG, `{hash}-display.jpg` or
//!   `{hash}-full.jpg`, immutable (the name is the content's hash). Any
//!   other name is a 404 before anything is read.

use std::sync::Arc;

use axum::Json;
use axum::extract::multipart::{Field, MultipartError, MultipartRejection};
use axum::extract::{Multipart, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use super::auth::Key;
use super::dto::{ReportJson, rfc3339};
use super::lifecycle::report_id;
use super::{ApiError, ApiPath, AppState};
use crate::model::{Action, ReportId};
use crate::photos::{Limits, MAX_PHOTOS_PER_REPORT, OUTPUT_CONTENT_TYPE, Variant};
use crate::service::PhotoInfo;

/// Largest upload request: three photos at the photo core's byte limit,
/// plus room for the multipart framing and the other fields. The rest of
/// the API keeps its small limit.
pub const MAX_UPLOAD_REQUEST_BYTES: usize = MAX_PHOTOS_PER_REPORT * 10 * 1024 * 1024 + 64 * 1024;

/// Photo files never change (their name is their content's hash).
const IMMUTABLE: &str = "public, max-age=31536000, immutable";

/// One photo of a report.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct PhotoJson {
    pub id: i64,
    /// The display rendition (long side ≤ 800 px).
    pub url: String,
    /// The full-size rendition (long side ≤ 2048 px).
    pub full_url: String,
    /// Of the full-size rendition.
    pub width: u32,
    pub height: u32,
    /// The agent's photo of the work done.
    pub after_treatment: bool,
    pub created_at: String,
}

impl From<&PhotoInfo> for PhotoJson {
    fn from(p: &PhotoInfo) -> Self {
        Self {
            id: p.id,
            url: photo_url(p, Variant::Display),
            full_url: photo_url(p, Variant::Full),
            width: p.width,
            height: p.height,
            after_treatment: p.after_treatment,
            created_at: rfc3339(p.created_at),
        }
    }
}

fn photo_url(p: &PhotoInfo, variant: Variant) -> String {
    format!("/photos/{}", p.file_name(variant))
}

/// The photos of a report.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct PhotosJson {
    pub report_id: ReportId,
    pub photos: Vec<PhotoJson>,
}

/// `GET /api/v1/reports/{id}` with the report's photos.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ReportWithPhotosJson {
    #[serde(flatten)]
    pub report: ReportJson,
    /// Display URLs of the reporter's photos, oldest first.
    pub photos: Vec<String>,
    /// Display URL of the after-treatment photo, once an agent added one.
    pub after_treatment_photo: Option<String>,
}

impl ReportWithPhotosJson {
    pub async fn new(app: &AppState, report: ReportJson) -> Result<Self, ApiError> {
        let photos = app.photos_of(report.id).await?.unwrap_or_default();
        let display = |p: &PhotoInfo| photo_url(p, Variant::Display);
        Ok(Self {
            photos: photos
                .iter()
                .filter(|p| !p.after_treatment)
                .map(display)
                .collect(),
            after_treatment_photo: photos.iter().find(|p| p.after_treatment).map(display),
            report,
        })
    }
}

/// `POST /api/v1/reports/{id}/photos` (app or agent).
/// The multipart form of a photo upload.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
pub struct PhotoUpload {
    /// JPEG, PNG or WebP; repeat the field for several photos. Each is
    /// decoded and re-encoded: metadata (EXIF, GPS) never survives.
    #[schema(value_type = Vec<String>, format = Binary)]
    photo: Vec<Vec<u8>>,
    /// `true` for a photo of the place after the city's work.
    after_treatment: Option<bool>,
}

#[utoipa::path(
    post,
    path = "/reports/{id}/photos",
    tag = "photos",
    params(("id" = i64, Path, description = "Report id", minimum = 1)),
    request_body(content = PhotoUpload, content_type = "multipart/form-data"),
    security(("bearer" = []), ("api_key" = [])),
    responses(
        (status = 201, description = "Stored, sanitised (re-encoded, metadata dropped)", body = PhotosJson),
        (status = 200, description = "The same photo was already attached", body = PhotosJson),
        crate::http::openapi::KeyRefusals,
        crate::http::openapi::NotFound,
        crate::http::openapi::BodyRefusals,
        crate::http::openapi::TooMany,
        crate::http::openapi::Refusals
    )
)]
pub async fn upload(
    key: Key,
    client: super::limits::Client,
    State(app): State<AppState>,
    ApiPath(id): ApiPath<String>,
    multipart: Result<Multipart, MultipartRejection>,
) -> Result<(StatusCode, Json<PhotosJson>), ApiError> {
    let caller = key.may(Action::UploadPhoto)?;
    client
        .admit(Some(caller), crate::limits::Quota::PhotoUpload)
        .await?;
    let id = report_id(&id)?;
    let mut multipart = multipart.map_err(|_| {
        ApiError::UnsupportedMedia(
            "expected Content-Type: multipart/form-data (with a boundary) holding `photo` fields"
                .into(),
        )
    })?;
    let max_bytes = Limits::default().max_bytes;
    let mut photos: Vec<Vec<u8>> = Vec::new();
    let mut after_treatment = false;
    while let Some(field) = multipart.next_field().await.map_err(multipart_error)? {
        match field.name().unwrap_or_default() {
            "photo" => {
                if photos.len() == MAX_PHOTOS_PER_REPORT {
                    return Err(ApiError::Unprocessable {
                        field: "photo".into(),
                        message: format!(
                            "at most {MAX_PHOTOS_PER_REPORT} photos per request (and per report)"
                        ),
                    });
                }
                photos.push(read_photo(field, max_bytes).await?);
            }
            "after_treatment" => {
                let text = field.text().await.map_err(multipart_error)?;
                after_treatment = match text.trim() {
                    "true" | "1" | "on" => true,
                    "false" | "0" | "" => false,
                    _ => {
                        return Err(ApiError::bad(
                            "after_treatment",
                            "after_treatment must be true or false",
                        ));
                    }
                };
            }
            other => {
                return Err(ApiError::bad(
                    other,
                    format!("unknown field {other:?}: expected photo or after_treatment"),
                ));
            }
        }
    }
    if photos.is_empty() {
        return Err(ApiError::bad(
            "photo",
            "no `photo` field: send the photo as a multipart/form-data field named photo",
        ));
    }
    let (caller, change) = (caller.clone(), Arc::clone(&app));
    let added = super::to_completion(async move {
        change
            .add_photos(&caller, id, photos, after_treatment)
            .await
    })
    .await?;
    let status = if added.iter().any(|p| p.new) {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((
        status,
        Json(PhotosJson {
            report_id: id,
            photos: added.iter().map(PhotoJson::from).collect(),
        }),
    ))
}

/// Reads one `photo` part, refusing it as soon as it passes `max` bytes.
async fn read_photo(mut field: Field<'_>, max: usize) -> Result<Vec<u8>, ApiError> {
    let mut bytes = Vec::new();
    while let Some(chunk) = field.chunk().await.map_err(multipart_error)? {
        if bytes.len() + chunk.len() > max {
            return Err(ApiError::TooLarge(format!(
                "the photo is larger than {max} bytes: at most {max} are accepted"
            )));
        }
        bytes.extend_from_slice(&chunk);
    }
    Ok(bytes)
}

fn multipart_error(e: MultipartError) -> ApiError {
    if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
        ApiError::TooLarge(format!(
            "the upload is larger than {MAX_UPLOAD_REQUEST_BYTES} bytes: send at most \
             {MAX_PHOTOS_PER_REPORT} photos of at most {} bytes each",
            Limits::default().max_bytes
        ))
    } else {
        ApiError::BadRequest {
            field: None,
            message: format!("malformed multipart body: {}", e.body_text()),
        }
    }
}

/// `GET /api/v1/reports/{id}/photos`: public.
#[utoipa::path(
    get,
    path = "/reports/{id}/photos",
    tag = "photos",
    params(("id" = i64, Path, description = "Report id", minimum = 1)),
    responses(
        (status = 200, description = "The report's photos", body = PhotosJson),
        crate::http::openapi::NotFound,
        crate::http::openapi::Refusals
    )
)]
pub async fn list(
    State(app): State<AppState>,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<PhotosJson>, ApiError> {
    let id = report_id(&id)?;
    let photos = app
        .photos_of(id)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("no report {id}")))?;
    Ok(Json(PhotosJson {
        report_id: id,
        photos: photos.iter().map(PhotoJson::from).collect(),
    }))
}

/// `GET /photos/{name}`: a photo file.
#[utoipa::path(
    get,
    path = "/photos/{name}",
    tag = "photos",
    params(("name" = String, Path, description = "A photo file name from a report's photo list")),
    responses(
        (status = 200, description = "The sanitised photo", content_type = "image/jpeg", body = Vec<u8>),
        crate::http::openapi::NotFound,
        crate::http::openapi::Refusals
    )
)]
pub async fn file(
    State(app): State<AppState>,
    ApiPath(name): ApiPath<String>,
) -> Result<Response, ApiError> {
    let Some(bytes) = app.photo_file(&name).await? else {
        return Err(ApiError::NotFound(
            "no such photo: names are {sha256}-display.jpg or {sha256}-full.jpg".into(),
        ));
    };
    Ok((
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static(OUTPUT_CONTENT_TYPE),
            ),
            (
                header::X_CONTENT_TYPE_OPTIONS,
                HeaderValue::from_static("nosniff"),
            ),
            (header::CACHE_CONTROL, HeaderValue::from_static(IMMUTABLE)),
        ],
        bytes,
    )
        .into_response())
}
