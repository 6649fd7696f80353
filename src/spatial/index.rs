//! R-tree of report points plus compact per-report summaries.

use rstar::{
    AABB, Envelope as _, ParentNode, PointDistance, RStarInsertionStrategy, RTree, RTreeNode,
    RTreeObject, RTreeParams,
};

use std::collections::HashMap;
use std::ops::ControlFlow;
use std::sync::Arc;

use super::hexagons::{self, HexAggregates, HexCounts};
use crate::model::{
    CategoryId, Channel, Districts, Envelope, Kind, Layer, LonLat, ReportId, Status,
};
use crate::stats::{Fact, Facts, reporter_of};

/// What the index keeps about a report: no text, no personal data.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ReportSummary {
    pub id: ReportId,
    pub location: LonLat,
    pub kind: Kind,
    pub category: CategoryId,
    pub status: Status,
    /// Creation time, unix milliseconds (UTC).
    pub created_ms: i64,
    pub h3: u64,
    pub districts: Districts,
    /// When it was closed (done, rejected, archived), if it is.
    pub closed_ms: Option<i64>,
    pub channel: Channel,
    /// Keyed pseudonym of the reporter's contact, when there is one.
    pub reporter: Option<u64>,
    /// When a city service first acted on it.
    pub first_response_ms: Option<i64>,
}

impl ReportSummary {
    fn fact(&self) -> Fact {
        Fact {
            created_ms: self.created_ms,
            kind: self.kind,
            category: self.category,
            channel: self.channel,
            status: self.status,
            districts: self.districts,
            h3: self.h3,
            reporter: reporter_of(self.id, self.reporter),
            first_response_ms: self.first_response_ms,
            closed_ms: self.closed_ms,
            campaign: None,
            supports: 0,
        }
    }
}

/// Compact storage form of a summary (the position lives in the tree).
#[derive(Debug, Clone, Copy)]
struct Slot {
    id: ReportId,
    created_ms: i64,
    h3: u64,
    districts: [u32; 5],
    category: u16,
    kind: Kind,
    status: Status,
    channel: Channel,
    /// See [`ReportPoint::closed_min`].
    closed_min: u32,
    lon: f64,
    lat: f64,
}

const NO_DISTRICT: u32 = u32::MAX;

impl Slot {
    fn from_summary(s: &ReportSummary) -> Self {
        Self {
            id: s.id,
            created_ms: s.created_ms,
            h3: s.h3,
            districts: s.districts.0.map(|d| d.unwrap_or(NO_DISTRICT)),
            category: s.category.0,
            kind: s.kind,
            status: s.status,
            channel: s.channel,
            closed_min: closed_min(s),
            lon: s.location.lon(),
            lat: s.location.lat(),
        }
    }

    fn summary(&self, facts: &Facts, pos: usize) -> ReportSummary {
        let reporter = facts.reporter(pos);
        ReportSummary {
            id: self.id,
            // Positions entered the index as checked `LonLat`s.
            location: LonLat::from_checked(self.lon, self.lat),
            kind: self.kind,
            category: CategoryId(self.category),
            status: self.status,
            created_ms: self.created_ms,
            h3: self.h3,
            districts: Districts(self.districts.map(|d| (d != NO_DISTRICT).then_some(d))),
            closed_ms: (self.closed_min > 0).then(|| i64::from(self.closed_min) * 60_000),
            channel: self.channel,
            reporter: (reporter & crate::stats::ANONYMOUS == 0).then_some(reporter),
            first_response_ms: facts.first_response_ms(pos, self.created_ms),
        }
    }
}

/// The minute (since 1970) a closed report closed; its filing time when the
/// closing time is unknown (imported closed reports); 0 when open.
fn closed_min(s: &ReportSummary) -> u32 {
    if s.status.is_open() {
        return 0;
    }
    let ms = s.closed_ms.unwrap_or(s.created_ms);
    u32::try_from(ms.div_euclid(60_000))
        .unwrap_or(u32::MAX)
        .max(1)
}

/// What an R-tree leaf holds about a report: the fields that spatial
/// queries (tiles, nearby, bbox lists, hexagon counts) filter on and draw, so
/// that a query never leaves the tree. 48 bytes: an rstar node is 56 bytes
/// for any leaf up to that size, so carrying them costs no memory (a unit
/// test pins the node size).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ReportPoint {
    pub id: ReportId,
    /// Creation time, unix milliseconds (UTC).
    pub created_ms: i64,
    /// H3 cell at [`super::H3_RESOLUTION`].
    pub h3: u64,
    pos: [f64; 2],
    pub category: CategoryId,
    pub kind: Kind,
    pub status: Status,
    /// For a closed report, the minute (since 1970) it closed, rounded
    /// down; 0 while open. Fits the leaf's padding (still 48 bytes).
    pub closed_min: u32,
}

impl ReportPoint {
    fn of(s: &Slot) -> Self {
        Self {
            id: s.id,
            created_ms: s.created_ms,
            h3: s.h3,
            pos: [s.lon, s.lat],
            category: CategoryId(s.category),
            kind: s.kind,
            status: s.status,
            closed_min: s.closed_min,
        }
    }

