//! Reading a layer version from GeoJSON (RFC 7946).

use std::collections::HashMap;
use std::io::Read;
use std::str::FromStr;

use geo::{BoundingRect, Coord, LineString, MultiPolygon, Polygon};
use geojson::{GeoJson, GeometryValue, JsonObject, JsonValue, PolygonType};

use super::names::french_title_case;
use super::registry::{check_key, check_position};
use super::{DistrictError, DistrictRegistry, LayerMeta, LayerVersionId, NewDistrict};
use crate::model::{Envelope, Layer};
use time::Date;

/// How a district name is taken from its property.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum NameStyle {
    /// As written in the file (trimmed).
    #[default]
    AsIs,
    /// Upper-case French names recased, e.g. `SAINT-GERMAIN DES PRES` →
    /// `Saint-Germain des Prés` (see [`french_title_case`]).
    FrenchTitleCase,
}

/// Keeps only the features whose property has one of the given values.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PropertyFilter {
    pub property: String,
    /// Accepted values, compared with the property as a string (an integer
    /// property is compared in its decimal form).
    pub values: Vec<String>,
}

/// How to read a layer version from a GeoJSON `FeatureCollection` of
/// `Polygon`/`MultiPolygon` features: the version's metadata (as
/// [`LayerMeta`]) and the properties holding each district's code and name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LayerSpec {
    pub layer: Layer,
    /// Version name, unique within the layer, URL-safe (`A–Z a–z 0–9 . _ -`).
    pub version: String,
    /// Source and attribution text.
    pub source: String,
    pub official: bool,
    /// First day of validity, inclusive; `None`: since always.
    pub valid_from: Option<Date>,
    /// First day of no longer being valid, exclusive; `None`: still valid.
    pub valid_to: Option<Date>,
    /// Property holding the district code (a string or an integer).
    pub code_property: String,
    /// Property holding the district name (a string or a number).
    pub name_property: String,
}

impl LayerSpec {
    /// A spec with the metadata of `meta`.
    #[must_use]
    pub fn new(meta: LayerMeta, code_property: &str, name_property: &str) -> Self {
        LayerSpec {
            layer: meta.layer,
            version: meta.version,
            source: meta.source,
            official: meta.official,
            valid_from: meta.valid_from,
            valid_to: meta.valid_to,
            code_property: code_property.to_owned(),
            name_property: name_property.to_owned(),
        }
    }

    /// The layer version's metadata.
    #[must_use]
    pub fn meta(&self) -> LayerMeta {
        LayerMeta {
            layer: self.layer,
            version: self.version.clone(),
            source: self.source.clone(),
            official: self.official,
            valid_from: self.valid_from,
            valid_to: self.valid_to,
        }
    }
}

/// Optional ways of reading a layer beyond [`LayerSpec`].
#[derive(Debug, Clone, PartialEq, Default)]
pub struct LoadOptions {
    pub name_style: NameStyle,
    /// Keeps only features whose bounding box meets this envelope, e.g. to
    /// take a city's districts out of a national file.
    pub keep_within: Option<Envelope>,
    /// Keeps only features whose property matches.
    pub keep_if: Option<PropertyFilter>,
}

/// A feature that passed validation, with its position in the file.
pub(crate) struct RawFeature {
    pub index: usize,
    pub properties: JsonObject,
    pub geometry: MultiPolygon<f64>,
}

