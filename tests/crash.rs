//! Durability of the real binary: concurrent clients post reports, move
//! reports through the workflow or upload photos, the server is killed
//! with SIGKILL mid-stream (or stopped with SIGTERM), restarted, and
//! everything it acknowledged is there, in the store and in memory.
//!
//! Kill moments and the clients' choices come from a fixed seed; each
//! round is bounded by a number of acknowledged requests, not by time.
#![allow(clippy::unwrap_used)]

mod common;
#[path = "support_mvt/mod.rs"]
mod support_mvt;
mod support_photos;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use rand::{Rng as _, SeedableRng as _};
use rand_pcg::Pcg64;

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
            let page = get_json(&http, &url).await;
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

/// The seed of the kill moments and of the clients' choices.
const SEED: u64 = 0x00C1_71C0_0006;

/// Kill-and-restart rounds of the status change and photo tests.
const LIFECYCLE_ROUNDS: usize = 8;
/// Agents changing statuses at once, each over reports of its own (so a
/// change is never refused because another agent moved the report).
const AGENTS: usize = 6;
/// Reports each agent moves through the workflow.
const REPORTS_PER_AGENT: usize = 4;
/// Acknowledged status changes in a round before the kill: drawn from here.
const KILL_AFTER_CHANGES: std::ops::Range<usize> = 20..150;
/// Reports of the status change test are filed around this point (within
/// ~100 m: one or two z16 tiles).
const CHANGE_AREA: (f64, f64) = (2.3545, 48.8570);

/// A status change an agent sent: the note is unique, so the change can be
/// told apart in the report's history.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Change {
    report: i64,
    status: &'static str,
    note: String,
}

/// What the agents know of the reports' histories.
#[derive(Debug, Default)]
struct Changes {
    /// Per report, (status, note) of each change acknowledged with a 2xx,
    /// or found committed after a kill, in order.
    history: BTreeMap<i64, Vec<(String, String)>>,
    /// Changes sent without an answer when the server was killed: each may
    /// or may not have committed (at most one per agent, so per report).
    in_flight: Vec<Change>,
}

impl Changes {
    fn status_of(&self, id: i64) -> &str {
        self.history
            .get(&id)
            .and_then(|h| h.last())
            .map_or("new", |(s, _)| s.as_str())
    }
}

/// The next status of an agent's report: around the workflow, with a
/// rejection and a step back now and then (every change has a note, so a
/// rejection has its reason).
fn next_status(from: &str, rng: &mut Pcg64) -> &'static str {
    match from {
        "new" | "done" | "rejected" => "to_process",
        "to_process" if rng.random_bool(0.2) => "rejected",
        "to_process" => "scheduled",
        _ if rng.random_bool(0.3) => "to_process",
        _ => "done",
    }
}

/// Spawns one task per agent, each changing the statuses of its reports
/// until a request fails (the server was killed): an acknowledged change
/// goes to `changes.history`, the one without an answer to
/// `changes.in_flight`.
fn spawn_agents(
    http: &reqwest::Client,
    base: &str,
    round: usize,
    reports: &[Vec<i64>],
    changes: &Arc<tokio::sync::Mutex<Changes>>,
    acked: &Arc<AtomicUsize>,
) -> Vec<tokio::task::JoinHandle<()>> {
    reports
        .iter()
        .enumerate()
        .map(|(a, mine)| {
            let (http, base, mine) = (http.clone(), base.to_owned(), mine.clone());
            let (changes, acked) = (Arc::clone(changes), Arc::clone(acked));
            let mut rng = Pcg64::seed_from_u64(SEED ^ ((round * AGENTS + a) as u64 + 1));
            tokio::spawn(async move {
                for n in 0.. {
                    let report = mine[rng.random_range(0..mine.len())];
                    let from = changes.lock().await.status_of(report).to_owned();
                    let change = Change {
                        report,
                        status: next_status(&from, &mut rng),
                        note: format!("round {round} agent {a} change {n}"),
                    };
                    let sent = http
                        .post(format!("{base}/api/v1/reports/{report}/status"))
                        .json(&json!({"status": change.status, "note": change.note}))
                        .send()
                        .await;
                    // Each agent moves its own reports along the workflow:
                    // nothing is refused.
                    let answered = answer(sent, &format!("{change:?}")).await;
                    let mut c = changes.lock().await;
                    if answered.is_none() {
                        c.in_flight.push(change);
                        return;
                    }
                    c.history
                        .entry(report)
                        .or_default()
                        .push((change.status.to_owned(), change.note));
                    acked.fetch_add(1, Ordering::Relaxed);
                }
            })
        })
        .collect()
}

