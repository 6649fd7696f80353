//! Tile addressing and geometry in Web Mercator (EPSG:3857), XYZ scheme.
//!
//! Tiles are numbered as OSM and Google do: at zoom `z` the world is `2^z`
//! columns from the antimeridian eastwards and `2^z` rows from the north
//! Mercator limit ([`MAX_LAT`]) southwards (y grows downwards). Inside a tile,
//! coordinates run from 0 to [`EXTENT`] in the same directions.
//!
//! # Rules
//!
//! - **A point on a tile edge** belongs to the tile east of a vertical edge
//!   and south of a horizontal one: a tile is half-open, its west and north
//!   edges inclusive, its east and south edges exclusive (`x = floor(..)`, the
//!   XYZ convention). The last column also holds longitude 180 and the last
//!   row everything at or south of `-MAX_LAT`; the first row holds everything
//!   north of `MAX_LAT` (latitudes are clamped to the Mercator limits).
//!   [`TileId::containing`], [`TileId::contains`] and [`TileId::bounds`]
//!   agree exactly on this rule, to the last bit of an `f64`: the edges of
//!   `bounds` are where the projection, as computed in `f64`, changes tile
//!   (which may be some 1e-14° off the mathematical edge, e.g. near the
//!   equator and the prime meridian).
//! - **Points are floored** ([`TileTransform::project`]): tile coordinate
//!   `i` covers `[i, i + 1)` of the tile's [`EXTENT`] subdivisions. Hence a
//!   point that [`TileId::contains`] projects into `0..EXTENT` on both axes
//!   (except on the antimeridian and the south Mercator limit).
//! - **Polygon vertices are rounded** to the nearest unit after clipping
//!   ([`clip_and_simplify`]): no bias, so areas match the clipped original.
//! - Either way the same position gets the same world unit in every tile of
//!   a zoom (tile origins are whole units), so features line up across tile
//!   seams.
//! - **The buffer** is counted in tile units on each side: with a buffer `b`,
//!   a tile keeps what lies in `[-b, EXTENT + b]` on both axes.

use std::f64::consts::PI;
use std::fmt;

use geo::{Coord, LineString, MultiPolygon, Polygon, Simplify};

use super::TileError;
use crate::model::{Envelope, LonLat};

/// Tile coordinates per tile side (the MVT default).
pub const EXTENT: u32 = 4096;

/// Buffer around a tile, in tile units ([`EXTENT`] per tile side), so that
/// symbols and polygon outlines drawn near an edge are not cut.
pub const BUFFER: u32 = 64;

/// Deepest zoom addressed (tile coordinates still fit in `u32` and world
/// coordinates at [`EXTENT`] resolution in the 53 bits of an `f64`).
pub const MAX_ZOOM: u8 = 30;

/// Latitude limit of Web Mercator, `atan(sinh(π))` in degrees: the square
/// world's north and south edges.
pub const MAX_LAT: f64 = 85.051_128_779_806_59;

/// Longitude as a fraction of the world's width, from the antimeridian east.
fn world_x(lon: f64) -> f64 {
    (lon + 180.0) / 360.0
}

/// Latitude as a fraction of the world's height, from the north limit south;
/// latitudes beyond [`MAX_LAT`] are clamped to it.
fn world_y(lat: f64) -> f64 {
    let sin = lat.clamp(-MAX_LAT, MAX_LAT).to_radians().sin();
    (0.5 - sin.atanh() / (2.0 * PI)).clamp(0.0, 1.0)
}

/// Inverse of [`world_x`].
fn lon_at(x: f64) -> f64 {
    x * 360.0 - 180.0
}

/// Inverse of [`world_y`].
fn lat_at(y: f64) -> f64 {
    (PI * (1.0 - 2.0 * y))
        .sinh()
        .atan()
        .to_degrees()
        .clamp(-MAX_LAT, MAX_LAT)
}

/// `x.floor()` as an integer, for `|x| < 2^63` (NaN gives 0). Inline
/// arithmetic: `f64::floor` is a libm call on the baseline x86-64 target,
/// and showed in the profile of a tile.
fn floor_i64(x: f64) -> i64 {
    let t = x as i64;
    if (t as f64) > x { t - 1 } else { t }
}

fn saturate_i32(v: i64) -> i32 {
    i32::try_from(v).unwrap_or(if v < 0 { i32::MIN } else { i32::MAX })
}

/// `2^z` as an `f64` (exact, whatever `z`).
fn tiles_per_side(z: u8) -> f64 {
    2f64.powi(i32::from(z))
}

