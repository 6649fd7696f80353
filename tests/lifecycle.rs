//! Keys and roles, the report lifecycle, supports, campaigns and the event
//! stream, through the real router.
#![allow(clippy::unwrap_used)]

mod common;
#[path = "support_mvt/mod.rs"]
mod support_mvt;
mod support_photos;

use std::time::Duration;

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use http_body_util::BodyExt;
use serde_json::{Value, json};
use tower::ServiceExt;

use common::{Harness, anomaly, client_id, first_subcategory, harness};
use support_mvt::{DecodedFeature, Prop, decode};
use support_photos::{jpeg, multipart, multipart_content_type, photo_part, picture};

/// The features of the `reports` layer of the z16 tile holding a point.
fn point_features(h: &Harness, lon: f64, lat: f64, query: &str) -> Vec<DecodedFeature> {
    let z = 16_u8;
    let n = f64::from(1_u32 << z);
    let x = ((lon + 180.0) / 360.0 * n).floor();
    let y = ((1.0 - lat.to_radians().tan().asinh() / std::f64::consts::PI) / 2.0 * n).floor();
    let r = h.get(&format!("/tiles/reports/{z}/{x}/{y}.mvt{query}"));
    if r.status == StatusCode::NO_CONTENT {
        return Vec::new();
    }
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    decode(&r.body)
        .into_iter()
        .filter(|l| l.name == "reports")
        .flat_map(|l| l.features)
        .collect()
}

/// Columns of the role matrix: no key, a malformed key, then each role.
const WHO: [Option<&str>; 6] = [
    None,
    Some("bad"),
    Some("app"),
    Some("agent"),
    Some("admin"),
    Some("analyst"),
];

/// The body of a [`Call`].
enum Payload {
    Empty,
    Json(Value),
    /// A `multipart/form-data` upload (`support_photos::multipart`).
    Multipart(Vec<u8>),
    /// An Open311 form: the key goes in its `api_key` field, not a header.
    Open311Form(String),
}

/// One request of the role matrix, before its key is added.
struct Call {
    method: &'static str,
    uri: String,
    payload: Payload,
}

impl Call {
    fn get(uri: impl Into<String>) -> Self {
        Self::new("GET", uri, Payload::Empty)
    }
    fn post(uri: impl Into<String>, body: Value) -> Self {
        Self::new("POST", uri, Payload::Json(body))
    }
    fn new(method: &'static str, uri: impl Into<String>, payload: Payload) -> Self {
        Self {
            method,
            uri: uri.into(),
            payload,
        }
    }
    /// An upload of one new photo to report `id`.
    fn photo(id: i64) -> Self {
        use std::sync::atomic::{AtomicU32, Ordering};
        static SEED: AtomicU32 = AtomicU32::new(1_000);
        let seed = SEED.fetch_add(1, Ordering::Relaxed);
        let photo = jpeg(&picture(24, 16, seed));
        let body = multipart(&[photo_part(&photo)]);
        Self::new(
            "POST",
            format!("/api/v1/reports/{id}/photos"),
            Payload::Multipart(body),
        )
    }
    /// An Open311 POST of `form` (without its `api_key`).
    fn open311(uri: &str, form: String) -> Self {
        Self::new("POST", uri, Payload::Open311Form(form))
    }
    fn is_open311(&self) -> bool {
        matches!(self.payload, Payload::Open311Form(_))
    }
}

/// The key text a matrix column sends (`bad`: a well-formed unknown key).
fn key_text<'h>(h: &'h Harness, who: Option<&str>) -> Option<&'h str> {
    match who? {
        "bad" => Some("cm_not-a-key"),
        role => Some(h.key(role)),
    }
}

/// Sends `call` with the key of `who`: in the `Authorization` header, or
/// in the form's `api_key` field for Open311.
fn send_call(h: &Harness, who: Option<&str>, call: Call) -> common::Reply {
    let mut req = Request::builder().method(call.method).uri(&call.uri);
    let key = key_text(h, who);
    if let (Some(key), false) = (key, call.is_open311()) {
        req = req.header(header::AUTHORIZATION, format!("Bearer {key}"));
    }
    let body = match call.payload {
        Payload::Empty => Body::empty(),
        Payload::Json(v) => {
            req = req.header(header::CONTENT_TYPE, "application/json");
            Body::from(v.to_string())
        }
        Payload::Multipart(bytes) => {
            req = req.header(header::CONTENT_TYPE, multipart_content_type());
            Body::from(bytes)
        }
        Payload::Open311Form(form) => {
            req = req.header(header::CONTENT_TYPE, "application/x-www-form-urlencoded");
            Body::from(match key {
                Some(key) => format!("api_key={}&{form}", enc(key)),
                None => form,
            })
        }
    };
    h.send(req.body(body).unwrap())
}

fn send(
    h: &Harness,
    who: Option<&str>,
    method: &'static str,
    uri: &str,
    body: Option<&Value>,
) -> common::Reply {
    let payload = body.map_or(Payload::Empty, |b| Payload::Json(b.clone()));
    send_call(h, who, Call::new(method, uri, payload))
}

