//! Every parser of outside input, driven through the real router with
//! generated junk: methods, paths and their segments, query strings, keys and
//! bodies mutated from valid requests (JSON, Open311 forms, multipart
//! uploads, tile addresses). Whatever arrives, the answer is below 500, a
//! refusal is a JSON error (`{"error", "message"}`; Open311 routes: their own
//! error list), and a refused request stores nothing. Valid generated
//! reports, through the JSON API and Open311, are accepted and read back
//! equal.
//!
//! The pure parsers have their own properties beside them (`src/open311/parse.rs`,
//! `src/reference.rs`, `src/http/reports.rs`, `src/http/extract.rs`,
//! `src/districts/load.rs`); photo bytes are in `tests/photos.rs`. Case counts
//! are bounded (`CASES`) so that this file runs in well under a minute in a
//! debug build.
#![allow(clippy::unwrap_used)]

mod common;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};

use axum::body::Body;
use axum::http::{Method, Request, StatusCode, Uri, header};
use http_body_util::BodyExt;
use proptest::prelude::*;
use proptest::sample::{Index, select};
use proptest::test_runner::TestCaseError;
use serde_json::{Value, json};
use tower::ServiceExt;

use common::{Harness, Reply, first_subcategory, harness};

/// Requests per junk property (each is one request through the router).
const CASES: u32 = 512;

/// The properties share one application and compare its store before and
/// after each request: they run one at a time.
fn serial() -> MutexGuard<'static, ()> {
    static SERIAL: Mutex<()> = Mutex::new(());
    SERIAL.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A distinct suffix for client ids and slugs.