/// The westernmost longitude of column `x` at zoom `z`, chosen to the last
/// bit so that `floor(world_x(lon) * 2^z) >= x` holds exactly from it
/// eastwards (column `2^z` gives 180, the east edge of the world).
fn west_edge(x: u32, z: u8) -> f64 {
    let n = tiles_per_side(z);
    let column = f64::from(x);
    if x == 0 {
        return -180.0;
    }
    if column >= n {
        return 180.0;
    }
    let at_or_east = |lon: f64| world_x(lon) * n >= column;
    edge(lon_at(column / n), -180.0, 180.0, at_or_east)
}

/// The northernmost latitude of row `y` at zoom `z`, chosen to the last bit
/// so that `floor(world_y(lat) * 2^z) >= y` holds exactly from it southwards
/// (row `2^z` gives `-MAX_LAT`, the south edge of the world).
fn north_edge(y: u32, z: u8) -> f64 {
    let n = tiles_per_side(z);
    let row = f64::from(y);
    if y == 0 {
        return MAX_LAT;
    }
    if row >= n {
        return -MAX_LAT;
    }
    // The first latitude north of the row, then the last bit before it.
    let north_of_row = |lat: f64| world_y(lat) * n < row;
    edge(lat_at(row / n), -MAX_LAT, MAX_LAT, north_of_row).next_down()
}

/// The first `f64` of `min..=max` where a predicate that is false below
/// some point and true above it turns true, searched around `estimate`.
///
/// Brackets the estimate, then bisects in value space until the two ends are
/// adjacent floats: exact to the last bit whatever the inverse projection's
/// rounding (and a few dozen evaluations, where walking ulp by ulp would take
/// billions near zero).
fn edge(estimate: f64, min: f64, max: f64, holds: impl Fn(f64) -> bool) -> f64 {
    let mut reach = 1e-9_f64.max(estimate.abs() * 1e-12);
    let (mut no, mut yes) = loop {
        let (lo, hi) = ((estimate - reach).max(min), (estimate + reach).min(max));
        if (lo == min || !holds(lo)) && (hi == max || holds(hi)) {
            break (lo, hi);
        }
        reach *= 16.0;
    };
    // At the ends of the range: holds from the start, or never.
    if holds(no) || !holds(yes) {
        return if holds(no) { no } else { yes };
    }
    loop {
        let mid = no + (yes - no) / 2.0;
        if mid <= no || mid >= yes {
            return yes;
        }
        if holds(mid) {
            yes = mid;
        } else {
            no = mid;
        }
    }
}

/// A tile of the XYZ pyramid: zoom, column from the west, row from the north.
///
/// Built by [`TileId::new`] (checked) or [`TileId::containing`]. The fields
/// are public to read and match on; a value built by hand outside the
/// pyramid gives meaningless envelopes and projections, never a panic.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TileId {
    pub z: u8,
    pub x: u32,
    pub y: u32,
}

impl TileId {
    /// Checks and builds a tile address.
    ///
    /// # Errors
    /// [`TileError::InvalidTile`] when `z` is above [`MAX_ZOOM`] or `x` or `y`
    /// is not below `2^z`.
    ///
    /// ```
    /// use civicmap::tiles::TileId;
    /// assert_eq!(TileId::new(15, 16_597, 11_273)?.to_string(), "15/16597/11273");
    /// assert!(TileId::new(2, 4, 0).is_err());
    /// assert!(TileId::new(31, 0, 0).is_err());
    /// # Ok::<(), civicmap::tiles::TileError>(())
    /// ```
    pub fn new(z: u8, x: u32, y: u32) -> Result<Self, TileError> {
        let bad = |reason| TileError::InvalidTile { z, x, y, reason };
        if z > MAX_ZOOM {
            return Err(bad("zoom above 30"));
        }
        let n = 1u32 << z;
        if x >= n {
            return Err(bad("column not below 2^zoom"));
        }
        if y >= n {
            return Err(bad("row not below 2^zoom"));
        }
        Ok(Self { z, x, y })
    }

