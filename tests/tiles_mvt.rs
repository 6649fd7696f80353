//! The MVT writer (`civicmap::tiles`), checked feature by feature through an
//! independent decoder (`support_mvt`: mvt-reader and prost), and against
//! another encoder (the `mvt` crate).

#![allow(clippy::unwrap_used)]

mod support_mvt;

use std::collections::{BTreeMap, BTreeSet};

use civicmap::districts::{LayerMeta, LayerSpec, parse_geojson_layer};
use civicmap::model::{Layer, LonLat};
use civicmap::reference::ARRONDISSEMENTS_GEOJSON;
use civicmap::tiles::{
    BUFFER, EXTENT, TileId, TileTransform, TileWriter, Value, cell_polygon, clip_and_simplify, gzip,
};
use geo::{
    Area, BooleanOps, Coord, LineString, MapCoords, MultiPolygon, Polygon, Rect, coord, polygon,
};
use proptest::prelude::*;
use support_mvt::{DecodedLayer, GeomType, Geometry, Prop, Xy, decode, layer, polygons_area};

/// An owned property value, as a test generates it.
#[derive(Debug, Clone, PartialEq)]
enum Owned {
    Str(String),
    Int(i64),
    Uint(u64),
    Bool(bool),
    Double(f64),
}

impl Owned {
    fn value(&self) -> Value<'_> {
        match self {
            Owned::Str(s) => Value::Str(s),
            Owned::Int(i) => Value::Int(*i),
            Owned::Uint(u) => Value::Uint(*u),
            Owned::Bool(b) => Value::Bool(*b),
            Owned::Double(d) => Value::Double(*d),
        }
    }

    /// What the decoder must give back: the protobuf field we promise.
    fn decoded(&self) -> Prop {
        match self {
            Owned::Str(s) => Prop::Str(s.clone()),
            Owned::Int(i) => Prop::SInt(*i),
            Owned::Uint(u) => Prop::UInt(*u),
            Owned::Bool(b) => Prop::Bool(*b),
            Owned::Double(d) => Prop::Double(*d),
        }
    }
}

#[derive(Debug, Clone)]
struct PointFeature {
    id: Option<u64>,
    xy: Xy,
    props: Vec<(String, Owned)>,
}

