//! The real binary on PostgreSQL (`--database-url`): a report acknowledged
//! with a 201 survives a SIGKILL of the process and is served after a
//! restart, from the store and from the rebuilt index.
//!
//! Needs `CIVICMAP_TEST_POSTGRES_URL` (see `tests/common/stores.rs`);
//! skipped without it unless `CIVICMAP_POSTGRES_TEST=require`.
#![allow(clippy::unwrap_used)]

mod common;

use std::ffi::OsStr;
use std::time::Duration;

use common::server::{
    client_with_key, create_key_with, free_port, start_server_with, wait_healthy,
};
use common::stores::Place;
use serde_json::{Value, json};

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
