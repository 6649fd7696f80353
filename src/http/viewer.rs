//! The map viewer: `GET /` is the page, `GET /viewer/{file}` its assets (the
//! files of the repository's `tiles/`, embedded in the binary), and, when the
//! operator serves MapLibre GL JS from a local directory, `GET
//! /viewer/vendor/{file}` the files of that directory.
//!
//! The binary needs no file of the repository at run time. The only file-system
//! reads are in the operator's MapLibre directory, by plain file name (no
//! separator, no leading dot), so no request can leave it. Embedded assets are
//! looked up in a fixed table: an unknown or traversing name is a JSON 404.
//!
//! The style (`tiles/style.json`) names its tile sources as `{origin}/tiles/…`;
//! the page replaces `{origin}` with its own origin before handing the style to
//! MapLibre, so the same file works behind any host name.

use std::path::{Path, PathBuf};

use axum::body::Body;
use axum::extract::rejection::PathRejection;
use axum::extract::{self, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::{ApiError, AppState};
use crate::config::{Config, DEFAULT_MAPLIBRE_URL};

/// The page template: `{{maplibre_url}}`, `{{maplibre_js_sri}}` and
/// `{{maplibre_css_sri}}` are filled per request from the configuration.
const INDEX_HTML: &str = include_str!("../../tiles/index.html");

/// The embedded assets served under `/viewer/`: name, content type, bytes.
const ASSETS: &[(&str, &str, &[u8])] = &[
    (
        "style.json",
        "application/json",
        include_bytes!("../../tiles/style.json"),
    ),
    (
        "viewer.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../../tiles/viewer.js"),
    ),
    (
        "viewer.css",
        "text/css; charset=utf-8",
        include_bytes!("../../tiles/viewer.css"),
    ),
];

/// Where the page loads MapLibre from when it is served from a local directory.
pub const VENDOR_PATH: &str = "/viewer/vendor";

/// Subresource-integrity hashes of the default CDN copy
/// ([`DEFAULT_MAPLIBRE_URL`]): the browser refuses a file that differs. They
/// are those of the npm package's `dist/` files (checked by `tests/viewer.rs`).
const MAPLIBRE_JS_SRI: &str =
    "sha384-nXMl9YiLoSG5KBPTFgvxVuIqQQcqIvo0bFrvoEaGJC6r7IibIzF1S36Zbf/sKBtL";
const MAPLIBRE_CSS_SRI: &str =
    "sha384-uTttxo/aOKbdE5RlD/SPzSDoDmNvGlUYPjONi2MN/b7c9HPSvW07OIuyP7uL6jxK";

/// How long a browser may keep a file of the local MapLibre directory, in seconds.
const VENDOR_MAX_AGE_S: u32 = 3_600;

/// The viewer's routes, merged into the API router.
pub(super) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(page))
        .routes(routes!(asset))
        .routes(routes!(vendor))
}

/// Checks a `--maplibre-url` value: an `http(s)://` URL or a path on this
/// server (starting with `/`), without characters that would need escaping in
/// HTML. A trailing `/` is dropped.
///
/// # Errors
/// A message naming the problem, for the command line.
pub fn parse_maplibre_url(s: &str) -> Result<String, String> {
    let url = s.trim().trim_end_matches('/');
    let scheme_ok = url.starts_with("https://")
        || url.starts_with("http://")
        || (url.starts_with('/') && !url.starts_with("//"));
    if !scheme_ok {
        return Err(format!(
            "{s:?} is not an http(s) URL or a path starting with /"
        ));
    }
    if let Some(c) = url.chars().find(|c| {
        c.is_whitespace() || c.is_control() || matches!(c, '"' | '\'' | '<' | '>' | '`' | '\\')
    }) {
        return Err(format!("{s:?} contains {c:?}"));
    }
    Ok(url.to_owned())
}

