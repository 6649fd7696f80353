//! H3 hexagon counts of reports, kept in step with the report index.
//!
//! For every resolution in [`AGGREGATED_RESOLUTIONS`] the index keeps, per
//! cell, the number of reports by kind and how many of them are open, in
//! total and per category. Hexagon tiles and statistics read these counts
//! instead of walking the reports: a filter on kind and/or category is
//! answered from them; any other filter (status, time range) falls back to a
//! walk of the points, with the same answer (`ReportIndex::hex_counts`).

use std::collections::HashMap;
use std::ops::RangeInclusive;

use h3o::{CellIndex, LatLng, Resolution};

use crate::model::{CategoryId, Envelope, Kind, LonLat, Status};

/// Resolutions whose counts are maintained at every commit (res 4: ~1,770 km²
/// hexagons, the whole city in one or two; res 10: ~15,000 m², a block).
pub const AGGREGATED_RESOLUTIONS: RangeInclusive<u8> = 4..=10;

/// Counts of the reports of one hexagon (matching a filter).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct HexCounts {
    pub total: u32,
    pub anomalies: u32,
    pub contributions: u32,
    /// Reports whose status is not closed.
    pub open: u32,
}

impl HexCounts {
    /// Adds one report.
    pub fn add(&mut self, kind: Kind, open: bool) {
        self.total += 1;
        match kind {
            Kind::Anomaly => self.anomalies += 1,
            Kind::Contribution => self.contributions += 1,
        }
        self.open += u32::from(open);
    }
}

/// Per-cell counts by kind, split open / all.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Tally {
    all: [u32; 2],
    open: [u32; 2],
}

impl Tally {
    fn change(&mut self, kind: Kind, open: bool, add: bool) {
        let k = kind_index(kind);
        let step = |v: &mut u32| {
            *v = if add {
                v.saturating_add(1)
            } else {
                v.saturating_sub(1)
            }
        };
        step(&mut self.all[k]);
        if open {
            step(&mut self.open[k]);
        }
    }

    fn is_empty(&self) -> bool {
        self.all == [0, 0]
    }

    fn counts(&self, kind: Option<Kind>) -> HexCounts {
        let only = |k: Kind| kind.is_none_or(|f| f == k);
        let anomalies = if only(Kind::Anomaly) { self.all[0] } else { 0 };
        let contributions = if only(Kind::Contribution) {
            self.all[1]
        } else {
            0
        };
        let open = [Kind::Anomaly, Kind::Contribution]
            .into_iter()
            .filter(|&k| only(k))
            .map(|k| self.open[kind_index(k)])
            .sum();
        HexCounts {
            total: anomalies + contributions,
            anomalies,
            contributions,
            open,
        }
    }
}

fn kind_index(kind: Kind) -> usize {
    match kind {
        Kind::Anomaly => 0,
        Kind::Contribution => 1,
    }
}

#[derive(Debug, Default)]
struct Level {
    all: HashMap<u64, Tally>,
    by_category: HashMap<(u64, u16), Tally>,
    by_status: HashMap<(u64, u8), Tally>,
    /// Centre and boundary of every cell that ever held a report, computed
    /// once (tiles draw the same hexagons again and again).
    shapes: HashMap<u64, CellShape>,
}

/// Where a cell is, in lon/lat.
#[derive(Debug)]
struct CellShape {
    center: [f64; 2],
    /// Corners, open ring (H3's order).
    boundary: Box<[[f64; 2]]>,
}

impl CellShape {
    fn of(cell: u64) -> Option<Self> {
        let c = CellIndex::try_from(cell).ok()?;
        let ll = LatLng::from(c);
        Some(Self {
            center: [ll.lng(), ll.lat()],
            boundary: c.boundary().iter().map(|v| [v.lng(), v.lat()]).collect(),
        })
    }
}

/// The maintained counts.
#[derive(Debug)]
pub struct HexAggregates {
    levels: Vec<Level>,
}

impl Default for HexAggregates {
    fn default() -> Self {
        Self {
            levels: AGGREGATED_RESOLUTIONS.map(|_| Level::default()).collect(),
        }
    }
}

