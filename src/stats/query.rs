//! Filters, per-group accumulators and their protected output.

use crate::model::{CategoryId, Channel, Kind, Layer, Status};

use super::acc::{SPLIT_ROWS, accumulate};
use super::facts::{Facts, channel_index, flag, kind_index, status_index};
use super::kanon::{Cell, suppress_list, suppress_table};

/// Which reports a statistic counts. Every `None` means "any". Times are
/// whole seconds since 1970 (UTC): a report filed at `from_s` counts, one
/// filed at `to_s` does not.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Filter {
    pub from_s: Option<i64>,
    pub to_s: Option<i64>,
    pub kind: Option<Kind>,
    pub category: Option<CategoryId>,
    pub channel: Option<Channel>,
    pub status: Option<Status>,
    /// A campaign slug.
    pub campaign: Option<String>,
    /// One district (dense id) of a layer.
    pub district: Option<(Layer, u32)>,
}

/// A [`Filter`] turned into column tests.
#[derive(Debug, Clone)]
pub(crate) struct Compiled {
    from_s: u32,
    to_s: u32,
    mask: u32,
    want: u32,
    /// Campaign column value wanted (ordinal + 1).
    campaign: Option<u16>,
    district: Option<(usize, u32)>,
    /// Matches nothing (an unknown campaign, an empty time range).
    empty: bool,
}

fn clamp_s(s: i64) -> u32 {
    u32::try_from(s.max(0)).unwrap_or(u32::MAX)
}

impl Compiled {
    pub(crate) fn new(facts: &Facts, f: &Filter) -> Self {
        let mut mask = 0;
        let mut want = 0;
        #[allow(clippy::cast_possible_truncation)]
        {
            if let Some(c) = f.category {
                mask |= flag::CATEGORY;
                want |= u32::from(c.0);
            }
            if let Some(k) = f.kind {
                mask |= flag::KIND;
                want |= (kind_index(k) as u32) << flag::KIND_SHIFT;
            }
            if let Some(c) = f.channel {
                mask |= flag::CHANNEL;
                want |= (channel_index(c) as u32) << flag::CHANNEL_SHIFT;
            }
            if let Some(s) = f.status {
                mask |= flag::STATUS;
                want |= (status_index(s) as u32) << flag::STATUS_SHIFT;
            }
        }
        let from_s = f.from_s.map_or(0, clamp_s);
        let to_s = f.to_s.map_or(u32::MAX, clamp_s);
        let (campaign, unknown_campaign) = match &f.campaign {
            None => (None, false),
            Some(slug) => match facts.campaign_id(slug) {
                Some(c) => (Some(c + 1), false),
                None => (None, true),
            },
        };
        Self {
            from_s,
            to_s,
            mask,
            want,
            campaign,
            district: f.district.map(|(l, d)| (l.index(), d)),
            empty: unknown_campaign || from_s >= to_s && f.to_s.is_some(),
        }
    }

    #[inline]
    fn matches(&self, facts: &Facts, i: usize) -> bool {
        let t = facts.created_s[i];
        t >= self.from_s
            && (t < self.to_s || self.to_s == u32::MAX)
            && facts.flags[i] & self.mask == self.want
            && self.campaign.is_none_or(|c| facts.campaign[i] == c)
    }

