//! Geocoder benchmarks: reverse lookups at random points in Paris, forward
//! lookups of a fixed sample of DansMaRue addresses, and building the
//! geocoder from the shipped BAN files.
//!
//! `cargo bench --bench geocode -- --warm-up-time 1 --measurement-time 3`

use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::time::Duration;

use civicmap::geocode::Geocoder;
use civicmap::model::LonLat;
use criterion::{Criterion, criterion_group, criterion_main};

/// Seed of the random query points.
const SEED: u64 = 0x5EED_0075;
/// Number of distinct random points cycled through by the reverse benchmark.
const REVERSE_POINTS: usize = 10_000;
/// Every `FORWARD_STRIDE`-th DansMaRue address is in the forward sample.
const FORWARD_STRIDE: usize = 20;
/// Search radius for reverse lookups, in metres.
const REVERSE_MAX_M: f64 = 150.0;
/// Bounding box of the BAN addresses of Paris (SOURCES.md section 8).
const PARIS_BBOX: [f64; 4] = [2.2257, 48.8157, 2.4695, 48.9021];

fn data(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("data")
        .join(name)
}

fn load() -> Geocoder {
    Geocoder::from_files(
        &data("paris_ban_adresses_75.csv.gz"),
        &data("paris_ban_voies_points_representatifs.csv"),
    )
    .expect("the shipped BAN files load")
}

/// SplitMix64: a small fixed-seed generator, so the points never change.
struct SplitMix(u64);

impl SplitMix {
    fn next_f64(&mut self) -> f64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        (z >> 11) as f64 / (1u64 << 53) as f64
    }
}

fn random_points() -> Vec<LonLat> {
    let mut rng = SplitMix(SEED);
    let [x0, y0, x1, y1] = PARIS_BBOX;
    (0..REVERSE_POINTS)
        .map(|_| {
            let lon = x0 + (x1 - x0) * rng.next_f64();
            let lat = y0 + (y1 - y0) * rng.next_f64();
            LonLat::new(lon, lat).expect("inside Paris")
        })
        .collect()
}

/// (address, INSEE code) of every `FORWARD_STRIDE`-th DansMaRue report.
fn forward_sample() -> Vec<(String, String)> {
    let mut rdr = csv::Reader::from_path(data("paris_dansmarue_echantillon_api_2023_2024.csv"))
        .expect("sample CSV");
    let headers = rdr.headers().expect("header").clone();
    let col = |name: &str| headers.iter().position(|h| h == name).expect("column");
    let (c_addr, c_post) = (col("adresse"), col("code_postal"));
    rdr.records()
        .step_by(FORWARD_STRIDE)
        .map(|r| {
            let r = r.expect("record");
            let post = &r[c_post];
            let code = if post == "75116" {
                post.to_owned()
            } else {
                post.replacen("750", "751", 1)
            };
            (r[c_addr].to_owned(), code)
        })
        .collect()
}

fn bench_geocoder(c: &mut Criterion) {
    let g = load();

    let points = random_points();
    let mut i = 0;
    c.bench_function("geocode/reverse_random_point_in_paris", |b| {
        b.iter(|| {
            let p = points[i % points.len()];
            i += 1;
            black_box(g.reverse(black_box(p), REVERSE_MAX_M))
        });
    });

    let sample = forward_sample();
    let mut j = 0;
    c.bench_function("geocode/forward_dansmarue_address_with_postcode", |b| {
        b.iter(|| {
            let (address, code) = &sample[j % sample.len()];
            j += 1;
            black_box(g.forward(black_box(address), &[code.as_str()], 5))
        });
    });

    let mut group = c.benchmark_group("geocode_load");
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(5));
    group.bench_function("from_files_158k_addresses", |b| {
        b.iter(|| black_box(load().len()))
    });
    group.finish();
}

criterion_group!(benches, bench_geocoder);
criterion_main!(benches);
