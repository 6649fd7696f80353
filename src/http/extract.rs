//! Our own JSON and query extractors, so that every rejection uses the API's
//! error format and names the offending field.

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::header::CONTENT_TYPE;
use axum::http::request::Parts;
use serde::de::DeserializeOwned;

use super::ApiError;
use crate::config::MAX_BODY_BYTES;

/// A JSON body, deserialised with the path of the first bad field.
pub struct ApiJson<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let is_json = req
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .is_some_and(|m| {
                let m = m.trim().to_ascii_lowercase();
                m == "application/json" || (m.starts_with("application/") && m.ends_with("+json"))
            });
        if !is_json {
            return Err(ApiError::UnsupportedMediaType);
        }
        let bytes =
            Bytes::from_request(req, state)
                .await
                .map_err(|_| ApiError::PayloadTooLarge {
                    limit: MAX_BODY_BYTES,
                })?;
        parse_json(&bytes).map(ApiJson)
    }
}

/// Deserialises JSON, naming the first bad field in the error.
///
/// # Errors
/// [`ApiError::BadRequest`] with the field path and serde's reason.
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let de = &mut serde_json::Deserializer::from_slice(bytes);
    serde_path_to_error::deserialize(de).map_err(|e| refusal(e, "malformed JSON body"))
}

/// A deserialisation error as a 400 naming the field.
fn refusal<E: std::fmt::Display>(e: serde_path_to_error::Error<E>, what: &str) -> ApiError {
    let path = e.path().to_string();
    let inner = e.into_inner();
    let field = field_of(&path, &inner.to_string());
    ApiError::BadRequest {
        field,
        message: format!("{what}: {inner}"),
    }
}

/// The field a serde error is about: the path, or the name quoted in
/// "missing field `x`" / "unknown field `x`".
fn field_of(path: &str, message: &str) -> Option<String> {
    for marker in ["missing field `", "unknown field `"] {
        if let Some(name) = message
            .split(marker)
            .nth(1)
            .and_then(|rest| rest.split('`').next())
        {
            return Some(if path == "." {
                name.to_owned()
            } else if path == name || path.ends_with(&format!(".{name}")) {
                path.to_owned()
            } else {
                format!("{path}.{name}")
            });
        }
    }
    (path != "." && !path.is_empty()).then(|| path.to_owned())
}

/// Path parameters, refused in the API's error format: a segment whose
/// percent-decoding is not UTF-8 is a 400 JSON error, not axum's plain-text
/// rejection.
pub struct ApiPath<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned + Send> FromRequestParts<S> for ApiPath<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        match axum::extract::Path::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Path(t)) => Ok(ApiPath(t)),
            Err(e) if e.status().is_server_error() => Err(ApiError::Internal(e.body_text())),
            Err(e) => Err(ApiError::bad("path", e.body_text())),
        }
    }
}

/// A query string, deserialised strictly (unknown parameters are refused).
pub struct ApiQuery<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        parse_query(parts.uri.query().unwrap_or_default()).map(ApiQuery)
    }
}

/// Deserialises a query string strictly, as [`ApiQuery`] does, for handlers
/// whose query type depends on the path.
///
/// # Errors
/// [`ApiError::BadRequest`] naming the parameter and serde's reason.
pub fn parse_query<T: DeserializeOwned>(q: &str) -> Result<T, ApiError> {
    let de = serde_urlencoded::Deserializer::new(form_urlencoded_parse(q));
    serde_path_to_error::deserialize(de).map_err(|e| refusal(e, "bad query string"))
}

fn form_urlencoded_parse(q: &str) -> form_urlencoded::Parse<'_> {
    form_urlencoded::parse(q.as_bytes())
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::http::reports::ListQuery;

    /// A query string: known and unknown names, any values, raw bytes with
    /// percent signs that escape nothing.
    fn query() -> impl Strategy<Value = String> {
        prop_oneof![
            proptest::collection::vec(
                (
                    prop_oneof![
                        proptest::sample::select(
                            &[
                                "bbox", "district", "kind", "category", "status", "from", "to",
                                "campaign", "limit", "cursor", "bbox[]", ""
                            ][..]
                        )
                        .prop_map(str::to_owned),
                        "\\PC{0,8}",
                    ],
                    "\\PC{0,16}",
                ),
                0..6
            )
            .prop_map(|pairs| {
                form_urlencoded::Serializer::new(String::new())
                    .extend_pairs(pairs)
                    .finish()
            }),
            "[a-z=&%+;0-9\\PC]{0,60}",
        ]
    }

    fn list_query() -> impl Strategy<Value = ListQuery> {
        let v = || proptest::option::of("\\PC{0,20}");
        (v(), v(), v(), v(), v(), v(), v(), v(), v(), v()).prop_map(
            |(bbox, district, kind, category, status, from, to, campaign, limit, cursor)| {
                ListQuery {
                    bbox,
                    district,
                    kind,
                    category,
                    status,
                    from,
                    to,
                    campaign,
                    limit,
                    cursor,
                }
            },
        )
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        #[test]
        fn any_query_string_is_read_or_refused_with_a_400(q in query()) {
            match parse_query::<ListQuery>(&q) {
                Ok(_) | Err(ApiError::BadRequest { .. }) => {}
                Err(other) => prop_assert!(false, "{:?}", other),
            }
        }

        #[test]
        fn a_written_list_query_reads_back_equal(q in list_query()) {
            let text = serde_urlencoded::to_string(&q).unwrap();
            let back: ListQuery = parse_query(&text).unwrap();
            prop_assert_eq!(serde_urlencoded::to_string(&back).unwrap(), text);
        }

        #[test]
        fn any_json_body_is_read_or_refused_with_a_400(
            bytes in prop_oneof![
                proptest::collection::vec(any::<u8>(), 0..200),
                "\\{(\"[a-z_]{1,12}\":(null|true|-?[0-9]{1,20}(\\.[0-9]+)?(e[0-9]{1,3})?|\"\\PC{0,12}\"|\\[\\]|\\{\\}),?){0,8}\\}?"
                    .prop_map(String::into_bytes),
            ]
        ) {
            for r in [
                parse_json::<crate::http::dto::NewReportBody>(&bytes).err(),
                parse_json::<crate::http::lifecycle::StatusBody>(&bytes).err(),
                parse_json::<crate::http::campaigns::NewCampaignBody>(&bytes).err(),
                parse_json::<crate::http::webhooks::NewWebhookBody>(&bytes).err(),
                parse_json::<crate::http::keys::NewKeyBody>(&bytes).err(),
                parse_json::<crate::http::privacy::ErasureBody>(&bytes).err(),
            ]
            .into_iter()
            .flatten()
            {
                prop_assert!(matches!(r, ApiError::BadRequest { .. }), "{:?}", r);
            }
        }
    }
}
