//! R-tree of report points plus compact per-report summaries.

use std::collections::HashMap;

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
            lon: s.location.lon(),
            lat: s.location.lat(),
        }
    }

    fn summary(&self) -> ReportSummary {
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
        }
    }
}

/// A point in the R-tree: position and the slot of its summary.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Point {
    pos: [f64; 2],
    slot: u32,
}

impl RTreeObject for Point {
    type Envelope = AABB<[f64; 2]>;
    fn envelope(&self) -> Self::Envelope {
        AABB::from_point(self.pos)
    }
}

impl PointDistance for Point {
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
    fn matches(&self, s: &Slot) -> bool {
        self.kind.is_none_or(|k| s.kind == k)
            && self.category.is_none_or(|c| s.category == c.0)
            && self.status.is_none_or(|st| s.status == st)
            && self.from_ms.is_none_or(|t| s.created_ms >= t)
            && self.to_ms.is_none_or(|t| s.created_ms < t)
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
#[derive(Default)]
pub struct ReportIndex {
    tree: RTree<Point>,
    slots: Vec<Slot>,
    by_id: HashMap<ReportId, u32>,
    /// Whether `slots` is sorted by id (true when ids only grow, the normal case).
    sorted: bool,
}

impl std::fmt::Debug for ReportIndex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReportIndex")
            .field("len", &self.slots.len())
            .finish_non_exhaustive()
    }
}

impl ReportIndex {
    /// Builds the index in one go (bulk-loaded R-tree), as at boot.
    #[must_use]
    pub fn bulk_load(mut summaries: Vec<ReportSummary>) -> Self {
        summaries.sort_unstable_by_key(|s| s.id);
        summaries.dedup_by_key(|s| s.id);
        let slots: Vec<Slot> = summaries.iter().map(Slot::from_summary).collect();
        let points = slots
            .iter()
            .enumerate()
            .map(|(i, s)| Point {
                pos: [s.lon, s.lat],
                slot: slot_u32(i),
            })
            .collect();
        let by_id = slots
            .iter()
            .enumerate()
            .map(|(i, s)| (s.id, slot_u32(i)))
            .collect();
        Self {
            tree: RTree::bulk_load(points),
            slots,
            by_id,
            sorted: true,
        }
    }

    #[must_use]
    pub fn len(&self) -> usize {
        self.slots.len()
    }

    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }

    /// Adds a committed report, or replaces the summary of a known id (its
    /// position must not change: reports do not move).
    pub fn upsert(&mut self, s: &ReportSummary) {
        let slot = Slot::from_summary(s);
        if let Some(&i) = self.by_id.get(&s.id) {
            let old = &mut self.slots[i as usize];
            debug_assert!(
                old.lon == slot.lon && old.lat == slot.lat,
                "reports do not move"
            );
            *old = slot;
            return;
        }
        let i = slot_u32(self.slots.len());
        if self.slots.last().is_some_and(|last| last.id > s.id) {
            self.sorted = false;
        }
        self.slots.push(slot);
        self.by_id.insert(s.id, i);
        self.tree.insert(Point {
            pos: [slot.lon, slot.lat],
            slot: i,
        });
    }

    #[must_use]
    pub fn get(&self, id: ReportId) -> Option<ReportSummary> {
        self.by_id
            .get(&id)
            .map(|&i| self.slots[i as usize].summary())
    }

    /// Calls `f` for every report inside `bbox` (edges included).
    pub fn for_each_in(&self, bbox: &Envelope, mut f: impl FnMut(ReportSummary)) {
        let env = AABB::from_corners([bbox.min_lon, bbox.min_lat], [bbox.max_lon, bbox.max_lat]);
        for p in self.tree.locate_in_envelope(&env) {
            f(self.slots[p.slot as usize].summary());
        }
    }

    /// Number of reports inside `bbox` (edges included).
    #[must_use]
    pub fn count_in(&self, bbox: &Envelope) -> usize {
        let env = AABB::from_corners([bbox.min_lon, bbox.min_lat], [bbox.max_lon, bbox.max_lat]);
        self.tree.locate_in_envelope(&env).count()
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
        // Field tests (`keep`) before the haversine: most candidates in a dense
        // area are of another category or closed.
        let env = center.envelope_around(radius_m);
        let mut out = Vec::new();
        self.for_each_in(&env, |s| {
            if keep(&s) {
                let d = center.distance_m(s.location);
                if d <= radius_m {
                    out.push((s, d));
                }
            }
        });
        out.sort_by(|a, b| a.1.total_cmp(&b.1).then(a.0.id.cmp(&b.0.id)));
        out.truncate(limit);
        out
    }

    /// A page of report ids matching `filter`, newest (highest id) first,
    /// starting strictly below `before` when given.
    #[must_use]
    pub fn page(&self, filter: &ReportFilter, before: Option<ReportId>, limit: usize) -> Page {
        let mut matching: Vec<ReportId> = match filter.bbox {
            Some(b) => {
                let mut v = Vec::new();
                let env = AABB::from_corners([b.min_lon, b.min_lat], [b.max_lon, b.max_lat]);
                for p in self.tree.locate_in_envelope(&env) {
                    let s = &self.slots[p.slot as usize];
                    if filter.matches(s) {
                        v.push(s.id);
                    }
                }
                v.sort_unstable_by(|a, b| b.cmp(a));
                v
            }
            None => {
                let mut v: Vec<ReportId> = self
                    .slots
                    .iter()
                    .rev()
                    .filter(|s| filter.matches(s))
                    .map(|s| s.id)
                    .collect();
                if !self.sorted {
                    v.sort_unstable_by(|a, b| b.cmp(a));
                }
                v
            }
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

    /// Every summary at once, for comparisons in tests and checks.
    #[must_use]
    pub fn all(&self) -> Vec<ReportSummary> {
        self.slots.iter().map(Slot::summary).collect()
    }
}

fn slot_u32(i: usize) -> u32 {
    // More than 4 billion reports in memory would exhaust RAM long before.
    u32::try_from(i).unwrap_or(u32::MAX)
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
