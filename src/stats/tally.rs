//! Running tallies of the fact table per district and calendar month, kept
//! by every change of a row, so that a statistic over whole months reads a
//! few thousand tallies instead of a million rows.
//!
//! A layer's tallies are built on the first query that can use them (like
//! the district postings of [`Facts`]) and from then on kept exactly: an
//! insert adds its row, a replacement removes the old row and adds the new
//! one (a status change, a first response, a report done or reopened), a
//! support count moves by its difference. Nothing is recomputed per request.
//!
//! What a tally holds: per kind × status × answered × category, the number
//! of reports; per kind, the supports and the minutes to first response and
//! to `done` of each report that has them (so medians, p90 and "resolved
//! within N days" stay exact for any N). What it does not hold: reporters.
//! So tallies answer analysts' (unsuppressed) statistics; a published
//! statistic, which needs the distinct reporters of each cell, still scans
//! the rows, as do filters the tallies have no dimension for (category,
//! channel, status, campaign) and time ranges that do not start and end at
//! a month boundary (UTC). IRIS (about a thousand districts, 4 bytes per
//! month and combination each) is not tallied.

use std::collections::HashMap;

use time::{Date, Month, OffsetDateTime};

use super::facts::{Facts, NONE, unpack_category, unpack_kind, unpack_status};
use super::query::{Filter, Group, Options, merge};
use crate::model::{Kind, Layer, Status};

const KINDS: usize = Kind::ALL.len();
const STATUSES: usize = Status::ALL.len();

/// Calendar month (UTC) of a filing second, counted from January 1970.
#[must_use]
pub(crate) fn month_of(s: u32) -> u32 {
    let t = OffsetDateTime::from_unix_timestamp(i64::from(s)).unwrap_or(OffsetDateTime::UNIX_EPOCH);
    let months = (t.year() - 1970) * 12 + i32::from(u8::from(t.month())) - 1;
    u32::try_from(months).unwrap_or(0)
}

/// The first second of month `m` ([`month_of`]).
#[must_use]
pub(crate) fn month_start_s(m: u32) -> i64 {
    let year = 1970 + i32::try_from(m / 12).unwrap_or(0);
    let month = Month::try_from(u8::try_from(m % 12 + 1).unwrap_or(1)).unwrap_or(Month::January);
    Date::from_calendar_date(year, month, 1)
        .map_or(0, |d| d.midnight().assume_utc().unix_timestamp())
}

/// The months `[from, to)` that a time range covers exactly, when it starts
/// and ends at month boundaries (an open end: every month).
fn whole_months(filter: &Filter) -> Option<(u32, u32)> {
    let month = |s: i64| -> Option<u32> {
        let m = month_of(u32::try_from(s).ok()?);
        (month_start_s(m) == s).then_some(m)
    };
    let from = match filter.from_s {
        None => 0,
        Some(s) => month(s)?,
    };
    let to = match filter.to_s {
        None => u32::MAX,
        Some(s) => month(s)?,
    };
    (from < to).then_some((from, to))
}

/// Whether tallies can answer `filter` with `opts`: unsuppressed, and no
/// filter but whole months and a kind (and the district of a series).
fn usable(filter: &Filter, opts: Options) -> Option<(u32, u32)> {
    let plain = Filter {
        from_s: filter.from_s,
        to_s: filter.to_s,
        kind: filter.kind,
        district: filter.district,
        ..Filter::default()
    };
    if opts.k.is_some() || *filter != plain {
        return None;
    }
    whole_months(filter)
}

/// What one row adds to its tally.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct RowTally {
    district: u32,
    month: u32,
    kind: usize,
    status: usize,
    category: usize,
    first: u32,
    done: u32,
    supports: u32,
}

impl RowTally {
    /// The row at `i`, its district in `layer`.
    pub(crate) fn of(facts: &Facts, layer: usize, i: usize) -> Self {
        Self {
            district: facts.districts[layer][i],
            ..Self::of_row(facts, i)
        }
    }