fn encode_points(name: &str, features: &[PointFeature]) -> Vec<u8> {
    let mut tile = TileWriter::new();
    let mut layer = tile.layer(name, EXTENT);
    for f in features {
        let props: Vec<(&str, Value<'_>)> = f
            .props
            .iter()
            .map(|(k, v)| (k.as_str(), v.value()))
            .collect();
        layer.point(f.id, f.xy, &props);
    }
    layer.finish();
    tile.finish()
}

fn assert_points_decode(decoded: &DecodedLayer, features: &[PointFeature]) {
    assert_eq!(decoded.features.len(), features.len());
    for (i, (got, want)) in decoded.features.iter().zip(features).enumerate() {
        assert_eq!(got.id, want.id, "feature {i}");
        assert_eq!(got.geom_type, GeomType::Point, "feature {i}");
        assert_eq!(got.geometry, Geometry::Points(vec![want.xy]), "feature {i}");
        let props: BTreeMap<String, Prop> = want
            .props
            .iter()
            .map(|(k, v)| (k.clone(), v.decoded()))
            .collect();
        assert_eq!(got.properties, props, "feature {i}");
    }
}

/// The six properties of a report, as the reports layer will carry them.
fn report_like(n: usize) -> Vec<PointFeature> {
    const KINDS: [&str; 3] = ["anomaly", "suggestion", "question"];
    const STATUSES: [&str; 8] = [
        "new",
        "acknowledged",
        "planned",
        "in_progress",
        "resolved",
        "rejected",
        "duplicate",
        "archived",
    ];
    (0..n)
        .map(|i| {
            let i64_i = i as i64;
            PointFeature {
                id: Some(1_000_000 + i as u64),
                xy: ((i * 37 % 4200) as i32 - 50, (i * 91 % 4200) as i32 - 50),
                props: vec![
                    ("id".into(), Owned::Uint(1_000_000 + i as u64)),
                    ("kind".into(), Owned::Str(KINDS[i % 3].into())),
                    (
                        "category".into(),
                        Owned::Str(format!("category-{}", i % 50)),
                    ),
                    ("status".into(), Owned::Str(STATUSES[i % 8].into())),
                    (
                        "created".into(),
                        Owned::Str(format!("2024-{:02}-{:02}", 1 + i % 12, 1 + i % 28)),
                    ),
                    ("supports".into(), Owned::Int(i64_i % 40 - 3)),
                ],
            }
        })
        .collect()
}

#[test]
fn every_point_feature_decodes_with_its_id_position_and_properties() {
    let features = report_like(300);
    let bytes = encode_points("reports", &features);
    let layers = decode(&bytes);
    assert_eq!(support_mvt::names(&layers), ["reports"]);
    assert_points_decode(layer(&layers, "reports"), &features);
}

#[test]
fn property_values_keep_their_protobuf_types() {
    let values = [
        Owned::Str(String::new()),
        Owned::Str("Île-de-France — « trottoir » 🚲".into()),
        Owned::Int(0),
        Owned::Int(-1),
        Owned::Int(i64::MIN),
        Owned::Int(i64::MAX),
        Owned::Uint(0),
        Owned::Uint(u64::MAX),
        Owned::Bool(true),
        Owned::Bool(false),
        Owned::Double(0.0),
        Owned::Double(-0.0),
        Owned::Double(2.5e-300),
        Owned::Double(f64::INFINITY),
    ];
    let features: Vec<PointFeature> = values
        .iter()
        .enumerate()
        .map(|(i, v)| PointFeature {
            id: Some(i as u64),
            xy: (i as i32, 0),
            props: vec![("v".into(), v.clone())],
        })
        .collect();
    let bytes = encode_points("types", &features);
    let decoded = &decode(&bytes)[0];
    assert_points_decode(decoded, &features);
    // The raw table has one entry per value, each in its own field; -0.0 and
    // 0.0 are two values (compared by bits).
    assert_eq!(decoded.values.len(), values.len());
    for (raw, want) in decoded.values.iter().zip(&values) {
        match (raw, want.decoded()) {
            (Prop::Double(a), Prop::Double(b)) => assert_eq!(a.to_bits(), b.to_bits()),
            (a, b) => assert_eq!(*a, b),
        }
    }
}

#[test]
fn keys_and_values_are_stored_once_per_layer() {
    let features = report_like(1_000);
    let mut tile = TileWriter::new();
    for name in ["first", "second"] {
        let mut layer = tile.layer(name, EXTENT);
        for f in &features {
            let props: Vec<(&str, Value<'_>)> = f
                .props
                .iter()
                .map(|(k, v)| (k.as_str(), v.value()))
                .collect();
            layer.point(f.id, f.xy, &props);
        }
    }
    let bytes = tile.finish();
    let layers = decode(&bytes);
    assert_eq!(support_mvt::names(&layers), ["first", "second"]);
    for decoded in &layers {
        assert_points_decode(decoded, &features);
        assert_eq!(
            decoded.keys,
            ["id", "kind", "category", "status", "created", "supports"]
        );
        let distinct: BTreeSet<String> = features
            .iter()
            .flat_map(|f| f.props.iter().map(|(_, v)| format!("{:?}", v.decoded())))
            .collect();
        assert_eq!(decoded.values.len(), distinct.len(), "{}", decoded.name);
        let table: BTreeSet<String> = decoded.values.iter().map(|v| format!("{v:?}")).collect();
        assert_eq!(table, distinct, "every value once");
    }
    // Tags point into the tables: key i of each feature is key i.
    for tags in support_mvt::raw_tags(&bytes, "second") {
        let keys: Vec<u32> = tags.chunks(2).map(|kv| kv[0]).collect();
        assert_eq!(keys, [0, 1, 2, 3, 4, 5]);
    }
}

#[test]
fn keys_in_another_order_or_missing_still_map_to_their_own_entry() {
    let features = vec![
        PointFeature {
            id: None,
            xy: (1, 1),
            props: vec![("a".into(), Owned::Int(1)), ("b".into(), Owned::Int(2))],
        },
        PointFeature {
            id: None,
            xy: (2, 2),
            props: vec![("b".into(), Owned::Int(1)), ("a".into(), Owned::Int(2))],
        },
        PointFeature {
            id: None,
            xy: (3, 3),
            props: vec![("c".into(), Owned::Bool(true))],
        },
        PointFeature {
            id: None,
            xy: (4, 4),
            props: vec![],
        },
        PointFeature {
            id: None,
            xy: (5, 5),
            props: vec![("b".into(), Owned::Int(2)), ("c".into(), Owned::Int(1))],
        },
    ];
    let bytes = encode_points("order", &features);
    let decoded = &decode(&bytes)[0];
    assert_points_decode(decoded, &features);
    assert_eq!(decoded.keys, ["a", "b", "c"]);
    assert_eq!(decoded.values.len(), 3, "{:?}", decoded.values);
}

#[test]
fn layers_carry_their_name_extent_and_version_2() {
    let mut tile = TileWriter::new();
    tile.layer("reports", EXTENT).point(Some(1), (0, 0), &[]);
    tile.layer("coarse", 512).point(None, (511, 511), &[]);
    let layers = decode(&tile.finish());
    let summary: Vec<(&str, u32, u32)> = layers
        .iter()
        .map(|l| (l.name.as_str(), l.extent, l.version))
        .collect();
    assert_eq!(summary, [("reports", 4096, 2), ("coarse", 512, 2)]);
    assert_eq!(layers[1].features[0].id, None);
    assert!(layers[1].features[0].properties.is_empty());
}

#[test]
fn a_layer_without_features_is_left_out_and_an_empty_tile_is_empty_bytes() {
    let mut tile = TileWriter::new();
    tile.layer("nothing", EXTENT).finish();
    {
        let _dropped = tile.layer("dropped", EXTENT);
    }
    let mut degenerate = tile.layer("degenerate", EXTENT);
    let flat = polygon![(x: 0, y: 0), (x: 10, y: 0), (x: 20, y: 0)];
    assert!(!degenerate.polygon(Some(1), &[flat], &[("k", Value::Int(1))]));
    assert!(degenerate.is_empty());
    degenerate.finish();
    assert!(tile.is_empty());
    assert_eq!(tile.finish(), Vec::<u8>::new());

    let mut tile = TileWriter::new();
    tile.layer("empty", EXTENT).finish();
    tile.layer("full", EXTENT).point(Some(9), (5, 6), &[]);
    tile.layer("empty too", EXTENT).finish();
    assert_eq!(support_mvt::names(&decode(&tile.finish())), ["full"]);
}

#[test]
fn a_feature_with_many_properties_and_long_lengths_decodes() {
    // 100 tags (200 varints, over 127 bytes) and values above index 127
    // (two-byte tags): the lengths need more than one byte.
    let props: Vec<(String, Owned)> = (0..100)
        .map(|i| (format!("key{i}"), Owned::Uint(1_000 + i)))
        .collect();
    let features = vec![
        PointFeature {
            id: Some(1),
            xy: (10, 20),
            props: props.clone(),
        },
        PointFeature {
            id: Some(2),
            xy: (30, 40),
            props: props.into_iter().rev().collect(),
        },
    ];
    let bytes = encode_points("wide", &features);
    let decoded = &decode(&bytes)[0];
    assert_points_decode(decoded, &features);
    assert_eq!((decoded.keys.len(), decoded.values.len()), (100, 100));
}

#[test]
fn a_layer_over_two_megabytes_keeps_its_length_right() {
    // Past what the writer reserves for a layer's length (3 varint bytes),
    // followed by a small layer whose length is shorter than reserved.
    const POINTS: u64 = 70_000;
    let mut tile = TileWriter::new();
    let mut big = tile.layer("big", EXTENT);
    for i in 0..POINTS {
        let label = format!("a distinct label, number {i:08}");
        big.point(
            Some(i),
            ((i % 4096) as i32, (i / 4096) as i32),
            &[("label", Value::Str(&label))],
        );
    }
    big.finish();
    tile.layer("small", EXTENT).point(Some(1), (1, 1), &[]);
    let bytes = tile.finish();
    assert!(bytes.len() > 1 << 21, "{} bytes", bytes.len());
    let layers = decode(&bytes);
    assert_eq!(support_mvt::names(&layers), ["big", "small"]);
    let big = layer(&layers, "big");
    assert_eq!(big.features.len() as u64, POINTS);
    let last = &big.features[POINTS as usize - 1];
    assert_eq!(last.id, Some(POINTS - 1));
    assert_eq!(
        last.properties["label"],
        Prop::Str(format!("a distinct label, number {:08}", POINTS - 1))
    );
}

#[test]
fn an_id_of_zero_is_kept_and_a_missing_id_stays_missing() {
    let mut tile = TileWriter::new();
    let mut layer = tile.layer("ids", EXTENT);
    layer.point(Some(0), (1, 2), &[]);
    layer.point(None, (3, 4), &[]);
    layer.point(Some(u64::MAX), (5, 6), &[]);
    layer.finish();
    let ids: Vec<Option<u64>> = decode(&tile.finish())[0]
        .features
        .iter()
        .map(|f| f.id)
        .collect();
    assert_eq!(ids, [Some(0), None, Some(u64::MAX)]);
}

#[test]
fn points_in_the_buffer_and_far_outside_keep_their_coordinates() {
    let features: Vec<PointFeature> = [
        (-64, -64),
        (4160, 4160),
        (-1, 4096),
        (i32::MIN / 2, i32::MAX / 2),
    ]
    .into_iter()
    .map(|xy| PointFeature {
        id: None,
        xy,
        props: vec![],
    })
    .collect();
    assert_points_decode(&decode(&encode_points("edges", &features))[0], &features);
}

/// Polygon feature → its decoded rings' signed areas (twice), per polygon.
fn ring_areas(geometry: &Geometry) -> Vec<Vec<i64>> {
    geometry
        .polygons()
        .iter()
        .map(|p| p.iter().map(|r| support_mvt::ring_area2(r)).collect())
        .collect()
}

#[test]
fn polygon_rings_are_wound_as_mvt_2_1_wants_whatever_their_input_winding() {
    // Exterior anticlockwise on screen and hole clockwise: both wrong.
    let wrong = Polygon::new(
        LineString::from(vec![(0, 0), (0, 100), (100, 100), (100, 0), (0, 0)]),
        vec![LineString::from(vec![
            (20, 20),
            (80, 20),
            (80, 80),
            (20, 80),
            (20, 20),
        ])],
    );
    // A second part, already right, and unclosed.
    let right = polygon![(x: 200, y: 0), (x: 300, y: 0), (x: 300, y: 100)];
    let mut tile = TileWriter::new();
    let mut layer = tile.layer("districts", EXTENT);
    assert!(layer.polygon(
        Some(75_101),
        &[wrong, right],
        &[("code", Value::Str("75101"))]
    ));
    layer.finish();
    let decoded = &decode(&tile.finish())[0];
    let f = &decoded.features[0];
    assert_eq!(f.geom_type, GeomType::Polygon);
    assert_eq!(f.id, Some(75_101));
    // The decoder split the rings by winding: a polygon with its hole, then
    // the triangle.
    assert_eq!(
        ring_areas(&f.geometry),
        [vec![2 * 100 * 100, -2 * 60 * 60], vec![100 * 100]]
    );
    for ring in f.geometry.polygons().iter().flatten() {
        assert_eq!(ring.first(), ring.last(), "closed");
    }
}

#[test]
fn repeated_points_are_dropped_and_flat_holes_skipped() {
    let p = Polygon::new(
        LineString::from(vec![
            (0, 0),
            (50, 0),
            (50, 0),
            (50, 0),
            (50, 50),
            (0, 50),
            (0, 0),
            (0, 0),
        ]),
        vec![LineString::from(vec![(10, 10), (20, 20), (30, 30)])],
    );
    let mut tile = TileWriter::new();
    tile.layer("l", EXTENT).polygon(None, &[p], &[]);
    let bytes = tile.finish();
    let decoded = &decode(&bytes)[0];
    assert_eq!(
        decoded.features[0].geometry,
        Geometry::Polygons(vec![vec![vec![(0, 0), (50, 0), (50, 50), (0, 50), (0, 0)]]])
    );
    // MoveTo 1, LineTo 3, ClosePath: no zero-length LineTo.
    let raw = &support_mvt::raw_geometries(&bytes, "l")[0];
    assert_eq!(raw.len(), 1 + 2 + 1 + 3 * 2 + 1);
    assert_eq!((raw[0], raw[3], raw[10]), (9, 2 | 3 << 3, 15));
}

/// Paris's arrondissements, lon/lat, by code.
fn arrondissements() -> Vec<(String, MultiPolygon<f64>)> {
    let meta = LayerMeta::new(Layer::Arrondissement, "2021", "test");
    let spec = LayerSpec::new(meta, "c_arinsee", "l_aroff");
    parse_geojson_layer(&spec, ARRONDISSEMENTS_GEOJSON)
        .unwrap()
        .into_iter()
        .map(|d| (d.code, d.geometry))
        .collect()
}

fn ll(lon: f64, lat: f64) -> LonLat {
    LonLat::new(lon, lat).unwrap()
}

#[test]
fn district_polygons_decode_with_the_area_of_the_clipped_original() {
    let districts = arrondissements();
    let lo = -f64::from(BUFFER);
    let hi = f64::from(EXTENT + BUFFER);
    let square = Rect::new(coord! { x: lo, y: lo }, coord! { x: hi, y: hi }).to_polygon();
    let mut compared = 0;
    for (z, (lon, lat)) in [
        (10, (2.35, 48.86)),
        (12, (2.35, 48.86)),
        (13, (2.30, 48.87)),
        (14, (2.3499, 48.8530)),
        (15, (2.3522, 48.8566)),
        (16, (2.3700, 48.8600)),
    ] {
        let t = TileId::containing(ll(lon, lat), z);
        let transform = TileTransform::new(t);
        let mut tile = TileWriter::new();
        let mut layer = tile.layer("districts", EXTENT);
        let mut expected = Vec::new();
        for (code, poly) in &districts {
            let Some(clipped) = clip_and_simplify(poly, &transform, BUFFER, 0.0) else {
                continue;
            };
            let id: u64 = code.parse().unwrap();
            assert!(layer.polygon(Some(id), &clipped.0, &[("code", Value::Str(code))]));
            let exact = poly
                .map_coords(|c| {
                    let (x, y) = transform.project_f64(c.x, c.y);
                    Coord { x, y }
                })
                .intersection(&square)
                .unsigned_area();
            expected.push((id, code.clone(), exact));
        }
        layer.finish();
        let decoded = decode(&tile.finish());
        let features = &layer_or_empty(&decoded, "districts");
        assert_eq!(features.len(), expected.len(), "{t}");
        for (f, (id, code, exact)) in features.iter().zip(&expected) {
            assert_eq!(f.id, Some(*id));
            assert_eq!(f.properties["code"], Prop::Str(code.clone()));
            for polygon in f.geometry.polygons() {
                assert!(
                    support_mvt::ring_area2(&polygon[0]) > 0,
                    "{t} {code}: exterior"
                );
                for hole in &polygon[1..] {
                    assert!(support_mvt::ring_area2(hole) < 0, "{t} {code}: hole");
                }
            }
            let area = polygons_area(f.geometry.polygons());
            let relative = (area - exact).abs() / exact;
            // Rounding only: well under a percent except for slivers.
            assert!(
                relative < 0.01 || (area - exact).abs() < 2_000.0,
                "{t} {code}: decoded {area}, clipped original {exact}"
            );
            compared += 1;
        }
    }
    assert!(compared >= 20, "{compared} district pieces compared");
}

fn layer_or_empty(layers: &[DecodedLayer], name: &str) -> Vec<support_mvt::DecodedFeature> {
    layers
        .iter()
        .find(|l| l.name == name)
        .map(|l| l.features.clone())
        .unwrap_or_default()
}

#[test]
fn h3_hexagons_decode_as_one_polygon_each() {
    let centre = ll(2.3522, 48.8566);
    let t = TileId::containing(centre, 14);
    let transform = TileTransform::new(t);
    let origin = h3o::LatLng::new(centre.lat(), centre.lon())
        .unwrap()
        .to_cell(h3o::Resolution::Nine);
    let mut tile = TileWriter::new();
    let mut hexagons = tile.layer("h3", EXTENT);
    let mut written = Vec::new();
    for cell in origin.grid_disk::<Vec<_>>(12) {
        if let Some(hexagon) = cell_polygon(cell, &transform, BUFFER) {
            let id = u64::from(cell);
            hexagons.polygon(
                Some(id),
                std::slice::from_ref(&hexagon),
                &[("count", Value::Uint(3))],
            );
            written.push((id, hexagon.exterior().0.len()));
        }
    }
    hexagons.finish();
    assert!(written.len() > 20, "{} cells", written.len());
    let decoded = decode(&tile.finish());
    let features = &layer(&decoded, "h3").features;
    assert_eq!(features.len(), written.len());
    for (f, (id, points)) in features.iter().zip(&written) {
        assert_eq!(f.id, Some(*id));
        let polygons = f.geometry.polygons();
        assert_eq!(polygons.len(), 1);
        assert_eq!(polygons[0].len(), 1, "no hole");
        assert_eq!(polygons[0][0].len(), *points);
        assert!(support_mvt::ring_area2(&polygons[0][0]) > 0);
        assert_eq!(f.properties["count"], Prop::UInt(3));
    }
}

#[test]
fn a_gzipped_tile_decodes_to_the_same_layers() {
    let features = report_like(200);
    let bytes = encode_points("reports", &features);
    let compressed = gzip(&bytes);
    assert!(
        compressed.len() < bytes.len() * 3 / 4,
        "{} → {}",
        bytes.len(),
        compressed.len()
    );
    assert_eq!(support_mvt::gunzip(&compressed), bytes);
    assert_eq!(decode(&compressed), decode(&bytes));
}

/// The same points through the `mvt` crate.
fn encode_with_mvt_crate(name: &str, features: &[PointFeature]) -> Vec<u8> {
    let tile_extent = EXTENT;
    let mut tile = mvt::Tile::new(tile_extent);
    let mut layer = tile.create_layer(name);
    for f in features {
        let geometry = mvt::GeomEncoder::new(mvt::GeomType::Point)
            .point(f.xy.0, f.xy.1)
            .unwrap()
            .encode()
            .unwrap();
        let mut feature = layer.into_feature(geometry);
        if let Some(id) = f.id {
            feature.set_id(id);
        }
        for (k, v) in &f.props {
            match v {
                Owned::Str(s) => feature.add_tag_string(k, s),
                Owned::Int(i) => feature.add_tag_sint(k, *i),
                Owned::Uint(u) => feature.add_tag_uint(k, *u),
                Owned::Bool(b) => feature.add_tag_bool(k, *b),
                Owned::Double(d) => feature.add_tag_double(k, *d),
            }
        }
        layer = feature.into_layer();
    }
    tile.add_layer(layer).unwrap();
    tile.to_bytes().unwrap()
}

#[test]
fn the_writer_and_the_mvt_crate_give_the_same_decoded_tile() {
    let features = report_like(500);
    let ours = encode_points("reports", &features);
    let theirs = encode_with_mvt_crate("reports", &features);
    assert_eq!(decode(&ours), decode(&theirs));
}

fn arb_value() -> impl Strategy<Value = Owned> {
    prop_oneof![
        "[a-z0-9 éà-]{0,12}".prop_map(Owned::Str),
        any::<i64>().prop_map(Owned::Int),
        (-5i64..5).prop_map(Owned::Int),
        any::<u64>().prop_map(Owned::Uint),
        any::<bool>().prop_map(Owned::Bool),
        any::<f64>()
            .prop_filter("NaN is not equal to itself", |d| !d.is_nan())
            .prop_map(Owned::Double),
    ]
}

fn arb_point() -> impl Strategy<Value = PointFeature> {
    let buffer = BUFFER as i32;
    let far = (EXTENT + BUFFER) as i32;
    (
        proptest::option::of(any::<u64>()),
        (-buffer..far, -buffer..far),
        // Distinct keys from a small pool, in random order, random types.
        proptest::sample::subsequence(vec!["id", "kind", "category", "status", "day", "n"], 0..=6)
            .prop_shuffle(),
        proptest::collection::vec(arb_value(), 6),
    )
        .prop_map(|(id, xy, keys, values)| PointFeature {
            id,
            xy,
            props: keys.into_iter().map(String::from).zip(values).collect(),
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn random_points_and_properties_round_trip(
        features in proptest::collection::vec(arb_point(), 1..60),
    ) {
        let bytes = encode_points("random", &features);
        let layers = decode(&bytes);
        prop_assert_eq!(layers.len(), 1);
        assert_points_decode(&layers[0], &features);
        // Every key and value is in the tables once.
        let keys: BTreeSet<&String> = layers[0].keys.iter().collect();
        prop_assert_eq!(keys.len(), layers[0].keys.len());
    }

    #[test]
    fn random_rectangles_with_holes_round_trip_with_their_area(
        rects in proptest::collection::vec(
            (-64i32..4000, -64i32..4000, 10i32..200, 10i32..200, any::<bool>(), any::<bool>()),
            1..20,
        ),
    ) {
        let mut tile = TileWriter::new();
        let mut layer = tile.layer("rects", EXTENT);
        let mut expected = Vec::new();
        for (i, &(x, y, w, h, hole, reversed)) in rects.iter().enumerate() {
            let mut exterior = vec![(x, y), (x + w, y), (x + w, y + h), (x, y + h)];
            if reversed {
                exterior.reverse();
            }
            let holes = if hole && w > 4 && h > 4 {
                vec![LineString::from(vec![
                    (x + 1, y + 1),
                    (x + w - 1, y + 1),
                    (x + w - 1, y + h - 1),
                    (x + 1, y + h - 1),
                ])]
            } else {
                vec![]
            };
            let area2 = 2 * i64::from(w) * i64::from(h)
                - holes.len() as i64 * 2 * i64::from(w - 2) * i64::from(h - 2);
            let p = Polygon::new(LineString::from(exterior), holes);
            prop_assert!(layer.polygon(Some(i as u64), &[p], &[("i", Value::Uint(i as u64))]));
            expected.push(area2);
        }
        layer.finish();
        let decoded = decode(&tile.finish());
        let got: Vec<i64> = decoded[0]
            .features
            .iter()
            .map(|f| f.geometry.polygons().iter().flatten().map(|r| support_mvt::ring_area2(r)).sum())
            .collect();
        prop_assert_eq!(got, expected);
        for f in &decoded[0].features {
            prop_assert_eq!(f.geometry.polygons().len(), 1);
            prop_assert_eq!(f.properties["i"].clone(), Prop::UInt(f.id.unwrap()));
        }
    }
}
