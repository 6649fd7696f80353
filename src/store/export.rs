//! Bulk reads for the open-data exports: pages of reports in id order,
//! filtered in the store, each page packed by the database into one text
//! value and parsed here into borrowed [`ExportRow`]s.
//!
//! Why packed: sqlx's SQLite driver costs about 1 µs per row and 0.2–0.5 µs
//! per column (`sqlite/index_scan.rs`); an export row has 18 columns, so a
//! plain fetch would cap an export well below its target rate. The page
//! format is the backend's business (`sqlite/export.rs`); callers only see
//! rows.
//!
//! Keyset paging (`id > after ORDER BY id LIMIT n`) keeps memory constant
//! whatever the number of rows. Pages are separate reads, so an export is not
//! one snapshot: a report changed while it runs is exported as it was when
//! its page was read, and reports committed meanwhile are included if their
//! page is read after the commit.

use super::{Backend, DistrictIds, Store, StoreError};

/// What an export selects: the report list's filters as stored values
/// (codes, public district ids, unix ms). Every `None` means "any".
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ExportFilter {
    /// `[min_lon, min_lat, max_lon, max_lat]`, edges included.
    pub bbox: Option<[f64; 4]>,
    /// A public district id per layer ([`super::DISTRICT_LAYERS`] order).
    pub districts: DistrictIds,
    pub kind: Option<String>,
    pub category: Option<String>,
    pub status: Option<String>,
    /// Created at or after (unix ms).
    pub from_ms: Option<i64>,
    /// Created strictly before (unix ms).
    pub to_ms: Option<i64>,
    /// The campaign slug the reports answer.
    pub campaign: Option<String>,
}

/// One report of an export page, borrowed from the page's text: the
/// `reports` row (what changed since, state, supports, is the service's to
/// add from memory, as the JSON API does). Never the contact nor the client
/// id: the page query does not read them.
#[derive(Debug, Clone, PartialEq)]
pub struct ExportRow<'a> {
    pub id: i64,
    pub lon: f64,
    pub lat: f64,
    pub created_at_ms: i64,
    /// The H3 cell, as stored (the bits of the `u64` index).
    pub h3: i64,
    /// One of [`super::REPORT_KINDS`].
    pub kind: &'a str,
    /// One of [`super::REPORT_STATUSES`].
    pub status: &'a str,
    /// One of [`super::REPORT_CHANNELS`].
    pub channel: &'a str,
    pub category: &'a str,
    /// Public district ids, [`super::DISTRICT_LAYERS`] order.
    pub districts: [Option<&'a str>; 5],
    pub subcategory: Option<&'a str>,
    pub campaign: Option<&'a str>,
    pub address: Option<&'a str>,
    pub description: &'a str,
}

/// A page of an export: at most the requested number of reports, in id
/// order, packed.
#[derive(Debug, Clone, Default)]
pub struct ExportPage {
    pub(super) count: usize,
    pub(super) last_id: Option<i64>,
    pub(super) packed: String,
}

impl ExportPage {
    /// How many reports the page holds.
    #[must_use]
    pub fn len(&self) -> usize {
        self.count
    }

    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// The largest id of the page: pass it as `after` for the next one.
    #[must_use]
    pub fn last_id(&self) -> Option<i64> {
        self.last_id
    }

    /// The page's reports, in id order.
    ///
    /// # Errors
    /// [`StoreError::Corrupt`] if the packed text does not parse (a stored
    /// value the schema should have refused) or holds another number of
    /// rows than counted.
    pub fn rows(&self) -> Result<Vec<ExportRow<'_>>, StoreError> {
        super::sqlite::export::parse_page(self)
    }
}

impl Store {
    /// The reports matching `filter` with `id > after`, at most `limit`, in
    /// id order, packed into one page (one round trip).
    ///
    /// # Errors
    /// [`StoreError::Io`] or [`StoreError::Database`] on database failure.
    pub async fn export_reports_page(
        &self,
        filter: &ExportFilter,
        after: i64,
        limit: u32,
    ) -> Result<ExportPage, StoreError> {
        match &self.backend {
            Backend::Sqlite(s) => s.export_reports_page(filter, after, limit).await,
            Backend::Postgres(s) => s.export_reports_page(filter, after, limit).await,
        }
    }
}
