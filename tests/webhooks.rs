//! Webhooks through the real router: registration, roles, filtered and
//! signed deliveries to a real local receiver, retries, restarts, deletion.
#![allow(clippy::unwrap_used)]

mod common;

use std::collections::HashMap;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, Request, StatusCode};
use hmac::{Hmac, Mac as _};
use serde_json::{Value, json};
use sha2::Sha256;

use common::{Harness, anomaly, client_id, custom_harness, harness};

/// Generous: deliveries are asynchronous, never timed.
const WAIT: Duration = Duration::from_secs(60);

/// One request the receiver got.
#[derive(Debug, Clone)]
struct Got {
    webhook_id: i64,
    event_id: i64,
    attempt: u32,
    signature: String,
    body: Vec<u8>,
}

impl Got {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap()
    }
}

/// A local webhook receiver: records every request; answers 500 to the
/// first `fail_first` attempts of each event, then 200.
#[derive(Clone, Default)]
struct Receiver {
    got: Arc<Mutex<Vec<Got>>>,
    fail_first: Arc<AtomicU32>,
    url: String,
}

async fn receive(State(r): State<Receiver>, headers: HeaderMap, body: Bytes) -> StatusCode {
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    };
    let got = Got {
        webhook_id: header("civicmap-webhook-id").parse().unwrap_or(-1),
        event_id: header("civicmap-event-id").parse().unwrap_or(-1),
        attempt: header("civicmap-delivery-attempt").parse().unwrap_or(0),
        signature: header("civicmap-signature"),
        body: body.to_vec(),
    };
    let mut all = r.got.lock().unwrap();
    all.push(got.clone());
    let seen = all
        .iter()
        .filter(|g| g.event_id == got.event_id && g.webhook_id == got.webhook_id)
        .count();
    if seen <= r.fail_first.load(Ordering::Relaxed) as usize {
        StatusCode::INTERNAL_SERVER_ERROR
    } else {
        StatusCode::OK
    }
}

impl Receiver {
    fn start(rt: &tokio::runtime::Runtime, fail_first: u32) -> Self {
        let listener = rt
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .unwrap();
        let r = Receiver {
            fail_first: Arc::new(AtomicU32::new(fail_first)),
            url: format!("http://{}/hook", listener.local_addr().unwrap()),
            ..Receiver::default()
        };
        let app = axum::Router::new()
            .route("/hook", axum::routing::post(receive))
            .with_state(r.clone());
        rt.spawn(async move { axum::serve(listener, app).await.unwrap() });
        r
    }

    fn all(&self) -> Vec<Got> {
        self.got.lock().unwrap().clone()
    }

