//! District layers loaded from the real files shipped in `data/`: counts,
//! known places, the boundary rule, validity periods, GeoJSON refusals, and
//! the accelerated attribution compared with brute force.

use std::collections::BTreeSet;
use std::sync::OnceLock;

use civicmap::districts::{
    ARRONDISSEMENTS_FILE, CONSEILS_DE_QUARTIER_FILE, DERIVED_NAME_PREFIX, DERIVED_VERSION,
    District, DistrictError, DistrictRegistry, FlaggedPoint, IRIS_FILE, LayerMeta, LayerSpec,
    NewDistrict, POPULATION_FILE, ParisFiles, QUARTIERS_FILE, WorkingClassParams, paris_defaults,
    parse_geojson_layer,
};
use civicmap::model::{Layer, LonLat};
use geo::{Area, Coord, Intersects, MultiPolygon, Point};
use proptest::prelude::*;
use time::Date;
use time::macros::date;

/// Paris's bounding box (with the two woods), in degrees.
const PARIS_MIN_LON: f64 = 2.2241;
const PARIS_MAX_LON: f64 = 2.4698;
const PARIS_MIN_LAT: f64 = 48.8156;
const PARIS_MAX_LAT: f64 = 48.9022;
/// A date at which only the shipped versions are in force.
const DAY: Date = date!(2024 - 06 - 01);
/// Share of DansMaRue reports that must fall in the arrondissement the city recorded.
const MIN_DANSMARUE_AGREEMENT: f64 = 0.99;