/// Percent-encodes a form value.
fn enc(v: &str) -> String {
    form_urlencoded::byte_serialize(v.as_bytes()).collect()
}

/// An Open311 form filing a `proprete` anomaly at a point of its own.
fn open311_request_form(lon: f64, lat: f64) -> String {
    format!(
        "service_code=proprete&lat={lat}&long={lon}&description=Matrice\
         &attribute%5Bsubcategory%5D={}",
        enc(&first_subcategory("proprete"))
    )
}

/// An Open311 (mySociety) update taking report `id` in charge.
fn open311_update_form(id: i64) -> String {
    format!(
        "service_request_id={id}&status=INVESTIGATING\
         &updated_datetime=2026-01-01T10:00:00%2B01:00&description=Pris%20en%20compte"
    )
}

/// A new open anomaly at a place of its own (so hints and tiles of other
/// tests are not disturbed), filed by the app key.
fn fresh_report(h: &Harness, lon: f64, lat: f64) -> i64 {
    let mut b = anomaly(&client_id("life"));
    b["lon"] = json!(lon);
    b["lat"] = json!(lat);
    let r = h.post_as(Some("app"), "/api/v1/reports", &b);
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    r.json()["id"].as_i64().unwrap()
}

fn slug(tag: &str) -> String {
    client_id(tag).to_lowercase().replace('_', "-")
}

fn campaign_body(slug: &str) -> Value {
    json!({
        "slug": slug,
        "title": "Où voulez-vous des arceaux vélo ?",
        "question": "Indiquez un endroit où garer un vélo manque.",
        "categories": ["proprete"],
        "ends_at": "2099-01-01",
    })
}

#[test]
fn every_role_gets_exactly_the_status_its_key_allows_on_every_route() {
    let h = harness();
    let base = fresh_report(h, 2.3810, 48.8440);
    // One row per route: what it is, how to build a fresh request (given
    // the harness and a shared report), the status per WHO column. The JSON
    // API answers 401 without a good key; Open311 answers 403 (its spec).
    type Make = fn(&Harness, i64) -> Call;
    #[rustfmt::skip]
    let rows: &[(&str, Make, [u16; 6])] = &[
        ("file a report", |_, _| Call::post("/api/v1/reports", anomaly(&client_id("matrix"))), [401, 401, 201, 201, 403, 403]),
        ("change a status", |h, _| Call::post(format!("/api/v1/reports/{}/status", fresh_report(h, 2.3811, 48.8441)), json!({"status": "to_process"})), [401, 401, 403, 200, 403, 403]),
        ("add a note", |h, _| Call::post(format!("/api/v1/reports/{}/notes", fresh_report(h, 2.3812, 48.8442)), json!({"note": "Équipe prévenue"})), [401, 401, 403, 201, 403, 403]),
        ("mark a duplicate", |h, base| Call::post(format!("/api/v1/reports/{}/duplicate", fresh_report(h, 2.3813, 48.8443)), json!({"duplicate_of": base})), [401, 401, 403, 200, 403, 403]),
        ("support a report", |_, base| Call::post(format!("/api/v1/reports/{base}/supports"), json!({"client_id": client_id("me-too")})), [401, 401, 201, 403, 403, 403]),
        ("upload a photo", |h, _| Call::photo(fresh_report(h, 2.3814, 48.8444)), [401, 401, 201, 201, 403, 403]),
        ("open a campaign", |_, _| Call::post("/api/v1/campaigns", campaign_body(&slug("m"))), [401, 401, 403, 403, 201, 403]),
        ("close a campaign", |h, _| Call::new("POST", format!("/api/v1/campaigns/{}/close", admin_campaign(h)), Payload::Empty), [401, 401, 403, 403, 200, 403]),
        ("list keys", |_, _| Call::get("/api/v1/keys"), [401, 401, 403, 403, 200, 403]),
        ("create a key", |_, _| Call::post("/api/v1/keys", json!({"name": "Matrix app", "role": "app"})), [401, 401, 403, 403, 201, 403]),
        ("revoke a key", |h, _| Call::new("DELETE", format!("/api/v1/keys/{}", admin_key_id(h)), Payload::Empty), [401, 401, 403, 403, 204, 403]),
        ("file an Open311 request in JSON", |_, _| Call::open311("/open311/v2/requests.json", open311_request_form(2.3815, 48.8445)), [403, 403, 200, 200, 403, 403]),
        ("file an Open311 request in XML", |_, _| Call::open311("/open311/v2/requests.xml", open311_request_form(2.3816, 48.8446)), [403, 403, 200, 200, 403, 403]),
        ("post an Open311 update", |h, _| Call::open311("/open311/v2/servicerequestupdates.json", open311_update_form(fresh_report(h, 2.3817, 48.8447))), [403, 403, 403, 200, 403, 403]),
        ("register a webhook", |_, _| Call::post("/api/v1/webhooks", json!({"url": "https://back-office.example/hooks/matrix", "name": "Matrix"})), [401, 401, 403, 201, 201, 403]),
        ("list webhooks", |_, _| Call::get("/api/v1/webhooks"), [401, 401, 403, 200, 200, 403]),
        ("enable a webhook (the admin's, active: 409; an agent cannot see it: 404)", |h, _| Call::new("POST", format!("/api/v1/webhooks/{}/enable", admin_webhook(h)), Payload::Empty), [401, 401, 403, 404, 409, 403]),
        ("read whether a report holds a contact", |_, base| Call::get(format!("/api/v1/reports/{base}/contact")), [401, 401, 403, 200, 200, 403]),
        ("erase a report's contact", |h, _| Call::new("DELETE", format!("/api/v1/reports/{}/contact", fresh_report(h, 2.3818, 48.8448)), Payload::Empty), [401, 401, 403, 200, 200, 403]),
        ("erase a resident's contacts", |_, _| Call::post("/api/v1/privacy/erasure", json!({"contact": "matrix-nobody@example.org"})), [401, 401, 403, 403, 200, 403]),
        ("read a timeline (public)", |_, base| Call::get(format!("/api/v1/reports/{base}/history")), [200, 200, 200, 200, 200, 200]),
        ("list a report's photos (public)", |_, base| Call::get(format!("/api/v1/reports/{base}/photos")), [200, 200, 200, 200, 200, 200]),
        ("list campaigns (public)", |_, _| Call::get("/api/v1/campaigns"), [200, 200, 200, 200, 200, 200]),
        ("read statistics (public; a bad key is refused)", |_, _| Call::get("/api/v1/stats/districts?layer=arrondissement"), [200, 401, 200, 200, 200, 200]),
    ];
    for (route, make, expected) in rows {
        for (who, want) in WHO.iter().zip(expected) {
            let call = make(h, base);
            let open311 = call.is_open311();
            let xml = call.uri.ends_with(".xml");
            let r = send_call(h, *who, call);
            assert_eq!(r.status.as_u16(), *want, "{route} as {who:?}: {}", r.text());
            match (*want, open311) {
                (401, _) => {
                    assert!(r.headers.contains_key(header::WWW_AUTHENTICATE));
                    assert_eq!(r.json()["error"], "unauthorized");
                }
                (403, false) => assert_eq!(r.json()["error"], "forbidden", "{route}"),
                (403, true) if xml => {
                    let text = r.text();
                    assert!(
                        text.contains("<errors><error><code>403</code>"),
                        "{route}: {text}"
                    );
                }
                (403, true) => assert_eq!(r.json()[0]["code"], 403, "{route}"),
                _ => {}
            }
        }
    }
}