    /// Waits until `done` holds over what was received.
    fn wait_until(&self, what: &str, done: impl Fn(&[Got]) -> bool) -> Vec<Got> {
        let deadline = Instant::now() + WAIT;
        loop {
            let all = self.all();
            if done(&all) {
                return all;
            }
            assert!(Instant::now() < deadline, "never received {what}: {all:?}");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

/// An application that accepts http receivers and retries fast.
fn hooks() -> &'static Harness {
    static H: OnceLock<Harness> = OnceLock::new();
    H.get_or_init(|| custom_harness(fast_webhooks))
}

fn fast_webhooks(c: &mut civicmap::config::Config) {
    c.webhook_allow_http = true;
    c.webhook_retry_base = Duration::from_millis(20);
    c.webhook_retry_max = Duration::from_millis(100);
}

/// A square area of `side` degrees from its south-west corner.
fn square(lon: f64, lat: f64, side: f64) -> Value {
    json!({"type": "Polygon", "coordinates": [[
        [lon, lat], [lon + side, lat], [lon + side, lat + side], [lon, lat + side], [lon, lat]
    ]]})
}

/// Files an anomaly of `category` at a place; returns the report id.
fn file(h: &Harness, lon: f64, lat: f64, category: &str, contact: Option<&str>) -> i64 {
    let mut b = anomaly(&client_id("hook"));
    b["lon"] = json!(lon);
    b["lat"] = json!(lat);
    b["category"] = json!(category);
    b["subcategory"] = json!(subcategory(h, category));
    if let Some(c) = contact {
        b["contact"] = json!(c);
    }
    let r = h.post_as(Some("app"), "/api/v1/reports", &b);
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    r.json()["id"].as_i64().unwrap()
}

fn subcategory(h: &Harness, category: &str) -> String {
    let id = h.app.taxonomy.category_id(category).unwrap();
    h.app.taxonomy.category(id).subcategories[0].code.clone()
}

/// A category other than `proprete`.
fn other_category(h: &Harness) -> String {
    h.app
        .taxonomy
        .categories()
        .iter()
        .map(|c| c.code.clone())
        .find(|c| {
            c != "proprete"
                && !h
                    .app
                    .taxonomy
                    .category(h.app.taxonomy.category_id(c).unwrap())
                    .subcategories
                    .is_empty()
        })
        .unwrap()
}

/// Registers a webhook as `role`; returns its JSON (with the secret).
fn register(h: &Harness, role: &str, body: &Value) -> Value {
    let r = h.post_as(Some(role), "/api/v1/webhooks", body);
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    r.json()
}

fn get_as(h: &Harness, role: &str, uri: &str) -> common::Reply {
    h.send_as(Some(role), Request::get(uri).body(Body::empty()).unwrap())
}

/// Checks a `Civicmap-Signature` with an HMAC computed here.
fn assert_signed(secret: &str, got: &Got) {
    let (t, v1) = got
        .signature
        .split_once(",v1=")
        .and_then(|(t, v)| Some((t.strip_prefix("t=")?, v)))
        .unwrap_or_else(|| panic!("bad signature header {:?}", got.signature));
    let t: i64 = t.parse().unwrap();
    assert!((t - time::OffsetDateTime::now_utc().unix_timestamp()).abs() < 600);
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(format!("{t}.").as_bytes());
    mac.update(&got.body);
    let expected: String = mac
        .finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    assert_eq!(v1, expected, "signature does not verify");
}

/// The id of the `created` event of a report, from its timeline.
fn created_event(h: &Harness, report: i64) -> i64 {
    let t = h.get(&format!("/api/v1/reports/{report}/history")).json();
    t["events"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["type"] == "created")
        .unwrap()["id"]
        .as_i64()
        .unwrap()
}

#[test]
fn a_registration_with_a_bad_url_area_category_or_kind_is_refused_and_nothing_is_stored() {
    // The default configuration: https only.
    let h = harness();
    let name = client_id("refused");
    let ok = json!({"url": "https://back-office.example/hooks/civicmap", "name": name});
    let with = |field: &str, v: Value| {
        let mut b = ok.clone();
        b[field] = v;
        b
    };
    let cases = [
        (with("url", json!("not a url")), 422, "url"),
        (with("url", json!("/relative")), 422, "url"),
        (with("url", json!("http://127.0.0.1:9/hook")), 422, "url"),
        (
            with("url", json!("ftp://back-office.example/x")),
            422,
            "url",
        ),
        (
            with("url", json!("https://u:p@back-office.example/x")),
            422,
            "url",
        ),
        (
            with("district", json!("arrondissement:99999")),
            422,
            "district",
        ),
        (
            with(
                "area",
                json!({"type": "Point", "coordinates": [2.35, 48.85]}),
            ),
            422,
            "area",
        ),
        (
            with(
                "area",
                json!({"type": "Polygon", "coordinates": [[[2.35, 48.85], [2.36, 148.0], [2.35, 48.85]]]}),
            ),
            422,
            "area",
        ),
        (with("bbox", json!([2.3, 48.8, 2.4])), 422, "bbox"),
        (with("bbox", json!([2.4, 48.8, 2.3, 48.9])), 422, "bbox"),
        (
            {
                let mut b = with("bbox", json!([2.3, 48.8, 2.4, 48.9]));
                b["district"] = json!("arrondissement:75111");
                b
            },
            422,
            "area",
        ),
        (
            with("categories", json!(["not-a-category"])),
            422,
            "categories",
        ),
        (with("kinds", json!(["deleted"])), 422, "kinds"),
        (with("name", json!("x".repeat(101))), 422, "name"),
        (with("secret", json!("mine")), 400, ""),
        (json!({"name": name}), 400, ""),
    ];
    for (body, status, field) in cases {
        let r = h.post_as(Some("agent"), "/api/v1/webhooks", &body);
        assert_eq!(r.status.as_u16(), status, "{body}: {}", r.text());
        if !field.is_empty() {
            assert_eq!(r.json()["field"], field, "{body}: {}", r.text());
        }
    }
    let listed = get_as(h, "admin", "/api/v1/webhooks").json();
    assert!(
        listed["items"]
            .as_array()
            .unwrap()
            .iter()
            .all(|w| w["name"] != json!(name)),
        "a refused webhook was stored: {listed}"
    );
    // The same body with a good URL is accepted; its secret is shown once.
    let created = register(h, "agent", &ok);
    assert!(created["secret"].as_str().unwrap().starts_with("whsec_"));
    assert_eq!(created["state"], "active");
    assert_eq!(created["perimeter"], "city");
    let id = created["id"].as_i64().unwrap();
    let again = get_as(h, "agent", &format!("/api/v1/webhooks/{id}"));
    assert_eq!(again.status, StatusCode::OK);
    assert!(again.json().get("secret").is_none());
    assert!(!again.text().contains(created["secret"].as_str().unwrap()));
}

#[test]
fn only_agents_and_admins_manage_webhooks_and_an_agent_sees_only_its_own() {
    let h = harness();
    let body = json!({"url": "https://back-office.example/roles", "categories": ["proprete"]});
    for (role, status) in [(None, 401), (Some("app"), 403), (Some("analyst"), 403)] {
        let r = h.post_as(role, "/api/v1/webhooks", &body);
        assert_eq!(r.status.as_u16(), status, "{role:?}: {}", r.text());
        let r = h.send_as(
            role,
            Request::get("/api/v1/webhooks")
                .body(Body::empty())
                .unwrap(),
        );
        assert_eq!(r.status.as_u16(), status, "{role:?}");
    }
    let mine = register(h, "agent", &body)["id"].as_i64().unwrap();
    let by_admin = register(h, "admin", &body)["id"].as_i64().unwrap();
    let ids = |role: &str| -> Vec<i64> {
        get_as(h, role, "/api/v1/webhooks").json()["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|w| w["id"].as_i64().unwrap())
            .collect()
    };
    assert!(ids("agent").contains(&mine) && !ids("agent").contains(&by_admin));
    assert!(ids("admin").contains(&mine) && ids("admin").contains(&by_admin));
    // Another agent's key sees neither, and cannot delete them.
    let other = h
        .post_as(
            Some("admin"),
            "/api/v1/keys",
            &json!({"name": "Other service", "role": "agent"}),
        )
        .json()["key"]
        .as_str()
        .unwrap()
        .to_owned();
    let as_other = |method: &str| {
        h.send(
            Request::builder()
                .method(method)
                .uri(format!("/api/v1/webhooks/{mine}"))
                .header("authorization", format!("Bearer {other}"))
                .body(Body::empty())
                .unwrap(),
        )
    };
    assert_eq!(as_other("GET").status, StatusCode::NOT_FOUND);
    assert_eq!(as_other("DELETE").status, StatusCode::NOT_FOUND);
    // An admin may delete any; a deleted webhook stays listed as deleted.
    let del = h.send_as(
        Some("admin"),
        Request::delete(format!("/api/v1/webhooks/{mine}"))
            .body(Body::empty())
            .unwrap(),
    );
    assert_eq!(del.status, StatusCode::NO_CONTENT);
    let shown = get_as(h, "agent", &format!("/api/v1/webhooks/{mine}")).json();
    assert_eq!(shown["state"], "deleted");
}

#[test]
fn a_report_filed_inside_the_area_and_categories_is_delivered_signed_and_others_are_not() {
    let h = hooks();
    let rx = Receiver::start(&h.rt, 0);
    let (lon, lat) = (2.3320, 48.8610);
    let hook = register(
        h,
        "agent",
        &json!({
            "url": rx.url, "name": "Propreté Louvre",
            "area": square(lon, lat, 0.002), "categories": ["proprete"],
        }),
    );
    let secret = hook["secret"].as_str().unwrap();
    let hook_id = hook["id"].as_i64().unwrap();
    let outside = file(h, lon + 0.01, lat + 0.001, "proprete", None);
    let other = file(h, lon + 0.001, lat + 0.001, &other_category(h), None);
    let inside = file(h, lon + 0.001, lat + 0.001, "proprete", None);
    let event = created_event(h, inside);
    // Deliveries follow the log: once `inside` arrived, the two before it
    // were handled (and filtered out).
    let got = rx.wait_until("the report inside", |all| {
        all.iter().any(|g| g.event_id == event)
    });
    let mine: Vec<&Got> = got.iter().filter(|g| g.webhook_id == hook_id).collect();
    assert_eq!(mine.len(), 1, "{mine:?}");
    let g = mine[0];
    assert_eq!(g.attempt, 1);
    assert_signed(secret, g);
    let body = g.json();
    assert_eq!(body["id"], event);
    assert_eq!(body["type"], "created");
    assert_eq!(body["report_id"], inside);
    assert_eq!(body["report"]["category"], "proprete");
    for id in [outside, other] {
        assert!(
            got.iter().all(|g| g.json()["report_id"] != id),
            "{id} delivered"
        );
    }
    // A signature made with another secret does not verify.
    let forged = Got {
        signature: g.signature.replace("v1=", "v1=0"),
        ..g.clone()
    };
    assert!(std::panic::catch_unwind(|| assert_signed(secret, &forged)).is_err());
}

#[test]
fn a_delivery_never_carries_the_reporters_contact() {
    let h = hooks();
    let rx = Receiver::start(&h.rt, 0);
    let (lon, lat) = (2.3700, 48.8350);
    let marker = format!("{}@example.org", client_id("contact-marker"));
    let hook = register(
        h,
        "admin",
        &json!({"url": rx.url, "bbox": [lon, lat, lon + 0.001, lat + 0.001]}),
    )["id"]
        .as_i64()
        .unwrap();
    let id = file(h, lon + 0.0005, lat + 0.0005, "proprete", Some(&marker));
    let note = h.post_as(
        Some("agent"),
        &format!("/api/v1/reports/{id}/notes"),
        &json!({"note": "Pris en charge"}),
    );
    assert_eq!(note.status, StatusCode::CREATED, "{}", note.text());
    let got = rx.wait_until("the created and note events", |all| {
        all.iter()
            .filter(|g| g.webhook_id == hook && g.json()["report_id"] == id)
            .count()
            >= 2
    });
    let kinds: Vec<String> = got
        .iter()
        .filter(|g| g.webhook_id == hook)
        .map(|g| g.json()["type"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(kinds, ["created", "note"]);
    for g in &got {
        assert!(!String::from_utf8_lossy(&g.body).contains(&marker));
        assert!(!String::from_utf8_lossy(&g.body).contains("contact"));
    }
}

#[test]
fn a_receiver_failing_twice_then_answering_gets_the_event_three_times_with_attempts_one_to_three() {
    let h = hooks();
    let rx = Receiver::start(&h.rt, 2);
    let (lon, lat) = (2.2950, 48.8450);
    let hook = register(
        h,
        "agent",
        &json!({"url": rx.url, "bbox": [lon, lat, lon + 0.001, lat + 0.001], "kinds": ["created"]}),
    );
    let hook_id = hook["id"].as_i64().unwrap();
    let id = file(h, lon + 0.0005, lat + 0.0005, "proprete", None);
    let event = created_event(h, id);
    let got = rx.wait_until("three attempts", |all| {
        all.iter().filter(|g| g.event_id == event).count() >= 3
    });
    let tries: Vec<&Got> = got.iter().filter(|g| g.event_id == event).collect();
    assert_eq!(
        tries.iter().map(|g| g.attempt).collect::<Vec<_>>(),
        [1, 2, 3]
    );
    assert!(tries.iter().all(|g| g.body == tries[0].body));
    for g in &tries {
        assert_signed(hook["secret"].as_str().unwrap(), g);
    }
    // The outcome is recorded once the third attempt was answered.
    let deadline = Instant::now() + WAIT;
    let last = loop {
        let w = get_as(h, "agent", &format!("/api/v1/webhooks/{hook_id}")).json();
        if w["last_delivery"]["event_id"] == event {
            break w;
        }
        assert!(Instant::now() < deadline, "never recorded: {w}");
        std::thread::sleep(Duration::from_millis(20));
    };
    assert_eq!(last["last_delivery"]["status"], "delivered");
    assert_eq!(last["last_delivery"]["attempts"], 3);
    assert_eq!(last["last_delivery"]["http_status"], 200);
    // Other tests' events after it may have been filtered out since.
    assert!(last["cursor"].as_i64().unwrap() >= event, "{last}");
    let log = get_as(
        h,
        "agent",
        &format!("/api/v1/webhooks/{hook_id}/deliveries"),
    )
    .json();
    assert_eq!(log["items"][0]["event_id"], event);
}

#[test]
fn deleting_a_webhook_stops_its_deliveries() {
    let h = hooks();
    let rx = Receiver::start(&h.rt, 0);
    let (lon, lat) = (2.3900, 48.8700);
    let body = json!({"url": rx.url, "bbox": [lon, lat, lon + 0.001, lat + 0.001]});
    let doomed = register(h, "agent", &body)["id"].as_i64().unwrap();
    let kept = register(h, "agent", &body)["id"].as_i64().unwrap();
    let first = created_event(h, file(h, lon + 0.0005, lat + 0.0005, "proprete", None));
    rx.wait_until("the first report by both", |all| {
        [doomed, kept].iter().all(|w| {
            all.iter()
                .any(|g| g.webhook_id == *w && g.event_id == first)
        })
    });
    let del = h.send_as(
        Some("agent"),
        Request::delete(format!("/api/v1/webhooks/{doomed}"))
            .body(Body::empty())
            .unwrap(),
    );
    assert_eq!(del.status, StatusCode::NO_CONTENT, "{}", del.text());
    let second = created_event(h, file(h, lon + 0.0005, lat + 0.0005, "proprete", None));
    let got = rx.wait_until("the second report by the kept webhook", |all| {
        all.iter()
            .any(|g| g.webhook_id == kept && g.event_id == second)
    });
    assert!(
        got.iter()
            .all(|g| !(g.webhook_id == doomed && g.event_id == second)),
        "a deleted webhook delivered"
    );
    let again = h.send_as(
        Some("agent"),
        Request::delete(format!("/api/v1/webhooks/{doomed}"))
            .body(Body::empty())
            .unwrap(),
    );
    assert_eq!(again.status, StatusCode::NOT_FOUND);
}

/// An application on `dir`, on a runtime of its own, with the router and
/// (on first start) an app and an agent key.
struct Running {
    router: axum::Router,
    app: Arc<civicmap::service::App>,
    rt: tokio::runtime::Runtime,
}

impl Running {
    fn open(dir: &std::path::Path) -> Self {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let mut config = civicmap::config::Config::new(dir.to_path_buf());
        config.seed_reports = false;
        fast_webhooks(&mut config);
        let app = Arc::new(rt.block_on(civicmap::boot::open(config)).unwrap());
        let router = civicmap::http::router(Arc::clone(&app));
        Self { router, app, rt }
    }

    fn send(
        &self,
        key: &str,
        method: &str,
        uri: &str,
        body: Option<&Value>,
    ) -> (StatusCode, Value) {
        use http_body_util::BodyExt as _;
        use tower::ServiceExt as _;
        let req = Request::builder()
            .method(method)
            .uri(uri)
            .header("authorization", format!("Bearer {key}"))
            .header("content-type", "application/json")
            .body(body.map_or_else(Body::empty, |b| Body::from(b.to_string())))
            .unwrap();
        self.rt.block_on(async {
            let resp = self.router.clone().oneshot(req).await.unwrap();
            let status = resp.status();
            let bytes = resp.into_body().collect().await.unwrap().to_bytes();
            (
                status,
                serde_json::from_slice(&bytes).unwrap_or(Value::Null),
            )
        })
    }
}

#[test]
fn deliveries_resume_after_a_restart_from_the_stored_cursor_without_repeating_acknowledged_events()
{
    let dir = tempfile::tempdir().unwrap();
    // The receiver outlives both applications.
    let receiver_rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let rx = Receiver::start(&receiver_rt, 0);
    let (keys, hook, first) = {
        let run = Running::open(dir.path());
        let keys: HashMap<&str, String> = ["app", "agent"]
            .into_iter()
            .map(|role| {
                let (_, k) = run
                    .rt
                    .block_on(civicmap::service::create_key(
                        run.app.store(),
                        role,
                        role.parse().unwrap(),
                    ))
                    .unwrap();
                (role, k)
            })
            .collect();
        let (s, w) = run.send(
            &keys["agent"],
            "POST",
            "/api/v1/webhooks",
            Some(&json!({"url": rx.url})),
        );
        assert_eq!(s, StatusCode::CREATED, "{w}");
        let hook = w["id"].as_i64().unwrap();
        let (s, r) = run.send(
            &keys["app"],
            "POST",
            "/api/v1/reports",
            Some(&anomaly(&client_id("restart"))),
        );
        assert_eq!(s, StatusCode::CREATED, "{r}");
        let got = rx.wait_until("the report before the restart", |all| !all.is_empty());
        let first = got[0].event_id;
        // Acknowledged and recorded before the stop.
        let deadline = Instant::now() + WAIT;
        while run
            .send(
                &keys["agent"],
                "GET",
                &format!("/api/v1/webhooks/{hook}"),
                None,
            )
            .1["cursor"]
            != first
        {
            assert!(Instant::now() < deadline, "cursor never stored");
            std::thread::sleep(Duration::from_millis(20));
        }
        (keys, hook, first)
        // The application and its runtime stop here.
    };
    let run = Running::open(dir.path());
    let (s, w) = run.send(
        &keys["agent"],
        "GET",
        &format!("/api/v1/webhooks/{hook}"),
        None,
    );
    assert_eq!((s, &w["cursor"]), (StatusCode::OK, &json!(first)));
    let (s, r) = run.send(
        &keys["app"],
        "POST",
        "/api/v1/reports",
        Some(&anomaly(&client_id("restart"))),
    );
    assert_eq!(s, StatusCode::CREATED, "{r}");
    let got = rx.wait_until("the report after the restart", |all| {
        all.iter().any(|g| g.event_id > first)
    });
    let events: Vec<i64> = got.iter().map(|g| g.event_id).collect();
    assert_eq!(events.len(), 2, "{events:?}");
    assert_eq!(events[0], first);
    assert!(events[1] > first);
    assert_eq!(got[1].json()["report_id"], r["id"]);
}

#[test]
fn a_webhook_failing_event_after_event_is_disabled_and_once_enabled_delivers_what_it_missed() {
    static H: OnceLock<Harness> = OnceLock::new();
    let h = H.get_or_init(|| {
        custom_harness(|c| {
            fast_webhooks(c);
            c.webhook_max_attempts = 1;
            c.webhook_disable_after = 2;
        })
    });
    let rx = Receiver::start(&h.rt, u32::MAX);
    let (lon, lat) = (2.3020, 48.8620);
    let body =
        json!({"url": rx.url, "bbox": [lon, lat, lon + 0.001, lat + 0.001], "kinds": ["created"]});
    let hook = register(h, "agent", &body)["id"].as_i64().unwrap();
    let uri = format!("/api/v1/webhooks/{hook}");
    let enable = |role: &str| {
        h.send_as(
            Some(role),
            Request::post(format!("{uri}/enable"))
                .body(Body::empty())
                .unwrap(),
        )
    };
    // Enabling an active webhook is refused.
    assert_eq!(enable("agent").status, StatusCode::CONFLICT);
    for _ in 0..2 {
        file(h, lon + 0.0005, lat + 0.0005, "proprete", None);
    }
    let deadline = Instant::now() + WAIT;
    let disabled = loop {
        let w = get_as(h, "agent", &uri).json();
        if w["state"] == "disabled" {
            break w;
        }
        assert!(Instant::now() < deadline, "never disabled: {w}");
        std::thread::sleep(Duration::from_millis(20));
    };
    assert_eq!(disabled["disabled_reason"], "2 events in a row failed");
    assert_eq!(disabled["last_delivery"]["status"], "failed");

    // Filed while disabled, delivered once enabled, after the receiver mends.
    let missed = created_event(h, file(h, lon + 0.0005, lat + 0.0005, "proprete", None));
    rx.fail_first.store(0, Ordering::Relaxed);
    assert_eq!(enable("app").status, StatusCode::FORBIDDEN);
    let enabled = enable("agent");
    assert_eq!(enabled.status, StatusCode::OK, "{}", enabled.text());
    assert_eq!(enabled.json()["state"], "active");
    assert_eq!(enabled.json()["consecutive_failures"], 0);
    let got = rx.wait_until("the event filed while disabled", |all| {
        all.iter()
            .any(|g| g.webhook_id == hook && g.event_id == missed && g.attempt == 1)
    });
    assert!(
        got.iter()
            .any(|g| g.webhook_id == hook && g.event_id == missed)
    );

    // Deleted, it cannot be enabled again.
    let del = h.send_as(
        Some("agent"),
        Request::delete(uri.clone()).body(Body::empty()).unwrap(),
    );
    assert_eq!(del.status, StatusCode::NO_CONTENT);
    assert_eq!(enable("agent").status, StatusCode::NOT_FOUND);
}
