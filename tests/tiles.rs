//! Vector tiles through the real router, decoded by an independent MVT
//! decoder and compared feature by feature with brute-force answers read
//! from the store (not from the index that drew the tiles).
//!
//! The application is seeded with the real DansMaRue sample (39,515 reports).
#![allow(clippy::unwrap_used)]

mod common;
#[path = "support_mvt/mod.rs"]
mod support_mvt;

use std::collections::{BTreeMap, BTreeSet, HashMap};

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use geo::{Area, BooleanOps, Coord, LineString, MultiPolygon, Polygon};
use serde_json::json;

use civicmap::model::{Kind, Status};
use civicmap::tiles::{BUFFER, EXTENT, TileId};
use common::{Harness, Reply, seeded_harness};
use support_mvt::{DecodedLayer, Geometry, Prop, decode, polygons_area};

/// Which stored reports a filter keeps, written out by hand.
type Keep = Box<dyn Fn(&Stored) -> bool>;

/// A stored report as the store returns it.
#[derive(Debug, Clone)]
struct Stored {
    id: i64,
    lon: f64,
    lat: f64,
    kind: Kind,
    status: Status,
    category: String,
    created_ms: i64,
    h3: u64,
}

fn stored(h: &Harness) -> Vec<Stored> {
    let mut out = Vec::new();
    h.rt.block_on(h.app.store().load_index_rows(|r| {
        out.push(Stored {
            id: r.id,
            lon: r.lon,
            lat: r.lat,
            kind: r.kind.parse().unwrap(),
            status: r.status.parse().unwrap(),
            category: r.category.to_owned(),
            created_ms: r.created_at_ms,
            h3: u64::from_ne_bytes(r.h3.to_ne_bytes()),
        });
    }))
    .unwrap();
    out
}

fn tile_get(h: &Harness, uri: &str, gzip: bool) -> Reply {
    let mut req = Request::get(uri);
    if gzip {
        req = req.header(header::ACCEPT_ENCODING, "gzip");
    }
    h.send(req.body(Body::empty()).unwrap())
}

/// The decoded layers of a tile, gunzipped as a client would.
fn layers_of(reply: &Reply) -> BTreeMap<String, DecodedLayer> {
    if reply.status == StatusCode::NO_CONTENT {
        return BTreeMap::new();
    }
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
    assert_eq!(
        reply.headers[header::CONTENT_TYPE],
        "application/vnd.mapbox-vector-tile"
    );
    let raw = if reply
        .headers
        .get(header::CONTENT_ENCODING)
        .is_some_and(|v| v == "gzip")
    {
        use std::io::Read;
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(&reply.body[..])
            .read_to_end(&mut out)
            .unwrap();
        out
    } else {
        reply.body.clone()
    };
    decode(&raw)
        .into_iter()
        .map(|l| (l.name.clone(), l))
        .collect()
}

/// Web Mercator, written out here rather than taken from the crate: tile
/// coordinates (fractional, in tiles) of a position.
fn mercator(z: u8, lon: f64, lat: f64) -> (f64, f64) {
    let n = f64::from(1_u32 << z);
    let x = (lon + 180.0) / 360.0 * n;
    let r = lat.to_radians();
    let y = (1.0 - r.tan().asinh() / std::f64::consts::PI) / 2.0 * n;
    (x, y)
}

/// Whether a position lies in `tile` grown by the buffer, edges included.
fn in_buffered(tile: TileId, lon: f64, lat: f64) -> bool {
    let (x, y) = mercator(tile.z, lon, lat);
    let b = f64::from(BUFFER) / f64::from(EXTENT);
    let (tx, ty) = (f64::from(tile.x), f64::from(tile.y));
    x >= tx - b && x <= tx + 1.0 + b && y >= ty - b && y <= ty + 1.0 + b
}

fn tile_of(z: u8, lon: f64, lat: f64) -> TileId {
    let (x, y) = mercator(z, lon, lat);
    TileId::new(z, x.floor() as u32, y.floor() as u32).unwrap()
}