    /// [`Self::scan_range`] without a district: every row of `lo..hi` is
    /// tested. The tests are evaluated without branches into a block of
    /// positions, then `f` runs on the block's matches: a time range or a
    /// kind keeps rows at random, which branch per test mispredicted.
    fn scan_all(&self, facts: &Facts, lo: usize, hi: usize, mut f: impl FnMut(usize)) {
        const BLOCK: usize = 1024;
        let span = self.to_s.wrapping_sub(self.from_s);
        let (any_campaign, campaign) = (self.campaign.is_none(), self.campaign.unwrap_or(0));
        let mut block = [0_u32; BLOCK];
        let mut start = lo;
        while start < hi {
            let end = (start + BLOCK).min(hi);
            let mut n = 0;
            let rows = facts.created_s[start..end]
                .iter()
                .zip(&facts.flags[start..end])
                .zip(&facts.campaign[start..end]);
            for (j, ((t, flags), c)) in rows.enumerate() {
                // `created_s` stays below u32::MAX (`second_of`), so an
                // open end (u32::MAX) keeps every time after `from_s`.
                let keep = (t.wrapping_sub(self.from_s) < span)
                    & (flags & self.mask == self.want)
                    & (any_campaign | (*c == campaign));
                #[allow(clippy::cast_possible_truncation)]
                {
                    block[n] = (start + j) as u32;
                }
                n += usize::from(keep);
            }
            for i in &block[..n] {
                f(*i as usize);
            }
            start = end;
        }
    }

    /// Calls `f` with the position of every matching row, in row order.
    pub(crate) fn scan(&self, facts: &Facts, f: impl FnMut(usize)) {
        self.scan_range(facts, 0, facts.len(), f);
    }

    /// [`Self::scan`] over the rows `lo..hi`.
    pub(crate) fn scan_range(&self, facts: &Facts, lo: usize, hi: usize, mut f: impl FnMut(usize)) {
        if self.empty {
            return;
        }
        match self.district {
            Some((layer, d)) => {
                let rows = facts.district_rows(layer, d);
                let a = rows.partition_point(|r| (*r as usize) < lo);
                let b = rows.partition_point(|r| (*r as usize) < hi);
                for r in &rows[a..b] {
                    let i = *r as usize;
                    if self.matches(facts, i) {
                        f(i);
                    }
                }
            }
            None => self.scan_all(facts, lo, hi, f),
        }
    }
}

/// What a statistic is asked for beyond the filter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Options {
    /// The k-anonymity threshold, `None` for unsuppressed counts (analysts).
    pub k: Option<usize>,
    /// "Resolved within N days".
    pub resolved_within_days: u32,
    /// Number of categories of the taxonomy.
    pub categories: usize,
}

/// Counts of one group of reports (a district, a time bucket, the city).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Group {
    pub total: Cell,
    /// By [`Kind::ALL`] order.
    pub by_kind: Vec<Cell>,
    /// By [`Status::ALL`] order.
    pub by_status: Vec<Cell>,
    /// By category id.
    pub by_category: Vec<Cell>,
    /// [answered by a city service, not yet].
    pub responded: Vec<Cell>,
    /// [done within the asked number of days, not].
    pub resolved_within: Vec<Cell>,
    /// Support ("me too") count over the group.
    pub supports: u64,
    /// Minutes to the first response, of those answered.
    pub first_response_min: Vec<u32>,
    /// Minutes to `done`, of those done at a known time.
    pub resolution_min: Vec<u32>,
}

impl Group {
    #[must_use]
    pub fn new(categories: usize) -> Self {
        Self {
            total: Cell::default(),
            by_kind: vec![Cell::default(); Kind::ALL.len()],
            by_status: vec![Cell::default(); Status::ALL.len()],
            by_category: vec![Cell::default(); categories],
            responded: vec![Cell::default(); 2],
            resolved_within: vec![Cell::default(); 2],
            supports: 0,
            first_response_min: Vec::new(),
            resolution_min: Vec::new(),
        }
    }

    fn breakdowns(&self) -> [&[Cell]; 5] {
        [
            &self.by_kind,
            &self.by_status,
            &self.by_category,
            &self.responded,
            &self.resolved_within,
        ]
    }
}

/// Median and 90th percentile (nearest rank: the value at rank
/// `ceil(p × n)` of the sorted values) of durations in minutes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Durations {
    pub count: u64,
    /// `None` when `count` is 0.
    pub median_min: Option<u32>,
    pub p90_min: Option<u32>,
}

