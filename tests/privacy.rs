//! Reporters' contacts: never in a public answer, erased on request (one
//! report, or every report of a resident) and after the retention period,
//! and then gone from the database files themselves.
#![allow(clippy::unwrap_used)]

mod common;

use std::sync::OnceLock;
use std::time::Duration;

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use http_body_util::BodyExt;
use serde_json::{Value, json};
use tower::ServiceExt;

use common::{Harness, Reply, client_id, custom_harness, gunzip};

/// The application of this test binary: its own data directory, whose
/// files the tests read.
fn harness() -> &'static Harness {
    static H: OnceLock<Harness> = OnceLock::new();
    H.get_or_init(|| custom_harness(|_| {}))
}

fn subcategory(h: &Harness, category: &str) -> String {
    let id = h.app.taxonomy.category_id(category).unwrap();
    h.app.taxonomy.category(id).subcategories[0].code.clone()
}

/// Files an anomaly of `category` at a point with a contact; returns its id.
fn file(h: &Harness, category: &str, lon: f64, lat: f64, contact: Option<&str>) -> i64 {
    let mut b = json!({
        "kind": "anomaly", "category": category, "subcategory": subcategory(h, category),
        "description": "Encombrants sur le trottoir", "lon": lon, "lat": lat,
        "client_id": client_id("privacy"), "channel": "ios",
    });
    if let Some(c) = contact {
        b["contact"] = json!(c);
    }
    let r = h.post_as(Some("app"), "/api/v1/reports", &b);
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    r.json()["id"].as_i64().unwrap()
}

fn send(h: &Harness, role: Option<&str>, method: &str, uri: &str, body: Option<&Value>) -> Reply {
    let mut req = Request::builder().method(method).uri(uri);
    if body.is_some() {
        req = req.header(header::CONTENT_TYPE, "application/json");
    }
    let body = body.map_or_else(Body::empty, |b| Body::from(b.to_string()));
    h.send_as(role, req.body(body).unwrap())
}

/// `GET /api/v1/reports/{id}/contact` with the agent's key.
fn contact_record(h: &Harness, id: i64) -> Value {
    let r = send(
        h,
        Some("agent"),
        "GET",
        &format!("/api/v1/reports/{id}/contact"),
        None,
    );
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    r.json()
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|w| w.eq_ignore_ascii_case(needle.as_bytes()))
}

/// The XYZ tile holding a point.
fn tile(z: u8, lon: f64, lat: f64) -> (u32, u32) {
    let n = f64::from(1_u32 << z);
    let x = ((lon + 180.0) / 360.0 * n).floor();
    let y = ((1.0 - lat.to_radians().tan().asinh() / std::f64::consts::PI) / 2.0 * n).floor();
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    (x as u32, y as u32)
}

/// The whole event stream from its start, up to the event `last`, as text.
fn event_stream(h: &Harness, last: i64) -> String {
    let req = Request::get("/api/v1/events?last_event_id=0")
        .body(Body::empty())
        .unwrap();
    let resp = h.rt.block_on(h.router.clone().oneshot(req)).unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let mut body = resp.into_body();
    let mut text = String::new();
    h.rt.block_on(async {
        while !text.contains(&format!("id: {last}\n")) && !text.contains(&format!("id:{last}\n")) {
            let frame = tokio::time::timeout(Duration::from_secs(20), body.frame())
                .await
                .expect("an event within 20 s")
                .unwrap()
                .unwrap();
            if let Ok(data) = frame.into_data() {
                text.push_str(std::str::from_utf8(&data).unwrap());
            }
        }
    });
    text
}

/// The database file and its write-ahead log, as bytes.
fn database_bytes(h: &Harness) -> Vec<u8> {
    let db = h.data_dir.join(civicmap::store::DB_FILE_NAME);
    let mut bytes = std::fs::read(&db).unwrap();
    let wal = db.with_extension("db-wal");
    if let Ok(w) = std::fs::read(wal) {
        bytes.extend(w);
    }
    bytes
}

