//! The service on PostgreSQL: the whole application through its router
//! (boot, filing, the workflow, supports, a second boot on the same
//! database), and the real binary (`--database-url`), whose acknowledged
//! report survives a SIGKILL and is served after a restart.
//!
//! Several instances on one database: what one commits reaches the others'
//! reads, tiles and statistics (the follower, `service::follower`), also
//! after notifications were lost, and an instance killed mid-stream loses
//! nothing it acknowledged. Waits poll with a deadline: no timing is
//! asserted.
//!
//! Needs `CIVICMAP_TEST_POSTGRES_URL` (see `tests/common/stores.rs`);
//! skipped without it unless `CIVICMAP_POSTGRES_TEST=require`.
#![allow(clippy::unwrap_used)]

mod common;

use std::collections::BTreeSet;
use std::ffi::OsStr;
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use civicmap::model::LonLat;
use civicmap::tiles::TileId;
use common::server::{
    client_with_key, create_key_with, free_port, start_server_with, wait_healthy,
};
use common::stores::Place;
use common::{EVENTUALLY_WITHIN, Harness, eventually};
use serde_json::{Value, json};
use sqlx::Connection as _;

mod support_mvt;

/// An application on this database (`follow`: whether it follows the
/// other instances' changes).
fn instance(url: &str, follow: bool) -> Harness {
    common::custom_harness(|c| {
        c.database_url = Some(url.to_owned());
        c.follow_store = follow;
    })
}

fn get_as(h: &Harness, role: &str, uri: &str) -> common::Reply {
    h.send_as(Some(role), Request::get(uri).body(Body::empty()).unwrap())
}

/// The report features of the z16 tile around the pothole: (id, status).
fn tile_reports(h: &Harness) -> Vec<(u64, String)> {
    let tile = TileId::containing(LonLat::new(2.3499, 48.8530).unwrap(), 16);
    let reply = h.send(
        Request::get(format!("/tiles/reports/16/{}/{}.mvt", tile.x, tile.y))
            .header(header::ACCEPT_ENCODING, "identity")
            .body(Body::empty())
            .unwrap(),
    );
    if reply.status == StatusCode::NO_CONTENT {
        return Vec::new();
    }
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
    let layers = support_mvt::decode(&reply.body);
    let Some(reports) = layers.iter().find(|l| l.name == "reports") else {
        return Vec::new();
    };
    reports
        .features
        .iter()
        .map(|f| {
            let status = f.properties["status"].as_str().unwrap().to_owned();
            (f.id.unwrap(), status)
        })
        .collect()
}

/// The city's figures of the analysts' statistics: (reports, by status).
fn city_stats(h: &Harness) -> (i64, Value) {
    let reply = get_as(h, "analyst", "/api/v1/stats/districts?layer=arrondissement");
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
    let city = &reply.json()["city"];
    (city["reports"].as_i64().unwrap(), city["by_status"].clone())
}

/// Every report id the database holds, read beside the instances.
async fn stored_ids(url: &str) -> BTreeSet<i64> {
    let mut conn = sqlx::PgConnection::connect(url).await.unwrap();
    let ids: Vec<i64> = sqlx::query_scalar("SELECT id FROM reports ORDER BY id")
        .fetch_all(&mut conn)
        .await
        .unwrap();
    conn.close().await.unwrap();
    ids.into_iter().collect()
}

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

#[test]
fn a_report_filed_through_one_instance_is_read_tiled_and_counted_through_another_and_a_status_change_comes_back()
 {
    let Some(place) = postgres_place() else {
        return;
    };
    let url = place.database_url().unwrap().to_owned();
    let a = instance(&url, true);
    let b = instance(&url, true);
    // B has drawn (and cached) the tile before the filing.
    assert!(tile_reports(&b).is_empty());
    assert_eq!(city_stats(&b).0, 0);

    let created = a.post_as(Some("app"), "/api/v1/reports", &pothole("pg-two-1"));
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.text());
    let id = created.json()["id"].as_i64().unwrap();
    let id_u = u64::try_from(id).unwrap();

    let read = eventually("the report read through B", || {
        let r = b.get(&format!("/api/v1/reports/{id}"));
        (r.status == StatusCode::OK, r.status)
    });
    assert_eq!(read, StatusCode::OK);
    eventually("the report in B's tile", || {
        let t = tile_reports(&b);
        (t == [(id_u, "new".to_owned())], t)
    });
    let (reports, by_status) = eventually("the report in B's statistics", || {
        let s = city_stats(&b);
        (s.0 == 1, s)
    });
    assert_eq!((reports, &by_status["new"]), (1, &json!(1)));

    // A status change through B reaches A's tile and statistics.
    let moved = b.post_as(
        Some("agent"),
        &format!("/api/v1/reports/{id}/status"),
        &json!({ "status": "to_process" }),
    );
    assert_eq!(moved.status, StatusCode::OK, "{}", moved.text());
    eventually("the new status in A's tile", || {
        let t = tile_reports(&a);
        (t == [(id_u, "to_process".to_owned())], t)
    });
    eventually("the new status in A's statistics", || {
        let s = city_stats(&a).1;
        (s["to_process"] == 1 && s["new"] == 0, s)
    });
}

