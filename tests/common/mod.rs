//! Shared test harness: one application per test binary, on a runtime that
//! outlives every test (the group-commit writer runs there), driven through
//! the real router without a socket.
#![allow(dead_code, clippy::unwrap_used)]

pub mod server;
pub mod stores;

use std::sync::{Arc, OnceLock};

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use http_body_util::BodyExt;
use serde_json::Value;
use tower::ServiceExt;

use civicmap::config::Config;
use civicmap::service::App;

pub struct Harness {
    pub rt: tokio::runtime::Runtime,
    pub app: Arc<App>,
    pub router: Router,
    /// One API key per role, by role name (`app`, `agent`, `admin`, `analyst`).
    pub keys: std::collections::HashMap<&'static str, String>,
    /// The data directory (a temporary one unless given).
    pub data_dir: std::path::PathBuf,
    _dir: Option<tempfile::TempDir>,
}

/// The shared, unseeded application of this test binary.
pub fn harness() -> &'static Harness {
    static H: OnceLock<Harness> = OnceLock::new();
    H.get_or_init(|| Harness::new(false))
}

/// A second application of this test binary, seeded with the real
/// DansMaRue sample (39,515 reports), as a first start does.
pub fn seeded_harness() -> &'static Harness {
    static H: OnceLock<Harness> = OnceLock::new();
    H.get_or_init(|| Harness::new(true))
}

/// An application of its own (unseeded), with a configuration edited by
/// the test (e.g. a fading age of 0 days).
pub fn custom_harness(edit: impl FnOnce(&mut Config)) -> Harness {
    Harness::with(false, edit)
}

impl Harness {
    fn new(seed: bool) -> Self {
        Self::with(seed, |_| {})
    }

    fn with(seed: bool, edit: impl FnOnce(&mut Config)) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let mut h = Self::in_dir(dir.path(), seed, edit);
        h._dir = Some(dir);
        h
    }

    /// An application booted on an existing data directory (as a restart
    /// does), unseeded, with fresh keys.
    pub fn boot_in(data_dir: &std::path::Path) -> Self {
        Self::in_dir(data_dir, false, |_| {})
    }

    fn in_dir(data_dir: &std::path::Path, seed: bool, edit: impl FnOnce(&mut Config)) -> Self {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let mut config = Config::new(data_dir.to_path_buf());
        config.seed_reports = seed;
        edit(&mut config);
        let app = Arc::new(rt.block_on(civicmap::boot::open(config)).unwrap());
        let router = civicmap::http::router(Arc::clone(&app));
        let mut keys = std::collections::HashMap::new();
        for role in civicmap::model::Role::ALL {
            let (_, secret) = rt
                .block_on(civicmap::service::create_key(
                    app.store(),
                    &format!("Test {role}"),
                    role,
                ))
                .unwrap();
            keys.insert(role.as_str(), secret);
        }
        Harness {
            rt,
            app,
            router,
            keys,
            data_dir: data_dir.to_path_buf(),
            _dir: None,
        }
    }

    /// Sends a request through this application's router.
    pub fn send(&self, req: Request<Body>) -> Reply {
        self.rt.block_on(async {
            let resp = self.router.clone().oneshot(req).await.unwrap();
            let status = resp.status();
            let headers = resp.headers().clone();
            let body = resp
                .into_body()
                .collect()
                .await
                .unwrap()
                .to_bytes()
                .to_vec();
            Reply {
                status,
                headers,
                body,
            }
        })
    }

    pub fn get(&self, uri: &str) -> Reply {
        self.send(Request::get(uri).body(Body::empty()).unwrap())
    }

    /// The test key of a role.
    pub fn key(&self, role: &str) -> &str {
        &self.keys[role]
    }

    /// Sends a request with the key of `role` (`None`: no key).
    pub fn send_as(&self, role: Option<&str>, mut req: Request<Body>) -> Reply {
        if let Some(role) = role {
            req.headers_mut().insert(
                header::AUTHORIZATION,
                format!("Bearer {}", self.key(role)).parse().unwrap(),
            );
        }
        self.send(req)
    }

    /// POSTs JSON with the key of `role`.
    pub fn post_as(&self, role: Option<&str>, uri: &str, body: &Value) -> Reply {
        self.send_as(
            role,
            Request::post(uri)
                .header(header::CONTENT_TYPE, "application/json")
                .body(Body::from(body.to_string()))
                .unwrap(),
        )
    }
}

pub struct Reply {
    pub status: StatusCode,
    pub headers: axum::http::HeaderMap,
    pub body: Vec<u8>,
}

impl Reply {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&self.body)))
    }
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

pub fn send(req: Request<Body>) -> Reply {
    harness().send(req)
}

pub fn get(uri: &str) -> Reply {
    send(Request::get(uri).body(Body::empty()).unwrap())
}

pub fn post_json(uri: &str, body: &Value) -> Reply {
    post_raw(uri, "application/json", body.to_string().into_bytes())
}

/// POSTs with the `app` key (a mobile client).
pub fn post_raw(uri: &str, content_type: &str, body: Vec<u8>) -> Reply {
    let h = harness();
    h.send_as(
        Some("app"),
        Request::post(uri)
            .header(header::CONTENT_TYPE, content_type)
            .body(Body::from(body))
            .unwrap(),
    )
}

/// The bytes a gzip stream holds.
pub fn gunzip(bytes: &[u8]) -> Vec<u8> {
    use std::io::Read as _;
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(bytes)
        .read_to_end(&mut out)
        .unwrap();
    out
}

/// A unique client id for this process.
pub fn client_id(tag: &str) -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    format!(
        "{tag}-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

/// A valid anomaly near Notre-Dame (4th arrondissement).
pub fn anomaly(client: &str) -> Value {
    serde_json::json!({
        "kind": "anomaly",
        "category": "proprete",
        "subcategory": first_subcategory("proprete"),
        "description": "Sacs poubelle éventrés sur le trottoir",
        "lon": 2.3499, "lat": 48.8530,
        "client_id": client,
        "channel": "android",
    })
}

pub fn first_subcategory(category: &str) -> String {
    let h = harness();
    let id = h.app.taxonomy.category_id(category).unwrap();
    h.app.taxonomy.category(id).subcategories[0].code.clone()
}

/// The longest [`eventually`] waits: what it waits for (another instance
/// following a change, a lease taken over) takes milliseconds to seconds;
/// the bound only keeps a broken build from hanging the suite.
pub const EVENTUALLY_WITHIN: std::time::Duration = std::time::Duration::from_secs(90);

/// Polls `check` until it holds and returns the last value seen; fails
/// after [`EVENTUALLY_WITHIN`], naming `what` and that value.
pub fn eventually<T: std::fmt::Debug>(what: &str, mut check: impl FnMut() -> (bool, T)) -> T {
    let deadline = std::time::Instant::now() + EVENTUALLY_WITHIN;
    loop {
        let (done, seen) = check();
        if done {
            return seen;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{what}: still {seen:?}"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}
