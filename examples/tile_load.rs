//! Tile load client: replays a realistic mix of map viewports against a
//! running civicmap and prints tiles/s and latency percentiles.
//!
//! ```text
//! # uncached: a server without tile cache
//! civicmap serve --data-dir DIR --tile-cache-mb 0 &
//! cargo run --release --example tile_load -- --viewports 2000 --clients 32
//! # cached: the same mix played twice, the second pass measured
//! civicmap serve --data-dir DIR &
//! cargo run --release --example tile_load -- --viewports 2000 --clients 32 --passes 2
//! ```
//!
//! The URL mix (fixed seed): a viewport is a 1280×800 px window centred on
//! a random report position of the DansMaRue-like synthetic set, at a zoom
//! drawn from 11–17 (weighted towards the city and street zooms); it asks
//! every 512 px tile covering the window, as MapLibre does, for two
//! sources: `reports` and `projects,districts`. One viewport in five filters
//! reports by kind.
#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use civicmap::config::PARIS_ENVELOPE;
use civicmap::generate::Generator;
use civicmap::reference::{DANSMARUE_SAMPLE_CSV, parse_dansmarue};
use rand::{Rng, SeedableRng};

mod support;

use clap::Parser;

/// Replays a viewport mix against a running civicmap and prints tiles/s and
/// latency percentiles.
#[derive(Parser)]
struct Args {
    /// Base URL of a running civicmap.
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    url: String,
    /// Concurrent clients.
    #[arg(long, default_value_t = 32)]
    clients: usize,
    /// Viewports in the mix.
    #[arg(long, default_value_t = 2_000)]
    viewports: usize,
    /// Times the mix is played (each pass measured).
    #[arg(long, default_value_t = 1)]
    passes: usize,
    /// Seed of the mix.
    #[arg(long, default_value_t = 42)]
    seed: u64,
}

/// Tile paths (with query) of one viewport.
fn viewport(z: u8, lon: f64, lat: f64, kind: Option<&str>) -> Vec<String> {
    let n = f64::from(1_u32 << z);
    let x = (lon + 180.0) / 360.0 * n;
    let y = (1.0 - lat.to_radians().tan().asinh() / std::f64::consts::PI) / 2.0 * n;
    // 1280×800 px of 512 px tiles: ±1.25 × ±0.78 tiles around the centre.
    let (x0, x1) = ((x - 1.25).floor() as u32, (x + 1.25).floor() as u32);
    let (y0, y1) = ((y - 0.78).floor() as u32, (y + 0.78).floor() as u32);
    let query = kind.map(|k| format!("?kind={k}")).unwrap_or_default();
    let mut out = Vec::new();
    for tx in x0..=x1 {
        for ty in y0..=y1 {
            out.push(format!("/tiles/reports/{z}/{tx}/{ty}.mvt{query}"));
            out.push(format!("/tiles/projects,districts/{z}/{tx}/{ty}.mvt"));
        }
    }
    out
}

#[tokio::main]
async fn main() {
    let args = Args::parse();
    let (sample, _) = parse_dansmarue(DANSMARUE_SAMPLE_CSV).unwrap();
    let mut rng = rand_pcg::Pcg64Mcg::seed_from_u64(args.seed);
    let zooms = [11_u8, 12, 13, 13, 14, 14, 15, 15, 16, 17];
    let urls: Vec<String> = Generator::new(&sample, args.seed, PARIS_ENVELOPE)
        .unwrap()
        .take(args.viewports)
        .flat_map(|r| {
            let z = zooms[rng.random_range(0..zooms.len())];
            let kind = match rng.random_range(0..10) {
                0 => Some("anomaly"),
                1 => Some("contribution"),
                _ => None,
            };
            viewport(z, r.location.lon(), r.location.lat(), kind)
        })
        .map(|path| format!("{}{path}", args.url))
        .collect();
    let urls = Arc::new(urls);
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(args.clients)
        .build()
        .unwrap();
    for pass in 1..=args.passes {
        let next = Arc::new(AtomicUsize::new(0));
        let start = Instant::now();
        let mut tasks = Vec::new();
        for _ in 0..args.clients {
            let (http, urls, next) = (http.clone(), Arc::clone(&urls), Arc::clone(&next));
            tasks.push(tokio::spawn(async move {
                let (mut lat, mut errors, mut bytes, mut empty) =
                    (Vec::new(), 0_usize, 0_usize, 0_usize);
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= urls.len() {
                        break;
                    }
                    let t = Instant::now();
                    let r = http
                        .get(&urls[i])
                        .header("accept-encoding", "gzip")
                        .send()
                        .await;
                    match r {
                        Ok(resp) if resp.status() == 200 || resp.status() == 204 => {
                            empty += usize::from(resp.status() == 204);
                            bytes += resp.bytes().await.map_or(0, |b| b.len());
                            lat.push(t.elapsed());
                        }
                        _ => errors += 1,
                    }
                }
                (lat, errors, bytes, empty)
            }));
        }
        let mut all: Vec<Duration> = Vec::new();
        let (mut errors, mut bytes, mut empty) = (0, 0, 0);
        for t in tasks {
            let (l, e, b, m) = t.await.unwrap();
            all.extend(l);
            errors += e;
            bytes += b;
            empty += m;
        }
        let elapsed = start.elapsed();
        let (p50, p99, max) = support::percentiles_ms(&mut all);
        println!(
            "pass {pass}: {} tiles ({} empty, {:.1} KB mean) in {:.2} s by {} clients: {:.0} tiles/s; p50 {:.2} ms, p99 {:.2} ms, max {:.1} ms; {} errors",
            all.len(),
            empty,
            bytes as f64 / all.len().max(1) as f64 / 1e3,
            elapsed.as_secs_f64(),
            args.clients,
            all.len() as f64 / elapsed.as_secs_f64(),
            p50,
            p99,
            max,
            errors
        );
    }
}
