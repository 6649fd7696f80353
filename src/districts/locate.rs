//! Exact, accelerated point location within one layer version.
//!
//! Two structures, both built once when a layer version is added and never
//! changed afterwards:
//!
//! * [`Shape`]: a district's rings, each with a *band index*: the ring's
//!   y-range is cut into horizontal bands and each band lists the edges whose
//!   y-range meets it. The point-in-ring test is geo's winding-number
//!   algorithm ([`geo::coordinate_position::coord_pos_relative_to_ring`]),
//!   edge rule for edge rule and with the same robust `orient2d`, run only on
//!   the edges of the band of the point's y. Edges outside that band have a
//!   y-range that excludes the point's y, and contribute nothing to geo's sum
//!   either, so the answer is the same bit for bit.
//! * [`Grid`]: a uniform grid over the layer version's bounding box. A cell
//!   that no district's boundary comes near and that lies inside exactly one
//!   district answers directly; a cell outside every district answers
//!   "none"; any other cell lists its candidate districts (in code order,
//!   flagged when the district covers the whole cell) for the exact test.
//!
//! Exactness of the grid: the cell of a point is computed as
//! `floor((x - x0) * inv_dx)`, a monotone function of `x`, and every cell is
//! classified with its rectangle inflated by [`CELL_EPS_DEG`] (far above the
//! few ulps of rounding in that formula), so the cell a point is mapped to is
//! always one whose inflated rectangle holds it. A cell marked as lying in one
//! district has no district boundary within its inflated rectangle, so every
//! point mapped to it really is in that district alone.

use geo::kernels::{Kernel, Orientation, RobustKernel};
use geo::{BoundingRect, Coord, LineString, MultiPolygon, Polygon};

/// Inflation of grid cells, in degrees, when classifying them (about 0.1 mm).
/// It only has to exceed the rounding error of the cell formula (~1e-15°).
const CELL_EPS_DEG: f64 = 1e-9;

/// Target side of a grid cell, in metres. Smaller cells answer more points
/// directly but cost memory (4 bytes a cell) and so cache misses. Measured on
/// the five Paris layers (random points / DansMaRue points, median): 15 m
/// 0.64 / 0.38 µs (17 MB), 30 m 0.22 / 0.32 µs (4 MB), 60 m 0.34 / 0.39 µs.
/// At 30 m a layer's grid has about 194k cells (0.8–1.1 MB).
pub(crate) const GRID_CELL_M: f64 = 30.0;

/// Upper bound on the cells of one grid (16 MB), so that a layer spanning a
/// country gets coarser cells instead of exhausting memory.
const MAX_GRID_CELLS: usize = 1 << 22;

/// Metres per degree of latitude (mean).
const METRES_PER_DEGREE_LAT: f64 = 111_132.0;

/// Grid cell value: no district.
const CELL_EMPTY: u32 = u32::MAX;
/// Grid cell value flag: the low 31 bits index the candidate list.
const CELL_MIXED: u32 = 1 << 31;
/// Candidate flag: the district covers the whole (inflated) cell.
const CAND_FULL: u32 = 1 << 31;

/// Where a point lies relative to a ring.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum RingPos {
    Outside,
    Boundary,
    Inside,
}

/// A closed ring with its edges bucketed by horizontal band.
#[derive(Debug, Clone)]
struct Ring {
    min: Coord<f64>,
    max: Coord<f64>,
    y0: f64,
    inv_band_h: f64,
    bands: usize,
    /// `band_start[b]..band_start[b + 1]` indexes `edges` for band `b`.
    band_start: Vec<u32>,
    edges: Vec<(Coord<f64>, Coord<f64>)>,
}