fn read(name: &str) -> String {
    let path = format!("{}/data/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn paris() -> &'static DistrictRegistry {
    static REGISTRY: OnceLock<DistrictRegistry> = OnceLock::new();
    REGISTRY.get_or_init(|| {
        let (a, q, c, i, p) = (
            read(ARRONDISSEMENTS_FILE),
            read(QUARTIERS_FILE),
            read(CONSEILS_DE_QUARTIER_FILE),
            read(IRIS_FILE),
            read(POPULATION_FILE),
        );
        paris_defaults(&ParisFiles {
            arrondissements: &a,
            quartiers: &q,
            conseils_quartier: &c,
            iris: &i,
            population: &p,
        })
        .expect("the shipped files load")
    })
}

/// The district of a dense id the registry gave.
fn district(reg: &DistrictRegistry, id: u32) -> &District {
    reg.get(id).expect("a dense id of this registry")
}

fn at(lon: f64, lat: f64) -> LonLat {
    LonLat::new(lon, lat).expect("a valid position")
}

/// The code of the district of `layer` at a place, if any.
fn code_at(reg: &DistrictRegistry, layer: Layer, lon: f64, lat: f64) -> Option<String> {
    reg.attribute(at(lon, lat), DAY)
        .get(layer)
        .map(|id| district(reg, id).code.clone())
}

#[test]
fn the_shipped_layers_have_20_80_121_and_992_districts() {
    let reg = paris();
    for (layer, expected) in [
        (Layer::Arrondissement, 20),
        (Layer::Quartier, 80),
        (Layer::ConseilQuartier, 121),
        (Layer::Iris, 992),
    ] {
        assert_eq!(reg.districts(layer, Some(DAY)).count(), expected, "{layer}");
        assert_eq!(reg.districts(layer, None).count(), expected, "{layer}");
    }
    assert_eq!(reg.layer_versions().len(), 5);
    assert_eq!(
        reg.len(),
        reg.layer_versions().iter().map(|l| l.len()).sum::<usize>()
    );
}

#[test]
fn famous_places_are_in_their_arrondissement() {
    let reg = paris();
    for (place, lon, lat, code) in [
        ("Notre-Dame", 2.3499, 48.8530, "75104"),
        ("Eiffel Tower", 2.2945, 48.8584, "75107"),
        ("Gare du Nord", 2.3553, 48.8809, "75110"),
        ("Bois de Boulogne", 2.2470, 48.8620, "75116"),
        ("Bois de Vincennes", 2.4330, 48.8330, "75112"),
        ("Sacré-Cœur", 2.3431, 48.8867, "75118"),
    ] {
        assert_eq!(
            code_at(reg, Layer::Arrondissement, lon, lat).as_deref(),
            Some(code),
            "{place}"
        );
    }
    let quartier = reg
        .attribute(at(2.3499, 48.8530), DAY)
        .get(Layer::Quartier)
        .map(|id| district(reg, id));
    assert_eq!(
        quartier.map(|d| (d.code.as_str(), d.name.as_str())),
        Some(("7510404", "Notre-Dame"))
    );
    assert_eq!(
        code_at(reg, Layer::Iris, 2.2470, 48.8620)
            .map(|c| c[..5].to_owned())
            .as_deref(),
        Some("75116")
    );
}

#[test]
fn points_outside_paris_get_no_district_in_any_layer() {
    let reg = paris();
    for (place, lon, lat) in [
        ("La Défense", 2.2380, 48.8920),
        ("Montreuil", 2.4420, 48.8610),
        ("Orly", 2.3790, 48.7262),
    ] {
        assert_eq!(
            reg.containing(at(lon, lat), DAY),
            Vec::<u32>::new(),
            "{place}"
        );
    }
}

#[test]
fn points_in_working_class_parts_of_the_20th_are_in_a_derived_district_and_the_7th_is_not() {
    let reg = paris();
    for (place, lon, lat) in [
        ("Saint-Blaise", 2.4050, 48.8581),
        ("Porte de Bagnolet", 2.4095, 48.8645),
        ("Rue de Belleville", 2.3890, 48.8745),
    ] {
        let ds = reg.attribute(at(lon, lat), DAY);
        assert_eq!(
            ds.get(Layer::Arrondissement)
                .map(|id| district(reg, id).code.as_str()),
            Some("75120"),
            "{place}"
        );
        let id = ds
            .get(Layer::WorkingClass)
            .unwrap_or_else(|| panic!("{place} is not in a working-class district"));
        let d = district(reg, id);
        assert!(
            d.name.starts_with(DERIVED_NAME_PREFIX) && d.name.contains("20e"),
            "{}",
            d.name
        );
        let version = reg.version_of(d).expect("its version");
        assert!(!version.meta.official && version.meta.version == DERIVED_VERSION);
        assert!(d.public_id.starts_with("working_class:derived-rp2011:"));
    }
    assert!(
        !reg.attribute(at(2.3100, 48.8550), DAY).working_class(),
        "Invalides"
    );
}

#[test]
fn the_derived_working_class_layer_selects_about_a_sixth_of_the_population() {
    let reg = paris();
    let iris: Vec<_> = reg
        .districts(Layer::Iris, Some(DAY))
        .map(|id| district(reg, id))
        .collect();
    let wc: Vec<_> = reg
        .districts(Layer::WorkingClass, Some(DAY))
        .map(|id| district(reg, id))
        .collect();
    let pop = |ds: &[&District]| {
        ds.iter()
            .filter_map(|d| d.attributes.census_15_plus)
            .map(|c| c.total)
            .sum::<u64>() as f64
    };
    let area = |ds: &[&District]| ds.iter().map(|d| d.geometry.unsigned_area()).sum::<f64>();
    let selected: usize = wc.iter().map(|d| d.attributes.derived_from.len()).sum();
    let pop_share = pop(&wc) / pop(&iris);
    let area_share = area(&wc) / area(&iris);
    println!(
        "working class (threshold {}): {selected} IRIS in {} districts, {:.1} % of residents aged 15+, {:.1} % of the area",
        WorkingClassParams::default().min_share,
        wc.len(),
        pop_share * 100.0,
        area_share * 100.0
    );
    assert!((100..=200).contains(&selected), "{selected} IRIS");
    assert!((15..=40).contains(&wc.len()), "{} districts", wc.len());
    assert!((0.14..=0.18).contains(&pop_share), "{pop_share}");
    // Every member IRIS really qualifies.
    let params = WorkingClassParams::default();
    for d in &wc {
        for code in &d.attributes.derived_from {
            let id = reg
                .by_code(Layer::Iris, code, DAY)
                .expect("member IRIS exists");
            assert!(params.selects(&district(reg, id).attributes), "{code}");
        }
    }
}

#[test]
fn arrondissements_carry_their_insee_population_and_iris_their_census_counts() {
    let reg = paris();
    let louvre = district(
        reg,
        reg.by_code(Layer::Arrondissement, "75101", DAY)
            .expect("75101"),
    );
    assert_eq!(
        (
            louvre.attributes.population,
            louvre.attributes.population_year
        ),
        (Some(15_114), Some(2023))
    );
    let total: u64 = reg
        .districts(Layer::Arrondissement, Some(DAY))
        .filter_map(|id| district(reg, id).attributes.population)
        .sum();
    assert_eq!(total, 2_103_778);
    let iris = district(
        reg,
        reg.by_code(Layer::Iris, "751010101", DAY)
            .expect("first IRIS"),
    );
    let census = iris.attributes.census_15_plus.expect("census counts");
    assert_eq!(
        (census.year, census.total, census.by_category),
        (2011, 784, [0, 45, 294, 97, 68, 13, 136, 132])
    );
    assert_eq!(
        iris.attributes.population, None,
        "IRIS have no all-ages population here"
    );
    assert_eq!(iris.name, "Saint-Germain l'Auxerrois 1");
}

#[test]
fn conseils_de_quartier_get_a_unique_code_and_a_recased_name() {
    let reg = paris();
    let d = district(
        reg,
        reg.by_code(Layer::ConseilQuartier, "01001", DAY)
            .expect("01001"),
    );
    assert_eq!(d.name, "Saint-Germain l'Auxerrois");
    let d = district(
        reg,
        reg.by_code(Layer::ConseilQuartier, "18101", DAY)
            .expect("18101"),
    );
    assert_eq!(d.name, "Amiraux - Simplon - Poissonniers");
}

#[test]
fn every_public_id_names_layer_version_and_code_and_resolves_back() {
    let reg = paris();
    assert_eq!(
        reg.by_public_id("arrondissement:2021:75104")
            .map(|id| district(reg, id).name.as_str()),
        Some("Hôtel-de-Ville")
    );
    for id in 0..u32::try_from(reg.len()).expect("few districts") {
        let d = district(reg, id);
        let version = reg.version_of(d).expect("its version");
        assert_eq!(
            d.public_id,
            format!("{}:{}:{}", d.layer, version.meta.version, d.code)
        );
        assert!(
            d.public_id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b".:_-".contains(&b)),
            "{}",
            d.public_id
        );
        assert_eq!(reg.by_public_id(&d.public_id), Some(id));
    }
    assert_eq!(reg.by_public_id("arrondissement:75104"), None);
}

