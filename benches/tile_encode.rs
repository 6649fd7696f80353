//! Encoding a reports tile: 1,000 points with 6 properties each (id, kind,
//! category slug among 50, status among 8, creation day, supports) in one
//! z15 tile of Paris, by the direct writer (`civicmap::tiles::TileWriter`)
//! and by the `mvt` crate; gzip of the result by libdeflate (what civicmap
//! serves) and by zlib-rs (flate2) at several levels; projection
//! of the points; clipping the arrondissements for a district tile.
//! Target for the whole uncached tile, compression included: ≤ 300 µs.
//!
//! `cargo bench --bench tile_encode -- --warm-up-time 1 --measurement-time 3`
//!
//! With `TILE_BENCH_CLOCK=cpu` the same benches are timed in thread CPU time
//! (`CLOCK_THREAD_CPUTIME_ID`), under group names ending in `_cpu`: on a
//! machine shared with other builds, wall time also counts the time other
//! processes held the core.
//!
//! Medians: `target/criterion/<group>/<bench>/new/estimates.json`.

use std::hint::black_box;

mod support;

use civicmap::districts::{LayerMeta, LayerSpec, parse_geojson_layer};
use civicmap::model::{Layer, LonLat};
use civicmap::reference::ARRONDISSEMENTS_GEOJSON;
use civicmap::tiles::mvt::gzip_level;
use civicmap::tiles::{
    BUFFER, EXTENT, TileId, TileTransform, TileWriter, Value, clip_and_simplify,
};
use criterion::Criterion;
use criterion::measurement::Measurement;
use rand::{Rng, SeedableRng};
use rand_pcg::Pcg64;

// The service's allocator, which changes allocation-heavy encoders a lot.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Seed of the generated reports, fixed so that runs compare.
const SEED: u64 = 0x711E_5EED;
/// Points in the tile (a busy z15 tile of the city).
const POINTS: usize = 1_000;
/// Distinct category slugs (DansMaRue has about 50).
const CATEGORIES: usize = 50;
/// Distinct creation days (two years).
const DAYS: usize = 730;
/// The tile: z15 around the Hôtel de Ville.
const TILE_LON_LAT: (f64, f64) = (2.3522, 48.8566);
const TILE_ZOOM: u8 = 15;
/// Zoom of the district tile (a few arrondissements, cut by its edges).
const DISTRICT_ZOOM: u8 = 13;
/// Initial buffer of the direct writer: room for the reports tile.
const TILE_CAPACITY_BYTES: usize = 64 * 1024;
/// Simplification of district outlines, tile units.
const DISTRICT_TOLERANCE_PX: f64 = 1.0;

/// gzip levels compared (libdeflate's level 1 is what tiles are served with;
/// zlib-rs's level 1 is its `deflate_quick`).
const GZIP_LEVELS: [u32; 3] = [1, 2, 6];

/// Brotli at `quality` (0–11), with a 4 MiB window.
fn brotli_quality(tile: &[u8], quality: u32) -> Vec<u8> {
    let mut out = Vec::with_capacity(tile.len() / 2);
    let params = brotli::enc::BrotliEncoderParams {
        quality: quality as i32,
        lgwin: 22,
        ..Default::default()
    };
    brotli::BrotliCompress(&mut &tile[..], &mut out, &params).expect("in memory");
    out
}

/// gzip by zlib-rs (flate2), for comparison.
fn gzip_zlib_rs(tile: &[u8], level: u32) -> Vec<u8> {
    use std::io::Write as _;
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::new(level));
    e.write_all(tile).expect("in memory");
    e.finish().expect("in memory")
}

const KINDS: [&str; 2] = ["anomaly", "suggestion"];
const STATUSES: [&str; 8] = [
    "new",
    "acknowledged",
    "planned",
    "in_progress",
    "resolved",
    "rejected",
    "duplicate",
    "archived",
];

