//! Running tallies of the fact table per district and calendar month, kept
//! by every change of a row, so that a statistic over whole months reads a
//! few thousand tallies instead of a million rows.
//!
//! A layer's tallies are built on the first query that can use them (like
//! the district postings of [`Facts`]) and from then on kept exactly: an
//! insert adds its row, a replacement removes the old row and adds the new
//! one (a status change, a first response, a report done or reopened), a
//! support count moves by its difference, an erased contact moves its rows
//! to their new pseudonyms. Nothing is recomputed per request.
//!
//! What a tally holds, per kind: the number of reports by status × answered
//! × category; the supports; the minutes to first response and to `done`
//! of each report that has them (so medians, p90 and "resolved within N
//! days" stay exact for any N); and, for published (k-anonymous) figures,
//! the distinct reporters of each status, answered/not and category cell
//! ([`Kept`], at most twice the tally's k, with their rows so that a row can
//! leave), and the reporter of each `done` report. A cell's reporter set
//! that can no longer answer (more reporters than kept, and too many of the
//! kept ones gone) is rebuilt by the writer from the district's rows of that
//! month before the change is visible, so a query never meets one.
//!
//! Filters the tallies have no dimension for (category, channel, status,
//! campaign) and time ranges that do not start and end at a month boundary
//! (UTC) scan the rows. IRIS (about a thousand districts) is not tallied.

use std::collections::HashMap;

use time::{Date, Month, OffsetDateTime};

use super::facts::{Facts, NONE, status_index, unpack_category, unpack_kind, unpack_status};
use super::kanon::Reporters;
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

/// Whether tallies can answer `filter`: no filter but whole months and a
/// kind (and the district of a series).
fn usable(filter: &Filter) -> Option<(u32, u32)> {
    let plain = Filter {
        from_s: filter.from_s,
        to_s: filter.to_s,
        kind: filter.kind,
        district: filter.district,
        ..Filter::default()
    };
    if *filter != plain {
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
    reporter: u64,
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
            reporter: facts.reporter[i],
        }
    }

    /// The same row in district `district`.
    pub(crate) fn in_district(&self, district: u32) -> Self {
        Self { district, ..*self }
    }
}

/// One reporter of a cell and its number of rows there.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Entry {
    /// The reporter, in two halves (12 bytes an entry instead of 16).
    lo: u32,
    hi: u32,
    rows: u32,
}

impl Entry {
    fn reporter(self) -> u64 {
        u64::from(self.hi) << 32 | u64::from(self.lo)
    }
}

/// The reporters of one cell of a tally, each with its number of rows in the
/// cell, up to `max` of them.
///
/// Invariant: every entry is a reporter with that many rows in the cell
/// (fewer after an overflow, see below), and while `overflow` is false the
/// entries are all the cell's reporters. A reporter whose last row leaves is
/// removed. `overflow` is set when a reporter was not kept for want of room;
/// from then on the entries are some of the reporters (their counts may be
/// short, which only removes an entry early). So the set answers
/// `min(distinct reporters, k)` for `k <= max` exactly while it holds `k`
/// entries or has not overflowed; otherwise it cannot answer ([`Self::known`])
/// and its tally is rebuilt from the rows.
#[derive(Debug, Clone, Default)]
pub(crate) struct Kept {
    entries: Vec<Entry>,
    overflow: bool,
}

impl Kept {
    fn find(&self, reporter: u64) -> Option<usize> {
        #[allow(clippy::cast_possible_truncation)]
        let (lo, hi) = (reporter as u32, (reporter >> 32) as u32);
        self.entries.iter().position(|e| e.lo == lo && e.hi == hi)
    }

