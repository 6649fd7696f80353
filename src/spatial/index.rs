//! R-tree of reports whose leaves carry each report's compact summary, so a
//! spatial query reads everything it needs from the leaves it visits (no
//! second lookup, no cache miss per hit).

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use rstar::{AABB, PointDistance, RTree, RTreeObject};

use crate::model::{CategoryId, Districts, Envelope, Kind, Layer, LonLat, ReportId, Status};

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
}

const NO_DISTRICT: u32 = u32::MAX;

/// A leaf of the R-tree: position plus the compact summary (64 bytes).
#[derive(Debug, Clone, Copy, PartialEq)]
struct Entry {
    pos: [f64; 2],
    id: ReportId,
    created_ms: i64,
    h3: u64,
    districts: [u32; 5],
    category: u16,
    kind: Kind,
    status: Status,
}

impl Entry {
    fn from_summary(s: &ReportSummary) -> Self {
        Self {
            pos: s.location.to_array(),
            id: s.id,
            created_ms: s.created_ms,
            h3: s.h3,
            districts: s.districts.0.map(|d| d.unwrap_or(NO_DISTRICT)),
            category: s.category.0,
            kind: s.kind,
            status: s.status,
        }
    }

    fn summary(&self) -> ReportSummary {
        ReportSummary {
            id: self.id,
            // Positions entered the index as checked `LonLat`s.
            location: LonLat::from_checked(self.pos[0], self.pos[1]),
            kind: self.kind,
            category: CategoryId(self.category),
            status: self.status,
            created_ms: self.created_ms,
            h3: self.h3,
            districts: Districts(self.districts.map(|d| (d != NO_DISTRICT).then_some(d))),
        }
    }
}

impl RTreeObject for Entry {
    type Envelope = AABB<[f64; 2]>;
    fn envelope(&self) -> Self::Envelope {
        AABB::from_point(self.pos)
    }
}

impl PointDistance for Entry {
    fn distance_2(&self, p: &[f64; 2]) -> f64 {
        let dx = self.pos[0] - p[0];
        let dy = self.pos[1] - p[1];
        dx * dx + dy * dy
    }
}

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
}

