//! Decoding of Mapbox Vector Tiles for tests, independent of civicmap's
//! encoder (`civicmap::tiles::mvt`): features, geometry and properties come
//! from the `mvt-reader` crate; the raw layer tables (keys, values, version,
//! geometry type) from prost, with the messages of `vector_tile.proto` 2.1
//! declared here by hand. Nothing of civicmap is used.
//!
//! Use from a test file with `mod support_mvt;` (or
//! `#[path = "support_mvt/mod.rs"] mod support_mvt;` from a subdirectory):
//!
//! ```ignore
//! let layers = support_mvt::decode(&body); // gzip or not
//! let reports = support_mvt::layer(&layers, "reports");
//! assert_eq!(reports.features[0].properties["kind"], Prop::Str("anomaly".into()));
//! ```
//!
//! Everything here panics with a message on a tile that is not valid MVT:
//! that is a test failure.

// Each test binary uses part of it.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::io::Read as _;

use prost::Message as _;

/// A property value, by the protobuf field that held it.
#[derive(Debug, Clone, PartialEq)]
pub enum Prop {
    /// `string_value`
    Str(String),
    /// `int_value` (plain varint)
    Int(i64),
    /// `sint_value` (zigzag)
    SInt(i64),
    /// `uint_value`
    UInt(u64),
    /// `float_value`
    Float(f32),
    /// `double_value`
    Double(f64),
    /// `bool_value`
    Bool(bool),
}

impl Prop {
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Prop::Str(s) => Some(s),
            _ => None,
        }
    }

    /// Any of the integer types, as `i128` (so `u64` fits).
    pub fn as_integer(&self) -> Option<i128> {
        match *self {
            Prop::Int(i) | Prop::SInt(i) => Some(i128::from(i)),
            Prop::UInt(u) => Some(i128::from(u)),
            _ => None,
        }
    }

    pub fn as_f64(&self) -> Option<f64> {
        match *self {
            Prop::Float(f) => Some(f64::from(f)),
            Prop::Double(d) => Some(d),
            _ => None,
        }
    }
}

/// The `type` of a feature.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GeomType {
    Point,
    LineString,
    Polygon,
}

/// A point in tile coordinates.
pub type Xy = (i32, i32);

/// Decoded geometry, in tile coordinates.
#[derive(Debug, Clone, PartialEq)]
pub enum Geometry {
    /// One or more points.
    Points(Vec<Xy>),
    /// One or more lines.
    Lines(Vec<Vec<Xy>>),
    /// Polygons, each a list of rings (exterior first), each ring closed
    /// (first point repeated last). The decoder groups rings into polygons
    /// by their winding (a positive area starts a polygon), as MVT 2.1 says.
    Polygons(Vec<Vec<Vec<Xy>>>),
}

impl Geometry {
    pub fn points(&self) -> &[Xy] {
        match self {
            Geometry::Points(p) => p,
            other => panic!("not points: {other:?}"),
        }
    }

