//! The one HTTP error: every refusal is a JSON body naming the field and the
//! reason; 5xx bodies are opaque and their cause is logged.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use crate::service::ServiceError;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// The request is syntactically wrong (malformed JSON, unknown or missing
    /// field, wrong type, bad query string).
    #[error("{message}")]
    BadRequest {
        field: Option<String>,
        message: String,
    },
    /// Well-formed but not acceptable (out of range, unknown category, too long).
    #[error("{field}: {message}")]
    Unprocessable { field: String, message: String },
    /// No API key, or a bad one.
    #[error("{0}")]
    Unauthorized(String),
    /// A valid key whose role may not do this.
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    NotFound(String),
    /// The route exists, the method does not (405, with `Allow`).
    #[error("{0}")]
    MethodNotAllowed(String),
    #[error("{0}")]
    Conflict(String),
    #[error("request body is larger than {limit} bytes")]
    PayloadTooLarge { limit: usize },
    #[error("expected Content-Type: application/json")]
    UnsupportedMediaType,
    /// 413 with its own message (a photo over the size limit).
    #[error("{0}")]
    TooLarge(String),
    /// 415 with its own message (an upload that is not an accepted image,
    /// or a body that is not `multipart/form-data`).
    #[error("{0}")]
    UnsupportedMedia(String),
    /// A quota is used up (429, with `Retry-After`).
    #[error("{message}")]
    TooManyRequests { message: String, retry_after_s: u64 },
    /// The server refuses for now, by its own limits (503, with
    /// `Retry-After` when waiting helps): nothing internal is said.
    #[error("{message}")]
    Unavailable {
        message: String,
        retry_after_s: Option<u64>,
    },
    /// A server-side failure; the cause is logged, never sent.
    #[error("internal error")]
    Internal(String),
}

/// Machine-readable code of a refusal.
#[derive(Debug, Clone, Copy, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    BadRequest,
    InvalidField,
    Unauthorized,
    Forbidden,
    NotFound,
    MethodNotAllowed,
    Conflict,
    PayloadTooLarge,
    UnsupportedMediaType,
    TooManyRequests,
    Unavailable,
    Internal,
}

/// The body of every refusal of the JSON API.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(as = Error)]
pub struct ErrorBody {
    pub error: ErrorCode,
    /// The request field or parameter at fault, when one is.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub field: Option<String>,
    /// What is wrong and, where it helps, what to do instead. Opaque for
    /// `internal`.
    pub message: String,
}

impl ApiError {
    pub fn bad(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self::BadRequest {
            field: Some(field.into()),
            message: message.into(),
        }
    }

    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::BadRequest { .. } => StatusCode::BAD_REQUEST,
            ApiError::Unprocessable { .. } => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden(_) => StatusCode::FORBIDDEN,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::MethodNotAllowed(_) => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::Conflict(_) => StatusCode::CONFLICT,
            ApiError::PayloadTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::UnsupportedMedia(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::TooManyRequests { .. } => StatusCode::TOO_MANY_REQUESTS,
            ApiError::Unavailable { .. } => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

impl From<ServiceError> for ApiError {
    fn from(e: ServiceError) -> Self {
        match e {
            ServiceError::Invalid { field, reason } => ApiError::Unprocessable {
                field: field.into(),
                message: reason,
            },
            ServiceError::OverLimit { field, reason } => ApiError::bad(field, reason),
            ServiceError::AddressNotFound(_) => ApiError::Unprocessable {
                field: "address".into(),
                message: e.to_string(),
            },
            ServiceError::Unauthorized(m) => ApiError::Unauthorized(m),
            ServiceError::Forbidden(m) => ApiError::Forbidden(m),
            ServiceError::NotFound(m) => ApiError::NotFound(m),
            ServiceError::Conflict(m) => ApiError::Conflict(m),
            ServiceError::PayloadTooLarge(m) => ApiError::TooLarge(m),
            ServiceError::UnsupportedMedia(m) => ApiError::UnsupportedMedia(m),
            ServiceError::Store(_) | ServiceError::Internal(_) => ApiError::Internal(e.to_string()),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        let (code, field, message) = match &self {
            ApiError::BadRequest { field, .. } => {
                (ErrorCode::BadRequest, field.as_deref(), self.to_string())
            }
            ApiError::Unprocessable { field, message } => (
                ErrorCode::InvalidField,
                Some(field.as_str()),
                message.clone(),
            ),
            ApiError::Unauthorized(_) => (ErrorCode::Unauthorized, None, self.to_string()),
            ApiError::Forbidden(_) => (ErrorCode::Forbidden, None, self.to_string()),
            ApiError::NotFound(_) => (ErrorCode::NotFound, None, self.to_string()),
            ApiError::MethodNotAllowed(_) => (ErrorCode::MethodNotAllowed, None, self.to_string()),
            ApiError::Conflict(_) => (ErrorCode::Conflict, None, self.to_string()),
            ApiError::PayloadTooLarge { .. } => {
                (ErrorCode::PayloadTooLarge, None, self.to_string())
            }
            ApiError::UnsupportedMediaType => {
                (ErrorCode::UnsupportedMediaType, None, self.to_string())
            }
            ApiError::TooLarge(_) => (ErrorCode::PayloadTooLarge, None, self.to_string()),
            ApiError::UnsupportedMedia(_) => {
                (ErrorCode::UnsupportedMediaType, None, self.to_string())
            }
            ApiError::TooManyRequests { .. } => {
                (ErrorCode::TooManyRequests, None, self.to_string())
            }
            ApiError::Unavailable { .. } => (ErrorCode::Unavailable, None, self.to_string()),
            ApiError::Internal(cause) => {
                tracing::error!(%cause, "request failed");
                (ErrorCode::Internal, None, "internal error".to_owned())
            }
        };
        let mut response = (
            status,
            Json(ErrorBody {
                error: code,
                field: field.map(str::to_owned),
                message,
            }),
        )
            .into_response();
        let retry_after = match &self {
            ApiError::TooManyRequests { retry_after_s, .. } => Some(*retry_after_s),
            ApiError::Unavailable { retry_after_s, .. } => *retry_after_s,
            _ => None,
        };
        if let Some(s) = retry_after {
            response.headers_mut().insert(
                axum::http::header::RETRY_AFTER,
                axum::http::HeaderValue::from(s),
            );
        }
        if status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(
                axum::http::header::WWW_AUTHENTICATE,
                axum::http::HeaderValue::from_static("Bearer realm=\"civicmap\""),
            );
        }
        response
    }
}
