use std::collections::BTreeSet;

use geo::{
    Area, BooleanOps, Centroid, Coord, Euclidean, Length, LineString, MapCoords, MultiPolygon,
    Polygon, Rect,
};
use proptest::prelude::*;

use super::*;
use crate::districts::{LayerMeta, LayerSpec, parse_geojson_layer};
use crate::model::Layer;
use crate::reference::ARRONDISSEMENTS_GEOJSON;

fn ll(lon: f64, lat: f64) -> LonLat {
    LonLat::new(lon, lat).unwrap()
}

fn tile(z: u8, x: u32, y: u32) -> TileId {
    TileId::new(z, x, y).unwrap()
}

#[test]
fn impossible_tile_coordinates_are_refused() {
    for (z, x, y) in [
        (0, 1, 0),
        (0, 0, 1),
        (1, 2, 0),
        (3, 0, 8),
        (15, 32_768, 0),
        (30, 1 << 30, 0),
        (31, 0, 0),
        (u8::MAX, 0, 0),
    ] {
        let err = TileId::new(z, x, y).unwrap_err();
        assert!(
            err.to_string()
                .starts_with(&format!("invalid tile {z}/{x}/{y}: ")),
            "{err}"
        );
    }
    for (z, x, y) in [
        (0, 0, 0),
        (1, 1, 1),
        (15, 32_767, 32_767),
        (30, (1 << 30) - 1, 0),
    ] {
        assert!(TileId::new(z, x, y).is_ok(), "{z}/{x}/{y}");
    }
}

#[test]
fn the_inline_floor_is_floor() {
    for x in [
        0.0,
        -0.0,
        0.5,
        -0.5,
        1.0,
        -1.0,
        1.5,
        -1.5,
        4_095.999_999,
        -64.000_001,
        2f64.powi(42) + 0.5,
        -(2f64.powi(42)) - 0.5,
        1e-300,
        -1e-300,
    ] {
        assert_eq!(floor_i64(x), x.floor() as i64, "{x}");
    }
    assert_eq!(floor_i64(f64::NAN), 0);
    assert_eq!(saturate_i32(i64::MAX), i32::MAX);
    assert_eq!(saturate_i32(i64::MIN), i32::MIN);
}

#[test]
fn a_tile_displays_as_z_slash_x_slash_y() {
    assert_eq!(tile(15, 16_597, 11_273).to_string(), "15/16597/11273");
}

#[test]
fn the_parent_of_a_tile_holds_it_and_zoom_zero_has_none() {
    assert_eq!(
        tile(15, 16_597, 11_273).parent(),
        Some(tile(14, 8_298, 5_636))
    );
    assert_eq!(tile(0, 0, 0).parent(), None);
    let p = ll(2.3499, 48.8530);
    for z in 1..=MAX_ZOOM {
        assert_eq!(
            TileId::containing(p, z).parent(),
            Some(TileId::containing(p, z - 1))
        );
    }
}

#[test]
fn a_point_on_a_tile_corner_belongs_to_the_tile_south_east_of_it() {
    // Null Island is the corner of the four tiles of zoom 1.
    assert_eq!(TileId::containing(ll(0.0, 0.0), 1), tile(1, 1, 1));
    // The world's corners stay in the world.
    assert_eq!(TileId::containing(ll(-180.0, MAX_LAT), 3), tile(3, 0, 0));
    assert_eq!(TileId::containing(ll(180.0, -MAX_LAT), 3), tile(3, 7, 7));
    // Beyond the Mercator limits: the edge rows.
    assert_eq!(TileId::containing(ll(10.0, 90.0), 3), tile(3, 4, 0));
    assert_eq!(TileId::containing(ll(10.0, -90.0), 3), tile(3, 4, 7));
}

#[test]
fn the_bounds_of_the_world_tile_are_the_mercator_square() {
    let b = tile(0, 0, 0).bounds();
    assert_eq!(
        (b.min_lon, b.min_lat, b.max_lon, b.max_lat),
        (-180.0, -MAX_LAT, 180.0, MAX_LAT)
    );
    assert_eq!(tile(0, 0, 0).buffered_bounds(BUFFER), b);
    // The equator and the prime meridian, to the precision of the f64
    // projection (the edges are where it changes tile).
    let b = tile(1, 1, 1).bounds();
    assert!(b.max_lat.abs() < 1e-13 && b.min_lon.abs() < 1e-13, "{b:?}");
}

