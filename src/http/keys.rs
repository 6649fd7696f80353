//! `/api/v1/keys` (admin): API keys. A new key is shown once, in the 201.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};

use super::auth::Key;
use super::dto::rfc3339;
use super::{ApiError, ApiJson, ApiPath, AppState};
use crate::model::{Action, Role};
use crate::service::{create_key, from_unix_ms};
use crate::store::KeyRow;

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct KeyJson {
    pub id: i64,
    pub name: String,
    pub role: String,
    /// The key's first characters, to tell keys apart.
    pub prefix: String,
    pub created_at: String,
    pub revoked_at: Option<String>,
    /// The key itself: only in the answer that created it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
}

impl KeyJson {
    fn new(r: &KeyRow, key: Option<String>) -> Self {
        Self {
            id: r.id,
            name: r.name.clone(),
            role: r.role.clone(),
            prefix: r.prefix.clone(),
            created_at: from_unix_ms(r.created_at_ms)
                .map(rfc3339)
                .unwrap_or_default(),
            revoked_at: r.revoked_at_ms.and_then(from_unix_ms).map(rfc3339),
            key,
        }
    }
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct KeysJson {
    pub items: Vec<KeyJson>,
}

/// `GET /api/v1/keys`.
#[utoipa::path(
    get,
    path = "/keys",
    tag = "keys",
    security(("bearer" = []), ("api_key" = [])),
    responses(
        (status = 200, description = "The keys (never their secrets)", body = KeysJson),
        crate::http::openapi::KeyRefusals,
        crate::http::openapi::Refusals
    )
)]
pub async fn list(key: Key, State(app): State<AppState>) -> Result<Json<KeysJson>, ApiError> {
    key.may(Action::ManageKeys)?;
    let rows = app
        .store()
        .keys()
        .await
        .map_err(crate::service::ServiceError::from)?;
    Ok(Json(KeysJson {
        items: rows.iter().map(|r| KeyJson::new(r, None)).collect(),
    }))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewKeyBody {
    pub name: String,
    pub role: String,
}

/// `POST /api/v1/keys`.
#[utoipa::path(
    post,
    path = "/keys",
    tag = "keys",
    request_body = NewKeyBody,
    security(("bearer" = []), ("api_key" = [])),
    responses(
        (status = 201, description = "The key, with its secret shown this once", body = KeyJson),
        crate::http::openapi::KeyRefusals,
        crate::http::openapi::BodyRefusals,
        crate::http::openapi::Refusals
    )
)]
pub async fn create(
    key: Key,
    State(app): State<AppState>,
    ApiJson(b): ApiJson<NewKeyBody>,
) -> Result<(StatusCode, Json<KeyJson>), ApiError> {
    key.may(Action::ManageKeys)?;
    let role: Role =
        b.role
            .parse()
            .map_err(|e: crate::model::RoleError| ApiError::Unprocessable {
                field: "role".into(),
                message: e.to_string(),
            })?;
    let (row, secret) = create_key(app.store(), &b.name, role).await?;
    Ok((StatusCode::CREATED, Json(KeyJson::new(&row, Some(secret)))))
}

/// `DELETE /api/v1/keys/{id}`: revokes a key (it stays listed).
#[utoipa::path(
    delete,
    path = "/keys/{id}",
    tag = "keys",
    params(("id" = i64, Path, description = "Key id", minimum = 1)),
    security(("bearer" = []), ("api_key" = [])),
    responses(
        (status = 204, description = "Revoked"),
        crate::http::openapi::KeyRefusals,
        crate::http::openapi::NotFound,
        crate::http::openapi::Refusals
    )
)]
pub async fn revoke(
    key: Key,
    State(app): State<AppState>,
    ApiPath(id): ApiPath<String>,
) -> Result<StatusCode, ApiError> {
    key.may(Action::ManageKeys)?;
    let id: i64 = id
        .parse()
        .map_err(|_| ApiError::bad("id", "key id must be an integer"))?;
    let done = app.revoke_key(id).await?;
    if done {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::NotFound(format!("no active key {id}")))
    }
}
