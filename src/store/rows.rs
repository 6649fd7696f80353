//! Plain row types: what the store reads and writes, as strings and numbers.
//!
//! The service converts them to and from the domain model; the store knows
//! nothing of dense ids, taxonomies or district registries.

use std::fmt;

/// Names of the five district layers, in the order of every `districts`
/// array of this module, which is also the order of `model::Layer::ALL`.
/// They are also the names of the district columns in SQL.
pub const DISTRICT_LAYERS: [&str; 5] = [
    "arrondissement",
    "quartier",
    "conseil_quartier",
    "iris",
    "working_class",
];

/// Every `kind` the schema accepts (its `CHECK` constraint).
pub const REPORT_KINDS: [&str; 2] = ["anomaly", "contribution"];

/// Every `status` the schema accepts (its `CHECK` constraint).
pub const REPORT_STATUSES: [&str; 8] = [
    "new",
    "to_process",
    "scheduled",
    "transferred",
    "under_watch",
    "done",
    "rejected",
    "archived",
];

/// Every `channel` the schema accepts (its `CHECK` constraint).
pub const REPORT_CHANNELS: [&str; 4] = ["ios", "android", "web", "back_office"];

/// The public district id of each layer ([`DISTRICT_LAYERS`] order), `None`
/// when the record lies in no district of that layer.
pub type DistrictIds = [Option<String>; 5];

/// One street report, as stored.
///
/// `contact` is private: the store keeps it, but `Debug` redacts it and it is
/// never copied into an [`IndexRow`].
#[derive(Clone, PartialEq)]
pub struct ReportRow {
    /// Assigned by the store on insert (give 0 in a new row).
    pub id: i64,
    /// Client-generated idempotency id, unique when present.
    pub client_id: Option<String>,
    /// One of [`REPORT_KINDS`].
    pub kind: String,
    /// Category code (taxonomy slug).
    pub category: String,
    /// Subcategory code within the category.
    pub subcategory: Option<String>,
    pub description: String,
    /// WGS84 longitude, degrees, in −180..=180 (stored exactly, except that
    /// SQLite keeps −0.0 as 0.0).
    pub lon: f64,
    /// WGS84 latitude, degrees, in −90..=90.
    pub lat: f64,
    pub address: Option<String>,
    /// One of [`REPORT_CHANNELS`].
    pub channel: String,
    /// Unix milliseconds (UTC).
    pub created_at_ms: i64,
    /// One of [`REPORT_STATUSES`].
    pub status: String,
    pub campaign: Option<String>,
    /// PRIVATE: the reporter's e-mail or phone.
    pub contact: Option<String>,
    /// Keyed pseudonym of `contact` (statistics count distinct reporters
    /// with it); `None` without a contact.
    pub reporter: Option<i64>,
    /// H3 cell index, reinterpreted as signed.
    pub h3: i64,
    /// Public district ids, [`DISTRICT_LAYERS`] order.
    pub districts: DistrictIds,
    /// Part of the reference sample loaded at first start.
    pub seed: bool,
}

impl fmt::Debug for ReportRow {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ReportRow")
            .field("id", &self.id)
            .field("client_id", &self.client_id)
            .field("kind", &self.kind)
            .field("category", &self.category)
            .field("subcategory", &self.subcategory)
            .field("description", &self.description)
            .field("lon", &self.lon)
            .field("lat", &self.lat)
            .field("address", &self.address)
            .field("channel", &self.channel)
            .field("created_at_ms", &self.created_at_ms)
            .field("status", &self.status)
            .field("campaign", &self.campaign)
            .field("contact", &self.contact.as_ref().map(|_| Redacted))
            .field("reporter", &self.reporter)
            .field("h3", &self.h3)
            .field("districts", &self.districts)
            .field("seed", &self.seed)
            .finish()
    }
}

/// Stands in for a private value in `Debug` output.
struct Redacted;

impl fmt::Debug for Redacted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

/// What [`crate::store::Store::insert_reports`] did with one row.
#[derive(Debug, Clone, PartialEq)]
pub enum Inserted {
    /// The row was stored; here it is with its assigned id.
    New(ReportRow),
    /// A row with the same `client_id` was already stored (earlier, or
    /// earlier in the same batch); here is that stored row, unchanged.
    Existing(ReportRow),
}

impl Inserted {
    /// The stored row, new or existing.
    #[must_use]
    pub fn row(&self) -> &ReportRow {
        match self {
            Inserted::New(r) | Inserted::Existing(r) => r,
        }
    }