    /// The row at `i` without its district (read once for every layer).
    pub(crate) fn of_row(facts: &Facts, i: usize) -> Self {
        let flags = facts.flags[i];
        Self {
            district: NONE,
            month: month_of(facts.created_s[i]),
            kind: unpack_kind(flags),
            status: unpack_status(flags),
            category: unpack_category(flags),
            first: facts.first_response[i],
            done: facts.resolution[i],
            supports: facts.supports[i],
        }
    }
}

/// The tally of one district (or of the reports in none) in one month.
#[derive(Debug, Clone, Default)]
pub(crate) struct Tally {
    /// By kind, status, answered (0) or not (1), category.
    counts: Vec<u32>,
    supports: [u64; KINDS],
    /// Minutes to the first response of each answered report, by kind.
    first: [Vec<u32>; KINDS],
    /// Minutes to `done` of each report done at a known time, by kind.
    done: [Vec<u32>; KINDS],
}

/// Removes one value equal to `v` (order does not matter).
fn remove_value(values: &mut Vec<u32>, v: u32) {
    if let Some(at) = values.iter().position(|x| *x == v) {
        values.swap_remove(at);
    }
}

/// The tallies of one layer.
#[derive(Debug, Clone)]
pub(crate) struct LayerTallies {
    /// Categories counted (a row of a category beyond cannot be added: the
    /// caller drops the tallies, to be rebuilt wider).
    cats: usize,
    months: HashMap<(u32, u32), Tally>,
}

impl LayerTallies {
    /// Whether `layer` is tallied (see the module docs).
    pub(crate) fn tallied(layer: usize) -> bool {
        layer != Layer::Iris.index()
    }

    pub(crate) fn build(facts: &Facts, layer: usize) -> Self {
        let cats = facts
            .flags
            .iter()
            .map(|f| unpack_category(*f) + 1)
            .max()
            .unwrap_or(0);
        let mut t = Self {
            cats,
            months: HashMap::new(),
        };
        for i in 0..facts.len() {
            let added = t.add(&RowTally::of(facts, layer, i));
            debug_assert!(added, "categories are counted up to the largest");
        }
        t
    }

    fn at(&self, r: &RowTally, answered: usize) -> usize {
        ((r.kind * STATUSES + r.status) * 2 + answered) * self.cats + r.category
    }

    /// Adds a row; `false` when its category is beyond the tallied ones.
    #[must_use]
    pub(crate) fn add(&mut self, r: &RowTally) -> bool {
        if r.category >= self.cats {
            return false;
        }
        let at = self.at(r, usize::from(r.first == NONE));
        let size = KINDS * STATUSES * 2 * self.cats;
        let t = self.months.entry((r.district, r.month)).or_default();
        if t.counts.is_empty() {
            t.counts = vec![0; size];
        }
        t.counts[at] += 1;
        t.supports[r.kind] += u64::from(r.supports);
        if r.first != NONE {
            t.first[r.kind].push(r.first);
        }
        if r.done != NONE {
            t.done[r.kind].push(r.done);
        }
        true
    }

    /// Removes a row that was added.
    pub(crate) fn remove(&mut self, r: &RowTally) {
        let at = self.at(r, usize::from(r.first == NONE));
        let Some(t) = self.months.get_mut(&(r.district, r.month)) else {
            return;
        };
        if let Some(c) = t.counts.get_mut(at) {
            *c = c.saturating_sub(1);
        }
        t.supports[r.kind] = t.supports[r.kind].saturating_sub(u64::from(r.supports));
        if r.first != NONE {
            remove_value(&mut t.first[r.kind], r.first);
        }
        if r.done != NONE {
            remove_value(&mut t.done[r.kind], r.done);
        }
    }

    /// Moves a row's supports from `old` to `new`.
    /// The same row in district `district` of this layer.
    pub(crate) fn in_district(r: &RowTally, district: u32) -> RowTally {
        RowTally { district, ..*r }
    }