/// Checks a `--maplibre-dir` value: a directory holding `maplibre-gl.js` and
/// `maplibre-gl.css`. Returns it made absolute.
///
/// # Errors
/// A message naming the missing file or directory, for the command line.
pub fn parse_maplibre_dir(s: &str) -> Result<PathBuf, String> {
    let dir = Path::new(s)
        .canonicalize()
        .map_err(|e| format!("cannot open {s:?}: {e}"))?;
    for file in ["maplibre-gl.js", "maplibre-gl.css"] {
        if !dir.join(file).is_file() {
            return Err(format!(
                "{} has no {file} (expected e.g. node_modules/maplibre-gl/dist)",
                dir.display()
            ));
        }
    }
    Ok(dir)
}

/// Where the page loads MapLibre from, and whether the integrity hashes apply.
fn maplibre_base(config: &Config) -> (&str, bool) {
    if config.maplibre_dir.is_some() {
        (VENDOR_PATH, false)
    } else {
        let url = config.maplibre_url.as_str();
        (url, url == DEFAULT_MAPLIBRE_URL)
    }
}

/// The origin (`scheme://host[:port]`) of an absolute URL, for the page's
/// content security policy; `None` for a path on this server.
fn origin_of(url: &str) -> Option<&str> {
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"))?;
    let host_len = rest.find('/').unwrap_or(rest.len());
    Some(&url[..url.len() - rest.len() + host_len])
}

/// Escapes text for an HTML attribute value in double quotes.
fn attr(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('"', "&quot;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

fn render_page(config: &Config) -> String {
    let (base, sri) = maplibre_base(config);
    let integrity = |hash: &str| {
        if sri {
            format!(r#" integrity="{hash}" crossorigin="anonymous""#)
        } else {
            String::new()
        }
    };
    INDEX_HTML
        .replace("{{maplibre_url}}", &attr(base))
        .replace("{{maplibre_js_sri}}", &integrity(MAPLIBRE_JS_SRI))
        .replace("{{maplibre_css_sri}}", &integrity(MAPLIBRE_CSS_SRI))
}

/// The page's content security policy: scripts and styles from this server and
/// the MapLibre host only, data requests to this server only; MapLibre runs
/// its worker from a `blob:` URL and draws controls from `data:` images.
fn content_security_policy(config: &Config) -> String {
    let (base, _) = maplibre_base(config);
    let extra = origin_of(base).map(|o| format!(" {o}")).unwrap_or_default();
    format!(
        "default-src 'self'; script-src 'self'{extra}; style-src 'self'{extra}; \
         worker-src blob:; child-src blob:; img-src 'self' data: blob:; connect-src 'self'; \
         object-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'self'"
    )
}

#[utoipa::path(
    get,
    path = "/",
    tag = "viewer",
    responses(
        (status = 200, description = "The map page (MapLibre GL over the vector tiles)", content_type = "text/html", body = String),
        crate::http::openapi::Refusals
    )
)]
async fn page(State(app): State<AppState>) -> Response {
    let csp = content_security_policy(&app.config);
    let mut resp = (
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CACHE_CONTROL, "no-cache"),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        ],
        render_page(&app.config),
    )
        .into_response();
    if let Ok(v) = HeaderValue::from_str(&csp) {
        resp.headers_mut()
            .insert(header::CONTENT_SECURITY_POLICY, v);
    }
    resp
}

#[utoipa::path(
    get,
    path = "/viewer/{file}",
    tag = "viewer",
    params(("file" = String, Path, description = "A file of the viewer: its script, style sheet or map style")),
    responses(
        (status = 200, description = "The file", content((String = "application/javascript"), (String = "text/css"), (Object = "application/json"))),
        crate::http::openapi::NotFound,
        crate::http::openapi::Refusals
    )
)]
async fn asset(file: Result<extract::Path<String>, PathRejection>) -> Result<Response, ApiError> {
    let name = file.map(|p| p.0).unwrap_or_default();
    let Some((_, content_type, bytes)) = ASSETS.iter().find(|(n, _, _)| *n == name) else {
        return Err(ApiError::NotFound(format!("no viewer asset {name:?}")));
    };
    Ok((
        [
            (header::CONTENT_TYPE, *content_type),
            (header::CACHE_CONTROL, "no-cache"),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        ],
        Body::from(*bytes),
    )
        .into_response())
}

/// A name that can only designate a file directly inside a directory.
fn is_plain_file_name(name: &str) -> bool {
    !name.is_empty()
        && !name.starts_with('.')
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_'))
}

