//! Paris's shipped layers (`data/`), and the codes of the city's files.

use std::collections::HashMap;
use std::str::FromStr;

use geojson::{GeoJson, JsonObject, JsonValue};

use super::load::{
    LayerSpec, RawFeature, feature_error, features, parse_geojson_layer, property_text,
};
use super::names::french_title_case;
use super::registry::{Census15Plus, IrisType, LayerMeta, check_key};
use super::working_class::{WorkingClassParams, derive_working_class};
use super::{Attributes, DistrictError, DistrictRegistry, NewDistrict};
use crate::model::Layer;

/// File names of the shipped layers in `data/`, for the caller to read.
pub const ARRONDISSEMENTS_FILE: &str = "paris_arrondissements.geojson";
pub const QUARTIERS_FILE: &str = "paris_quartiers_administratifs.geojson";
pub const CONSEILS_DE_QUARTIER_FILE: &str = "paris_conseils_de_quartier_2014.geojson";
pub const IRIS_FILE: &str = "paris_iris_2013_rp2011_cs8.geojson";
pub const POPULATION_FILE: &str = "paris_population_arrondissements_insee.csv";

/// Column of the population file used for `population` (INSEE population
/// municipale, the newest of the three), and its year.
const POPULATION_COLUMN: &str = "population_2023";
const POPULATION_YEAR: u16 = 2023;
/// Census year of the IRIS counts.
const IRIS_CENSUS_YEAR: u16 = 2011;

/// The contents of Paris's shipped files (the caller reads them).
#[derive(Debug, Clone, Copy)]
pub struct ParisFiles<'a> {
    /// [`ARRONDISSEMENTS_FILE`].
    pub arrondissements: &'a str,
    /// [`QUARTIERS_FILE`].
    pub quartiers: &'a str,
    /// [`CONSEILS_DE_QUARTIER_FILE`].
    pub conseils_quartier: &'a str,
    /// [`IRIS_FILE`].
    pub iris: &'a str,
    /// [`POPULATION_FILE`].
    pub population: &'a str,
}

/// The INSEE arrondissement codes that a code of the city's files stands for.
///
/// * `75123`: Paris Centre, the sector formed by the 1st–4th arrondissements
///   in 2020, used by the participatory-budget file: `75101`–`75104`.
/// * INSEE codes `75101`–`75120`: themselves.
/// * Postal codes `75001`–`75020`: the arrondissement (`75016` → `75116`);
///   `75116`, the postal code of the northern 16th, is also its INSEE code.
/// * Numbers `1`–`20` (as in the 2024 budget complement): the arrondissement.
///
/// Anything else gives `None`. The 20 arrondissements stay the districts:
/// Paris Centre is only an alias.
///
/// ```
/// use civicmap::districts::arrondissement_codes_for;
/// assert_eq!(arrondissement_codes_for("75123"), Some(vec!["75101", "75102", "75103", "75104"]));
/// assert_eq!(arrondissement_codes_for("75016"), Some(vec!["75116"]));
/// assert_eq!(arrondissement_codes_for("75116"), Some(vec!["75116"]));
/// assert_eq!(arrondissement_codes_for("75021"), None);
/// ```
#[must_use]
pub fn arrondissement_codes_for(code: &str) -> Option<Vec<&'static str>> {
    const INSEE: [&str; 20] = [
        "75101", "75102", "75103", "75104", "75105", "75106", "75107", "75108", "75109", "75110",
        "75111", "75112", "75113", "75114", "75115", "75116", "75117", "75118", "75119", "75120",
    ];
    let code = code.trim();
    if code == "75123" {
        return Some(INSEE[..4].to_vec());
    }
    let n: usize = match code.len() {
        1 | 2 => code.parse().ok()?,
        5 if code.starts_with("751") => code[3..].parse().ok()?,
        5 if code.starts_with("750") => code[3..].parse().ok()?,
        _ => return None,
    };
    if code.bytes().any(|b| !b.is_ascii_digit()) || !(1..=20).contains(&n) {
        return None;
    }
    Some(vec![INSEE[n - 1]])
}