/// Reads the districts of a layer version from GeoJSON text.
///
/// Every feature is checked, kept or not: it must have a `Polygon` or
/// `MultiPolygon` geometry of closed rings of at least 4 positions, each
/// finite and within WGS84 range, a code (string or integer, URL-safe,
/// unique among the kept features) and a name.
///
/// # Errors
/// [`DistrictError::Json`] when the text is not GeoJSON,
/// [`DistrictError::NotFeatureCollection`] when it is a single feature or
/// geometry, [`DistrictError::Feature`] naming the feature's index (0-based,
/// in file order) and the bad value, [`DistrictError::DuplicateCode`].
///
/// ```
/// use civicmap::districts::{LayerMeta, LayerSpec, parse_geojson_layer};
/// use civicmap::model::Layer;
///
/// let spec = LayerSpec::new(LayerMeta::new(Layer::WorkingClass, "2024", "ANCT"), "code_qp", "lib_qp");
/// let text = r#"{"type": "FeatureCollection", "features": [{"type": "Feature",
///   "properties": {"code_qp": "QN07501M", "lib_qp": "Bédier"},
///   "geometry": {"type": "Polygon", "coordinates": [[[2.37, 48.82], [2.38, 48.82], [2.38, 48.83], [2.37, 48.82]]]}}]}"#;
/// let districts = parse_geojson_layer(&spec, text).unwrap();
/// assert_eq!(districts[0].code, "QN07501M");
///
/// let point = r#"{"type": "FeatureCollection", "features": [{"type": "Feature",
///   "properties": {"code_qp": "X", "lib_qp": "X"}, "geometry": {"type": "Point", "coordinates": [2.3, 48.8]}}]}"#;
/// let err = parse_geojson_layer(&spec, point).unwrap_err();
/// assert!(err.to_string().contains("feature 0"), "{err}");
/// ```
pub fn parse_geojson_layer(
    spec: &LayerSpec,
    text: &str,
) -> Result<Vec<NewDistrict>, DistrictError> {
    parse_geojson_layer_with(spec, &LoadOptions::default(), text)
}

/// [`parse_geojson_layer`] with [`LoadOptions`].
///
/// # Errors
/// As [`parse_geojson_layer`].
pub fn parse_geojson_layer_with(
    spec: &LayerSpec,
    options: &LoadOptions,
    text: &str,
) -> Result<Vec<NewDistrict>, DistrictError> {
    let meta = spec.meta();
    let geojson = GeoJson::from_str(text).map_err(|e| json_error(&meta, &e))?;
    districts_from(spec, &meta, options, geojson)
}

/// [`parse_geojson_layer_with`] from a reader (the caller opens the file).
///
/// # Errors
/// As [`parse_geojson_layer`]; a read failure is reported as
/// [`DistrictError::Json`].
pub fn read_geojson_layer(
    spec: &LayerSpec,
    options: &LoadOptions,
    reader: impl Read,
) -> Result<Vec<NewDistrict>, DistrictError> {
    let meta = spec.meta();
    let geojson = GeoJson::from_reader(reader).map_err(|e| json_error(&meta, &e))?;
    districts_from(spec, &meta, options, geojson)
}

impl DistrictRegistry {
    /// Parses a GeoJSON layer version ([`parse_geojson_layer`]) and adds it
    /// ([`DistrictRegistry::add_layer`]). This is how an official layer, such
    /// as the ANCT QPV perimeters, is imported.
    ///
    /// # Errors
    /// Those of [`parse_geojson_layer`] and [`DistrictRegistry::add_layer`].
    pub fn add_layer_geojson(
        &mut self,
        spec: &LayerSpec,
        text: &str,
    ) -> Result<LayerVersionId, DistrictError> {
        self.add_layer_geojson_with(spec, &LoadOptions::default(), text)
    }

    /// [`Self::add_layer_geojson`] with [`LoadOptions`].
    ///
    /// # Errors
    /// As [`Self::add_layer_geojson`].
    pub fn add_layer_geojson_with(
        &mut self,
        spec: &LayerSpec,
        options: &LoadOptions,
        text: &str,
    ) -> Result<LayerVersionId, DistrictError> {
        let districts = parse_geojson_layer_with(spec, options, text)?;
        self.add_layer(spec.meta(), districts)
    }
}

fn json_error(meta: &LayerMeta, e: &dyn std::fmt::Display) -> DistrictError {
    DistrictError::Json {
        layer: meta.layer,
        version: meta.version.clone(),
        reason: e.to_string(),
    }
}