fn int(p: &Prop) -> i64 {
    i64::try_from(
        p.as_integer()
            .unwrap_or_else(|| panic!("not an integer: {p:?}")),
    )
    .unwrap()
}

fn string(p: &Prop) -> &str {
    p.as_str().unwrap_or_else(|| panic!("not a string: {p:?}"))
}

/// Busy z15 tiles of the sample: the tiles of the first reports of the
/// store, spread over the city.
fn busy_tiles(all: &[Stored], z: u8, n: usize) -> Vec<TileId> {
    let mut counts: HashMap<TileId, usize> = HashMap::new();
    for s in all {
        *counts.entry(tile_of(z, s.lon, s.lat)).or_default() += 1;
    }
    let mut v: Vec<(TileId, usize)> = counts.into_iter().collect();
    v.sort_unstable_by_key(|(t, c)| (std::cmp::Reverse(*c), t.x, t.y));
    v.into_iter().take(n).map(|(t, _)| t).collect()
}

#[test]
fn every_report_in_a_point_tile_and_its_buffer_is_one_feature_with_its_public_fields() {
    let h = seeded_harness();
    let all = stored(h);
    assert!(all.len() > 39_000, "the sample is seeded");
    let by_id: HashMap<i64, &Stored> = all.iter().map(|s| (s.id, s)).collect();
    for tile in busy_tiles(&all, 15, 6)
        .into_iter()
        .chain(busy_tiles(&all, 17, 3))
    {
        let reply = tile_get(
            h,
            &format!("/tiles/reports/{}/{}/{}.mvt", tile.z, tile.x, tile.y),
            true,
        );
        let layers = layers_of(&reply);
        let layer = &layers["reports"];
        assert_eq!(layer.extent, EXTENT);
        let got: BTreeSet<i64> = layer
            .features
            .iter()
            .map(|f| i64::try_from(f.id.unwrap()).unwrap())
            .collect();
        assert_eq!(got.len(), layer.features.len(), "one feature per report");
        let want: BTreeSet<i64> = all
            .iter()
            .filter(|s| in_buffered(tile, s.lon, s.lat))
            .map(|s| s.id)
            .collect();
        assert_eq!(got, want, "tile {tile}");
        for f in &layer.features {
            let s = by_id[&i64::try_from(f.id.unwrap()).unwrap()];
            let Geometry::Points(points) = &f.geometry else {
                panic!("a report is a point: {:?}", f.geometry)
            };
            let (x, y) = mercator(tile.z, s.lon, s.lat);
            let ex = (x - f64::from(tile.x)) * f64::from(EXTENT);
            let ey = (y - f64::from(tile.y)) * f64::from(EXTENT);
            assert_eq!(points.len(), 1);
            assert!(
                (f64::from(points[0].0) - ex).abs() <= 1.0
                    && (f64::from(points[0].1) - ey).abs() <= 1.0,
                "report {} drawn at {:?}, expected ({ex:.1}, {ey:.1})",
                s.id,
                points[0]
            );
            assert_eq!(string(&f.properties["kind"]), s.kind.as_str());
            assert_eq!(string(&f.properties["status"]), s.status.as_str());
            assert_eq!(string(&f.properties["category"]), s.category);
            let day = time::OffsetDateTime::from_unix_timestamp(s.created_ms.div_euclid(1000))
                .unwrap()
                .date()
                .to_string();
            assert_eq!(string(&f.properties["created"]), day);
            let keys: BTreeSet<&str> = f.properties.keys().map(String::as_str).collect();
            assert_eq!(
                keys,
                BTreeSet::from(["category", "created", "kind", "status"]),
                "nothing else (nothing personal) is in a report feature; the id is the feature id"
            );
        }
    }
}