    pub(crate) fn set_supports(&mut self, r: &RowTally, old: u32, new: u32) {
        if let Some(t) = self.months.get_mut(&(r.district, r.month)) {
            t.supports[r.kind] =
                (t.supports[r.kind] + u64::from(new)).saturating_sub(u64::from(old));
        }
    }

    /// Adds tally `t` into `g`: the kinds `kind` allows.
    fn fold(&self, t: &Tally, g: &mut Group, kind: Option<usize>, within_min: u32) {
        for k in (0..KINDS).filter(|k| kind.is_none_or(|x| x == *k)) {
            let mut total = 0_u64;
            for status in 0..STATUSES {
                for answered in 0..2 {
                    let base = ((k * STATUSES + status) * 2 + answered) * self.cats;
                    for (cat, n) in t.counts[base..base + self.cats].iter().enumerate() {
                        if *n == 0 {
                            continue;
                        }
                        let n = u64::from(*n);
                        total += n;
                        g.by_status[status].count += n;
                        g.responded[answered].count += n;
                        if let Some(c) = g.by_category.get_mut(cat) {
                            c.count += n;
                        }
                    }
                }
            }
            let in_time = t.done[k].iter().filter(|m| **m <= within_min).count() as u64;
            g.total.count += total;
            g.by_kind[k].count += total;
            g.resolved_within[0].count += in_time;
            g.resolved_within[1].count += total - in_time;
            g.supports += t.supports[k];
            g.first_response_min.extend_from_slice(&t.first[k]);
            g.resolution_min.extend_from_slice(&t.done[k]);
        }
    }
}

/// The groups of [`super::grouped`] from the tallies of `layer`, each
/// district going to `group_of(district)` (kept when `< groups`), and their
/// sum; `None` when the tallies cannot answer (then the rows are scanned).
pub(crate) fn grouped(
    facts: &Facts,
    filter: &Filter,
    opts: Options,
    layer: Layer,
    groups: usize,
    group_of: &impl Fn(u32) -> usize,
) -> Option<(Vec<Group>, Group)> {
    let any_district = Filter {
        district: None,
        ..filter.clone()
    };
    let months = usable(&any_district, opts)?;
    let tallies = facts.tallies(layer.index())?;
    Some(collect(tallies, filter, opts, months, groups, |d, _| {
        Some(group_of(d))
    }))
}

/// The groups of a monthly series from the tallies: bucket `b` for the
/// month starting at `starts[b]` (ascending month starts); `None` when the
/// tallies cannot answer.
pub(crate) fn monthly(
    facts: &Facts,
    filter: &Filter,
    opts: Options,
    starts: &[i64],
) -> Option<(Vec<Group>, Group)> {
    let months = usable(filter, opts)?;
    let (layer, district) = match filter.district {
        Some((layer, d)) => (layer, Some(d)),
        // Every row is in exactly one tally of a layer: the city is the sum
        // of the arrondissements' tallies and those of the reports in none.
        None => (Layer::Arrondissement, None),
    };
    let tallies = facts.tallies(layer.index())?;
    Some(collect(
        tallies,
        filter,
        opts,
        months,
        starts.len(),
        |d, m| {
            if district.is_some_and(|x| x != d) {
                return None;
            }
            // Monthly buckets start at month starts: a month outside them has
            // no bucket.
            starts.binary_search(&month_start_s(m)).ok()
        },
    ))
}

