//! Durability of the real binary: concurrent clients post reports, the
//! server is killed with SIGKILL mid-stream (or stopped with SIGTERM),
//! restarted, and every report it acknowledged is there, in the store and
//! in the index.
#![allow(clippy::unwrap_used)]

mod common;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use common::server::{
    client_with_key, create_key, free_port, start_server, start_server_with, wait_healthy,
};
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

/// Client id -> (acknowledged id, the body number used to post it).
type Acked = Arc<tokio::sync::Mutex<BTreeMap<String, (i64, usize)>>>;

/// Spawns `clients` tasks posting reports (client ids `{tag}-{c}-{i}`, body
/// numbers from `first + c * 100_000`) until `stop` is set. Each 201 goes
/// to `acked`; any other answer to `other` (0: a 201 whose body was cut).
#[allow(clippy::too_many_arguments)]
fn spawn_posters(
    http: &reqwest::Client,
    base: &str,
    tag: &str,
    first: usize,
    clients: usize,
    stop: &Arc<AtomicBool>,
    acked: &Acked,
    other: &Arc<tokio::sync::Mutex<Vec<u16>>>,
) -> Vec<tokio::task::JoinHandle<()>> {
    (0..clients)
        .map(|c| {
            let (http, url, tag) = (
                http.clone(),
                format!("{base}/api/v1/reports"),
                tag.to_owned(),
            );
            let (stop, acked, other) = (Arc::clone(stop), Arc::clone(acked), Arc::clone(other));
            tokio::spawn(async move {
                let mut i = 0;
                while !stop.load(Ordering::Relaxed) {
                    let cid = format!("{tag}-{c}-{i}");
                    let n = first + c * 100_000 + i;
                    match http.post(&url).json(&report(&cid, n)).send().await {
                        Ok(r) if r.status() == 201 => match r.json::<Value>().await {
                            Ok(body) => {
                                let id = body["id"].as_i64().unwrap();
                                acked.lock().await.insert(cid, (id, n));
                            }
                            Err(_) => other.lock().await.push(0),
                        },
                        Ok(r) => other.lock().await.push(r.status().as_u16()),
                        // Refused connections once the server stopped listening.
                        Err(_) => tokio::time::sleep(Duration::from_millis(10)).await,
                    }
                    i += 1;
                }
            })
        })
        .collect()
}

/// Every acknowledged report is readable by its id.
async fn assert_all_readable(
    http: &reqwest::Client,
    base: &str,
    acked: &BTreeMap<String, (i64, usize)>,
) {
    for (cid, (id, _)) in acked {
        let r = http
            .get(format!("{base}/api/v1/reports/{id}"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "acknowledged report {id} ({cid}) lost");
        let body: Value = r.json().await.unwrap();
        assert_eq!(body["id"], *id);
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// A client with a new app key of `data_dir`, a free port and its base URL.
fn app_client(data_dir: &std::path::Path) -> (reqwest::Client, u16, String) {
    let key = create_key(data_dir, "app");
    let http = client_with_key(&key, Duration::from_secs(30));
    let port = free_port();
    (http, port, format!("http://127.0.0.1:{port}"))
}

#[test]
fn every_acknowledged_report_survives_repeated_sigkills_and_the_index_agrees_with_the_store() {
    let dir = tempfile::tempdir().unwrap();
    runtime().block_on(async {
        let (http, port, base) = app_client(dir.path());
        // client id -> (acknowledged id, the body index used to post it)
        let acked: Acked = Arc::default();
        for round in 0..ROUNDS {
            let mut server = start_server(dir.path(), port);
            wait_healthy(&http, &base).await;
            let before = acked.lock().await.len();
            let killed = Arc::new(AtomicBool::new(false));
            let tasks = spawn_posters(
                &http,
                &base,
                &format!("crash-{round}"),
                round * CLIENTS * 100_000,
                CLIENTS,
                &killed,
                &acked,
                &Arc::default(),
            );
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
        assert_all_readable(&http, &base, &acked).await;
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

/// Clients posting when SIGTERM arrives.
const TERM_CLIENTS: usize = 8;
/// Acknowledged reports after which SIGTERM is sent.
const TERM_AFTER_ACKS: usize = 200;

#[test]
fn on_sigterm_requests_in_flight_complete_event_streams_end_and_every_201_is_stored() {
    let dir = tempfile::tempdir().unwrap();
    runtime().block_on(async {
        let (http, port, base) = app_client(dir.path());
        // A grace far longer than the wait below: the server must stop because
        // everything ended, not because the grace ran out.
        let mut server = start_server_with(
            dir.path(),
            port,
            &["--shutdown-grace-s".as_ref(), "600".as_ref()],
        );
        wait_healthy(&http, &base).await;
        // An open event stream must not hold the shutdown.
        let events = http
            .get(format!("{base}/api/v1/events"))
            .send()
            .await
            .unwrap();
        assert_eq!(events.status(), 200);

        let acked: Acked = Arc::default();
        let other_answers: Arc<tokio::sync::Mutex<Vec<u16>>> = Arc::default();
        let stop = Arc::new(AtomicBool::new(false));
        let tasks = spawn_posters(
            &http,
            &base,
            "term",
            0,
            TERM_CLIENTS,
            &stop,
            &acked,
            &other_answers,
        );
        while acked.lock().await.len() < TERM_AFTER_ACKS {
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        let term = std::process::Command::new("kill")
            .args(["-TERM", &server.id().to_string()])
            .status()
            .unwrap();
        assert!(term.success());
        // The server stops by itself, with success (a bounded wait, not a timing check).
        let mut waited = 0;
        let exit = loop {
            if let Some(status) = server.try_wait().unwrap() {
                break status;
            }
            waited += 1;
            if waited > 3_000 {
                server.kill().unwrap();
                panic!("the server did not stop after SIGTERM");
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        };
        assert!(exit.success(), "{exit}");
        stop.store(true, Ordering::Relaxed);
        for t in tasks {
            t.await.unwrap();
        }
        // The event stream was ended by the server, not cut by the client.
        assert!(events.bytes().await.is_ok());
        // Every answer the server gave was a 201: requests in flight completed.
        assert_eq!(*other_answers.lock().await, Vec::<u16>::new());

        let acked = acked.lock().await.clone();
        assert!(acked.len() >= TERM_AFTER_ACKS);
        let mut server = start_server(dir.path(), port);
        wait_healthy(&http, &base).await;
        assert_all_readable(&http, &base, &acked).await;
        let store = civicmap::store::Store::open_sqlite(dir.path())
            .await
            .unwrap();
        // ... and nothing was stored without its answer reaching the client.
        assert_eq!(store.count_reports().await.unwrap(), acked.len() as u64);
        store.close().await;
        server.kill().unwrap();
        server.wait().unwrap();
    });
}
