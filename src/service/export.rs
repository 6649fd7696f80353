//! Open-data exports: the store's export pages turned into records and
//! written in a format, one page at a time, so that an export of any size
//! runs in constant memory (`GET /api/v1/export/…`, `civicmap snapshot`).
//!
//! [`ReportExport::next_chunk`] hands out one chunk per page: the page read
//! ahead of it was started before this one is formatted, so the store packs
//! the next page (on a reader connection, its own thread) while this task
//! formats the current one; at most two pages and one chunk are alive. A
//! caller that stops asking (a client gone) stops the export: the read ahead
//! is cancelled when the export is dropped.

use std::sync::Arc;

use super::{App, ServiceError};
use crate::export::{Context, ReportRecord, csv, geojson, georeport};
use crate::model::{Districts, LonLat, Status};
use crate::open311::Format;
use crate::spatial::{ProjectFilter, ReportFilter};
use crate::store::{ExportFilter, ExportPage, ExportRow, StoreError};

/// Reports per page of an export: one store round trip and one chunk of
/// the body each.
pub const EXPORT_PAGE_ROWS: u32 = 5_000;

/// A report export format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReportFormat {
    Csv,
    GeoJson,
    /// Open311 GeoReport v2 service requests, JSON or XML.
    GeoReport(Format),
}

impl ReportFormat {
    /// The media type of the body.
    #[must_use]
    pub fn media_type(self) -> &'static str {
        match self {
            ReportFormat::Csv => crate::export::media_type::CSV,
            ReportFormat::GeoJson => crate::export::media_type::GEOJSON,
            ReportFormat::GeoReport(f) => f.content_type(),
        }
    }
}

/// A project export format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProjectFormat {
    Csv,
    GeoJson,
}

/// A report export in progress: call [`ReportExport::next_chunk`] until it
/// returns `None`.
pub struct ReportExport {
    app: Arc<App>,
    filter: ExportFilter,
    format: ReportFormat,
    /// The page being read ahead.
    reading: Option<tokio::task::JoinHandle<Result<ExportPage, StoreError>>>,
    started: bool,
    finished: bool,
    rows: u64,
    scratch: String,
}

impl Drop for ReportExport {
    fn drop(&mut self) {
        if let Some(task) = &self.reading {
            task.abort();
        }
    }
}

impl ReportExport {
    /// An export of the reports matching `filter`, in id order.
    #[must_use]
    pub fn new(app: Arc<App>, filter: ExportFilter, format: ReportFormat) -> Self {
        Self {
            app,
            filter,
            format,
            reading: None,
            started: false,
            finished: false,
            rows: 0,
            scratch: String::new(),
        }
    }

    /// How many reports were written so far.
    #[must_use]
    pub fn rows(&self) -> u64 {
        self.rows
    }

    /// The next bytes of the document: the opening, then one chunk per page
    /// of reports, then the closing; `None` once all was handed out.
    ///
    /// # Errors
    /// [`ServiceError::Store`] if a page cannot be read or parsed,
    /// [`ServiceError::Internal`] for a stored value this version does not
    /// know. The export is over after an error.
    pub async fn next_chunk(&mut self) -> Result<Option<Vec<u8>>, ServiceError> {
        if self.finished {
            return Ok(None);
        }
        if !self.started {
            self.started = true;
            self.read_after(0);
            return Ok(Some(self.start()));
        }
        let Some(reading) = self.reading.take() else {
            self.finished = true;
            return Ok(Some(self.end()));
        };
        let page = match reading.await {
            Ok(page) => page,
            Err(e) => Err(StoreError::Corrupt {
                what: "export page task",
                detail: e.to_string(),
            }),
        };
        let page = page.inspect_err(|_| self.finished = true)?;
        if page.is_empty() {
            self.finished = true;
            return Ok(Some(self.end()));
        }
        if page.len() >= EXPORT_PAGE_ROWS as usize
            && let Some(last) = page.last_id()
        {
            self.read_after(last);
        }
        let chunk = self.format_page(&page);
        if chunk.is_err() {
            self.finished = true;
        }
        chunk.map(Some)
    }

    /// Starts reading the page after `after`.
    fn read_after(&mut self, after: i64) {
        let store = self.app.store().clone();
        let filter = self.filter.clone();
        self.reading = Some(tokio::spawn(async move {
            store
                .export_reports_page(&filter, after, EXPORT_PAGE_ROWS)
                .await
        }));
    }

    fn start(&self) -> Vec<u8> {
        let mut out = Vec::new();
        match self.format {
            ReportFormat::Csv => csv::report_header(&mut out),
            ReportFormat::GeoJson => out.extend_from_slice(geojson::START),
            ReportFormat::GeoReport(f) => out = georeport::start(f),
        }
        out
    }

    fn end(&self) -> Vec<u8> {
        match self.format {
            ReportFormat::Csv => Vec::new(),
            ReportFormat::GeoJson => geojson::END.to_vec(),
            ReportFormat::GeoReport(f) => georeport::end(f).to_vec(),
        }
    }

