//! The in-memory report index: envelope queries the size of a z16 tile over
//! 1M reports, nearby (duplicate-hint) queries, bulk load, and one insert.
#![allow(clippy::unwrap_used)]

mod support;

use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use rand::{Rng, SeedableRng};
use rand_pcg::Pcg64Mcg;
use std::hint::black_box;

use civicmap::model::{Envelope, LonLat};
use civicmap::spatial::{ReportIndex, ReportSummary};

/// Reports in the index: the 1M target.
const REPORTS: usize = 1_000_000;
/// Fixed seed of the synthetic set and the query points.
const SEED: u64 = 42;

fn summaries(n: usize) -> Vec<ReportSummary> {
    support::synthetic_summaries(n, SEED, 0)
}

/// The lon/lat envelope of the z16 tile containing `p`.
fn z16_tile(p: LonLat) -> Envelope {
    let n = f64::from(1 << 16);
    let x = ((p.lon() + 180.0) / 360.0 * n).floor();
    let lat_r = p.lat().to_radians();
    let y =
        ((1.0 - (lat_r.tan() + 1.0 / lat_r.cos()).ln() / std::f64::consts::PI) / 2.0 * n).floor();
    let lon = |x: f64| x / n * 360.0 - 180.0;
    let lat = |y: f64| {
        (std::f64::consts::PI * (1.0 - 2.0 * y / n))
            .sinh()
            .atan()
            .to_degrees()
    };
    Envelope::new(lon(x), lat(y + 1.0), lon(x + 1.0), lat(y)).unwrap()
}

fn bench(c: &mut Criterion) {
    let all = summaries(REPORTS);
    let index = ReportIndex::bulk_load(all.clone());
    let mut rng = Pcg64Mcg::seed_from_u64(SEED);
    // Query at real report positions, so tiles are where the data is.
    let tiles: Vec<Envelope> = (0..1024)
        .map(|_| z16_tile(all[rng.random_range(0..all.len())].location))
        .collect();
    let avg: f64 = tiles.iter().map(|t| index.count_in(t) as f64).sum::<f64>() / tiles.len() as f64;
    eprintln!("z16 tiles hold {avg:.1} reports on average over {REPORTS} reports");

    let mut g = c.benchmark_group("index_1m");
    let mut i = 0;
    // What a tile reads: every report point of the tile, with the fields a
    // tile feature carries (id, kind, category, status, created).
    g.bench_function("z16_tile_envelope_query", |b| {
        b.iter(|| {
            i = (i + 1) % tiles.len();
            let mut n = 0_usize;
            index.for_each_point_in(&tiles[i], |p| {
                n += (p.id as usize & 1) + usize::from(p.status.is_open()) + p.category.0 as usize
            });
            black_box(n)
        });
    });
    // The same with each report's full summary (districts, H3) looked up.
    g.bench_function("z16_tile_full_summaries", |b| {
        b.iter(|| {
            i = (i + 1) % tiles.len();
            let mut n = 0_usize;
            index.for_each_in(&tiles[i], |s| n += s.id as usize & 1);
            black_box(n)
        });
    });
    g.bench_function("z16_tile_count_only", |b| {
        b.iter(|| {
            i = (i + 1) % tiles.len();
            black_box(index.count_in(&tiles[i]))
        });
    });
    let mut j = 0;
    g.bench_function("nearby_open_same_category_50m", |b| {
        b.iter(|| {
            j = (j + 7919) % all.len();
            let s = &all[j];
            black_box(index.within(s.location, 50.0, 10, |o| {
                o.category == s.category && o.status.is_open()
            }))
        });
    });
    g.bench_function("insert_one_report", |b| {
        b.iter_batched_ref(
            || ReportIndex::bulk_load(all[..10_000].to_vec()),
            |idx| idx.upsert(black_box(&all[10_000])),
            BatchSize::LargeInput,
        );
    });
    g.sample_size(10);
    g.bench_function("bulk_load_1m", |b| {
        b.iter(|| black_box(ReportIndex::bulk_load(all.clone())))
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