#[test]
fn paris_centre_75123_stands_for_the_first_four_arrondissements() {
    let reg = paris();
    let ids = reg
        .arrondissements_for_code("75123", DAY)
        .expect("75123 resolves");
    let codes: Vec<&str> = ids
        .iter()
        .map(|&id| district(reg, id).code.as_str())
        .collect();
    assert_eq!(codes, ["75101", "75102", "75103", "75104"]);
    let north_16th = reg
        .arrondissements_for_code("75116", DAY)
        .expect("75116 resolves");
    assert_eq!(district(reg, north_16th[0]).code, "75116");
    assert_eq!(
        reg.districts(Layer::Arrondissement, Some(DAY)).count(),
        20,
        "the 20 arrondissements stay"
    );
}

/// Every vertex shared by districts of a layer version, with the codes of
/// the districts whose closed geometry holds it.
fn shared_vertices(reg: &DistrictRegistry, layer: Layer) -> Vec<(Coord<f64>, BTreeSet<String>)> {
    let ids: Vec<u32> = reg.districts(layer, Some(DAY)).collect();
    let mut out = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for &id in &ids {
        for poly in &district(reg, id).geometry.0 {
            for c in &poly.exterior().0 {
                if !seen.insert((c.x.to_bits(), c.y.to_bits())) {
                    continue;
                }
                let holders: BTreeSet<String> = ids
                    .iter()
                    .map(|&o| district(reg, o))
                    .filter(|o| o.geometry.intersects(&Point::from(*c)))
                    .map(|o| o.code.clone())
                    .collect();
                if holders.len() > 1 {
                    out.push((*c, holders));
                }
            }
        }
    }
    out
}