    /// Whether a closed report has faded from public maps and lists at
    /// minute `now_min`, given the fading age of each category in minutes.
    #[must_use]
    pub fn faded(&self, view: &PublicView) -> bool {
        self.closed_min > 0 && view.now_min >= self.fade_min(view)
    }

    /// The minute a closed report fades from public views.
    #[must_use]
    pub fn fade_min(&self, view: &PublicView) -> u32 {
        self.closed_min.saturating_add(
            view.after_min
                .get(usize::from(self.category.0))
                .copied()
                .unwrap_or(view.default_min),
        )
    }

    #[must_use]
    pub fn lon(&self) -> f64 {
        self.pos[0]
    }

    #[must_use]
    pub fn lat(&self) -> f64 {
        self.pos[1]
    }

    #[must_use]
    pub fn location(&self) -> LonLat {
        // Positions entered the index as checked `LonLat`s.
        LonLat::from_checked(self.pos[0], self.pos[1])
    }
}

impl RTreeObject for ReportPoint {
    type Envelope = AABB<[f64; 2]>;
    fn envelope(&self) -> Self::Envelope {
        AABB::from_point(self.pos)
    }
}

impl PointDistance for ReportPoint {
    fn distance_2(&self, p: &[f64; 2]) -> f64 {
        let dx = self.pos[0] - p[0];
        let dy = self.pos[1] - p[1];
        dx * dx + dy * dy
    }
}

/// Node fan-out of the report R-tree. rstar's default (6) makes a z16 tile
/// query walk ~5× more nodes; 32 measured best for tile-sized envelopes over
/// 1M clustered points (BENCHMARKS.md, "index layout").
pub struct TreeParams;

impl RTreeParams for TreeParams {
    const MIN_SIZE: usize = 12;
    const MAX_SIZE: usize = 32;
    /// No forced reinsertion: the tree is bulk-loaded at boot and only grows
    /// by single inserts, where reinsertion cost 40 % of the insert time and
    /// gave no faster queries (BENCHMARKS.md §15.1).
    const REINSERTION_COUNT: usize = 0;
    type DefaultInsertionStrategy = RStarInsertionStrategy;
}

type Tree = RTree<ReportPoint, TreeParams>;

/// Filters of the report list (and, later, of tiles and statistics). Every
/// `None` means "any".
#[derive(Debug, Clone, Default)]
pub struct ReportFilter {
    pub bbox: Option<Envelope>,
    /// A district (dense id) and its layer.
    pub district: Option<(Layer, u32)>,
    pub kind: Option<Kind>,
    pub category: Option<CategoryId>,
    pub status: Option<Status>,
    /// Created at or after (unix ms).
    pub from_ms: Option<i64>,
    /// Created strictly before (unix ms).
    pub to_ms: Option<i64>,
    /// Only these reports (sorted ids), e.g. a campaign's contributions.
    pub only: Option<Arc<[ReportId]>>,
    /// Leave out closed reports that have faded (public maps and lists;
    /// statistics keep them).
    pub public: Option<PublicView>,
}

/// What a public view leaves out: closed reports older than their
/// category's fading age.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublicView {
    /// Minutes since 1970, now.
    pub now_min: u32,
    /// Fading age in minutes, by category id.
    pub after_min: Arc<[u32]>,
    /// For a category beyond `after_min`.
    pub default_min: u32,
}

impl ReportFilter {
    /// The tests a leaf can answer (everything but bbox and district).
    #[must_use]
    pub fn matches_point(&self, p: &ReportPoint) -> bool {
        self.kind.is_none_or(|k| p.kind == k)
            && self.category.is_none_or(|c| p.category == c)
            && self.status.is_none_or(|st| p.status == st)
            && self.from_ms.is_none_or(|t| p.created_ms >= t)
            && self.to_ms.is_none_or(|t| p.created_ms < t)
            && self
                .only
                .as_ref()
                .is_none_or(|ids| ids.binary_search(&p.id).is_ok())
            && self.public.as_ref().is_none_or(|v| !p.faded(v))
    }

    fn matches(&self, s: &Slot) -> bool {
        self.matches_point(&ReportPoint::of(s))
            && self
                .district
                .is_none_or(|(layer, d)| s.districts[layer.index()] == d)
            && self.bbox.is_none_or(|b| {
                (b.min_lon..=b.max_lon).contains(&s.lon) && (b.min_lat..=b.max_lat).contains(&s.lat)
            })
    }
}

/// One page of a listing, newest first.
#[derive(Debug, Clone, PartialEq)]
pub struct Page {
    pub ids: Vec<ReportId>,
    /// Every report matching the filter, across all pages.
    pub total: usize,
    /// Pass as `before` to get the next page; `None` on the last page.
    pub next_before: Option<ReportId>,
}

/// The report index. Not internally synchronised: the service wraps it in a
/// lock (many readers, one writer after each commit).
///
/// Layout: an R-tree of [`ReportPoint`] leaves for spatial queries, and the
/// full summaries in `slots`, **sorted by id** (store ids only grow, so a
/// commit appends), found by binary search: no id map.
pub struct ReportIndex {
    tree: Tree,
    slots: Vec<Slot>,
    /// Statistics' columns, row `i` for `slots[i]`.
    facts: Facts,
    hexes: HexAggregates,
    /// Support counts of the reports that have any.
    supports: HashMap<ReportId, u32>,
    /// Contributions of each campaign (by slug), in id order.
    campaigns: HashMap<Box<str>, Vec<ReportId>>,
}