#[test]
fn the_buffered_bounds_project_onto_the_buffer_edges() {
    let t = TileId::containing(ll(2.3499, 48.8530), 15);
    let transform = t.transform();
    let b = t.buffered_bounds(BUFFER);
    let inner = t.bounds();
    assert!(b.min_lon < inner.min_lon && b.max_lon > inner.max_lon);
    assert!(b.min_lat < inner.min_lat && b.max_lat > inner.max_lat);
    let buffer = f64::from(BUFFER);
    let far = f64::from(EXTENT) + buffer;
    for ((lon, lat), (x, y)) in [
        ((b.min_lon, b.max_lat), (-buffer, -buffer)),
        ((b.max_lon, b.min_lat), (far, far)),
    ] {
        let (px, py) = transform.project_f64(lon, lat);
        assert!((px - x).abs() < 1e-6 && (py - y).abs() < 1e-6, "{px},{py}");
    }
    assert_eq!(t.buffered_bounds(0), inner);
}

#[test]
fn the_doc_tile_of_notre_dame_is_right() {
    // Checked against the usual slippy-map formula, independently written.
    let (lon, lat) = (2.3499_f64, 48.8530_f64);
    let n = f64::from(1u32 << 15);
    let x = ((lon + 180.0) / 360.0 * n).floor();
    let lat_rad = lat.to_radians();
    let y = ((1.0 - (lat_rad.tan() + 1.0 / lat_rad.cos()).ln() / PI) / 2.0 * n).floor();
    let t = TileId::containing(ll(lon, lat), 15);
    assert_eq!((f64::from(t.x), f64::from(t.y)), (x, y));
}

/// A random tile: zoom and the fractions of the world it starts at.
fn arb_tile() -> impl Strategy<Value = TileId> {
    (0u8..=MAX_ZOOM, 0.0..1.0f64, 0.0..1.0f64).prop_map(|(z, fx, fy)| {
        let n = 1u64 << z;
        let pick = |f: f64| ((f * n as f64) as u64).min(n - 1) as u32;
        TileId {
            z,
            x: pick(fx),
            y: pick(fy),
        }
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2_000))]

    #[test]
    fn containing_agrees_with_bounds_on_every_edge(t in arb_tile()) {
        let b = t.bounds();
        let last = (1u32 << t.z) - 1;
        let at = |lon: f64, lat: f64| TileId::containing(ll(lon, lat), t.z);
        let moved = |dx: i64, dy: i64| TileId {
            z: t.z,
            x: (i64::from(t.x) + dx) as u32,
            y: (i64::from(t.y) + dy) as u32,
        };
        // West and north edges, and the north-west corner, are in.
        prop_assert_eq!(at(b.min_lon, b.max_lat), t);
        // The last bit west or north of them is in the neighbour.
        if t.x > 0 {
            prop_assert_eq!(at(b.min_lon.next_down(), b.max_lat), moved(-1, 0));
        }
        if t.y > 0 {
            prop_assert_eq!(at(b.min_lon, b.max_lat.next_up()), moved(0, -1));
        }
        // East and south edges belong to the next tiles; the last bit before
        // them is still in.
        if t.x < last {
            prop_assert_eq!(at(b.max_lon, b.max_lat), moved(1, 0));
            prop_assert_eq!(at(b.max_lon.next_down(), b.max_lat), t);
        } else {
            prop_assert_eq!(at(b.max_lon, b.max_lat), t);
        }
        if t.y < last {
            prop_assert_eq!(at(b.min_lon, b.min_lat), moved(0, 1));
            prop_assert_eq!(at(b.min_lon, b.min_lat.next_up()), t);
        } else {
            prop_assert_eq!(at(b.min_lon, b.min_lat), t);
        }
    }

    #[test]
    fn every_point_lies_in_the_half_open_bounds_of_its_tile_and_projects_inside_it(
        z in 0u8..=MAX_ZOOM,
        lon in -180.0..180.0f64,
        lat in (-MAX_LAT + 1e-9)..MAX_LAT,
    ) {
        let p = ll(lon, lat);
        let t = TileId::containing(p, z);
        let b = t.bounds();
        prop_assert!(b.min_lon <= lon && lon < b.max_lon, "{} not in {:?}", lon, b);
        prop_assert!(b.min_lat < lat && lat <= b.max_lat, "{} not in {:?}", lat, b);
        prop_assert!(t.contains(p));
        let (x, y) = t.transform().project(lon, lat);
        let extent = EXTENT as i32;
        prop_assert!((0..extent).contains(&x) && (0..extent).contains(&y), "{},{} in {}", x, y, t);
    }

    #[test]
    fn unproject_inverts_project(
        t in arb_tile(),
        fx in -0.1..1.1f64,
        fy in -0.1..1.1f64,
    ) {
        let transform = t.transform();
        let (x, y) = (fx * f64::from(EXTENT), fy * f64::from(EXTENT));
        let (lon, lat) = transform.unproject(x, y);
        prop_assume!((-180.0..=180.0).contains(&lon) && lat.abs() < MAX_LAT);
        let (x2, y2) = transform.project_f64(lon, lat);
        // Within some bits of longitude and latitude (at zoom 30 near the
        // Mercator limit one bit of latitude is already 0.003 tile units).
        // and of the world position (2^(z + 12 - 52) units).
        let bit = |a: f64, b: f64| (a - b).abs();
        let bit_x = bit(transform.project_f64(lon.next_up(), lat).0, x2)
            .max(bit(transform.project_f64(lon.next_down(), lat).0, x2));
        let bit_y = bit(transform.project_f64(lon, lat.next_up()).1, y2)
            .max(bit(transform.project_f64(lon, lat.next_down()).1, y2));
        let world_bit = transform.world * f64::EPSILON;
        let (tol_x, tol_y) = (1e-6 + 64.0 * (bit_x + world_bit), 1e-6 + 64.0 * (bit_y + world_bit));
        prop_assert!(
            (x - x2).abs() <= tol_x && (y - y2).abs() <= tol_y, "{},{} -> {},{}", x, y, x2, y2);
        // And project floors.
        let (px, py) = transform.project(lon, lat);
        prop_assert!((f64::from(px) - x2.floor()).abs() <= 1.0 && (f64::from(py) - y2.floor()).abs() <= 1.0);
    }
}