    /// The tile of zoom `z` that holds `p`, by the half-open rule of the
    /// module docs (a point on an edge goes east and south). `z` above
    /// [`MAX_ZOOM`] is taken as [`MAX_ZOOM`].
    ///
    /// ```
    /// use civicmap::model::LonLat;
    /// use civicmap::tiles::TileId;
    /// let notre_dame = LonLat::new(2.3499, 48.8530)?;
    /// assert_eq!(TileId::containing(notre_dame, 15).to_string(), "15/16597/11273");
    /// // Greenwich is the west edge of the tiles east of it.
    /// let greenwich = LonLat::new(0.0, 51.4779)?;
    /// assert_eq!(TileId::containing(greenwich, 1).x, 1);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use]
    pub fn containing(p: LonLat, z: u8) -> Self {
        let z = z.min(MAX_ZOOM);
        let n = tiles_per_side(z);
        let last = (1u32 << z) - 1;
        // `as` saturates (below 0 gives 0) and the clamp handles 2^z.
        let x = (floor_i64(world_x(p.lon()) * n) as u32).min(last);
        let y = (floor_i64(world_y(p.lat()) * n) as u32).min(last);
        Self { z, x, y }
    }

    /// Whether `p` belongs to this tile by the half-open rule (no buffer).
    #[must_use]
    pub fn contains(&self, p: LonLat) -> bool {
        Self::containing(p, self.z) == *self
    }

    /// The lon/lat envelope of the tile. Its west and north edges are the
    /// smallest longitude and largest latitude that [`TileId::containing`]
    /// puts in this tile; its east and south edges are those of the next
    /// tiles, so they belong to them (except for the last column and row).
    #[must_use]
    pub fn bounds(&self) -> Envelope {
        Envelope {
            min_lon: west_edge(self.x, self.z),
            min_lat: north_edge(self.y.saturating_add(1), self.z),
            max_lon: west_edge(self.x.saturating_add(1), self.z),
            max_lat: north_edge(self.y, self.z),
        }
    }

    /// The envelope of the tile grown by `buffer` tile units ([`EXTENT`] per
    /// side) on each side, in Mercator, then clamped to the world
    /// (longitudes to ±180, latitudes to ±[`MAX_LAT`]); it does not wrap
    /// around the antimeridian. Every position in it projects into
    /// `-buffer..=EXTENT + buffer` on both axes (up to the last bit at the
    /// very edge), so it is the box to query an index with. A zero buffer
    /// gives [`TileId::bounds`].
    #[must_use]
    pub fn buffered_bounds(&self, buffer: u32) -> Envelope {
        if buffer == 0 {
            return self.bounds();
        }
        let n = tiles_per_side(self.z);
        let b = f64::from(buffer) / f64::from(EXTENT);
        let world = |tiles: f64| (tiles / n).clamp(0.0, 1.0);
        Envelope {
            min_lon: lon_at(world(f64::from(self.x) - b)),
            min_lat: lat_at(world(f64::from(self.y) + 1.0 + b)),
            max_lon: lon_at(world(f64::from(self.x) + 1.0 + b)),
            max_lat: lat_at(world(f64::from(self.y) - b)),
        }
    }

    /// The tile one zoom up that holds this one; `None` at zoom 0.
    #[must_use]
    pub fn parent(&self) -> Option<Self> {
        (self.z > 0).then(|| Self {
            z: self.z - 1,
            x: self.x / 2,
            y: self.y / 2,
        })
    }

    /// Projection of lon/lat into this tile's coordinates.
    #[must_use]
    pub fn transform(&self) -> TileTransform {
        TileTransform::new(*self)
    }
}

impl fmt::Display for TileId {
    /// `z/x/y`, as in tile URLs.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}/{}", self.z, self.x, self.y)
    }
}

/// Projects lon/lat into the coordinates of one tile: `0..EXTENT` inside it,
/// x east, y south; negative or `>= EXTENT` outside (in the buffer and
/// beyond).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TileTransform {
    tile: TileId,
    /// World size in tile units: `2^z * EXTENT` (a power of two).
    world: f64,
    /// The tile's north-west corner in world tile units.
    origin_x: f64,
    origin_y: f64,
}

impl TileTransform {
    #[must_use]
    pub fn new(tile: TileId) -> Self {
        let extent = f64::from(EXTENT);
        Self {
            tile,
            world: tiles_per_side(tile.z) * extent,
            origin_x: f64::from(tile.x) * extent,
            origin_y: f64::from(tile.y) * extent,
        }
    }

    #[must_use]
    pub fn tile(&self) -> TileId {
        self.tile
    }

