//! Attribution of one point to its districts over all five Paris layers
//! (target: ≤ 2 µs median), for random points in Paris's bounding box and for
//! the positions of the DansMaRue sample; brute force for comparison; and
//! the cost of loading the shipped layers.
//!
//! `cargo bench --bench districts -- --warm-up-time 1 --measurement-time 3`

use std::hint::black_box;

use civicmap::districts::{
    ARRONDISSEMENTS_FILE, CONSEILS_DE_QUARTIER_FILE, DistrictRegistry, IRIS_FILE, POPULATION_FILE,
    ParisFiles, QUARTIERS_FILE, paris_defaults,
};
use civicmap::model::LonLat;
use criterion::{Criterion, criterion_group, criterion_main};
use rand::{Rng, SeedableRng};
use rand_pcg::Pcg64;
use time::Date;
use time::macros::date;

/// Seed of the random points, fixed so that runs compare.
const SEED: u64 = 0x0C1C_3A9D;
/// Number of random points cycled through (enough to defeat the caches'
/// luck, few enough to build quickly).
const RANDOM_POINTS: usize = 100_000;
/// Paris's bounding box, including the Bois de Boulogne and de Vincennes.
const PARIS_LON: (f64, f64) = (2.2241, 2.4698);
const PARIS_LAT: (f64, f64) = (48.8156, 48.9022);
/// Date of attribution (the shipped versions are valid at every date).
const DAY: Date = date!(2024 - 06 - 01);
const DANSMARUE_FILE: &str = "paris_dansmarue_echantillon_api_2023_2024.csv";

fn read(name: &str) -> String {
    let path = format!("{}/data/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

struct Files {
    arrondissements: String,
    quartiers: String,
    conseils: String,
    iris: String,
    population: String,
}

impl Files {
    fn read() -> Self {
        Files {
            arrondissements: read(ARRONDISSEMENTS_FILE),
            quartiers: read(QUARTIERS_FILE),
            conseils: read(CONSEILS_DE_QUARTIER_FILE),
            iris: read(IRIS_FILE),
            population: read(POPULATION_FILE),
        }
    }

    fn paris(&self) -> ParisFiles<'_> {
        ParisFiles {
            arrondissements: &self.arrondissements,
            quartiers: &self.quartiers,
            conseils_quartier: &self.conseils,
            iris: &self.iris,
            population: &self.population,
        }
    }
}

fn random_points() -> Vec<LonLat> {
    let mut rng = Pcg64::seed_from_u64(SEED);
    (0..RANDOM_POINTS)
        .map(|_| {
            let lon = rng.random_range(PARIS_LON.0..PARIS_LON.1);
            let lat = rng.random_range(PARIS_LAT.0..PARIS_LAT.1);
            LonLat::new(lon, lat).expect("inside the box")
        })
        .collect()
}

fn dansmarue_points() -> Vec<LonLat> {
    let text = read(DANSMARUE_FILE);
    let mut reader = csv::Reader::from_reader(text.as_bytes());
    let headers = reader.headers().expect("header").clone();
    let col = |name: &str| headers.iter().position(|h| h == name).expect("column");
    let (lat, lon) = (col("latitude"), col("longitude"));
    reader
        .records()
        .map(|r| {
            let r = r.expect("row");
            LonLat::new(r[lon].parse().expect("lon"), r[lat].parse().expect("lat"))
                .expect("position")
        })
        .collect()
}

/// Benches attributing the points one at a time, cycling through them.
fn cycle(
    c: &mut Criterion,
    name: &str,
    points: &[LonLat],
    f: impl Fn(LonLat) -> civicmap::model::Districts,
) {
    c.bench_function(name, |b| {
        let mut i = 0;
        b.iter(|| {
            i = if i + 1 == points.len() { 0 } else { i + 1 };
            f(black_box(points[i]))
        });
    });
}

fn benches(c: &mut Criterion) {
    let files = Files::read();
    let registry: DistrictRegistry = paris_defaults(&files.paris()).expect("shipped files load");
    let random = random_points();
    let dansmarue = dansmarue_points();

    cycle(
        c,
        "attribute_5_layers/random_points_in_paris",
        &random,
        |p| registry.attribute(p, DAY),
    );
    cycle(c, "attribute_5_layers/dansmarue_points", &dansmarue, |p| {
        registry.attribute(p, DAY)
    });
    cycle(
        c,
        "attribute_brute_force_5_layers/random_points_in_paris",
        &random,
        |p| registry.attribute_brute_force(p, DAY),
    );

    let mut group = c.benchmark_group("load");
    group.sample_size(10);
    group.bench_function("paris_defaults", |b| {
        b.iter(|| paris_defaults(black_box(&files.paris())).expect("loads"))
    });
    group.finish();
}

criterion_group!(districts, benches);
criterion_main!(districts);