#[test]
fn a_filtered_point_tile_holds_exactly_the_matching_reports() {
    let h = seeded_harness();
    let all = stored(h);
    let tile = busy_tiles(&all, 15, 1)[0];
    let category = all
        .iter()
        .find(|s| in_buffered(tile, s.lon, s.lat))
        .unwrap()
        .category
        .clone();
    let from = time::macros::datetime!(2024-01-01 0:00 UTC).unix_timestamp() * 1000;
    let cases: Vec<(String, Keep)> = vec![
        (
            "kind=contribution".into(),
            Box::new(|s| s.kind == Kind::Contribution),
        ),
        (format!("category={category}"), {
            let c = category.clone();
            Box::new(move |s| s.category == c)
        }),
        (
            "status=new&kind=anomaly".into(),
            Box::new(|s| s.status == Status::New && s.kind == Kind::Anomaly),
        ),
        (
            format!("from=2024-01-01&category={category}"),
            Box::new(move |s| s.created_ms >= from && s.category == category),
        ),
    ];
    for (query, keep) in cases {
        let reply = tile_get(
            h,
            &format!(
                "/tiles/reports/{}/{}/{}.mvt?{query}",
                tile.z, tile.x, tile.y
            ),
            true,
        );
        let layers = layers_of(&reply);
        let got: BTreeSet<u64> = layers
            .get("reports")
            .map(|l| l.features.iter().map(|f| f.id.unwrap()).collect())
            .unwrap_or_default();
        let want: BTreeSet<u64> = all
            .iter()
            .filter(|s| in_buffered(tile, s.lon, s.lat) && keep(s))
            .map(|s| u64::try_from(s.id).unwrap())
            .collect();
        assert_eq!(got, want, "{query}");
    }
}

/// Brute-force counts per cell at `res` of the reports kept by `keep`.
fn cell_counts(
    all: &[Stored],
    res: h3o::Resolution,
    keep: impl Fn(&Stored) -> bool,
) -> HashMap<u64, [i64; 4]> {
    let mut m: HashMap<u64, [i64; 4]> = HashMap::new();
    for s in all.iter().filter(|s| keep(s)) {
        let cell = h3o::CellIndex::try_from(s.h3).unwrap().parent(res).unwrap();
        let c = m.entry(u64::from(cell)).or_default();
        c[0] += 1;
        c[1] += i64::from(s.kind == Kind::Anomaly);
        c[2] += i64::from(s.kind == Kind::Contribution);
        c[3] += i64::from(s.status.is_open());
    }
    m
}

#[test]
fn hexagon_counts_equal_a_brute_force_count_of_each_cell_and_add_up_to_every_report() {
    let h = seeded_harness();
    let all = stored(h);
    for (query, keep) in [
        ("", Box::new(|_: &Stored| true) as Keep),
        (
            "?kind=anomaly",
            Box::new(|s: &Stored| s.kind == Kind::Anomaly),
        ),
        // Category and status together, and a time range, are not in the
        // maintained counts: these tiles come from a walk of the points.
        (
            "?status=new&category=proprete",
            Box::new(|s: &Stored| s.status == Status::New && s.category == "proprete"),
        ),
        (
            "?from=2024-01-01",
            Box::new(|s: &Stored| {
                s.created_ms >= time::macros::datetime!(2024-01-01 0:00 UTC).unix_timestamp() * 1000
            }),
        ),
    ] {
        // Every z11 tile over Paris: hexagons at resolution 7.
        let z = 11;
        let (x0, y0) = mercator(z, 2.22, 48.91);
        let (x1, y1) = mercator(z, 2.47, 48.81);
        let mut seen: HashMap<u64, [i64; 4]> = HashMap::new();
        let mut resolution = None;
        for x in x0.floor() as u32..=x1.floor() as u32 {
            for y in y0.floor() as u32..=y1.floor() as u32 {
                let layers = layers_of(&tile_get(
                    h,
                    &format!("/tiles/reports/{z}/{x}/{y}.mvt{query}"),
                    true,
                ));
                let Some(layer) = layers.get("reports_h3") else {
                    continue;
                };
                assert!(
                    !layers.contains_key("reports"),
                    "no points below the point zooms"
                );
                for f in &layer.features {
                    let cell = u64::from_str_radix(string(&f.properties["h3"]), 16).unwrap();
                    assert_eq!(f.id, Some(cell));
                    resolution = Some(int(&f.properties["resolution"]));
                    let counts = [
                        int(&f.properties["total"]),
                        int(&f.properties["anomalies"]),
                        int(&f.properties["contributions"]),
                        int(&f.properties["open"]),
                    ];
                    // A hexagon on several tiles carries the same counts on each.
                    if let Some(before) = seen.insert(cell, counts) {
                        assert_eq!(before, counts, "cell {cell:x} differs between tiles");
                    }
                    assert!(matches!(f.geometry, Geometry::Polygons(_)));
                }
            }
        }
        assert_eq!(
            resolution,
            Some(7),
            "query {query:?}: zoom 11 draws resolution 7"
        );
        let res = h3o::Resolution::Seven;
        let want = cell_counts(&all, res, &keep);
        let got: BTreeMap<u64, [i64; 4]> = seen.into_iter().collect();
        let want: BTreeMap<u64, [i64; 4]> = want.into_iter().collect();
        assert_eq!(got, want, "query {query:?}");
        let total: i64 = got.values().map(|c| c[0]).sum();
        assert_eq!(total, all.iter().filter(|s| keep(s)).count() as i64);
    }
}