    /// The stored row, new or existing.
    #[must_use]
    pub fn into_row(self) -> ReportRow {
        match self {
            Inserted::New(r) | Inserted::Existing(r) => r,
        }
    }

    /// Whether this call stored the row.
    #[must_use]
    pub fn is_new(&self) -> bool {
        matches!(self, Inserted::New(_))
    }
}

/// The light view of a report from which the in-memory index is rebuilt at
/// boot (no free text, no contact).
///
/// Borrowed from the store's read buffer so that a boot scan allocates
/// nothing per row: `kind` and `status` are the schema's own spellings
/// ([`REPORT_KINDS`], [`REPORT_STATUSES`]), `category` and the district ids
/// borrow the row; copy what you keep.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct IndexRow<'a> {
    pub id: i64,
    pub lon: f64,
    pub lat: f64,
    pub kind: &'static str,
    pub category: &'a str,
    pub status: &'static str,
    pub created_at_ms: i64,
    pub h3: i64,
    /// Public district ids, [`DISTRICT_LAYERS`] order.
    pub districts: [Option<&'a str>; 5],
    /// One of [`REPORT_CHANNELS`].
    pub channel: &'static str,
    /// See [`ReportRow::reporter`].
    pub reporter: Option<i64>,
}

/// A winning participatory-budget project, as stored (upserted by `id`, the
/// city's own project id).
#[derive(Debug, Clone, PartialEq)]
pub struct ProjectRow {
    pub id: i64,
    pub title: Option<String>,
    pub edition: i32,
    pub theme: Option<String>,
    pub lead_department: Option<String>,
    pub budget_eur: i64,
    /// `city` or `arrondissement`.
    pub scale: String,
    pub address: Option<String>,
    pub arrondissement_code: Option<String>,
    pub working_class_flag: bool,
    pub progress: Option<String>,
    pub studies_start: Option<String>,
    pub procedures_start: Option<String>,
    pub works_start: Option<String>,
    pub delivery_planned: Option<String>,
    pub opened: Option<String>,
    pub url: Option<String>,
    /// Both present or both absent (checked by the schema).
    pub lon: Option<f64>,
    pub lat: Option<f64>,
    pub geocode_quality: Option<String>,
    pub h3: Option<i64>,
    /// Public district ids, [`DISTRICT_LAYERS`] order.
    pub districts: DistrictIds,
}

/// A perimeter layer imported from the command line (e.g. the official QPV),
/// stored whole as GeoJSON and re-loaded at boot. Keyed by `(layer, version)`.
#[derive(Clone, PartialEq, Eq)]
pub struct LayerRow {
    /// One of [`DISTRICT_LAYERS`].
    pub layer: String,
    pub version: String,
    /// Where it came from (publisher, file, URL), for attribution.
    pub source: String,
    /// Whether it is the official perimeter (as opposed to a derived one).
    pub official: bool,
    /// ISO date from which it applies, open-ended when `None`.
    pub valid_from: Option<String>,
    /// ISO date until which it applies, open-ended when `None`.
    pub valid_to: Option<String>,
    /// GeoJSON feature property holding the district code.
    pub code_property: String,
    /// GeoJSON feature property holding the district name.
    pub name_property: String,
    /// The whole FeatureCollection.
    pub geojson: String,
    /// Unix milliseconds.
    pub imported_at_ms: i64,
}

impl fmt::Debug for LayerRow {
    // The GeoJSON can be megabytes: show its size, not its text.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LayerRow")
            .field("layer", &self.layer)
            .field("version", &self.version)
            .field("source", &self.source)
            .field("official", &self.official)
            .field("valid_from", &self.valid_from)
            .field("valid_to", &self.valid_to)
            .field("code_property", &self.code_property)
            .field("name_property", &self.name_property)
            .field("geojson_bytes", &self.geojson.len())
            .field("imported_at_ms", &self.imported_at_ms)
            .finish()
    }
}

/// The SQLite settings that durability depends on, as read back from the
/// writer connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SqlitePragmas {
    /// `wal` in a working store.
    pub journal_mode: String,
    /// 2 (`FULL`) in a working store.
    pub synchronous: i64,
    /// `true` in a working store.
    pub foreign_keys: bool,
    /// Milliseconds a connection waits for a lock before failing.
    pub busy_timeout_ms: i64,
}