impl Default for ReportIndex {
    fn default() -> Self {
        Self {
            tree: RTree::new_with_params(),
            slots: Vec::new(),
            facts: Facts::default(),
            hexes: HexAggregates::default(),
            supports: HashMap::new(),
            campaigns: HashMap::new(),
        }
    }
}

impl std::fmt::Debug for ReportIndex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReportIndex")
            .field("len", &self.slots.len())
            .finish_non_exhaustive()
    }
}

/// Builds a [`ReportIndex`] from summaries pushed one by one (the boot scan),
/// without holding a second copy of them.
#[derive(Debug, Default)]
pub struct ReportIndexBuilder {
    slots: Vec<Slot>,
    extra: Vec<Extra>,
}

/// Per slot, what the slot does not keep exactly: reporter, first
/// response, closing time (the slot rounds it to the minute).
type Extra = (Option<u64>, Option<i64>, Option<i64>);

impl ReportIndexBuilder {
    /// A builder for about `expected` reports.
    #[must_use]
    pub fn with_capacity(expected: usize) -> Self {
        Self {
            slots: Vec::with_capacity(expected + headroom(expected)),
            extra: Vec::with_capacity(expected),
        }
    }

    pub fn push(&mut self, s: &ReportSummary) {
        self.slots.push(Slot::from_summary(s));
        self.extra
            .push((s.reporter, s.first_response_ms, s.closed_ms));
    }

    /// The index; a later summary of the same id wins.
    #[must_use]
    pub fn finish(mut self) -> ReportIndex {
        if !self.slots.is_sorted_by_key(|s| s.id)
            || self.slots.windows(2).any(|w| w[0].id == w[1].id)
        {
            // Rare (the boot scan comes in id order): sort both by id,
            // keeping the last of equal ids (a stable sort keeps arrival
            // order).
            let mut pairs: Vec<(Slot, Extra)> =
                self.slots.drain(..).zip(self.extra.drain(..)).collect();
            pairs.sort_by_key(|p| p.0.id);
            pairs.reverse();
            pairs.dedup_by_key(|p| p.0.id);
            pairs.reverse();
            (self.slots, self.extra) = pairs.into_iter().unzip();
        }
        let slots = self.slots;
        let mut facts = Facts::with_capacity(slots.capacity());
        for (i, (slot, (reporter, first, closed))) in slots.iter().zip(self.extra).enumerate() {
            let summary = ReportSummary {
                reporter,
                first_response_ms: first,
                closed_ms: closed,
                ..slot.summary(&Facts::default(), usize::MAX)
            };
            facts.insert(i, &summary.fact());
        }
        // The tree and the hexagon counts are independent: build them on
        // two threads (boot time, BENCHMARKS.md).
        let (tree, hexes) = std::thread::scope(|scope| {
            let hexes = scope.spawn(|| count_hexagons(&slots));
            let points: Vec<ReportPoint> = slots.iter().map(ReportPoint::of).collect();
            let tree = RTree::bulk_load_with_params(points);
            let hexes = hexes
                .join()
                .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
            (tree, hexes)
        });
        ReportIndex {
            tree,
            slots,
            facts,
            hexes,
            supports: HashMap::new(),
            campaigns: HashMap::new(),
        }
    }
}

fn count_hexagons(slots: &[Slot]) -> HexAggregates {
    let mut h = HexAggregates::default();
    for s in slots {
        h.change(s.h3, s.kind, CategoryId(s.category), s.status, true);
    }
    h
}

/// Spare capacity kept beyond `n` slots so that the first commits after a
/// bulk load do not reallocate (and copy) the whole slot array under the
/// write lock.
fn headroom(n: usize) -> usize {
    (n / 8).max(1_024)
}

impl ReportIndex {
    /// Builds the index in one go (bulk-loaded R-tree), as at boot.
    #[must_use]
    pub fn bulk_load(summaries: Vec<ReportSummary>) -> Self {
        let mut b = ReportIndexBuilder::with_capacity(summaries.len());
        for s in &summaries {
            b.push(s);
        }
        drop(summaries);
        b.finish()
    }