fn content_type_of(name: &str) -> &'static str {
    match name.rsplit_once('.').map(|(_, ext)| ext) {
        Some("js" | "mjs") => "text/javascript; charset=utf-8",
        Some("css") => "text/css; charset=utf-8",
        Some("map" | "json") => "application/json",
        Some("txt" | "ts") => "text/plain; charset=utf-8",
        _ => "application/octet-stream",
    }
}

#[utoipa::path(
    get,
    path = "/viewer/vendor/{file}",
    tag = "viewer",
    params(("file" = String, Path, description = "A file of the local MapLibre GL directory (`--maplibre-dir`)")),
    responses(
        (status = 200, description = "The file", content((String = "application/javascript"), (String = "text/css"))),
        crate::http::openapi::NotFound,
        crate::http::openapi::Refusals
    )
)]
async fn vendor(
    State(app): State<AppState>,
    file: Result<extract::Path<String>, PathRejection>,
) -> Result<Response, ApiError> {
    let name = file.map(|p| p.0).unwrap_or_default();
    let not_found = || ApiError::NotFound(format!("no vendor file {name:?}"));
    let Some(dir) = app.config.maplibre_dir.as_deref() else {
        return Err(not_found());
    };
    if !is_plain_file_name(&name) {
        return Err(not_found());
    }
    let path = dir.join(&name);
    match tokio::fs::metadata(&path).await {
        Ok(m) if m.is_file() => {}
        Ok(_) => return Err(not_found()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err(not_found()),
        Err(e) => return Err(ApiError::Internal(format!("{}: {e}", path.display()))),
    }
    let bytes = tokio::fs::read(&path)
        .await
        .map_err(|e| ApiError::Internal(format!("{}: {e}", path.display())))?;
    let cache = format!("public, max-age={VENDOR_MAX_AGE_S}");
    Ok((
        StatusCode::OK,
        [
            (header::CONTENT_TYPE, content_type_of(&name).to_owned()),
            (header::CACHE_CONTROL, cache),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff".to_owned()),
        ],
        bytes,
    )
        .into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maplibre_urls_are_http_or_server_paths_without_markup() {
        for (input, expected) in [
            (
                "https://cdn.example/maplibre/",
                Ok("https://cdn.example/maplibre"),
            ),
            ("http://127.0.0.1:9000/ml", Ok("http://127.0.0.1:9000/ml")),
            ("/static/maplibre", Ok("/static/maplibre")),
            ("//cdn.example/ml", Err(())),
            ("javascript:alert(1)", Err(())),
            ("https://x.example/\"><script>", Err(())),
            ("https://x.example/a b", Err(())),
            ("", Err(())),
        ] {
            assert_eq!(
                parse_maplibre_url(input).map_err(|_| ()),
                expected.map(str::to_owned),
                "{input:?}"
            );
        }
    }

    #[test]
    fn the_origin_of_a_url_is_its_scheme_and_host() {
        assert_eq!(
            origin_of("https://cdn.example:8443/a/b"),
            Some("https://cdn.example:8443")
        );
        assert_eq!(origin_of("http://h.example"), Some("http://h.example"));
        assert_eq!(origin_of("/viewer/vendor"), None);
    }

    #[test]
    fn only_plain_names_designate_vendor_files() {
        for ok in ["maplibre-gl.js", "maplibre-gl.js.map", "LICENSE.txt"] {
            assert!(is_plain_file_name(ok), "{ok}");
        }
        for bad in [
            "", ".", "..", "../x", "a/b", "a\\b", ".hidden", "x%2f", "é.js",
        ] {
            assert!(!is_plain_file_name(bad), "{bad}");
        }
    }

    #[test]
    fn the_template_has_every_placeholder_and_no_other() {
        for p in [
            "{{maplibre_url}}",
            "{{maplibre_js_sri}}",
            "{{maplibre_css_sri}}",
        ] {
            assert!(INDEX_HTML.contains(p), "{p}");
        }
        let page = render_page(&Config::new(PathBuf::from("unused")));
        assert!(!page.contains("{{"), "unfilled placeholder");
    }
}
