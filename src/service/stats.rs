//! Statistics of the service: the pure `stats` queries run on the report
//! index under its read lock, with the service's k and populations.

use super::App;
use crate::districts::IrisType;
use crate::model::Layer;
use crate::stats::{
    self, DistrictTable, Filter, Hexagon, Interval, Options, Published, Series, StatsError,
    budget::{self, Budget, EditionShare},
};

/// Participation by the social profile of IRIS: one decile of IRIS ranked
/// by their share of employees and manual workers among residents aged 15+.
#[derive(Debug, Clone, PartialEq)]
pub struct Decile {
    /// 1 (lowest share) to 10.
    pub decile: u8,
    /// Range of the share in this decile.
    pub share_min: f64,
    pub share_max: f64,
    pub iris: usize,
    /// Residents aged 15+ at the census, summed over its IRIS.
    pub aged_15_plus: u64,
    pub figures: Published,
}

/// Reports inside and outside the working-class layer, the budget by
/// edition and participation by IRIS decile.
#[derive(Debug, Clone, PartialEq)]
pub struct Equity {
    pub inside: Published,
    pub outside: Published,
    pub all: Published,
    /// Inhabitants inside working-class districts and in the city (the
    /// arrondissements' legal populations).
    pub population_inside: u64,
    pub population_city: u64,
    pub budget: Vec<EditionShare>,
    pub deciles: Vec<Decile>,
    /// Reports in no IRIS with census counts.
    pub no_decile: Published,
}

impl App {
    /// The city's population: the sum of its arrondissements' legal
    /// populations, when they have one.
    #[must_use]
    pub fn city_population(&self) -> Option<crate::stats::Population> {
        let mut total: Option<crate::stats::Population> = None;
        for d in self.districts.districts(Layer::Arrondissement, None) {
            if let Some(p) = self.populations.get(d) {
                let t = total.get_or_insert(crate::stats::Population {
                    inhabitants: 0,
                    ..p
                });
                t.inhabitants += p.inhabitants;
            }
        }
        total
    }

    /// The options of a statistics request: unsuppressed for analysts.
    #[must_use]
    pub fn stats_options(&self, unsuppressed: bool, resolved_within_days: u32) -> Options {
        Options {
            k: (!unsuppressed).then_some(self.config.k_anonymity),
            resolved_within_days,
            categories: self.taxonomy.categories().len(),
        }
    }

    /// Every district of `layer` (all its versions), the reports outside
    /// them and the city.
    #[must_use]
    pub fn district_stats(&self, layer: Layer, filter: &Filter, opts: Options) -> DistrictTable {
        let districts: Vec<u32> = self.districts.districts(layer, None).collect();
        let idx = self.reports();
        stats::by_district(idx.facts(), layer, &districts, filter, opts)
    }

    /// Located budget projects (of `edition`) per district of `layer`.
    #[must_use]
    pub fn budget_by_district(
        &self,
        layer: Layer,
        edition: Option<i32>,
    ) -> std::collections::BTreeMap<u32, Budget> {
        budget::by_district(self.projects().all(), layer, edition)
    }

    /// A time series.
    ///
    /// # Errors
    /// [`StatsError::Range`] for a range with too many buckets.
    pub fn stats_series(
        &self,
        filter: &Filter,
        interval: Interval,
        opts: Options,
    ) -> Result<Series, StatsError> {
        let idx = self.reports();
        stats::series(idx.facts(), filter, interval, opts)
    }

    /// Hexagon counts at `res`.
    #[must_use]
    pub fn stats_hexagons(&self, filter: &Filter, res: u8, k: Option<usize>) -> Vec<Hexagon> {
        let idx = self.reports();
        stats::hexagons(idx.facts(), filter, res, k)
    }

    /// The working-class equity indicators.
    #[must_use]
    pub fn equity(&self, filter: &Filter, opts: Options) -> Equity {
        let facts_guard = self.reports();
        let facts = facts_guard.facts();
        let none = stats::facts::NONE;
        let (mut groups, all) = stats::grouped(facts, filter, opts, Layer::WorkingClass, 2, |d| {
            usize::from(d == none)
        });
        let outside = groups.pop().unwrap_or_else(|| all.clone());
        let inside = groups.pop().unwrap_or_else(|| all.clone());

        let population_city = self.city_population().map_or(0, |p| p.inhabitants);
        let population_inside: u64 = self
            .districts
            .districts(
                Layer::WorkingClass,
                Some(time::OffsetDateTime::now_utc().date()),
            )
            .filter_map(|d| self.populations.get(d))
            .map(|p| p.inhabitants)
            .sum();

        // IRIS deciles by working-class share (residential and mixed IRIS
        // with residents aged 15+).
        let mut ranked: Vec<(u32, f64, u64)> = self
            .districts
            .districts(Layer::Iris, None)
            .filter_map(|id| {
                let d = self.districts.get(id)?;
                if d.attributes.iris_type == Some(IrisType::Miscellaneous) {
                    return None;
                }
                let c = d.attributes.census_15_plus?;
                Some((id, c.working_class_share()?, c.total))
            })
            .collect();
        ranked.sort_by(|a, b| a.1.total_cmp(&b.1).then(a.0.cmp(&b.0)));
        let n = ranked.len();
        let max_id = ranked.iter().map(|r| r.0 as usize + 1).max().unwrap_or(0);
        let mut decile_of = vec![10_usize; max_id];
        for (rank, (id, ..)) in ranked.iter().enumerate() {
            decile_of[*id as usize] = rank * 10 / n.max(1);
        }
        let (mut rows, _) = stats::grouped(facts, filter, opts, Layer::Iris, 11, |d| {
            decile_of.get(d as usize).copied().unwrap_or(10)
        });
        let no_decile = rows.pop().unwrap_or_else(|| all.clone());
        let deciles = rows
            .into_iter()
            .enumerate()
            .map(|(i, figures)| {
                let members: Vec<&(u32, f64, u64)> = ranked
                    .iter()
                    .enumerate()
                    .filter(|(rank, _)| rank * 10 / n.max(1) == i)
                    .map(|(_, r)| r)
                    .collect();
                Decile {
                    decile: u8::try_from(i + 1).unwrap_or(u8::MAX),
                    share_min: members.first().map_or(0.0, |m| m.1),
                    share_max: members.last().map_or(0.0, |m| m.1),
                    iris: members.len(),
                    aged_15_plus: members.iter().map(|m| m.2).sum(),
                    figures,
                }
            })
            .collect();
        drop(facts_guard);
        Equity {
            inside,
            outside,
            all,
            population_inside,
            population_city,
            budget: budget::working_class_shares(self.projects().all()),
            deciles,
            no_decile,
        }
    }
}