#[test]
fn a_marker_contact_appears_in_no_public_answer_and_after_erasure_not_in_the_database_files() {
    let h = harness();
    let pid = std::process::id();
    // One resident by e-mail (many reports: their records spread over many
    // pages), one by phone, one through Open311 with a name and a device.
    let email = format!("privacy-marker-{pid}@example.org");
    let phone = format!("+99 (0)-{pid}-0142");
    let phone_digits = format!("+990{pid}0142");
    let name = format!("Privacymarkername{pid}");
    let markers = [
        format!("privacy-marker-{pid}"),
        format!("-{pid}-0142"),
        phone_digits.clone(),
        name.clone(),
    ];
    let (lon, lat) = (2.3622, 48.8663);
    let mut email_ids = Vec::new();
    for i in 0..120 {
        let d = f64::from(i) * 1e-5;
        email_ids.push(file(h, "proprete", lon + d, lat, Some(&email)));
        // Reports without a contact in between.
        file(h, "proprete", lon, lat + d, None);
    }
    let phone_ids: Vec<i64> = (0..3)
        .map(|i| file(h, "proprete", lon - 1e-4 * f64::from(i), lat, Some(&phone)))
        .collect();
    let form = format!(
        "api_key={}&service_code=proprete&lat={lat}&long={lon}&description=Sacs\
         &attribute%5Bsubcategory%5D={}&email={}&first_name={name}&last_name={name}\
         &device_id={name}",
        h.key("app"),
        subcategory(h, "proprete"),
        email.replace('@', "%40"),
    );
    let r = h.send(
        Request::post("/open311/v2/requests.json")
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(Body::from(form))
            .unwrap(),
    );
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let open311_id: i64 = r.json()[0]["service_request_id"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let first = email_ids[0];
    // Some lifecycle too: events, notes, supports, a response time.
    let moved = send(
        h,
        Some("agent"),
        "POST",
        &format!("/api/v1/reports/{first}/status"),
        Some(&json!({"status": "scheduled", "note": "Passage prévu"})),
    );
    assert_eq!(moved.status, StatusCode::OK, "{}", moved.text());
    let supported = send(
        h,
        Some("app"),
        "POST",
        &format!("/api/v1/reports/{}/supports", phone_ids[0]),
        Some(&json!({"client_id": client_id("me-too")})),
    );
    assert_eq!(supported.status, StatusCode::CREATED);

    // The contacts are stored (so the file scan below can see them)...
    let stored = database_bytes(h);
    assert!(contains(&stored, &markers[0]) && contains(&stored, &markers[1]));
    // ...but a name and a device id given to Open311 never were.
    assert!(!contains(&stored, &name), "an Open311 name was stored");

    // Every public GET (and the private ones, with their keys), every
    // format, tiles, exports, statistics, Open311 and the event stream.
    let bbox = "2.35,48.86,2.37,48.87";
    let mut uris: Vec<(Option<&str>, String)> = Vec::new();
    for id in [first, phone_ids[0], open311_id] {
        for path in ["", "/history", "/photos"] {
            uris.push((None, format!("/api/v1/reports/{id}{path}")));
        }
        uris.push((Some("agent"), format!("/api/v1/reports/{id}/contact")));
        for ext in ["json", "xml"] {
            uris.push((
                None,
                format!("/open311/v2/requests/{id}.{ext}?extensions=true"),
            ));
        }
    }
    for path in [
        format!("/api/v1/reports?bbox={bbox}&limit=1000"),
        "/api/v1/reports?limit=1000".to_owned(),
        "/api/v1/campaigns".to_owned(),
        "/api/v1/projects?limit=5".to_owned(),
        "/api/v1/districts/at?lon=2.3622&lat=48.8663".to_owned(),
        "/api/v1/geocode/reverse?lon=2.3622&lat=48.8663".to_owned(),
        "/health".to_owned(),
        // The OpenAPI document and its examples.
        "/openapi.json".to_owned(),
        "/tiles".to_owned(),
        "/tiles/reports.json".to_owned(),
        "/open311/v2/discovery.json".to_owned(),
        "/open311/v2/services.json".to_owned(),
        "/open311/v2/requests.json?extensions=true&page_size=1000".to_owned(),
        "/open311/v2/requests.xml?extensions=true&page_size=1000".to_owned(),
        "/open311/v2/servicerequestupdates.json".to_owned(),
        "/open311/v2/servicerequestupdates.xml".to_owned(),
    ] {
        uris.push((None, path));
    }
    for file in [
        "reports.csv",
        "reports.geojson",
        "reports.georeport.json",
        "reports.georeport.xml",
        "projects.csv",
        "projects.geojson",
    ] {
        uris.push((None, format!("/api/v1/export/{file}")));
    }
    for who in [None, Some("analyst")] {
        for path in [
            "/api/v1/stats/districts?layer=arrondissement",
            "/api/v1/stats/districts?layer=iris&format=csv",
            "/api/v1/stats/series?interval=day",
            "/api/v1/stats/h3?res=10&format=geojson",
            "/api/v1/stats/h3?res=9&format=csv",
            "/api/v1/stats/equity",
        ] {
            uris.push((who, path.to_owned()));
        }
    }
    uris.push((Some("admin"), "/api/v1/keys".to_owned()));
    uris.push((Some("agent"), "/api/v1/webhooks".to_owned()));
    for z in [11_u8, 13, 14, 16] {
        let (x, y) = tile(z, lon, lat);
        uris.push((
            None,
            format!("/tiles/reports,projects,districts/{z}/{x}/{y}.mvt"),
        ));
    }
    for (who, uri) in &uris {
        let r = h.send_as(
            *who,
            Request::get(uri.as_str())
                .header(header::ACCEPT_ENCODING, "gzip")
                .body(Body::empty())
                .unwrap(),
        );
        assert!(r.status.is_success(), "{uri}: {} {}", r.status, r.text());
        let gzipped = r
            .headers
            .get(header::CONTENT_ENCODING)
            .is_some_and(|e| e == "gzip");
        let body = if gzipped { gunzip(&r.body) } else { r.body };
        for m in &markers {
            assert!(!contains(&body, m), "{uri} holds a contact");
        }
    }
    let last = h.rt.block_on(h.app.events_after(0)).unwrap();
    let stream = event_stream(h, last.last().unwrap().id);
    for m in &markers {
        assert!(
            !stream.contains(m.as_str()),
            "the event stream holds a contact"
        );
    }
    // The daily open-data snapshot.
    let out = tempfile::tempdir().unwrap();
    let (_, day) =
        h.rt.block_on(civicmap::service::snapshot::write_snapshot(
            &h.app,
            out.path(),
            time::OffsetDateTime::now_utc(),
        ))
        .unwrap();
    for entry in std::fs::read_dir(&day).unwrap() {
        let path = entry.unwrap().path();
        let mut bytes = std::fs::read(&path).unwrap();
        if path.extension().is_some_and(|e| e == "gz") {
            bytes = gunzip(&bytes);
        }
        for m in &markers {
            assert!(!contains(&bytes, m), "{} holds a contact", path.display());
        }
    }

    // Erasure: the resident by e-mail (written differently), the phone
    // number report by report, then by another spelling of the number.
    let r = send(
        h,
        Some("admin"),
        "POST",
        "/api/v1/privacy/erasure",
        Some(&json!({"contact": email.to_uppercase()})),
    );
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let mut expected = email_ids.clone();
    expected.push(open311_id);
    assert_eq!(r.json()["erased"], expected.len());
    assert_eq!(
        r.json()["report_ids"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_i64().unwrap())
            .collect::<Vec<_>>(),
        expected
    );
    let r = send(
        h,
        Some("agent"),
        "DELETE",
        &format!("/api/v1/reports/{}/contact", phone_ids[0]),
        None,
    );
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let r = send(
        h,
        Some("admin"),
        "POST",
        "/api/v1/privacy/erasure",
        Some(&json!({"contact": phone_digits})),
    );
    assert_eq!(r.json()["report_ids"], json!(phone_ids[1..]));

    // The reports stay, anonymous, and statistics forgot the pseudonyms.
    for id in email_ids.iter().chain(&phone_ids) {
        assert_eq!(
            h.get(&format!("/api/v1/reports/{id}")).status,
            StatusCode::OK
        );
        assert_eq!(h.app.reports().get(*id).unwrap().reporter, None);
    }
    // Nothing of them is left in the files (a concurrent filing may have
    // appended to the log since: read after a checkpoint).
    assert!(h.rt.block_on(h.app.store().truncate_log()).unwrap());
    let files = database_bytes(h);
    for m in &markers {
        assert!(!contains(&files, m), "{m} is still in the database files");
    }
}

#[test]
fn erasing_a_report_s_contact_is_idempotent_recorded_privately_and_leaves_the_timeline_alone() {
    let h = harness();
    let contact = format!("idempotent-{}@example.org", std::process::id());
    let id = file(h, "eau", 2.3010, 48.8410, Some(&contact));
    let uri = format!("/api/v1/reports/{id}/contact");
    let before = h.get(&format!("/api/v1/reports/{id}/history")).json();
    let record = send(h, Some("admin"), "GET", &uri, None).json();
    assert_eq!(
        record,
        json!({"report_id": id, "contact_held": true, "erasures": []})
    );

    let first = send(h, Some("agent"), "DELETE", &uri, None);
    assert_eq!(first.status, StatusCode::OK, "{}", first.text());
    let first = first.json();
    assert_eq!(first["erased"], true);
    assert_eq!(first["contact_held"], false);
    assert_eq!(first["erasures"].as_array().unwrap().len(), 1);
    assert_eq!(first["erasures"][0]["reason"], "request");
    assert_eq!(first["erasures"][0]["by"], "Test agent");
    assert!(!first.to_string().contains(&contact));

    let again = send(h, Some("admin"), "DELETE", &uri, None).json();
    assert_eq!(again["erased"], false);
    assert_eq!(again["erasures"], first["erasures"], "recorded once");
    let none_left = send(
        h,
        Some("admin"),
        "POST",
        "/api/v1/privacy/erasure",
        Some(&json!({"contact": contact})),
    );
    assert_eq!(none_left.json(), json!({"erased": 0, "report_ids": []}));
    // The public timeline and the report's last change did not move: an
    // erasure is not a public event.
    assert_eq!(
        h.get(&format!("/api/v1/reports/{id}/history")).json(),
        before
    );

    let missing = send(
        h,
        Some("agent"),
        "DELETE",
        "/api/v1/reports/999999999/contact",
        None,
    );
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    assert_eq!(missing.json()["error"], "not_found");
    for (body, status, field) in [
        (json!({"contact": "not a contact"}), 422, "contact"),
        (json!({"contact": contact, "why": "asked"}), 400, "why"),
        (json!({}), 400, "contact"),
    ] {
        let r = send(
            h,
            Some("admin"),
            "POST",
            "/api/v1/privacy/erasure",
            Some(&body),
        );
        assert_eq!(r.status.as_u16(), status, "{body}: {}", r.text());
        let message = r.json()["message"].as_str().unwrap().to_owned();
        assert!(
            r.json()["field"] == field || message.contains(field),
            "{body}: {}",
            r.text()
        );
        assert!(
            !message.contains("not a contact"),
            "the value is not echoed"
        );
    }
}

#[test]
fn statistics_count_an_erased_resident_s_reports_as_reporters_of_their_own() {
    let h = harness();
    let contact = format!("+99 (0)-{}-5555", std::process::id());
    // Five reports of one resident, in a category no other test files: the
    // public count is suppressed (1 reporter < k = 5) until the erasure.
    let ids: Vec<i64> = (0..5)
        .map(|i| {
            file(
                h,
                "arbres_vegetaux_et_animaux",
                2.2900 + 1e-4 * f64::from(i),
                48.8500,
                Some(&contact),
            )
        })
        .collect();
    let uri = "/api/v1/stats/districts?layer=arrondissement&category=arbres_vegetaux_et_animaux";
    assert_eq!(h.get(uri).json()["city"]["reports"], Value::Null);
    let r = send(
        h,
        Some("admin"),
        "POST",
        "/api/v1/privacy/erasure",
        Some(&json!({"contact": contact})),
    );
    assert_eq!(r.json()["report_ids"], json!(ids));
    assert_eq!(h.get(uri).json()["city"]["reports"], 5);
}

#[test]
fn contacts_past_the_retention_period_are_erased_by_the_service_and_by_the_command_line() {
    let h = harness();
    let pid = std::process::id();
    let old: Vec<i64> = (0..3)
        .map(|i| {
            file(
                h,
                "eau",
                2.2800,
                48.8600 + 1e-4 * f64::from(i),
                Some(&format!("old-{pid}-{i}@example.org")),
            )
        })
        .collect();
    let recent = file(
        h,
        "eau",
        2.2810,
        48.8600,
        Some(&format!("recent-{pid}@example.org")),
    );
    let later = file(
        h,
        "eau",
        2.2820,
        48.8600,
        Some(&format!("later-{pid}@example.org")),
    );
    // Filed 400 days ago, as far as the store knows.
    let db = h.data_dir.join(civicmap::store::DB_FILE_NAME);
    let age = |ids: Vec<i64>| {
        h.rt.block_on(async {
            let pool = sqlx::SqlitePool::connect(&format!("sqlite://{}", db.display()))
                .await
                .unwrap();
            for id in ids {
                sqlx::query("UPDATE reports SET created_at_ms = created_at_ms - $2 WHERE id = $1")
                    .bind(id)
                    .bind(400 * 86_400_000_i64)
                    .execute(&pool)
                    .await
                    .unwrap();
            }
            pool.close().await;
        });
    };
    age(old.clone());
    assert_eq!(h.app.config.contact_retention_days, 365);
    let purged =
        h.rt.block_on(
            h.app
                .purge_expired_contacts(time::OffsetDateTime::now_utc()),
        )
        .unwrap();
    assert_eq!(purged.reports, 3);
    for id in &old {
        let r = contact_record(h, *id);
        assert_eq!(r["contact_held"], false);
        assert_eq!(r["erasures"][0]["reason"], "retention");
        assert!(r["erasures"][0].get("by").is_none());
        assert_eq!(h.app.reports().get(*id).unwrap().reporter, None);
    }
    assert_eq!(contact_record(h, recent)["contact_held"], true);
    let again =
        h.rt.block_on(
            h.app
                .purge_expired_contacts(time::OffsetDateTime::now_utc()),
        )
        .unwrap();
    assert_eq!(again.reports, 0);

    // Once, from the command line, on the same data directory (and the
    // whole file rewritten, for stores written before erasure existed).
    age(vec![later]);
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_civicmap"))
        .args([
            "privacy",
            "purge",
            "--vacuum",
            "--contact-retention-days",
            "365",
        ])
        .arg("--data-dir")
        .arg(&h.data_dir)
        .env("RUST_LOG", "warn")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.starts_with("erased the contacts of 1 reports filed more than 365 days ago\n"),
        "{stdout}"
    );
    assert!(stdout.contains("database rewritten"), "{stdout}");
    assert_eq!(contact_record(h, later)["contact_held"], false);
    assert_eq!(contact_record(h, recent)["contact_held"], true);
}
