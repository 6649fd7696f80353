//! The in-memory spatial index of reports and projects.
//!
//! Reports live in an R-tree of points (rstar, bulk-loaded at boot, one insert
//! per committed report) beside a compact summary per report: enough to filter
//! lists, draw tiles and count aggregates without touching the store. Full
//! reports (description, address) stay in the store and are fetched by id.
//!
//! Invariants:
//! - entries are only ever added or replaced, never moved: a report's position
//!   does not change after creation, so its R-tree envelope is fixed (rstar's
//!   contract);
//! - the index holds no personal data (no contact, no description);
//! - it is updated after the store committed, so it never shows a report the
//!   store could lose.

pub mod hexagons;
mod index;
mod projects;

pub use hexagons::{HexAggregates, HexCounts};
pub use index::{
    Page, PublicView, ReportFilter, ReportIndex, ReportIndexBuilder, ReportPoint, ReportSummary,
    TreeParams,
};
pub use projects::{ProjectFilter, ProjectIndex};

/// H3 resolution at which every record's cell is computed and stored
/// (resolution 12: hexagons of about 307 m², 9.4 m edge). Coarser cells for
/// aggregates are its parents.
pub const H3_RESOLUTION: h3o::Resolution = h3o::Resolution::Twelve;

/// The H3 cell of a position at [`H3_RESOLUTION`], as its 64-bit index.
#[must_use]
pub fn h3_cell(p: crate::model::LonLat) -> u64 {
    // LonLat is already range-checked, so h3o's finite-check cannot fail; fall
    // back to the null cell rather than panic if it ever did.
    h3o::LatLng::new(p.lat(), p.lon()).map_or(0, |ll| u64::from(ll.to_cell(H3_RESOLUTION)))
}

/// The H3 cell (as `u64`) holding `p` at resolution `res` (0 when `res` is
/// not an H3 resolution).
#[must_use]
pub fn h3_cell_at(p: crate::model::LonLat, res: u8) -> u64 {
    match (
        h3o::LatLng::new(p.lat(), p.lon()),
        h3o::Resolution::try_from(res),
    ) {
        (Ok(ll), Ok(r)) => u64::from(ll.to_cell(r)),
        _ => 0,
    }
}

/// Formats an H3 index as the usual lower-case hex string.
#[must_use]
pub fn h3_hex(cell: u64) -> String {
    format!("{cell:x}")
}
