//! Durability of the real binary: concurrent clients post reports, the
//! server is killed with SIGKILL mid-stream, restarted, and every report it
//! acknowledged is there, in the store and in the index.
#![allow(clippy::unwrap_used)]

mod common;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use common::server::{client_with_key, create_key, free_port, start_server, wait_healthy};
use serde_json::{Value, json};

/// Concurrent posting clients.
const CLIENTS: usize = 16;
/// Acknowledged reports per round (times the round number) after which the server is killed.
const KILL_AFTER_ACKS: usize = 300;
/// Kill-and-restart rounds.
const ROUNDS: usize = 3;

fn report(client_id: &str, i: usize) -> Value {
    json!({
        "kind": if i.is_multiple_of(3) { "contribution" } else { "anomaly" },
        "category": "objets_abandonnes",
        "subcategory": "autres_objets_encombrants_abandonnes",
        "description": format!("crash test report {i}"),
        "lon": 2.30 + (i % 97) as f64 * 1e-3,
        "lat": 48.83 + (i % 89) as f64 * 6e-4,
        "client_id": client_id,
        "channel": "ios",
    })
}

#[test]
fn every_acknowledged_report_survives_repeated_sigkills_and_the_index_agrees_with_the_store() {
    let dir = tempfile::tempdir().unwrap();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let key = create_key(dir.path(), "app");
        let http = client_with_key(&key, Duration::from_secs(30));
        let port = free_port();
        let base = format!("http://127.0.0.1:{port}");
        // client id -> (acknowledged id, the body index used to post it)
        let acked: Arc<tokio::sync::Mutex<BTreeMap<String, (i64, usize)>>> = Arc::default();
        for round in 0..ROUNDS {
            let mut server = start_server(dir.path(), port);
            wait_healthy(&http, &base).await;
            let before = acked.lock().await.len();
            let killed = Arc::new(AtomicBool::new(false));
            let mut tasks = Vec::new();
            for c in 0..CLIENTS {
                let (http, base, acked, killed) = (
                    http.clone(),
                    base.clone(),
                    Arc::clone(&acked),
                    Arc::clone(&killed),
                );
                tasks.push(tokio::spawn(async move {
                    let mut i = 0;
                    while !killed.load(Ordering::Relaxed) {
                        let cid = format!("crash-{round}-{c}-{i}");
                        let n = (round * CLIENTS + c) * 100_000 + i;
                        let sent = http
                            .post(format!("{base}/api/v1/reports"))
                            .json(&report(&cid, n))
                            .send()
                            .await;
                        if let Ok(r) = sent
                            && r.status() == 201
                            && let Ok(body) = r.json::<Value>().await
                        {
                            acked
                                .lock()
                                .await
                                .insert(cid, (body["id"].as_i64().unwrap(), n));
                        }
                        i += 1;
                    }
                }));
            }
            // Kill at a different depth each round, while all clients are mid-stream.
            let kill_at = before + KILL_AFTER_ACKS * (round + 1);
            while acked.lock().await.len() < kill_at {
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
            server.kill().unwrap(); // SIGKILL on Unix: no shutdown hook runs.
            server.wait().unwrap();
            killed.store(true, Ordering::Relaxed);
            for t in tasks {
                t.await.unwrap();
            }
        }
        let acked = acked.lock().await.clone();
        assert!(acked.len() >= KILL_AFTER_ACKS * ROUNDS);

        let mut server = start_server(dir.path(), port);
        let health = wait_healthy(&http, &base).await;
        let indexed = health["reports"].as_u64().unwrap();

        // Every acknowledged report is readable by id...
        for (cid, (id, _)) in &acked {
            let r = http
                .get(format!("{base}/api/v1/reports/{id}"))
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 200, "acknowledged report {id} ({cid}) lost");
            let body: Value = r.json().await.unwrap();
            assert_eq!(body["id"], *id);
        }
        // ... and a retry under its client id finds it rather than creating another.
        for (cid, (id, n)) in acked.iter().step_by(97) {
            let retry = http
                .post(format!("{base}/api/v1/reports"))
                .json(&report(cid, *n))
                .send()
                .await
                .unwrap();
            assert_eq!(retry.status(), 200, "{cid}");
            assert_eq!(retry.json::<Value>().await.unwrap()["id"], *id);
        }

        // The index (what lists and tiles read) holds exactly what the store holds.
        let store = civicmap::store::Store::open_sqlite(dir.path())
            .await
            .unwrap();
        let stored = store.count_reports().await.unwrap();
        assert_eq!(indexed, stored, "index and store disagree after restart");
        assert!(stored >= acked.len() as u64);
        let mut listed = Vec::new();
        let mut url = format!("{base}/api/v1/reports?limit=1000");
        loop {
            let page: Value = http.get(&url).send().await.unwrap().json().await.unwrap();
            listed.extend(
                page["items"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|r| r["id"].as_i64().unwrap()),
            );
            match page["next"].as_str() {
                Some(next) => url = format!("{base}{next}"),
                None => break,
            }
        }
        assert_eq!(listed.len() as u64, stored);
        for (id, _) in acked.values() {
            assert!(
                listed.binary_search_by(|x| id.cmp(x)).is_ok(),
                "report {id} missing from the index listing"
            );
        }
        store.close().await;
        server.kill().unwrap();
        server.wait().unwrap();
    });
}