fn unique() -> u64 {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

/// The media type of an answer.
fn content_type(a: &Reply) -> &str {
    a.headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
}

/// [`Harness::send`], but an event stream, which does not end, is answered
/// by its head alone.
fn send(h: &Harness, req: Request<Body>) -> Reply {
    h.rt.block_on(async {
        let resp = h.router.clone().oneshot(req).await.unwrap();
        let (status, headers) = (resp.status(), resp.headers().clone());
        let body = if headers
            .get(header::CONTENT_TYPE)
            .is_some_and(|v| v.as_bytes().starts_with(b"text/event-stream"))
        {
            Vec::new()
        } else {
            resp.into_body()
                .collect()
                .await
                .unwrap()
                .to_bytes()
                .to_vec()
        };
        Reply {
            status,
            headers,
            body,
        }
    })
}

/// What a refused request must leave as it was.
#[derive(Debug, PartialEq, Eq)]
struct Stored {
    reports: u64,
    keys: usize,
    indexed: usize,
}

fn stored(h: &Harness) -> Stored {
    h.rt.block_on(async {
        Stored {
            reports: h.app.store().count_reports().await.unwrap(),
            keys: h.app.store().keys().await.unwrap().len(),
            indexed: h.app.reports().len(),
        }
    })
}

/// A report of the harness that report routes can name.
fn target_report(h: &Harness) -> i64 {
    static ID: std::sync::OnceLock<i64> = std::sync::OnceLock::new();
    *ID.get_or_init(|| {
        let body = json!({
            "kind": "anomaly", "category": "proprete",
            "subcategory": first_subcategory("proprete"),
            "description": "cible", "lon": 2.3499, "lat": 48.853,
            "client_id": "parsers-target", "contact": "cible@example.org",
        });
        let r = send(
            h,
            json_request(Method::POST, "/api/v1/reports", &body, Some("app")),
        );
        assert!(r.status.is_success(), "{}", r.text());
        serde_json::from_slice::<Value>(&r.body).unwrap()["id"]
            .as_i64()
            .unwrap()
    })
}

fn json_request(method: Method, uri: &str, body: &Value, role: Option<&str>) -> Request<Body> {
    let mut b = Request::builder()
        .method(method)
        .uri(uri)
        .header(header::CONTENT_TYPE, "application/json");
    if let Some(role) = role {
        b = b.header(
            header::AUTHORIZATION,
            format!("Bearer {}", harness().key(role)),
        );
    }
    b.body(Body::from(body.to_string())).unwrap()
}

/// Checks an answer: below 500, and a refusal in the route's error format.
fn check(what: &str, path: &str, method: &Method, a: &Reply) -> Result<(), TestCaseError> {
    prop_assert!(
        !a.status.is_server_error(),
        "{} → {} {}",
        what,
        a.status,
        a.text()
    );
    if !a.status.is_client_error() || *method == Method::HEAD {
        return Ok(());
    }
    if path.starts_with("/open311/v2/") {
        // JSON or XML, by the format the path names.
        prop_assert!(!a.body.is_empty(), "{} → {} with no body", what, a.status);
        if content_type(a).starts_with("application/json") {
            let v: Value = serde_json::from_slice(&a.body)
                .map_err(|e| TestCaseError::fail(format!("{what} → {e}: {}", a.text())))?;
            // `/open311/v2/` itself is no resource: the API's own 404.
            prop_assert!(v.is_array() || v["error"].is_string(), "{} → {}", what, v);
        }
        return Ok(());
    }
    prop_assert!(
        content_type(a).starts_with("application/json"),
        "{} → {} as {:?}: {}",
        what,
        a.status,
        content_type(a),
        a.text()
    );
    let v: Value = serde_json::from_slice(&a.body)
        .map_err(|e| TestCaseError::fail(format!("{what} → not JSON ({e}): {}", a.text())))?;
    prop_assert!(
        v["error"].is_string() && v["message"].is_string(),
        "{} → {}",
        what,
        v
    );
    Ok(())
}

/// Sends `req` and checks it; a refused one must have stored nothing.
fn send_checked(h: &Harness, req: Request<Body>) -> Result<Reply, TestCaseError> {
    let what = format!("{} {}", req.method(), req.uri());
    let (path, method) = (req.uri().path().to_owned(), req.method().clone());
    let before = stored(h);
    let a = send(h, req);
    check(&what, &path, &method, &a)?;
    if a.status.is_client_error() {
        prop_assert_eq!(
            stored(h),
            before,
            "{} → {} stored something",
            what,
            a.status
        );
    }
    Ok(a)
}

// ------------------------------------------------------------------ routes

/// The body a route reads: a valid one, which properties mutate.
#[derive(Debug, Clone, Copy)]
enum Seed {
    None,
    Json(&'static str),
    Form(&'static str),
    Multipart,
}

/// Every route: its method, its path (`{}` where a segment goes), a valid
/// body and its query parameters. Placeholders in bodies: `{sub}` a
/// subcategory of `proprete`, `{uid}` a fresh suffix, `{report}` the target
/// report, `{app}` and `{agent}` keys.
const ROUTES: &[(&str, &str, Seed, &[&str])] = &[
    ("POST", "/api/v1/reports", Seed::Json(REPORT), &[]),
    ("GET", "/api/v1/reports", Seed::None, LIST),
    ("GET", "/api/v1/reports/{}", Seed::None, &[]),
    ("GET", "/api/v1/reports/{}/history", Seed::None, &[]),
    ("POST", "/api/v1/reports/{}/status", Seed::Json(STATUS), &[]),
    ("POST", "/api/v1/reports/{}/notes", Seed::Json(NOTE), &[]),
    (
        "POST",
        "/api/v1/reports/{}/duplicate",
        Seed::Json(DUPLICATE),
        &[],
    ),
    (
        "POST",
        "/api/v1/reports/{}/supports",
        Seed::Json(SUPPORT),
        &[],
    ),
    ("GET", "/api/v1/reports/{}/contact", Seed::None, &[]),
    ("DELETE", "/api/v1/reports/{}/contact", Seed::None, &[]),
    ("POST", "/api/v1/privacy/erasure", Seed::Json(ERASURE), &[]),
    ("GET", "/api/v1/reports/{}/photos", Seed::None, &[]),
    ("POST", "/api/v1/reports/{}/photos", Seed::Multipart, &[]),
    ("GET", "/api/v1/campaigns", Seed::None, NEAR),
    ("POST", "/api/v1/campaigns", Seed::Json(CAMPAIGN), &[]),
    ("GET", "/api/v1/campaigns/{}", Seed::None, &[]),
    ("POST", "/api/v1/campaigns/{}/close", Seed::None, &[]),
    ("GET", "/api/v1/events", Seed::None, EVENTS),
    ("GET", "/api/v1/keys", Seed::None, &[]),
    ("POST", "/api/v1/keys", Seed::Json(KEY), &[]),
    ("DELETE", "/api/v1/keys/{}", Seed::None, &[]),
    ("GET", "/api/v1/webhooks", Seed::None, &[]),
    ("POST", "/api/v1/webhooks", Seed::Json(WEBHOOK), &[]),
    ("GET", "/api/v1/webhooks/{}", Seed::None, &[]),
    ("DELETE", "/api/v1/webhooks/{}", Seed::None, &[]),
    ("GET", "/api/v1/webhooks/{}/deliveries", Seed::None, &[]),
    ("POST", "/api/v1/webhooks/{}/enable", Seed::None, &[]),
    ("GET", "/api/v1/stats/districts", Seed::None, STATS),
    ("GET", "/api/v1/stats/series", Seed::None, STATS),
    ("GET", "/api/v1/stats/h3", Seed::None, STATS),
    ("GET", "/api/v1/stats/equity", Seed::None, STATS),
    ("GET", "/api/v1/export/{}", Seed::None, EXPORT),
    ("GET", "/api/v1/projects", Seed::None, PROJECTS),
    ("GET", "/api/v1/projects/{}", Seed::None, &[]),
    ("GET", "/api/v1/districts", Seed::None, &["layer", "date"]),
    ("GET", "/api/v1/districts/at", Seed::None, POINT),
    ("GET", "/api/v1/districts/{}", Seed::None, &[]),
    ("GET", "/api/v1/layers", Seed::None, &[]),
    ("GET", "/api/v1/categories", Seed::None, &[]),
    ("GET", "/api/v1/geocode", Seed::None, &["q", "limit"]),
    ("GET", "/api/v1/geocode/reverse", Seed::None, POINT),
    ("GET", "/photos/{}", Seed::None, &[]),
    ("GET", "/tiles", Seed::None, &[]),
    ("GET", "/tiles/{}", Seed::None, TILES),
    ("GET", "/tiles/{}/{}/{}/{}", Seed::None, TILES),
    ("GET", "/open311/v2/{}", Seed::None, OPEN311),
    (
        "POST",
        "/open311/v2/requests.json",
        Seed::Form(OPEN311_REQUEST),
        &[],
    ),
    (
        "POST",
        "/open311/v2/servicerequestupdates.json",
        Seed::Form(OPEN311_UPDATE),
        &[],
    ),
    ("GET", "/open311/v2/services/{}", Seed::None, &[]),
    (
        "GET",
        "/open311/v2/requests/{}",
        Seed::None,
        &["jurisdiction_id", "extensions"],
    ),
    ("GET", "/open311/v2/tokens/{}", Seed::None, &[]),
    ("GET", "/", Seed::None, &[]),
    ("GET", "/viewer/{}", Seed::None, &[]),
    ("GET", "/health", Seed::None, &[]),
    ("GET", "/no/such/route/{}", Seed::None, &[]),
];

const LIST: &[&str] = &[
    "bbox", "district", "kind", "category", "status", "from", "to", "campaign", "limit", "cursor",
];
const NEAR: &[&str] = &["lon", "lat", "within_m"];
const EVENTS: &[&str] = &["bbox", "district", "kind", "category", "report"];
const STATS: &[&str] = &[
    "layer",
    "district",
    "from",
    "to",
    "kind",
    "category",
    "channel",
    "status",
    "campaign",
    "resolved_within_days",
    "edition",
    "interval",
    "res",
    "bbox",
    "format",
];
const EXPORT: &[&str] = &[
    "bbox",
    "district",
    "kind",
    "category",
    "status",
    "from",
    "to",
    "campaign",
    "edition",
    "working_class_flag",
    "progress",
];
const PROJECTS: &[&str] = &[
    "bbox",
    "district",
    "edition",
    "working_class_flag",
    "progress",
    "limit",
    "cursor",
];
const POINT: &[&str] = &["lon", "lat", "date"];
const TILES: &[&str] = &[
    "kind", "category", "status", "from", "to", "campaign", "layer", "date",
];
const OPEN311: &[&str] = &[
    "jurisdiction_id",
    "service_request_id",
    "service_code",
    "start_date",
    "end_date",
    "status",
    "updated_after",
    "updated_before",
    "lat_ne",
    "long_ne",
    "lat_sw",
    "long_sw",
    "page",
    "page_size",
    "extensions",
];

const REPORT: &str = r#"{"kind":"anomaly","category":"proprete","subcategory":"{sub}","description":"Sacs éventrés","lon":2.3499,"lat":48.853,"client_id":"p-{uid}","channel":"android","contact":"a@example.org"}"#;
const STATUS: &str = r#"{"status":"in_progress","note":"Vu"}"#;
const NOTE: &str = r#"{"note":"Passage prévu"}"#;
const DUPLICATE: &str = r#"{"duplicate_of":{report},"note":"même"}"#;
const SUPPORT: &str = r#"{"client_id":"s-{uid}"}"#;
const ERASURE: &str = r#"{"contact":"a@example.org"}"#;
const CAMPAIGN: &str = r#"{"slug":"c-{uid}","title":"Arceaux","question":"Où ?","categories":["proprete"],"starts_at":"2024-01-01","ends_at":"2099-01-01","perimeter":{"type":"Polygon","coordinates":[[[2.36,48.86],[2.37,48.86],[2.37,48.87],[2.36,48.87],[2.36,48.86]]]}}"#;
const WEBHOOK: &str = r#"{"url":"http://127.0.0.1:9/hook","name":"w-{uid}","categories":["proprete"],"area":{"type":"Polygon","coordinates":[[[2.36,48.86],[2.37,48.86],[2.37,48.87],[2.36,48.86]]]}}"#;
const KEY: &str = r#"{"name":"k-{uid}","role":"agent"}"#;
const OPEN311_REQUEST: &str = "api_key={app}&service_code=proprete&lat=48.853&long=2.3499&description=Sacs&attribute%5Bsubcategory%5D={sub}&email=a%40example.org";
const OPEN311_UPDATE: &str = "api_key={agent}&service_request_id={report}&status=IN_PROGRESS&updated_datetime=2024-06-01T12:00:00Z&description=vu";

/// A seed with its placeholders filled.
fn fill(h: &Harness, seed: &str) -> String {
    seed.replace("{sub}", &first_subcategory("proprete"))
        .replace("{uid}", &unique().to_string())
        .replace("{report}", &target_report(h).to_string())
        .replace("{app}", &enc(h.key("app")))
        .replace("{agent}", &enc(h.key("agent")))
}

fn enc(v: &str) -> String {
    form_urlencoded::byte_serialize(v.as_bytes()).collect()
}

/// Every byte percent-encoded: the decoded text need not be UTF-8.
fn enc_bytes(b: &[u8]) -> String {
    b.iter().map(|b| format!("%{b:02X}")).collect()
}

// -------------------------------------------------------------- strategies

/// Segments a route may hold: the names the routes know, numbers at their
/// edges, any text, bytes that do not decode to UTF-8.
fn segment() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => select(&[
            "{report}", "1", "reports.csv", "reports.geojson", "reports.json", "projects.csv",
            "requests.json", "requests.xml", "services.json", "discovery.json", "proprete.json",
            "reports", "projects", "districts", "reports,projects", "reports.json",
            "arrondissement:2024:75101", "arrondissement:1:75101", "style.json", "app.js",
            "0.mvt", "1.pbf", "1.png", "0", "20", "21",
            "0000000000000000000000000000000000000000000000000000000000000000-full.jpg",
        ][..])
        .prop_map(str::to_owned),
        2 => edge_number(),
        2 => "\\PC{0,16}".prop_map(|s| enc(&s)),
        1 => proptest::collection::vec(any::<u8>(), 0..12).prop_map(|b| enc_bytes(&b)),
    ]
}

/// Numbers where parsers break: signs, overflow, floats, blanks.
fn edge_number() -> impl Strategy<Value = String> {
    prop_oneof![
        select(
            &[
                "0",
                "-1",
                "+1",
                "01",
                " 1",
                "1 ",
                "1e3",
                "1.5",
                "NaN",
                "inf",
                "-0",
                "9223372036854775807",
                "9223372036854775808",
                "-9223372036854775808",
                "18446744073709551616",
                "4294967295",
                "4294967296",
                "65536",
                "1048576",
                "",
            ][..]
        )
        .prop_map(str::to_owned),
        any::<i64>().prop_map(|n| n.to_string()),
        (0_u32..1 << 21).prop_map(|n| n.to_string()),
    ]
}

/// Query parameter names of every route, and a few unknown ones.
fn param_name() -> impl Strategy<Value = String> {
    prop_oneof![
        6 => select(&[
            "bbox", "kind", "category", "status", "from", "to", "limit", "cursor", "district",
            "campaign", "layer", "date", "lon", "lat", "within_m", "q", "report",
            "last_event_id", "channel", "resolved_within_days", "edition", "interval", "res",
            "format", "working_class_flag", "progress", "page", "page_size", "service_code",
            "service_request_id", "start_date", "end_date", "extensions", "jurisdiction_id",
            "lat_ne", "long_ne", "lat_sw", "long_sw", "updated_after", "updated_before", "limit",
        ][..])
        .prop_map(str::to_owned),
        1 => "\\PC{0,8}",
    ]
}

/// Values: plausible ones, edge numbers, any text.
fn param_value() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => select(&[
            "2.3,48.8,2.4,48.9", "2.35,48.85,2.36,48.86", "-180,-90,180,90", "2.4,48.9,2.3,48.8",
            "1,2,3", "NaN,NaN,NaN,NaN", "1e308,1e308,-1e308,-1e308", ",,,", "anomaly",
            "contribution", "proprete", "new", "done", "open", "closed", "open,closed",
            "2024-01-01", "2024-02-30", "2024-13-01", "2024-01-01T00:00:00Z",
            "2024-01-01T00:00:00+14:00", "+002024-01-01T00:00:00Z", "9999-12-31", "0000-01-01",
            "9999-12-31T23:59:59-14:00", "0000-01-01T00:00:00+14:00", "-9999-01-01T00:00:00Z",
            "arrondissement", "iris", "working_class", "arrondissement:2024:75101", "true",
            "false", "csv", "json", "day", "week", "month", "year", "8", "15", "16", "android",
            "reports", "2019", "Non",
        ][..])
        .prop_map(str::to_owned),
        2 => edge_number(),
        2 => "\\PC{0,24}",
    ]
}