/// The value at nearest rank `ceil(p × n)` (1-based) of `values`, which it
/// partially reorders; `None` when empty.
#[must_use]
pub fn nearest_rank(values: &mut [u32], percent: u32) -> Option<u32> {
    if values.is_empty() {
        return None;
    }
    let n = values.len();
    let rank = (n * percent as usize).div_ceil(100).max(1);
    let (_, v, _) = values.select_nth_unstable(rank - 1);
    Some(*v)
}

fn durations(values: &mut [u32]) -> Durations {
    Durations {
        count: values.len() as u64,
        median_min: nearest_rank(values, 50),
        p90_min: nearest_rank(values, 90),
    }
}

/// A group's published figures: `None` where suppressed.
#[derive(Debug, Clone, PartialEq)]
pub struct Published {
    pub reports: Option<u64>,
    pub by_kind: Vec<Option<u64>>,
    pub by_status: Vec<Option<u64>>,
    pub by_category: Vec<Option<u64>>,
    /// [answered, not yet].
    pub responded: Vec<Option<u64>>,
    /// [done within N days, not].
    pub resolved_within: Vec<Option<u64>>,
    pub supports: Option<u64>,
    pub first_response: Option<Durations>,
    pub resolution: Option<Durations>,
}

impl Published {
    /// Whether the group's own total was suppressed.
    #[must_use]
    pub fn suppressed(&self) -> bool {
        self.reports.is_none()
    }
}

fn publish(g: &mut Group, hidden: [&[bool]; 5], total_hidden: bool) -> Published {
    let show = |cells: &[Cell], mask: &[bool]| -> Vec<Option<u64>> {
        cells
            .iter()
            .zip(mask)
            .map(|(c, h)| (!h).then_some(c.count))
            .collect()
    };
    let [kind, status, category, responded, within] = hidden;
    let first_ok = !total_hidden && !responded[0];
    let done_ok = !total_hidden && !status[status_index(Status::Done)];
    Published {
        reports: (!total_hidden).then_some(g.total.count),
        by_kind: show(&g.by_kind, kind),
        by_status: show(&g.by_status, status),
        by_category: show(&g.by_category, category),
        responded: show(&g.responded, responded),
        resolved_within: show(&g.resolved_within, within),
        supports: (!total_hidden).then_some(g.supports),
        first_response: first_ok.then(|| durations(&mut g.first_response_min)),
        resolution: done_ok.then(|| durations(&mut g.resolution_min)),
    }
}

/// Publishes groups that are the rows of one table (districts, time
/// buckets), whose column totals and grand total are published too (as the
/// `margin` group): with `k`, each row total below `k` is suppressed, and
/// every breakdown is protected as a table (see [`super::kanon`]). Returns
/// the rows, then the margin.
#[must_use]
pub fn publish_table(
    mut rows: Vec<Group>,
    mut margin: Group,
    k: Option<usize>,
) -> (Vec<Published>, Published) {
    let Some(k) = k else {
        let none = |g: &Group| g.breakdowns().map(|b| vec![false; b.len()]);
        let out = rows
            .iter_mut()
            .map(|g| {
                let h = none(g);
                publish(g, [&h[0], &h[1], &h[2], &h[3], &h[4]], false)
            })
            .collect();
        let h = none(&margin);
        let m = publish(&mut margin, [&h[0], &h[1], &h[2], &h[3], &h[4]], false);
        return (out, m);
    };
    let totals: Vec<&Cell> = rows.iter().map(|g| &g.total).collect();
    let row_hidden = suppress_list(&totals, &vec![false; rows.len()], k);
    let mut masks: Vec<Vec<bool>> = Vec::with_capacity(5);
    for b in 0..5 {
        let cols = margin.breakdowns()[b].len();
        let flat: Vec<Cell> = rows
            .iter()
            .flat_map(|g| g.breakdowns()[b].iter().cloned())
            .collect();
        masks.push(suppress_table(&flat, cols, &row_hidden, k));
    }
    let out = rows
        .iter_mut()
        .enumerate()
        .map(|(r, g)| {
            let cols: Vec<usize> = g.breakdowns().iter().map(|b| b.len()).collect();
            let slice = |b: usize| &masks[b][r * cols[b]..(r + 1) * cols[b]];
            publish(
                g,
                [slice(0), slice(1), slice(2), slice(3), slice(4)],
                row_hidden[r],
            )
        })
        .collect();
    let margin_hidden = !margin.total.publishable(k);
    let mh: Vec<Vec<bool>> = margin
        .breakdowns()
        .iter()
        .map(|b| {
            let refs: Vec<&Cell> = b.iter().collect();
            if margin_hidden {
                vec![true; b.len()]
            } else {
                suppress_list(&refs, &vec![false; b.len()], k)
            }
        })
        .collect();
    let m = publish(
        &mut margin,
        [&mh[0], &mh[1], &mh[2], &mh[3], &mh[4]],
        margin_hidden,
    );
    (out, m)
}

