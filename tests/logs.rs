//! The real binary's logs, at debug level, never hold a reporter's contact
//! (filed through the JSON API or Open311, erased on request) or an API key.
#![allow(clippy::unwrap_used)]

mod common;

use std::io::Read as _;
use std::process::{Command, Stdio};
use std::time::Duration;

use serde_json::json;

use common::server::{client_with_key, create_key, free_port, wait_healthy};

#[test]
fn debug_logs_of_a_busy_server_hold_no_contact_and_no_key() {
    let dir = tempfile::tempdir().unwrap();
    let app_key = create_key(dir.path(), "app");
    let agent_key = create_key(dir.path(), "agent");
    let admin_key = create_key(dir.path(), "admin");
    let port = free_port();
    let mut server = Command::new(env!("CARGO_BIN_EXE_civicmap"))
        .args([
            "serve",
            "--no-seed",
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--data-dir",
        ])
        .arg(dir.path())
        .env("RUST_LOG", "debug")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Drained as it comes: a full pipe would block the server.
    let mut stderr = server.stderr.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut logs = String::new();
        stderr.read_to_string(&mut logs).unwrap();
        logs
    });
    let taxonomy = civicmap::model::Taxonomy::from_csv(civicmap::reference::TAXONOMY_CSV).unwrap();
    let proprete = taxonomy.category_id("proprete").unwrap();
    let subcategory = taxonomy.category(proprete).subcategories[0].code.clone();
    let marker = format!("log-marker-{}@example.org", std::process::id());
    let phone = format!("+99 (0)-{}-7788", std::process::id());
    let base = format!("http://127.0.0.1:{port}");
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let app = client_with_key(&app_key, Duration::from_secs(30));
        let agent = client_with_key(&agent_key, Duration::from_secs(30));
        let admin = client_with_key(&admin_key, Duration::from_secs(30));
        wait_healthy(&app, &base).await;
        let posted: serde_json::Value = app
            .post(format!("{base}/api/v1/reports"))
            .json(&json!({
                "kind": "anomaly", "category": "proprete",
                "subcategory": subcategory,
                "description": "Dépôt sauvage", "lon": 2.3499, "lat": 48.8530,
                "client_id": "log-test-1", "contact": marker,
            }))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let id = posted["id"].as_i64().unwrap();
        // A refused one too: errors are logged as well.
        let refused = app
            .post(format!("{base}/api/v1/reports"))
            .json(&json!({"kind": "anomaly", "category": "nope", "contact": marker}))
            .send()
            .await
            .unwrap();
        assert_eq!(refused.status(), 422);
        let moved = agent
            .post(format!("{base}/api/v1/reports/{id}/status"))
            .json(&json!({"status": "done", "note": "Fait"}))
            .send()
            .await
            .unwrap();
        assert_eq!(moved.status(), 200);
        // Through Open311, with a phone number and a name.
        let form = form_urlencoded::Serializer::new(String::new())
            .extend_pairs([
                ("api_key", app_key.as_str()),
                ("service_code", "proprete"),
                ("lat", "48.8530"),
                ("long", "2.3499"),
                ("attribute[subcategory]", subcategory.as_str()),
                ("phone", phone.as_str()),
                ("first_name", marker.as_str()),
            ])
            .finish();
        let filed = app
            .post(format!("{base}/open311/v2/requests.json"))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(form)
            .send()
            .await
            .unwrap();
        assert_eq!(filed.status(), 200);
        // Erased on request: one report, then the resident (twice), and a
        // refused erasure whose message must not repeat the value.
        for (client, method, path, body) in [
            (
                &agent,
                "DELETE",
                format!("/api/v1/reports/{id}/contact"),
                None,
            ),
            (&agent, "GET", format!("/api/v1/reports/{id}/contact"), None),
            (
                &admin,
                "POST",
                "/api/v1/privacy/erasure".to_owned(),
                Some(json!({"contact": phone})),
            ),
            (
                &admin,
                "POST",
                "/api/v1/privacy/erasure".to_owned(),
                Some(json!({"contact": phone})),
            ),
            (
                &admin,
                "POST",
                "/api/v1/privacy/erasure".to_owned(),
                Some(json!({"contact": marker, "x": 1})),
            ),
            (
                &admin,
                "POST",
                "/api/v1/privacy/erasure".to_owned(),
                Some(json!({"contact": format!("{marker} {phone}")})),
            ),
        ] {
            let mut req = client.request(method.parse().unwrap(), format!("{base}{path}"));
            if let Some(b) = body {
                req = req.json(&b);
            }
            let status = req.send().await.unwrap().status();
            assert!(
                status == 200 || status == 400 || status == 422,
                "{path}: {status}"
            );
        }
        for path in [
            format!("/api/v1/reports/{id}"),
            format!("/api/v1/reports/{id}/history"),
        ] {
            assert_eq!(
                app.get(format!("{base}{path}"))
                    .send()
                    .await
                    .unwrap()
                    .status(),
                200
            );
        }
    });
    server.kill().unwrap();
    server.wait().unwrap();
    let logs = reader.join().unwrap();
    assert!(
        logs.contains("/api/v1/reports"),
        "requests were logged at debug level"
    );
    assert!(!logs.contains(&marker), "the contact leaked into the logs");
    assert!(
        !logs.contains(&phone) && !logs.contains(&format!("-{}-7788", std::process::id())),
        "a phone number leaked into the logs"
    );
    assert!(
        logs.contains("/api/v1/privacy/erasure"),
        "erasures were logged at debug level"
    );
    assert!(
        !logs.contains(&app_key) && !logs.contains(&agent_key) && !logs.contains(&admin_key),
        "a key leaked into the logs"
    );
}
