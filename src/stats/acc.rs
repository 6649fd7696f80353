//! The scan accumulator: per group, one counter per combination of kind,
//! status, category, answered or not, and resolved in time or not, so that a
//! report costs one increment instead of one per breakdown; the breakdowns
//! are summed from the combinations once per query ([`Acc::into_groups`]).
//! With k, the reporters are kept per breakdown cell (a set fills up to k
//! quickly and then costs one comparison per report), side by side per
//! group. The scan runs on two threads, each over half of the rows, and the
//! halves are merged (counts add, capped sets union, exactly).

use super::facts::{Facts, NONE, unpack_category, unpack_kind, unpack_status};
use super::kanon::{Cell, Reporters};
use super::query::{Compiled, Group, Options, merge};
use crate::model::{Kind, Status};

/// Rows below which one thread scans alone (a thread costs more than it saves).
pub(crate) const SPLIT_ROWS: usize = 200_000;

const KINDS: usize = Kind::ALL.len();
const STATUSES: usize = Status::ALL.len();

/// Counts of a query's groups, by combination.
pub(crate) struct Acc {
    /// Categories + 1 (the last for a category the taxonomy does not have).
    cats: usize,
    combos: usize,
    k: usize,
    within_min: u32,
    counts: Vec<u32>,
    /// Per group, the reporters of each breakdown cell (see [`Layout`]);
    /// empty when `k` is 0 (unsuppressed).
    sets: Vec<Reporters>,
    layout: Layout,
    supports: Vec<u64>,
    first: Vec<Vec<u32>>,
    done: Vec<Vec<u32>>,
}

impl Acc {
    pub(crate) fn new(groups: usize, categories: usize, k: usize, within_min: u32) -> Self {
        let cats = categories + 1;
        let combos = KINDS * STATUSES * cats * 4;
        let layout = Layout::new(cats);
        Self {
            cats,
            combos,
            k,
            within_min,
            counts: vec![0; groups * combos],
            sets: if k == 0 {
                Vec::new()
            } else {
                vec![Reporters::default(); groups * layout.len]
            },
            layout,
            supports: vec![0; groups],
            first: vec![Vec::new(); groups],
            done: vec![Vec::new(); groups],
        }
    }

    #[inline]
    pub(crate) fn add(&mut self, g: usize, facts: &Facts, i: usize) {
        let flags = facts.flags[i];
        let cat = unpack_category(flags).min(self.cats - 1);
        let kind = unpack_kind(flags);
        let status = unpack_status(flags);
        let first = facts.first_response[i];
        let done = facts.resolution[i];
        let answered = usize::from(first == NONE);
        let late = usize::from(done == NONE || done > self.within_min);
        let combo = (((kind * STATUSES + status) * self.cats + cat) * 2 + answered) * 2 + late;
        self.counts[g * self.combos + combo] += 1;
        if self.k > 0 {
            let r = facts.reporter[i];
            let l = &self.layout;
            let base = g * l.len;
            for at in [
                base,
                base + l.kind + kind,
                base + l.status + status,
                base + l.category + cat,
                base + l.responded + answered,
                base + l.within + late,
            ] {
                self.sets[at].add(r, self.k);
            }
        }
        if first != NONE {
            self.first[g].push(first);
        }
        if done != NONE {
            self.done[g].push(done);
        }
        self.supports[g] += u64::from(facts.supports[i]);
    }

    fn merge(&mut self, other: Acc) {
        for (a, b) in self.counts.iter_mut().zip(&other.counts) {
            *a += b;
        }
        for (a, b) in self.sets.iter_mut().zip(&other.sets) {
            a.merge(b, self.k);
        }
        for (a, b) in self.supports.iter_mut().zip(&other.supports) {
            *a += b;
        }
        for (a, b) in self.first.iter_mut().zip(other.first) {
            a.extend(b);
        }
        for (a, b) in self.done.iter_mut().zip(other.done) {
            a.extend(b);
        }
    }

    /// The groups, their breakdowns summed from the combinations.
    pub(crate) fn into_groups(mut self, categories: usize) -> Vec<Group> {
        let groups = self.supports.len();
        let mut out = Vec::with_capacity(groups);
        let mut first = self.first.into_iter();
        let mut done = self.done.into_iter();
        for g in 0..groups {
            let mut group = Group::new(categories);
            for combo in 0..self.combos {
                let at = g * self.combos + combo;
                let n = u64::from(self.counts[at]);
                if n == 0 {
                    continue;
                }
                let late = combo % 2;
                let answered = (combo / 2) % 2;
                let cat = (combo / 4) % self.cats;
                let status = (combo / 4 / self.cats) % STATUSES;
                let kind = combo / 4 / self.cats / STATUSES;
                let bump = |cell: &mut Cell| cell.count += n;
                bump(&mut group.total);
                bump(&mut group.by_kind[kind]);
                bump(&mut group.by_status[status]);
                bump(&mut group.responded[answered]);
                bump(&mut group.resolved_within[late]);
                if let Some(c) = group.by_category.get_mut(cat) {
                    bump(c);
                }
            }
            if !self.sets.is_empty() {
                let l = self.layout;
                let sets = &mut self.sets[g * l.len..(g + 1) * l.len];
                let mut take = |at: usize| std::mem::take(&mut sets[at]);
                group.total.reporters = take(0);
                for (i, c) in group.by_kind.iter_mut().enumerate() {
                    c.reporters = take(l.kind + i);
                }
                for (i, c) in group.by_status.iter_mut().enumerate() {
                    c.reporters = take(l.status + i);
                }
                for (i, c) in group.by_category.iter_mut().enumerate() {
                    c.reporters = take(l.category + i);
                }
                for (i, c) in group.responded.iter_mut().enumerate() {
                    c.reporters = take(l.responded + i);
                }
                for (i, c) in group.resolved_within.iter_mut().enumerate() {
                    c.reporters = take(l.within + i);
                }
            }
            group.supports = self.supports[g];
            group.first_response_min = first.next().unwrap_or_default();
            group.resolution_min = done.next().unwrap_or_default();
            out.push(group);
        }
        out
    }
}