#[test]
fn a_point_on_the_boundary_of_two_arrondissements_belongs_to_the_smaller_code() {
    let reg = paris();
    let shared = shared_vertices(reg, Layer::Arrondissement);
    assert!(shared.len() > 500, "only {} shared vertices", shared.len());
    let exactly = |codes: &[&str]| {
        shared
            .iter()
            .find(|(_, h)| h.len() == codes.len() && codes.iter().all(|c| h.contains(*c)))
            .map(|(c, _)| *c)
            .unwrap_or_else(|| panic!("no vertex shared by exactly {codes:?}"))
    };
    let c = exactly(&["75104", "75111"]);
    assert_eq!(
        code_at(reg, Layer::Arrondissement, c.x, c.y).as_deref(),
        Some("75104")
    );
    let c = exactly(&["75103", "75104", "75111"]);
    assert_eq!(
        code_at(reg, Layer::Arrondissement, c.x, c.y).as_deref(),
        Some("75103"),
        "a triple point"
    );
}

#[test]
fn every_shared_vertex_of_every_layer_goes_to_its_smallest_code() {
    let reg = paris();
    for layer in [
        Layer::Quartier,
        Layer::ConseilQuartier,
        Layer::Iris,
        Layer::WorkingClass,
    ] {
        let shared = shared_vertices(reg, layer);
        for (c, holders) in &shared {
            assert_eq!(
                code_at(reg, layer, c.x, c.y).as_ref(),
                holders.first(),
                "{layer} {c:?} {holders:?}"
            );
        }
        println!(
            "{layer}: {} vertices shared by several districts",
            shared.len()
        );
    }
}

/// The next float above and below.
fn nudge(v: f64, up: bool) -> f64 {
    let bits = v.to_bits();
    // Positive coordinates only (Paris): the bit pattern orders like the value.
    f64::from_bits(if up { bits + 1 } else { bits - 1 })
}

#[test]
fn every_vertex_of_every_layer_and_its_neighbouring_floats_are_attributed_as_brute_force_does() {
    let reg = paris();
    let mut points = 0_usize;
    for layer in Layer::ALL {
        for id in reg.districts(layer, Some(DAY)) {
            for poly in &district(reg, id).geometry.0 {
                for ring in std::iter::once(poly.exterior()).chain(poly.interiors()) {
                    for w in ring.0.windows(2) {
                        let (a, b) = (w[0], w[1]);
                        let mid = Coord {
                            x: a.x + (b.x - a.x) * 0.5,
                            y: a.y + (b.y - a.y) * 0.5,
                        };
                        for (x, y) in [
                            (a.x, a.y),
                            (nudge(a.x, true), a.y),
                            (nudge(a.x, false), a.y),
                            (a.x, nudge(a.y, true)),
                            (a.x, nudge(a.y, false)),
                            (mid.x, mid.y),
                        ] {
                            let p = at(x, y);
                            assert_eq!(
                                reg.attribute(p, DAY),
                                reg.attribute_brute_force(p, DAY),
                                "{p}"
                            );
                            points += 1;
                        }
                    }
                }
            }
        }
    }
    println!("{points} points on or next to boundaries agree with brute force");
}

/// Every edge of every shipped layer, for points drawn along edges.
fn all_edges() -> &'static [(Coord<f64>, Coord<f64>)] {
    static EDGES: OnceLock<Vec<(Coord<f64>, Coord<f64>)>> = OnceLock::new();
    EDGES.get_or_init(|| {
        let reg = paris();
        let mut out = Vec::new();
        for id in 0..u32::try_from(reg.len()).expect("few districts") {
            for poly in &district(reg, id).geometry.0 {
                for w in poly.exterior().0.windows(2) {
                    out.push((w[0], w[1]));
                }
            }
        }
        out
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 4_000, ..ProptestConfig::default() })]

    #[test]
    fn random_points_in_paris_are_attributed_as_brute_force_does(
        lon in PARIS_MIN_LON - 0.01..PARIS_MAX_LON + 0.01,
        lat in PARIS_MIN_LAT - 0.01..PARIS_MAX_LAT + 0.01,
    ) {
        let reg = paris();
        let p = at(lon, lat);
        prop_assert_eq!(reg.attribute(p, DAY), reg.attribute_brute_force(p, DAY));
    }

    #[test]
    fn random_points_along_edges_are_attributed_as_brute_force_does(edge in any::<prop::sample::Index>(), t in 0.0f64..=1.0) {
        let reg = paris();
        let (a, b) = all_edges()[edge.index(all_edges().len())];
        let p = at(a.x + (b.x - a.x) * t, a.y + (b.y - a.y) * t);
        prop_assert_eq!(reg.attribute(p, DAY), reg.attribute_brute_force(p, DAY));
    }
}

