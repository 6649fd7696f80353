//! Flood scenario: does a flooding client slow the others down? Other
//! clients file reports at a steady pace, each request from a fresh client
//! address, first alone, then while flooders post from ONE address as fast
//! as the server answers (they get 429 after their quota). Prints the
//! others' latency in both phases and what the flood got.
//!
//! Client addresses are told to the server with `X-Forwarded-For`, so the
//! server must trust this host as a proxy:
//!
//! ```text
//! cargo run --release -- serve --no-seed --data-dir /tmp/cm-flood --trusted-proxy 127.0.0.1 &
//! cargo run --release --example flood -- --api-key "$(civicmap keys create --role app --name flood …)"
//! ```
#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use clap::Parser;
use serde_json::json;

mod support;

#[derive(Parser)]
struct Args {
    /// Base URL of a running civicmap that trusts this host as a proxy.
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    url: String,
    /// An API key of role `app`.
    #[arg(long, env = "CIVICMAP_API_KEY")]
    api_key: String,
    /// Flooding connections (all from one client address).
    #[arg(long, default_value_t = 32)]
    flooders: usize,
    /// Other clients, each pausing `pause_ms` between requests.
    #[arg(long, default_value_t = 8)]
    others: usize,
    #[arg(long, default_value_t = 20)]
    pause_ms: u64,
    /// Seconds of each phase.
    #[arg(long, default_value_t = 20)]
    seconds: u64,
}

fn body(tag: &str, i: usize) -> String {
    json!({
        "kind": "anomaly",
        "category": "objets_abandonnes",
        "subcategory": "autres_objets_encombrants_abandonnes",
        "description": "flood scenario",
        "lon": 2.30 + (i % 97) as f64 * 1e-3,
        "lat": 48.83 + (i % 89) as f64 * 6e-4,
        "client_id": format!("flood-{tag}-{}-{i}", std::process::id()),
        "channel": "android",
    })
    .to_string()
}

/// Runs the other clients for `secs` and returns their latencies (201s)
/// and the number of other answers.
async fn others(
    args: &Args,
    http: &reqwest::Client,
    phase: &str,
    next: &Arc<AtomicUsize>,
) -> (Vec<Duration>, usize) {
    let end = Instant::now() + Duration::from_secs(args.seconds);
    let mut tasks = Vec::new();
    for _ in 0..args.others {
        let (http, next, url, key, pause, phase) = (
            http.clone(),
            Arc::clone(next),
            format!("{}/api/v1/reports", args.url),
            args.api_key.clone(),
            Duration::from_millis(args.pause_ms),
            phase.to_owned(),
        );
        tasks.push(tokio::spawn(async move {
            let (mut lat, mut bad) = (Vec::new(), 0);
            while Instant::now() < end {
                let i = next.fetch_add(1, Ordering::Relaxed);
                // A fresh address per request (198.18.0.0/15): never over a quota.
                let addr = format!("198.18.{}.{}", (i >> 8) & 0xff, i & 0xff);
                let req = http
                    .post(&url)
                    .header("content-type", "application/json")
                    .header("x-forwarded-for", addr)
                    .bearer_auth(&key)
                    .body(body(&phase, i));
                match support::created_in(req).await {
                    Some(t) => lat.push(t),
                    None => bad += 1,
                }
                tokio::time::sleep(pause).await;
            }
            (lat, bad)
        }));
    }
    let (mut all, mut bad) = (Vec::new(), 0);
    for t in tasks {
        let (l, b) = t.await.unwrap();
        all.extend(l);
        bad += b;
    }
    (all, bad)
}

fn summary(phase: &str, lat: &mut [Duration], bad: usize) {
    let n = lat.len();
    let (p50, p99, max) = support::percentiles_ms(lat);
    println!(
        "{phase}: others filed {n} reports (201), p50 {p50:.1} ms, p99 {p99:.1} ms, max {max:.1} ms; {bad} other answers"
    );
}

#[tokio::main]
async fn main() {
    let args = Args::parse();
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(args.flooders + args.others)
        .build()
        .unwrap();
    let next = Arc::new(AtomicUsize::new(0));

    let (mut lat, bad) = others(&args, &http, "calm", &next).await;
    summary("alone", &mut lat, bad);

    let stop = Arc::new(AtomicBool::new(false));
    let counts: Arc<[AtomicUsize; 3]> = Arc::new(Default::default()); // 201, 429, other
    let mut flood = Vec::new();
    for f in 0..args.flooders {
        let (http, stop, counts, url, key) = (
            http.clone(),
            Arc::clone(&stop),
            Arc::clone(&counts),
            format!("{}/api/v1/reports", args.url),
            args.api_key.clone(),
        );
        flood.push(tokio::spawn(async move {
            let mut i = 0;
            while !stop.load(Ordering::Relaxed) {
                let r = http
                    .post(&url)
                    .header("content-type", "application/json")
                    .header("x-forwarded-for", "203.0.113.66")
                    .bearer_auth(&key)
                    .body(body(&format!("flooder{f}"), i))
                    .send()
                    .await;
                let slot = match r.as_ref().map(reqwest::Response::status) {
                    Ok(s) if s == 201 => 0,
                    Ok(s) if s == 429 => 1,
                    _ => 2,
                };
                counts[slot].fetch_add(1, Ordering::Relaxed);
                if let Ok(resp) = r {
                    let _ = resp.bytes().await;
                }
                i += 1;
            }
        }));
    }
    let start = Instant::now();
    let (mut lat, bad) = others(&args, &http, "flood", &next).await;
    stop.store(true, Ordering::Relaxed);
    for t in flood {
        t.await.unwrap();
    }
    let secs = start.elapsed().as_secs_f64();
    summary("under flood", &mut lat, bad);
    let [ok, limited, other] = &*counts;
    let (ok, limited, other) = (
        ok.load(Ordering::Relaxed),
        limited.load(Ordering::Relaxed),
        other.load(Ordering::Relaxed),
    );
    println!(
        "flood: {} requests in {secs:.1} s ({:.0}/s): {ok} × 201, {limited} × 429, {other} other",
        ok + limited + other,
        (ok + limited + other) as f64 / secs,
    );
}
