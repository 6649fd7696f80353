//! Tile assembly: reads the in-memory indexes and writes one MVT tile.
//!
//! Layers (the `vector_layers` of the TileJSON, [`layer_fields`]):
//! - `reports`: one point per report from [`TileSettings::points_min_zoom`]
//!   on; below it (or when a tile would hold more than [`MAX_FEATURES`]
//!   points) the layer `reports_h3` instead: H3 hexagons with exact counts,
//!   at the resolution [`TileSettings::hex_resolution`] gives the zoom; a
//!   point tile with more than [`TileSettings::max_points`] matching reports
//!   is drawn as hexagons of [`DENSE_TILE_HEX_RESOLUTION`].
//! - `projects`: participatory-budget projects, points at every zoom.
//! - `districts`: the polygons of one district layer, clipped to the
//!   buffered tile and simplified to a tile unit.
//!
//! Buffer semantics: a tile holds every report point inside its bounds grown
//! by [`BUFFER`] tile units (1/64 of the tile) on each side, edges included;
//! a hexagon appears in every tile its clipped polygon reaches, with the
//! counts of the whole cell.

use std::ops::ControlFlow;

use geo::Coord;

use super::geom::{
    BUFFER, EXTENT, TileId, TileTransform, cell_polygon, clip_and_simplify, project_ring,
};
use super::mvt::{FxHashMap, LayerWriter, Tag, TileWriter, Value};
use crate::districts::DistrictRegistry;
use crate::model::{Envelope, Kind, Layer, LonLat, Taxonomy};
use crate::spatial::hexagons::AGGREGATED_RESOLUTIONS;
use crate::spatial::{
    HexCounts, ProjectFilter, ProjectIndex, PublicView, ReportFilter, ReportIndex, ReportPoint,
};

/// Most features one tile may hold (tippecanoe's limit): past it, report
/// points are aggregated into hexagons.
pub const MAX_FEATURES: usize = 50_000;

/// Largest compressed tile served (tippecanoe's limit): past it, report
/// points are aggregated into hexagons.
pub const MAX_TILE_BYTES: usize = 500 * 1024;

/// The finest hexagons drawn at a hexagon zoom.
pub const FINEST_HEX_RESOLUTION: u8 = 11;

/// The hexagons a too-full point tile is drawn with: the finest resolution
/// whose counts are kept, so that a dense tile costs a few dozen cells, not
/// a walk over its points (edge ~66 m: 40–170 px on a 512 px tile at
/// zooms 15–17 in Paris).
pub const DENSE_TILE_HEX_RESOLUTION: u8 = *AGGREGATED_RESOLUTIONS.end();

/// Where zooms switch from hexagons to points, and which hexagons.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TileSettings {
    /// Lowest zoom served.
    pub min_zoom: u8,
    /// Highest zoom served.
    pub max_zoom: u8,
    /// From this zoom on, reports are points; below it, hexagons.
    pub points_min_zoom: u8,
    /// Hexagon resolution = zoom − this, within
    /// [`Self::min_hex_resolution`]..=[`FINEST_HEX_RESOLUTION`]. 4 keeps
    /// hexagons 15–40 px wide on a 512 px tile at Paris's latitude.
    pub hex_zoom_offset: u8,
    /// Coarsest hexagons drawn.
    pub min_hex_resolution: u8,
    /// A point tile holding more reports than this (after filters) is drawn
    /// as hexagons of [`DENSE_TILE_HEX_RESOLUTION`] instead: past a few thousand
    /// dots a tile is unreadable, heavy to send and slow to draw.
    pub max_points: usize,
}

impl Default for TileSettings {
    fn default() -> Self {
        Self {
            min_zoom: 0,
            max_zoom: 20,
            points_min_zoom: 14,
            hex_zoom_offset: 4,
            min_hex_resolution: 4,
            max_points: 5_000,
        }
    }
}

