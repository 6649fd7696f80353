//! HTTP ingest load client: N concurrent clients post reports to a running
//! civicmap as fast as it acknowledges them (every 201 is a committed,
//! fsynced report), then prints throughput and latency percentiles.
//!
//! ```text
//! cargo run --release -- serve --no-seed --data-dir /tmp/cm-load \
//!     --address-reports-per-minute 0 --address-reports-per-day 0 &
//! cargo run --release --example ingest_load -- --url http://127.0.0.1:8080 --clients 64 --requests 200000
//! ```
//! Positions and categories follow the real DansMaRue sample (fixed seed).
//! Every client posts from this host's one address, with an app key: the
//! per-address filing quotas must be lifted as above (they would answer 429
//! after 20 reports).
#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use civicmap::config::PARIS_ENVELOPE;
use civicmap::generate::Generator;
use civicmap::reference::{DANSMARUE_SAMPLE_CSV, parse_dansmarue};
use serde_json::json;

mod support;

use clap::Parser;

/// Posts generated reports from concurrent clients and prints reports/s and
/// latency percentiles.
#[derive(Parser)]
struct Args {
    /// Base URL of a running civicmap.
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    url: String,
    /// Concurrent clients.
    #[arg(long, default_value_t = 64)]
    clients: usize,
    /// Reports to post in all.
    #[arg(long, default_value_t = 100_000)]
    requests: usize,
    /// Seed of the generated reports.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// An API key of role `app` (`civicmap keys create --role app --name load`).
    #[arg(long, env = "CIVICMAP_API_KEY")]
    api_key: String,
}

#[tokio::main]
async fn main() {
    let args = Args::parse();
    let taxonomy = civicmap::model::Taxonomy::from_csv(civicmap::reference::TAXONOMY_CSV).unwrap();
    let (sample, _) = parse_dansmarue(DANSMARUE_SAMPLE_CSV).unwrap();
    let bodies: Vec<String> = Generator::new(&sample, args.seed, PARIS_ENVELOPE)
        .unwrap()
        .take(args.requests)
        .enumerate()
        .map(|(i, r)| {
            let cat = taxonomy.category_id(&r.category_label).unwrap();
            let sub = taxonomy
                .subcategory_index(cat, &r.subcategory_label)
                .unwrap();
            json!({
                "kind": "anomaly",
                "category": taxonomy.category(cat).code,
                "subcategory": taxonomy.subcategory(cat, sub).unwrap().code,
                "description": "load test",
                "lon": r.location.lon(),
                "lat": r.location.lat(),
                "client_id": format!("load-{}-{}-{i}", args.seed, std::process::id()),
                "channel": "android",
            })
            .to_string()
        })
        .collect();
    let bodies = Arc::new(bodies);
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(args.clients)
        .build()
        .unwrap();
    let next = Arc::new(AtomicUsize::new(0));
    let url = format!("{}/api/v1/reports", args.url);
    let start = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..args.clients {
        let (http, bodies, next, url, key) = (
            http.clone(),
            Arc::clone(&bodies),
            Arc::clone(&next),
            url.clone(),
            args.api_key.clone(),
        );
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::new();
            let mut errors = 0_usize;
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= bodies.len() {
                    break;
                }
                let req = http
                    .post(&url)
                    .header("content-type", "application/json")
                    .bearer_auth(&key)
                    .body(bodies[i].clone());
                match support::created_in(req).await {
                    Some(t) => lat.push(t),
                    None => errors += 1,
                }
            }
            (lat, errors)
        }));
    }
    let mut all: Vec<Duration> = Vec::new();
    let mut errors = 0;
    for t in tasks {
        let (l, e) = t.await.unwrap();
        all.extend(l);
        errors += e;
    }
    let elapsed = start.elapsed();
    let (p50, p99, max) = support::percentiles_ms(&mut all);
    println!(
        "{} reports acknowledged (201) in {:.2} s by {} clients: {:.0} reports/s; p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms; {} errors",
        all.len(),
        elapsed.as_secs_f64(),
        args.clients,
        all.len() as f64 / elapsed.as_secs_f64(),
        p50,
        p99,
        max,
        errors
    );
}