/// Paris's arrondissements, lon/lat.
fn arrondissements() -> Vec<(String, MultiPolygon<f64>)> {
    let meta = LayerMeta::new(Layer::Arrondissement, "2021", "test");
    let spec = LayerSpec::new(meta, "c_arinsee", "l_aroff");
    parse_geojson_layer(&spec, ARRONDISSEMENTS_GEOJSON)
        .unwrap()
        .into_iter()
        .map(|d| (d.code, d.geometry))
        .collect()
}

fn clip_square(buffer: u32) -> Polygon<f64> {
    let lo = -f64::from(buffer);
    let hi = f64::from(EXTENT) + f64::from(buffer);
    Rect::new(Coord { x: lo, y: lo }, Coord { x: hi, y: hi }).to_polygon()
}

/// Area (tile units²) of a clipped polygon by the MVT shoelace formula,
/// checking each ring's winding on the way: exteriors positive, holes
/// negative.
fn mvt_area(clipped: &MultiPolygon<i32>) -> f64 {
    let mut twice = 0i64;
    for polygon in clipped {
        let ring = |r: &LineString<i32>| {
            assert_eq!(r.0.first(), r.0.last(), "ring not closed");
            assert!(r.0.len() >= 4, "ring of {} points", r.0.len());
            twice_signed_area(&r.0[..r.0.len() - 1])
        };
        let exterior = ring(polygon.exterior());
        assert!(exterior > 0, "exterior wound anticlockwise on screen");
        twice += exterior;
        for hole in polygon.interiors() {
            let a = ring(hole);
            assert!(a < 0, "hole wound clockwise on screen");
            twice += a;
        }
    }
    twice as f64 / 2.0
}

/// How far a clipped area is from the exact one.
#[derive(Debug, Clone, Copy)]
struct AreaCheck {
    exact: f64,
    error: f64,
    perimeter: f64,
}