    fn format_page(&mut self, page: &ExportPage) -> Result<Vec<u8>, ServiceError> {
        let rows = page.rows()?;
        let ctx = self.app.export_context();
        let mut out = Vec::with_capacity(page.len() * 512);
        for row in &rows {
            let r = self.app.record_of(row)?;
            let first = self.rows == 0;
            match self.format {
                ReportFormat::Csv => csv::write_report(&mut out, &ctx, &r),
                ReportFormat::GeoJson => geojson::write_report(&mut out, &ctx, &r, first),
                ReportFormat::GeoReport(f) => {
                    georeport::write_report(&mut out, &ctx, &r, f, first, &mut self.scratch);
                }
            }
            self.rows += 1;
        }
        Ok(out)
    }
}

impl App {
    /// What the export writers look labels and districts up in.
    #[must_use]
    pub fn export_context(&self) -> Context<'_> {
        Context {
            taxonomy: &self.taxonomy,
            districts: &self.districts,
        }
    }

    /// The store filter of a report filter (`bbox`, `district`, `kind`,
    /// `category`, `status`, time range) and a campaign slug. The filter's
    /// `only` and `public` are not used: a campaign is selected by its slug,
    /// and an export includes faded reports.
    #[must_use]
    pub fn export_filter(&self, filter: &ReportFilter, campaign: Option<&str>) -> ExportFilter {
        let mut districts = Districts::default();
        if let Some((layer, id)) = filter.district {
            districts.set(layer, Some(id));
        }
        ExportFilter {
            bbox: filter
                .bbox
                .map(|b| [b.min_lon, b.min_lat, b.max_lon, b.max_lat]),
            districts: self.codec().district_ids(&districts),
            kind: filter.kind.map(|k| k.as_str().to_owned()),
            category: filter
                .category
                .map(|c| self.taxonomy.category(c).code.clone()),
            status: filter.status.map(|s| s.as_str().to_owned()),
            from_ms: filter.from_ms,
            to_ms: filter.to_ms,
            campaign: campaign.map(str::to_owned),
        }
    }

    /// A stored export row as a record.
    ///
    /// # Errors
    /// [`ServiceError::Internal`] when a stored value is not one the code
    /// knows (a store written by another version).
    pub fn record_of<'a>(&self, row: &ExportRow<'a>) -> Result<ReportRecord<'a>, ServiceError> {
        let bad = |what: &str| {
            ServiceError::Internal(format!("report {}: stored {what} is invalid", row.id))
        };
        let category = self
            .taxonomy
            .category_id(row.category)
            .map_err(|_| bad("category"))?;
        let subcategory = row
            .subcategory
            .map(|s| self.taxonomy.subcategory_index(category, s))
            .transpose()
            .map_err(|_| bad("subcategory"))?;
        let status: Status = row.status.parse().map_err(|_| bad("status"))?;
        // What changed since the filing: from memory, as the JSON API reads
        // it (the store's state row is what memory is rebuilt from).
        let state = self.lifecycle.state(row.id);
        let mut districts = Districts::default();
        for (layer, id) in crate::model::Layer::ALL.iter().zip(row.districts) {
            districts.set(*layer, id.and_then(|id| self.districts.by_public_id(id)));
        }
        Ok(ReportRecord {
            id: row.id,
            kind: row.kind.parse().map_err(|_| bad("kind"))?,
            category,
            subcategory,
            description: row.description,
            location: LonLat::new(row.lon, row.lat).map_err(|_| bad("position"))?,
            h3: u64::from_ne_bytes(row.h3.to_ne_bytes()),
            address: row.address,
            channel: row.channel.parse().map_err(|_| bad("channel"))?,
            created_ms: row.created_at_ms,
            status,
            // `ReportState::updated_at`, in ms.
            updated_ms: state.updated_ms.max(row.created_at_ms),
            closed_ms: state.closed_ms.filter(|_| !status.is_open()),
            supports: self.supports(row.id),
            duplicate_of: state.duplicate_of,
            campaign: row.campaign,
            districts,
        })
    }

    /// The projects matching `filter`, by id, written whole in `format`
    /// (the budget file is small and every project is in memory).
    #[must_use]
    pub fn export_projects(&self, filter: &ProjectFilter, format: ProjectFormat) -> (Vec<u8>, u64) {
        let ctx = self.export_context();
        let projects = self.projects();
        let (matching, _, _) = projects.page(filter, None, usize::MAX);
        let mut out = Vec::with_capacity(matching.len() * 512);
        match format {
            ProjectFormat::Csv => {
                csv::project_header(&mut out);
                for p in &matching {
                    csv::write_project(&mut out, &ctx, p);
                }
            }
            ProjectFormat::GeoJson => {
                out.extend_from_slice(geojson::START);
                for (i, p) in matching.iter().enumerate() {
                    geojson::write_project(&mut out, &ctx, p, i == 0);
                }
                out.extend_from_slice(geojson::END);
            }
        }
        (out, matching.len() as u64)
    }
}