struct Report {
    id: u64,
    lon: f64,
    lat: f64,
    xy: (i32, i32),
    kind: &'static str,
    category: usize,
    status: &'static str,
    day: usize,
    supports: i64,
}

struct Fixture {
    transform: TileTransform,
    reports: Vec<Report>,
    categories: Vec<String>,
    days: Vec<String>,
}

fn fixture() -> Fixture {
    let tile = TileId::containing(
        LonLat::new(TILE_LON_LAT.0, TILE_LON_LAT.1).expect("valid"),
        TILE_ZOOM,
    );
    let transform = TileTransform::new(tile);
    let b = tile.bounds();
    let mut rng = Pcg64::seed_from_u64(SEED);
    let reports = (0..POINTS)
        .map(|i| {
            let lon = rng.random_range(b.min_lon..b.max_lon);
            let lat = rng.random_range(b.min_lat..b.max_lat);
            Report {
                id: 2_000_000 + i as u64,
                lon,
                lat,
                xy: transform.project(lon, lat),
                kind: KINDS[usize::from(rng.random_bool(0.2))],
                // Skewed: a few categories hold most reports.
                category: (rng.random_range(0.0..1.0f64).powi(3) * CATEGORIES as f64) as usize,
                status: STATUSES[rng.random_range(0..STATUSES.len())],
                day: rng.random_range(0..DAYS),
                supports: (rng.random_range(0.0..1.0f64).powi(4) * 60.0) as i64,
            }
        })
        .collect();
    Fixture {
        transform,
        reports,
        categories: (0..CATEGORIES)
            .map(|i| format!("categorie-{i:02}-encombrants"))
            .collect(),
        days: (0..DAYS)
            .map(|d| format!("2024-{:02}-{:02}", 1 + d / 61 % 12, 1 + d % 28))
            .collect(),
    }
}

fn encode_direct(f: &Fixture) -> Vec<u8> {
    let mut tile = TileWriter::with_capacity(TILE_CAPACITY_BYTES);
    let mut layer = tile.layer("reports", EXTENT);
    for r in &f.reports {
        layer.point(
            Some(r.id),
            r.xy,
            &[
                ("id", Value::Uint(r.id)),
                ("kind", Value::Str(r.kind)),
                ("category", Value::Str(&f.categories[r.category])),
                ("status", Value::Str(r.status)),
                ("created", Value::Str(&f.days[r.day])),
                ("supports", Value::Int(r.supports)),
            ],
        );
    }
    layer.finish();
    tile.finish()
}

fn encode_mvt_crate(f: &Fixture) -> Vec<u8> {
    let mut tile = mvt::Tile::new(EXTENT);
    let mut layer = tile.create_layer("reports");
    for r in &f.reports {
        let geometry = mvt::GeomEncoder::new(mvt::GeomType::Point)
            .point(r.xy.0, r.xy.1)
            .and_then(mvt::GeomEncoder::encode)
            .expect("a point encodes");
        let mut feature = layer.into_feature(geometry);
        feature.set_id(r.id);
        feature.add_tag_uint("id", r.id);
        feature.add_tag_string("kind", r.kind);
        feature.add_tag_string("category", &f.categories[r.category]);
        feature.add_tag_string("status", r.status);
        feature.add_tag_string("created", &f.days[r.day]);
        feature.add_tag_sint("supports", r.supports);
        layer = feature.into_layer();
    }
    tile.add_layer(layer).expect("one layer");
    tile.to_bytes().expect("encodes")
}