#[test]
fn district_polygons_in_a_tile_have_the_area_of_the_original_clipped_to_the_buffered_tile() {
    let h = seeded_harness();
    for (z, lon, lat) in [
        (12_u8, 2.35, 48.86),
        (14, 2.3499, 48.8530),
        (13, 2.29, 48.84),
    ] {
        let tile = tile_of(z, lon, lat);
        let layers = layers_of(&tile_get(
            h,
            &format!(
                "/tiles/districts/{}/{}/{}.mvt?layer=quartier",
                tile.z, tile.x, tile.y
            ),
            false,
        ));
        let layer = &layers["districts"];
        assert!(!layer.features.is_empty());
        let b = f64::from(BUFFER);
        let e = f64::from(EXTENT);
        let square: Polygon<f64> = Polygon::new(
            LineString::from(vec![
                (-b, -b),
                (e + b, -b),
                (e + b, e + b),
                (-b, e + b),
                (-b, -b),
            ]),
            vec![],
        );
        for f in &layer.features {
            let id = string(&f.properties["id"]);
            assert_eq!(string(&f.properties["layer"]), "quartier");
            let Geometry::Polygons(polygons) = &f.geometry else {
                panic!()
            };
            // MVT: exterior rings have positive area in screen coordinates.
            let drawn = polygons_area(polygons);
            let reply = h.get(&format!("/api/v1/districts/{id}"));
            let feature: geojson::Feature = serde_json::from_slice(&reply.body).unwrap();
            let original: MultiPolygon<f64> =
                geo::Geometry::<f64>::try_from(feature.geometry.unwrap())
                    .unwrap()
                    .try_into()
                    .unwrap();
            let projected = geo::MapCoords::map_coords(&original, |c: Coord<f64>| {
                let (x, y) = mercator(z, c.x, c.y);
                Coord {
                    x: (x - f64::from(tile.x)) * e,
                    y: (y - f64::from(tile.y)) * e,
                }
            });
            let clipped = projected.intersection(&MultiPolygon::new(vec![square.clone()]));
            let exact = clipped.unsigned_area();
            assert!(
                (drawn - exact).abs() <= 0.01 * exact + 4.0 * e.sqrt(),
                "{id} at {tile}: drawn {drawn:.0}, exact {exact:.0}"
            );
        }
    }
}