/// A query string: none, known names with junk values, or raw bytes (some
/// percent-encoded, some not, some not UTF-8 once decoded).
fn query() -> impl Strategy<Value = String> {
    prop_oneof![
        1 => Just(String::new()),
        4 => proptest::collection::vec((param_name(), param_value()), 0..5).prop_map(|pairs| {
            form_urlencoded::Serializer::new(String::new())
                .extend_pairs(pairs)
                .finish()
        }),
        1 => proptest::collection::vec(any::<u8>(), 0..32).prop_map(|bytes| {
            bytes
                .iter()
                .map(|&b| match b {
                    b'a'..=b'z' | b'0'..=b'9' | b'=' | b'&' | b',' | b'%' | b'+' | b'.' => {
                        (b as char).to_string()
                    }
                    _ => format!("%{b:02X}"),
                })
                .collect::<String>()
        }),
    ]
}

/// Who asks: nobody, each role, or a header that is not a key.
fn caller() -> impl Strategy<Value = Option<String>> {
    prop_oneof![
        Just(None),
        select(&["app", "agent", "admin", "analyst"][..]).prop_map(|r| Some(format!("role:{r}"))),
        select(
            &[
                "Bearer ",
                "Bearer junk",
                "Basic YTpi",
                "bearer",
                "Bearer  x y"
            ][..]
        )
        .prop_map(|v| Some(v.to_owned())),
    ]
}