impl ReportFilter {
    fn matches(&self, e: &Entry) -> bool {
        self.kind.is_none_or(|k| e.kind == k)
            && self.category.is_none_or(|c| e.category == c.0)
            && self.status.is_none_or(|st| e.status == st)
            && self.from_ms.is_none_or(|t| e.created_ms >= t)
            && self.to_ms.is_none_or(|t| e.created_ms < t)
            && self
                .district
                .is_none_or(|(layer, d)| e.districts[layer.index()] == d)
            && self.bbox.is_none_or(|b| {
                (b.min_lon..=b.max_lon).contains(&e.pos[0])
                    && (b.min_lat..=b.max_lat).contains(&e.pos[1])
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

fn aabb(b: &Envelope) -> AABB<[f64; 2]> {
    AABB::from_corners([b.min_lon, b.min_lat], [b.max_lon, b.max_lat])
}

/// The report index. Not internally synchronised: the service wraps it in a
/// lock (many readers, one writer after each commit).
#[derive(Default)]
pub struct ReportIndex {
    tree: RTree<Entry>,
    /// Position of every report, sorted by id (ids only grow, so appends keep
    /// it sorted): finds a report's leaf from its id.
    positions: Vec<(ReportId, [f64; 2])>,
}

impl std::fmt::Debug for ReportIndex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReportIndex")
            .field("len", &self.positions.len())
            .finish_non_exhaustive()
    }
}

impl ReportIndex {
    /// Builds the index in one go (bulk-loaded R-tree), as at boot. Consumes
    /// the summaries so that no second copy is alive at the peak.
    #[must_use]
    pub fn bulk_load(summaries: Vec<ReportSummary>) -> Self {
        let mut entries: Vec<Entry> = summaries.iter().map(Entry::from_summary).collect();
        drop(summaries);
        entries.sort_unstable_by_key(|e| e.id);
        entries.dedup_by_key(|e| e.id);
        let positions = entries.iter().map(|e| (e.id, e.pos)).collect();
        Self {
            tree: RTree::bulk_load(entries),
            positions,
        }
    }

    #[must_use]
    pub fn len(&self) -> usize {
        self.positions.len()
    }

    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.positions.is_empty()
    }

    /// Adds a committed report, or replaces the summary of a known id (its
    /// position must not change: reports do not move).
    pub fn upsert(&mut self, s: &ReportSummary) {
        let entry = Entry::from_summary(s);
        match self.positions.binary_search_by_key(&s.id, |p| p.0) {
            Ok(i) => {
                let pos = self.positions[i].1;
                debug_assert_eq!(pos, entry.pos, "reports do not move");
                if let Some(e) = self
                    .tree
                    .locate_all_at_point_mut(&pos)
                    .find(|e| e.id == s.id)
                {
                    *e = Entry { pos, ..entry };
                }
            }
            Err(i) => {
                self.positions.insert(i, (s.id, entry.pos));
                self.tree.insert(entry);
            }
        }
    }

    #[must_use]
    pub fn get(&self, id: ReportId) -> Option<ReportSummary> {
        let i = self.positions.binary_search_by_key(&id, |p| p.0).ok()?;
        self.tree
            .locate_all_at_point(&self.positions[i].1)
            .find(|e| e.id == id)
            .map(Entry::summary)
    }

    /// Calls `f` for every report inside `bbox` (edges included).
    pub fn for_each_in(&self, bbox: &Envelope, mut f: impl FnMut(ReportSummary)) {
        for e in self.tree.locate_in_envelope(&aabb(bbox)) {
            f(e.summary());
        }
    }

    /// Number of reports inside `bbox` (edges included).
    #[must_use]
    pub fn count_in(&self, bbox: &Envelope) -> usize {
        self.tree.locate_in_envelope(&aabb(bbox)).count()
    }

    /// Reports within `radius_m` geodesic metres of `center` that satisfy
    /// `keep`, nearest first, at most `limit`, with their distances. `keep`
    /// runs before the distance, so put cheap field tests there.
    #[must_use]
    pub fn within(
        &self,
        center: LonLat,
        radius_m: f64,
        limit: usize,
        mut keep: impl FnMut(&ReportSummary) -> bool,
    ) -> Vec<(ReportSummary, f64)> {
        let env = center.envelope_around(radius_m);
        let mut out = Vec::new();
        for e in self.tree.locate_in_envelope(&aabb(&env)) {
            let s = e.summary();
            if keep(&s) {
                let d = center.distance_m(s.location);
                if d <= radius_m {
                    out.push((s, d));
                }
            }
        }
        out.sort_by(|a, b| a.1.total_cmp(&b.1).then(a.0.id.cmp(&b.0.id)));
        out.truncate(limit);
        out
    }

    /// A page of report ids matching `filter`, newest (highest id) first,
    /// starting strictly below `before` when given. Keeps only the page in a
    /// bounded heap: no sort of every match.
    #[must_use]
    pub fn page(&self, filter: &ReportFilter, before: Option<ReportId>, limit: usize) -> Page {
        let limit = limit.max(1);
        let mut total = 0_usize;
        let mut remaining = 0_usize;
        // Min-heap of the `limit` highest ids below `before`.
        let mut best: BinaryHeap<Reverse<ReportId>> = BinaryHeap::with_capacity(limit + 1);
        let mut visit = |e: &Entry| {
            if !filter.matches(e) {
                return;
            }
            total += 1;
            if before.is_some_and(|b| e.id >= b) {
                return;
            }
            remaining += 1;
            best.push(Reverse(e.id));
            if best.len() > limit {
                best.pop();
            }
        };
        match &filter.bbox {
            Some(b) => self.tree.locate_in_envelope(&aabb(b)).for_each(&mut visit),
            None => self.tree.iter().for_each(&mut visit),
        }
        let mut ids: Vec<ReportId> = best.into_iter().map(|Reverse(id)| id).collect();
        ids.sort_unstable_by(|a, b| b.cmp(a));
        let next_before = (remaining > ids.len())
            .then(|| ids.last().copied())
            .flatten();
        Page {
            ids,
            total,
            next_before,
        }
    }

    /// Every summary, in id order (for checks and tests; allocates).
    #[must_use]
    pub fn all(&self) -> Vec<ReportSummary> {
        let mut v: Vec<ReportSummary> = self.tree.iter().map(Entry::summary).collect();
        v.sort_unstable_by_key(|s| s.id);
        v
    }
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