/// A shipped IRIS geometry, to stand in for an official perimeter.
fn iris_geometry(code: &str) -> MultiPolygon<f64> {
    let reg = paris();
    district(
        reg,
        reg.by_code(Layer::Iris, code, DAY).expect("IRIS exists"),
    )
    .geometry
    .clone()
}

#[test]
fn a_layer_version_valid_2015_to_2023_does_not_attribute_2024_dates_and_the_2024_version_does() {
    let mut reg = paris().clone();
    let qpv = |version: &str, from: Date, to: Option<Date>| LayerMeta {
        valid_from: Some(from),
        valid_to: to,
        ..LayerMeta::new(
            Layer::WorkingClass,
            version,
            "test perimeters standing in for ANCT QPV",
        )
    };
    let perimeter = |code: &str, iris: &str| NewDistrict {
        code: code.into(),
        name: format!("QPV {code}"),
        geometry: iris_geometry(iris),
        attributes: Default::default(),
    };
    // Saint-Blaise's IRIS in both generations; Belleville 12's only in 2015.
    reg.add_layer(
        qpv("2015", date!(2015 - 01 - 01), Some(date!(2024 - 01 - 01))),
        vec![
            perimeter("QP075019", "751208018"),
            perimeter("QP075020", "751207712"),
        ],
    )
    .expect("2015 layer");
    reg.add_layer(
        qpv("2024", date!(2024 - 01 - 01), None),
        vec![perimeter("QN07520M", "751208018")],
    )
    .expect("2024 layer");

    let saint_blaise = at(2.4050, 48.8581);
    let belleville = at(2.3890, 48.8745);
    let wc = |p: LonLat, d: Date| {
        reg.attribute(p, d)
            .get(Layer::WorkingClass)
            .map(|id| district(&reg, id).public_id.clone())
    };
    assert_eq!(
        wc(saint_blaise, date!(2023 - 12 - 31)).as_deref(),
        Some("working_class:2015:QP075019")
    );
    assert_eq!(
        wc(saint_blaise, date!(2024 - 01 - 01)).as_deref(),
        Some("working_class:2024:QN07520M")
    );
    assert_eq!(
        wc(belleville, date!(2020 - 06 - 01)).as_deref(),
        Some("working_class:2015:QP075020")
    );
    // In 2024 the official layer is in force: no QPV there, whatever the derived layer says.
    assert_eq!(wc(belleville, date!(2024 - 06 - 01)), None);
    // Before 2015 no official layer is valid: the derived one answers.
    assert!(
        wc(belleville, date!(2014 - 06 - 01))
            .is_some_and(|id| id.starts_with("working_class:derived-rp2011:"))
    );
    assert_eq!(
        reg.version_at(Layer::WorkingClass, date!(2024 - 06 - 01))
            .map(|v| v.meta.version.as_str()),
        Some("2024")
    );
    assert_eq!(
        reg.by_code(Layer::WorkingClass, "QP075019", date!(2024 - 06 - 01)),
        None
    );
    assert!(
        reg.by_code(Layer::WorkingClass, "QP075019", date!(2016 - 06 - 01))
            .is_some()
    );
    assert_eq!(
        reg.districts(Layer::WorkingClass, Some(date!(2024 - 06 - 01)))
            .count(),
        1
    );
    // Brute force agrees under the version rule too.
    for d in [
        date!(2014 - 06 - 01),
        date!(2020 - 06 - 01),
        date!(2024 - 06 - 01),
    ] {
        assert_eq!(
            reg.attribute(belleville, d),
            reg.attribute_brute_force(belleville, d)
        );
    }
}