impl Ring {
    fn new(ring: &LineString<f64>) -> Self {
        let lines: Vec<(Coord<f64>, Coord<f64>)> = ring.lines().map(|l| (l.start, l.end)).collect();
        let (min, max) = ring.bounding_rect().map_or(
            (Coord { x: 0.0, y: 0.0 }, Coord { x: -1.0, y: -1.0 }),
            |r| (r.min(), r.max()),
        );
        let bands = lines.len().max(1);
        let height = max.y - min.y;
        let inv_band_h = if height > 0.0 {
            bands as f64 / height
        } else {
            0.0
        };
        let mut this = Ring {
            min,
            max,
            y0: min.y,
            inv_band_h,
            bands,
            band_start: Vec::new(),
            edges: Vec::new(),
        };
        let mut counts = vec![0_u32; bands + 1];
        for (a, b) in &lines {
            let (lo, hi) = (this.band_of(a.y.min(b.y)), this.band_of(a.y.max(b.y)));
            for c in &mut counts[lo..=hi] {
                *c += 1;
            }
        }
        let mut start = Vec::with_capacity(bands + 1);
        let mut acc = 0_u32;
        for c in &counts[..bands] {
            start.push(acc);
            acc += c;
        }
        start.push(acc);
        let mut fill = start.clone();
        let mut edges = vec![(Coord { x: 0.0, y: 0.0 }, Coord { x: 0.0, y: 0.0 }); acc as usize];
        for &(a, b) in &lines {
            let (lo, hi) = (this.band_of(a.y.min(b.y)), this.band_of(a.y.max(b.y)));
            for slot in &mut fill[lo..=hi] {
                edges[*slot as usize] = (a, b);
                *slot += 1;
            }
        }
        this.band_start = start;
        this.edges = edges;
        this
    }

    /// The band of `y`: monotone non-decreasing in `y`, so an edge whose
    /// y-range holds `y` is always listed in `band_of(y)`.
    #[inline]
    fn band_of(&self, y: f64) -> usize {
        let t = ((y - self.y0) * self.inv_band_h).floor();
        if t <= 0.0 {
            0
        } else if t >= (self.bands - 1) as f64 {
            self.bands - 1
        } else {
            // In range 0..bands by the tests above.
            #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
            let b = t as usize;
            b
        }
    }

    /// geo's winding-number test, restricted to the edges that can matter.
    #[inline]
    fn position(&self, p: Coord<f64>) -> RingPos {
        if p.x < self.min.x || p.x > self.max.x || p.y < self.min.y || p.y > self.max.y {
            return RingPos::Outside;
        }
        let b = self.band_of(p.y);
        let (s, e) = (self.band_start[b] as usize, self.band_start[b + 1] as usize);
        let mut winding = 0_i32;
        for &(a, b) in &self.edges[s..e] {
            if a.y <= p.y {
                if b.y >= p.y {
                    // Upward (or horizontal) edge.
                    if p.x > a.x.max(b.x) {
                        // Strictly east: clockwise or collinear-outside, no effect.
                        continue;
                    }
                    if p.x < a.x.min(b.x) {
                        // Strictly west: counter-clockwise (or a horizontal
                        // edge, excluded by `b.y != p.y`).
                        if b.y != p.y {
                            winding += 1;
                        }
                        continue;
                    }
                    match RobustKernel::orient2d(a, b, p) {
                        Orientation::CounterClockwise => {
                            if b.y != p.y {
                                winding += 1;
                            }
                        }
                        Orientation::Collinear => {
                            if in_between(p.x, a.x, b.x) {
                                return RingPos::Boundary;
                            }
                        }
                        Orientation::Clockwise => {}
                    }
                }
            } else if b.y <= p.y {
                // Downward edge.
                if p.x > a.x.max(b.x) {
                    continue;
                }
                if p.x < a.x.min(b.x) {
                    // Strictly west of a downward edge: clockwise.
                    winding -= 1;
                    continue;
                }
                match RobustKernel::orient2d(a, b, p) {
                    Orientation::Clockwise => winding -= 1,
                    Orientation::Collinear => {
                        if in_between(p.x, a.x, b.x) {
                            return RingPos::Boundary;
                        }
                    }
                    Orientation::CounterClockwise => {}
                }
            }
        }
        if winding == 0 {
            RingPos::Outside
        } else {
            RingPos::Inside
        }
    }
}

/// geo's `value_in_between`: inclusive, bounds in any order.
#[inline]
fn in_between(v: f64, a: f64, b: f64) -> bool {
    if a < b {
        v >= a && v <= b
    } else {
        v >= b && v <= a
    }
}

#[derive(Debug, Clone)]
struct PolygonShape {
    exterior: Ring,
    holes: Vec<Ring>,
}

impl PolygonShape {
    fn new(p: &Polygon<f64>) -> Self {
        PolygonShape {
            exterior: Ring::new(p.exterior()),
            holes: p.interiors().iter().map(Ring::new).collect(),
        }
    }