    /// Tile coordinates of a position, **floored** (tile coordinate `i`
    /// covers `[i, i + 1)`). Latitudes beyond ±[`MAX_LAT`] are clamped to
    /// it; far-away positions saturate at the `i32` range. Pass checked
    /// positions ([`LonLat`]): a NaN gives 0.
    ///
    /// ```
    /// use civicmap::tiles::{EXTENT, TileId, TileTransform};
    /// let t = TileTransform::new(TileId::new(1, 1, 0)?);
    /// assert_eq!(t.project(0.0, 0.0), (0, EXTENT as i32)); // the tile's south-west corner
    /// assert_eq!(t.project(90.0, 0.0), (EXTENT as i32 / 2, EXTENT as i32));
    /// # Ok::<(), civicmap::tiles::TileError>(())
    /// ```
    #[must_use]
    pub fn project(&self, lon: f64, lat: f64) -> (i32, i32) {
        // world_x * world is exact (a power of two), and the origin is an
        // integer: the floor here agrees with the floor of TileId::containing.
        let x = floor_i64(world_x(lon) * self.world) - self.origin_x as i64;
        let y = floor_i64(world_y(lat) * self.world) - self.origin_y as i64;
        (saturate_i32(x), saturate_i32(y))
    }

    /// Tile coordinates of a position, not rounded (for geometry that is
    /// rounded later).
    #[must_use]
    pub fn project_f64(&self, lon: f64, lat: f64) -> (f64, f64) {
        (
            world_x(lon) * self.world - self.origin_x,
            world_y(lat) * self.world - self.origin_y,
        )
    }

    /// The lon/lat of tile coordinates `(x, y)` (the inverse of
    /// [`TileTransform::project_f64`]; the north-west corner of the unit that
    /// [`TileTransform::project`] gives for integers).
    #[must_use]
    pub fn unproject(&self, x: f64, y: f64) -> (f64, f64) {
        (
            lon_at((x + self.origin_x) / self.world),
            lat_at((y + self.origin_y) / self.world),
        )
    }
}

impl From<TileId> for TileTransform {
    fn from(tile: TileId) -> Self {
        Self::new(tile)
    }
}

/// The square that a buffered tile keeps, in tile units.
#[derive(Debug, Clone, Copy)]
struct ClipSquare {
    min: f64,
    max: f64,
}

impl ClipSquare {
    fn buffered(buffer: u32) -> Self {
        Self {
            min: -f64::from(buffer),
            max: f64::from(EXTENT) + f64::from(buffer),
        }
    }
}

/// Which ring of a polygon, for its winding.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    Exterior,
    Interior,
}

/// Clips a lon/lat (multi)polygon to a buffered tile and simplifies it, in
/// tile coordinates, for an MVT polygon feature.
///
/// Steps, per ring: project ([`TileTransform::project_f64`]); clip to the
/// square `[-buffer, EXTENT + buffer]²` (Sutherland–Hodgman: exact, but a
/// ring that leaves and re-enters the square is joined along the square's
/// edge, by zero-width bridges that do not change its area); simplify with
/// Ramer–Douglas–Peucker at `tolerance_px` tile units (0 keeps every vertex);
/// round to the nearest integer (not floored as [`TileTransform::project`]
/// does for points: rounding moves vertices by half a unit at most and
/// without bias, so the area stays that of the clipped original, while the
/// square's edges, integers, stay exact); drop repeated consecutive points.
///
/// Rings left with fewer than 3 distinct points or no area are dropped; a
/// polygon whose exterior is dropped is dropped with its holes. Rings are
/// wound as MVT 2.1 wants: exteriors clockwise on screen (y down), i.e. a
/// positive area by the spec's shoelace formula, holes the other way. The
/// input's winding does not matter; rings are closed (last = first).
///
/// Returns `None` when nothing remains in the buffered tile.
///
/// ```
/// use civicmap::tiles::{EXTENT, TileId, TileTransform, clip_and_simplify};
/// use geo::{MultiPolygon, polygon};
///
/// // A box around Paris, and the z12 tile of its centre.
/// let paris: MultiPolygon<f64> = polygon![
///     (x: 2.22, y: 48.81), (x: 2.47, y: 48.81), (x: 2.47, y: 48.91), (x: 2.22, y: 48.91),
/// ].into();
/// let tile = TileTransform::new(TileId::new(12, 2074, 1409)?);
/// let clipped = clip_and_simplify(&paris, &tile, 64, 1.0).expect("the tile is in Paris");
/// // The tile lies inside the box: what remains is the buffered square.
/// let e = EXTENT as i32;
/// assert_eq!(clipped.0[0].exterior().0.len(), 5);
/// assert!(clipped.0[0].exterior().0.iter().all(|c| c.x.abs() == 64 || c.x == e + 64));
/// # Ok::<(), civicmap::tiles::TileError>(())
/// ```
#[must_use]
pub fn clip_and_simplify(
    poly: &MultiPolygon<f64>,
    tile: &TileTransform,
    buffer: u32,
    tolerance_px: f64,
) -> Option<MultiPolygon<i32>> {
    let square = ClipSquare::buffered(buffer);
    let mut scratch = Scratch::default();
    let mut polygons = Vec::new();
    for polygon in poly {
        let Some(exterior) = ring_in_tile(
            polygon
                .exterior()
                .0
                .iter()
                .map(|c| tile.project_f64(c.x, c.y)),
            square,
            tolerance_px,
            Role::Exterior,
            &mut scratch,
        ) else {
            continue;
        };
        let interiors = polygon
            .interiors()
            .iter()
            .filter_map(|ring| {
                ring_in_tile(
                    ring.0.iter().map(|c| tile.project_f64(c.x, c.y)),
                    square,
                    tolerance_px,
                    Role::Interior,
                    &mut scratch,
                )
            })
            .collect();
        polygons.push(Polygon::new(exterior, interiors));
    }
    (!polygons.is_empty()).then(|| MultiPolygon::new(polygons))
}