/// Paris's default registry: the 20 arrondissements (with their INSEE
/// population), 80 quartiers, 121 conseils de quartier (2014), 992 IRIS
/// (2013 contours, RP 2011 counts) and the working-class layer derived from
/// the IRIS with [`WorkingClassParams::default`].
///
/// # Errors
/// Any [`DistrictError`] of a file, or [`DistrictError::Data`] when the
/// population file does not cover exactly the 20 arrondissements.
pub fn paris_defaults(files: &ParisFiles<'_>) -> Result<DistrictRegistry, DistrictError> {
    paris_registry(files, &WorkingClassParams::default())
}

impl DistrictRegistry {
    /// [`paris_defaults`] with another working-class threshold (see
    /// [`WorkingClassParams::min_share`]).
    ///
    /// # Errors
    /// As [`paris_defaults`], and [`DistrictError::InvalidMeta`] when the
    /// threshold is not in `(0, 1]`.
    pub fn paris_defaults(
        files: &ParisFiles<'_>,
        working_class_threshold: f64,
    ) -> Result<Self, DistrictError> {
        paris_registry(
            files,
            &WorkingClassParams {
                min_share: working_class_threshold,
                ..WorkingClassParams::default()
            },
        )
    }
}

/// [`paris_defaults`] with another derivation of the working-class layer.
///
/// # Errors
/// As [`paris_defaults`].
pub fn paris_registry(
    files: &ParisFiles<'_>,
    params: &WorkingClassParams,
) -> Result<DistrictRegistry, DistrictError> {
    let mut registry = DistrictRegistry::new();

    let meta = LayerMeta::new(
        Layer::Arrondissement,
        "2021",
        "Ville de Paris, opendata.paris.fr « arrondissements » (export 2021), ODbL; population: INSEE \
         population municipale (column population_2023), Licence Ouverte",
    );
    let mut arrondissements = parse_geojson_layer(
        &LayerSpec::new(meta.clone(), "c_arinsee", "l_aroff"),
        files.arrondissements,
    )?;
    let population = parse_population(files.population)?;
    for d in &mut arrondissements {
        d.attributes.population = population.get(&d.code).copied();
        d.attributes.population_year = Some(POPULATION_YEAR);
    }
    let mut missing: Vec<&str> = arrondissements
        .iter()
        .filter(|d| d.attributes.population.is_none())
        .map(|d| d.code.as_str())
        .collect();
    missing.extend(
        population
            .keys()
            .filter(|k| !arrondissements.iter().any(|d| &d.code == *k))
            .map(String::as_str),
    );
    if !missing.is_empty() {
        return Err(DistrictError::Data {
            what: POPULATION_FILE,
            value: missing.join(" "),
            reason: "codes not in both the population file and the arrondissements",
        });
    }
    registry.add_layer(meta, arrondissements)?;

    let meta = LayerMeta::new(
        Layer::Quartier,
        "2021",
        "Ville de Paris, opendata.paris.fr « quartier_paris » (quartiers administratifs, export 2021), ODbL",
    );
    registry.add_layer_geojson(&LayerSpec::new(meta, "c_quinsee", "l_qu"), files.quartiers)?;

    let meta = LayerMeta::new(
        Layer::ConseilQuartier,
        "2014",
        "Ville de Paris, opendata.paris.fr « conseils-quartiers » (2014 boundaries; some councils were redrawn \
         or renamed since), ODbL",
    );
    registry.add_layer(meta.clone(), conseils(&meta, files.conseils_quartier)?)?;

    let meta = LayerMeta::new(
        Layer::Iris,
        "2013",
        "IGN/INSEE Contours…IRIS 2013 joined with INSEE RP 2011 counts by socio-professional category \
         (population aged 15+), via the R package spReapportion; Licence Ouverte / Etalab",
    );
    let iris_version = registry.add_layer(meta.clone(), iris(&meta, files.iris)?)?;

    let iris_range = registry
        .layer_version(iris_version)
        .map(|v| v.districts.clone())
        .unwrap_or_default();
    let derived = derive_working_class(iris_range.filter_map(|id| registry.get(id)), params)?;
    registry.add_layer(params.meta(), derived)?;
    Ok(registry)
}