    /// Whether `p` is in the closed polygon, with geo's hole semantics (the
    /// first hole that holds the point decides).
    #[inline]
    fn intersects(&self, p: Coord<f64>) -> bool {
        match self.exterior.position(p) {
            RingPos::Outside => false,
            RingPos::Boundary => true,
            RingPos::Inside => {
                for hole in &self.holes {
                    match hole.position(p) {
                        RingPos::Outside => {}
                        RingPos::Boundary => return true,
                        RingPos::Inside => return false,
                    }
                }
                true
            }
        }
    }
}

/// A district's geometry, indexed for exact point-in-polygon tests.
#[derive(Debug, Clone)]
pub(crate) struct Shape {
    min: Coord<f64>,
    max: Coord<f64>,
    polygons: Vec<PolygonShape>,
}

impl Shape {
    pub(crate) fn new(mp: &MultiPolygon<f64>) -> Self {
        let (min, max) = mp.bounding_rect().map_or(
            (Coord { x: 0.0, y: 0.0 }, Coord { x: -1.0, y: -1.0 }),
            |r| (r.min(), r.max()),
        );
        // geo skips empty polygons; so do we.
        let polygons =
            mp.0.iter()
                .filter(|p| !p.exterior().0.is_empty())
                .map(PolygonShape::new)
                .collect();
        Shape { min, max, polygons }
    }

    /// Whether `p` lies in the closed multipolygon (interior or boundary):
    /// the same answer as `geo::Intersects<Coord>`.
    #[inline]
    pub(crate) fn intersects(&self, p: Coord<f64>) -> bool {
        if p.x < self.min.x || p.x > self.max.x || p.y < self.min.y || p.y > self.max.y {
            return false;
        }
        self.polygons.iter().any(|poly| poly.intersects(p))
    }

    /// Every edge of every ring, once.
    fn edges(&self) -> impl Iterator<Item = (Coord<f64>, Coord<f64>)> + '_ {
        self.polygons
            .iter()
            .flat_map(|p| std::iter::once(&p.exterior).chain(p.holes.iter()))
            .flat_map(Ring::unique_edges)
    }
}

impl Ring {
    /// Every edge once: an edge spanning several bands is stored in each, and
    /// is yielded from the first (the band of its lowest y).
    fn unique_edges(&self) -> impl Iterator<Item = (Coord<f64>, Coord<f64>)> + '_ {
        (0..self.bands).flat_map(move |band| {
            let (s, e) = (
                self.band_start[band] as usize,
                self.band_start[band + 1] as usize,
            );
            self.edges[s..e]
                .iter()
                .copied()
                .filter(move |(a, b)| self.band_of(a.y.min(b.y)) == band)
        })
    }
}

/// A uniform grid over one layer version, answering most points directly.
#[derive(Debug, Clone)]
pub(crate) struct Grid {
    x0: f64,
    y0: f64,
    inv_dx: f64,
    inv_dy: f64,
    dx: f64,
    dy: f64,
    nx: usize,
    ny: usize,
    /// Per cell: `CELL_EMPTY`, a district's local index, or `CELL_MIXED | start`.
    cells: Vec<u32>,
    /// Candidate lists: `[len, cand...]`, each cand a local index, `CAND_FULL`
    /// when the district covers the cell.
    candidates: Vec<u32>,
}

/// What the grid knows about a point's cell.
pub(crate) enum CellAnswer<'a> {
    None,
    One(u32),
    Candidates(&'a [u32]),
}