/// The slug of a new campaign opened by the admin key.
fn admin_campaign(h: &Harness) -> String {
    let s = slug("c");
    let r = send(
        h,
        Some("admin"),
        "POST",
        "/api/v1/campaigns",
        Some(&campaign_body(&s)),
    );
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    s
}

/// The id of a new webhook registered by the admin key.
fn admin_webhook(h: &Harness) -> i64 {
    let r = send(
        h,
        Some("admin"),
        "POST",
        "/api/v1/webhooks",
        Some(&json!({"url": "https://back-office.example/hooks/enable", "name": "Matrix"})),
    );
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    r.json()["id"].as_i64().unwrap()
}

/// The id of a new app key created by the admin key.
fn admin_key_id(h: &Harness) -> i64 {
    let r = send(
        h,
        Some("admin"),
        "POST",
        "/api/v1/keys",
        Some(&json!({"name": "To revoke", "role": "app"})),
    );
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    r.json()["id"].as_i64().unwrap()
}

#[test]
fn a_revoked_key_is_refused_from_then_on() {
    let h = harness();
    let created = send(
        h,
        Some("admin"),
        "POST",
        "/api/v1/keys",
        Some(&json!({"name": "Short-lived app", "role": "app"})),
    );
    assert_eq!(created.status, StatusCode::CREATED);
    let key = created.json()["key"].as_str().unwrap().to_owned();
    let id = created.json()["id"].as_i64().unwrap();
    let post = |key: &str| {
        h.send(
            Request::post("/api/v1/reports")
                .header(header::CONTENT_TYPE, "application/json")
                .header("x-api-key", key)
                .body(Body::from(anomaly(&client_id("revoked")).to_string()))
                .unwrap(),
        )
    };
    assert_eq!(post(&key).status, StatusCode::CREATED);
    let listed = send(h, Some("admin"), "GET", "/api/v1/keys", None);
    assert!(!listed.text().contains(&key), "a listing never shows a key");
    assert_eq!(
        send(
            h,
            Some("admin"),
            "DELETE",
            &format!("/api/v1/keys/{id}"),
            None
        )
        .status,
        StatusCode::NO_CONTENT
    );
    let refused = post(&key);
    assert_eq!(refused.status, StatusCode::UNAUTHORIZED);
    assert_eq!(refused.json()["message"], "revoked API key");
}