/// Population per INSEE arrondissement code, from [`POPULATION_FILE`].
fn parse_population(text: &str) -> Result<HashMap<String, u64>, DistrictError> {
    let csv_error = |line: u64, value: String, reason| DistrictError::Csv {
        file: POPULATION_FILE,
        line,
        value,
        reason,
    };
    let mut reader = csv::ReaderBuilder::new().from_reader(text.as_bytes());
    let headers = reader
        .headers()
        .map_err(|e| csv_error(1, e.to_string(), "unreadable header"))?
        .clone();
    let column = |name: &'static str| {
        headers
            .iter()
            .position(|h| h == name)
            .ok_or_else(|| csv_error(1, name.to_owned(), "missing column"))
    };
    let (code_col, pop_col) = (column("code_insee")?, column(POPULATION_COLUMN)?);
    let mut out = HashMap::new();
    for record in reader.records() {
        let record = record.map_err(|e| {
            csv_error(
                e.position().map_or(0, csv::Position::line),
                e.to_string(),
                "unreadable row",
            )
        })?;
        let line = record.position().map_or(0, csv::Position::line);
        let code = record.get(code_col).unwrap_or_default().trim().to_owned();
        let raw = record.get(pop_col).unwrap_or_default().trim();
        let pop: u64 = raw
            .parse()
            .map_err(|_| csv_error(line, raw.to_owned(), "population is not a whole number"))?;
        if out.insert(code.clone(), pop).is_some() {
            return Err(csv_error(line, code, "duplicate code_insee"));
        }
    }
    Ok(out)
}

/// Conseils de quartier: code `{nar:02}{no_consqrt}` (e.g. `18101`), name
/// recased from `nom_quart`.
fn conseils(meta: &LayerMeta, text: &str) -> Result<Vec<NewDistrict>, DistrictError> {
    let geojson = GeoJson::from_str(text).map_err(|e| json_error(meta, &e))?;
    let mut out = Vec::new();
    for f in features(meta, geojson)? {
        let nar = integer(meta, &f, "nar")?;
        let number = text_property(meta, &f, "no_consqrt")?;
        let code = format!("{nar:02}{number}");
        check_key(&code).map_err(|reason| feature_error(meta, f.index, code.clone(), reason))?;
        let name = french_title_case(&text_property(meta, &f, "nom_quart")?);
        out.push(NewDistrict {
            code,
            name,
            geometry: f.geometry,
            attributes: Attributes::default(),
        });
    }
    check_unique(meta, &out)?;
    Ok(out)
}

/// IRIS: code `DCOMIRIS`, name recased from `NOM_IRIS`, type and census counts.
fn iris(meta: &LayerMeta, text: &str) -> Result<Vec<NewDistrict>, DistrictError> {
    let geojson = GeoJson::from_str(text).map_err(|e| json_error(meta, &e))?;
    let mut out = Vec::new();
    for f in features(meta, geojson)? {
        let code = text_property(meta, &f, "DCOMIRIS")?;
        check_key(&code).map_err(|reason| feature_error(meta, f.index, code.clone(), reason))?;
        let name = french_title_case(&text_property(meta, &f, "NOM_IRIS")?);
        let iris_type = match text_property(meta, &f, "TYP_IRIS")?.as_str() {
            "H" => IrisType::Residential,
            "A" => IrisType::Business,
            "D" => IrisType::Miscellaneous,
            other => {
                return Err(feature_error(
                    meta,
                    f.index,
                    other.to_owned(),
                    "TYP_IRIS is not H, A or D",
                ));
            }
        };
        let total = integer(meta, &f, "C11_POP15P")?;
        let mut by_category = [0_u64; 8];
        for (i, slot) in by_category.iter_mut().enumerate() {
            *slot = integer(meta, &f, CS_PROPERTIES[i])?;
        }
        out.push(NewDistrict {
            code,
            name,
            geometry: f.geometry,
            attributes: Attributes {
                census_15_plus: Some(Census15Plus {
                    year: IRIS_CENSUS_YEAR,
                    total,
                    by_category,
                }),
                iris_type: Some(iris_type),
                ..Attributes::default()
            },
        });
    }
    check_unique(meta, &out)?;
    Ok(out)
}