fn method() -> impl Strategy<Value = Option<Method>> {
    prop_oneof![
        6 => Just(None),
        1 => select(vec![
            Method::GET, Method::POST, Method::PUT, Method::DELETE, Method::PATCH,
            Method::OPTIONS, Method::HEAD,
        ])
        .prop_map(Some),
    ]
}

/// Any JSON value, up to a small depth.
fn any_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(|f| json!(f)),
        select(vec![
            json!(u64::MAX),
            json!(1e308),
            json!(-0.0),
            json!(""),
            json!(" "),
            json!("proprete"),
            json!("new"),
            json!("rejected"),
            json!("2024-02-30"),
            json!("2099-01-01"),
            json!("http://127.0.0.1:9/"),
            json!("javascript:alert(1)"),
            json!({"type": "Polygon", "coordinates": []}),
            json!({"type": "Polygon", "coordinates": [[[2.3, 48.8], [2.4, 48.8], [2.4, 95.0], [2.3, 48.8]]]}),
            json!({"type": "Point", "coordinates": [2.35, 48.85]}),
            json!({"type": "MultiPolygon", "coordinates": [[[[1e308, 0], [0, 0], [0, 1], [1e308, 0]]]]}),
        ]),
        "\\PC{0,24}".prop_map(Value::from),
    ];
    leaf.prop_recursive(2, 12, 4, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            proptest::collection::btree_map("[a-z_]{1,8}", inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// What is done to a valid body.
#[derive(Debug, Clone)]
enum Mutation {
    /// Sent as it is.
    Keep,
    /// Replaced by arbitrary bytes.
    Bytes(Vec<u8>),
    /// Cut short at a point.
    Cut(Index),
    /// Some bytes overwritten.
    Flip(Vec<(Index, u8)>),
    /// (JSON) one field removed, set to another value, or one added.
    Field(Index, Option<Value>, Option<String>),
    /// (forms) a field's value replaced by raw text, or a field dropped.
    Pair(Index, Option<String>),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        1 => Just(Mutation::Keep),
        2 => proptest::collection::vec(any::<u8>(), 0..200).prop_map(Mutation::Bytes),
        2 => any::<Index>().prop_map(Mutation::Cut),
        2 => proptest::collection::vec((any::<Index>(), any::<u8>()), 1..6).prop_map(Mutation::Flip),
        6 => (any::<Index>(), proptest::option::weighted(0.85, any_json()), proptest::option::weighted(0.15, "[a-z_]{1,10}"))
            .prop_map(|(i, v, n)| Mutation::Field(i, v, n)),
        4 => (any::<Index>(), proptest::option::weighted(0.8, prop_oneof![param_value(), query()]))
            .prop_map(|(i, v)| Mutation::Pair(i, v)),
    ]
}

fn mutate(seed: Seed, body: String, m: &Mutation) -> Vec<u8> {
    let mut bytes = body.clone().into_bytes();
    match m {
        Mutation::Keep => bytes,
        Mutation::Bytes(b) => b.clone(),
        Mutation::Cut(at) => {
            bytes.truncate(at.index(bytes.len() + 1));
            bytes
        }
        Mutation::Flip(flips) => {
            if !bytes.is_empty() {
                for (at, v) in flips {
                    let i = at.index(bytes.len());
                    bytes[i] = *v;
                }
            }
            bytes
        }
        Mutation::Field(at, value, name) => match (seed, serde_json::from_str::<Value>(&body)) {
            (Seed::Json(_), Ok(Value::Object(mut fields))) => {
                match name {
                    // An unknown field, or a known one given twice as another.
                    Some(n) => {
                        fields.insert(n.clone(), value.clone().unwrap_or(Value::Null));
                    }
                    None if fields.is_empty() => {}
                    None => {
                        let key = fields.keys().nth(at.index(fields.len())).unwrap().clone();
                        match value {
                            Some(v) => fields[&key] = v.clone(),
                            None => {
                                fields.remove(&key);
                            }
                        }
                    }
                }
                Value::Object(fields).to_string().into_bytes()
            }
            _ => bytes,
        },
        Mutation::Pair(at, value) => {
            if !matches!(seed, Seed::Form(_)) {
                return bytes;
            }
            let mut pairs: Vec<String> = body.split('&').map(str::to_owned).collect();
            let i = at.index(pairs.len());
            match value {
                Some(v) => {
                    let name = pairs[i].split('=').next().unwrap_or_default().to_owned();
                    pairs[i] = format!("{name}={v}");
                }
                None => {
                    pairs.remove(i);
                }
            }
            pairs.join("&").into_bytes()
        }
    }
}

/// A multipart body: one part under a name, holding bytes.
fn multipart(name: &str, content: &[u8]) -> Vec<u8> {
    let mut b = Vec::new();
    b.extend_from_slice(b"--XyZ\r\nContent-Disposition: form-data; name=\"");
    b.extend_from_slice(name.as_bytes());
    b.extend_from_slice(b"\"; filename=\"p.jpg\"\r\nContent-Type: image/jpeg\r\n\r\n");
    b.extend_from_slice(content);
    b.extend_from_slice(b"\r\n--XyZ--\r\n");
    b
}

/// A request to `ROUTES[route]`, its segments, query, caller, method and body
/// as generated.
#[derive(Debug, Clone)]
struct Junk {
    route: usize,
    segments: [String; 4],
    /// Mostly the route's own parameters (`None`: one of them, by the
    /// index), with values from [`param_value`]; else any query.
    own_query: Option<Vec<(Index, Option<String>, String)>>,
    query: String,
    caller: Option<String>,
    method: Option<Method>,
    mutation: Mutation,
    content_type: &'static str,
    part: &'static str,
}

fn junk() -> impl Strategy<Value = Junk> {
    (
        0..ROUTES.len(),
        [segment(), segment(), segment(), segment()],
        proptest::option::weighted(
            0.7,
            proptest::collection::vec(
                (
                    any::<Index>(),
                    proptest::option::weighted(0.1, param_name()),
                    param_value(),
                ),
                0..5,
            ),
        ),
        query(),
        caller(),
        method(),
        mutation(),
        select(
            &[
                "application/json",
                "application/json",
                "application/json",
                "application/json",
                "application/json",
                "application/json; charset=utf-8",
                "application/geo+json",
                "text/plain",
                "",
                "application/x-www-form-urlencoded",
                "application/x-www-form-urlencoded",
                "multipart/form-data; boundary=XyZ",
                "multipart/form-data; boundary=XyZ",
                "multipart/form-data",
            ][..],
        ),
        select(&["photo", "photo", "after_treatment", "other"][..]),
    )
        .prop_map(
            |(route, segments, own_query, query, caller, method, mutation, content_type, part)| {
                Junk {
                    route,
                    segments,
                    own_query,
                    query,
                    caller,
                    method,
                    mutation,
                    content_type,
                    part,
                }
            },
        )
}

/// The request a `Junk` describes; `None` when its URI does not parse (the
/// server never sees those).
fn build(h: &Harness, j: &Junk) -> Option<Request<Body>> {
    let (method, template, seed, params) = ROUTES[j.route];
    let mut path = String::new();
    let mut segments = j.segments.iter();
    for (i, piece) in template.split("{}").enumerate() {
        if i > 0 {
            let s = segments.next().map_or("", String::as_str);
            let s = s.replace("{report}", &target_report(h).to_string());
            // Never revoke a key by its id: the harness keys would go.
            let s =
                if template.starts_with("/api/v1/keys/") && s.bytes().any(|b| b.is_ascii_digit()) {
                    "9999999999".to_owned()
                } else {
                    s
                };
            path.push_str(&s);
        }
        path.push_str(piece);
    }
    let query = match &j.own_query {
        Some(pairs) if !params.is_empty() => form_urlencoded::Serializer::new(String::new())
            .extend_pairs(pairs.iter().map(|(i, name, value)| {
                (
                    name.clone()
                        .unwrap_or_else(|| params[i.index(params.len())].to_owned()),
                    value,
                )
            }))
            .finish(),
        _ => j.query.clone(),
    };
    let uri = if query.is_empty() {
        path
    } else {
        format!("{path}?{query}")
    };
    let uri = Uri::try_from(uri).ok()?;
    let method = j
        .method
        .clone()
        .unwrap_or_else(|| Method::from_bytes(method.as_bytes()).unwrap());
    let body = match seed {
        Seed::None => Vec::new(),
        Seed::Json(s) | Seed::Form(s) => mutate(seed, fill(h, s), &j.mutation),
        Seed::Multipart => match &j.mutation {
            Mutation::Bytes(b) => multipart(j.part, b),
            m => mutate(
                seed,
                String::from_utf8_lossy(&multipart(j.part, b"\xff\xd8\xff")).into_owned(),
                m,
            ),
        },
    };
    let content_type = match seed {
        Seed::Form(_) if !j.content_type.is_empty() => "application/x-www-form-urlencoded",
        Seed::Multipart if j.content_type.starts_with("application/json") => {
            "multipart/form-data; boundary=XyZ"
        }
        _ => j.content_type,
    };
    let mut b = Request::builder().method(method).uri(uri);
    if !content_type.is_empty() {
        b = b.header(header::CONTENT_TYPE, content_type);
    }
    match j.caller.as_deref() {
        Some(c) if c.starts_with("role:") => {
            b = b.header(
                header::AUTHORIZATION,
                format!("Bearer {}", h.key(&c["role:".len()..])),
            );
        }
        Some(c) => b = b.header(header::AUTHORIZATION, c),
        None => {}
    }
    b.body(Body::from(body)).ok()
}

/// The role that may use a route that reads a body.
fn role_for(path: &str) -> &'static str {
    if path.ends_with("/supports") || path == "/api/v1/reports" {
        "app"
    } else if path.contains("/privacy/") || path.contains("/campaigns") || path.contains("/keys") {
        "admin"
    } else {
        "agent"
    }
}