/// The parent of a stored (finer) cell at `res`, if the cell is valid and at
/// least that fine.
#[must_use]
pub fn parent_cell(cell: u64, res: u8) -> Option<u64> {
    let cell = CellIndex::try_from(cell).ok()?;
    let res = Resolution::try_from(res).ok()?;
    cell.parent(res).map(u64::from)
}

/// Centre of a cell as (lon, lat).
#[must_use]
pub fn cell_center(cell: u64) -> Option<[f64; 2]> {
    let c = CellIndex::try_from(cell).ok()?;
    let ll = LatLng::from(c);
    Some([ll.lng(), ll.lat()])
}

/// Half-size, in degrees (lon, lat), of a box around a cell's centre that is
/// sure to hold the whole cell at latitudes up to `lat`: twice H3's average
/// edge length of the resolution (a hexagon's circumradius is its edge;
/// cells vary in size by less than 2×).
#[must_use]
pub fn cell_reach_deg(res: u8, lat: f64) -> (f64, f64) {
    let edge_m = Resolution::try_from(res).map_or(1_000_000.0, Resolution::edge_length_m);
    let reach_m = 2.0 * edge_m;
    let dlat = reach_m / 111_320.0;
    let cos = lat.abs().min(89.0).to_radians().cos();
    (dlat / cos, dlat)
}

/// `bbox` grown by `(dlon, dlat)` on every side.
#[must_use]
pub fn grow(bbox: &Envelope, (dlon, dlat): (f64, f64)) -> Envelope {
    Envelope {
        min_lon: bbox.min_lon - dlon,
        min_lat: bbox.min_lat - dlat,
        max_lon: bbox.max_lon + dlon,
        max_lat: bbox.max_lat + dlat,
    }
}

/// The box that holds every cell at `res` whose centre lies in `bbox`
/// grown by one reach: the cells a hexagon query over `bbox` returns.
#[must_use]
pub fn candidate_box(bbox: &Envelope, res: u8) -> Envelope {
    let lat = bbox.min_lat.abs().max(bbox.max_lat.abs());
    grow(bbox, cell_reach_deg(res, lat))
}

/// Every cell at `res` whose centre may lie in `area`: a disk of cells
/// around the cell of the area's centre, `None` when that disk would hold
/// `limit` cells or more (the caller scans instead).
///
/// Ring `k` of a disk lies at least `1.5·k` local edges from its centre
/// cell's centre, and a local edge is at least two thirds of the
/// resolution's average edge `e`; a centre within `D` of the area's centre
/// is within `D + 1.5·e` of the centre cell's. So `k = ⌈D/e + 1.5⌉ + 1`
/// rings reach every such centre.
fn covering_disk(res: u8, area: &Envelope, limit: usize) -> Option<Vec<u64>> {
    let resolution = Resolution::try_from(res).ok()?;
    let (clon, clat) = (
        (area.min_lon + area.max_lon) / 2.0,
        (area.min_lat + area.max_lat) / 2.0,
    );
    let center = LonLat::new(clon, clat).ok()?;
    let reach_m = [
        (area.min_lon, area.min_lat),
        (area.min_lon, area.max_lat),
        (area.max_lon, area.min_lat),
        (area.max_lon, area.max_lat),
    ]
    .into_iter()
    .filter_map(|(lon, lat)| LonLat::new(lon, lat).ok())
    .map(|c| center.distance_m(c))
    .fold(0.0, f64::max);
    let edge_m = resolution.edge_length_m();
    let k = (reach_m / edge_m + 1.5).ceil() + 1.0;
    // A disk of k rings holds 3k(k+1)+1 cells.
    if !k.is_finite() || 3.0 * k * (k + 1.0) + 1.0 >= limit as f64 {
        return None;
    }
    let origin = LatLng::new(clat, clon).ok()?.to_cell(resolution);
    Some(
        origin
            .grid_disk::<Vec<_>>(k as u32)
            .into_iter()
            .map(u64::from)
            .collect(),
    )
}

impl HexAggregates {
    fn level(&self, res: u8) -> Option<&Level> {
        self.levels.get(usize::from(
            res.checked_sub(*AGGREGATED_RESOLUTIONS.start())?,
        ))
    }