impl Grid {
    /// Builds the grid of `shapes` (local index = position), whose order is
    /// the order of preference when a point lies in several.
    pub(crate) fn new(shapes: &[Shape]) -> Self {
        let mut min = Coord {
            x: f64::INFINITY,
            y: f64::INFINITY,
        };
        let mut max = Coord {
            x: f64::NEG_INFINITY,
            y: f64::NEG_INFINITY,
        };
        for s in shapes.iter().filter(|s| s.min.x <= s.max.x) {
            min.x = min.x.min(s.min.x);
            min.y = min.y.min(s.min.y);
            max.x = max.x.max(s.max.x);
            max.y = max.y.max(s.max.y);
        }
        if min.x > max.x {
            return Grid {
                x0: 0.0,
                y0: 0.0,
                inv_dx: 0.0,
                inv_dy: 0.0,
                dx: 1.0,
                dy: 1.0,
                nx: 0,
                ny: 0,
                cells: Vec::new(),
                candidates: Vec::new(),
            };
        }
        let mid_lat = f64::midpoint(min.y, max.y).clamp(-89.0, 89.0);
        let mut dy = GRID_CELL_M / METRES_PER_DEGREE_LAT;
        let mut dx = dy / mid_lat.to_radians().cos();
        // A margin of one cell on each side keeps every district strictly inside.
        let cells_for = |dx: f64, dy: f64| {
            let nx = ((max.x - min.x) / dx).ceil() + 2.0;
            let ny = ((max.y - min.y) / dy).ceil() + 2.0;
            (nx, ny)
        };
        let (mut fx, mut fy) = cells_for(dx, dy);
        while fx * fy > MAX_GRID_CELLS as f64 {
            dx *= 1.5;
            dy *= 1.5;
            (fx, fy) = cells_for(dx, dy);
        }
        // Bounded by MAX_GRID_CELLS above.
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        let (nx, ny) = (fx as usize, fy as usize);
        let mut grid = Grid {
            x0: min.x - dx,
            y0: min.y - dy,
            inv_dx: 1.0 / dx,
            inv_dy: 1.0 / dy,
            dx,
            dy,
            nx,
            ny,
            cells: vec![CELL_EMPTY; nx * ny],
            candidates: Vec::new(),
        };
        grid.fill(shapes);
        grid
    }

    /// Column of `x` (monotone in `x`); may be out of `0..nx`.
    #[inline]
    fn col_f(&self, x: f64) -> f64 {
        ((x - self.x0) * self.inv_dx).floor()
    }

    #[inline]
    fn row_f(&self, y: f64) -> f64 {
        ((y - self.y0) * self.inv_dy).floor()
    }

    fn clamp_index(v: f64, n: usize) -> usize {
        if v <= 0.0 {
            0
        } else if v >= (n - 1) as f64 {
            n - 1
        } else {
            #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
            let i = v as usize;
            i
        }
    }

    fn fill(&mut self, shapes: &[Shape]) {
        // (cell, local index | CAND_FULL when the district covers the cell).
        let mut hits: Vec<(u32, u32)> = Vec::new();
        let margin = 4.0 * CELL_EPS_DEG;
        for (local, shape) in shapes.iter().enumerate() {
            if shape.min.x > shape.max.x {
                continue;
            }
            let local = u32::try_from(local).unwrap_or(u32::MAX >> 1);
            let c0 = Self::clamp_index(self.col_f(shape.min.x - margin), self.nx);
            let c1 = Self::clamp_index(self.col_f(shape.max.x + margin), self.nx);
            let r0 = Self::clamp_index(self.row_f(shape.min.y - margin), self.ny);
            let r1 = Self::clamp_index(self.row_f(shape.max.y + margin), self.ny);
            let w = c1 - c0 + 1;
            let h = r1 - r0 + 1;
            let mut touched = vec![false; w * h];
            for (a, b) in shape.edges() {
                self.mark_segment(a, b, c0, c1, r0, r1, w, &mut touched);
            }
            for r in r0..=r1 {
                // Consecutive untouched cells of a row form a connected region
                // that no boundary meets: one test decides them all.
                let mut run_inside: Option<bool> = None;
                for c in c0..=c1 {
                    let t = touched[(r - r0) * w + (c - c0)];
                    let cell = u32::try_from(r * self.nx + c).unwrap_or(u32::MAX);
                    if t {
                        run_inside = None;
                        hits.push((cell, local));
                        continue;
                    }
                    let inside = *run_inside.get_or_insert_with(|| {
                        let centre = Coord {
                            x: self.x0 + (c as f64 + 0.5) * self.dx,
                            y: self.y0 + (r as f64 + 0.5) * self.dy,
                        };
                        shape.intersects(centre)
                    });
                    if inside {
                        hits.push((cell, local | CAND_FULL));
                    }
                }
            }
        }
        hits.sort_unstable_by_key(|&(cell, cand)| (cell, cand & !CAND_FULL));
        let mut i = 0;
        while i < hits.len() {
            let cell = hits[i].0;
            let mut j = i;
            while j < hits.len() && hits[j].0 == cell {
                j += 1;
            }
            let group = &hits[i..j];
            let value = if group.len() == 1 && group[0].1 & CAND_FULL != 0 {
                group[0].1 & !CAND_FULL
            } else {
                let start = u32::try_from(self.candidates.len()).unwrap_or(u32::MAX);
                self.candidates
                    .push(u32::try_from(group.len()).unwrap_or(u32::MAX));
                self.candidates.extend(group.iter().map(|&(_, cand)| cand));
                CELL_MIXED | start
            };
            self.cells[cell as usize] = value;
            i = j;
        }
    }