fn districts_from(
    spec: &LayerSpec,
    meta: &LayerMeta,
    options: &LoadOptions,
    geojson: GeoJson,
) -> Result<Vec<NewDistrict>, DistrictError> {
    let features = features(meta, geojson)?;
    let mut out = Vec::with_capacity(features.len());
    let mut seen: HashMap<String, usize> = HashMap::new();
    for f in features {
        let err = |value: String, reason| feature_error(meta, f.index, value, reason);
        let code = match f.properties.get(&spec.code_property) {
            None | Some(JsonValue::Null) => {
                return Err(err(spec.code_property.clone(), "missing code property"));
            }
            Some(v) => property_text(v)
                .ok_or_else(|| err(v.to_string(), "code is not a string or an integer"))?,
        };
        check_key(&code).map_err(|reason| err(code.chars().take(64).collect(), reason))?;
        let name = match f.properties.get(&spec.name_property) {
            None | Some(JsonValue::Null) => {
                return Err(err(spec.name_property.clone(), "missing name property"));
            }
            Some(v) => property_text(v)
                .ok_or_else(|| err(v.to_string(), "name is not a string or a number"))?,
        };
        if !keep(options, &f) {
            continue;
        }
        if let Some(first) = seen.insert(code.clone(), f.index) {
            return Err(DistrictError::DuplicateCode {
                layer: meta.layer,
                version: meta.version.clone(),
                code,
                first,
                second: f.index,
            });
        }
        let name = match options.name_style {
            NameStyle::AsIs => name,
            NameStyle::FrenchTitleCase => french_title_case(&name),
        };
        out.push(NewDistrict {
            code,
            name,
            geometry: f.geometry,
            attributes: Default::default(),
        });
    }
    Ok(out)
}

fn keep(spec: &LoadOptions, f: &RawFeature) -> bool {
    if let Some(env) = spec.keep_within {
        let Some(r) = f.geometry.bounding_rect() else {
            return false;
        };
        if r.max().x < env.min_lon
            || r.min().x > env.max_lon
            || r.max().y < env.min_lat
            || r.min().y > env.max_lat
        {
            return false;
        }
    }
    if let Some(filter) = &spec.keep_if {
        let value = f.properties.get(&filter.property).and_then(property_text);
        if !value.is_some_and(|v| filter.values.contains(&v)) {
            return false;
        }
    }
    true
}