impl TileSettings {
    /// The H3 resolution of the hexagons drawn at zoom `z`.
    #[must_use]
    pub fn hex_resolution(&self, z: u8) -> u8 {
        z.saturating_sub(self.hex_zoom_offset)
            .clamp(self.min_hex_resolution, FINEST_HEX_RESOLUTION)
    }

    /// Whether reports are drawn as points at zoom `z`.
    #[must_use]
    pub fn points_at(&self, z: u8) -> bool {
        z >= self.points_min_zoom
    }

    /// Whether zoom `z` is served.
    #[must_use]
    pub fn serves(&self, z: u8) -> bool {
        (self.min_zoom..=self.max_zoom).contains(&z)
    }
}

/// A tile layer a client can ask for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum TileLayer {
    Reports,
    Projects,
    Districts,
}

impl TileLayer {
    pub const ALL: [TileLayer; 3] = [
        TileLayer::Reports,
        TileLayer::Projects,
        TileLayer::Districts,
    ];

    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            TileLayer::Reports => "reports",
            TileLayer::Projects => "projects",
            TileLayer::Districts => "districts",
        }
    }

    /// Parses one layer name.
    #[must_use]
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|l| l.as_str() == s)
    }
}

/// The fields of each source layer, with their TileJSON types
/// (`vector_layers`).
#[must_use]
pub fn layer_fields(
    layer: TileLayer,
) -> Vec<(&'static str, &'static [(&'static str, &'static str)])> {
    match layer {
        TileLayer::Reports => vec![
            (
                "reports",
                &[
                    ("kind", "String"),
                    ("category", "String"),
                    ("status", "String"),
                    ("created", "String"),
                    // Absent when 0.
                    ("supports", "Number"),
                ],
            ),
            (
                "reports_h3",
                &[
                    ("h3", "String"),
                    ("resolution", "Number"),
                    ("total", "Number"),
                    ("anomalies", "Number"),
                    ("contributions", "Number"),
                    ("open", "Number"),
                ],
            ),
        ],
        TileLayer::Projects => vec![(
            "projects",
            &[
                ("id", "Number"),
                ("title", "String"),
                ("budget_eur", "Number"),
                ("theme", "String"),
                ("edition", "Number"),
                ("status", "String"),
                ("working_class", "Boolean"),
                ("scale", "String"),
            ],
        )],
        TileLayer::Districts => vec![(
            "districts",
            &[
                ("id", "String"),
                ("layer", "String"),
                ("code", "String"),
                ("name", "String"),
            ],
        )],
    }
}

/// What a tile shows.
#[derive(Debug, Clone)]
pub struct TileQuery {
    /// Distinct, in [`TileLayer`] order.
    pub layers: Vec<TileLayer>,
    /// Report filters (bbox and district are ignored).
    pub reports: ReportFilter,
    /// Project filters (bbox is set per tile).
    pub projects: ProjectFilter,
    /// The district layer drawn by `districts`, and the date whose
    /// perimeters are drawn (`None`: every version).
    pub district_layer: Layer,
    pub district_date: Option<time::Date>,
    /// Draw reports as hexagons even at a point zoom (set when the point
    /// tile came out over [`MAX_TILE_BYTES`]).
    pub aggregate_reports: bool,
}

/// Everything a tile is drawn from.
#[derive(Clone, Copy)]
pub struct Sources<'a> {
    pub reports: &'a ReportIndex,
    pub projects: &'a ProjectIndex,
    pub districts: &'a DistrictRegistry,
    pub district_boxes: &'a DistrictBoxes,
    pub taxonomy: &'a Taxonomy,
}

/// Bounding boxes of every district, computed once (districts do not change
/// while serving).
#[derive(Debug, Default)]
pub struct DistrictBoxes {
    boxes: Vec<Option<Envelope>>,
}

impl DistrictBoxes {
    #[must_use]
    pub fn new(registry: &DistrictRegistry) -> Self {
        use geo::BoundingRect;
        let mut boxes = Vec::new();
        let mut id = 0_u32;
        while let Some(d) = registry.get(id) {
            boxes.push(d.geometry.bounding_rect().map(|r| Envelope {
                min_lon: r.min().x,
                min_lat: r.min().y,
                max_lon: r.max().x,
                max_lat: r.max().y,
            }));
            id += 1;
        }
        Self { boxes }
    }