/// Compares the area of [`clip_and_simplify`] with geo's exact intersection
/// of the projected polygon and the buffered square.
fn check_area(poly: &MultiPolygon<f64>, t: TileId, tolerance_px: f64) -> AreaCheck {
    let transform = t.transform();
    let projected = poly.map_coords(|c| {
        let (x, y) = transform.project_f64(c.x, c.y);
        Coord { x, y }
    });
    let exact = projected.intersection(&clip_square(BUFFER));
    let exact_area = exact.unsigned_area();
    let perimeter: f64 = exact
        .iter()
        .flat_map(|p| std::iter::once(p.exterior()).chain(p.interiors()))
        .map(|r| Euclidean.length(r))
        .sum();
    let clipped = clip_and_simplify(poly, &transform, BUFFER, tolerance_px);
    let area = clipped.as_ref().map_or(0.0, mvt_area);
    // Flooring moves a vertex by less than a unit on each axis, RDP by at
    // most the tolerance across the outline: the area moves by at most that
    // times the outline's length (plus a unit for tiny slivers).
    let bound = perimeter * (1.0 + tolerance_px) + 1.0;
    assert!(
        (area - exact_area).abs() <= bound,
        "{t}: clipped area {area}, exact {exact_area}, bound {bound}"
    );
    if let Some(clipped) = &clipped {
        for c in clipped.iter().flat_map(|p| p.exterior().0.iter()) {
            let (lo, hi) = (-(BUFFER as i32), (EXTENT + BUFFER) as i32);
            assert!(
                (lo..=hi).contains(&c.x) && (lo..=hi).contains(&c.y),
                "{c:?} outside"
            );
        }
    }
    AreaCheck {
        exact: exact_area,
        error: (area - exact_area).abs(),
        perimeter,
    }
}

/// Tiles of zoom `z` touched by a polygon: those of a spread of its
/// vertices (cut by the tile edges) and of its centroid (often inside).
fn tiles_around(poly: &MultiPolygon<f64>, z: u8, count: usize) -> BTreeSet<TileId> {
    let vertices: Vec<Coord<f64>> = poly.iter().flat_map(|p| p.exterior().0.clone()).collect();
    let step = (vertices.len() / count).max(1);
    let mut tiles: BTreeSet<TileId> = vertices
        .iter()
        .step_by(step)
        .map(|c| TileId::containing(ll(c.x, c.y), z))
        .collect();
    if let Some(c) = poly.centroid() {
        tiles.insert(TileId::containing(ll(c.x(), c.y()), z));
    }
    tiles
}

#[test]
fn district_polygons_keep_the_area_of_the_clipped_original_from_z10_to_z16() {
    let districts = arrondissements();
    assert_eq!(districts.len(), 20);
    let buffered_tile = f64::from(EXTENT + 2 * BUFFER).powi(2);
    for z in 10..=16 {
        let (mut worst_relative, mut worst_per_unit, mut checked) = (0.0f64, 0.0f64, 0);
        for (_, poly) in &districts {
            for t in tiles_around(poly, z, 8) {
                for tolerance in [0.0, 1.0] {
                    let check = check_area(poly, t, tolerance);
                    checked += 1;
                    if tolerance > 0.0 || check.exact == 0.0 {
                        continue;
                    }
                    // Error per unit of outline: flooring alone averages far
                    // below the half unit a vertex can move.
                    worst_per_unit = worst_per_unit.max(check.error / check.perimeter);
                    // Relative error where the district covers a real part of
                    // the tile (not a sliver along an edge).
                    if check.exact > buffered_tile / 100.0 {
                        worst_relative = worst_relative.max(check.error / check.exact);
                    }
                }
            }
        }
        eprintln!(
            "z{z}: {checked} clips, worst error per unit of outline {worst_per_unit:.3}, \
             worst relative {worst_relative:.5}"
        );
        assert!(
            worst_per_unit < 0.25,
            "z{z}: {worst_per_unit} units² of error per unit of outline"
        );
        assert!(
            worst_relative < 0.002,
            "z{z}: worst relative area error {worst_relative}"
        );
        assert!(checked > 40, "z{z}: {checked} tiles");
    }
}

