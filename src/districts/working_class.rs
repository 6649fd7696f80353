//! The working-class layer derived from IRIS census counts.
//!
//! Paris's official "quartiers prioritaires" (QPV) perimeters are not shipped
//! (see `data/SOURCES.md`), so until the city imports them this layer stands
//! in: IRIS where employees and manual workers (PCS 5 + 6) are a large share
//! of the residents aged 15+. It is always labelled as derived
//! (`official: false`, version `derived-rp2011`, names starting with
//! "Quartier populaire (dérivé IRIS 2011)"), and an imported official layer
//! takes precedence over it at the dates it is valid.

use geo::orient::Direction;
use geo::{BoundingRect, Intersects, MultiPolygon, Orient, Polygon, unary_union};

use super::names::french_title_case;
use super::registry::{District, IrisType, LayerMeta, NewDistrict};
use super::{Attributes, DistrictError};
use crate::model::Layer;

/// Default minimum share of employees and manual workers,
/// (CS5 + CS6) / POP15P.
///
/// Chosen against Paris's 2024 QPV, which hold about 15–17 % of the
/// population: on the RP 2011 IRIS, with the exclusions below, 0.26 selects
/// 133 IRIS holding 15.3 % of the residents aged 15+ (13 % of the city's
/// area, as IRIS are coarser than QPV perimeters). 0.25 selects 17.6 %,
/// 0.28 only 11 %. The Paris-wide share is 18.3 %, so 0.26 is about 1.4
/// times the city average.
pub const DEFAULT_WORKING_CLASS_THRESHOLD: f64 = 0.26;

/// Default minimum number of residents aged 15+: below it a share is noise
/// (and such IRIS are parks, stations or offices).
pub const DEFAULT_MIN_POP15P: u64 = 200;

/// Version name of the derived layer.
pub const DERIVED_VERSION: &str = "derived-rp2011";

/// Name prefix of every derived district.
pub const DERIVED_NAME_PREFIX: &str = "Quartier populaire (dérivé IRIS 2011)";

/// How the working-class layer is derived from IRIS.
#[derive(Debug, Clone, PartialEq)]
pub struct WorkingClassParams {
    /// Minimum (CS5 + CS6) / POP15P, in `(0, 1]`.
    pub min_share: f64,
    /// Minimum POP15P.
    pub min_pop15p: u64,
    /// Whether business (`A`) and miscellaneous (`D`) IRIS are left out.
    pub residential_only: bool,
    /// Whether selected IRIS of the same arrondissement that touch are merged
    /// into one district (geometric union); otherwise one district per IRIS.
    /// Merging across arrondissements was tried and rejected: the IRIS of
    /// north-eastern Paris then fuse into two districts of ~50 IRIS each,
    /// far from the scale of a QPV and useless for per-district figures.
    pub merge_adjacent: bool,
}

impl Default for WorkingClassParams {
    fn default() -> Self {
        WorkingClassParams {
            min_share: DEFAULT_WORKING_CLASS_THRESHOLD,
            min_pop15p: DEFAULT_MIN_POP15P,
            residential_only: true,
            merge_adjacent: true,
        }
    }
}

impl WorkingClassParams {
    /// The metadata of the derived layer version: not official, valid at
    /// every date (an official version, once imported, is preferred).
    #[must_use]
    pub fn meta(&self) -> LayerMeta {
        LayerMeta {
            layer: Layer::WorkingClass,
            version: DERIVED_VERSION.to_owned(),
            source: format!(
                "Derived by civicmap, not an official perimeter: IRIS (IGN/INSEE contours 2013) where employees \
                 and manual workers (PCS 5+6) are at least {:.0} % of residents aged 15+ (INSEE RP 2011), \
                 residential IRIS of at least {} such residents{}. Licence Ouverte / Etalab.",
                self.min_share * 100.0,
                self.min_pop15p,
                if self.merge_adjacent {
                    ", adjacent IRIS merged"
                } else {
                    ""
                },
            ),
            official: false,
            valid_from: None,
            valid_to: None,
        }
    }

    /// Whether an IRIS qualifies.
    #[must_use]
    pub fn selects(&self, iris: &Attributes) -> bool {
        let Some(census) = iris.census_15_plus else {
            return false;
        };
        if self.residential_only && iris.iris_type != Some(IrisType::Residential) {
            return false;
        }
        census.total >= self.min_pop15p
            && census
                .working_class_share()
                .is_some_and(|s| s >= self.min_share)
    }
}