    fn intersects(&self, id: u32, b: &Envelope) -> bool {
        self.boxes
            .get(id as usize)
            .copied()
            .flatten()
            .is_some_and(|d| {
                d.min_lon <= b.max_lon
                    && d.max_lon >= b.min_lon
                    && d.min_lat <= b.max_lat
                    && d.max_lat >= b.min_lat
            })
    }
}

/// One drawn tile, uncompressed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DrawnTile {
    /// MVT bytes; empty when no layer has a feature.
    pub mvt: Vec<u8>,
    pub features: usize,
    /// The earliest minute a closed report drawn here fades from public
    /// maps (the tile is stale from then).
    pub expires_min: Option<u32>,
}

/// Draws `tile`. The zoom must be served (the caller checks).
#[must_use]
pub fn draw(src: Sources<'_>, settings: &TileSettings, tile: TileId, q: &TileQuery) -> DrawnTile {
    let mut out = TileWriter::new();
    let mut features = 0;
    let mut expires_min = None;
    for layer in &q.layers {
        features += match layer {
            TileLayer::Reports => draw_reports(src, settings, tile, q, &mut out, &mut expires_min),
            TileLayer::Projects => draw_projects(src, tile, &q.projects, &mut out),
            TileLayer::Districts => {
                draw_districts(src, tile, q.district_layer, q.district_date, &mut out)
            }
        };
    }
    DrawnTile {
        expires_min,
        mvt: out.finish(),
        features,
    }
}

fn draw_reports(
    src: Sources<'_>,
    settings: &TileSettings,
    tile: TileId,
    q: &TileQuery,
    out: &mut TileWriter,
    expires_min: &mut Option<u32>,
) -> usize {
    let filter = &q.reports;
    // Hexagons are statistics: faded reports stay in their counts.
    let hex_filter = ReportFilter {
        public: None,
        ..filter.clone()
    };
    if !settings.points_at(tile.z) {
        return draw_hexagons(src, settings.hex_resolution(tile.z), tile, &hex_filter, out);
    }
    if q.aggregate_reports {
        return draw_hexagons(src, DENSE_TILE_HEX_RESOLUTION, tile, &hex_filter, out);
    }
    let area = tile.buffered_bounds(BUFFER);
    let cap = settings.max_points.min(MAX_FEATURES);
    let mut layer = out.layer("reports", EXTENT);
    let mut drawer = PointDrawer::new(tile, src.taxonomy, src.reports, filter.public.as_ref());
    // Two ways to the same bytes (points in the tree's order, or hexagons
    // past the cap): a tile that looks dense collects its points first, so
    // that going over the cap wastes no encoding; any other tile draws each
    // point as the walk finds it.
    let mut count = 0;
    let too_many = if looks_dense(src.reports, &area, cap) {
        let mut points = Vec::new();
        let over = src
            .reports
            .try_for_each_point_in(&area, |p| {
                if filter.matches_point(p) {
                    if points.len() == cap {
                        return ControlFlow::Break(());
                    }
                    points.push(*p);
                }
                ControlFlow::Continue(())
            })
            .is_break();
        if !over {
            for p in &points {
                drawer.draw(&mut layer, p);
            }
        }
        over
    } else {
        src.reports
            .try_for_each_point_in(&area, |p| {
                if filter.matches_point(p) {
                    if count == cap {
                        return ControlFlow::Break(());
                    }
                    count += 1;
                    drawer.draw(&mut layer, p);
                }
                ControlFlow::Continue(())
            })
            .is_break()
    };
    if too_many {
        layer.discard();
        return draw_hexagons(src, DENSE_TILE_HEX_RESOLUTION, tile, &hex_filter, out);
    }
    *expires_min = drawer.next_fade;
    layer.len()
}

