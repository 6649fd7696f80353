//! District layers with validity periods, and attribution of a point to at
//! most one district per layer.
//!
//! # Responsibilities
//! * The [`DistrictRegistry`]: districts grouped in layer *versions* (layer
//!   kind, version name, source text, `official` flag, validity period
//!   `[valid_from, valid_to)`), each district with a dense `u32` id, a public
//!   id, a code, a name, a WGS84 `MultiPolygon` and the statistics its source
//!   provides ([`Attributes`]).
//! * Reading a layer version from GeoJSON ([`parse_geojson_layer`],
//!   [`DistrictRegistry::add_layer_geojson`]), refusing bad input with an
//!   error that names the feature; loading Paris's shipped layers
//!   ([`paris_defaults`]); deriving the working-class layer from IRIS census
//!   counts ([`derive_working_class`]) and measuring its agreement with
//!   another flag ([`DistrictRegistry::working_class_agreement`]).
//! * Attribution ([`DistrictRegistry::attribute`]), exact and fast (about
//!   0.2 µs for all five layers; see `benches/districts.rs`).
//!
//! # What it must not do
//! No IO (the caller reads the files and passes their contents), no HTTP, no
//! SQL, and no serde of its own: the GeoJSON crate's types are the only JSON
//! it sees. It never changes a district once added, so dense ids and the
//! spatial index stay valid for the registry's lifetime.
//!
//! # Public ids
//! `{layer}:{version}:{code}`, e.g. `arrondissement:2021:75104`,
//! `iris:2013:751010101`, `working_class:derived-rp2011:751186924`,
//! `working_class:2024:QN07501M`. The version is always included, even for a
//! layer with a single version, so that importing a new version never
//! changes the ids already given out. Layer names, version names and codes
//! are restricted to `A–Z a–z 0–9 . _ -`, so ids need no escaping in URLs.
//!
//! # Which version of a layer
//! At a date, each layer uses one version: among those valid at that date,
//! the official one, then the one with the newest `valid_from`, then the one
//! added last ([`DistrictRegistry::version_at`]). The point is then located
//! in that version only: an official QPV layer valid from 2024 hides the
//! derived layer for 2024 dates, even where the derived layer has a district
//! and the official one has none.
//!
//! # Boundary rule
//! A point belongs to the districts whose *closed* geometry (interior or
//! boundary, as `geo::Intersects`) holds it. When several do (a point
//! exactly on an edge or vertex shared by districts, or in overlapping
//! source polygons), it goes to **the district with the smallest code**
//! (byte-wise order), e.g. a point on the boundary of 75104 and 75111 goes to
//! 75104. A point in no polygon (outside the city, or in a gap between
//! source polygons) gets `None` for that layer.
//!
//! # Spatial index
//! Per layer version, a uniform grid of about 30 m cells: a cell that no
//! boundary comes within ~0.1 mm of, and that lies in exactly one district,
//! answers directly; other cells list their candidate districts, tested
//! exactly with geo's winding-number rules on the edges of one horizontal
//! band of the ring. The answer equals the brute-force one
//! ([`DistrictRegistry::attribute_brute_force`]) bit for bit; tests compare
//! them on random points and on every polygon vertex.

mod load;
mod locate;
mod names;
mod paris;
mod registry;
mod working_class;

use crate::model::Layer;

pub use load::{
    LayerSpec, LoadOptions, NameStyle, PropertyFilter, parse_geojson_layer,
    parse_geojson_layer_with, read_geojson_layer,
};
pub use locate::GridStats;
pub use names::french_title_case;
pub use paris::{
    ARRONDISSEMENTS_FILE, CONSEILS_DE_QUARTIER_FILE, IRIS_FILE, POPULATION_FILE, ParisFiles,
    QUARTIERS_FILE, arrondissement_codes_for, paris_defaults, paris_registry,
};
pub use registry::{
    Agreement, Attributes, Census15Plus, District, DistrictRegistry, FlaggedPoint, IrisType,
    LayerMeta, LayerVersion, LayerVersionId, MAX_KEY_BYTES, NewDistrict,
};
pub use working_class::{
    DEFAULT_MIN_POP15P, DEFAULT_WORKING_CLASS_THRESHOLD, DERIVED_NAME_PREFIX, DERIVED_VERSION,
    WorkingClassParams, derive_working_class,
};

/// Why districts could not be loaded. Each variant carries the offending
/// value and the reason.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DistrictError {
    #[error("{layer} {version}: not a GeoJSON document: {reason}")]
    Json {
        layer: Layer,
        version: String,
        reason: String,
    },
    #[error("{layer} {version}: expected a GeoJSON FeatureCollection, found a {found}")]
    NotFeatureCollection {
        layer: Layer,
        version: String,
        found: &'static str,
    },
    #[error("{layer} {version}: feature {index}: {reason}: {value}")]
    Feature {
        layer: Layer,
        version: String,
        index: usize,
        value: String,
        reason: &'static str,
    },
    #[error("{layer} {version}: code {code:?} is used by features {first} and {second}")]
    DuplicateCode {
        layer: Layer,
        version: String,
        code: String,
        first: usize,
        second: usize,
    },
    #[error("invalid {field} {value:?}: {reason}")]
    InvalidMeta {
        field: &'static str,
        value: String,
        reason: &'static str,
    },
    #[error("{file}: line {line}: {reason}: {value:?}")]
    Csv {
        file: &'static str,
        line: u64,
        value: String,
        reason: &'static str,
    },
    #[error("{what}: {reason}: {value}")]
    Data {
        what: &'static str,
        value: String,
        reason: &'static str,
    },
}