#[test]
fn the_agreement_of_a_flag_with_the_working_class_layer_is_a_confusion_matrix() {
    let reg = paris();
    let point = |lon, lat, flagged| FlaggedPoint {
        at: at(lon, lat),
        date: DAY,
        flagged,
    };
    let a = reg.working_class_agreement([
        point(2.4050, 48.8581, true),  // Saint-Blaise, flagged: both
        point(2.3890, 48.8745, false), // Belleville, not flagged: layer only
        point(2.3100, 48.8550, true),  // Invalides, flagged: flag only
        point(2.2945, 48.8584, false), // Eiffel tower: neither
        point(2.2945, 48.8584, false),
    ]);
    assert_eq!((a.both, a.layer_only, a.flag_only, a.neither), (1, 1, 1, 2));
    assert_eq!(a.agreement_rate(), Some(0.6));
    let kappa = a.kappa().expect("defined");
    assert!((kappa - 1.0 / 6.0).abs() < 1e-12, "{kappa}");
}

/// A FeatureCollection of one feature with the given geometry and properties.
fn collection(geometry: &str, properties: &str) -> String {
    format!(
        r#"{{"type": "FeatureCollection", "features": [{{"type": "Feature", "properties": {properties}, "geometry": {geometry}}}]}}"#
    )
}

const SQUARE: &str = r#"{"type": "Polygon", "coordinates": [[[2.30, 48.85], [2.31, 48.85], [2.31, 48.86], [2.30, 48.86], [2.30, 48.85]]]}"#;
const PROPS: &str = r#"{"code": "A1", "name": "Alpha"}"#;