// -------------------------------------------------------------- properties

proptest! {
    #![proptest_config(ProptestConfig::with_cases(CASES))]

    #[test]
    fn junk_methods_paths_queries_keys_and_bodies_on_every_route_are_refused_below_500_with_json_errors_and_store_nothing(
        j in junk()
    ) {
        let _serial = serial();
        let h = harness();
        if let Some(req) = build(h, &j) {
            send_checked(h, req)?;
        }
    }

    #[test]
    fn mutated_bodies_on_every_route_that_reads_one_are_refused_with_4xx_json_errors_and_store_nothing(
        route in select((0..ROUTES.len()).filter(|&i| !matches!(ROUTES[i].2, Seed::None)).collect::<Vec<_>>()),
        j in junk(),
    ) {
        let _serial = serial();
        let h = harness();
        let j = Junk {
            route,
            segments: std::array::from_fn(|_| "{report}".to_owned()),
            own_query: None,
            query: String::new(),
            method: None,
            caller: Some(format!("role:{}", role_for(ROUTES[route].1))),
            ..j
        };
        if let Some(req) = build(h, &j) {
            send_checked(h, req)?;
        }
    }

    #[test]
    fn junk_tile_addresses_and_filters_are_answered_below_500_without_drawing_a_bad_tile(
        layers in prop_oneof![
            3 => select(&["reports", "reports", "projects", "districts", "reports,projects,districts", "reports,reports", "hexagons", "", ","][..]).prop_map(str::to_owned),
            1 => "\\PC{0,12}".prop_map(|s| enc(&s)),
        ],
        address in prop_oneof![
            // A tile over Paris or anywhere, at any zoom, or numbers at their edges.
            3 => (0_u8..=22, any::<bool>(), 0.0_f64..1.0, 0.0_f64..1.0, -1_i64..=1, -1_i64..=1).prop_map(
                |(z, paris, fx, fy, dx, dy)| {
                    let n = 1_i64 << z;
                    let (x, y) = if paris {
                        // Notre-Dame, 2.35 E 48.85 N, in Web Mercator tile units.
                        ((0.506_53 * n as f64) as i64 + dx, (0.344_05 * n as f64) as i64 + dy)
                    } else {
                        ((fx * n as f64) as i64, (fy * n as f64) as i64)
                    };
                    [z.to_string(), x.to_string(), y.to_string()]
                }
            ),
            1 => [edge_number(), edge_number(), edge_number()],
        ],
        suffix in select(&[".mvt", ".mvt", ".mvt", ".pbf", "", ".png", ".mvt.gz", ".MVT"][..]),
        q in prop_oneof![
            2 => Just(String::new()),
            2 => proptest::collection::vec((select(TILES), param_value()), 0..3).prop_map(|pairs| {
                form_urlencoded::Serializer::new(String::new()).extend_pairs(pairs).finish()
            }),
            1 => query(),
        ],
        gzip in any::<bool>(),
    ) {
        let [z, x, y] = address;
        let _serial = serial();
        let h = harness();
        let uri = format!("/tiles/{layers}/{z}/{x}/{y}{suffix}?{q}");
        let Ok(uri) = Uri::try_from(uri) else { return Ok(()) };
        let mut req = Request::get(uri);
        if gzip {
            req = req.header(header::ACCEPT_ENCODING, "gzip");
        }
        let a = send_checked(h, req.body(Body::empty()).unwrap())?;
        let z_ok = z.parse::<u8>().is_ok_and(|z| z <= 20);
        let xy_ok = z_ok
            && [&x, &y].iter().all(|v| v.parse::<u32>().is_ok_and(|v| u64::from(v) < 1_u64 << z.parse::<u8>().unwrap()));
        if a.status.is_success() {
            prop_assert!(z_ok && xy_ok && (suffix == ".mvt" || suffix == ".pbf"), "{} drawn", z);
        }
    }
}