/// Derives the working-class districts from IRIS districts.
///
/// Codes: with merging, the smallest IRIS code of the group; otherwise the
/// IRIS code. Attributes: the summed census counts, and the IRIS codes in
/// `derived_from`.
///
/// # Errors
/// [`DistrictError::InvalidMeta`] when `min_share` is not in `(0, 1]`.
pub fn derive_working_class<'a>(
    iris: impl IntoIterator<Item = &'a District>,
    params: &WorkingClassParams,
) -> Result<Vec<NewDistrict>, DistrictError> {
    if !(params.min_share > 0.0 && params.min_share <= 1.0) {
        return Err(DistrictError::InvalidMeta {
            field: "min_share",
            value: params.min_share.to_string(),
            reason: "must be in (0, 1]",
        });
    }
    let mut selected: Vec<&District> = iris
        .into_iter()
        .filter(|d| params.selects(&d.attributes))
        .collect();
    selected.sort_by(|a, b| a.code.cmp(&b.code));
    let groups = if params.merge_adjacent {
        touching_groups(&selected)
    } else {
        (0..selected.len()).map(|i| vec![i]).collect()
    };
    Ok(groups
        .into_iter()
        .map(|g| merged(&g.iter().map(|&i| selected[i]).collect::<Vec<_>>()))
        .collect())
}

/// Groups of districts of one arrondissement connected by touching or
/// overlapping, each sorted.
fn touching_groups(ds: &[&District]) -> Vec<Vec<usize>> {
    let mut parent: Vec<usize> = (0..ds.len()).collect();
    fn root(parent: &mut [usize], mut i: usize) -> usize {
        while parent[i] != i {
            parent[i] = parent[parent[i]];
            i = parent[i];
        }
        i
    }
    let rects: Vec<_> = ds.iter().map(|d| d.geometry.bounding_rect()).collect();
    for i in 0..ds.len() {
        for j in i + 1..ds.len() {
            let (Some(a), Some(b)) = (rects[i], rects[j]) else {
                continue;
            };
            if same_arrondissement(&ds[i].code, &ds[j].code)
                && a.intersects(&b)
                && ds[i].geometry.intersects(&ds[j].geometry)
            {
                let (ri, rj) = (root(&mut parent, i), root(&mut parent, j));
                parent[ri.max(rj)] = ri.min(rj);
            }
        }
    }
    let mut groups: Vec<Vec<usize>> = Vec::new();
    let mut slot: Vec<Option<usize>> = vec![None; ds.len()];
    for i in 0..ds.len() {
        let r = root(&mut parent, i);
        match slot[r] {
            Some(g) => groups[g].push(i),
            None => {
                slot[r] = Some(groups.len());
                groups.push(vec![i]);
            }
        }
    }
    groups
}

/// One derived district from a group of IRIS (sorted by code).
fn merged(group: &[&District]) -> NewDistrict {
    let geometry: MultiPolygon<f64> = if group.len() == 1 {
        group[0].geometry.clone()
    } else {
        let polygons: Vec<Polygon<f64>> = group
            .iter()
            .flat_map(|d| d.geometry.0.iter().map(|p| p.orient(Direction::Default)))
            .collect();
        unary_union(&polygons)
    };
    let census = group
        .iter()
        .filter_map(|d| d.attributes.census_15_plus)
        .reduce(|a, b| a.plus(&b));
    // Names: the IRIS names without their trailing numbers, most populous first.
    let mut by_pop: Vec<&&District> = group.iter().collect();
    by_pop.sort_by_key(|d| std::cmp::Reverse(d.attributes.census_15_plus.map_or(0, |c| c.total)));
    let mut places: Vec<String> = Vec::new();
    for d in by_pop {
        let base = d
            .name
            .trim_end_matches(|c: char| c.is_ascii_digit() || c == ' ');
        let base = french_title_case(base);
        if !base.is_empty() && !places.contains(&base) {
            places.push(base);
        }
    }
    let shown = places
        .iter()
        .take(3)
        .cloned()
        .collect::<Vec<_>>()
        .join(", ");
    let more = if places.len() > 3 { ", …" } else { "" };
    let mut arrondissements: Vec<String> = group
        .iter()
        .filter_map(|d| arrondissement_label(&d.code))
        .collect();
    arrondissements.dedup();
    let name = format!(
        "{DERIVED_NAME_PREFIX} – Paris {} – {shown}{more}",
        arrondissements.join("/")
    );
    NewDistrict {
        code: group[0].code.clone(),
        name,
        geometry,
        attributes: Attributes {
            census_15_plus: census,
            derived_from: group.iter().map(|d| d.code.clone()).collect(),
            ..Attributes::default()
        },
    }
}