    /// Counts one report in (`add`) or out of every maintained resolution.
    pub fn change(&mut self, h3: u64, kind: Kind, category: CategoryId, status: Status, add: bool) {
        let open = status.is_open();
        let status = status as u8;
        for (level, res) in self.levels.iter_mut().zip(AGGREGATED_RESOLUTIONS) {
            let Some(cell) = parent_cell(h3, res) else {
                continue;
            };
            let tally = level.all.entry(cell).or_default();
            tally.change(kind, open, add);
            if tally.is_empty() {
                level.all.remove(&cell);
            }
            let tally = level.by_category.entry((cell, category.0)).or_default();
            tally.change(kind, open, add);
            if tally.is_empty() {
                level.by_category.remove(&(cell, category.0));
            }
            let tally = level.by_status.entry((cell, status)).or_default();
            tally.change(kind, open, add);
            if tally.is_empty() {
                level.by_status.remove(&(cell, status));
            }
            if add
                && !level.shapes.contains_key(&cell)
                && let Some(shape) = CellShape::of(cell)
            {
                level.shapes.insert(cell, shape);
            }
        }
    }

    /// Whether `res` is maintained.
    #[must_use]
    pub fn covers(res: u8) -> bool {
        AGGREGATED_RESOLUTIONS.contains(&res)
    }

    /// Whether [`Self::cells_in`] can answer these filters at `res`: a
    /// maintained resolution, and category and status not both given.
    #[must_use]
    pub fn answers(res: u8, category: Option<CategoryId>, status: Option<Status>) -> bool {
        Self::covers(res) && (category.is_none() || status.is_none())
    }

    /// Calls `f` with every cell at `res` holding at least one report of the
    /// given kind, category or status whose centre lies in `area` (the
    /// caller grows its box by [`candidate_box`]). `None` filters mean any.
    /// Nothing is called unless [`Self::answers`] holds.
    pub fn cells_in(
        &self,
        res: u8,
        area: &Envelope,
        kind: Option<Kind>,
        category: Option<CategoryId>,
        status: Option<Status>,
        mut f: impl FnMut(u64, HexCounts),
    ) {
        let Some(level) = self.level(res) else {
            return;
        };
        if !Self::answers(res, category, status) {
            return;
        }
        let inside = |cell: u64| {
            level
                .shapes
                .get(&cell)
                .is_some_and(|s| area.contains_xy(s.center[0], s.center[1]))
        };
        let mut emit = |cell: u64, t: &Tally| {
            let counts = t.counts(kind);
            if counts.total > 0 && inside(cell) {
                f(cell, counts);
            }
        };
        // A small area asks for the cells around it; a large one scans the
        // level (fewer cells than the disk would hold).
        if let Some(disk) = covering_disk(res, area, level.all.len()) {
            for cell in disk {
                let tally = match (category, status) {
                    (Some(c), _) => level.by_category.get(&(cell, c.0)),
                    (None, Some(st)) => level.by_status.get(&(cell, st as u8)),
                    (None, None) => level.all.get(&cell),
                };
                if let Some(t) = tally {
                    emit(cell, t);
                }
            }
            return;
        }
        match (category, status) {
            (Some(c), _) => level
                .by_category
                .iter()
                .filter(|((_, cat), _)| *cat == c.0)
                .for_each(|(&(cell, _), t)| emit(cell, t)),
            (None, Some(st)) => level
                .by_status
                .iter()
                .filter(|((_, s), _)| *s == st as u8)
                .for_each(|(&(cell, _), t)| emit(cell, t)),
            (None, None) => level.all.iter().for_each(|(&cell, t)| emit(cell, t)),
        }
    }

    /// Reports of one cell at `res`, unfiltered (0 for a cell without any,
    /// or a resolution not kept).
    #[must_use]
    pub fn total_of(&self, res: u8, cell: u64) -> u32 {
        self.level(res)
            .and_then(|l| l.all.get(&cell))
            .map_or(0, |t| t.counts(None).total)
    }

    /// The corners (lon, lat; open ring) of a cell kept at `res`.
    #[must_use]
    pub fn boundary(&self, res: u8, cell: u64) -> Option<&[[f64; 2]]> {
        Some(&self.level(res)?.shapes.get(&cell)?.boundary)
    }

    /// Number of cells kept at `res` (for sizing checks).
    #[must_use]
    pub fn cell_count(&self, res: u8) -> usize {
        self.level(res).map_or(0, |l| l.all.len())
    }
}