// ----------------------------------------------------- valid input accepted

/// Generated reports as a resident's app would send them.
fn valid_report() -> impl Strategy<Value = (Index, Index, bool, String, f64, f64, &'static str)> {
    (
        any::<Index>(),
        any::<Index>(),
        any::<bool>(),
        "\\PC{0,300}",
        2.26_f64..2.41,
        48.82_f64..48.90,
        select(&["ios", "android", "web", "back_office"][..]),
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn valid_generated_reports_are_accepted_and_read_back_equal(
        (cat, sub, anomaly, description, lon, lat, channel) in valid_report()
    ) {
        let _serial = serial();
        let h = harness();
        let categories = h.app.taxonomy.categories();
        let category = &categories[cat.index(categories.len())];
        let subcategory = &category.subcategories[sub.index(category.subcategories.len())];
        let body = json!({
            "kind": if anomaly { "anomaly" } else { "contribution" },
            "category": category.code,
            "subcategory": subcategory.code,
            "description": description,
            "lon": lon, "lat": lat,
            "client_id": format!("valid-{}", unique()),
            "channel": channel,
        });
        let before = stored(h);
        let created = send_checked(h, json_request(Method::POST, "/api/v1/reports", &body, Some("app")))?;
        prop_assert_eq!(created.status, StatusCode::CREATED, "{}", created.text());
        let created: Value = serde_json::from_slice(&created.body).unwrap();
        let id = created["id"].as_i64().unwrap();
        let read = send(h, Request::get(format!("/api/v1/reports/{id}")).body(Body::empty()).unwrap());
        prop_assert_eq!(read.status, StatusCode::OK);
        let read: Value = serde_json::from_slice(&read.body).unwrap();
        for field in ["kind", "category", "subcategory", "description", "lon", "lat", "channel"] {
            prop_assert_eq!(&read[field], &body[field], "{}", field);
            prop_assert_eq!(&created[field], &body[field], "{}", field);
        }
        prop_assert_eq!(stored(h).reports, before.reports + 1);
    }

    #[test]
    fn valid_generated_open311_requests_are_accepted_and_read_back_equal(
        (cat, sub, _, description, lon, lat, _) in valid_report()
    ) {
        let _serial = serial();
        let h = harness();
        let categories = h.app.taxonomy.categories();
        let category = &categories[cat.index(categories.len())];
        let subcategory = &category.subcategories[sub.index(category.subcategories.len())];
        let description = description.trim();
        let form = form_urlencoded::Serializer::new(String::new())
            .append_pair("api_key", h.key("app"))
            .append_pair("service_code", &category.code)
            .append_pair("attribute[subcategory]", &subcategory.code)
            .append_pair("description", description)
            .append_pair("lat", &lat.to_string())
            .append_pair("long", &lon.to_string())
            .finish();
        let req = Request::post("/open311/v2/requests.json")
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(Body::from(form))
            .unwrap();
        let created = send_checked(h, req)?;
        // GeoReport v2 answers a new request with 200.
        prop_assert_eq!(created.status, StatusCode::OK, "{}", created.text());
        let created: Value = serde_json::from_slice(&created.body).unwrap();
        let id = created[0]["service_request_id"].as_str().unwrap().to_owned();
        let read = send(h, Request::get(format!("/open311/v2/requests/{id}.json")).body(Body::empty()).unwrap());
        prop_assert_eq!(read.status, StatusCode::OK, "{}", read.text());
        let read: Value = serde_json::from_slice(&read.body).unwrap();
        let r = &read[0];
        prop_assert_eq!(&r["service_code"], &json!(category.code));
        prop_assert_eq!(&r["lat"], &json!(lat));
        prop_assert_eq!(&r["long"], &json!(lon));
        if description.is_empty() {
            prop_assert!(r.get("description").is_none_or(|d| d == "" || d.is_null()), "{}", r);
        } else {
            prop_assert_eq!(&r["description"], &json!(description));
        }
    }
}

// ------------------------------------------------------------- regressions

#[test]
fn a_path_segment_that_does_not_decode_to_utf8_is_a_400_json_error_not_plain_text() {
    let _serial = serial();
    let h = harness();
    for uri in [
        "/api/v1/reports/%FF",
        "/api/v1/reports/%C3/history",
        "/api/v1/campaigns/%80",
        "/api/v1/districts/%FE%FF",
        "/api/v1/export/%FF.csv",
        "/tiles/reports/%FF/0/0.mvt",
    ] {
        let a = send(h, Request::get(uri).body(Body::empty()).unwrap());
        assert_eq!(a.status, StatusCode::BAD_REQUEST, "{uri}: {}", a.text());
        let v: Value =
            serde_json::from_slice(&a.body).unwrap_or_else(|e| panic!("{uri}: {e}: {}", a.text()));
        assert_eq!(v["error"], "bad_request", "{uri}");
    }
}

#[test]
fn a_method_a_route_does_not_take_is_a_405_json_error_naming_the_methods_it_takes() {
    let _serial = serial();
    let h = harness();
    for (method, uri) in [
        (Method::PUT, "/api/v1/reports"),
        (Method::DELETE, "/api/v1/categories"),
        (Method::POST, "/tiles/reports/0/0/0.mvt"),
        (Method::PATCH, "/health"),
    ] {
        let a = send(
            h,
            Request::builder()
                .method(method.clone())
                .uri(uri)
                .body(Body::empty())
                .unwrap(),
        );
        assert_eq!(a.status, StatusCode::METHOD_NOT_ALLOWED, "{method} {uri}");
        let v: Value = serde_json::from_slice(&a.body)
            .unwrap_or_else(|e| panic!("{method} {uri}: {e}: {}", a.text()));
        assert_eq!(v["error"], "method_not_allowed", "{method} {uri}");
    }
}

#[test]
fn an_open311_start_date_too_near_the_end_of_time_for_its_window_is_a_400_not_a_500() {
    let _serial = serial();
    let h = harness();
    for uri in [
        "/open311/v2/requests.json?start_date=9999-12-31T23:59:59-14:00",
        "/open311/v2/servicerequestupdates.json?start_date=9999-12-01T00:00:00Z",
        "/open311/v2/requests.xml?end_date=-9999-01-01T00:00:00Z",
    ] {
        let a = send(h, Request::get(uri).body(Body::empty()).unwrap());
        assert_eq!(a.status, StatusCode::BAD_REQUEST, "{uri}: {}", a.text());
        assert!(a.text().contains("_date"), "{uri}: {}", a.text());
    }
}
