//! District layers: the kinds of perimeter a record is attributed to.

use std::fmt;
use std::str::FromStr;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "unknown layer {0:?}: expected one of arrondissement quartier conseil_quartier iris working_class"
)]
pub struct LayerError(pub String);

/// A kind of perimeter. Each record gets at most one district per layer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Layer {
    /// INSEE's 20 municipal arrondissements (75101–75120).
    Arrondissement,
    /// The 80 quartiers administratifs.
    Quartier,
    /// The 121 conseils de quartier.
    ConseilQuartier,
    /// INSEE IRIS (992), with population and socio-professional counts.
    Iris,
    /// Working-class districts: the official QPV when imported, else the
    /// layer derived from IRIS (documented as derived, never as official).
    WorkingClass,
}

impl Layer {
    pub const ALL: [Layer; 5] = [
        Layer::Arrondissement,
        Layer::Quartier,
        Layer::ConseilQuartier,
        Layer::Iris,
        Layer::WorkingClass,
    ];

    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Layer::Arrondissement => "arrondissement",
            Layer::Quartier => "quartier",
            Layer::ConseilQuartier => "conseil_quartier",
            Layer::Iris => "iris",
            Layer::WorkingClass => "working_class",
        }
    }

    #[must_use]
    pub fn index(self) -> usize {
        self as usize
    }
}

impl FromStr for Layer {
    type Err = LayerError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Layer::ALL
            .into_iter()
            .find(|l| l.as_str() == s)
            .ok_or_else(|| LayerError(s.chars().take(64).collect()))
    }
}

impl fmt::Display for Layer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