/// Whether a tile probably holds more than half `cap` reports, judged from
/// the [`DENSE_TILE_HEX_RESOLUTION`] cell at its centre (a hint for the
/// drawing strategy, never for what is drawn).
fn looks_dense(reports: &ReportIndex, area: &Envelope, cap: usize) -> bool {
    let res = DENSE_TILE_HEX_RESOLUTION;
    let (lon, lat) = (
        (area.min_lon + area.max_lon) / 2.0,
        (area.min_lat + area.max_lat) / 2.0,
    );
    let Ok(centre) = LonLat::new(lon, lat) else {
        return false;
    };
    let Ok(resolution) = h3o::Resolution::try_from(res) else {
        return false;
    };
    let in_cell = reports
        .hexagons()
        .total_of(res, crate::spatial::h3_cell_at(centre, res));
    let width_m = centre.distance_m(LonLat::new(area.max_lon, lat).unwrap_or(centre)) * 2.0;
    let height_m = centre.distance_m(LonLat::new(lon, area.max_lat).unwrap_or(centre)) * 2.0;
    let cells = width_m * height_m / resolution.area_m2();
    f64::from(in_cell) * cells > cap as f64 / 2.0
}

/// Writes report points, looking each distinct value up once per tile (few
/// kinds, categories and statuses; a few hundred days).
struct PointDrawer<'a> {
    transform: TileTransform,
    taxonomy: &'a Taxonomy,
    reports: &'a ReportIndex,
    public: Option<&'a PublicView>,
    /// The earliest minute a drawn closed report fades.
    next_fade: Option<u32>,
    kinds: [Option<Tag>; 2],
    /// By `Status as usize` and by category id.
    statuses: Vec<Option<Tag>>,
    categories: Vec<Option<Tag>>,
    days: FxHashMap<i64, Tag>,
}

/// The tag at `i` of a small table, made by `make` the first time.
fn tag_at(table: &mut Vec<Option<Tag>>, i: usize, make: impl FnOnce() -> Tag) -> Tag {
    if table.len() <= i {
        table.resize(i + 1, None);
    }
    *table[i].get_or_insert_with(make)
}

impl<'a> PointDrawer<'a> {
    fn new(
        tile: TileId,
        taxonomy: &'a Taxonomy,
        reports: &'a ReportIndex,
        public: Option<&'a PublicView>,
    ) -> Self {
        Self {
            transform: tile.transform(),
            taxonomy,
            reports,
            public,
            next_fade: None,
            kinds: [None; 2],
            statuses: Vec::new(),
            categories: Vec::new(),
            days: FxHashMap::default(),
        }
    }

    fn draw(&mut self, layer: &mut LayerWriter<'_>, p: &ReportPoint) {
        let kind = *self.kinds[usize::from(p.kind == Kind::Contribution)]
            .get_or_insert_with(|| layer.tag_of("kind", Value::Str(p.kind.as_str())));
        let taxonomy = self.taxonomy;
        let category = tag_at(&mut self.categories, usize::from(p.category.0), || {
            layer.tag_of("category", Value::Str(&taxonomy.category(p.category).code))
        });
        let status = tag_at(&mut self.statuses, p.status as usize, || {
            layer.tag_of("status", Value::Str(p.status.as_str()))
        });
        let day = p.created_ms.div_euclid(86_400_000);
        let created = *self.days.entry(day).or_insert_with(|| {
            let name = day_name(day);
            layer.tag_of(
                "created",
                Value::Str(std::str::from_utf8(&name).unwrap_or_default()),
            )
        });
        let at = self.transform.project(p.lon(), p.lat());
        if p.closed_min > 0
            && let Some(view) = self.public
        {
            let fade = p.fade_min(view);
            self.next_fade = Some(self.next_fade.map_or(fade, |f| f.min(fade)));
        }
        // Absent means none: most reports have no support.
        match self.reports.supports(p.id) {
            0 => layer.point_tagged(
                u64::try_from(p.id).ok(),
                at,
                &[kind, category, status, created],
            ),
            n => {
                let supports = layer.tag_of("supports", Value::Int(i64::from(n)));
                layer.point_tagged(
                    u64::try_from(p.id).ok(),
                    at,
                    &[kind, category, status, created, supports],
                );
            }
        }
    }
}