#[test]
fn an_agent_moves_a_report_through_the_workflow_and_residents_see_the_timeline() {
    let h = harness();
    let id = fresh_report(h, 2.3820, 48.8450);
    let step = |status: &str, note: Option<&str>| {
        let mut b = json!({"status": status});
        if let Some(n) = note {
            b["note"] = json!(n);
        }
        send(
            h,
            Some("agent"),
            "POST",
            &format!("/api/v1/reports/{id}/status"),
            Some(&b),
        )
    };
    assert_eq!(step("to_process", None).status, StatusCode::OK);
    assert_eq!(
        step("scheduled", Some("Passage prévu mardi")).status,
        StatusCode::OK
    );
    // Outside the workflow: 409 naming what is allowed.
    let back = step("new", None);
    assert_eq!(back.status, StatusCode::CONFLICT);
    assert!(
        back.json()["message"]
            .as_str()
            .unwrap()
            .contains("from scheduled it can go to")
    );
    // A rejection needs a reason.
    let bare = step("rejected", None);
    assert_eq!(bare.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(bare.json()["field"], "note");
    let unknown = step("solved", None);
    assert_eq!(unknown.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(unknown.json()["field"], "status");
    let done = step("done", Some("Dépôt enlevé"));
    assert_eq!(done.status, StatusCode::OK, "{}", done.text());
    assert_eq!(done.json()["open"], false);

    let report = h.get(&format!("/api/v1/reports/{id}")).json();
    assert_eq!(report["status"], "done");
    assert_eq!(report["open"], false);
    assert!(report["closed_at"].is_string());
    let history = h.get(&format!("/api/v1/reports/{id}/history")).json();
    let events = history["events"].as_array().unwrap();
    let steps: Vec<(&str, &str)> = events
        .iter()
        .map(|e| (e["type"].as_str().unwrap(), e["status"].as_str().unwrap()))
        .collect();
    assert_eq!(
        steps,
        [
            ("created", "new"),
            ("status", "to_process"),
            ("status", "scheduled"),
            ("status", "done")
        ]
    );
    assert_eq!(events[2]["note"], "Passage prévu mardi");
    assert_eq!(events[3]["by"], "Test agent");
    assert!(
        events[0].get("by").is_none(),
        "the filing has no author shown"
    );
    // Ids increase along the timeline.
    assert!(
        events
            .windows(2)
            .all(|w| w[0]["id"].as_i64() < w[1]["id"].as_i64())
    );
    // The listing filters on the new status.
    let listed = h
        .get("/api/v1/reports?bbox=2.3819,48.8449,2.3821,48.8451&status=done")
        .json();
    assert_eq!(listed["total"], 1);
    // Reopened, then answered with a note that does not change the status.
    assert_eq!(
        step("to_process", Some("Le dépôt est revenu")).status,
        StatusCode::OK
    );
    let note = send(
        h,
        Some("agent"),
        "POST",
        &format!("/api/v1/reports/{id}/notes"),
        Some(&json!({"note": "   "})),
    );
    assert_eq!(note.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        h.get(&format!("/api/v1/reports/{id}")).json()["closed_at"],
        Value::Null
    );
    assert_eq!(
        send(
            h,
            Some("agent"),
            "POST",
            "/api/v1/reports/999999999/status",
            Some(&json!({"status": "done"}))
        )
        .status,
        StatusCode::NOT_FOUND
    );
}

#[test]
fn a_resident_supports_once_per_client_id_and_the_duplicate_hint_proposes_it() {
    let h = harness();
    let (lon, lat) = (2.3830, 48.8460);
    let id = fresh_report(h, lon, lat);
    let support = |cid: &str| {
        send(
            h,
            Some("app"),
            "POST",
            &format!("/api/v1/reports/{id}/supports"),
            Some(&json!({"client_id": cid})),
        )
    };
    let a = client_id("support");
    let first = support(&a);
    assert_eq!(first.status, StatusCode::CREATED);
    assert_eq!(first.json()["supports"], 1);
    let again = support(&a);
    assert_eq!(again.status, StatusCode::OK);
    assert_eq!(again.json()["supports"], 1);
    assert_eq!(again.json()["counted"], false);
    assert_eq!(support(&client_id("support")).json()["supports"], 2);
    assert_eq!(support("").status, StatusCode::UNPROCESSABLE_ENTITY);

    // A second resident about to file the same thing is offered to support.
    let mut b = anomaly(&client_id("dup"));
    b["lon"] = json!(lon + 0.0001);
    b["lat"] = json!(lat);
    let second = h.post_as(Some("app"), "/api/v1/reports", &b).json();
    let hint = second["nearby"]
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n["id"] == id)
        .unwrap()
        .clone();
    assert_eq!(hint["supports"], 2);
    assert_eq!(
        hint["support_url"],
        format!("/api/v1/reports/{id}/supports")
    );
    assert_eq!(
        h.get(&format!("/api/v1/reports/{id}")).json()["supports"],
        2
    );
    // Point tiles carry the count (absent when none).
    let features = point_features(h, lon, lat, "");
    let drawn = features
        .iter()
        .find(|f| f.id == Some(u64::try_from(id).unwrap()))
        .unwrap();
    assert!(
        matches!(
            drawn.properties.get("supports"),
            Some(Prop::Int(2) | Prop::SInt(2))
        ),
        "{:?}",
        drawn.properties
    );
    let second_id = u64::try_from(second["id"].as_i64().unwrap()).unwrap();
    let unsupported = features.iter().find(|f| f.id == Some(second_id)).unwrap();
    assert!(!unsupported.properties.contains_key("supports"));

    // An agent marks the second as a duplicate: it closes and points back.
    let second_id = second["id"].as_i64().unwrap();
    let marked = send(
        h,
        Some("agent"),
        "POST",
        &format!("/api/v1/reports/{second_id}/duplicate"),
        Some(&json!({"duplicate_of": id})),
    );
    assert_eq!(marked.status, StatusCode::OK, "{}", marked.text());
    let dup = h.get(&format!("/api/v1/reports/{second_id}")).json();
    assert_eq!(dup["status"], "rejected");
    assert_eq!(dup["duplicate_of"], id);
    let timeline = h
        .get(&format!("/api/v1/reports/{second_id}/history"))
        .json();
    let last = timeline["events"]
        .as_array()
        .unwrap()
        .last()
        .unwrap()
        .clone();
    assert_eq!(last["type"], "duplicate");
    assert_eq!(last["note"], format!("Doublon du signalement {id}"));
    // A closed duplicate cannot be supported, nor point to itself.
    let closed = send(
        h,
        Some("app"),
        "POST",
        &format!("/api/v1/reports/{second_id}/supports"),
        Some(&json!({"client_id": client_id("late")})),
    );
    assert_eq!(closed.status, StatusCode::CONFLICT);
    let itself = send(
        h,
        Some("agent"),
        "POST",
        &format!("/api/v1/reports/{id}/duplicate"),
        Some(&json!({"duplicate_of": id})),
    );
    assert_eq!(itself.status, StatusCode::UNPROCESSABLE_ENTITY);
}

#[test]
fn a_campaign_takes_contributions_inside_its_window_perimeter_and_categories_only() {
    let h = harness();
    // The 20th arrondissement, by its public district id.
    let at = h.get("/api/v1/districts/at?lon=2.3980&lat=48.8640").json();
    let district = at
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["layer"] == "arrondissement")
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let s = slug("velo");
    let mut body = campaign_body(&s);
    body["district"] = json!(district);
    let created = send(h, Some("admin"), "POST", "/api/v1/campaigns", Some(&body));
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.text());
    assert_eq!(created.json()["perimeter"], "district");
    assert_eq!(
        send(h, Some("admin"), "POST", "/api/v1/campaigns", Some(&body)).status,
        StatusCode::CONFLICT
    );

    let contribution = |lon: f64, lat: f64, kind: &str, category: &str, campaign: &str| {
        let b = json!({
            "kind": kind, "category": category,
            "subcategory": common::first_subcategory(category),
            "description": "Ici, des arceaux", "lon": lon, "lat": lat,
            "client_id": client_id("campaign"), "channel": "ios", "campaign": campaign,
        });
        h.post_as(Some("app"), "/api/v1/reports", &b)
    };
    let ok = contribution(2.3980, 48.8640, "contribution", "proprete", &s);
    assert_eq!(ok.status, StatusCode::CREATED, "{}", ok.text());
    assert_eq!(ok.json()["campaign"], s.as_str());
    let outside = contribution(2.3300, 48.8600, "contribution", "proprete", &s);
    assert_eq!(outside.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(outside.json()["field"], "lon");
    let anomaly = contribution(2.3980, 48.8640, "anomaly", "proprete", &s);
    assert_eq!(anomaly.json()["field"], "kind");
    let other = h
        .app
        .taxonomy
        .categories()
        .iter()
        .find(|c| c.code != "proprete")
        .unwrap()
        .code
        .clone();
    let wrong = contribution(2.3980, 48.8640, "contribution", &other, &s);
    assert_eq!(wrong.json()["field"], "category", "{}", wrong.text());
    let unknown = contribution(
        2.3980,
        48.8640,
        "contribution",
        "proprete",
        "no-such-campaign",
    );
    assert_eq!(unknown.json()["field"], "campaign");

    // The campaign filter of lists and tiles holds its contributions only.
    let ok_id = ok.json()["id"].as_i64().unwrap();
    let bystander = fresh_report(h, 2.3981, 48.8641);
    let listed = h.get(&format!("/api/v1/reports?campaign={s}")).json();
    let ids: Vec<i64> = listed["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["id"].as_i64().unwrap())
        .collect();
    assert_eq!(ids, [ok_id]);
    let tile_ids = |q: &str| {
        let mut ids: Vec<u64> = point_features(h, 2.3980, 48.8640, q)
            .iter()
            .filter_map(|f| f.id)
            .collect();
        ids.sort_unstable();
        ids
    };
    assert_eq!(
        tile_ids(&format!("?campaign={s}")),
        [u64::try_from(ok_id).unwrap()]
    );
    assert!(tile_ids("").contains(&u64::try_from(bystander).unwrap()));
    assert_eq!(
        h.get("/api/v1/reports?campaign=nope").status,
        StatusCode::UNPROCESSABLE_ENTITY
    );

    // Listed near a point inside (distance 0), not far away.
    let near = h.get("/api/v1/campaigns?lon=2.3980&lat=48.8640").json();
    let item = near["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["slug"] == s.as_str())
        .unwrap()
        .clone();
    assert_eq!(item["distance_m"], 0.0);
    let far = h
        .get("/api/v1/campaigns?lon=2.2600&lat=48.8400&within_m=500")
        .json();
    assert!(
        !far["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["slug"] == s.as_str())
    );
    assert_eq!(
        h.get("/api/v1/campaigns?lon=2.39").status,
        StatusCode::BAD_REQUEST
    );

    // Closed: listed no more, and contributions are refused.
    let closed = send(
        h,
        Some("admin"),
        "POST",
        &format!("/api/v1/campaigns/{s}/close"),
        None,
    );
    assert_eq!(closed.json()["open"], false);
    let late = contribution(2.3980, 48.8640, "contribution", "proprete", &s);
    assert_eq!(late.json()["field"], "campaign");
    assert!(late.json()["message"].as_str().unwrap().contains("closed"));
    let open = h.get("/api/v1/campaigns").json();
    assert!(
        !open["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["slug"] == s.as_str())
    );
    assert_eq!(
        h.get(&format!("/api/v1/campaigns/{s}")).json()["open"],
        false
    );
}

#[test]
fn a_campaign_is_refused_with_the_field_named_when_its_definition_is_bad() {
    let h = harness();
    let cases = [
        ("slug", json!("Not A Slug")),
        ("ends_at", json!("2001-01-01")),
        ("categories", json!(["no-such-category"])),
        ("district", json!("arrondissement:9999:75199")),
        (
            "perimeter",
            json!({"type": "Point", "coordinates": [2.35, 48.85]}),
        ),
        ("title", json!("")),
    ];
    for (field, value) in cases {
        let mut b = campaign_body(&slug("bad"));
        b[field] = value;
        let r = send(h, Some("admin"), "POST", "/api/v1/campaigns", Some(&b));
        assert!(r.status.is_client_error(), "{field}: {}", r.text());
        assert_eq!(r.json()["field"], field, "{}", r.text());
    }
    // A drawn polygon works, and a point inside it is at distance 0.
    let mut b = campaign_body(&slug("area"));
    b["perimeter"] = json!({"type": "Polygon", "coordinates": [[[2.36, 48.86], [2.37, 48.86], [2.37, 48.87], [2.36, 48.87], [2.36, 48.86]]]});
    let r = send(h, Some("admin"), "POST", "/api/v1/campaigns", Some(&b));
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    assert_eq!(r.json()["perimeter"], "area");
}

/// A closed ring of `n` positions (the last repeats the first) on an
/// ellipse around a point.
fn ring(n: usize, lon: f64, lat: f64, r: f64) -> Value {
    let corners = n - 1;
    let mut ring: Vec<Value> = (0..corners)
        .map(|i| {
            let a = i as f64 / corners as f64 * std::f64::consts::TAU;
            json!([lon + r * a.cos(), lat + 0.6 * r * a.sin()])
        })
        .collect();
    ring.push(ring[0].clone());
    json!(ring)
}

#[test]
fn a_perimeter_or_webhook_area_past_the_polygon_bounds_is_refused_400_naming_the_field_and_not_stored()
 {
    const MAX_VERTICES: usize = 40;
    const MAX_RINGS: usize = 3;
    let h = &common::custom_harness(|c| {
        c.limits.polygon.max_vertices = MAX_VERTICES;
        c.limits.polygon.max_rings = MAX_RINGS;
    });
    // One outline with a hole, of `vertices` positions in all.
    let polygon = |vertices: usize| {
        json!({"type": "Polygon", "coordinates": [
            ring(vertices - 5, 2.36, 48.86, 0.01),
            ring(5, 2.36, 48.86, 0.002),
        ]})
    };
    // `n` squares side by side: `n` rings of 5 positions.
    let squares = |n: usize| {
        let coordinates: Vec<Value> = (0..n)
            .map(|i| json!([ring(5, 2.30 + 0.01 * i as f64, 48.85, 0.003)]))
            .collect();
        json!({"type": "MultiPolygon", "coordinates": coordinates})
    };
    let webhooks = |h: &Harness| {
        send(h, Some("admin"), "GET", "/api/v1/webhooks", None).json()["items"]
            .as_array()
            .unwrap()
            .len()
    };
    // (route, field, the body around a geometry, whether that body is stored)
    type MakeBody = Box<dyn Fn(Value) -> (Value, String)>;
    let routes: [(&str, &str, MakeBody); 2] = [
        (
            "/api/v1/campaigns",
            "perimeter",
            Box::new(|g| {
                let s = slug("poly");
                let mut b = campaign_body(&s);
                b["perimeter"] = g;
                (b, s)
            }),
        ),
        (
            "/api/v1/webhooks",
            "area",
            Box::new(|g| {
                let url = format!("https://back-office.example/hooks/{}", slug("area"));
                (
                    json!({"url": url, "name": "Zone", "area": g}),
                    String::new(),
                )
            }),
        ),
    ];
    for (route, field, body) in &routes {
        for (geometry, what) in [
            (polygon(MAX_VERTICES + 1), "positions"),
            (squares(MAX_RINGS + 1), "rings"),
        ] {
            let held = webhooks(h);
            let (b, slug) = body(geometry);
            let r = send(h, Some("admin"), "POST", route, Some(&b));
            assert_eq!(r.status, StatusCode::BAD_REQUEST, "{route}: {}", r.text());
            let e = r.json();
            assert_eq!(e["error"], "bad_request", "{e}");
            assert_eq!(e["field"], *field, "{e}");
            assert!(e["message"].as_str().unwrap().contains(what), "{e}");
            // Nothing stored.
            assert_eq!(webhooks(h), held, "{route}");
            if !slug.is_empty() {
                let got = send(h, Some("admin"), "GET", &format!("{route}/{slug}"), None);
                assert_eq!(got.status, StatusCode::NOT_FOUND, "{}", got.text());
            }
        }
        // At the bounds: accepted.
        for geometry in [polygon(MAX_VERTICES), squares(MAX_RINGS)] {
            let (b, _) = body(geometry);
            let r = send(h, Some("admin"), "POST", route, Some(&b));
            assert_eq!(r.status, StatusCode::CREATED, "{route}: {}", r.text());
        }
    }
}

/// Reads SSE messages from a streaming response until `n` arrived.
fn read_events(
    h: &Harness,
    uri: &str,
    last_event_id: Option<i64>,
    n: usize,
    during: impl FnOnce(),
) -> Vec<Value> {
    let mut req = Request::get(uri);
    if let Some(id) = last_event_id {
        req = req.header("last-event-id", id.to_string());
    }
    let resp =
        h.rt.block_on(h.router.clone().oneshot(req.body(Body::empty()).unwrap()))
            .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(resp.headers()[header::CONTENT_TYPE], "text/event-stream");
    let mut body = resp.into_body();
    during();
    let mut text = String::new();
    let mut out = Vec::new();
    h.rt.block_on(async {
        while out.len() < n {
            let frame = tokio::time::timeout(Duration::from_secs(20), body.frame())
                .await
                .expect("an event within 20 s")
                .unwrap()
                .unwrap();
            if let Ok(data) = frame.into_data() {
                text.push_str(std::str::from_utf8(&data).unwrap());
            }
            while let Some(end) = text.find("\n\n") {
                let message: String = text.drain(..end + 2).collect();
                let mut id = None;
                let mut data = None;
                for line in message.lines() {
                    if let Some(v) = line.strip_prefix("id:") {
                        id = Some(v.trim().parse::<i64>().unwrap());
                    }
                    if let Some(v) = line.strip_prefix("data:") {
                        data = Some(serde_json::from_str::<Value>(v.trim()).unwrap());
                    }
                }
                if let (Some(id), Some(data)) = (id, data) {
                    assert_eq!(data["id"], id);
                    out.push(data);
                }
            }
        }
    });
    out
}

#[test]
fn the_event_stream_sends_commits_live_filtered_and_resumes_after_the_last_event_id() {
    let h = harness();
    // An area of its own: only this test's reports are in it.
    let (lon, lat) = (2.3010, 48.8290);
    let bbox = format!(
        "{},{},{},{}",
        lon - 0.001,
        lat - 0.001,
        lon + 0.001,
        lat + 0.001
    );
    let uri = format!("/api/v1/events?bbox={bbox}");
    let mut ids = Vec::new();
    let live = read_events(h, &uri, None, 3, || {
        let id = fresh_report(h, lon, lat);
        ids.push(id);
        // Elsewhere: filtered out.
        fresh_report(h, 2.2600, 48.8450);
        send(
            h,
            Some("agent"),
            "POST",
            &format!("/api/v1/reports/{id}/status"),
            Some(&json!({"status": "scheduled"})),
        );
        send(
            h,
            Some("app"),
            "POST",
            &format!("/api/v1/reports/{id}/supports"),
            Some(&json!({"client_id": client_id("sse")})),
        );
    });
    let kinds: Vec<&str> = live.iter().map(|e| e["type"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["created", "status", "support"]);
    assert!(live.iter().all(|e| e["report_id"] == ids[0]));
    assert_eq!(live[0]["report"]["lon"], lon);
    assert_eq!(live[1]["status"], "scheduled");
    assert_eq!(live[2]["report"]["supports"], 1);

    // Disconnected after the first: resuming replays the rest from the log.
    let first = live[0]["id"].as_i64().unwrap();
    let resumed = read_events(h, &uri, Some(first), 2, || {});
    assert_eq!(resumed, live[1..].to_vec());

    // Following one report; bad filters are refused.
    let follow = read_events(
        h,
        &format!("/api/v1/events?report={}", ids[0]),
        Some(0),
        3,
        || {},
    );
    assert_eq!(follow, live);
    for bad in [
        "/api/v1/events?kind=joy",
        "/api/v1/events?bbox=1,2",
        "/api/v1/events?report=-1",
        "/api/v1/events?last_event_id=x",
    ] {
        assert_eq!(h.get(bad).status, StatusCode::BAD_REQUEST, "{bad}");
    }
}

#[test]
fn a_marker_contact_never_appears_in_timelines_events_or_tiles() {
    let h = harness();
    let marker = format!("lifecycle-marker-{}@example.org", std::process::id());
    let (lon, lat): (f64, f64) = (2.2950, 48.8700);
    let mut b = anomaly(&client_id("marker"));
    b["lon"] = json!(lon);
    b["lat"] = json!(lat);
    b["contact"] = json!(marker);
    let id = h.post_as(Some("app"), "/api/v1/reports", &b).json()["id"]
        .as_i64()
        .unwrap();
    send(
        h,
        Some("agent"),
        "POST",
        &format!("/api/v1/reports/{id}/status"),
        Some(&json!({"status": "done", "note": "Fait"})),
    );
    let events = read_events(h, &format!("/api/v1/events?report={id}"), Some(0), 2, || {});
    assert!(!serde_json::to_string(&events).unwrap().contains(&marker));
    assert!(
        !h.get(&format!("/api/v1/reports/{id}/history"))
            .text()
            .contains(&marker)
    );
    assert!(
        !h.get(&format!("/api/v1/reports/{id}"))
            .text()
            .contains(&marker)
    );
    let z = 16_u8;
    let n = f64::from(1_u32 << z);
    let x = ((lon + 180.0) / 360.0 * n).floor();
    let y = ((1.0 - lat.to_radians().tan().asinh() / std::f64::consts::PI) / 2.0 * n).floor();
    let tile = h.get(&format!("/tiles/reports/{z}/{x}/{y}.mvt"));
    assert_eq!(tile.status, StatusCode::OK);
    assert!(
        !tile
            .body
            .windows(marker.len())
            .any(|w| w == marker.as_bytes())
    );
}

#[test]
fn a_closed_report_fades_from_public_lists_and_point_tiles_after_its_category_age_but_stays_in_hexagon_counts()
 {
    // Fading at once for every category but graffiti (kept 90 days).
    let h = common::custom_harness(|c| c.fade_days = 0);
    let (lon, lat) = (2.3700, 48.8500);
    let open_id = fresh_report(&h, lon, lat);
    let closed_id = fresh_report(&h, lon + 0.0002, lat);
    let mut g = anomaly(&client_id("graffiti"));
    g["category"] = json!("graffitis_tags_affiches_et_autocollants");
    g["subcategory"] = json!(common::first_subcategory(
        "graffitis_tags_affiches_et_autocollants"
    ));
    g["lon"] = json!(lon - 0.0002);
    g["lat"] = json!(lat);
    let graffiti_id = h.post_as(Some("app"), "/api/v1/reports", &g).json()["id"]
        .as_i64()
        .unwrap();
    let bbox = format!(
        "bbox={},{},{},{}",
        lon - 0.001,
        lat - 0.001,
        lon + 0.001,
        lat + 0.001
    );
    // Drawn and cached while all are open.
    assert_eq!(point_features(&h, lon, lat, "").len(), 3);
    for id in [closed_id, graffiti_id] {
        let r = send(
            &h,
            Some("agent"),
            "POST",
            &format!("/api/v1/reports/{id}/status"),
            Some(&json!({"status": "done", "note": "Fait"})),
        );
        assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    }
    let listed: Vec<i64> = h.get(&format!("/api/v1/reports?{bbox}")).json()["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["id"].as_i64().unwrap())
        .collect();
    assert_eq!(
        listed,
        [graffiti_id, open_id],
        "the closed one faded, graffiti stays"
    );
    let mut drawn: Vec<u64> = point_features(&h, lon, lat, "")
        .iter()
        .filter_map(|f| f.id)
        .collect();
    drawn.sort_unstable();
    assert_eq!(
        drawn,
        [open_id, graffiti_id].map(|i| u64::try_from(i).unwrap())
    );
    // Still readable by id, and still counted in hexagons.
    assert_eq!(
        h.get(&format!("/api/v1/reports/{closed_id}")).json()["status"],
        "done"
    );
    let z = 12_u8;
    let n = f64::from(1_u32 << z);
    let x = ((lon + 180.0) / 360.0 * n).floor();
    let y = ((1.0 - f64::to_radians(lat).tan().asinh() / std::f64::consts::PI) / 2.0 * n).floor();
    let hex = h.get(&format!("/tiles/reports/{z}/{x}/{y}.mvt"));
    let total: i64 = decode(&hex.body)
        .iter()
        .filter(|l| l.name == "reports_h3")
        .flat_map(|l| &l.features)
        .map(|f| match f.properties["total"] {
            Prop::Int(v) | Prop::SInt(v) => v,
            _ => 0,
        })
        .sum();
    assert_eq!(total, 3);
}
