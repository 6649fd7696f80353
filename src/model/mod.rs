//! Pure domain types and their invariants: coordinates, reports, projects, the
//! DansMaRue taxonomy.
//!
//! This module does no IO and knows nothing of HTTP or SQL. Every coordinate of
//! the system enters through [`LonLat::new`], which checks it.

mod lifecycle;
mod lonlat;
mod project;
mod report;
mod taxonomy;

pub use lifecycle::{Action, Role, RoleError, TransitionError};
pub use lonlat::{CoordError, Envelope, LonLat};
pub use project::{Project, ProjectScale};
pub use report::{
    Channel, Contact, ContactError, DistrictRef, Districts, Kind, MAX_ADDRESS_CHARS,
    MAX_CLIENT_ID_CHARS, MAX_DESCRIPTION_CHARS, Report, ReportError, ReportId, Status,
    validate_contact, validate_text,
};
pub use taxonomy::{Category, CategoryId, Subcategory, Taxonomy, TaxonomyError};

mod district;
pub use district::{Layer, LayerError};