#[test]
fn holes_are_clipped_and_wound_against_their_exterior() {
    // A box around Paris with the 1st arrondissement cut out of it.
    let districts = arrondissements();
    let (_, first) = districts.iter().find(|(code, _)| code == "75101").unwrap();
    let hole = first.0[0].exterior().clone();
    let outer = Rect::new(Coord { x: 2.2, y: 48.8 }, Coord { x: 2.5, y: 48.95 }).to_polygon();
    let holed: MultiPolygon<f64> = Polygon::new(outer.exterior().clone(), vec![hole]).into();
    let mut with_holes = 0;
    for z in 13..=16 {
        for t in tiles_around(first, z, 12) {
            check_area(&holed, t, 0.0);
            check_area(&holed, t, 1.0);
            let clipped = clip_and_simplify(&holed, &t.transform(), BUFFER, 0.0);
            with_holes += clipped.map_or(0, |c| c.0.iter().map(|p| p.interiors().len()).sum());
        }
    }
    assert!(with_holes > 0, "no tile kept a hole");
}

#[test]
fn a_polygon_away_from_the_tile_gives_nothing_and_one_around_it_the_buffered_square() {
    let (_, paris_centre) = &arrondissements()[0];
    let far = TileId::containing(ll(-70.0, 40.0), 14).transform();
    assert_eq!(clip_and_simplify(paris_centre, &far, BUFFER, 1.0), None);

    let around: MultiPolygon<f64> = Rect::new(Coord { x: 2.0, y: 48.0 }, Coord { x: 3.0, y: 49.5 })
        .to_polygon()
        .into();
    let t = TileId::containing(ll(2.35, 48.85), 14);
    let clipped = clip_and_simplify(&around, &t.transform(), BUFFER, 1.0).unwrap();
    let lo = -(BUFFER as i32);
    let hi = (EXTENT + BUFFER) as i32;
    let mut corners: Vec<(i32, i32)> = clipped.0[0].exterior().0[..4]
        .iter()
        .map(|c| (c.x, c.y))
        .collect();
    corners.sort_unstable();
    assert_eq!(corners, [(lo, lo), (lo, hi), (hi, lo), (hi, hi)]);
    assert_eq!(mvt_area(&clipped), f64::from(hi - lo).powi(2));
}

#[test]
fn a_district_that_shrinks_below_a_unit_is_dropped() {
    let (_, poly) = &arrondissements()[0];
    let c = poly.centroid().unwrap();
    // At zoom 0 an arrondissement is far smaller than one tile unit.
    let t = TileId::containing(ll(c.x(), c.y()), 0);
    assert_eq!(clip_and_simplify(poly, &t.transform(), BUFFER, 1.0), None);
}

#[test]
fn an_h3_cell_becomes_one_clockwise_hexagon_of_its_projected_area() {
    let p = ll(2.3499, 48.8530);
    let cell = h3o::LatLng::new(p.lat(), p.lon())
        .unwrap()
        .to_cell(h3o::Resolution::Nine);
    let t = TileId::containing(p, 13);
    let transform = t.transform();
    let hexagon = cell_polygon(cell, &transform, BUFFER).unwrap();
    assert_eq!(hexagon.exterior().0.len(), 7);
    let area = mvt_area(&hexagon.clone().into());
    let projected = Polygon::new(
        cell.boundary()
            .iter()
            .map(|v| {
                let (x, y) = transform.project_f64(v.lng(), v.lat());
                Coord { x, y }
            })
            .collect(),
        vec![],
    );
    let exact = projected.unsigned_area();
    assert!((area - exact).abs() / exact < 0.02, "{area} vs {exact}");

    // A cell across the tile's east edge is clipped to the buffer.
    let b = t.bounds();
    let edge = h3o::LatLng::new(p.lat(), b.max_lon)
        .unwrap()
        .to_cell(h3o::Resolution::Eight);
    let reach = edge
        .boundary()
        .iter()
        .map(|v| transform.project_f64(v.lng(), v.lat()).0)
        .fold(f64::MIN, f64::max);
    assert!(
        reach > f64::from(EXTENT + BUFFER),
        "fixture: the cell must cross the buffer's edge"
    );
    let cut = cell_polygon(edge, &transform, BUFFER).unwrap();
    assert!(
        cut.exterior()
            .0
            .iter()
            .any(|c| c.x == (EXTENT + BUFFER) as i32)
    );
    assert!(mvt_area(&cut.into()) > 0.0);
    // And a cell far away gives nothing.
    let away = h3o::LatLng::new(10.0, 10.0)
        .unwrap()
        .to_cell(h3o::Resolution::Nine);
    assert_eq!(cell_polygon(away, &transform, BUFFER), None);
}