const CS_PROPERTIES: [&str; 8] = [
    "C11_POP15P_CS1",
    "C11_POP15P_CS2",
    "C11_POP15P_CS3",
    "C11_POP15P_CS4",
    "C11_POP15P_CS5",
    "C11_POP15P_CS6",
    "C11_POP15P_CS7",
    "C11_POP15P_CS8",
];

fn json_error(meta: &LayerMeta, e: &dyn std::fmt::Display) -> DistrictError {
    DistrictError::Json {
        layer: meta.layer,
        version: meta.version.clone(),
        reason: e.to_string(),
    }
}

fn property<'a>(
    meta: &LayerMeta,
    f: &'a RawFeature,
    name: &'static str,
) -> Result<&'a JsonValue, DistrictError> {
    let props: &JsonObject = &f.properties;
    match props.get(name) {
        None | Some(JsonValue::Null) => Err(feature_error(
            meta,
            f.index,
            name.to_owned(),
            "missing property",
        )),
        Some(v) => Ok(v),
    }
}

fn text_property(
    meta: &LayerMeta,
    f: &RawFeature,
    name: &'static str,
) -> Result<String, DistrictError> {
    let v = property(meta, f, name)?;
    property_text(v).ok_or_else(|| {
        feature_error(
            meta,
            f.index,
            v.to_string(),
            "property is not a string or a number",
        )
    })
}

/// A non-negative integer property (a number, or a string of digits).
fn integer(meta: &LayerMeta, f: &RawFeature, name: &'static str) -> Result<u64, DistrictError> {
    let v = property(meta, f, name)?;
    let n = match v {
        JsonValue::Number(n) => n.as_u64(),
        JsonValue::String(s) => s.trim().parse().ok(),
        _ => None,
    };
    n.ok_or_else(|| {
        feature_error(
            meta,
            f.index,
            format!("{name}: {v}"),
            "not a non-negative integer",
        )
    })
}

fn check_unique(meta: &LayerMeta, ds: &[NewDistrict]) -> Result<(), DistrictError> {
    let mut seen: HashMap<&str, usize> = HashMap::new();
    for (i, d) in ds.iter().enumerate() {
        if let Some(first) = seen.insert(&d.code, i) {
            return Err(DistrictError::DuplicateCode {
                layer: meta.layer,
                version: meta.version.clone(),
                code: d.code.clone(),
                first,
                second: i,
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paris_centre_and_postal_codes_resolve_to_insee_arrondissements() {
        assert_eq!(arrondissement_codes_for("75123").map(|v| v.len()), Some(4));
        assert_eq!(arrondissement_codes_for("75001"), Some(vec!["75101"]));
        assert_eq!(arrondissement_codes_for("75120"), Some(vec!["75120"]));
        assert_eq!(arrondissement_codes_for("20"), Some(vec!["75120"]));
        assert_eq!(arrondissement_codes_for(" 4 "), Some(vec!["75104"]));
        for bad in [
            "", "0", "21", "75000", "75100", "75121", "75124", "7510a", "+4", "75056", "1e1",
        ] {
            assert_eq!(arrondissement_codes_for(bad), None, "{bad}");
        }
    }

    #[test]
    fn a_population_file_with_text_in_a_count_is_refused_with_its_line() {
        let err =
            parse_population("code_insee,population_2023\n75101,15114\n75102,many\n").unwrap_err();
        assert_eq!(
            err,
            DistrictError::Csv {
                file: POPULATION_FILE,
                line: 3,
                value: "many".into(),
                reason: "population is not a whole number"
            }
        );
    }
}
