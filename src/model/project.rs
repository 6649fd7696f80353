//! Participatory-budget projects ("Budget participatif" winners).

use super::{Districts, LonLat};

/// Whether a project was voted city-wide or in one arrondissement.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ProjectScale {
    City,
    Arrondissement,
}

impl ProjectScale {
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            ProjectScale::City => "city",
            ProjectScale::Arrondissement => "arrondissement",
        }
    }
}

/// A winning participatory-budget project.
#[derive(Debug, Clone, PartialEq)]
pub struct Project {
    /// The city's own project id (`Identifiant du projet lauréat`).
    pub id: i64,
    pub title: Option<String>,
    pub edition: i32,
    pub theme: Option<String>,
    pub lead_department: Option<String>,
    pub budget_eur: i64,
    pub scale: ProjectScale,
    pub address: Option<String>,
    /// INSEE code of the arrondissement as given by the city (75101…75120),
    /// or `75123` for the "Paris Centre" sector (arrondissements 1–4).
    pub arrondissement_code: Option<String>,
    /// The city's own "Projet en Quartier populaire" flag.
    pub working_class_flag: bool,
    /// Progress status as published (FIN, TRAVAUX, ETUDES, …).
    pub progress: Option<String>,
    /// Milestones as `YYYY-MM` strings, as published.
    pub studies_start: Option<String>,
    pub procedures_start: Option<String>,
    pub works_start: Option<String>,
    pub delivery_planned: Option<String>,
    pub opened: Option<String>,
    pub url: Option<String>,
    /// Geocoded from `address`; `None` when the address did not match.
    pub location: Option<LonLat>,
    /// Distance between the geocoded point and the matched address, or how
    /// the location was found (`address`, `street`, `arrondissement`).
    pub geocode_quality: Option<String>,
    pub h3: Option<u64>,
    pub districts: Districts,
}
