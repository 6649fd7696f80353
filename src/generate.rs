//! Synthetic report sets for benchmarks at 1M–10M reports whose spatial and
//! category mix follows the real DansMaRue sample: each synthetic report is a
//! real sample report (drawn uniformly, so categories, subcategories and
//! channels keep their joint frequencies and their places) moved by a small
//! random offset and given a random day in the sample's period.
//!
//! Deterministic: the same seed gives the same set.

use rand::{Rng, SeedableRng};
use rand_pcg::Pcg64Mcg;
use time::{Date, Duration, Month, PrimitiveDateTime, Time};

use crate::model::{Envelope, LonLat};
use crate::reference::DansMaRueRecord;

/// Standard deviation of the random offset, in metres (about a street block).
pub const JITTER_SD_M: f64 = 40.0;
const METRES_PER_DEGREE_LAT: f64 = 111_195.0;

/// A deterministic stream of synthetic records.
pub struct Generator<'a> {
    sample: &'a [DansMaRueRecord],
    rng: Pcg64Mcg,
    envelope: Envelope,
    first_day: Date,
    days: i64,
    seed: u64,
    next: u64,
}

impl<'a> Generator<'a> {
    /// A generator drawing from `sample` (must not be empty), keeping points
    /// inside `envelope`.
    #[must_use]
    pub fn new(sample: &'a [DansMaRueRecord], seed: u64, envelope: Envelope) -> Option<Self> {
        if sample.is_empty() {
            return None;
        }
        let first = sample.iter().map(|r| r.created_at.date()).min()?;
        let last = sample.iter().map(|r| r.created_at.date()).max()?;
        Some(Self {
            sample,
            rng: Pcg64Mcg::seed_from_u64(seed),
            envelope,
            first_day: first,
            days: (last - first).whole_days() + 1,
            seed,
            next: 0,
        })
    }

    fn gaussian(&mut self) -> f64 {
        // Box–Muller.
        let u1: f64 = self.rng.random_range(f64::EPSILON..1.0);
        let u2: f64 = self.rng.random();
        (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
    }
}

impl Iterator for Generator<'_> {
    type Item = DansMaRueRecord;

    fn next(&mut self) -> Option<DansMaRueRecord> {
        let base = &self.sample[self.rng.random_range(0..self.sample.len())];
        let p = base.location;
        let location = loop {
            let dlat = self.gaussian() * JITTER_SD_M / METRES_PER_DEGREE_LAT;
            let dlon = self.gaussian() * JITTER_SD_M
                / (METRES_PER_DEGREE_LAT * p.lat().to_radians().cos());
            if let Ok(q) = LonLat::new(p.lon() + dlon, p.lat() + dlat)
                && self.envelope.contains(q)
            {
                break q;
            }
        };
        let day = self.first_day + Duration::days(self.rng.random_range(0..self.days));
        let secs = self.rng.random_range(6 * 3600..22 * 3600);
        let time = Time::MIDNIGHT + Duration::seconds(secs);
        self.next += 1;
        Some(DansMaRueRecord {
            line: self.next + 1,
            id_dmr: format!("S{}-{}", self.seed, self.next),
            category_label: base.category_label.clone(),
            subcategory_label: base.subcategory_label.clone(),
            address: None,
            created_at: PrimitiveDateTime::new(day, time).assume_utc(),
            channel: base.channel,
            location,
        })
    }
}

/// Writes records in the DansMaRue CSV layout (the columns
/// [`crate::reference::parse_dansmarue`] reads), so `civicmap import reports`
/// loads them.
///
/// # Errors
/// Any IO error of the writer.
pub fn write_csv(
    out: impl std::io::Write,
    records: impl Iterator<Item = DansMaRueRecord>,
) -> std::io::Result<u64> {
    let mut w = csv::Writer::from_writer(out);
    w.write_record(crate::reference::DANSMARUE_COLUMNS)?;
    let mut n = 0;
    for r in records {
        let date = r.created_at.date();
        let prefixe = match r.channel {
            crate::model::Channel::Android => "Android",
            crate::model::Channel::Ios => "IOPage DMR Paris.fr application",
            crate::model::Channel::Web => "Page DMR Paris.fr",
            crate::model::Channel::BackOffice => "Back Office",
        };
        w.write_record([
            r.id_dmr.as_str(),
            &r.category_label,
            &r.subcategory_label,
            r.address.as_deref().unwrap_or(""),
            &format!(
                "{:04}-{:02}-{:02}",
                date.year(),
                u8::from(date.month()),
                date.day()
            ),
            prefixe,
            &format!("{:.7}", r.location.lat()),
            &format!("{:.7}", r.location.lon()),
        ])?;
        n += 1;
    }
    w.flush()?;
    Ok(n)
}

/// The first day of the sample, for tests.
#[must_use]
pub fn sample_start() -> Date {
    Date::from_calendar_date(2023, Month::July, 17).unwrap_or(Date::MIN)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::PARIS_ENVELOPE;
    use crate::reference::{DANSMARUE_SAMPLE_CSV, parse_dansmarue};

    #[test]
    fn the_same_seed_gives_the_same_reports_and_they_stay_in_paris() {
        let (sample, _) = parse_dansmarue(DANSMARUE_SAMPLE_CSV).unwrap();
        let a: Vec<_> = Generator::new(&sample, 7, PARIS_ENVELOPE)
            .unwrap()
            .take(2_000)
            .collect();
        let b: Vec<_> = Generator::new(&sample, 7, PARIS_ENVELOPE)
            .unwrap()
            .take(2_000)
            .collect();
        assert_eq!(a, b);
        assert!(a.iter().all(|r| PARIS_ENVELOPE.contains(r.location)));
        assert!(a.iter().all(|r| r.created_at.date() >= sample_start()));
    }

    #[test]
    fn the_category_mix_follows_the_sample() {
        let (sample, _) = parse_dansmarue(DANSMARUE_SAMPLE_CSV).unwrap();
        let n = 20_000;
        let synthetic = Generator::new(&sample, 1, PARIS_ENVELOPE).unwrap().take(n);
        let share = |it: &mut dyn Iterator<Item = &str>, total: usize| {
            it.filter(|c| *c == "Objets abandonnés").count() as f64 / total as f64
        };
        let real = share(
            &mut sample.iter().map(|r| r.category_label.as_str()),
            sample.len(),
        );
        let synth: Vec<_> = synthetic.collect();
        let fake = share(&mut synth.iter().map(|r| r.category_label.as_str()), n);
        assert!(
            (real - fake).abs() < 0.02,
            "real {real:.3} synthetic {fake:.3}"
        );
    }

    #[test]
    fn generated_csv_reads_back_with_the_dansmarue_parser() {
        let (sample, _) = parse_dansmarue(DANSMARUE_SAMPLE_CSV).unwrap();
        let recs: Vec<_> = Generator::new(&sample, 3, PARIS_ENVELOPE)
            .unwrap()
            .take(100)
            .collect();
        let mut buf = Vec::new();
        assert_eq!(write_csv(&mut buf, recs.clone().into_iter()).unwrap(), 100);
        let (back, rejected) = parse_dansmarue(buf.as_slice()).unwrap();
        assert!(rejected.is_empty(), "{rejected:?}");
        assert_eq!(back.len(), 100);
        for (a, b) in recs.iter().zip(&back) {
            assert_eq!(a.id_dmr, b.id_dmr);
            assert_eq!(a.category_label, b.category_label);
            assert!(a.location.distance_m(b.location) < 0.05);
        }
    }
}