/// Offsets of each breakdown's reporter sets within a group: the total,
/// then kinds, statuses, categories (+1), answered/not, in time/not.
#[derive(Debug, Clone, Copy)]
struct Layout {
    kind: usize,
    status: usize,
    category: usize,
    responded: usize,
    within: usize,
    len: usize,
}

impl Layout {
    fn new(cats: usize) -> Self {
        let kind = 1;
        let status = kind + KINDS;
        let category = status + STATUSES;
        let responded = category + cats;
        let within = responded + 2;
        Self {
            kind,
            status,
            category,
            responded,
            within,
            len: within + 2,
        }
    }
}

/// Accumulates the rows matching `f` into `groups` groups, row `i` going to
/// `group_of(i)` (`None`: left out), on two threads from `split_rows` rows
/// on ([`SPLIT_ROWS`] but in tests); returns the groups and their sum.
pub(crate) fn accumulate(
    facts: &Facts,
    f: &Compiled,
    groups: usize,
    opts: Options,
    split_rows: usize,
    group_of: &(impl Fn(usize) -> Option<usize> + Sync),
) -> (Vec<Group>, Group) {
    let categories = opts.categories;
    let k = opts.k.unwrap_or(0);
    let within_min = opts.resolved_within_days.saturating_mul(24 * 60);
    let n = facts.len();
    let run = |lo: usize, hi: usize| {
        let mut acc = Acc::new(groups, categories, k, within_min);
        f.scan_range(facts, lo, hi, |i| {
            if let Some(g) = group_of(i) {
                acc.add(g, facts, i);
            }
        });
        acc
    };
    let acc = if n < split_rows {
        run(0, n)
    } else {
        std::thread::scope(|s| {
            let upper = s.spawn(|| run(n / 2, n));
            let mut lower = run(0, n / 2);
            match upper.join() {
                Ok(u) => lower.merge(u),
                Err(panic) => std::panic::resume_unwind(panic),
            }
            lower
        })
    };
    let groups = acc.into_groups(categories);
    let mut whole = Group::new(categories);
    for g in &groups {
        merge(&mut whole, g, k);
    }
    (groups, whole)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{CategoryId, Channel, Districts, Kind, Status};
    use crate::stats::{Fact, Filter};
    use rand::{Rng, SeedableRng};

    #[test]
    fn two_threads_count_exactly_what_one_thread_counts() {
        let mut rng = rand_pcg::Pcg64Mcg::seed_from_u64(7);
        let mut facts = Facts::default();
        for i in 0..5_000_usize {
            let created_ms = rng.random_range(1_600_000_000_000_i64..1_700_000_000_000);
            let answered = rng.random_bool(0.4);
            facts.insert(
                i,
                &Fact {
                    created_ms,
                    kind: Kind::ALL[rng.random_range(0..2)],
                    category: CategoryId(rng.random_range(0..11)),
                    channel: Channel::Web,
                    status: if answered { Status::Done } else { Status::New },
                    districts: Districts([Some(rng.random_range(0..7)), None, None, None, None]),
                    h3: 0,
                    reporter: rng.random_range(0..300),
                    first_response_ms: answered
                        .then(|| created_ms + rng.random_range(0..9_000_000)),
                    closed_ms: answered
                        .then(|| created_ms + rng.random_range(9_000_000..900_000_000)),
                    campaign: None,
                    supports: rng.random_range(0..3),
                },
            );
        }
        let f = Compiled::new(&facts, &Filter::default());
        let col = facts
            .district_column(crate::model::Layer::Arrondissement)
            .to_vec();
        let group_of = |i: usize| Some(col[i] as usize).filter(|g| *g < 7);
        let sorted = |mut g: Vec<Group>| {
            for x in &mut g {
                x.first_response_min.sort_unstable();
                x.resolution_min.sort_unstable();
            }
            g
        };
        for k in [None, Some(5)] {
            let opts = Options {
                k,
                resolved_within_days: 1,
                categories: 10,
            };
            let one = accumulate(&facts, &f, 7, opts, usize::MAX, &group_of).0;
            let two = accumulate(&facts, &f, 7, opts, 0, &group_of).0;
            let (one, two) = (sorted(one), sorted(two));
            assert_eq!(one.len(), two.len());
            for (a, b) in one.iter().zip(&two) {
                assert_eq!(a.total.count, b.total.count);
                assert_eq!(a.total.reporters.count(), b.total.reporters.count());
                for (x, y) in a.by_category.iter().zip(&b.by_category) {
                    assert_eq!(
                        (x.count, x.reporters.count()),
                        (y.count, y.reporters.count())
                    );
                }
                assert_eq!(a.first_response_min, b.first_response_min);
                assert_eq!(a.resolution_min, b.resolution_min);
                assert_eq!(a.supports, b.supports);
            }
            assert!(one.iter().map(|g| g.total.count).sum::<u64>() == 5_000);
        }
    }
}
