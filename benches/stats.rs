//! Statistics over 1M reports (issue 5's targets): all 80 quartiers with
//! filters, citywide H3 at resolution 9, a 24-month series of one district,
//! public (k = 5, with suppression) and for analysts (unsuppressed); and
//! what keeping the running tallies costs a status change (`stats_1m_writes`:
//! the same changes on the index the reads ran on, its four tallied layers
//! built, and on a second index of the same reports that never answered a
//! statistic). The writes run after the reads: they change the data.
//!
//! `cargo bench --bench stats` (`TILE_BENCH_CLOCK=cpu` for thread CPU time).
//! The set: `civicmap generate`'s synthetic reports (places and days follow
//! the DansMaRue sample), attributed to the shipped districts; 60 % filed
//! with a contact by 200,000 residents, 40 % without; a third answered within
//! 0–72 h, a quarter done within 0–30 days.
#![allow(clippy::unwrap_used)]

mod support;

use std::hint::black_box;

use criterion::Criterion;
use criterion::measurement::Measurement;
use rand::{Rng, SeedableRng};
use rand_pcg::Pcg64Mcg;

use civicmap::boot::paris_files;
use civicmap::districts::{DEFAULT_WORKING_CLASS_THRESHOLD, DistrictRegistry};
use civicmap::model::{Channel, Kind, Layer, Status};
use civicmap::spatial::{ReportIndex, ReportSummary};
use civicmap::stats::{self, Filter, Interval, Options};

const REPORTS: usize = 1_000_000;
const SEED: u64 = 42;
const HOUR_MS: i64 = 3_600_000;

fn index(registry: &DistrictRegistry) -> ReportIndex {
    let mut rng = Pcg64Mcg::seed_from_u64(SEED);
    let all: Vec<ReportSummary> = support::synthetic_summaries(REPORTS, SEED, 0)
        .into_iter()
        .map(|s| {
            let date = civicmap::service::from_unix_ms(s.created_ms)
                .unwrap()
                .date();
            let answered = rng.random_bool(0.33);
            let done = answered && rng.random_bool(0.75);
            ReportSummary {
                districts: registry.attribute(s.location, date),
                channel: Channel::ALL[rng.random_range(0..4)],
                reporter: rng
                    .random_bool(0.6)
                    .then(|| rng.random_range(0..200_000_u64)),
                first_response_ms: answered
                    .then(|| s.created_ms + rng.random_range(0..72 * HOUR_MS)),
                status: if done { Status::Done } else { s.status },
                closed_ms: done.then(|| s.created_ms + rng.random_range(0..30 * 24 * HOUR_MS)),
                ..s
            }
        })
        .collect();
    ReportIndex::bulk_load(all)
}

fn seconds(date: &str) -> i64 {
    let d = time::Date::parse(date, &time::format_description::well_known::Iso8601::DATE).unwrap();
    d.midnight().assume_utc().unix_timestamp()
}

/// A status change of a random report (the lifecycle's hot write: the row
/// leaves one status cell of every tally for another), cycling through
/// `new`, `to_process`, `done` (closed, answered) and `rejected`.
fn change_status(index: &mut ReportIndex, rng: &mut Pcg64Mcg) {
    let id = rng.random_range(1..=REPORTS as i64);
    let mut s = index.get(id).unwrap();
    let next = match s.status {
        Status::New => Status::ToProcess,
        Status::ToProcess => Status::Done,
        Status::Done => Status::Rejected,
        _ => Status::New,
    };
    s.status = next;
    s.closed_ms = (!next.is_open()).then(|| s.created_ms + rng.random_range(0..30 * 24 * HOUR_MS));
    if next != Status::New {
        s.first_response_ms.get_or_insert(s.created_ms + HOUR_MS);
    }
    index.upsert(&s);
}

/// Status changes timed one by one: the pauses criterion's means hide (a
/// change that makes the writer rebuild a reporter set holds the index's
/// write lock that much longer).
const TIMED_CHANGES: usize = 300_000;

fn writes<M: Measurement>(c: &mut Criterion<M>, index: &mut ReportIndex, name: &str) {
    let mut rng = Pcg64Mcg::seed_from_u64(7);
    let mut each: Vec<u64> = (0..TIMED_CHANGES)
        .map(|_| {
            let t = std::time::Instant::now();
            change_status(index, &mut rng);
            u64::try_from(t.elapsed().as_nanos()).unwrap_or(u64::MAX)
        })
        .collect();
    each.sort_unstable();
    let at = |p: f64| each[((each.len() as f64 * p) as usize).min(each.len() - 1)] as f64 / 1e3;
    eprintln!(
        "{name}: {TIMED_CHANGES} changes one by one: p50 {:.1} µs, p99 {:.1} µs, p99.9 {:.1} µs, max {:.1} µs, {} over 1 ms",
        at(0.5),
        at(0.99),
        at(0.999),
        at(1.0),
        each.iter().filter(|n| **n > 1_000_000).count()
    );
    let mut g = c.benchmark_group("stats_1m_writes");
    g.bench_function(name, |b| b.iter(|| change_status(index, &mut rng)));
    g.finish();
}