    pub fn polygons(&self) -> &[Vec<Vec<Xy>>] {
        match self {
            Geometry::Polygons(p) => p,
            other => panic!("not polygons: {other:?}"),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct DecodedFeature {
    pub id: Option<u64>,
    pub geom_type: GeomType,
    pub geometry: Geometry,
    pub properties: BTreeMap<String, Prop>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct DecodedLayer {
    pub name: String,
    pub version: u32,
    pub extent: u32,
    pub features: Vec<DecodedFeature>,
    /// The raw key table, in order.
    pub keys: Vec<String>,
    /// The raw value table, in order.
    pub values: Vec<Prop>,
}

/// Decodes a tile, gunzipping it first if it starts with the gzip magic
/// (an MVT never does: its first byte is the layers field, 0x1a).
///
/// # Panics
/// On a tile that is not valid MVT 2.1 for both decoders.
pub fn decode(bytes: &[u8]) -> Vec<DecodedLayer> {
    let bytes = if bytes.starts_with(&[0x1f, 0x8b]) {
        gunzip(bytes)
    } else {
        bytes.to_vec()
    };
    let raw = raw::Tile::decode(bytes.as_slice()).expect("prost: not a vector tile");
    let reader = mvt_reader::Reader::new(bytes).expect("mvt-reader: not a vector tile");
    let metadata = reader
        .get_layer_metadata()
        .expect("mvt-reader: bad layer metadata");
    assert_eq!(metadata.len(), raw.layers.len(), "layer count");
    raw.layers
        .iter()
        .zip(&metadata)
        .map(|(raw, meta)| {
            let name = raw.name.clone().expect("layer without a name");
            assert_eq!(name, meta.name);
            let version = raw.version.expect("layer without a version");
            let extent = raw.extent.unwrap_or(4096);
            assert_eq!((version, extent), (meta.version, meta.extent), "{name}");
            let features = reader
                .get_features_as::<i32>(meta.layer_index)
                .unwrap_or_else(|e| panic!("mvt-reader: layer {name}: {e:?}"));
            assert_eq!(
                features.len(),
                raw.features.len(),
                "layer {name}: features without a type"
            );
            let features = features
                .into_iter()
                .zip(&raw.features)
                .map(|(f, r)| feature(&name, f, r))
                .collect();
            DecodedLayer {
                name,
                version,
                extent,
                features,
                keys: raw.keys.clone(),
                values: raw.values.iter().map(raw_value).collect(),
            }
        })
        .collect()
}

/// The layer of that name.
///
/// # Panics
/// When there is none.
pub fn layer<'a>(layers: &'a [DecodedLayer], name: &str) -> &'a DecodedLayer {
    layers
        .iter()
        .find(|l| l.name == name)
        .unwrap_or_else(|| panic!("no layer {name:?} in {:?}", names(layers)))
}

pub fn names(layers: &[DecodedLayer]) -> Vec<&str> {
    layers.iter().map(|l| l.name.as_str()).collect()
}

/// Twice the area of a closed ring by the MVT spec's shoelace formula:
/// positive for an exterior (clockwise with y down), negative for a hole.
pub fn ring_area2(ring: &[Xy]) -> i64 {
    ring.windows(2)
        .map(|w| {
            let ((x0, y0), (x1, y1)) = (w[0], w[1]);
            i64::from(x0) * i64::from(y1) - i64::from(x1) * i64::from(y0)
        })
        .sum()
}

/// Area of a polygon feature: the sum of its rings' signed areas.
pub fn polygons_area(polygons: &[Vec<Vec<Xy>>]) -> f64 {
    polygons
        .iter()
        .flatten()
        .map(|r| ring_area2(r))
        .sum::<i64>() as f64
        / 2.0
}

pub fn gunzip(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(bytes)
        .read_to_end(&mut out)
        .expect("not gzip");
    out
}

fn feature(
    layer: &str,
    f: mvt_reader::feature::Feature<i32>,
    raw: &raw::Feature,
) -> DecodedFeature {
    use geo::Geometry as G;
    assert_eq!(f.id, raw.id, "layer {layer}");
    let xy = |c: geo::Coord<i32>| (c.x, c.y);
    let line = |l: &geo::LineString<i32>| l.0.iter().copied().map(xy).collect::<Vec<_>>();
    let polygon = |p: &geo::Polygon<i32>| {
        std::iter::once(p.exterior())
            .chain(p.interiors())
            .map(line)
            .collect::<Vec<_>>()
    };
    let (geom_type, geometry) = match (raw.r#type, &f.geometry) {
        (Some(1), G::Point(p)) => (GeomType::Point, Geometry::Points(vec![xy(p.0)])),
        (Some(1), G::MultiPoint(m)) => (
            GeomType::Point,
            Geometry::Points(m.0.iter().map(|p| xy(p.0)).collect()),
        ),
        (Some(2), G::LineString(l)) => (GeomType::LineString, Geometry::Lines(vec![line(l)])),
        (Some(2), G::MultiLineString(m)) => (
            GeomType::LineString,
            Geometry::Lines(m.0.iter().map(line).collect()),
        ),
        (Some(3), G::Polygon(p)) => (GeomType::Polygon, Geometry::Polygons(vec![polygon(p)])),
        (Some(3), G::MultiPolygon(m)) => (
            GeomType::Polygon,
            Geometry::Polygons(m.0.iter().map(polygon).collect()),
        ),
        (t, g) => panic!("layer {layer}: type {t:?} with geometry {g:?}"),
    };
    let properties = f
        .properties
        .unwrap_or_default()
        .into_iter()
        .map(|(k, v)| (k, reader_value(v)))
        .collect();
    DecodedFeature {
        id: f.id,
        geom_type,
        geometry,
        properties,
    }
}

fn reader_value(v: mvt_reader::feature::Value) -> Prop {
    use mvt_reader::feature::Value as V;
    match v {
        V::String(s) => Prop::Str(s),
        V::Float(f) => Prop::Float(f),
        V::Double(d) => Prop::Double(d),
        V::Int(i) => Prop::Int(i),
        V::UInt(u) => Prop::UInt(u),
        V::SInt(i) => Prop::SInt(i),
        V::Bool(b) => Prop::Bool(b),
        V::Null => panic!("a value with no field set"),
    }
}

fn raw_value(v: &raw::Value) -> Prop {
    let mut set = Vec::new();
    if let Some(s) = &v.string_value {
        set.push(Prop::Str(s.clone()));
    }
    if let Some(f) = v.float_value {
        set.push(Prop::Float(f));
    }
    if let Some(d) = v.double_value {
        set.push(Prop::Double(d));
    }
    if let Some(i) = v.int_value {
        set.push(Prop::Int(i));
    }
    if let Some(u) = v.uint_value {
        set.push(Prop::UInt(u));
    }
    if let Some(i) = v.sint_value {
        set.push(Prop::SInt(i));
    }
    if let Some(b) = v.bool_value {
        set.push(Prop::Bool(b));
    }
    assert_eq!(set.len(), 1, "a value must hold exactly one field: {v:?}");
    set.remove(0)
}

/// The messages of vector_tile.proto 2.1, for prost.
mod raw {
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Tile {
        #[prost(message, repeated, tag = "3")]
        pub layers: Vec<Layer>,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Layer {
        #[prost(uint32, optional, tag = "15")]
        pub version: Option<u32>,
        #[prost(string, optional, tag = "1")]
        pub name: Option<String>,
        #[prost(message, repeated, tag = "2")]
        pub features: Vec<Feature>,
        #[prost(string, repeated, tag = "3")]
        pub keys: Vec<String>,
        #[prost(message, repeated, tag = "4")]
        pub values: Vec<Value>,
        #[prost(uint32, optional, tag = "5")]
        pub extent: Option<u32>,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Feature {
        #[prost(uint64, optional, tag = "1")]
        pub id: Option<u64>,
        #[prost(uint32, repeated, packed = "true", tag = "2")]
        pub tags: Vec<u32>,
        #[prost(int32, optional, tag = "3")]
        pub r#type: Option<i32>,
        #[prost(uint32, repeated, packed = "true", tag = "4")]
        pub geometry: Vec<u32>,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Value {
        #[prost(string, optional, tag = "1")]
        pub string_value: Option<String>,
        #[prost(float, optional, tag = "2")]
        pub float_value: Option<f32>,
        #[prost(double, optional, tag = "3")]
        pub double_value: Option<f64>,
        #[prost(int64, optional, tag = "4")]
        pub int_value: Option<i64>,
        #[prost(uint64, optional, tag = "5")]
        pub uint_value: Option<u64>,
        #[prost(sint64, optional, tag = "6")]
        pub sint_value: Option<i64>,
        #[prost(bool, optional, tag = "7")]
        pub bool_value: Option<bool>,
    }
}

/// The raw geometry command integers of each feature of a layer, for tests
/// that look below the decoded geometry (e.g. no zero-length `LineTo`).
pub fn raw_geometries(bytes: &[u8], layer: &str) -> Vec<Vec<u32>> {
    let raw = raw::Tile::decode(bytes).expect("prost: not a vector tile");
    raw.layers
        .into_iter()
        .find(|l| l.name.as_deref() == Some(layer))
        .unwrap_or_else(|| panic!("no layer {layer}"))
        .features
        .into_iter()
        .map(|f| f.geometry)
        .collect()
}

/// The raw tags (key index, value index pairs) of each feature of a layer.
pub fn raw_tags(bytes: &[u8], layer: &str) -> Vec<Vec<u32>> {
    let raw = raw::Tile::decode(bytes).expect("prost: not a vector tile");
    raw.layers
        .into_iter()
        .find(|l| l.name.as_deref() == Some(layer))
        .unwrap_or_else(|| panic!("no layer {layer}"))
        .features
        .into_iter()
        .map(|f| f.tags)
        .collect()
}
