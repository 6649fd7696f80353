//! Analysts' statistics: per-district figures, time series and hexagon
//! counts over the reports, kept exact and fast by a column-wise fact table
//! that the report index updates at every commit and status change
//! ([`Facts`]), and k-anonymous publication ([`kanon`]).
//!
//! # Responsibilities
//! * [`Facts`]: per report the fields statistics filter and group on.
//! * [`by_district`], [`series`], [`hexagons`]: one pass over the facts
//!   each, into [`Group`] accumulators, then [`publish_table`] applies the
//!   k-anonymity rule (suppression and complementary suppression).
//! * [`Populations`]: inhabitants of every district, INSEE's or estimated.
//!
//! # What it must not do
//! No IO, no HTTP, no SQL; it never sees a contact, only a keyed pseudonym
//! of it ([`reporter_of`]).
//!
//! # Definitions
//! * *First response*: the first status change, public note, duplicate mark
//!   or photo by a city service; its time is minutes from filing, rounded
//!   down.
//! * *Resolution*: reaching `done`, at a known time (reports imported as
//!   done carry none and are left out of resolution times).
//! * Median and p90 are nearest-rank ([`nearest_rank`]).
//! * Distinct reporters: distinct pseudonyms; a report filed without a
//!   contact counts as a reporter of its own.

mod acc;
pub mod budget;
pub mod facts;
pub mod hex;
pub mod kanon;
pub mod population;
pub mod query;
pub mod series;
mod tally;

pub use facts::{ANONYMOUS, CELL_RES, Fact, Facts, reporter_of};
pub use hex::{Hexagon, hexagons};
pub use population::{Population, Populations};
pub use query::{
    DistrictTable, Durations, Filter, Group, Options, Published, by_district, grouped,
    nearest_rank, publish_table,
};
pub use series::{Interval, MAX_BUCKETS, Series, series};

/// Why a statistic cannot be computed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StatsError {
    #[error("{0}")]
    Range(&'static str),
}