    fn add(&mut self, reporter: u64, max: usize) {
        match self.find(reporter) {
            Some(at) => self.entries[at].rows += 1,
            None if self.entries.len() < max => {
                // Room for this one only: at most 2k entries, and most sets
                // of a busy tally fill up (doubling would hold 16 for 10).
                self.entries.reserve_exact(1);
                #[allow(clippy::cast_possible_truncation)]
                self.entries.push(Entry {
                    lo: reporter as u32,
                    hi: (reporter >> 32) as u32,
                    rows: 1,
                });
            }
            None => self.overflow = true,
        }
    }

    /// Removes one row of `reporter`; returns whether the set still answers
    /// for `k` ([`Self::known`]).
    fn remove(&mut self, reporter: u64, k: usize) -> bool {
        if let Some(at) = self.find(reporter) {
            let e = &mut self.entries[at];
            e.rows -= 1;
            if e.rows == 0 {
                self.entries.swap_remove(at);
            }
        } else {
            debug_assert!(
                self.overflow,
                "a row of an untracked reporter left an exact set"
            );
        }
        self.known(k)
    }

    /// Whether it answers `min(distinct reporters, k)`.
    fn known(&self, k: usize) -> bool {
        !self.overflow || self.entries.len() >= k
    }

    /// Adds its reporters to `out` (capped at `k`).
    fn merge_into(&self, out: &mut Reporters, k: usize) {
        for e in &self.entries {
            if out.count() >= k {
                return;
            }
            out.add(e.reporter(), k);
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
    /// The reporter of each entry of `done`, in the same order.
    done_by: [Vec<u64>; KINDS],
    /// The reporter of each report done at an unknown time, by kind.
    undated: [Vec<u64>; KINDS],
    /// Reporters by kind, then status, answered/not, category
    /// ([`LayerTallies::set`]).
    kept: Vec<Kept>,
}

/// Removes one `v` (order does not matter); returns where it was.
fn remove_value<T: PartialEq>(values: &mut Vec<T>, v: &T) -> Option<usize> {
    let at = values.iter().position(|x| x == v)?;
    values.swap_remove(at);
    Some(at)
}

/// Reporter sets per kind of a tally counting `cats` categories: one per
/// status, answered and not, one per category.
fn sets_per_kind(cats: usize) -> usize {
    STATUSES + 2 + cats
}

/// The reporter sets of a tally counting `cats` categories that row `r`
/// belongs to: its kind's set of its status, of answered (or not), of its
/// category.
fn sets_of(cats: usize, r: &RowTally) -> [usize; 3] {
    let base = r.kind * sets_per_kind(cats);
    let answered = usize::from(r.first == NONE);
    [
        base + r.status,
        base + STATUSES + answered,
        base + STATUSES + 2 + r.category,
    ]
}

/// The tallies of one layer.
#[derive(Debug, Clone)]
pub(crate) struct LayerTallies {
    /// Categories counted (a row of a category beyond cannot be added: the
    /// caller drops the tallies, to be rebuilt wider).
    cats: usize,
    /// The largest k the reporter sets answer for (they keep up to twice).
    cap: usize,
    months: HashMap<(u32, u32), Tally>,
    /// Reporter sets (district, month, set) that can no longer answer, to
    /// be rebuilt from the rows ([`Self::rebuild_stale`]).
    stale: Vec<(u32, u32, usize)>,
}

impl LayerTallies {
    /// Whether `layer` is tallied (see the module docs).
    pub(crate) fn tallied(layer: usize) -> bool {
        layer != Layer::Iris.index()
    }

    /// The tallies of `layer`, their reporter sets answering up to `cap`.
    pub(crate) fn build(facts: &Facts, layer: usize, cap: usize) -> Self {
        let cats = facts
            .flags
            .iter()
            .map(|f| unpack_category(*f) + 1)
            .max()
            .unwrap_or(0);
        let mut t = Self {
            cats,
            cap,
            months: HashMap::new(),
            stale: Vec::new(),
        };
        for i in 0..facts.len() {
            let added = t.add(&RowTally::of(facts, layer, i));
            debug_assert!(added, "categories are counted up to the largest");
        }
        t
    }

    /// Bytes its heap allocations hold (capacities, not lengths; the
    /// allocator's own overhead not counted).
    pub(crate) fn heap_bytes(&self) -> usize {
        use std::mem::size_of;
        let tally = |t: &Tally| {
            let lists = |v: &[Vec<u32>; KINDS]| v.iter().map(|x| x.capacity() * 4).sum::<usize>();
            let ids = |v: &[Vec<u64>; KINDS]| v.iter().map(|x| x.capacity() * 8).sum::<usize>();
            t.counts.capacity() * 4
                + lists(&t.first)
                + lists(&t.done)
                + ids(&t.done_by)
                + ids(&t.undated)
                + t.kept.capacity() * size_of::<Kept>()
                + t.kept
                    .iter()
                    .map(|k| k.entries.capacity() * size_of::<Entry>())
                    .sum::<usize>()
        };
        self.months.capacity() * (size_of::<(u32, u32)>() + size_of::<Tally>() + 1)
            + self.months.values().map(tally).sum::<usize>()
            + self.stale.capacity() * size_of::<(u32, u32, usize)>()
    }

    /// Whether a change left reporter sets to rebuild.
    pub(crate) fn has_stale(&self) -> bool {
        !self.stale.is_empty()
    }

    /// The largest k its reporter sets answer for.
    pub(crate) fn cap(&self) -> usize {
        self.cap
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
        let sets = sets_of(self.cats, r);
        let (kept, max) = (KINDS * sets_per_kind(self.cats), 2 * self.cap);
        let t = self.months.entry((r.district, r.month)).or_default();
        if t.counts.is_empty() {
            t.counts = vec![0; size];
            t.kept = vec![Kept::default(); kept];
        }
        t.counts[at] += 1;
        t.supports[r.kind] += u64::from(r.supports);
        if r.first != NONE {
            t.first[r.kind].push(r.first);
        }
        if r.done != NONE {
            t.done[r.kind].push(r.done);
            t.done_by[r.kind].push(r.reporter);
        } else if r.status == status_index(Status::Done) {
            t.undated[r.kind].push(r.reporter);
        }
        for s in sets {
            t.kept[s].add(r.reporter, max);
        }
        true
    }

    /// Removes a row that was added; a reporter set that can no longer
    /// answer is marked to be rebuilt ([`Self::rebuild_stale`]).
    pub(crate) fn remove(&mut self, r: &RowTally) {
        let at = self.at(r, usize::from(r.first == NONE));
        let sets = sets_of(self.cats, r);
        let cap = self.cap;
        let Some(t) = self.months.get_mut(&(r.district, r.month)) else {
            return;
        };
        if let Some(c) = t.counts.get_mut(at) {
            *c = c.saturating_sub(1);
        }
        t.supports[r.kind] = t.supports[r.kind].saturating_sub(u64::from(r.supports));
        if r.first != NONE {
            remove_value(&mut t.first[r.kind], &r.first);
        }
        if r.done != NONE {
            let (done, by) = (&mut t.done[r.kind], &mut t.done_by[r.kind]);
            if let Some(at) = (0..done.len()).find(|i| done[*i] == r.done && by[*i] == r.reporter) {
                done.swap_remove(at);
                by.swap_remove(at);
            }
        } else if r.status == status_index(Status::Done) {
            remove_value(&mut t.undated[r.kind], &r.reporter);
        }
        for s in sets {
            let known = t.kept.get_mut(s).is_none_or(|k| k.remove(r.reporter, cap));
            let at = (r.district, r.month, s);
            if !known && !self.stale.contains(&at) {
                self.stale.push(at);
            }
        }
    }

    /// Rebuilds the reporter sets marked stale from the rows of `facts` (in
    /// their final state, after the change that made them stale): one pass
    /// over the rows of each (district, month) concerned, adding each row's
    /// reporter to the stale sets it belongs to.
    pub(crate) fn rebuild_stale(&mut self, facts: &Facts, layer: usize) {
        let mut stale = std::mem::take(&mut self.stale);
        stale.sort_unstable();
        let (cats, max) = (self.cats, 2 * self.cap);
        for tally in stale.chunk_by(|a, b| (a.0, a.1) == (b.0, b.1)) {
            let (d, m, _) = tally[0];
            let Some(t) = self.months.get_mut(&(d, m)) else {
                continue;
            };
            let sets: Vec<usize> = tally.iter().map(|x| x.2).collect();
            for s in &sets {
                t.kept[*s] = Kept::default();
            }
            let (start, end) = (month_start_s(m), month_start_s(m + 1));
            let mut visit = |i: usize| {
                let created = i64::from(facts.created_s[i]);
                if created < start || created >= end {
                    return;
                }
                let r = RowTally::of_row(facts, i);
                for s in sets_of(cats, &r).iter().filter(|s| sets.contains(s)) {
                    t.kept[*s].add(r.reporter, max);
                }
            };
            if d == NONE {
                let col = &facts.districts[layer];
                (0..facts.len())
                    .filter(|i| col[*i] == NONE)
                    .for_each(&mut visit);
            } else {
                for i in facts.district_rows(layer, d) {
                    visit(*i as usize);
                }
            }
        }
    }

    /// Moves a row's supports from `old` to `new`.
    pub(crate) fn set_supports(&mut self, r: &RowTally, old: u32, new: u32) {
        if let Some(t) = self.months.get_mut(&(r.district, r.month)) {
            t.supports[r.kind] =
                (t.supports[r.kind] + u64::from(new)).saturating_sub(u64::from(old));
        }
    }

    /// Adds tally `t` into `g`: the kinds `kind` allows, with the reporters
    /// of each cell when `k > 0`; `false` when a reporter set cannot answer
    /// (never after the writer's rebuild; the caller then scans).
    fn fold(
        &self,
        t: &Tally,
        g: &mut Group,
        kind: Option<usize>,
        within_min: u32,
        k: usize,
    ) -> bool {
        for kd in (0..KINDS).filter(|x| kind.is_none_or(|y| y == *x)) {
            let mut total = 0_u64;
            for status in 0..STATUSES {
                for answered in 0..2 {
                    let base = ((kd * STATUSES + status) * 2 + answered) * self.cats;
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
            let in_time = t.done[kd].iter().filter(|m| **m <= within_min).count() as u64;
            g.total.count += total;
            g.by_kind[kd].count += total;
            g.resolved_within[0].count += in_time;
            g.resolved_within[1].count += total - in_time;
            g.supports += t.supports[kd];
            g.first_response_min.extend_from_slice(&t.first[kd]);
            g.resolution_min.extend_from_slice(&t.done[kd]);
            if k > 0 && !self.fold_reporters(t, g, kd, within_min, k) {
                return false;
            }
        }
        true
    }

    /// The reporters part of [`Self::fold`] for kind `kd`.
    fn fold_reporters(
        &self,
        t: &Tally,
        g: &mut Group,
        kd: usize,
        within_min: u32,
        k: usize,
    ) -> bool {
        let per_kind = sets_per_kind(self.cats);
        let sets = &t.kept[kd * per_kind..(kd + 1) * per_kind];
        if !sets.iter().all(|s| s.known(k)) {
            return false;
        }
        let done = status_index(Status::Done);
        for (status, set) in sets[..STATUSES].iter().enumerate() {
            set.merge_into(&mut g.by_status[status].reporters, k);
            set.merge_into(&mut g.by_kind[kd].reporters, k);
            set.merge_into(&mut g.total.reporters, k);
            if status != done {
                set.merge_into(&mut g.resolved_within[1].reporters, k);
            }
        }
        for (answered, set) in sets[STATUSES..STATUSES + 2].iter().enumerate() {
            set.merge_into(&mut g.responded[answered].reporters, k);
        }
        for (cat, set) in sets[STATUSES + 2..].iter().enumerate() {
            if let Some(c) = g.by_category.get_mut(cat) {
                set.merge_into(&mut c.reporters, k);
            }
        }
        let [within, late] = &mut g.resolved_within[..] else {
            return true;
        };
        for (m, r) in t.done[kd].iter().zip(&t.done_by[kd]) {
            if *m <= within_min {
                within.reporters.add(*r, k);
            } else {
                late.reporters.add(*r, k);
            }
        }
        for r in &t.undated[kd] {
            late.reporters.add(*r, k);
        }
        true
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
    let months = usable(&any_district)?;
    let tallies = facts.tallies(layer.index(), opts.k.unwrap_or(0))?;
    collect(tallies, filter, opts, months, groups, |d, _| {
        Some(group_of(d))
    })
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
    let months = usable(filter)?;
    let (layer, district) = match filter.district {
        Some((layer, d)) => (layer, Some(d)),
        // Every row is in exactly one tally of a layer: the city is the sum
        // of the arrondissements' tallies and those of the reports in none.
        None => (Layer::Arrondissement, None),
    };
    let tallies = facts.tallies(layer.index(), opts.k.unwrap_or(0))?;
    collect(tallies, filter, opts, months, starts.len(), |d, m| {
        if district.is_some_and(|x| x != d) {
            return None;
        }
        // Monthly buckets start at month starts: a month outside them has
        // no bucket.
        starts.binary_search(&month_start_s(m)).ok()
    })
}

/// The first and last second a monthly series of `filter` covers when it
/// lacks a bound: the start of the first month that has a matching row, and
/// the last second of the last such month (`(i64::MAX, i64::MIN)` when none
/// has); `None` when the tallies cannot answer (then the rows are scanned).
pub(crate) fn span(facts: &Facts, filter: &Filter, opts: Options) -> Option<(i64, i64)> {
    let (from, to) = usable(filter)?;
    let (layer, district) = match filter.district {
        Some((layer, d)) => (layer, Some(d)),
        None => (Layer::Arrondissement, None),
    };
    let tallies = facts.tallies(layer.index(), opts.k.unwrap_or(0))?;
    let kind = filter.kind.map(super::facts::kind_index);
    let per_kind = STATUSES * 2 * tallies.cats;
    let (mut first, mut last) = (u32::MAX, None);
    for ((d, m), t) in &tallies.months {
        if *m < from || *m >= to || district.is_some_and(|x| x != *d) {
            continue;
        }
        let rows = |k: usize| {
            t.counts[k * per_kind..(k + 1) * per_kind]
                .iter()
                .any(|n| *n > 0)
        };
        if (0..KINDS).any(|k| kind.is_none_or(|x| x == k) && rows(k)) {
            first = first.min(*m);
            last = last.max(Some(*m));
        }
    }
    Some(match last {
        Some(last) => (month_start_s(first), month_start_s(last + 1) - 1),
        None => (i64::MAX, i64::MIN),
    })
}

/// Folds every tally of months `[from, to)` into group `group_of(district,
/// month)` (left out when `None` or `>= groups`), of the kind `filter`
/// asks for; returns the groups and their sum (`None` when a reporter set
/// cannot answer).
fn collect(
    tallies: &LayerTallies,
    filter: &Filter,
    opts: Options,
    (from, to): (u32, u32),
    groups: usize,
    group_of: impl Fn(u32, u32) -> Option<usize>,
) -> Option<(Vec<Group>, Group)> {
    let within_min = opts.resolved_within_days.saturating_mul(24 * 60);
    let kind = filter.kind.map(super::facts::kind_index);
    let k = opts.k.unwrap_or(0);
    let mut out: Vec<Group> = (0..groups).map(|_| Group::new(opts.categories)).collect();
    for ((d, m), t) in &tallies.months {
        if *m < from || *m >= to {
            continue;
        }
        if let Some(g) = group_of(*d, *m).and_then(|g| out.get_mut(g))
            && !tallies.fold(t, g, kind, within_min, k)
        {
            return None;
        }
    }
    let mut whole = Group::new(opts.categories);
    for g in &out {
        merge(&mut whole, g, k);
    }
    Some((out, whole))
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

    /// How generated rows spread.
    #[derive(Clone, Copy)]
    struct Spread {
        days: i64,
        districts: u32,
        reporters: u64,
    }

    /// Thin: a few rows per cell, each reporter in few cells.
    const THIN: Spread = Spread {
        days: 400,
        districts: 4,
        reporters: 50,
    };
    /// Dense: two months, two districts, many reporters, so that reporter
    /// sets fill up, overflow, and lose kept reporters to status changes.
    const DENSE: Spread = Spread {
        days: 60,
        districts: 2,
        reporters: 400,
    };

    fn fact(rng: &mut impl Rng, spread: Spread) -> Fact {
        let created_ms =
            month_start_s(MONTH0) * 1_000 + rng.random_range(0..spread.days * 86_400_000);
        let answered = rng.random_bool(0.4);
        // Dense: most reports arrive `new` and leave it by a status change.
        let status = if spread.districts < 3 && rng.random_bool(0.8) {
            Status::New
        } else {
            Status::ALL[rng.random_range(0..Status::ALL.len())]
        };
        let d = |rng: &mut dyn rand::RngCore| {
            let x: u32 = rng.random_range(0..=spread.districts);
            (x < spread.districts).then_some(x)
        };
        Fact {
            created_ms,
            kind: Kind::ALL[rng.random_range(0..KINDS)],
            category: CategoryId(rng.random_range(0..10)),
            channel: Channel::Web,
            status,
            districts: Districts([d(rng), d(rng), d(rng), d(rng), d(rng)]),
            h3: 0,
            reporter: rng.random_range(0..spread.reporters),
            first_response_ms: answered.then(|| created_ms + rng.random_range(0..9_000_000)),
            // Some reports are closed at an unknown time.
            closed_ms: (!status.is_open() && rng.random_bool(0.9))
                .then(|| created_ms + rng.random_range(0..40 * 86_400_000_i64)),
            campaign: None,
            supports: rng.random_range(0..3),
        }
    }

    /// Durations in a comparable order, and of each cell's reporters only
    /// what a capped set answers, `min(distinct, k)` (which ones it keeps
    /// depends on the order rows are met).
    fn sorted(mut groups: Vec<Group>) -> Vec<Group> {
        for g in &mut groups {
            g.first_response_min.sort_unstable();
            g.resolution_min.sort_unstable();
            let cells = std::iter::once(&mut g.total)
                .chain(&mut g.by_kind)
                .chain(&mut g.by_status)
                .chain(&mut g.by_category)
                .chain(&mut g.responded)
                .chain(&mut g.resolved_within);
            for c in cells {
                let n = c.reporters.count();
                c.reporters = Reporters::default();
                (0..n as u64).for_each(|r| c.reporters.add(r, n));
            }
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
        let facts = kept_against_scan(5, THIN, 2_000);
        // What tallies do not answer: other filters, part months, IRIS, a k
        // beyond their reporter sets.
        let opts = Options {
            k: None,
            resolved_within_days: 3,
            categories: 10,
        };
        let by_category = Filter {
            category: Some(CategoryId(1)),
            ..Filter::default()
        };
        let part_month = Filter {
            from_s: Some(month_start_s(MONTH0) + 1),
            ..Filter::default()
        };
        let one = |_: u32| 0;
        let beyond = Options { k: Some(6), ..opts };
        assert!(grouped(&facts, &Filter::default(), beyond, Layer::Quartier, 1, &one).is_none());
        assert!(grouped(&facts, &by_category, opts, Layer::Quartier, 1, &one).is_none());
        assert!(grouped(&facts, &part_month, opts, Layer::Quartier, 1, &one).is_none());
        assert!(grouped(&facts, &Filter::default(), opts, Layer::Iris, 1, &one).is_none());
    }

    #[test]
    fn reporters_of_tallies_that_overflow_and_lose_kept_reporters_equal_a_scan_of_the_rows() {
        kept_against_scan(9, DENSE, 3_000);
    }

    /// Applies `steps` random changes (mostly new reports; replacements of
    /// any field, inserts in the middle, supports, erased contacts) and
    /// checks every few steps that tallies, with and without k, answer what
    /// a scan of the rows answers. Returns the facts.
    fn kept_against_scan(seed: u64, spread: Spread, steps: usize) -> Facts {
        let mut rng = rand_pcg::Pcg64Mcg::seed_from_u64(seed);
        let mut facts = Facts::default();
        let opts = Options {
            k: None,
            resolved_within_days: 3,
            categories: 10,
        };
        // The rows as facts (to change one field of a row).
        let mut rows: Vec<Fact> = Vec::new();
        for step in 0..steps {
            let f = fact(&mut rng, spread);
            let any = |rng: &mut rand_pcg::Pcg64Mcg| rng.random_range(0..rows.len());
            // Dense: the second half has no new reports, only status
            // changes (the months are over, services work through them).
            let phase = if spread.districts < 3 && step >= steps / 2 {
                1
            } else {
                step % 8
            };
            match phase {
                // A report replaced by another (every field but its filing
                // time), an older report inserted in the middle, a support
                // count, an erased contact, a status change (the lifecycle:
                // rows leave a status cell, as a tally's kept reporters
                // do); mostly new reports.
                0 if !rows.is_empty() => {
                    let pos = any(&mut rng);
                    let keep = Fact {
                        created_ms: rows[pos].created_ms,
                        ..f
                    };
                    facts.replace(pos, &keep);
                    rows[pos] = keep;
                }
                1 | 5 if !rows.is_empty() => {
                    let pos = any(&mut rng);
                    let r = &mut rows[pos];
                    r.status = Status::ALL[rng.random_range(1..Status::ALL.len())];
                    r.first_response_ms.get_or_insert(r.created_ms + 60_000);
                    r.closed_ms = (!r.status.is_open() && rng.random_bool(0.9))
                        .then(|| r.created_ms + rng.random_range(0..40 * 86_400_000_i64));
                    facts.replace(pos, r);
                }
                2 if !rows.is_empty() => {
                    let pos = any(&mut rng);
                    facts.insert(pos, &f);
                    rows.insert(pos, f);
                }
                3 if !rows.is_empty() => {
                    let pos = any(&mut rng);
                    facts.set_supports(pos, rng.random_range(0..9));
                }
                4 if !rows.is_empty() => {
                    let pos = any(&mut rng);
                    let erased = crate::stats::facts::ANONYMOUS | pos as u64;
                    facts.set_reporter(pos, erased);
                    rows[pos].reporter = erased;
                }
                _ => {
                    facts.insert(facts.len(), &f);
                    rows.push(f);
                }
            }
            if step % 97 != 0 {
                continue;
            }
            for (filter, opts) in filters()
                .into_iter()
                .flat_map(|f| [(f.clone(), opts), (f, Options { k: Some(5), ..opts })])
            {
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
                for district in [None, Some((Layer::Quartier, 1))] {
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
                    // The months a series without bounds spans.
                    let (mut lo, mut hi) = (i64::MAX, i64::MIN);
                    Compiled::new(&facts, &f).scan(&facts, |i| {
                        let m = month_of(facts.created_s[i]);
                        lo = lo.min(month_start_s(m));
                        hi = hi.max(month_start_s(m + 1) - 1);
                    });
                    assert_eq!(span(&facts, &f, opts), Some((lo, hi)), "{f:?}");
                }
            }
        }
        facts
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
