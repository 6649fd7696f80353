//! The service on PostgreSQL: the whole application through its router
//! (boot, filing, the workflow, supports, a second boot on the same
//! database), and the real binary (`--database-url`), whose acknowledged
//! report survives a SIGKILL and is served after a restart.
//!
//! Needs `CIVICMAP_TEST_POSTGRES_URL` (see `tests/common/stores.rs`);
//! skipped without it unless `CIVICMAP_POSTGRES_TEST=require`.
#![allow(clippy::unwrap_used)]

mod common;

use std::ffi::OsStr;
use std::time::Duration;

use axum::http::StatusCode;
use common::server::{
    client_with_key, create_key_with, free_port, start_server_with, wait_healthy,
};
use common::stores::Place;
use serde_json::{Value, json};

fn pothole(client_id: &str) -> Value {
    json!({
        "kind": "anomaly",
        "category": "objets_abandonnes",
        "subcategory": "autres_objets_encombrants_abandonnes",
        "description": "Matelas abandonné devant le 12",
        "lon": 2.3499, "lat": 48.8530,
        "client_id": client_id,
        "channel": "ios",
    })
}

/// A fresh PostgreSQL database (or `None`: skipped), made on a runtime of
/// its own (each harness has its own).
fn postgres_place() -> Option<Place> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(Place::postgres())
}

#[test]
fn the_application_boots_files_and_moves_reports_on_postgres_and_a_second_boot_sees_them() {
    let Some(place) = postgres_place() else {
        return;
    };
    let url = place.database_url().unwrap().to_owned();
    let h = common::custom_harness(|c| c.database_url = Some(url.clone()));
    assert_eq!(h.app.store().backend_name(), "postgres");

    let created = h.post_as(Some("app"), "/api/v1/reports", &pothole("pg-router-1"));
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.text());
    let id = created.json()["id"].as_i64().unwrap();
    let retry = h.post_as(Some("app"), "/api/v1/reports", &pothole("pg-router-1"));
    assert_eq!(
        (retry.status, retry.json()["id"].as_i64()),
        (StatusCode::OK, Some(id))
    );
    let step = |status: &str, note: Option<&str>| {
        let mut body = json!({ "status": status });
        if let Some(n) = note {
            body["note"] = json!(n);
        }
        let moved = h.post_as(
            Some("agent"),
            &format!("/api/v1/reports/{id}/status"),
            &body,
        );
        assert_eq!(moved.status, StatusCode::OK, "{}", moved.text());
    };
    step("to_process", None);
    // Only an open report takes supports.
    let supported = h.post_as(
        Some("app"),
        &format!("/api/v1/reports/{id}/supports"),
        &json!({ "client_id": "pg-me-too" }),
    );
    assert_eq!(
        supported.status,
        StatusCode::CREATED,
        "{}",
        supported.text()
    );
    step("done", Some("Enlevé"));
    let history = h.get(&format!("/api/v1/reports/{id}/history")).json();
    let steps: Vec<(&str, &str)> = history["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["type"].as_str().unwrap(), e["status"].as_str().unwrap()))
        .collect();
    assert_eq!(
        steps,
        [
            ("created", "new"),
            ("status", "to_process"),
            ("support", "to_process"),
            ("status", "done")
        ]
    );

    // A second application booted on the same database rebuilds its index
    // from it: the report, its status and its history.
    let again = common::custom_harness(|c| c.database_url = Some(url.clone()));
    let listed = again
        .get("/api/v1/reports?bbox=2.3498,48.8529,2.3500,48.8531&status=done")
        .json();
    assert_eq!(listed["total"], 1, "{listed}");
    assert_eq!(
        again.get(&format!("/api/v1/reports/{id}/history")).json(),
        history
    );
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let projects = rt.block_on(place.count("SELECT count(*) FROM projects"));
    assert!(
        projects > 0,
        "the budget projects were stored at first boot"
    );
}

#[test]
fn a_report_acknowledged_on_postgres_survives_a_sigkill_and_is_served_after_a_restart() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let Some(place) = Place::postgres().await else {
            return;
        };
        let url = place.database_url().unwrap().to_owned();
        let extra: [&OsStr; 2] = ["--database-url".as_ref(), url.as_ref()];
        let key = create_key_with(place.data_dir(), "app", &extra);
        let http = client_with_key(&key, Duration::from_secs(30));
        let port = free_port();
        let base = format!("http://127.0.0.1:{port}");

        let mut server = start_server_with(place.data_dir(), port, &extra);
        let health = wait_healthy(&http, &base).await;
        assert_eq!(health["reports"], 0, "an unseeded, empty database");
        let body = json!({
            "kind": "anomaly",
            "category": "objets_abandonnes",
            "subcategory": "autres_objets_encombrants_abandonnes",
            "description": "Matelas abandonné devant le 12",
            "lon": 2.3499, "lat": 48.8530,
            "client_id": "pg-crash-1",
            "channel": "ios",
        });
        let created = http
            .post(format!("{base}/api/v1/reports"))
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(created.status(), 201);
        let created: Value = created.json().await.unwrap();
        let id = created["id"].as_i64().unwrap();
        server.kill().unwrap(); // SIGKILL: no shutdown hook runs.
        server.wait().unwrap();

        // What the database holds, seen by another program.
        assert_eq!(place.count("SELECT count(*) FROM reports").await, 1);

        let mut server = start_server_with(place.data_dir(), port, &extra);
        let health = wait_healthy(&http, &base).await;
        assert_eq!(health["reports"], 1, "the index is rebuilt from PostgreSQL");
        let read = http
            .get(format!("{base}/api/v1/reports/{id}"))
            .send()
            .await
            .unwrap();
        assert_eq!(read.status(), 200);
        let read: Value = read.json().await.unwrap();
        assert_eq!(read["id"], id);
        assert_eq!(read["description"], body["description"]);
        // A retry under the same client id finds it instead of filing again.
        let retry = http
            .post(format!("{base}/api/v1/reports"))
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(retry.status(), 200);
        assert_eq!(retry.json::<Value>().await.unwrap()["id"], id);
        server.kill().unwrap();
        server.wait().unwrap();
    });
}