/// `YYYY-MM-DD` of a day counted from 1970-01-01 (years 0–9999; others
/// clamp), without going through a formatter.
fn day_name(day: i64) -> [u8; 10] {
    let date = i32::try_from(day + 2_440_588)
        .ok()
        .and_then(|jd| time::Date::from_julian_day(jd).ok())
        .unwrap_or(time::Date::MIN);
    let (y, m, d) = date.to_calendar_date();
    let y = u32::try_from(y.clamp(0, 9999)).unwrap_or(0);
    let (m, d) = (u32::from(u8::from(m)), u32::from(d));
    let digit = |v: u32| b'0' + u8::try_from(v % 10).unwrap_or(0);
    [
        digit(y / 1000),
        digit(y / 100),
        digit(y / 10),
        digit(y),
        b'-',
        digit(m / 10),
        digit(m),
        b'-',
        digit(d / 10),
        digit(d),
    ]
}

fn draw_hexagons(
    src: Sources<'_>,
    res: u8,
    tile: TileId,
    filter: &ReportFilter,
    out: &mut TileWriter,
) -> usize {
    let mut cells: Vec<(u64, HexCounts)> = Vec::new();
    src.reports
        .hex_counts(res, &tile.buffered_bounds(BUFFER), filter, |c, n| {
            cells.push((c, n));
        });
    cells.sort_unstable_by_key(|(c, _)| *c);
    let transform = tile.transform();
    let mut layer = out.layer("reports_h3", EXTENT);
    for (cell, n) in cells {
        // Kept cells have their corners at hand; others (finer than the
        // kept resolutions) are computed.
        let polygon = match src.reports.hexagons().boundary(res, cell) {
            Some(corners) => project_ring(
                corners.iter().map(|&[x, y]| Coord { x, y }),
                &transform,
                BUFFER,
            ),
            None => h3o::CellIndex::try_from(cell)
                .ok()
                .and_then(|index| cell_polygon(index, &transform, BUFFER)),
        };
        let Some(polygon) = polygon else {
            continue;
        };
        let hex = crate::spatial::h3_hex(cell);
        layer.polygon(
            Some(cell),
            std::slice::from_ref(&polygon),
            &[
                ("h3", Value::Str(&hex)),
                ("resolution", Value::Int(i64::from(res))),
                ("total", Value::Int(i64::from(n.total))),
                ("anomalies", Value::Int(i64::from(n.anomalies))),
                ("contributions", Value::Int(i64::from(n.contributions))),
                ("open", Value::Int(i64::from(n.open))),
            ],
        );
    }
    layer.len()
}

fn draw_projects(
    src: Sources<'_>,
    tile: TileId,
    filter: &ProjectFilter,
    out: &mut TileWriter,
) -> usize {
    let filter = ProjectFilter {
        bbox: Some(tile.buffered_bounds(BUFFER)),
        ..filter.clone()
    };
    let (projects, _, _) = src.projects.page(&filter, None, usize::MAX);
    let transform = tile.transform();
    let mut layer = out.layer("projects", EXTENT);
    for p in projects {
        let Some(at) = p.location else { continue };
        let mut props: Vec<(&str, Value<'_>)> = vec![
            ("id", Value::Int(p.id)),
            ("budget_eur", Value::Int(p.budget_eur)),
            ("edition", Value::Int(i64::from(p.edition))),
            ("working_class", Value::Bool(p.working_class_flag)),
            ("scale", Value::Str(p.scale.as_str())),
        ];
        if let Some(t) = &p.title {
            props.push(("title", Value::Str(t)));
        }
        if let Some(t) = &p.theme {
            props.push(("theme", Value::Str(t)));
        }
        if let Some(s) = &p.progress {
            props.push(("status", Value::Str(s)));
        }
        layer.point(
            u64::try_from(p.id).ok(),
            transform.project(at.lon(), at.lat()),
            &props,
        );
    }
    layer.len()
}