    /// Marks every cell (within `c0..=c1 × r0..=r1`) whose inflated rectangle
    /// the segment `a`–`b` meets, conservatively.
    #[allow(clippy::too_many_arguments)]
    fn mark_segment(
        &self,
        a: Coord<f64>,
        b: Coord<f64>,
        c0: usize,
        c1: usize,
        r0: usize,
        r1: usize,
        w: usize,
        touched: &mut [bool],
    ) {
        let margin = 2.0 * CELL_EPS_DEG;
        let (xmin, xmax) = (a.x.min(b.x), a.x.max(b.x));
        let ca = Self::clamp_index(self.col_f(xmin - margin), self.nx).max(c0);
        let cb = Self::clamp_index(self.col_f(xmax + margin), self.nx).min(c1);
        for c in ca..=cb {
            // The column's x-interval, inflated, clipped to the segment.
            let lx = (self.x0 + c as f64 * self.dx - margin).max(xmin);
            let rx = (self.x0 + (c + 1) as f64 * self.dx + margin).min(xmax);
            let (ylo, yhi) = if b.x == a.x || lx > rx {
                (a.y.min(b.y), a.y.max(b.y))
            } else {
                let t = |x: f64| a.y + (b.y - a.y) * ((x - a.x) / (b.x - a.x));
                let (y1, y2) = (t(lx), t(rx));
                // A bound on the rounding error of `t`, which grows as the
                // segment nears the vertical (then the clamp below takes over).
                let err = 8.0
                    * f64::EPSILON
                    * ((b.y - a.y).abs() * (lx.abs().max(rx.abs()) + a.x.abs() + b.x.abs())
                        / (b.x - a.x).abs()
                        + a.y.abs()
                        + b.y.abs());
                (y1.min(y2) - err, y1.max(y2) + err)
            };
            // Never beyond the segment's own extent, whatever the rounding.
            let ylo = ylo.max(a.y.min(b.y));
            let yhi = yhi.min(a.y.max(b.y));
            let ra = Self::clamp_index(self.row_f(ylo - margin), self.ny).max(r0);
            let rb = Self::clamp_index(self.row_f(yhi + margin), self.ny).min(r1);
            for r in ra..=rb {
                touched[(r - r0) * w + (c - c0)] = true;
            }
        }
    }

    /// What the grid says about `p`.
    #[inline]
    pub(crate) fn lookup(&self, p: Coord<f64>) -> CellAnswer<'_> {
        let (cf, rf) = (self.col_f(p.x), self.row_f(p.y));
        // Points off the grid are more than a cell away from every district.
        if !(cf >= 0.0 && rf >= 0.0 && cf < self.nx as f64 && rf < self.ny as f64) {
            return CellAnswer::None;
        }
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        let idx = rf as usize * self.nx + cf as usize;
        let v = self.cells[idx];
        if v == CELL_EMPTY {
            CellAnswer::None
        } else if v & CELL_MIXED == 0 {
            CellAnswer::One(v)
        } else {
            let start = (v & !CELL_MIXED) as usize;
            let len = self.candidates[start] as usize;
            CellAnswer::Candidates(&self.candidates[start + 1..start + 1 + len])
        }
    }

    /// Share of cells answered without a polygon test, and the memory held.
    pub(crate) fn stats(&self) -> GridStats {
        let mixed = self
            .cells
            .iter()
            .filter(|&&v| v != CELL_EMPTY && v & CELL_MIXED != 0)
            .count();
        GridStats {
            cells: self.cells.len(),
            mixed_cells: mixed,
            bytes: self.cells.len() * 4 + self.candidates.len() * 4,
        }
    }
}

/// Size figures of a layer version's grid.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GridStats {
    /// Number of cells.
    pub cells: usize,
    /// Cells whose points need an exact polygon test.
    pub mixed_cells: usize,
    /// Bytes held by the grid (cells and candidate lists).
    pub bytes: usize,
}