/// Projects one lon/lat ring (`geo` convention: `x` longitude, `y` latitude;
/// closed or not) into a tile as a polygon exterior, clipped to the buffered
/// tile, rounded, wound clockwise on screen (positive MVT area). Not
/// simplified. `None` when nothing of it remains.
///
/// Rings that cross the antimeridian are not split (not needed for a city).
///
/// ```
/// use civicmap::tiles::{TileId, TileTransform, project_ring};
/// use geo::coord;
///
/// let tile = TileTransform::new(TileId::new(0, 0, 0)?);
/// let square = [coord! { x: 0.0, y: 0.0 }, coord! { x: 90.0, y: 0.0 }, coord! { x: 90.0, y: 45.0 }];
/// let polygon = project_ring(square, &tile, 0).expect("inside the world");
/// assert_eq!(polygon.exterior().0.len(), 4); // closed triangle
/// # Ok::<(), civicmap::tiles::TileError>(())
/// ```
#[must_use]
pub fn project_ring(
    ring: impl IntoIterator<Item = Coord<f64>>,
    tile: &TileTransform,
    buffer: u32,
) -> Option<Polygon<i32>> {
    let exterior = ring_in_tile(
        ring.into_iter().map(|c| tile.project_f64(c.x, c.y)),
        ClipSquare::buffered(buffer),
        0.0,
        Role::Exterior,
        &mut Scratch::default(),
    )?;
    Some(Polygon::new(exterior, Vec::new()))
}

/// An H3 cell as a tile polygon: its boundary through [`project_ring`].
///
/// ```
/// use civicmap::model::LonLat;
/// use civicmap::tiles::{TileId, TileTransform, cell_polygon};
///
/// let notre_dame = LonLat::new(2.3499, 48.8530)?;
/// let cell = h3o::LatLng::new(notre_dame.lat(), notre_dame.lon())?.to_cell(h3o::Resolution::Nine);
/// let tile = TileTransform::new(TileId::containing(notre_dame, 13));
/// let hexagon = cell_polygon(cell, &tile, 64).expect("the cell is on its tile");
/// assert_eq!(hexagon.exterior().0.len(), 7); // six corners, closed
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[must_use]
pub fn cell_polygon(
    cell: h3o::CellIndex,
    tile: &TileTransform,
    buffer: u32,
) -> Option<Polygon<i32>> {
    project_ring(
        cell.boundary().iter().map(|ll| Coord {
            x: ll.lng(),
            y: ll.lat(),
        }),
        tile,
        buffer,
    )
}

/// Buffers reused from ring to ring.
#[derive(Default)]
struct Scratch {
    a: Vec<Coord<f64>>,
    b: Vec<Coord<f64>>,
}

