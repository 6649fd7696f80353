//! Drawing uncached tiles over 1M reports, compression included: the
//! issue's targets are a z15 point tile (~1,000 points) ≤ 300 µs and a
//! low-zoom hexagon tile ≤ 1 ms.
//!
//! `cargo bench --bench tiles` (`TILE_BENCH_CLOCK=cpu` times thread CPU
//! time instead of wall time, for a machine shared with other work)
//!
//! Dataset: `civicmap generate`'s synthetic set (seed 42: the spatial and
//! category mix of the DansMaRue sample), the shipped Paris districts and
//! no projects. Tiles are taken at the positions of random reports (seed 42),
//! so they are where the data is; the bench prints the mean feature count.
#![allow(clippy::unwrap_used)]

mod support;

use criterion::Criterion;
use criterion::measurement::Measurement;
use rand::{Rng, SeedableRng};
use rand_pcg::Pcg64Mcg;
use std::hint::black_box;

use civicmap::boot::paris_files;
use civicmap::districts::{DEFAULT_WORKING_CLASS_THRESHOLD, DistrictRegistry};
use civicmap::model::{CategoryId, Layer, LonLat, Status, Taxonomy};
use civicmap::reference::TAXONOMY_CSV;
use civicmap::spatial::{ProjectFilter, ProjectIndex, ReportFilter, ReportIndex, ReportSummary};
use civicmap::tiles::{
    BUFFER, DistrictBoxes, GZIP_LEVEL, Sources, TileId, TileLayer, TileQuery, TileSettings, draw,
};

const REPORTS: usize = 1_000_000;
const SEED: u64 = 42;

fn summaries(n: usize) -> Vec<ReportSummary> {
    support::synthetic_summaries(n, SEED, 4)
}

fn query(layers: Vec<TileLayer>, reports: ReportFilter) -> TileQuery {
    TileQuery {
        layers,
        reports,
        projects: ProjectFilter::default(),
        district_layer: Layer::Arrondissement,
        district_date: None,
        aggregate_reports: false,
    }
}

fn bench<M: Measurement>(c: &mut Criterion<M>, clock: &str) {
    let all = summaries(REPORTS);
    let positions: Vec<LonLat> = all.iter().map(|s| s.location).collect();
    let index = ReportIndex::bulk_load(all);
    let projects = ProjectIndex::new(Vec::new());
    let districts =
        DistrictRegistry::paris_defaults(&paris_files(), DEFAULT_WORKING_CLASS_THRESHOLD).unwrap();
    let boxes = DistrictBoxes::new(&districts);
    let taxonomy = Taxonomy::from_csv(TAXONOMY_CSV).unwrap();
    let src = Sources {
        reports: &index,
        projects: &projects,
        districts: &districts,
        district_boxes: &boxes,
        taxonomy: &taxonomy,
    };
    let settings = TileSettings::default();
    let mut rng = Pcg64Mcg::seed_from_u64(SEED);
    let mut tiles_at = |z: u8| -> Vec<TileId> {
        (0..256)
            .map(|_| TileId::containing(positions[rng.random_range(0..positions.len())], z))
            .collect()
    };
    let z15_dense = tiles_at(15);
    // The case: z15 tiles of about 1,000 points (700–1,300), drawn
    // from uniform positions over the city.
    let z15: Vec<TileId> = {
        let mut v = Vec::new();
        let mut rng = Pcg64Mcg::seed_from_u64(SEED + 1);
        while v.len() < 128 {
            let p =
                LonLat::new(rng.random_range(2.25..2.42), rng.random_range(48.82..48.90)).unwrap();
            let t = TileId::containing(p, 15);
            if (700..=1_300).contains(&index.count_in(&t.buffered_bounds(BUFFER))) {
                v.push(t);
            }
        }
        v
    };
    let z12 = tiles_at(12);
    let z10 = tiles_at(10);
    let reports = query(vec![TileLayer::Reports], ReportFilter::default());
    let mean = |tiles: &[TileId], q: &TileQuery| {
        tiles
            .iter()
            .map(|t| draw(src, &settings, *t, q).features)
            .sum::<usize>() as f64
            / tiles.len() as f64
    };
    eprintln!(
        "mean features: z15 points {:.0} (dense: {:.0}), z12 hexagons {:.0}, z10 hexagons {:.0}",
        mean(&z15, &reports),
        mean(&z15_dense, &reports),
        mean(&z12, &reports),
        mean(&z10, &reports)
    );

    let mut g = c.benchmark_group(format!("tiles_1m{clock}"));
    let gz = |bytes: &[u8]| civicmap::tiles::mvt::gzip_level(bytes, GZIP_LEVEL);
    let cases: [(&str, &[TileId], TileQuery); 7] = [
        ("z15_points_1k_gzip", &z15, reports.clone()),
        ("z15_points_dense_gzip", &z15_dense, reports.clone()),
        (
            "z15_points_category_gzip",
            &z15,
            query(
                vec![TileLayer::Reports],
                ReportFilter {
                    category: Some(CategoryId(3)),
                    ..Default::default()
                },
            ),
        ),
        ("z12_hexagons_gzip", &z12, reports.clone()),
        ("z10_hexagons_gzip", &z10, reports.clone()),
        (
            // Status is not in the maintained counts: the points are walked.
            "z12_hexagons_status_filter_gzip",
            &z12,
            query(
                vec![TileLayer::Reports],
                ReportFilter {
                    status: Some(Status::Done),
                    ..Default::default()
                },
            ),
        ),
        (
            "z12_reports_projects_districts_gzip",
            &z12,
            query(
                vec![
                    TileLayer::Reports,
                    TileLayer::Projects,
                    TileLayer::Districts,
                ],
                ReportFilter::default(),
            ),
        ),
    ];
    for (name, tiles, q) in &cases {
        let mut i = 0;
        g.bench_function(*name, |b| {
            b.iter(|| {
                i = (i + 1) % tiles.len();
                let t = draw(src, &settings, tiles[i], q);
                black_box(gz(&t.mvt))
            });
        });
    }
    g.finish();
}

fn main() {
    support::run_with_clock(|c| bench(c, ""), |c| bench(c, "_cpu"));
}
