//! Time series: the statistics of a filter by day, week or month.

use time::{Date, Month, OffsetDateTime};

use super::StatsError;
use super::acc::{SPLIT_ROWS, accumulate};
use super::facts::Facts;
use super::query::{Compiled, Filter, Options, Published, publish_table};

/// Most buckets one series may have (ten years of days).
pub const MAX_BUCKETS: usize = 3_660;

/// Bucket width. Buckets are UTC calendar periods: days from midnight, weeks
/// from Monday (ISO 8601), months from the first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Interval {
    Day,
    Week,
    Month,
}

impl Interval {
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Interval::Day => "day",
            Interval::Week => "week",
            Interval::Month => "month",
        }
    }

    /// The start of the bucket holding `date`.
    fn floor(self, date: Date) -> Date {
        match self {
            Interval::Day => date,
            Interval::Week => {
                date - time::Duration::days(i64::from(date.weekday().number_days_from_monday()))
            }
            Interval::Month => date.replace_day(1).unwrap_or(date),
        }
    }

    fn next(self, date: Date) -> Option<Date> {
        match self {
            Interval::Day => date.next_day(),
            Interval::Week => date.checked_add(time::Duration::days(7)),
            Interval::Month => {
                let (y, m) = if date.month() == Month::December {
                    (date.year() + 1, Month::January)
                } else {
                    (date.year(), date.month().next())
                };
                Date::from_calendar_date(y, m, 1).ok()
            }
        }
    }
}

impl std::str::FromStr for Interval {
    type Err = ();
    fn from_str(s: &str) -> Result<Self, ()> {
        match s {
            "day" => Ok(Interval::Day),
            "week" => Ok(Interval::Week),
            "month" => Ok(Interval::Month),
            _ => Err(()),
        }
    }
}

/// A series: one bucket per period from the bucket holding its start to the
/// one holding its end, and the whole range.
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    /// (bucket start, seconds since 1970 UTC; figures).
    pub buckets: Vec<(i64, Published)>,
    pub total: Published,
}

fn date_of(s: i64) -> Result<Date, StatsError> {
    OffsetDateTime::from_unix_timestamp(s)
        .map(OffsetDateTime::date)
        .map_err(|_| StatsError::Range("time out of range"))
}

fn start_s(d: Date) -> i64 {
    d.midnight().assume_utc().unix_timestamp()
}

/// The series of `filter` (its time range bounds the buckets; without one,
/// the first and last matching reports do: for monthly buckets, the first
/// and last months with one, from the running tallies when they answer).
///
/// # Errors
/// [`StatsError::Range`] when the range needs more than [`MAX_BUCKETS`].
pub fn series(
    facts: &Facts,
    filter: &Filter,
    interval: Interval,
    opts: Options,
) -> Result<Series, StatsError> {
    let f = Compiled::new(facts, filter);
    let (from_s, to_s) = match (filter.from_s, filter.to_s) {
        (Some(a), Some(b)) => (a, b),
        (a, b) => {
            // Monthly buckets need only the months of the first and last
            // matching reports, which the tallies know.
            let tallied = match interval {
                Interval::Month => super::tally::span(facts, filter, opts),
                Interval::Day | Interval::Week => None,
            };
            let (mut lo, mut hi) = tallied.unwrap_or_else(|| {
                let (mut lo, mut hi) = (i64::MAX, i64::MIN);
                f.scan(facts, |i| {
                    let t = i64::from(facts.created_s[i]);
                    lo = lo.min(t);
                    hi = hi.max(t);
                });
                (lo, hi)
            });
            if lo > hi {
                (lo, hi) = (a.or(b).unwrap_or(0), a.or(b).unwrap_or(0));
            }
            (a.unwrap_or(lo), b.unwrap_or(hi + 1))
        }
    };
    let mut starts: Vec<i64> = Vec::new();
    if from_s < to_s {
        let mut d = interval.floor(date_of(from_s)?);
        let last = date_of(to_s - 1)?;
        while d <= last {
            if starts.len() >= MAX_BUCKETS {
                return Err(StatsError::Range(
                    "too many buckets: at most 3660 (shorten the range or widen the interval)",
                ));
            }
            starts.push(start_s(d));
            match interval.next(d) {
                Some(n) => d = n,
                None => break,
            }
        }
    }
    let tallied = match interval {
        Interval::Month => super::tally::monthly(facts, filter, opts, &starts),
        Interval::Day | Interval::Week => None,
    };
    let (groups, total) = tallied.unwrap_or_else(|| {
        accumulate(facts, &f, starts.len(), opts, SPLIT_ROWS, &|i| {
            let t = i64::from(facts.created_s[i]);
            if t < from_s || t >= to_s {
                return None;
            }
            starts.partition_point(|s| *s <= t).checked_sub(1)
        })
    });
    let (rows, total) = publish_table(groups, total, opts.k);
    Ok(Series {
        buckets: starts.into_iter().zip(rows).collect(),
        total,
    })
}