/// A string (trimmed) or a number in its usual decimal form.
pub(crate) fn property_text(v: &JsonValue) -> Option<String> {
    match v {
        JsonValue::String(s) => Some(s.trim().to_owned()),
        JsonValue::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

pub(crate) fn feature_error(
    meta: &LayerMeta,
    index: usize,
    value: String,
    reason: &'static str,
) -> DistrictError {
    DistrictError::Feature {
        layer: meta.layer,
        version: meta.version.clone(),
        index,
        value,
        reason,
    }
}

/// The validated features of a `FeatureCollection`.
pub(crate) fn features(
    meta: &LayerMeta,
    geojson: GeoJson,
) -> Result<Vec<RawFeature>, DistrictError> {
    let collection = match geojson {
        GeoJson::FeatureCollection(c) => c,
        GeoJson::Feature(_) => return Err(not_collection(meta, "Feature")),
        GeoJson::Geometry(g) => return Err(not_collection(meta, geometry_name(&g.value))),
    };
    collection
        .features
        .into_iter()
        .enumerate()
        .map(|(index, f)| {
            let err = |value: String, reason| feature_error(meta, index, value, reason);
            let Some(geometry) = f.geometry else {
                return Err(err(String::from("null"), "feature has no geometry"));
            };
            let geometry = match geometry.value {
                GeometryValue::Polygon { coordinates } => MultiPolygon(vec![
                    polygon(&coordinates).map_err(|(value, reason)| err(value, reason))?,
                ]),
                GeometryValue::MultiPolygon { coordinates } => MultiPolygon(
                    coordinates
                        .iter()
                        .map(|p| polygon(p).map_err(|(value, reason)| err(value, reason)))
                        .collect::<Result<_, _>>()?,
                ),
                other => {
                    return Err(err(
                        geometry_name(&other).to_owned(),
                        "geometry must be a Polygon or a MultiPolygon",
                    ));
                }
            };
            if geometry.0.is_empty() {
                return Err(err(
                    String::from("MultiPolygon []"),
                    "geometry has no polygon",
                ));
            }
            Ok(RawFeature {
                index,
                properties: f.properties.unwrap_or_default(),
                geometry,
            })
        })
        .collect()
}

fn not_collection(meta: &LayerMeta, found: &'static str) -> DistrictError {
    DistrictError::NotFeatureCollection {
        layer: meta.layer,
        version: meta.version.clone(),
        found,
    }
}

fn geometry_name(v: &GeometryValue) -> &'static str {
    match v {
        GeometryValue::Point { .. } => "Point",
        GeometryValue::MultiPoint { .. } => "MultiPoint",
        GeometryValue::LineString { .. } => "LineString",
        GeometryValue::MultiLineString { .. } => "MultiLineString",
        GeometryValue::Polygon { .. } => "Polygon",
        GeometryValue::MultiPolygon { .. } => "MultiPolygon",
        GeometryValue::GeometryCollection { .. } => "GeometryCollection",
    }
}

/// An RFC 7946 polygon: closed rings of ≥ 4 positions, checked positions.
fn polygon(rings: &PolygonType) -> Result<Polygon<f64>, (String, &'static str)> {
    let mut out = Vec::with_capacity(rings.len());
    if rings.is_empty() {
        return Err((
            String::from("Polygon []"),
            "a polygon needs an exterior ring",
        ));
    }
    for ring in rings {
        let mut coords = Vec::with_capacity(ring.len());
        for pos in ring {
            let &[lon, lat, ..] = pos.as_slice() else {
                return Err((
                    format!("{:?}", pos.as_slice()),
                    "a position needs a longitude and a latitude",
                ));
            };
            check_position(lon, lat)?;
            coords.push(Coord { x: lon, y: lat });
        }
        if coords.len() < 4 {
            return Err((
                format!("{} positions", coords.len()),
                "a ring needs at least 4 positions",
            ));
        }
        if coords.first() != coords.last() {
            return Err((
                format!("{:?}", coords.first().map(|c| [c.x, c.y])),
                "a ring must end where it starts",
            ));
        }
        out.push(LineString(coords));
    }
    let exterior = out.remove(0);
    Ok(Polygon::new(exterior, out))
}

#[cfg(test)]
mod tests {
    use super::*;

    const TWO: &str = r#"{"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {"code": 75056, "name": "SAINT-GERMAIN DES PRES", "insee_com": "75056"},
         "geometry": {"type": "Polygon", "coordinates": [[[2.30, 48.85], [2.31, 48.85], [2.31, 48.86], [2.30, 48.85]]]}},
        {"type": "Feature", "properties": {"code": "93066", "name": "Far", "insee_com": 93066},
         "geometry": {"type": "MultiPolygon", "coordinates": [[[[2.36, 48.93], [2.37, 48.93], [2.37, 48.94], [2.36, 48.93]]]]}}]}"#;

    fn spec() -> LayerSpec {
        LayerSpec::new(
            LayerMeta::new(Layer::WorkingClass, "2024", "test"),
            "code",
            "name",
        )
    }

    #[test]
    fn integer_codes_and_both_polygon_types_are_read() {
        let ds = parse_geojson_layer(&spec(), TWO).unwrap();
        let codes: Vec<&str> = ds.iter().map(|d| d.code.as_str()).collect();
        assert_eq!(codes, ["75056", "93066"]);
        assert_eq!(ds[0].name, "SAINT-GERMAIN DES PRES");
        assert_eq!(ds[1].geometry.0.len(), 1);
    }

    #[test]
    fn options_filter_features_and_recase_names() {
        let paris = Envelope::new(2.22, 48.81, 2.47, 48.91).unwrap();
        let by_box = LoadOptions {
            keep_within: Some(paris),
            ..LoadOptions::default()
        };
        let by_commune = LoadOptions {
            keep_if: Some(PropertyFilter {
                property: "insee_com".into(),
                values: vec!["75056".into()],
            }),
            name_style: NameStyle::FrenchTitleCase,
            ..LoadOptions::default()
        };
        for options in [by_box, by_commune.clone()] {
            let ds = parse_geojson_layer_with(&spec(), &options, TWO).unwrap();
            assert_eq!(
                ds.iter().map(|d| d.code.as_str()).collect::<Vec<_>>(),
                ["75056"]
            );
        }
        let ds = parse_geojson_layer_with(&spec(), &by_commune, TWO).unwrap();
        assert_eq!(ds[0].name, "Saint-Germain des Prés");
        let from_reader =
            read_geojson_layer(&spec(), &LoadOptions::default(), TWO.as_bytes()).unwrap();
        assert_eq!(from_reader.len(), 2);
    }

    // ------------------------------------------------------ properties

    use proptest::prelude::*;
    use proptest::sample::Index;

    /// A feature collection of `(code, name, ring)` features.
    fn collection(features: &[(String, String, Vec<[f64; 2]>)]) -> String {
        serde_json::json!({
            "type": "FeatureCollection",
            "features": features.iter().map(|(code, name, ring)| serde_json::json!({
                "type": "Feature",
                "properties": {"code": code, "name": name},
                "geometry": {"type": "Polygon", "coordinates": [ring]},
            })).collect::<Vec<_>>(),
        })
        .to_string()
    }

    /// A closed ring of 3 to 8 distinct-looking positions in range.
    fn ring() -> impl Strategy<Value = Vec<[f64; 2]>> {
        proptest::collection::vec((-180.0_f64..=180.0, -90.0_f64..=90.0), 3..8).prop_map(|ps| {
            let mut ring: Vec<[f64; 2]> = ps.into_iter().map(|(x, y)| [x, y]).collect();
            ring.push(ring[0]);
            ring
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(96))]

        #[test]
        fn generated_perimeter_files_read_back_their_codes_names_and_rings(
            features in proptest::collection::vec(("[A-Za-z0-9_-]{1,12}", "[A-Za-zé' -]{0,20}[a-z]", ring()), 1..6)
        ) {
            // Codes unique by their position.
            let features: Vec<_> = features
                .into_iter()
                .enumerate()
                .map(|(i, (code, name, ring))| (format!("{i}{code}"), name, ring))
                .collect();
            let read = parse_geojson_layer(&spec(), &collection(&features)).unwrap();
            prop_assert_eq!(read.len(), features.len());
            for (d, (code, name, ring)) in read.iter().zip(&features) {
                prop_assert_eq!(&d.code, code);
                prop_assert_eq!(d.name.as_str(), name.trim());
                let exterior: Vec<[f64; 2]> =
                    d.geometry.0[0].exterior().0.iter().map(|c| [c.x, c.y]).collect();
                prop_assert_eq!(&exterior, ring);
            }
        }

        #[test]
        fn a_perimeter_file_cut_anywhere_is_refused_as_not_geojson_naming_the_line(
            at in any::<Index>(),
        ) {
            let cut = &TWO[..at.index(TWO.len())];
            match parse_geojson_layer(&spec(), cut) {
                Err(DistrictError::Json { reason, .. }) => {
                    prop_assert!(reason.contains("line "), "{}", reason);
                }
                other => prop_assert!(false, "{:?}", other.map(|d| d.len())),
            }
        }

        #[test]
        fn mutated_perimeter_files_never_panic_and_a_refusal_is_a_district_error(
            flips in proptest::collection::vec((any::<Index>(), any::<u8>()), 1..8),
            value in prop_oneof![
                Just("1e999"), Just("-1e999"), Just("NaN"), Just("[]"), Just("[[]]"), Just("null"),
                Just("{}"), Just("\"\""), Just("[[[0,0]]]"), Just("[[[0,0],[1,1],[0,0]]]"),
                Just("[[[2.3,48.85],[2.31,48.85],[2.31,48.86],[2.3,48.85]],[]]"),
                Just("1.7976931348623157e308"), Just("-0"), Just("true"),
            ],
            at in any::<Index>(),
        ) {
            let mut bytes = TWO.as_bytes().to_vec();
            for (i, b) in flips {
                let i = i.index(bytes.len());
                bytes[i] = b;
            }
            let _ = parse_geojson_layer(&spec(), &String::from_utf8_lossy(&bytes));
            // One value replaced by a value from the edges of GeoJSON.
            let starts: Vec<usize> = TWO
                .char_indices()
                .filter(|(_, c)| matches!(c, '[' | '"' | '2' | '4'))
                .map(|(i, _)| i)
                .collect();
            let start = starts[at.index(starts.len())];
            let end = TWO[start..]
                .find([',', ']', '}'])
                .map_or(TWO.len(), |e| start + e.max(1));
            let text = format!("{}{value}{}", &TWO[..start], &TWO[end..]);
            let _ = parse_geojson_layer(&spec(), &text);
        }

        #[test]
        fn arbitrary_text_never_makes_the_perimeter_parser_panic(
            text in "\\PC{0,200}|[\\[\\]{}\",:0-9.e-]{0,200}"
        ) {
            let _ = parse_geojson_layer(&spec(), &text);
        }
    }
}