fn bench<M: Measurement>(c: &mut Criterion<M>, clock: &str) {
    let f = fixture();
    let direct = encode_direct(&f);
    let theirs = encode_mvt_crate(&f);
    eprintln!(
        "tile of {POINTS} points: direct writer {} bytes, mvt crate {} bytes; gzip level 1/6: libdeflate {}/{} bytes, zlib-rs {}/{} bytes",
        direct.len(),
        theirs.len(),
        gzip_level(&direct, 1).len(),
        gzip_level(&direct, 6).len(),
        gzip_zlib_rs(&direct, 1).len(),
        gzip_zlib_rs(&direct, 6).len(),
    );
    eprintln!(
        "brotli quality 0/1/4: {}/{}/{} bytes",
        brotli_quality(&direct, 0).len(),
        brotli_quality(&direct, 1).len(),
        brotli_quality(&direct, 4).len(),
    );

    let mut g = c.benchmark_group(format!("encode{clock}"));
    g.bench_function("direct_1000_points", |b| {
        b.iter(|| encode_direct(black_box(&f)));
    });
    g.bench_function("mvt_crate_1000_points", |b| {
        b.iter(|| encode_mvt_crate(black_box(&f)));
    });
    g.finish();

    let mut g = c.benchmark_group(format!("gzip{clock}"));
    for level in GZIP_LEVELS {
        g.bench_function(format!("libdeflate_level_{level}"), |b| {
            b.iter(|| gzip_level(black_box(&direct), level));
        });
        g.bench_function(format!("zlib_rs_level_{level}"), |b| {
            b.iter(|| gzip_zlib_rs(black_box(&direct), level));
        });
    }
    // Brotli, for the "brotli if cheap" question: its fastest qualities.
    for quality in [0_u32, 1, 4] {
        g.bench_function(format!("brotli_quality_{quality}"), |b| {
            b.iter(|| brotli_quality(black_box(&direct), quality));
        });
    }
    g.finish();

    let mut g = c.benchmark_group(format!("tile{clock}"));
    g.bench_function("project_encode_gzip1_1000_points", |b| {
        b.iter(|| {
            let mut tile = TileWriter::with_capacity(TILE_CAPACITY_BYTES);
            let mut layer = tile.layer("reports", EXTENT);
            for r in &f.reports {
                layer.point(
                    Some(r.id),
                    f.transform.project(r.lon, r.lat),
                    &[
                        ("id", Value::Uint(r.id)),
                        ("kind", Value::Str(r.kind)),
                        ("category", Value::Str(&f.categories[r.category])),
                        ("status", Value::Str(r.status)),
                        ("created", Value::Str(&f.days[r.day])),
                        ("supports", Value::Int(r.supports)),
                    ],
                );
            }
            layer.finish();
            gzip_level(&tile.finish(), 1)
        });
    });
    g.bench_function("project_1000_points", |b| {
        b.iter(|| {
            f.reports
                .iter()
                .map(|r| f.transform.project(black_box(r.lon), black_box(r.lat)))
                .fold(0i64, |acc, (x, y)| acc + i64::from(x) + i64::from(y))
        });
    });

    let meta = LayerMeta::new(Layer::Arrondissement, "2021", "bench");
    let spec = LayerSpec::new(meta, "c_arinsee", "l_aroff");
    let districts = parse_geojson_layer(&spec, ARRONDISSEMENTS_GEOJSON).expect("shipped layer");
    let district_tile = TileTransform::new(TileId::containing(
        LonLat::new(TILE_LON_LAT.0, TILE_LON_LAT.1).expect("valid"),
        DISTRICT_ZOOM,
    ));
    g.bench_function("clip_encode_20_arrondissements_z13", |b| {
        b.iter(|| {
            let mut tile = TileWriter::new();
            let mut layer = tile.layer("districts", EXTENT);
            for d in &districts {
                if let Some(clipped) = clip_and_simplify(
                    &d.geometry,
                    black_box(&district_tile),
                    BUFFER,
                    DISTRICT_TOLERANCE_PX,
                ) {
                    layer.polygon(None, &clipped.0, &[("code", Value::Str(&d.code))]);
                }
            }
            layer.finish();
            tile.finish()
        });
    });
    g.finish();
}

fn main() {
    support::run_with_clock(|c| bench(c, ""), |c| bench(c, "_cpu"));
}