/// Projected ring → clipped, simplified, floored, wound ring; `None` when
/// degenerate or outside.
fn ring_in_tile(
    projected: impl Iterator<Item = (f64, f64)>,
    square: ClipSquare,
    tolerance_px: f64,
    role: Role,
    scratch: &mut Scratch,
) -> Option<LineString<i32>> {
    let Scratch { a: ring, b: spare } = scratch;
    ring.clear();
    ring.extend(projected.map(|(x, y)| Coord { x, y }));
    // Work on the open ring.
    if ring.len() > 1 && ring.first() == ring.last() {
        ring.pop();
    }
    if ring.len() < 3 {
        return None;
    }

    let (mut min, mut max) = (ring[0], ring[0]);
    for c in ring.iter() {
        min.x = min.x.min(c.x);
        min.y = min.y.min(c.y);
        max.x = max.x.max(c.x);
        max.y = max.y.max(c.y);
    }
    if max.x < square.min || min.x > square.max || max.y < square.min || min.y > square.max {
        return None;
    }
    let inside =
        min.x >= square.min && max.x <= square.max && min.y >= square.min && max.y <= square.max;
    if !inside {
        for edge in [Edge::Left, Edge::Right, Edge::Top, Edge::Bottom] {
            clip_edge(ring, spare, edge, square);
            std::mem::swap(ring, spare);
            if ring.len() < 3 {
                return None;
            }
        }
    }

    let kept: Vec<Coord<f64>> = if tolerance_px > 0.0 {
        let mut closed = LineString::new(std::mem::take(ring));
        closed.close();
        let simplified = closed.simplify(tolerance_px);
        *ring = closed.0;
        simplified.0
    } else {
        ring.clone()
    };

    let mut out: Vec<Coord<i32>> = Vec::with_capacity(kept.len() + 1);
    for c in kept {
        // Inside the square after clipping, so well within i32.
        let p = Coord {
            x: c.x.round() as i32,
            y: c.y.round() as i32,
        };
        if out.last() != Some(&p) {
            out.push(p);
        }
    }
    while out.len() > 1 && out.first() == out.last() {
        out.pop();
    }
    if out.len() < 3 {
        return None;
    }
    let area2 = twice_signed_area(&out);
    if area2 == 0 {
        return None;
    }
    let clockwise_on_screen = area2 > 0;
    if clockwise_on_screen != (role == Role::Exterior) {
        out.reverse();
    }
    let first = out[0];
    out.push(first);
    Some(LineString::new(out))
}

/// Twice the signed area of an open ring by the MVT spec's shoelace formula
/// (positive: clockwise with y down).
pub(crate) fn twice_signed_area(ring: &[Coord<i32>]) -> i64 {
    let mut sum = 0i64;
    let mut prev = match ring.last() {
        Some(p) => *p,
        None => return 0,
    };
    for p in ring {
        sum += i64::from(prev.x) * i64::from(p.y) - i64::from(p.x) * i64::from(prev.y);
        prev = *p;
    }
    sum
}

#[derive(Debug, Clone, Copy)]
enum Edge {
    Left,
    Right,
    Top,
    Bottom,
}

impl Edge {
    fn keeps(self, c: Coord<f64>, square: ClipSquare) -> bool {
        match self {
            Edge::Left => c.x >= square.min,
            Edge::Right => c.x <= square.max,
            Edge::Top => c.y >= square.min,
            Edge::Bottom => c.y <= square.max,
        }
    }

    /// Where segment `a`–`b` (one end kept, the other not) crosses the edge;
    /// the coordinate across the edge is set exactly on it.
    fn cross(self, a: Coord<f64>, b: Coord<f64>, square: ClipSquare) -> Coord<f64> {
        match self {
            Edge::Left | Edge::Right => {
                let x = if matches!(self, Edge::Left) {
                    square.min
                } else {
                    square.max
                };
                let t = (x - a.x) / (b.x - a.x);
                Coord {
                    x,
                    y: a.y + t * (b.y - a.y),
                }
            }
            Edge::Top | Edge::Bottom => {
                let y = if matches!(self, Edge::Top) {
                    square.min
                } else {
                    square.max
                };
                let t = (y - a.y) / (b.y - a.y);
                Coord {
                    x: a.x + t * (b.x - a.x),
                    y,
                }
            }
        }
    }
}

/// One Sutherland–Hodgman pass: `input` (open ring) cut by one edge of the
/// square into `output`.
fn clip_edge(input: &[Coord<f64>], output: &mut Vec<Coord<f64>>, edge: Edge, square: ClipSquare) {
    output.clear();
    let Some(&last) = input.last() else {
        return;
    };
    let mut prev = last;
    let mut prev_in = edge.keeps(prev, square);
    for &cur in input {
        let cur_in = edge.keeps(cur, square);
        if cur_in {
            if !prev_in {
                output.push(edge.cross(prev, cur, square));
            }
            output.push(cur);
        } else if prev_in {
            output.push(edge.cross(prev, cur, square));
        }
        prev = cur;
        prev_in = cur_in;
    }
}

#[cfg(test)]
mod tests;