#[test]
fn bad_geojson_is_refused_with_the_feature_and_the_reason() {
    let spec = LayerSpec::new(
        LayerMeta::new(Layer::WorkingClass, "2024", "test"),
        "code",
        "name",
    );
    let feature_error = |index: usize, value: &str, reason: &'static str| DistrictError::Feature {
        layer: Layer::WorkingClass,
        version: "2024".into(),
        index,
        value: value.into(),
        reason,
    };
    let two = format!(
        r#"{{"type": "FeatureCollection", "features": [
            {{"type": "Feature", "properties": {PROPS}, "geometry": {SQUARE}}},
            {{"type": "Feature", "properties": {PROPS}, "geometry": {SQUARE}}}]}}"#
    );
    let cases: Vec<(&str, String, Result<(), DistrictError>)> = vec![
        ("a valid layer", collection(SQUARE, PROPS), Ok(())),
        (
            "a single feature",
            format!(r#"{{"type": "Feature", "properties": {PROPS}, "geometry": {SQUARE}}}"#),
            Err(DistrictError::NotFeatureCollection {
                layer: Layer::WorkingClass,
                version: "2024".into(),
                found: "Feature",
            }),
        ),
        (
            "a bare geometry",
            SQUARE.to_owned(),
            Err(DistrictError::NotFeatureCollection {
                layer: Layer::WorkingClass,
                version: "2024".into(),
                found: "Polygon",
            }),
        ),
        (
            "a Point geometry",
            collection(r#"{"type": "Point", "coordinates": [2.3, 48.8]}"#, PROPS),
            Err(feature_error(
                0,
                "Point",
                "geometry must be a Polygon or a MultiPolygon",
            )),
        ),
        (
            "no geometry",
            collection("null", PROPS),
            Err(feature_error(0, "null", "feature has no geometry")),
        ),
        (
            "an out-of-range longitude",
            collection(
                r#"{"type": "Polygon", "coordinates": [[[2.3, 48.8], [200.0, 48.8], [2.3, 48.9], [2.3, 48.8]]]}"#,
                PROPS,
            ),
            Err(feature_error(
                0,
                "[200, 48.8]",
                "longitude is outside -180..180",
            )),
        ),
        (
            "an out-of-range latitude",
            collection(
                r#"{"type": "Polygon", "coordinates": [[[2.3, 48.8], [2.4, -91.0], [2.3, 48.9], [2.3, 48.8]]]}"#,
                PROPS,
            ),
            Err(feature_error(
                0,
                "[2.4, -91]",
                "latitude is outside -90..90",
            )),
        ),
        (
            "an unclosed ring",
            collection(
                r#"{"type": "Polygon", "coordinates": [[[2.3, 48.8], [2.4, 48.8], [2.3, 48.9], [2.3, 48.85]]]}"#,
                PROPS,
            ),
            Err(feature_error(
                0,
                "Some([2.3, 48.8])",
                "a ring must end where it starts",
            )),
        ),
        (
            "a missing code property",
            collection(SQUARE, r#"{"name": "Alpha"}"#),
            Err(feature_error(0, "code", "missing code property")),
        ),
        (
            "a code that cannot go into a URL",
            collection(SQUARE, r#"{"code": "A/1", "name": "Alpha"}"#),
            Err(feature_error(
                0,
                "A/1",
                "must use only A-Z a-z 0-9 . _ - (it goes into URLs)",
            )),
        ),
        (
            "a duplicate code",
            two,
            Err(DistrictError::DuplicateCode {
                layer: Layer::WorkingClass,
                version: "2024".into(),
                code: "A1".into(),
                first: 0,
                second: 1,
            }),
        ),
    ];
    for (case, text, expected) in cases {
        let got = parse_geojson_layer(&spec, &text).map(|_| ());
        assert_eq!(got, expected, "{case}");
    }
    // JSON has no NaN: such a file is not JSON at all.
    let nan = collection(
        r#"{"type": "Polygon", "coordinates": [[[NaN, 48.8], [2.4, 48.8], [2.3, 48.9], [NaN, 48.8]]]}"#,
        PROPS,
    );
    assert!(matches!(
        parse_geojson_layer(&spec, &nan),
        Err(DistrictError::Json { .. })
    ));
    assert!(matches!(
        parse_geojson_layer(&spec, "not json"),
        Err(DistrictError::Json { .. })
    ));
    let err = parse_geojson_layer(
        &spec,
        &collection(r#"{"type": "Point", "coordinates": [2.3, 48.8]}"#, PROPS),
    )
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        "working_class 2024: feature 0: geometry must be a Polygon or a MultiPolygon: Point"
    );
}

#[test]
fn a_nan_coordinate_handed_to_the_registry_is_refused() {
    let mut reg = DistrictRegistry::new();
    let ring = geo::LineString::from(vec![
        (2.3, 48.8),
        (f64::NAN, 48.8),
        (2.3, 48.9),
        (2.3, 48.8),
    ]);
    let geometry = MultiPolygon(vec![geo::Polygon::new(ring, vec![])]);
    let err = reg
        .add_layer(
            LayerMeta::new(Layer::Quartier, "v1", "test"),
            vec![NewDistrict {
                code: "Q1".into(),
                name: "Q".into(),
                geometry,
                attributes: Default::default(),
            }],
        )
        .unwrap_err();
    assert!(
        matches!(
            &err,
            DistrictError::Feature {
                index: 0,
                reason: "longitude is not a finite number",
                ..
            }
        ),
        "{err}"
    );
    assert!(reg.is_empty());
}

#[test]
fn dansmarue_reports_fall_in_the_arrondissement_the_city_recorded() {
    let reg = paris();
    let text = read("paris_dansmarue_echantillon_api_2023_2024.csv");
    let mut reader = csv::Reader::from_reader(text.as_bytes());
    let headers = reader.headers().expect("header").clone();
    let col = |name: &str| {
        headers
            .iter()
            .position(|h| h == name)
            .unwrap_or_else(|| panic!("no column {name}"))
    };
    let (arr, lat, lon) = (col("arrondissement"), col("latitude"), col("longitude"));
    let (mut total, mut agree, mut outside) = (0_u32, 0_u32, 0_u32);
    for record in reader.records() {
        let r = record.expect("row");
        let n: u32 = r[arr].parse().expect("arrondissement number");
        let p = at(r[lon].parse().expect("lon"), r[lat].parse().expect("lat"));
        total += 1;
        match reg.attribute(p, DAY).get(Layer::Arrondissement) {
            Some(id) if district(reg, id).code == format!("751{n:02}") => agree += 1,
            Some(_) => {}
            None => outside += 1,
        }
    }
    let share = f64::from(agree) / f64::from(total);
    println!(
        "DansMaRue: {agree} of {total} reports ({:.2} %) in the recorded arrondissement, {outside} in none",
        share * 100.0
    );
    assert!(total > 39_000);
    assert!(share >= MIN_DANSMARUE_AGREEMENT, "{share}");
}