/// Statistics of every district of `layer` (dense ids `districts`), of the
/// reports in none of them (`outside`), and of all (`city`).
#[derive(Debug, Clone, PartialEq)]
pub struct DistrictTable {
    pub districts: Vec<(u32, Published)>,
    pub outside: Published,
    pub city: Published,
}

/// One pass over the facts: per district of `layer` (the dense ids in
/// `districts`), the reports outside them, and the city.
#[must_use]
pub fn by_district(
    facts: &Facts,
    layer: Layer,
    districts: &[u32],
    filter: &Filter,
    opts: Options,
) -> DistrictTable {
    let max = districts
        .iter()
        .copied()
        .max()
        .map_or(0, |m| m as usize + 1);
    // Row of each dense id: districts first, then "outside".
    let mut row_of = vec![districts.len(); max];
    for (r, d) in districts.iter().enumerate() {
        row_of[*d as usize] = r;
    }
    let outside = districts.len();
    let (mut rows, city) = grouped(facts, filter, opts, layer, districts.len() + 1, |d| {
        let d = d as usize;
        if d < max { row_of[d] } else { outside }
    });
    let outside = rows.pop().unwrap_or_else(|| grouped_empty(opts));
    DistrictTable {
        districts: districts.iter().copied().zip(rows).collect(),
        outside,
        city,
    }
}

fn grouped_empty(opts: Options) -> Published {
    let (_, p) = publish_table(Vec::new(), Group::new(opts.categories), opts.k);
    p
}

/// One pass over the facts matching `filter` (its district ignored), each
/// row going to group `group_of(its district of layer)` (< `groups`; the
/// district is [`NONE`] when in none), published as one table with the
/// whole as its margin.
pub fn grouped(
    facts: &Facts,
    filter: &Filter,
    opts: Options,
    layer: Layer,
    groups: usize,
    group_of: impl Fn(u32) -> usize + Sync,
) -> (Vec<Published>, Published) {
    let f = Compiled::new(
        facts,
        &Filter {
            district: None,
            ..filter.clone()
        },
    );
    let (acc, whole) = match super::tally::grouped(facts, filter, opts, layer, groups, &group_of) {
        Some(tallied) => tallied,
        None => {
            let col = &facts.districts[layer.index()];
            accumulate(facts, &f, groups, opts, SPLIT_ROWS, &|i| {
                Some(group_of(col[i])).filter(|g| *g < groups)
            })
        }
    };
    publish_table(acc, whole, opts.k)
}

/// Adds group `b` into `a`.
pub fn merge(a: &mut Group, b: &Group, k: usize) {
    a.total.merge(&b.total, k);
    for (x, y) in [
        (&mut a.by_kind, &b.by_kind),
        (&mut a.by_status, &b.by_status),
        (&mut a.by_category, &b.by_category),
        (&mut a.responded, &b.responded),
        (&mut a.resolved_within, &b.resolved_within),
    ] {
        for (c, d) in x.iter_mut().zip(y) {
            c.merge(d, k);
        }
    }
    a.supports += b.supports;
    a.first_response_min
        .extend_from_slice(&b.first_response_min);
    a.resolution_min.extend_from_slice(&b.resolution_min);
}