/// A layer version's districts, indexed: local index = dense id - first id.
#[derive(Debug, Clone)]
pub(crate) struct VersionIndex {
    shapes: Vec<Shape>,
    grid: Grid,
}

impl VersionIndex {
    pub(crate) fn new<'a>(geometries: impl Iterator<Item = &'a MultiPolygon<f64>>) -> Self {
        let shapes: Vec<Shape> = geometries.map(Shape::new).collect();
        let grid = Grid::new(&shapes);
        VersionIndex { shapes, grid }
    }

    /// The first district (lowest local index) whose closed geometry holds `p`.
    #[inline]
    pub(crate) fn locate(&self, p: Coord<f64>) -> Option<u32> {
        match self.grid.lookup(p) {
            CellAnswer::None => None,
            CellAnswer::One(local) => Some(local),
            CellAnswer::Candidates(cands) => cands.iter().find_map(|&cand| {
                let local = cand & !CAND_FULL;
                (cand & CAND_FULL != 0 || self.shapes[local as usize].intersects(p))
                    .then_some(local)
            }),
        }
    }

    pub(crate) fn stats(&self) -> GridStats {
        self.grid.stats()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use geo::coordinate_position::{CoordPos, coord_pos_relative_to_ring};
    use geo::{Intersects, polygon};
    use proptest::prelude::*;

    fn star() -> Polygon<f64> {
        // A non-convex ring with horizontal and vertical edges, and a hole.
        polygon!(
            exterior: [
                (x: 0.0, y: 0.0), (x: 4.0, y: 0.0), (x: 4.0, y: 1.0), (x: 2.0, y: 2.0),
                (x: 4.0, y: 3.0), (x: 4.0, y: 4.0), (x: 0.0, y: 4.0), (x: 1.0, y: 2.0), (x: 0.0, y: 0.0),
            ],
            interiors: [[(x: 1.5, y: 0.5), (x: 2.5, y: 0.5), (x: 2.5, y: 1.0), (x: 1.5, y: 1.0), (x: 1.5, y: 0.5)]],
        )
    }

    #[test]
    fn the_banded_ring_test_matches_geo_on_vertices_edges_and_grid_points() {
        let poly = star();
        let ring = Ring::new(poly.exterior());
        let mut points: Vec<Coord<f64>> = poly.exterior().0.clone();
        for i in 0..=40 {
            for j in 0..=40 {
                points.push(Coord {
                    x: f64::from(i) * 0.125 - 0.5,
                    y: f64::from(j) * 0.125 - 0.5,
                });
            }
        }
        for p in points {
            let expected = match coord_pos_relative_to_ring(p, poly.exterior()) {
                CoordPos::Inside => RingPos::Inside,
                CoordPos::OnBoundary => RingPos::Boundary,
                CoordPos::Outside => RingPos::Outside,
            };
            assert_eq!(ring.position(p), expected, "{p:?}");
        }
    }

    #[test]
    fn a_grid_cell_answer_equals_the_polygon_answer() {
        let a: MultiPolygon<f64> = star().into();
        let b: MultiPolygon<f64> =
            polygon![(x: 4.0, y: 0.0), (x: 6.0, y: 0.0), (x: 6.0, y: 4.0), (x: 4.0, y: 4.0), (x: 4.0, y: 0.0)].into();
        let geoms = [a, b];
        let index = VersionIndex::new(geoms.iter());
        for i in 0..=120 {
            for j in 0..=80 {
                let p = Coord {
                    x: f64::from(i) * 0.05 - 0.01,
                    y: f64::from(j) * 0.05 - 0.01,
                };
                let expected = geoms
                    .iter()
                    .position(|g| g.intersects(&p))
                    .map(|i| i as u32);
                assert_eq!(index.locate(p), expected, "{p:?}");
            }
        }
    }

    proptest! {
        #[test]
        fn random_points_are_located_as_geo_locates_them(x in -0.5f64..6.5, y in -0.5f64..4.5) {
            let a: MultiPolygon<f64> = star().into();
            let shape = Shape::new(&a);
            let p = Coord { x, y };
            prop_assert_eq!(shape.intersects(p), a.intersects(&p));
        }
    }
}