    #[must_use]
    pub fn len(&self) -> usize {
        self.slots.len()
    }

    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }

    fn position(&self, id: ReportId) -> Result<usize, usize> {
        // Fast path: the newest report (the one just committed, or looked up
        // right after its 201).
        match self.slots.last() {
            Some(last) if last.id == id => Ok(self.slots.len() - 1),
            Some(last) if last.id < id => Err(self.slots.len()),
            _ => self.slots.binary_search_by_key(&id, |s| s.id),
        }
    }

    /// Adds a committed report, or replaces the summary of a known id (its
    /// position must not change: reports do not move).
    pub fn upsert(&mut self, s: &ReportSummary) {
        let slot = Slot::from_summary(s);
        let point = ReportPoint::of(&slot);
        match self.position(s.id) {
            Ok(i) => {
                let old = &mut self.slots[i];
                debug_assert!(
                    old.lon == slot.lon && old.lat == slot.lat,
                    "reports do not move"
                );
                let pos = [old.lon, old.lat];
                self.hexes.change(
                    old.h3,
                    old.kind,
                    CategoryId(old.category),
                    old.status,
                    false,
                );
                self.hexes.change(
                    slot.h3,
                    slot.kind,
                    CategoryId(slot.category),
                    slot.status,
                    true,
                );
                *old = slot;
                self.facts.replace(i, &s.fact());
                if let Some(leaf) = self
                    .tree
                    .locate_all_at_point_mut(&pos)
                    .find(|p| p.id == s.id)
                {
                    *leaf = point;
                }
            }
            Err(i) => {
                if self.slots.len() == self.slots.capacity() {
                    // Grow by a quarter, not double: at 1M reports doubling
                    // would hold 64 MB of spare slots.
                    self.slots.reserve_exact(headroom(self.slots.len() * 2));
                    self.facts
                        .reserve_exact(self.slots.capacity() - self.facts.len());
                }
                self.slots.insert(i, slot);
                self.facts.insert(i, &s.fact());
                self.tree.insert(point);
                self.hexes.change(
                    slot.h3,
                    slot.kind,
                    CategoryId(slot.category),
                    slot.status,
                    true,
                );
            }
        }
    }

    /// Records a report's support count (drawn in point tiles).
    pub fn set_supports(&mut self, id: ReportId, n: u32) {
        if n == 0 {
            self.supports.remove(&id);
        } else {
            self.supports.insert(id, n);
        }
        if let Ok(i) = self.position(id) {
            self.facts.set_supports(i, n);
        }
    }

    /// Forgets a report's reporter pseudonym (its contact was erased): from
    /// now on statistics count it as a reporter of its own, as a report
    /// filed without a contact.
    pub fn forget_reporter(&mut self, id: ReportId) {
        if let Ok(i) = self.position(id) {
            self.facts.set_reporter(i, reporter_of(id, None));
        }
    }

    /// A report's support count.
    #[must_use]
    pub fn supports(&self, id: ReportId) -> u32 {
        if self.supports.is_empty() {
            return 0;
        }
        self.supports.get(&id).copied().unwrap_or(0)
    }

    /// Records that a report answers a campaign.
    pub fn set_campaign(&mut self, id: ReportId, campaign: &str) {
        let ids = self.campaigns.entry(campaign.into()).or_default();
        if let Err(i) = ids.binary_search(&id) {
            ids.insert(i, id);
        }
        if let Ok(i) = self.position(id) {
            self.facts.set_campaign(i, campaign);
        }
    }

    /// The reports answering a campaign, sorted (for [`ReportFilter::only`]).
    #[must_use]
    pub fn campaign_members(&self, campaign: &str) -> Arc<[ReportId]> {
        self.campaigns
            .get(campaign)
            .map_or_else(|| Arc::from(Vec::new()), |ids| Arc::from(ids.as_slice()))
    }

    #[must_use]
    pub fn get(&self, id: ReportId) -> Option<ReportSummary> {
        self.position(id)
            .ok()
            .map(|i| self.slots[i].summary(&self.facts, i))
    }

    /// Calls `f` for every report point inside `bbox` (edges included). The
    /// hot path of tiles: a walk of the tree that takes whole subtrees lying
    /// inside `bbox` without testing their leaves.
    pub fn for_each_point_in(&self, bbox: &Envelope, mut f: impl FnMut(&ReportPoint)) {
        let _ = self.try_for_each_point_in(bbox, |p| {
            f(p);
            ControlFlow::Continue(())
        });
    }

    /// [`Self::for_each_point_in`] that stops as soon as `f` breaks.
    pub fn try_for_each_point_in(
        &self,
        bbox: &Envelope,
        mut f: impl FnMut(&ReportPoint) -> ControlFlow<()>,
    ) -> ControlFlow<()> {
        let env = AABB::from_corners([bbox.min_lon, bbox.min_lat], [bbox.max_lon, bbox.max_lat]);
        if env.intersects(&self.tree.root().envelope()) {
            walk_in(self.tree.root(), &env, &mut f)
        } else {
            ControlFlow::Continue(())
        }
    }

    /// Calls `f` for every report inside `bbox` (edges included).
    pub fn for_each_in(&self, bbox: &Envelope, mut f: impl FnMut(ReportSummary)) {
        self.for_each_point_in(bbox, |p| {
            if let Some(s) = self.get(p.id) {
                f(s);
            }
        });
    }

    /// Number of reports inside `bbox` (edges included).
    #[must_use]
    pub fn count_in(&self, bbox: &Envelope) -> usize {
        let mut n = 0;
        self.for_each_point_in(bbox, |_| n += 1);
        n
    }

    /// Reports within `radius_m` geodesic metres of `center` that satisfy
    /// `keep`, nearest first (ties by id), at most `limit`, with their
    /// distances. `keep` runs before the distance, so put cheap field tests
    /// there.
    #[must_use]
    pub fn within(
        &self,
        center: LonLat,
        radius_m: f64,
        limit: usize,
        mut keep: impl FnMut(&ReportPoint) -> bool,
    ) -> Vec<(ReportPoint, f64)> {
        if limit == 0 {
            return Vec::new();
        }
        let mut near: Vec<(ReportPoint, f64)> = Vec::new();
        self.for_each_point_in(&center.envelope_around(radius_m), |p| {
            if keep(p) {
                let d = center.distance_m(p.location());
                if d <= radius_m {
                    near.push((*p, d));
                }
            }
        });
        let by_distance = |a: &(ReportPoint, f64), b: &(ReportPoint, f64)| {
            a.1.total_cmp(&b.1).then(a.0.id.cmp(&b.0.id))
        };
        if near.len() > limit {
            near.select_nth_unstable_by(limit - 1, by_distance);
            near.truncate(limit);
        }
        near.sort_unstable_by(by_distance);
        near
    }

    /// A page of report ids matching `filter`, newest (highest id) first,
    /// starting strictly below `before` when given.
    #[must_use]
    pub fn page(&self, filter: &ReportFilter, before: Option<ReportId>, limit: usize) -> Page {
        let mut matching: Vec<ReportId> = match filter.bbox {
            Some(b) => {
                let mut v = Vec::new();
                self.for_each_point_in(&b, |p| {
                    if filter.matches_point(p)
                        && filter.district.is_none_or(|(layer, d)| {
                            self.position(p.id)
                                .is_ok_and(|i| self.slots[i].districts[layer.index()] == d)
                        })
                    {
                        v.push(p.id);
                    }
                });
                v.sort_unstable_by(|a, b| b.cmp(a));
                v
            }
            None => self
                .slots
                .iter()
                .rev()
                .filter(|s| filter.matches(s))
                .map(|s| s.id)
                .collect(),
        };
        let total = matching.len();
        let start = before.map_or(0, |b| matching.partition_point(|&id| id >= b));
        let end = (start + limit).min(total);
        let next_before = (end < total && end > start).then(|| matching[end - 1]);
        matching.truncate(end);
        matching.drain(..start);
        Page {
            ids: matching,
            total,
            next_before,
        }
    }

    /// Hexagon counts at H3 resolution `res` of the reports matching
    /// `filter` (its `bbox` and `district` are ignored): every cell holding a
    /// matching report whose centre lies in `area` grown by one cell reach
    /// ([`hexagons::candidate_box`]), with exact counts over the whole cell,
    /// including its reports outside `area`. Kind with category or status
    /// is answered from the maintained counts; other filters (a time range,
    /// category and status together) walk the points around `area`.
    pub fn hex_counts(
        &self,
        res: u8,
        area: &Envelope,
        filter: &ReportFilter,
        mut f: impl FnMut(u64, HexCounts),
    ) {
        let centres = hexagons::candidate_box(area, res);
        let from_counts = filter.from_ms.is_none()
            && filter.to_ms.is_none()
            && filter.only.is_none()
            && filter.public.is_none()
            && HexAggregates::answers(res, filter.category, filter.status);
        if from_counts {
            self.hexes.cells_in(
                res,
                &centres,
                filter.kind,
                filter.category,
                filter.status,
                f,
            );
            return;
        }
        // Every report of a cell whose centre is in `centres` lies within
        // one more reach of it.
        let walk = hexagons::candidate_box(&centres, res);
        let mut cells: HashMap<u64, HexCounts> = HashMap::new();
        let point_filter = ReportFilter {
            bbox: None,
            district: None,
            ..filter.clone()
        };
        self.for_each_point_in(&walk, |p| {
            if point_filter.matches_point(p)
                && let Some(cell) = hexagons::parent_cell(p.h3, res)
            {
                cells
                    .entry(cell)
                    .or_default()
                    .add(p.kind, p.status.is_open());
            }
        });
        for (cell, counts) in cells {
            if hexagons::cell_center(cell).is_some_and(|c| centres.contains_xy(c[0], c[1])) {
                f(cell, counts);
            }
        }
    }

    /// The maintained hexagon counts.
    #[must_use]
    pub fn hexagons(&self) -> &HexAggregates {
        &self.hexes
    }

    /// Every summary at once, for comparisons in tests and checks.
    #[must_use]
    pub fn all(&self) -> Vec<ReportSummary> {
        self.slots
            .iter()
            .enumerate()
            .map(|(i, s)| s.summary(&self.facts, i))
            .collect()
    }

    /// The statistics' fact table, row `i` for the `i`-th report by id.
    #[must_use]
    pub fn facts(&self) -> &Facts {
        &self.facts
    }
}