/// Folds every tally of months `[from, to)` into group `group_of(district,
/// month)` (left out when `None` or `>= groups`), of the kind `filter`
/// asks for; returns the groups and their sum.
fn collect(
    tallies: &LayerTallies,
    filter: &Filter,
    opts: Options,
    (from, to): (u32, u32),
    groups: usize,
    group_of: impl Fn(u32, u32) -> Option<usize>,
) -> (Vec<Group>, Group) {
    let within_min = opts.resolved_within_days.saturating_mul(24 * 60);
    let kind = filter.kind.map(super::facts::kind_index);
    let mut out: Vec<Group> = (0..groups).map(|_| Group::new(opts.categories)).collect();
    for ((d, m), t) in &tallies.months {
        if *m < from || *m >= to {
            continue;
        }
        if let Some(g) = group_of(*d, *m).and_then(|g| out.get_mut(g)) {
            tallies.fold(t, g, kind, within_min);
        }
    }
    let mut whole = Group::new(opts.categories);
    for g in &out {
        merge(&mut whole, g, 0);
    }
    (out, whole)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{CategoryId, Channel, Districts};
    use crate::stats::Fact;
    use crate::stats::acc::accumulate;
    use crate::stats::query::Compiled;
    use rand::{Rng, SeedableRng};

    const MONTH0: u32 = 54 * 12; // January 2024

    fn fact(rng: &mut impl Rng) -> Fact {
        let created_ms = month_start_s(MONTH0) * 1_000 + rng.random_range(0..400 * 86_400_000_i64);
        let answered = rng.random_bool(0.4);
        let status = Status::ALL[rng.random_range(0..Status::ALL.len())];
        let d = |rng: &mut dyn rand::RngCore| {
            let x: u32 = rng.random_range(0..5);
            (x < 4).then_some(x)
        };
        Fact {
            created_ms,
            kind: Kind::ALL[rng.random_range(0..KINDS)],
            category: CategoryId(rng.random_range(0..10)),
            channel: Channel::Web,
            status,
            districts: Districts([d(rng), d(rng), d(rng), d(rng), d(rng)]),
            h3: 0,
            reporter: rng.random_range(0..50),
            first_response_ms: answered.then(|| created_ms + rng.random_range(0..9_000_000)),
            closed_ms: (!status.is_open())
                .then(|| created_ms + rng.random_range(0..40 * 86_400_000_i64)),
            campaign: None,
            supports: rng.random_range(0..3),
        }
    }

    /// Durations in a comparable order.
    fn sorted(mut groups: Vec<Group>) -> Vec<Group> {
        for g in &mut groups {
            g.first_response_min.sort_unstable();
            g.resolution_min.sort_unstable();
        }
        groups
    }

    fn filters() -> Vec<Filter> {
        let m = |i: u32| Some(month_start_s(MONTH0 + i));
        vec![
            Filter::default(),
            Filter {
                from_s: m(2),
                to_s: m(8),
                ..Filter::default()
            },
            Filter {
                from_s: m(0),
                to_s: m(13),
                kind: Some(Kind::Anomaly),
                ..Filter::default()
            },
            Filter {
                from_s: m(5),
                kind: Some(Kind::Contribution),
                ..Filter::default()
            },
        ]
    }

    #[test]
    fn tallies_kept_through_inserts_replacements_and_supports_equal_a_scan_of_the_rows() {
        let mut rng = rand_pcg::Pcg64Mcg::seed_from_u64(5);
        let mut facts = Facts::default();
        let opts = Options {
            k: None,
            resolved_within_days: 3,
            categories: 10,
        };
        for step in 0..2_000_usize {
            let f = fact(&mut rng);
            match step % 7 {
                // A report changed (status, first response, closing time,
                // even its districts), an older report inserted in the
                // middle, a support count; mostly new reports.
                0 | 1 if !facts.is_empty() => {
                    let pos = rng.random_range(0..facts.len());
                    let keep = Fact {
                        created_ms: i64::from(facts.created_s[pos]) * 1_000,
                        ..f
                    };
                    facts.replace(pos, &keep);
                }
                2 if !facts.is_empty() => facts.insert(rng.random_range(0..facts.len()), &f),
                3 if !facts.is_empty() => {
                    let pos = rng.random_range(0..facts.len());
                    facts.set_supports(pos, rng.random_range(0..9));
                }
                _ => facts.insert(facts.len(), &f),
            }
            if step % 97 != 0 {
                continue;
            }
            for filter in filters() {
                for layer in [Layer::Arrondissement, Layer::WorkingClass] {
                    let group_of = |d: u32| if d == NONE { 4 } else { d as usize };
                    let (tallied, whole) =
                        grouped(&facts, &filter, opts, layer, 5, &group_of).expect("tallied");
                    let col = facts.districts[layer.index()].clone();
                    let (scanned, scanned_whole) = accumulate(
                        &facts,
                        &Compiled::new(&facts, &filter),
                        5,
                        opts,
                        usize::MAX,
                        &|i| Some(group_of(col[i])),
                    );
                    assert_eq!(sorted(tallied), sorted(scanned), "{filter:?} {layer:?}");
                    assert_eq!(sorted(vec![whole]), sorted(vec![scanned_whole]));
                }
                let starts: Vec<i64> = (0..14).map(|i| month_start_s(MONTH0 + i)).collect();
                for district in [None, Some((Layer::Quartier, 2))] {
                    let f = Filter {
                        district,
                        ..filter.clone()
                    };
                    let Some((tallied, _)) = monthly(&facts, &f, opts, &starts) else {
                        panic!("tallied: {f:?}");
                    };
                    let (scanned, _) = accumulate(
                        &facts,
                        &Compiled::new(&facts, &f),
                        starts.len(),
                        opts,
                        usize::MAX,
                        &|i| {
                            let t = i64::from(facts.created_s[i]);
                            starts.partition_point(|s| *s <= t).checked_sub(1)
                        },
                    );
                    assert_eq!(sorted(tallied), sorted(scanned), "{f:?}");
                }
            }
        }
        // What tallies do not answer: reporters, other filters, part months, IRIS.
        let k = Options { k: Some(5), ..opts };
        let by_category = Filter {
            category: Some(CategoryId(1)),
            ..Filter::default()
        };
        let part_month = Filter {
            from_s: Some(month_start_s(MONTH0) + 1),
            ..Filter::default()
        };
        let one = |_: u32| 0;
        assert!(grouped(&facts, &Filter::default(), k, Layer::Quartier, 1, &one).is_none());
        assert!(grouped(&facts, &by_category, opts, Layer::Quartier, 1, &one).is_none());
        assert!(grouped(&facts, &part_month, opts, Layer::Quartier, 1, &one).is_none());
        assert!(grouped(&facts, &Filter::default(), opts, Layer::Iris, 1, &one).is_none());
    }

    #[test]
    fn months_count_from_january_1970_and_start_at_midnight_on_the_first() {
        assert_eq!(month_of(0), 0);
        // 2024-02-29T23:59:59Z and 2024-03-01T00:00:00Z.
        assert_eq!(month_of(1_709_251_199), 54 * 12 + 1);
        assert_eq!(month_of(1_709_251_200), 54 * 12 + 2);
        assert_eq!(month_start_s(54 * 12 + 2), 1_709_251_200);
        for m in [0, 11, 12, 659, 660, 1_000] {
            let s = u32::try_from(month_start_s(m)).unwrap();
            assert_eq!(month_of(s), m);
            if m > 0 {
                assert_eq!(month_of(s - 1), m - 1);
            }
        }
    }

    #[test]
    fn only_ranges_from_a_month_start_to_a_month_start_are_whole_months() {
        let march = month_start_s(54 * 12 + 2);
        let april = month_start_s(54 * 12 + 3);
        let f = |from: Option<i64>, to: Option<i64>| Filter {
            from_s: from,
            to_s: to,
            ..Filter::default()
        };
        assert_eq!(
            whole_months(&f(Some(march), Some(april))),
            Some((54 * 12 + 2, 54 * 12 + 3))
        );
        assert_eq!(whole_months(&f(None, None)), Some((0, u32::MAX)));
        assert_eq!(whole_months(&f(Some(march + 1), Some(april))), None);
        assert_eq!(whole_months(&f(Some(march), Some(april - 1))), None);
        assert_eq!(whole_months(&f(Some(april), Some(march))), None);
        assert_eq!(whole_months(&f(Some(-1), None)), None);
    }
}