fn draw_districts(
    src: Sources<'_>,
    tile: TileId,
    which: Layer,
    date: Option<time::Date>,
    out: &mut TileWriter,
) -> usize {
    let area = tile.buffered_bounds(BUFFER);
    let transform = tile.transform();
    let mut layer = out.layer("districts", EXTENT);
    for id in src.districts.districts(which, date) {
        if !src.district_boxes.intersects(id, &area) {
            continue;
        }
        let Some(d) = src.districts.get(id) else {
            continue;
        };
        let Some(shape) = clip_and_simplify(&d.geometry, &transform, BUFFER, 1.0) else {
            continue;
        };
        layer.polygon(
            Some(u64::from(id)),
            &shape.0,
            &[
                ("id", Value::Str(&d.public_id)),
                ("layer", Value::Str(d.layer.as_str())),
                ("code", Value::Str(&d.code)),
                ("name", Value::Str(&d.name)),
            ],
        );
    }
    layer.len()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{CategoryId, Districts, Kind, LonLat, Status};
    use crate::spatial::{ReportSummary, h3_cell};

    #[test]
    fn day_names_are_the_calendar_dates_of_their_days() {
        for day in [-719_528_i64, -1, 0, 59, 10_957, 19_782, 20_454, 2_932_896] {
            let expected = time::OffsetDateTime::from_unix_timestamp(day * 86_400)
                .unwrap()
                .date()
                .to_string();
            assert_eq!(
                std::str::from_utf8(&day_name(day)).unwrap(),
                expected,
                "day {day}"
            );
        }
    }

    #[test]
    fn a_point_tile_over_the_point_limit_is_drawn_as_the_finest_hexagons() {
        let tile = TileId::containing(LonLat::new(2.35, 48.853).unwrap(), 16);
        let b = tile.bounds();
        let reports: Vec<ReportSummary> = (0..40)
            .map(|i| {
                // A 40-report cluster of about 10 m around the tile centre.
                let at = LonLat::new(
                    (b.min_lon + b.max_lon) / 2.0 + f64::from(i % 8) * 2e-5,
                    (b.min_lat + b.max_lat) / 2.0 + f64::from(i / 8) * 2e-5,
                )
                .unwrap();
                ReportSummary {
                    id: i64::from(i) + 1,
                    location: at,
                    kind: Kind::Anomaly,
                    category: CategoryId(0),
                    status: Status::New,
                    created_ms: 0,
                    h3: h3_cell(at),
                    districts: Districts::default(),
                    closed_ms: None,
                    channel: crate::model::Channel::Web,
                    reporter: None,
                    first_response_ms: None,
                }
            })
            .collect();
        let cells: std::collections::HashSet<u64> = reports
            .iter()
            .map(|r| {
                crate::spatial::hexagons::parent_cell(r.h3, DENSE_TILE_HEX_RESOLUTION).unwrap()
            })
            .collect();
        let index = ReportIndex::bulk_load(reports);
        let projects = ProjectIndex::new(Vec::new());
        let districts = DistrictRegistry::default();
        let taxonomy = Taxonomy::from_csv(crate::reference::TAXONOMY_CSV).unwrap();
        let boxes = DistrictBoxes::default();
        let src = Sources {
            reports: &index,
            projects: &projects,
            districts: &districts,
            district_boxes: &boxes,
            taxonomy: &taxonomy,
        };
        let q = TileQuery {
            layers: vec![TileLayer::Reports],
            reports: ReportFilter::default(),
            projects: ProjectFilter::default(),
            district_layer: Layer::Arrondissement,
            district_date: None,
            aggregate_reports: false,
        };
        let mut settings = TileSettings::default();
        assert_eq!(draw(src, &settings, tile, &q).features, 40, "40 points");
        settings.max_points = 39;
        let drawn = draw(src, &settings, tile, &q);
        assert_eq!(
            drawn.features,
            cells.len(),
            "one feature per resolution-10 cell"
        );
        assert!(cells.len() < 40);
    }
}