/// Whether two IRIS codes (`751xx…`, the first 5 digits being the INSEE
/// arrondissement) are in the same arrondissement.
fn same_arrondissement(a: &str, b: &str) -> bool {
    a.get(..5).is_some_and(|x| b.get(..5) == Some(x))
}

/// `1er`, `2e`… from an IRIS code `751xx…`.
fn arrondissement_label(iris_code: &str) -> Option<String> {
    let n: u8 = iris_code.get(3..5)?.parse().ok()?;
    match n {
        1 => Some(String::from("1er")),
        2..=20 => Some(format!("{n}e")),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::districts::{Census15Plus, DistrictRegistry};
    use geo::polygon;

    /// An IRIS square at column `x0` with `workers` employees+workers out of 1,000.
    fn iris(code: &str, x0: f64, workers: u64, kind: IrisType) -> NewDistrict {
        NewDistrict {
            code: code.into(),
            name: format!("BELLEVILLE {}", &code[7..]),
            geometry: polygon![(x: x0, y: 0.0), (x: x0 + 1.0, y: 0.0), (x: x0 + 1.0, y: 1.0), (x: x0, y: 1.0)].into(),
            attributes: Attributes {
                census_15_plus: Some(Census15Plus {
                    year: 2011,
                    total: 1_000,
                    by_category: [0, 0, 500 - workers, 0, workers, 0, 500, 0],
                }),
                iris_type: Some(kind),
                ..Attributes::default()
            },
        }
    }

    fn derive(params: &WorkingClassParams) -> Vec<NewDistrict> {
        let mut reg = DistrictRegistry::new();
        let v = reg
            .add_layer(
                LayerMeta::new(Layer::Iris, "t", "test"),
                vec![
                    iris("751200101", 0.0, 300, IrisType::Residential),
                    iris("751200102", 1.0, 400, IrisType::Residential),
                    // Touches the previous one, but in another arrondissement.
                    iris("751190103", 2.0, 300, IrisType::Residential),
                    iris("751200104", 4.0, 100, IrisType::Residential),
                    iris("751200105", 6.0, 400, IrisType::Business),
                ],
            )
            .unwrap();
        let range = reg.layer_version(v).unwrap().districts.clone();
        derive_working_class(range.map(|id| reg.get(id).unwrap()), params).unwrap()
    }

    #[test]
    fn touching_selected_iris_of_one_arrondissement_are_merged_and_named_as_derived() {
        let ds = derive(&WorkingClassParams::default());
        let groups: Vec<(&str, &[String])> = ds
            .iter()
            .map(|d| (d.code.as_str(), d.attributes.derived_from.as_slice()))
            .collect();
        assert_eq!(
            groups,
            [
                ("751190103", &["751190103".to_owned()][..]),
                ("751200101", &["751200101".into(), "751200102".into()][..])
            ]
        );
        let merged = &ds[1];
        assert_eq!(
            merged.name,
            "Quartier populaire (dérivé IRIS 2011) – Paris 20e – Belleville"
        );
        assert_eq!(
            merged
                .attributes
                .census_15_plus
                .map(|c| (c.total, c.by_category[4])),
            Some((2_000, 700))
        );
        assert_eq!(
            merged.geometry.0.len(),
            1,
            "two squares sharing an edge make one polygon"
        );
    }

    #[test]
    fn the_threshold_population_and_type_rules_select_iris() {
        let one_each = WorkingClassParams {
            merge_adjacent: false,
            ..WorkingClassParams::default()
        };
        assert_eq!(derive(&one_each).len(), 3);
        let strict = WorkingClassParams {
            min_share: 0.35,
            ..one_each.clone()
        };
        assert_eq!(
            derive(&strict)
                .iter()
                .map(|d| d.code.as_str())
                .collect::<Vec<_>>(),
            ["751200102"]
        );
        let any_type = WorkingClassParams {
            residential_only: false,
            ..strict.clone()
        };
        assert_eq!(derive(&any_type).len(), 2);
        let big_only = WorkingClassParams {
            min_pop15p: 1_001,
            ..one_each
        };
        assert!(derive(&big_only).is_empty());
        assert!(!WorkingClassParams::default().meta().official);
        let bad = WorkingClassParams {
            min_share: 0.0,
            ..WorkingClassParams::default()
        };
        assert!(matches!(
            derive_working_class([], &bad),
            Err(DistrictError::InvalidMeta {
                field: "min_share",
                ..
            })
        ));
    }
}
