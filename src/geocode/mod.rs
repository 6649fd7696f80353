//! Offline geocoding of Paris addresses on the Base Adresse Nationale (BAN).
//!
//! [`Geocoder`] is built once at boot from the BAN departmental export for
//! Paris (158,048 addresses) and the derived one-point-per-street file, then
//! only read:
//!
//! * [`Geocoder::forward`] turns a free-text address (`"26 Rue de la Lune,
//!   75002 PARIS"`, `"12 bis bd St Germain"`, `"Place de l' Hotel de Ville"`)
//!   into ranked matches. It tolerates accents, case, punctuation,
//!   abbreviations in either direction (common and AFNOR forms, and a word cut
//!   short such as `Chau.`), numbers in words and Roman numerals
//!   (`Quatre-Septembre`, `François Ier`), house-number suffixes (`bis`,
//!   `12B`, Paris BAL codes), ranges (`10-12`, `10/12`, first number kept),
//!   `n°`, words that locate the resident (`en face du`, `au niveau du`, `à
//!   l'angle de`), postcodes and "Paris" noise, a place name before the street
//!   (placed where the two meet when it is itself a street), a missing or
//!   wrong street type, and a typo or an abbreviation per word (even a typo
//!   that spells another street's word, `Hippolyte` for `Hyppolyte`), and a
//!   name cut short at its end (`Rue du N`, `Port de l`) when it begins a
//!   single name of the arrondissements asked. A number missing from the BAN
//!   falls back to the same number across an arrondissement boundary; a
//!   number far beyond the street's last one (`153 Villa Murat`, numbered 1
//!   to 14) to the same number on the street it opens onto (`153 Boulevard
//!   Murat`); then to the point interpolated between its neighbours on its
//!   side of the street, then to the nearest number of the street, each with
//!   a lower score; on an open space (`Place`, `Carrefour` …), whose numbers
//!   run around it, to the space's centre.
//! * [`Geocoder::reverse`] finds the nearest BAN address in geodesic metres,
//!   through an R-tree over unit vectors on the sphere (the straight-line
//!   nearest there is exactly the great-circle nearest).
//!
//! This module is pure core: it reads from `impl Read` (and
//! [`Geocoder::from_files`] opens two files for convenience) but does no other
//! IO, keeps no global state, and knows nothing of HTTP, SQL or JSON. It must
//! not call a remote geocoder. Every location it returns is derived from the
//! BAN alone: a BAN address point, except for a number the BAN lacks, placed
//! on the straight line between the two BAN addresses that frame it. A
//! street-level match is placed at the street's address nearest the middle of
//! its extent (the centre of the box around its addresses; for an open space,
//! whose numbers run around it, the middle of the space), or at its address
//! nearest to a second street named in the query; a street without addresses
//! at the streets file's point. A street-level match that exists only outside
//! the arrondissements asked (a bridge, which the BAN gives to one bank) is
//! placed halfway between its point and the nearest address of the
//! arrondissements asked, when that is within 300 m.

mod forward;
mod index;
mod text;

use std::fmt;
use std::fs::File;
use std::io::{BufReader, Read};
use std::path::{Path, PathBuf};

use crate::model::LonLat;

/// Why the geocoder could not be built.
#[derive(Debug, thiserror::Error)]
pub enum GeocodeError {
    #[error("cannot open {path}: {source}")]
    Open {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{file}: unreadable CSV: {source}")]
    Csv {
        file: &'static str,
        #[source]
        source: csv::Error,
    },
    #[error("{file}: missing column {column:?}")]
    MissingColumn {
        file: &'static str,
        column: &'static str,
    },
    #[error("{file} line {line}: bad {field} {value:?}: {reason}")]
    BadField {
        file: &'static str,
        line: u64,
        field: &'static str,
        value: String,
        reason: String,
    },
    #[error("{file}: no address rows")]
    Empty { file: &'static str },
}

/// How precisely a forward match is placed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MatchPrecision {
    /// A BAN address point (the one asked for, or the nearest number of the
    /// street), or a number the BAN lacks interpolated between its neighbours.
    HouseNumber,
    /// The street's point: its address nearest the middle of its extent (no
    /// number asked, the street has none, or an open space lacks the number
    /// asked).
    Street,
}

impl MatchPrecision {
    /// `"housenumber"` or `"street"`, as the BAN API says.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::HouseNumber => "housenumber",
            Self::Street => "street",
        }
    }
}

