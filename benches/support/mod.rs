//! Shared by the benches: the synthetic report set, and a thread-CPU-time
//! clock for criterion (`TILE_BENCH_CLOCK=cpu`).
#![allow(dead_code, clippy::unwrap_used)]

use criterion::Criterion;
use criterion::measurement::{Measurement, ValueFormatter, WallTime};

use civicmap::config::PARIS_ENVELOPE;
use civicmap::generate::Generator;
use civicmap::model::{CategoryId, Districts, Kind, Status};
use civicmap::reference::{DANSMARUE_SAMPLE_CSV, parse_dansmarue};
use civicmap::spatial::{ReportSummary, h3_cell};

/// `n` summaries of `civicmap generate`'s synthetic set (positions and
/// dates follow the DansMaRue sample), ids 1..=n; a third are contributions,
/// categories cycle over 10, and every `closed_every`-th report is done
/// (`0`: none).
pub fn synthetic_summaries(n: usize, seed: u64, closed_every: usize) -> Vec<ReportSummary> {
    let (sample, _) = parse_dansmarue(DANSMARUE_SAMPLE_CSV).unwrap();
    Generator::new(&sample, seed, PARIS_ENVELOPE)
        .unwrap()
        .take(n)
        .enumerate()
        .map(|(i, r)| ReportSummary {
            id: i as i64 + 1,
            location: r.location,
            kind: if i % 3 == 0 {
                Kind::Contribution
            } else {
                Kind::Anomaly
            },
            category: CategoryId((i % 10) as u16),
            status: if closed_every > 0 && i % closed_every == 0 {
                Status::Done
            } else {
                Status::New
            },
            created_ms: r.created_at.unix_timestamp() * 1000,
            h3: h3_cell(r.location),
            districts: Districts::default(),
            closed_ms: None,
            channel: civicmap::model::Channel::Web,
            reporter: None,
            first_response_ms: None,
        })
        .collect()
}

/// Thread CPU time in nanoseconds, as a criterion measurement.
pub struct ThreadCpu;

fn thread_cpu_ns() -> u64 {
    let t = rustix::time::clock_gettime(rustix::time::ClockId::ThreadCPUTime);
    u64::try_from(t.tv_sec).unwrap_or(0) * 1_000_000_000 + u64::try_from(t.tv_nsec).unwrap_or(0)
}

impl Measurement for ThreadCpu {
    type Intermediate = u64;
    type Value = u64;

    fn start(&self) -> u64 {
        thread_cpu_ns()
    }

    fn end(&self, start: u64) -> u64 {
        thread_cpu_ns().saturating_sub(start)
    }

    fn add(&self, a: &u64, b: &u64) -> u64 {
        a + b
    }

    fn zero(&self) -> u64 {
        0
    }

    fn to_f64(&self, value: &u64) -> f64 {
        *value as f64
    }

    fn formatter(&self) -> &dyn ValueFormatter {
        &Nanoseconds
    }
}

/// Formats nanoseconds as criterion does for wall time.
pub struct Nanoseconds;

impl ValueFormatter for Nanoseconds {
    fn scale_values(&self, typical_ns: f64, values: &mut [f64]) -> &'static str {
        let (factor, unit) = if typical_ns < 1e3 {
            (1.0, "ns")
        } else if typical_ns < 1e6 {
            (1e-3, "µs")
        } else if typical_ns < 1e9 {
            (1e-6, "ms")
        } else {
            (1e-9, "s")
        };
        for v in values {
            *v *= factor;
        }
        unit
    }

    fn scale_throughputs(
        &self,
        _typical: f64,
        _throughput: &criterion::Throughput,
        _values: &mut [f64],
    ) -> &'static str {
        "ns"
    }

    fn scale_for_machines(&self, _values: &mut [f64]) -> &'static str {
        "ns"
    }
}

/// Runs `wall` with criterion's wall clock, or `cpu` with [`ThreadCpu`] when
/// `TILE_BENCH_CLOCK=cpu`, then prints criterion's summary.
pub fn run_with_clock(
    wall: impl FnOnce(&mut Criterion<WallTime>),
    cpu: impl FnOnce(&mut Criterion<ThreadCpu>),
) {
    if std::env::var_os("TILE_BENCH_CLOCK").is_some_and(|v| v == "cpu") {
        let mut c = Criterion::default()
            .with_measurement(ThreadCpu)
            .configure_from_args();
        cpu(&mut c);
        c.final_summary();
    } else {
        let mut c = Criterion::default().configure_from_args();
        wall(&mut c);
        c.final_summary();
    }
}

/// A runtime with two workers, as on the 2-core target, and an unseeded
/// application on a fresh SQLite store in a temporary directory (deleted
/// when the returned guard drops). The runtime must outlive every use of
/// the application: its group-commit writer runs there.
pub fn unseeded_app() -> (
    tokio::runtime::Runtime,
    std::sync::Arc<civicmap::service::App>,
    tempfile::TempDir,
) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut config = civicmap::config::Config::new(dir.path().to_path_buf());
    config.seed_reports = false;
    let app = std::sync::Arc::new(rt.block_on(civicmap::boot::open(config)).unwrap());
    (rt, app, dir)
}