fn bench<M: Measurement>(
    c: &mut Criterion<M>,
    registry: &DistrictRegistry,
    (index, untouched): (&mut ReportIndex, &mut ReportIndex),
) {
    reads(c, registry, index);
    writes(c, index, "status_change_with_four_layers_tallied");
    writes(c, untouched, "status_change_before_any_statistic");
}

fn reads<M: Measurement>(c: &mut Criterion<M>, registry: &DistrictRegistry, index: &ReportIndex) {
    let facts = index.facts();
    let quartiers: Vec<u32> = registry.districts(Layer::Quartier, None).collect();
    let public = Options {
        k: Some(5),
        resolved_within_days: 7,
        categories: 10,
    };
    let analyst = Options { k: None, ..public };
    let half_year = Filter {
        from_s: Some(seconds("2024-01-01")),
        to_s: Some(seconds("2024-07-01")),
        kind: Some(Kind::Anomaly),
        ..Filter::default()
    };
    let district = registry
        .by_code(
            Layer::Arrondissement,
            "75111",
            time::macros::date!(2024 - 01 - 01),
        )
        .unwrap();
    let two_years = Filter {
        from_s: Some(seconds("2023-01-01")),
        to_s: Some(seconds("2025-01-01")),
        district: Some((Layer::Arrondissement, district)),
        ..Filter::default()
    };
    // Builds the tallies of every tallied layer (quartiers last, printed).
    for layer in [
        Layer::Arrondissement,
        Layer::ConseilQuartier,
        Layer::WorkingClass,
    ] {
        let all: Vec<u32> = registry.districts(layer, None).collect();
        black_box(stats::by_district(facts, layer, &all, &half_year, public));
    }
    let t = stats::by_district(facts, Layer::Quartier, &quartiers, &half_year, public);
    eprintln!(
        "{} quartiers; {} reports in the filter; {} quartier totals suppressed",
        t.districts.len(),
        t.city.reports.unwrap_or(0),
        t.districts.iter().filter(|d| d.1.suppressed()).count()
    );
    let bytes = facts.tally_heap_bytes();
    eprintln!(
        "running tallies, heap bytes by layer (arrondissement, quartier, conseil, IRIS, working-class): {bytes:?}, {:.1} per report",
        bytes.iter().sum::<usize>() as f64 / REPORTS as f64
    );
    let h = stats::hexagons(facts, &Filter::default(), 9, Some(5));
    eprintln!(
        "res 9: {} cells shown, {} of them roll-ups",
        h.len(),
        h.iter().filter(|x| x.remainder).count()
    );

    let mut g = c.benchmark_group("stats_1m");
    g.sample_size(20);
    g.bench_function("quartiers_80_half_year_anomalies_public", |b| {
        b.iter(|| {
            black_box(stats::by_district(
                facts,
                Layer::Quartier,
                &quartiers,
                &half_year,
                public,
            ))
        })
    });
    g.bench_function("quartiers_80_half_year_anomalies_analyst", |b| {
        b.iter(|| {
            black_box(stats::by_district(
                facts,
                Layer::Quartier,
                &quartiers,
                &half_year,
                analyst,
            ))
        })
    });
    // A filter the tallies have no dimension for: a scan of the rows.
    let one_category = Filter {
        category: Some(civicmap::model::CategoryId(3)),
        ..half_year.clone()
    };
    g.bench_function("quartiers_80_half_year_one_category_public_scan", |b| {
        b.iter(|| {
            black_box(stats::by_district(
                facts,
                Layer::Quartier,
                &quartiers,
                &one_category,
                public,
            ))
        })
    });
    g.bench_function("quartiers_80_everything_public", |b| {
        b.iter(|| {
            black_box(stats::by_district(
                facts,
                Layer::Quartier,
                &quartiers,
                &Filter::default(),
                public,
            ))
        })
    });
    g.bench_function("h3_res9_city_public", |b| {
        b.iter(|| black_box(stats::hexagons(facts, &Filter::default(), 9, Some(5))))
    });
    g.bench_function("h3_res9_city_analyst", |b| {
        b.iter(|| black_box(stats::hexagons(facts, &Filter::default(), 9, None)))
    });
    g.bench_function("series_24_months_one_arrondissement_public", |b| {
        b.iter(|| black_box(stats::series(facts, &two_years, Interval::Month, public).unwrap()))
    });
    g.bench_function("series_24_months_one_arrondissement_analyst", |b| {
        b.iter(|| black_box(stats::series(facts, &two_years, Interval::Month, analyst).unwrap()))
    });
    g.finish();
}

fn main() {
    let registry =
        DistrictRegistry::paris_defaults(&paris_files(), DEFAULT_WORKING_CLASS_THRESHOLD).unwrap();
    let indexes = std::cell::RefCell::new((index(&registry), index(&registry)));
    support::run_with_clock(
        |c| {
            let (a, b) = &mut *indexes.borrow_mut();
            bench(c, &registry, (a, b));
        },
        |c| {
            let (a, b) = &mut *indexes.borrow_mut();
            bench(c, &registry, (a, b));
        },
    );
}