impl fmt::Display for MatchPrecision {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One result of [`Geocoder::forward`].
#[derive(Debug, Clone, PartialEq)]
pub struct GeocodeMatch {
    /// BAN-style label: `"26 Rue de la Lune 75002 Paris"`, `"Rue Jean Nicot 75007 Paris"`.
    pub label: String,
    pub location: LonLat,
    /// Confidence in 0..=1 (1: the exact name and number, in the requested arrondissement).
    pub score: f64,
    pub precision: MatchPrecision,
    /// INSEE code of the arrondissement (`75102`).
    pub citycode: String,
    /// Postcode (`75002`; `75116` for the north of the 16th).
    pub postcode: String,
}

/// The result of [`Geocoder::reverse`].
#[derive(Debug, Clone, PartialEq)]
pub struct ReverseMatch {
    pub label: String,
    pub location: LonLat,
    /// Haversine distance from the query point, in metres.
    pub distance_m: f64,
    pub citycode: String,
    pub postcode: String,
}

/// The Paris BAN in memory, for forward and reverse geocoding.
///
/// Built once (about 0.2 s in release), then read-only and shared across
/// threads (`Send + Sync`).
pub struct Geocoder {
    index: index::Index,
}

impl fmt::Debug for Geocoder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Geocoder")
            .field("addresses", &self.index.addresses.len())
            .field("streets", &self.index.streets.len())
            .finish_non_exhaustive()
    }
}

/// `"12 bis Rue X 75011 Paris"`: the BAN label of an address.
fn address_label(numero: u32, rep: &str, street: &str, postcode: &str) -> String {
    let suffix = match rep {
        "" => String::new(),
        "b" => " bis".to_owned(),
        "t" => " ter".to_owned(),
        "q" => " quater".to_owned(),
        other => format!(" {}", other.to_uppercase()),
    };
    format!("{numero}{suffix} {street} {postcode} Paris")
}

impl Geocoder {
    /// Reads the gzip-compressed BAN addresses file and the streets file.
    ///
    /// # Errors
    /// [`GeocodeError::Open`] when a file cannot be opened, otherwise as
    /// [`Geocoder::from_readers`].
    pub fn from_files(addresses_gz: &Path, streets_csv: &Path) -> Result<Geocoder, GeocodeError> {
        let open = |path: &Path| {
            File::open(path)
                .map(BufReader::new)
                .map_err(|source| GeocodeError::Open {
                    path: path.to_owned(),
                    source,
                })
        };
        let addresses = flate2::read::MultiGzDecoder::new(open(addresses_gz)?);
        Self::from_readers(
            BufReader::with_capacity(1 << 16, addresses),
            open(streets_csv)?,
        )
    }

    /// Builds the geocoder from the BAN addresses CSV (already decompressed;
    /// columns `numero,rep,nom_voie,nom_afnor,code_postal,code_insee,lon,lat`,
    /// others ignored) and the streets CSV (`nom_voie,nom_afnor,code_postal,
    /// code_insee,lon,lat`).
    ///
    /// # Errors
    /// [`GeocodeError`] naming the file, line, field and value when a file is
    /// not CSV, lacks a column, has a bad number or coordinate, or has no
    /// address at all. The data are the city's certified base: one bad row
    /// fails the load rather than being skipped.
    pub fn from_readers(
        addresses_csv: impl Read,
        streets_csv: impl Read,
    ) -> Result<Geocoder, GeocodeError> {
        Ok(Geocoder {
            index: index::build(addresses_csv, streets_csv)?,
        })
    }

    /// Number of addresses.
    #[must_use]
    pub fn len(&self) -> usize {
        self.index.addresses.len()
    }

    /// Whether there is no address (never true for a built geocoder).
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.index.addresses.is_empty()
    }

    /// Number of streets (one per street and arrondissement).
    #[must_use]
    pub fn street_count(&self) -> usize {
        self.index.streets.len()
    }

    /// Best matches first; empty if nothing plausible.
    ///
    /// `citycodes` (INSEE codes such as `"75101"`; postcodes are accepted too)
    /// and any postcode or arrondissement mention in the text (`75002`,
    /// `75116`, `11e arrondissement`) strongly prefer those arrondissements:
    /// every match inside comes before every match outside, and a match
    /// outside has its score halved. Two exceptions count as inside, scored
    /// 0.95 of their own: the number asked for exists only on the other side
    /// of a boundary street, or the exact name and number exist only outside
    /// while the arrondissements asked only have a partial match for the name
    /// (`46 Rue Poissonnière` with `75010`, whose Rue du Faubourg Poissonnière
    /// is another street).
    #[must_use]
    pub fn forward(&self, query: &str, citycodes: &[&str], limit: usize) -> Vec<GeocodeMatch> {
        self.index.forward(query, citycodes, limit)
    }

    /// Nearest BAN address by geodesic (haversine) distance, if within
    /// `max_distance_m` metres.
    #[must_use]
    pub fn reverse(&self, p: LonLat, max_distance_m: f64) -> Option<ReverseMatch> {
        if max_distance_m.is_nan() || max_distance_m < 0.0 {
            return None;
        }
        let nearest = self.index.tree.nearest_neighbor(&index::unit_vector(p))?;
        let a = self.index.addresses.get(nearest.data as usize)?;
        let distance_m = p.distance_m(a.location);
        if distance_m > max_distance_m {
            return None;
        }
        let s = self.index.streets.get(a.street as usize)?;
        Some(ReverseMatch {
            label: address_label(a.numero, &a.rep, &s.name, &s.postcode),
            location: a.location,
            distance_m,
            citycode: s.citycode.to_string(),
            postcode: s.postcode.to_string(),
        })
    }
}

#[cfg(test)]
mod tests;
