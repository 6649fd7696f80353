//! The in-process ingest path, without HTTP: `App::create_report` (validate,
//! reverse-geocode, attribute districts, H3, group-commit writer with one
//! fsync per batch, index update after COMMIT).
//!
//! - `ingest/create_report_one_at_a_time`: latency of one report when nobody
//!   else is writing (each iteration is its own transaction and fsync);
//! - `ingest/create_report_64_concurrent`: 64 `create_report` futures spawned
//!   at once on the runtime and awaited together, reported as reports/s
//!   (`Throughput::Elements(64)`): the batch the group commit shares one
//!   fsync among, as with 64 HTTP clients.
//!
//! The store is a fresh unseeded SQLite store in a temporary directory
//! (`$TMPDIR`, `/tmp` by default), so the fsync cost is that filesystem's.
//! Inputs follow the DansMaRue sample (fixed seed), each with a unique
//! client id, as the HTTP load client sends them.
//!
//! `cargo bench --bench ingest` (about 1 min; the timings are set below).
#![allow(clippy::unwrap_used)]

use std::hint::black_box;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use civicmap::config::PARIS_ENVELOPE;
use civicmap::generate::Generator;
use civicmap::reference::{DANSMARUE_SAMPLE_CSV, parse_dansmarue};
use civicmap::service::{App, NewReport};
use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};

mod support;

/// Seed of the synthetic inputs (positions, categories).
const SEED: u64 = 42;
/// Distinct inputs cycled through (client ids stay unique: a counter).
const INPUTS: usize = 20_000;
/// Concurrent `create_report` futures of the throughput bench.
const CONCURRENCY: usize = 64;

/// The input templates: kind, category and subcategory codes, position.
fn templates(app: &App) -> Vec<NewReport> {
    let (sample, _) = parse_dansmarue(DANSMARUE_SAMPLE_CSV).unwrap();
    let tax = &app.taxonomy;
    Generator::new(&sample, SEED, PARIS_ENVELOPE)
        .unwrap()
        .take(INPUTS)
        .map(|r| {
            let cat = tax.category_id(&r.category_label).unwrap();
            let sub = tax.subcategory_index(cat, &r.subcategory_label).unwrap();
            NewReport {
                kind: "anomaly".into(),
                category: tax.category(cat).code.clone(),
                subcategory: Some(tax.subcategory(cat, sub).unwrap().code.clone()),
                description: Some("bench ingest".into()),
                lon: Some(r.location.lon()),
                lat: Some(r.location.lat()),
                channel: Some("android".into()),
                ..NewReport::default()
            }
        })
        .collect()
}

/// Hands out inputs in turn, each with a fresh client id.
struct Inputs {
    templates: Vec<NewReport>,
    next: AtomicU64,
}

impl Inputs {
    fn next(&self) -> NewReport {
        let n = self.next.fetch_add(1, Ordering::Relaxed);
        let mut r = self.templates[(n % self.templates.len() as u64) as usize].clone();
        r.client_id = Some(format!("bench-{}-{n}", std::process::id()));
        r
    }
}

fn bench(c: &mut Criterion) {
    // The runtime outlives every iteration: the group-commit writer runs on
    // it.
    let (rt, app, _dir) = support::unseeded_app();
    let inputs = Inputs {
        templates: templates(&app),
        next: AtomicU64::new(0),
    };

    let mut g = c.benchmark_group("ingest");
    g.warm_up_time(Duration::from_secs(2))
        .measurement_time(Duration::from_secs(15))
        .sample_size(30);

    g.throughput(Throughput::Elements(1));
    g.bench_function("create_report_one_at_a_time", |b| {
        b.iter_batched(
            || inputs.next(),
            |input| {
                let created = rt.block_on(app.create_report(input)).unwrap();
                assert!(created.created);
                black_box(created.report.id)
            },
            BatchSize::SmallInput,
        );
    });

    g.throughput(Throughput::Elements(CONCURRENCY as u64));
    g.bench_function("create_report_64_concurrent", |b| {
        b.iter_batched(
            || (0..CONCURRENCY).map(|_| inputs.next()).collect::<Vec<_>>(),
            |batch| {
                rt.block_on(async {
                    let tasks: Vec<_> = batch
                        .into_iter()
                        .map(|input| {
                            let app = Arc::clone(&app);
                            tokio::spawn(async move { app.create_report(input).await })
                        })
                        .collect();
                    let mut last = 0;
                    for t in tasks {
                        let created = t.await.unwrap().unwrap();
                        assert!(created.created);
                        last = created.report.id;
                    }
                    black_box(last)
                })
            },
            BatchSize::SmallInput,
        );
    });
    g.finish();

    let stored = app.reports().len();
    eprintln!("ingest bench: {stored} reports in the index at the end");
    drop(app);
    drop(rt);
}

criterion_group!(benches, bench);
criterion_main!(benches);
