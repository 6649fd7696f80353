//! The API key of a request: `Authorization: Bearer <key>` or
//! `X-Api-Key: <key>`. Public reading needs none; handlers that change
//! something take a [`Key`] and check its role through the service.

use axum::extract::FromRequestParts;
use axum::http::HeaderMap;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;

use super::{ApiError, AppState};
use crate::model::Action;
use crate::service::{App, Caller};

/// The authenticated caller of a request. Missing or bad key: 401.
#[derive(Debug, Clone)]
pub struct Key(pub Caller);

impl Key {
    /// Checks the key's role for `action` (403 otherwise).
    pub fn may(&self, action: Action) -> Result<&Caller, ApiError> {
        App::authorize(&self.0, action)?;
        Ok(&self.0)
    }
}

/// The key text of a request, if any (never logged).
pub fn key_of(parts: &Parts) -> Result<Option<&str>, ApiError> {
    key_in(&parts.headers)
}

/// The key text of request headers, if any (never logged).
pub fn key_in(headers: &HeaderMap) -> Result<Option<&str>, ApiError> {
    if let Some(v) = headers.get(AUTHORIZATION) {
        let v = v
            .to_str()
            .map_err(|_| ApiError::Unauthorized("malformed Authorization header".into()))?;
        let Some((scheme, key)) = v.split_once(' ') else {
            return Err(ApiError::Unauthorized(
                "expected Authorization: Bearer <API key>".into(),
            ));
        };
        if !scheme.eq_ignore_ascii_case("bearer") {
            return Err(ApiError::Unauthorized(
                "expected Authorization: Bearer <API key>".into(),
            ));
        }
        return Ok(Some(key.trim()));
    }
    match headers.get("x-api-key") {
        Some(v) => v
            .to_str()
            .map(|s| Some(s.trim()))
            .map_err(|_| ApiError::Unauthorized("malformed X-Api-Key header".into())),
        None => Ok(None),
    }
}

impl FromRequestParts<AppState> for Key {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, app: &AppState) -> Result<Self, ApiError> {
        let Some(key) = key_of(parts)? else {
            return Err(ApiError::Unauthorized(
                "this needs an API key: Authorization: Bearer <key>".into(),
            ));
        };
        Ok(Key(app.authenticate(key).await?))
    }
}