#[test]
fn a_follower_whose_listening_connections_were_killed_catches_up_by_the_change_sequence() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let Some(place) = rt.block_on(Place::postgres()) else {
        return;
    };
    let url = place.database_url().unwrap().to_owned();
    let a = instance(&url, true);
    let b = instance(&url, true);
    // Both instances LISTEN; end those connections (as a network cut or an
    // administrator would), then write before they are back.
    let killed = rt.block_on(place.count(
        "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity \
         WHERE datname = current_database() AND query LIKE 'LISTEN %'",
    ));
    assert_eq!(killed, 2, "one listening connection per instance");
    let mut ids = Vec::new();
    for i in 0..20 {
        let created = a.post_as(
            Some("app"),
            "/api/v1/reports",
            &pothole(&format!("pg-missed-{i}")),
        );
        assert_eq!(created.status, StatusCode::CREATED, "{}", created.text());
        ids.push(created.json()["id"].as_i64().unwrap());
    }
    let last = *ids.last().unwrap();
    eventually("every report read through B", || {
        let r = b.get(&format!("/api/v1/reports/{last}"));
        (r.status == StatusCode::OK, r.status)
    });
    let stats = eventually("every report counted by B", || {
        let s = city_stats(&b).0;
        (s == 20, s)
    });
    assert_eq!(stats, 20);
    let listed = b.get("/api/v1/reports?limit=1000").json();
    let listed: Vec<i64> = listed["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_i64().unwrap())
        .rev()
        .collect();
    assert_eq!(listed, ids);
}

#[test]
fn a_status_change_against_a_status_another_instance_changed_meanwhile_is_a_conflict_and_catches_up()
 {
    let Some(place) = postgres_place() else {
        return;
    };
    let url = place.database_url().unwrap().to_owned();
    let a = instance(&url, true);
    let created = a.post_as(Some("app"), "/api/v1/reports", &pothole("pg-moved-1"));
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.text());
    let id = created.json()["id"].as_i64().unwrap();
    // B does not follow: its index keeps the status it booted with.
    let b = instance(&url, false);
    let to_process = json!({ "status": "to_process" });
    let path = format!("/api/v1/reports/{id}/status");
    let moved = a.post_as(Some("agent"), &path, &to_process);
    assert_eq!(moved.status, StatusCode::OK, "{}", moved.text());
    let by_status = "/api/v1/reports?bbox=2.3498,48.8529,2.3500,48.8531&status=";
    assert_eq!(b.get(&format!("{by_status}new")).json()["total"], 1);

    let stale = b.post_as(Some("agent"), &path, &to_process);
    assert_eq!(stale.status, StatusCode::CONFLICT, "{}", stale.text());
    assert!(
        stale.text().contains("to_process"),
        "the answer names the status found: {}",
        stale.text()
    );
    // The conflict refreshed the report: B now has the store's status.
    assert_eq!(b.get(&format!("{by_status}new")).json()["total"], 0);
    assert_eq!(b.get(&format!("{by_status}to_process")).json()["total"], 1);
    let again = b.post_as(Some("agent"), &path, &json!({ "status": "scheduled" }));
    assert_eq!(again.status, StatusCode::OK, "{}", again.text());
}

/// Two real binaries serving one PostgreSQL database, healthy, and a client
/// with an `app` key of that database.
struct TwoBinaries {
    http: reqwest::Client,
    base_a: String,
    base_b: String,
    server_a: std::process::Child,
    server_b: std::process::Child,
}

async fn two_binaries(place: &Place, url: &str) -> TwoBinaries {
    let extra: [&OsStr; 2] = ["--database-url".as_ref(), url.as_ref()];
    let key = create_key_with(place.data_dir(), "app", &extra);
    let http = client_with_key(&key, Duration::from_secs(30));
    let (port_a, port_b) = (free_port(), free_port());
    let base_a = format!("http://127.0.0.1:{port_a}");
    let base_b = format!("http://127.0.0.1:{port_b}");
    let server_a = start_server_with(place.data_dir(), port_a, &extra);
    let server_b = start_server_with(place.data_dir(), port_b, &extra);
    wait_healthy(&http, &base_a).await;
    wait_healthy(&http, &base_b).await;
    TwoBinaries {
        http,
        base_a,
        base_b,
        server_a,
        server_b,
    }
}