fn walk_in(
    node: &ParentNode<ReportPoint>,
    env: &AABB<[f64; 2]>,
    f: &mut impl FnMut(&ReportPoint) -> ControlFlow<()>,
) -> ControlFlow<()> {
    if env.contains_envelope(&node.envelope()) {
        return walk_all(node, f);
    }
    for child in node.children() {
        match child {
            RTreeNode::Leaf(p) => {
                if env.contains_point(&p.pos) {
                    f(p)?;
                }
            }
            RTreeNode::Parent(n) => {
                if env.intersects(&n.envelope()) {
                    walk_in(n, env, f)?;
                }
            }
        }
    }
    ControlFlow::Continue(())
}

fn walk_all(
    node: &ParentNode<ReportPoint>,
    f: &mut impl FnMut(&ReportPoint) -> ControlFlow<()>,
) -> ControlFlow<()> {
    for child in node.children() {
        match child {
            RTreeNode::Leaf(p) => f(p)?,
            RTreeNode::Parent(n) => walk_all(n, f)?,
        }
    }
    ControlFlow::Continue(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn summary(id: ReportId, lon: f64, lat: f64, kind: Kind, cat: u16) -> ReportSummary {
        ReportSummary {
            id,
            location: LonLat::new(lon, lat).unwrap(),
            kind,
            category: CategoryId(cat),
            status: Status::New,
            created_ms: id * 1000,
            h3: 0,
            districts: Districts::default(),
            closed_ms: None,
            channel: crate::model::Channel::Web,
            reporter: None,
            first_response_ms: None,
        }
    }

    #[test]
    fn pages_are_newest_first_and_cover_every_match_once() {
        let idx = ReportIndex::bulk_load(
            (1..=25)
                .map(|i| {
                    summary(
                        i,
                        2.3 + i as f64 * 1e-3,
                        48.85,
                        Kind::Anomaly,
                        (i % 2) as u16,
                    )
                })
                .collect(),
        );
        let filter = ReportFilter {
            category: Some(CategoryId(1)),
            ..Default::default()
        };
        let mut seen = Vec::new();
        let mut before = None;
        loop {
            let page = idx.page(&filter, before, 5);
            assert_eq!(page.total, 13);
            seen.extend(page.ids.iter().copied());
            match page.next_before {
                Some(b) => before = Some(b),
                None => break,
            }
        }
        let expected: Vec<ReportId> = (1..=25).rev().filter(|i| i % 2 == 1).collect();
        assert_eq!(seen, expected);
    }

    #[test]
    fn a_bbox_page_agrees_with_a_brute_force_scan() {
        let mut v = Vec::new();
        for i in 0..500_i64 {
            let lon = 2.25 + ((i * 7919) % 1000) as f64 * 2e-4;
            let lat = 48.82 + ((i * 104_729) % 1000) as f64 * 8e-5;
            v.push(summary(i + 1, lon, lat, Kind::Contribution, 0));
        }
        let idx = ReportIndex::bulk_load(v.clone());
        let bbox = Envelope::new(2.3, 48.84, 2.38, 48.87).unwrap();
        let filter = ReportFilter {
            bbox: Some(bbox),
            ..Default::default()
        };
        let page = idx.page(&filter, None, 10_000);
        let mut brute: Vec<ReportId> = v
            .iter()
            .filter(|s| bbox.contains(s.location))
            .map(|s| s.id)
            .collect();
        brute.sort_unstable_by(|a, b| b.cmp(a));
        assert_eq!(page.ids, brute);
        assert_eq!(idx.count_in(&bbox), brute.len());
    }

    #[test]
    fn nearby_reports_are_within_the_geodesic_radius_nearest_first() {
        let c = LonLat::new(2.35, 48.85).unwrap();
        let mut idx = ReportIndex::default();
        // 10 m, 40 m and 60 m east; at 48.85°N one metre is ~1.364e-5° of longitude.
        for (id, m) in [(1, 40.0), (2, 10.0), (3, 60.0)] {
            idx.upsert(&summary(id, 2.35 + m * 1.3645e-5, 48.85, Kind::Anomaly, 0));
        }
        let near = idx.within(c, 50.0, 10, |_| true);
        let ids: Vec<ReportId> = near.iter().map(|(s, _)| s.id).collect();
        assert_eq!(ids, vec![2, 1]);
        assert!((near[0].1 - 10.0).abs() < 0.5, "{}", near[0].1);
    }

    #[test]
    fn a_status_change_reaches_the_tree_leaf_that_nearby_queries_read() {
        let mut idx = ReportIndex::default();
        let mut s = summary(3, 2.35, 48.85, Kind::Anomaly, 0);
        idx.upsert(&s);
        let c = LonLat::new(2.35, 48.85).unwrap();
        assert_eq!(idx.within(c, 10.0, 5, |p| p.status.is_open()).len(), 1);
        s.status = Status::Done;
        idx.upsert(&s);
        assert!(idx.within(c, 10.0, 5, |p| p.status.is_open()).is_empty());
        let mut seen = Vec::new();
        idx.for_each_point_in(&Envelope::new(2.3, 48.8, 2.4, 48.9).unwrap(), |p| {
            seen.push(p.status)
        });
        assert_eq!(seen, vec![Status::Done]);
    }

    #[test]
    fn ids_arriving_out_of_order_are_all_found_and_listed_newest_first() {
        let mut idx = ReportIndex::bulk_load(vec![
            summary(10, 2.35, 48.85, Kind::Anomaly, 0),
            summary(30, 2.35, 48.85, Kind::Anomaly, 0),
        ]);
        idx.upsert(&summary(20, 2.36, 48.86, Kind::Anomaly, 0));
        idx.upsert(&summary(5, 2.37, 48.87, Kind::Anomaly, 0));
        idx.upsert(&summary(40, 2.38, 48.88, Kind::Anomaly, 0));
        for id in [5, 10, 20, 30, 40] {
            assert_eq!(idx.get(id).map(|s| s.id), Some(id));
        }
        assert_eq!(idx.get(25), None);
        let page = idx.page(&ReportFilter::default(), None, 10);
        assert_eq!(page.ids, vec![40, 30, 20, 10, 5]);
    }

    #[test]
    fn a_bulk_load_keeps_the_last_summary_of_a_repeated_id() {
        let mut later = summary(1, 2.35, 48.85, Kind::Anomaly, 0);
        later.status = Status::Done;
        let idx = ReportIndex::bulk_load(vec![summary(1, 2.35, 48.85, Kind::Anomaly, 0), later]);
        assert_eq!(idx.len(), 1);
        assert_eq!(idx.get(1).unwrap().status, Status::Done);
    }

    #[test]
    fn a_tree_node_holding_a_report_point_is_no_larger_than_with_a_bare_point() {
        // The leaf carries the tile fields for free only while this holds.
        assert_eq!(size_of::<RTreeNode<ReportPoint>>(), 56);
    }

    /// Random reports around Paris with real H3 cells.
    fn scattered(n: usize, seed: u64) -> Vec<ReportSummary> {
        use rand::{Rng, SeedableRng};
        let mut rng = rand_pcg::Pcg64Mcg::seed_from_u64(seed);
        (0..n)
            .map(|i| {
                let lon = rng.random_range(2.25..2.42);
                let lat = rng.random_range(48.815..48.90);
                let mut s = summary(
                    i as i64 + 1,
                    lon,
                    lat,
                    if rng.random_bool(0.3) {
                        Kind::Contribution
                    } else {
                        Kind::Anomaly
                    },
                    rng.random_range(0..4),
                );
                s.h3 = crate::spatial::h3_cell(s.location);
                s.status = [
                    Status::New,
                    Status::Done,
                    Status::Rejected,
                    Status::ToProcess,
                ][rng.random_range(0..4)];
                s.created_ms = rng.random_range(0..1_000_000);
                s
            })
            .collect()
    }

    /// What `hex_counts` must answer, by brute force over every report.
    fn brute_hex_counts(
        all: &[ReportSummary],
        res: u8,
        area: &Envelope,
        filter: &ReportFilter,
    ) -> Vec<(u64, HexCounts)> {
        let centres = hexagons::candidate_box(area, res);
        let mut cells: HashMap<u64, HexCounts> = HashMap::new();
        for s in all {
            let p = ReportPoint::of(&Slot::from_summary(s));
            if filter.matches_point(&p) {
                let cell = hexagons::parent_cell(s.h3, res).unwrap();
                cells
                    .entry(cell)
                    .or_default()
                    .add(s.kind, s.status.is_open());
            }
        }
        let mut v: Vec<(u64, HexCounts)> = cells
            .into_iter()
            .filter(|(c, _)| {
                let c = hexagons::cell_center(*c).unwrap();
                centres.contains_xy(c[0], c[1])
            })
            .collect();
        v.sort_unstable_by_key(|(c, _)| *c);
        v
    }

    #[test]
    fn hexagon_counts_match_a_brute_force_count_whichever_path_answers() {
        let all = scattered(3_000, 7);
        let mut idx = ReportIndex::bulk_load(all[..2_000].to_vec());
        for s in &all[2_000..] {
            idx.upsert(s);
        }
        // Close some reports after the fact: counts must follow.
        let mut all = all;
        for s in all.iter_mut().step_by(5) {
            s.status = Status::Done;
            idx.upsert(s);
        }
        let area = Envelope::new(2.30, 48.84, 2.36, 48.87).unwrap();
        let filters = [
            ReportFilter::default(),
            ReportFilter {
                kind: Some(Kind::Contribution),
                ..Default::default()
            },
            ReportFilter {
                category: Some(CategoryId(2)),
                kind: Some(Kind::Anomaly),
                ..Default::default()
            },
            ReportFilter {
                status: Some(Status::Done),
                ..Default::default()
            },
            ReportFilter {
                status: Some(Status::New),
                category: Some(CategoryId(3)),
                kind: Some(Kind::Anomaly),
                ..Default::default()
            },
            ReportFilter {
                from_ms: Some(200_000),
                to_ms: Some(600_000),
                category: Some(CategoryId(1)),
                ..Default::default()
            },
        ];
        for res in [5_u8, 7, 8, 9, 10, 11] {
            for filter in &filters {
                let mut got = Vec::new();
                idx.hex_counts(res, &area, filter, |c, n| got.push((c, n)));
                got.sort_unstable_by_key(|(c, _)| *c);
                let want = brute_hex_counts(&all, res, &area, filter);
                assert!(!want.is_empty(), "res {res}: the test area must hold cells");
                assert_eq!(got, want, "res {res}, filter {filter:?}");
            }
        }
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(40))]
        /// Small areas read the kept counts through a disk of cells around
        /// them, large ones by scanning: both give the brute-force cells.
        #[test]
        fn hexagon_counts_of_any_area_match_a_brute_force_count(
            x in 0.0_f64..1.0,
            y in 0.0_f64..1.0,
            half_m in 20.0_f64..3_000.0,
            res in 7_u8..=10,
            filter_pick in 0_usize..4,
        ) {
            use std::sync::OnceLock;
            static DATA: OnceLock<(Vec<ReportSummary>, ReportIndex)> = OnceLock::new();
            let (all, idx) = DATA.get_or_init(|| {
                let all = scattered(6_000, 11);
                let idx = ReportIndex::bulk_load(all.clone());
                (all, idx)
            });
            let c = LonLat::new(2.25 + x * 0.17, 48.815 + y * 0.085).unwrap();
            let area = c.envelope_around(half_m);
            let filter = [
                ReportFilter::default(),
                ReportFilter { kind: Some(Kind::Contribution), ..Default::default() },
                ReportFilter { category: Some(CategoryId(1)), ..Default::default() },
                ReportFilter { status: Some(Status::New), kind: Some(Kind::Anomaly), ..Default::default() },
            ][filter_pick].clone();
            let mut got = Vec::new();
            idx.hex_counts(res, &area, &filter, |c, n| got.push((c, n)));
            got.sort_unstable_by_key(|(c, _)| *c);
            proptest::prop_assert_eq!(got, brute_hex_counts(all, res, &area, &filter));
        }
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(64))]
        /// The tree walk (with its whole-subtree shortcut) returns exactly the
        /// points a brute-force scan finds, edges included, whether the
        /// index was bulk-loaded or grown by inserts.
        #[test]
        fn an_envelope_query_returns_exactly_the_points_a_scan_finds(
            // A coarse grid so that many points sit exactly on query edges.
            cells in proptest::collection::vec((0_u16..200, 0_u16..200), 0..600),
            split in 0_usize..600,
            q in (0_u16..200, 0_u16..200, 0_u16..200, 0_u16..200),
        ) {
            let at = |x: u16, y: u16| (2.25 + f64::from(x) * 1e-3, 48.81 + f64::from(y) * 5e-4);
            let all: Vec<ReportSummary> = cells
                .iter()
                .enumerate()
                .map(|(i, &(x, y))| {
                    let (lon, lat) = at(x, y);
                    summary(i as i64 + 1, lon, lat, Kind::Anomaly, 0)
                })
                .collect();
            let split = split.min(all.len());
            let mut idx = ReportIndex::bulk_load(all[..split].to_vec());
            for s in &all[split..] {
                idx.upsert(s);
            }
            let (a, b) = at(q.0.min(q.2), q.1.min(q.3));
            let (c, d) = at(q.0.max(q.2), q.1.max(q.3));
            let bbox = Envelope::new(a, b, c, d).unwrap();
            let mut got = Vec::new();
            idx.for_each_point_in(&bbox, |p| got.push(p.id));
            got.sort_unstable();
            let brute: Vec<ReportId> =
                all.iter().filter(|s| bbox.contains(s.location)).map(|s| s.id).collect();
            proptest::prop_assert_eq!(got, brute);
        }

        /// The widening search of `within` gives what a scan of every report
        /// gives: the `limit` nearest kept reports within the radius, nearest
        /// first, ties by id, also in a dense cluster.
        #[test]
        fn a_nearby_search_returns_the_nearest_kept_reports_a_scan_finds(
            // Offsets of up to ~110 m east and north of the centre, on a
            // 2 m grid so that distances tie.
            offsets in proptest::collection::vec((0_u16..55, 0_u16..55, 0_u16..3), 0..400),
            radius_m in 1.0_f64..120.0,
            limit in 0_usize..15,
        ) {
            let c = LonLat::new(2.35, 48.85).unwrap();
            let all: Vec<ReportSummary> = offsets
                .iter()
                .enumerate()
                .map(|(i, &(x, y, cat))| {
                    let lon = 2.35 + f64::from(x) * 2.0 * 1.3645e-5;
                    let lat = 48.85 + f64::from(y) * 2.0 / 111_200.0;
                    summary(i as i64 + 1, lon, lat, Kind::Anomaly, cat)
                })
                .collect();
            let idx = ReportIndex::bulk_load(all.clone());
            let keep = |p: &ReportPoint| p.category.0 != 2;
            let got: Vec<(ReportId, f64)> =
                idx.within(c, radius_m, limit, keep).into_iter().map(|(p, d)| (p.id, d)).collect();
            let mut brute: Vec<(ReportId, f64)> = all
                .iter()
                .filter(|s| s.category.0 != 2)
                .map(|s| (s.id, c.distance_m(s.location)))
                .filter(|&(_, d)| d <= radius_m)
                .collect();
            brute.sort_by(|a, b| a.1.total_cmp(&b.1).then(a.0.cmp(&b.0)));
            brute.truncate(limit);
            proptest::prop_assert_eq!(got, brute);
        }
    }

    #[test]
    fn upserting_a_known_id_replaces_its_summary_without_duplicating_it() {
        let mut idx = ReportIndex::default();
        let mut s = summary(7, 2.35, 48.85, Kind::Anomaly, 0);
        idx.upsert(&s);
        s.status = Status::Done;
        idx.upsert(&s);
        assert_eq!(idx.len(), 1);
        assert_eq!(idx.get(7).unwrap().status, Status::Done);
        assert_eq!(
            idx.count_in(&Envelope::new(2.0, 48.0, 3.0, 49.0).unwrap()),
            1
        );
    }
}