/// The JSON answer of a request sent while the server may be killed:
/// `None` when no whole answer came (in flight at the kill: it may or may
/// not have committed). A refusal fails the test.
async fn answer(sent: reqwest::Result<reqwest::Response>, what: &str) -> Option<Value> {
    match sent {
        Ok(r) if r.status().is_success() => r.json::<Value>().await.ok(),
        Ok(r) => panic!("{what} refused: {}", r.status()),
        Err(_) => None,
    }
}

/// The JSON body of a GET.
async fn get_json(http: &reqwest::Client, url: &str) -> Value {
    http.get(url).send().await.unwrap().json().await.unwrap()
}

/// A GET answered 200.
async fn get_ok(http: &reqwest::Client, url: &str) -> reqwest::Response {
    let r = http.get(url).send().await.unwrap();
    assert_eq!(r.status(), 200, "GET {url}");
    r
}

/// One round: clients spawned over `state` (shared with them meanwhile)
/// until `at` of their requests are acknowledged, then SIGKILL; the
/// clients stop at their first failed request, and `state` is the test's
/// again.
async fn run_until_killed<S: Default + std::fmt::Debug>(
    server: &mut std::process::Child,
    state: &mut S,
    at: usize,
    spawn: impl FnOnce(
        &Arc<tokio::sync::Mutex<S>>,
        &Arc<AtomicUsize>,
    ) -> Vec<tokio::task::JoinHandle<()>>,
) {
    let acked = Arc::new(AtomicUsize::new(0));
    let shared = Arc::new(tokio::sync::Mutex::new(std::mem::take(state)));
    let clients = spawn(&shared, &acked);
    while acked.load(Ordering::Relaxed) < at {
        assert!(
            !clients.iter().all(|c| c.is_finished()),
            "every client stopped before the kill"
        );
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    server.kill().unwrap(); // SIGKILL: no shutdown hook runs.
    server.wait().unwrap();
    for c in clients {
        c.await.unwrap();
    }
    *state = Arc::try_unwrap(shared).unwrap().into_inner();
}

/// The status events (status, note) of a report's public history.
async fn status_history(http: &reqwest::Client, base: &str, id: i64) -> Vec<(String, String)> {
    let r = get_ok(http, &format!("{base}/api/v1/reports/{id}/history")).await;
    let history: Value = r.json().await.unwrap();
    history["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["type"] == "status")
        .map(|e| {
            (
                e["status"].as_str().unwrap().to_owned(),
                e["note"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect()
}

/// The z16 tile (x, y) holding a point.
fn tile_of(lon: f64, lat: f64) -> (u32, u32) {
    let n = f64::from(1_u32 << 16);
    let x = ((lon + 180.0) / 360.0 * n).floor();
    let y = ((1.0 - lat.to_radians().tan().asinh() / std::f64::consts::PI) / 2.0 * n).floor();
    (x as u32, y as u32)
}

/// After a restart: each report's history in the store holds exactly its
/// acknowledged changes, possibly followed by the one change in flight at
/// the kill (committed or not, never another); the in-memory state (the
/// report, the statistics by status, the point tiles' `status`) agrees
/// with the history. A change in flight that committed is then counted
/// as acknowledged.
async fn assert_changes_survived(
    http: &reqwest::Client,
    admin: &reqwest::Client,
    base: &str,
    changes: &mut Changes,
    positions: &BTreeMap<i64, (f64, f64)>,
) {
    let in_flight = std::mem::take(&mut changes.in_flight);
    for &id in positions.keys() {
        let stored = status_history(http, base, id).await;
        let acked = changes.history.entry(id).or_default();
        let pending = in_flight.iter().find(|c| c.report == id);
        let committed_in_flight = pending.filter(|c| {
            stored.len() == acked.len() + 1
                && stored.last() == Some(&(c.status.to_owned(), c.note.clone()))
        });
        if let Some(c) = committed_in_flight {
            acked.push((c.status.to_owned(), c.note.clone()));
        }
        assert_eq!(
            stored, *acked,
            "report {id}: the stored history is not the acknowledged one \
             (in flight at the kill: {pending:?})"
        );
        let report = get_json(http, &format!("{base}/api/v1/reports/{id}")).await;
        assert_eq!(report["status"], changes.status_of(id), "report {id}");
    }

    // The statistics (the in-memory fact table) count each status as the
    // histories do.
    let mut expected: BTreeMap<&str, u64> = BTreeMap::new();
    for &id in positions.keys() {
        *expected.entry(changes.status_of(id)).or_default() += 1;
    }
    let stats = get_json(
        admin,
        &format!("{base}/api/v1/stats/districts?layer=arrondissement"),
    )
    .await;
    let by_status = stats["city"]["by_status"].as_object().unwrap();
    for (status, n) in by_status {
        assert_eq!(
            n.as_u64().unwrap(),
            expected.get(status.as_str()).copied().unwrap_or(0),
            "statistics of status {status}: {by_status:?}"
        );
    }

    // The point tiles (the R-tree's leaves) draw each report in its status.
    let tiles: BTreeSet<(u32, u32)> = positions
        .values()
        .map(|&(lon, lat)| tile_of(lon, lat))
        .collect();
    let mut drawn: BTreeMap<i64, String> = BTreeMap::new();
    for (x, y) in tiles {
        let r = get_ok(http, &format!("{base}/tiles/reports/16/{x}/{y}.mvt")).await;
        let bytes = r.bytes().await.unwrap();
        for f in support_mvt::layer(&support_mvt::decode(&bytes), "reports")
            .features
            .iter()
        {
            let id = i64::try_from(f.id.unwrap()).unwrap();
            let status = f.properties["status"].as_str().unwrap().to_owned();
            drawn.insert(id, status);
        }
    }
    for &id in positions.keys() {
        assert_eq!(
            drawn.get(&id).map(String::as_str),
            Some(changes.status_of(id)),
            "report {id} in its tile"
        );
    }
}

#[test]
fn every_acknowledged_status_change_survives_repeated_sigkills_and_memory_agrees_with_the_store() {
    let dir = tempfile::tempdir().unwrap();
    let keys = ["app", "agent", "admin"].map(|role| create_key(dir.path(), role));
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let mut rng = Pcg64::seed_from_u64(SEED);
    runtime().block_on(async {
        let mut changes = Changes::default();
        let mut reports: Vec<Vec<i64>> = vec![Vec::new(); AGENTS];
        let mut positions = BTreeMap::new();
        for round in 0..=LIFECYCLE_ROUNDS {
            // New clients each round: no connection to the killed server is reused.
            let [app, agent, admin] = keys
                .clone()
                .map(|k| client_with_key(&k, Duration::from_secs(30)));
            let mut server = start_server(dir.path(), port);
            wait_healthy(&agent, &base).await;
            if round == 0 {
                for (a, mine) in reports.iter_mut().enumerate() {
                    for i in 0..REPORTS_PER_AGENT {
                        let n = a * REPORTS_PER_AGENT + i;
                        let mut body = report(&format!("lifecycle-{n}"), n);
                        let (lon, lat) = (
                            CHANGE_AREA.0 + (n % 7) as f64 * 1.5e-4,
                            CHANGE_AREA.1 + (n / 7) as f64 * 1.0e-4,
                        );
                        body["kind"] = json!("anomaly");
                        body["lon"] = json!(lon);
                        body["lat"] = json!(lat);
                        let r = app
                            .post(format!("{base}/api/v1/reports"))
                            .json(&body)
                            .send()
                            .await
                            .unwrap();
                        assert_eq!(r.status(), 201);
                        let id = r.json::<Value>().await.unwrap()["id"].as_i64().unwrap();
                        mine.push(id);
                        positions.insert(id, (lon, lat));
                    }
                }
            } else {
                assert_changes_survived(&agent, &admin, &base, &mut changes, &positions).await;
            }
            if round == LIFECYCLE_ROUNDS {
                server.kill().unwrap();
                server.wait().unwrap();
                break;
            }
            let at = rng.random_range(KILL_AFTER_CHANGES);
            run_until_killed(&mut server, &mut changes, at, |shared, acked| {
                spawn_agents(&agent, &base, round, &reports, shared, acked)
            })
            .await;
        }
        let acknowledged: usize = changes.history.values().map(Vec::len).sum();
        assert!(acknowledged >= KILL_AFTER_CHANGES.start * LIFECYCLE_ROUNDS);
    });
}

/// Clients uploading photos at once, each to reports of its own.
const UPLOADERS: usize = 4;
/// Acknowledged uploads in a round before the kill: drawn from here.
const KILL_AFTER_UPLOADS: std::ops::Range<usize> = 6..30;

/// A photo the server acknowledged: its display and full-size URLs.
type PhotoUrls = (String, String);

/// What the uploaders know of the reports' photos.
#[derive(Debug, Default)]
struct Photos {
    /// Per report, its photos by id: acknowledged, or found committed
    /// after a kill.
    held: BTreeMap<i64, BTreeMap<i64, PhotoUrls>>,
    /// Reports an upload was sent to without an answer when the server was
    /// killed: it may or may not have committed.
    in_flight: Vec<i64>,
}

/// A distinct small photo for each `seed`.
fn distinct_photo(seed: u32) -> Vec<u8> {
    let mut img = support_photos::picture(48, 32, seed);
    let [a, b, c, _] = seed.to_le_bytes();
    for x in 0..8 {
        img.put_pixel(x, 0, image::Rgb([a, b, c]));
    }
    support_photos::jpeg(&img)
}

/// Spawns one task per uploader: each files a report (agent key: the
/// city's own keys have no address quota), uploads one photo at a time to
/// it until it is full, then files another, until a request fails (the
/// server was killed).
fn spawn_uploaders(
    http: &reqwest::Client,
    base: &str,
    round: usize,
    photos: &Arc<tokio::sync::Mutex<Photos>>,
    acked: &Arc<AtomicUsize>,
) -> Vec<tokio::task::JoinHandle<()>> {
    (0..UPLOADERS)
        .map(|u| {
            let (http, base) = (http.clone(), base.to_owned());
            let (photos, acked) = (Arc::clone(photos), Arc::clone(acked));
            tokio::spawn(async move {
                let mut current = None;
                for n in 0..u32::MAX {
                    let full = match current {
                        Some(id) => photos.lock().await.held[&id].len() >= 3,
                        None => true,
                    };
                    if full {
                        let cid = format!("photos-{round}-{u}-{n}");
                        let Ok(r) = http
                            .post(format!("{base}/api/v1/reports"))
                            .json(&report(&cid, n as usize))
                            .send()
                            .await
                        else {
                            return;
                        };
                        let Ok(body) = r.json::<Value>().await else {
                            return;
                        };
                        let id = body["id"].as_i64().unwrap();
                        photos.lock().await.held.entry(id).or_default();
                        current = Some(id);
                    }
                    let id = current.unwrap();
                    let seed = u32::try_from((round * UPLOADERS + u) * 10_000).unwrap() + n;
                    let sent = http
                        .post(format!("{base}/api/v1/reports/{id}/photos"))
                        .header(
                            reqwest::header::CONTENT_TYPE,
                            support_photos::multipart_content_type(),
                        )
                        .body(support_photos::multipart(&[support_photos::photo_part(
                            &distinct_photo(seed),
                        )]))
                        .send()
                        .await;
                    let body = answer(sent, &format!("upload to {id}")).await;
                    let mut p = photos.lock().await;
                    let Some(body) = body else {
                        p.in_flight.push(id);
                        return;
                    };
                    for photo in body["photos"].as_array().unwrap() {
                        p.held
                            .entry(id)
                            .or_default()
                            .insert(photo["id"].as_i64().unwrap(), urls_of(photo));
                    }
                    acked.fetch_add(1, Ordering::Relaxed);
                }
            })
        })
        .collect()
}

fn urls_of(photo: &Value) -> PhotoUrls {
    (
        photo["url"].as_str().unwrap().to_owned(),
        photo["full_url"].as_str().unwrap().to_owned(),
    )
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A photo file name as served: `{64 hex}-{full|display}.jpg`; its hash.
fn photo_hash(name: &str) -> Option<&str> {
    let hash = name
        .strip_suffix("-full.jpg")
        .or_else(|| name.strip_suffix("-display.jpg"))?;
    (hash.len() == 64 && hash.bytes().all(|b| b.is_ascii_hexdigit())).then_some(hash)
}

/// After a restart: every acknowledged photo is listed on its report and
/// served whole (the full-size file hashes to its name, the display file
/// decodes); a report holds beyond them at most the upload in flight at
/// the kill; the photo directory holds no partial upload, and a file no
/// photo row holds (an upload whose row never committed) is not served.
async fn assert_photos_survived(
    http: &reqwest::Client,
    base: &str,
    data_dir: &std::path::Path,
    photos: &mut Photos,
) {
    let in_flight = std::mem::take(&mut photos.in_flight);
    let mut served = BTreeSet::new();
    for (&id, held) in &mut photos.held {
        let r = get_ok(http, &format!("{base}/api/v1/reports/{id}/photos")).await;
        let listed: BTreeMap<i64, PhotoUrls> = r.json::<Value>().await.unwrap()["photos"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| (p["id"].as_i64().unwrap(), urls_of(p)))
            .collect();
        for (photo, urls) in held.iter() {
            assert_eq!(
                listed.get(photo),
                Some(urls),
                "acknowledged photo {photo} of {id} lost"
            );
        }
        let extra = listed.keys().filter(|p| !held.contains_key(p)).count();
        let sent = in_flight.iter().filter(|r| **r == id).count();
        assert!(
            extra <= sent,
            "report {id}: {extra} photos never acknowledged ({sent} in flight)"
        );
        for (photo, (display, full)) in listed {
            let body = get_ok(http, &format!("{base}{full}")).await;
            let bytes = body.bytes().await.unwrap();
            let name = full.rsplit('/').next().unwrap();
            let digest = <sha2::Sha256 as sha2::Digest>::digest(&bytes);
            assert_eq!(
                Some(hex(&digest).as_str()),
                photo_hash(name),
                "{full} is not whole"
            );
            let body = get_ok(http, &format!("{base}{display}")).await;
            let bytes = body.bytes().await.unwrap();
            image::load_from_memory_with_format(&bytes, image::ImageFormat::Jpeg)
                .unwrap_or_else(|e| panic!("{display} is not whole: {e}"));
            served.insert(photo_hash(name).unwrap().to_owned());
            held.insert(photo, (display, full));
        }
    }
    let dir = data_dir.join(civicmap::service::PHOTOS_DIR);
    for entry in std::fs::read_dir(&dir).unwrap() {
        let name = entry.unwrap().file_name().into_string().unwrap();
        let hash = photo_hash(&name)
            .unwrap_or_else(|| panic!("{name}: a partial upload left in the photo directory"));
        if !served.contains(hash) {
            let r = http
                .get(format!("{base}/photos/{name}"))
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 404, "orphan file {name} is served");
        }
    }
}

#[test]
fn every_acknowledged_photo_survives_repeated_sigkills_whole_and_no_partial_file_is_left() {
    let dir = tempfile::tempdir().unwrap();
    let key = create_key(dir.path(), "agent");
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let mut rng = Pcg64::seed_from_u64(SEED ^ 0xF0);
    runtime().block_on(async {
        let mut photos = Photos::default();
        for round in 0..=LIFECYCLE_ROUNDS {
            let http = client_with_key(&key, Duration::from_secs(30));
            let mut server = start_server(dir.path(), port);
            wait_healthy(&http, &base).await;
            if round > 0 {
                assert_photos_survived(&http, &base, dir.path(), &mut photos).await;
            }
            if round == LIFECYCLE_ROUNDS {
                server.kill().unwrap();
                server.wait().unwrap();
                break;
            }
            let at = rng.random_range(KILL_AFTER_UPLOADS);
            run_until_killed(&mut server, &mut photos, at, |shared, acked| {
                spawn_uploaders(&http, &base, round, shared, acked)
            })
            .await;
            // What a kill during a file's write leaves: a temporary file
            // holding part of a photo, never renamed.
            let partial = distinct_photo(u32::MAX);
            std::fs::write(
                dir.path()
                    .join(civicmap::service::PHOTOS_DIR)
                    .join(format!(".upload-{}-0.tmp", 4_000_000 + round)),
                &partial[..partial.len() / 2],
            )
            .unwrap();
        }
        let acknowledged: usize = photos.held.values().map(BTreeMap::len).sum();
        assert!(acknowledged >= KILL_AFTER_UPLOADS.start * LIFECYCLE_ROUNDS);
    });
}