#[test]
fn a_posted_report_shows_on_the_next_load_of_every_tile_that_holds_it() {
    // The unseeded application: the other tests of this binary read the
    // seeded one against a snapshot of its store, and must not see this post.
    let h = common::harness();
    let (lon, lat) = (2.3712, 48.8589);
    let post = |kind: &str, tag: &str| {
        let body = json!({
            "kind": kind, "category": "proprete",
            "subcategory": common::first_subcategory("proprete"),
            "description": "Un arceau vélo ici", "lon": lon, "lat": lat,
            "client_id": common::client_id(tag), "channel": "ios",
        });
        let created = h.post_as(Some("app"), "/api/v1/reports", &body);
        assert_eq!(created.status, StatusCode::CREATED, "{}", created.text());
        created.json()
    };
    // A report already there, so the tiles are cached with something in them.
    post("anomaly", "tile-before");
    let point_tile = tile_of(16, lon, lat);
    let hex_tile = tile_of(12, lon, lat);
    let point_uri = format!("/tiles/reports/16/{}/{}.mvt", point_tile.x, point_tile.y);
    let hex_uri = format!("/tiles/reports/12/{}/{}.mvt", hex_tile.x, hex_tile.y);
    let before_points = tile_get(h, &point_uri, true);
    let before_hex = layers_of(&tile_get(h, &hex_uri, true));
    // Loaded twice: the second answer comes from the cache.
    let cached = tile_get(h, &point_uri, true);
    assert_eq!(
        cached.headers[header::ETAG],
        before_points.headers[header::ETAG]
    );

    let created = post("contribution", "tile-fresh");
    let id = u64::try_from(created["id"].as_i64().unwrap()).unwrap();
    let h3 = u64::from_str_radix(created["h3"].as_str().unwrap(), 16).unwrap();

    let after_points = tile_get(h, &point_uri, true);
    assert_ne!(
        after_points.headers[header::ETAG],
        before_points.headers[header::ETAG]
    );
    assert!(
        layers_of(&after_points)["reports"]
            .features
            .iter()
            .any(|f| f.id == Some(id))
    );

    let after_hex = layers_of(&tile_get(h, &hex_uri, true));
    let count = |layers: &BTreeMap<String, DecodedLayer>, cell: u64| {
        layers
            .get("reports_h3")
            .and_then(|l| l.features.iter().find(|f| f.id == Some(cell)))
            .map_or([0, 0], |f| {
                [
                    int(&f.properties["total"]),
                    int(&f.properties["contributions"]),
                ]
            })
    };
    let res = h3o::Resolution::try_from(8).unwrap();
    let cell = u64::from(h3o::CellIndex::try_from(h3).unwrap().parent(res).unwrap());
    let [t0, c0] = count(&before_hex, cell);
    assert!(t0 >= 1, "the cached hexagon tile held the earlier report");
    assert_eq!(count(&after_hex, cell), [t0 + 1, c0 + 1]);
}

#[test]
fn tile_addresses_outside_the_pyramid_are_refused_and_empty_tiles_are_204() {
    let h = seeded_harness();
    let cases = [
        ("/tiles/reports/21/0/0.mvt", StatusCode::NOT_FOUND),
        (
            "/tiles/reports/99999999999/0/0.mvt",
            StatusCode::BAD_REQUEST,
        ),
        ("/tiles/reports/3/8/0.mvt", StatusCode::BAD_REQUEST),
        ("/tiles/reports/3/0/-1.mvt", StatusCode::BAD_REQUEST),
        ("/tiles/reports/3/a/0.mvt", StatusCode::BAD_REQUEST),
        ("/tiles/reports/3/0/0.png", StatusCode::NOT_FOUND),
        ("/tiles/parcels/3/0/0.mvt", StatusCode::NOT_FOUND),
        (
            "/tiles/reports/3/0/0.mvt?colour=red",
            StatusCode::BAD_REQUEST,
        ),
        ("/tiles/reports/3/0/0.mvt?kind=joy", StatusCode::BAD_REQUEST),
        (
            "/tiles/districts/3/0/0.mvt?layer=county",
            StatusCode::BAD_REQUEST,
        ),
        // The Pacific, far from Paris: nothing to draw.
        (
            "/tiles/reports,projects,districts/10/0/512.mvt",
            StatusCode::NO_CONTENT,
        ),
        ("/tiles/reports/16/33195/22546.pbf", StatusCode::OK),
    ];
    for (uri, status) in cases {
        let reply = h.get(uri);
        assert_eq!(reply.status, status, "{uri}: {}", reply.text());
        if status.is_client_error() {
            let body = reply.json();
            assert!(
                body["error"].is_string() && body["message"].is_string(),
                "{uri}"
            );
        }
    }
}

