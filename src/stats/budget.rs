//! Participatory-budget aggregates: projects and euros per district, and the
//! share of each edition's euros that went to working-class districts.

use std::collections::BTreeMap;

use crate::model::{Layer, Project};

/// Projects and euros of a group.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Budget {
    pub projects: u64,
    pub eur: i64,
}

impl Budget {
    fn add(&mut self, p: &Project) {
        self.projects += 1;
        self.eur += p.budget_eur;
    }
}

/// Per dense district id of `layer`, the located projects (of `edition`
/// when given) and their euros.
#[must_use]
pub fn by_district(
    projects: &[Project],
    layer: Layer,
    edition: Option<i32>,
) -> BTreeMap<u32, Budget> {
    let mut out: BTreeMap<u32, Budget> = BTreeMap::new();
    for p in projects
        .iter()
        .filter(|p| edition.is_none_or(|e| p.edition == e))
    {
        if let Some(d) = p.districts.get(layer) {
            out.entry(d).or_default().add(p);
        }
    }
    out
}

/// One edition of the participatory budget against the working-class target.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct EditionShare {
    pub edition: i32,
    /// Every winning project.
    pub all: Budget,
    /// Projects located in a district of the working-class layer.
    pub located_in_working_class: Budget,
    /// Projects the city flagged "Projet en Quartier populaire".
    pub flagged_by_city: Budget,
    /// Projects without a location (not counted in `located_in_working_class`).
    pub unlocated: Budget,
}

impl EditionShare {
    /// `part` over all euros of the edition, when it has any.
    #[must_use]
    pub fn share(&self, part: Budget) -> Option<f64> {
        #[allow(clippy::cast_precision_loss)]
        (self.all.eur > 0).then(|| part.eur as f64 / self.all.eur as f64)
    }
}

/// The city's target: 30 M€ of each 100 M€ for working-class districts.
pub const WORKING_CLASS_TARGET: f64 = 0.30;

/// Per edition (ascending), the euros in working-class districts.
#[must_use]
pub fn working_class_shares(projects: &[Project]) -> Vec<EditionShare> {
    let mut by: BTreeMap<i32, EditionShare> = BTreeMap::new();
    for p in projects {
        let e = by.entry(p.edition).or_insert_with(|| EditionShare {
            edition: p.edition,
            ..EditionShare::default()
        });
        e.all.add(p);
        if p.location.is_none() {
            e.unlocated.add(p);
        }
        if p.districts.get(Layer::WorkingClass).is_some() {
            e.located_in_working_class.add(p);
        }
        if p.working_class_flag {
            e.flagged_by_city.add(p);
        }
    }
    by.into_values().collect()
}
