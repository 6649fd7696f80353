//! Population of every district, for rates per inhabitant.
//!
//! Arrondissements carry INSEE's legal population (population municipale).
//! Other layers have no published total here, so it is **estimated** and
//! said so: each IRIS gets its arrondissement's legal population shared in
//! proportion to the IRIS's residents aged 15+ (census), and a district of
//! any other layer gets the sum over the IRIS whose interior point it holds
//! (IRIS nest in quartiers and make up the derived working-class layer, so
//! there the sum is exact up to the apportioning).

use geo::{BoundingRect, Contains, InteriorPoint, Point};

use crate::districts::DistrictRegistry;
use crate::model::Layer;

/// A district's population.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Population {
    pub inhabitants: u64,
    /// Year of the figure it comes from.
    pub year: u16,
    /// `false` for INSEE's own figure, `true` when apportioned from IRIS.
    pub estimated: bool,
    /// Residents aged 15 or more at the census (IRIS sums), when known.
    pub aged_15_plus: Option<u64>,
}

/// Populations by dense district id.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Populations(Vec<Option<Population>>);

impl Populations {
    #[must_use]
    pub fn get(&self, id: u32) -> Option<Population> {
        self.0.get(id as usize).copied().flatten()
    }

    /// Computes every district's population (see the module docs).
    #[must_use]
    pub fn of(registry: &DistrictRegistry) -> Self {
        let mut out: Vec<Option<Population>> = vec![None; registry.len()];
        let districts = |layer: Layer| {
            registry
                .districts(layer, None)
                .filter_map(|id| registry.get(id))
        };
        // Legal populations of arrondissements, by INSEE code.
        let mut legal: Vec<(String, u64, u16, Option<&geo::MultiPolygon<f64>>)> = Vec::new();
        for d in districts(Layer::Arrondissement) {
            if let (Some(p), Some(y)) = (d.attributes.population, d.attributes.population_year) {
                out[d.id as usize] = Some(Population {
                    inhabitants: p,
                    year: y,
                    estimated: false,
                    aged_15_plus: None,
                });
                legal.push((d.code.clone(), p, y, Some(&d.geometry)));
            }
        }
        // IRIS of the newest version only (versions would double count).
        let iris_version = registry
            .layer_versions()
            .iter()
            .filter(|v| v.meta.layer == Layer::Iris)
            .max_by_key(|v| v.meta.valid_from);
        let iris: Vec<_> = iris_version
            .map(|v| {
                v.districts
                    .clone()
                    .filter_map(|id| registry.get(id))
                    .collect()
            })
            .unwrap_or_default();
        // The arrondissement of each IRIS: its commune code, the first 5
        // digits of its code.
        let arr_of = |code: &str| {
            legal
                .iter()
                .position(|(c, ..)| code.starts_with(c.as_str()))
        };
        let mut pop15_by_arr = vec![0_u64; legal.len()];
        for i in &iris {
            if let (Some(a), Some(c)) = (arr_of(&i.code), i.attributes.census_15_plus) {
                pop15_by_arr[a] += c.total;
            }
        }
        // (interior point, estimate, aged 15+, year) per IRIS.
        let mut estimates: Vec<(Point<f64>, u64, u64, u16)> = Vec::new();
        for i in &iris {
            let (Some(a), Some(c)) = (arr_of(&i.code), i.attributes.census_15_plus) else {
                continue;
            };
            let Some(p) = i.geometry.interior_point() else {
                continue;
            };
            let (_, legal_pop, year, _) = legal[a];
            let share = if pop15_by_arr[a] == 0 {
                0
            } else {
                #[allow(
                    clippy::cast_possible_truncation,
                    clippy::cast_sign_loss,
                    clippy::cast_precision_loss
                )]
                let v = (legal_pop as f64 * c.total as f64 / pop15_by_arr[a] as f64).round() as u64;
                v
            };
            out[i.id as usize] = Some(Population {
                inhabitants: share,
                year,
                estimated: true,
                aged_15_plus: Some(c.total),
            });
            estimates.push((p, share, c.total, year));
        }
        for layer in [Layer::Quartier, Layer::ConseilQuartier, Layer::WorkingClass] {
            for d in districts(layer) {
                let Some(rect) = d.geometry.bounding_rect() else {
                    continue;
                };
                let mut sum: Option<Population> = None;
                for (p, v, p15, year) in &estimates {
                    if rect.contains(p) && d.geometry.contains(p) {
                        let s = sum.get_or_insert(Population {
                            inhabitants: 0,
                            year: *year,
                            estimated: true,
                            aged_15_plus: Some(0),
                        });
                        s.inhabitants += v;
                        s.aged_15_plus = s.aged_15_plus.map(|a| a + p15);
                    }
                }
                out[d.id as usize] = sum;
            }
        }
        Self(out)
    }
}