#[test]
fn gzip_is_served_only_when_accepted_and_the_etag_revalidates_to_304() {
    let h = seeded_harness();
    let uri = "/tiles/reports,projects/13/4149/2818.mvt";
    let zipped = tile_get(h, uri, true);
    let plain = tile_get(h, uri, false);
    assert_eq!(zipped.headers[header::CONTENT_ENCODING], "gzip");
    assert!(plain.headers.get(header::CONTENT_ENCODING).is_none());
    assert_eq!(zipped.headers[header::VARY], "Accept-Encoding");
    assert!(zipped.body.len() < plain.body.len());
    assert_eq!(layers_of(&zipped).len(), layers_of(&plain).len());
    let etag = zipped.headers[header::ETAG].clone();
    let again = h.send(
        Request::get(uri)
            .header(header::ACCEPT_ENCODING, "gzip")
            .header(header::IF_NONE_MATCH, etag.clone())
            .body(Body::empty())
            .unwrap(),
    );
    assert_eq!(again.status, StatusCode::NOT_MODIFIED);
    assert!(again.body.is_empty());
    let refused = h.send(
        Request::get(uri)
            .header(header::ACCEPT_ENCODING, "gzip;q=0, identity")
            .body(Body::empty())
            .unwrap(),
    );
    assert!(refused.headers.get(header::CONTENT_ENCODING).is_none());
}

#[test]
fn tilejson_names_every_source_layer_with_its_fields_and_carries_the_filters_into_the_url() {
    let h = seeded_harness();
    let doc = h
        .get("/tiles/reports,projects,districts.json?kind=anomaly&layer=iris")
        .json();
    assert_eq!(doc["tilejson"], "3.0.0");
    let url = doc["tiles"][0].as_str().unwrap();
    assert!(
        url.ends_with("/tiles/reports,projects,districts/{z}/{x}/{y}.mvt?kind=anomaly&layer=iris"),
        "{url}"
    );
    let ids: Vec<&str> = doc["vector_layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["reports", "reports_h3", "projects", "districts"]);
    assert_eq!(doc["vector_layers"][0]["fields"]["status"], "String");
    assert_eq!(doc["bounds"].as_array().unwrap().len(), 4);
    let catalog = h.get("/tiles").json();
    assert_eq!(catalog["tilesets"].as_array().unwrap().len(), 3);
    assert_eq!(
        h.get("/tiles/reports.json?kind=joy").status,
        StatusCode::BAD_REQUEST
    );
    assert_eq!(h.get("/tiles/nothing.json").status, StatusCode::NOT_FOUND);
}

#[test]
fn a_project_tile_shows_every_located_project_of_the_tile_with_its_budget() {
    let h = seeded_harness();
    let projects = h.rt.block_on(h.app.store().projects()).unwrap();
    let located: Vec<_> = projects.iter().filter(|p| p.lon.is_some()).collect();
    assert!(located.len() > 1_000);
    let tile = tile_of(13, 2.3499, 48.8530);
    let layers = layers_of(&tile_get(
        h,
        &format!("/tiles/projects/{}/{}/{}.mvt", tile.z, tile.x, tile.y),
        true,
    ));
    let got: BTreeMap<u64, i64> = layers["projects"]
        .features
        .iter()
        .map(|f| (f.id.unwrap(), int(&f.properties["budget_eur"])))
        .collect();
    let want: BTreeMap<u64, i64> = located
        .iter()
        .filter(|p| in_buffered(tile, p.lon.unwrap(), p.lat.unwrap()))
        .map(|p| (u64::try_from(p.id).unwrap(), p.budget_eur))
        .collect();
    assert!(!want.is_empty());
    assert_eq!(got, want);
}
