//! Shared by the benches: the synthetic report set.
#![allow(dead_code, clippy::unwrap_used)]

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
        })
        .collect()
}