#[test]
fn every_filing_acknowledged_by_an_instance_killed_mid_stream_is_served_by_the_survivor_whose_index_matches_the_store()
 {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let Some(place) = Place::postgres().await else {
            return;
        };
        let url = place.database_url().unwrap().to_owned();
        let TwoBinaries {
            http,
            base_a,
            base_b,
            mut server_a,
            mut server_b,
        } = two_binaries(&place, &url).await;

        // Four clients file through A, one filing after another each,
        // until A dies; every 201 is noted.
        let acked = std::sync::Arc::new(std::sync::Mutex::new(Vec::<i64>::new()));
        let mut filers = Vec::new();
        for c in 0..4 {
            let (http, base, acked) = (http.clone(), base_a.clone(), acked.clone());
            filers.push(tokio::spawn(async move {
                for i in 0.. {
                    let sent = http
                        .post(format!("{base}/api/v1/reports"))
                        .json(&pothole(&format!("pg-kill-{c}-{i}")))
                        .send()
                        .await;
                    let Ok(r) = sent else { return };
                    if r.status() != 201 {
                        return;
                    }
                    let Ok(body) = r.json::<Value>().await else {
                        return;
                    };
                    acked.lock().unwrap().push(body["id"].as_i64().unwrap());
                }
            }));
        }
        let deadline = Instant::now() + EVENTUALLY_WITHIN;
        while acked.lock().unwrap().len() < 40 {
            assert!(Instant::now() < deadline, "A acknowledged too few filings");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        server_a.kill().unwrap(); // SIGKILL, filings in flight.
        server_a.wait().unwrap();
        for f in filers {
            f.await.unwrap();
        }
        let acked: BTreeSet<i64> = acked.lock().unwrap().iter().copied().collect();

        // Every acknowledged filing is read through B.
        let deadline = Instant::now() + EVENTUALLY_WITHIN;
        for id in &acked {
            loop {
                let r = http
                    .get(format!("{base_b}/api/v1/reports/{id}"))
                    .send()
                    .await
                    .unwrap();
                if r.status() == 200 {
                    break;
                }
                assert!(Instant::now() < deadline, "report {id} not served by B");
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
        // B's index holds exactly the stored reports (those A committed
        // without answering included).
        let stored = stored_ids(&url).await;
        assert!(stored.is_superset(&acked));
        let deadline = Instant::now() + EVENTUALLY_WITHIN;
        loop {
            let listed: Value = http
                .get(format!("{base_b}/api/v1/reports?limit=1000"))
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            let ids: BTreeSet<i64> = listed["items"]
                .as_array()
                .unwrap()
                .iter()
                .map(|r| r["id"].as_i64().unwrap())
                .collect();
            let health: Value = http
                .get(format!("{base_b}/health"))
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            if ids == stored && health["reports"] == json!(stored.len()) {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "B indexes {} reports ({}), the store {}",
                ids.len(),
                health["reports"],
                stored.len()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        server_b.kill().unwrap();
        server_b.wait().unwrap();
    });
}

/// The cross-instance delay: from A's 201 to the report in B's index (its
/// newest report in `GET /api/v1/reports`, which the index answers; a
/// `GET /api/v1/reports/{id}` reads the store and sees it at once).
/// Measured, not asserted:
/// `cargo test --test postgres -- --ignored --nocapture cross_instance_delay`.
#[test]
#[ignore = "a measurement: run it by name"]
fn cross_instance_delay_is_measured_over_sequential_filings() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let Some(place) = Place::postgres().await else {
            return;
        };
        let url = place.database_url().unwrap().to_owned();
        let TwoBinaries {
            http,
            base_a,
            base_b,
            mut server_a,
            mut server_b,
        } = two_binaries(&place, &url).await;
        let filings: usize = std::env::var("CIVICMAP_DELAY_FILINGS")
            .ok()
            .and_then(|n| n.parse().ok())
            .unwrap_or(300);
        let mut delays = Vec::with_capacity(filings);
        for i in 0..filings {
            let created: Value = http
                .post(format!("{base_a}/api/v1/reports"))
                .json(&pothole(&format!("pg-delay-{i}")))
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            let acked = Instant::now();
            let id = created["id"].as_i64().unwrap();
            loop {
                let newest: Value = http
                    .get(format!("{base_b}/api/v1/reports?limit=1"))
                    .send()
                    .await
                    .unwrap()
                    .json()
                    .await
                    .unwrap();
                if newest["items"][0]["id"].as_i64() >= Some(id) {
                    break;
                }
            }
            delays.push(acked.elapsed());
        }
        delays.sort();
        let at = |q: usize| delays[(delays.len() * q / 100).min(delays.len() - 1)];
        println!(
            "cross-instance delay over {} filings: median {:?}, p90 {:?}, p99 {:?}, max {:?}",
            delays.len(),
            at(50),
            at(90),
            at(99),
            delays[delays.len() - 1]
        );
        server_a.kill().unwrap();
        server_a.wait().unwrap();
        server_b.kill().unwrap();
        server_b.wait().unwrap();
    });
}
