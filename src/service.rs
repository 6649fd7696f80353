//! The application: the pure core (districts, geocoder, spatial index) kept in
//! step with the durable store, behind the operations the HTTP edge and the
//! CLI call. No axum here, and no SQL: `store` owns that.
//!
//! Write path: validate → place (geocode or reverse-geocode, attribute
//! districts, H3) → group-commit writer (one transaction for many reports) →
//! after COMMIT, the writer's hook updates the in-memory index → the caller
//! gets its report. So a report acknowledged is durable *and* visible.

mod campaigns;
mod event_filter;
mod export;
mod follower;
mod lifecycle;
mod open311;
mod photos;
pub mod privacy;
pub mod snapshot;
mod stats;
mod webhooks;

pub use campaigns::{Campaign, Campaigns, DEFAULT_NEAR_M, NewCampaign, Perimeter};
pub use event_filter::EventFilter;
pub use export::{EXPORT_PAGE_ROWS, ProjectFormat, ReportExport, ReportFormat};
pub use follower::{CHANGE_PAGE, FOLLOW_EVERY, FollowStart};
pub use lifecycle::{
    Caller, EVENT_PAGE, KEY_CACHE_TTL, Lifecycle, MAX_NOTE_CHARS, PublicEvent, ReportState,
    create_key,
};
pub use open311::{OPEN311_UPDATE_KINDS, RequestRecord};
pub use photos::{
    MAX_AFTER_PHOTOS, PHOTOS_DIR, PhotoInfo, SANITISE_PERMITS, sweep_partial_uploads,
};
pub use stats::{Decile, Equity};
pub use webhooks::{
    DeliveryOutcome, MAX_WEBHOOKS_PER_KEY, NewWebhook, RenderEvent, SIGNATURE_HEADER, Webhook,
    WebhookArea, Webhooks, sign,
};

use std::sync::{Arc, RwLock, RwLockReadGuard};

use time::OffsetDateTime;

use crate::config::{Config, DUPLICATE_HINT_LIMIT, DUPLICATE_RADIUS_M, REVERSE_GEOCODE_MAX_M};
use crate::districts::DistrictRegistry;
use crate::geocode::{GeocodeMatch, Geocoder, ReverseMatch};
use crate::model::{
    CategoryId, Channel, Contact, ContactError, CoordError, DistrictRef, Districts, Kind, Layer,
    LonLat, MAX_ADDRESS_CHARS, MAX_CLIENT_ID_CHARS, MAX_DESCRIPTION_CHARS, Project, Report,
    ReportError, ReportId, Status, Taxonomy, TaxonomyError, validate_contact, validate_text,
};
use crate::spatial::{
    self, Page, ProjectIndex, ReportFilter, ReportIndex, ReportPoint, ReportSummary,
};
use crate::store::{Inserted, ReportRow, Store, StoreError, WriterHandle};
use crate::tiles::{
    CachedTile, DistrictBoxes, GZIP_LEVEL, MAX_TILE_BYTES, Sources, TileCache, TileId, TileLayer,
    TileQuery, TileSettings, draw,
};

/// Why an operation was refused or failed. The HTTP edge maps each variant to
/// one status; `Store` and `Internal` are the only server-side failures.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    #[error("{field}: {reason}")]
    Invalid { field: &'static str, reason: String },
    /// A field passes one of the server's size bounds (`crate::limits`):
    /// a bad request rather than a bad value.
    #[error("{field}: {reason}")]
    OverLimit { field: &'static str, reason: String },
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    #[error("no address matches {0:?}")]
    AddressNotFound(String),
    /// No API key, or one that is malformed, unknown or revoked.
    #[error("{0}")]
    Unauthorized(String),
    /// A valid key whose role may not do this.
    #[error("{0}")]
    Forbidden(String),
    /// An upload over a size limit (a photo over 10 MiB).
    #[error("{0}")]
    PayloadTooLarge(String),
    /// An upload of a type that is not accepted (not an image, or an image
    /// type that is not decoded here).
    #[error("{0}")]
    UnsupportedMedia(String),
    #[error("store: {0}")]
    Store(#[from] StoreError),
    #[error("internal: {0}")]
    Internal(String),
}

impl ServiceError {
    fn invalid(field: &'static str, reason: impl ToString) -> Self {
        Self::Invalid {
            field,
            reason: reason.to_string(),
        }
    }
}

/// A report as a client submits it: strings still unchecked.
#[derive(Debug, Clone, Default)]
pub struct NewReport {
    pub kind: String,
    pub category: String,
    pub subcategory: Option<String>,
    pub description: Option<String>,
    pub lon: Option<f64>,
    pub lat: Option<f64>,
    pub address: Option<String>,
    pub client_id: Option<String>,
    pub channel: Option<String>,
    pub contact: Option<String>,
    pub campaign: Option<String>,
}

/// A nearby open report of the same category (the duplicate hint).
#[derive(Debug, Clone, PartialEq)]
pub struct Nearby {
    pub report: ReportPoint,
    pub distance_m: f64,
}

/// The answer to a report creation.
#[derive(Debug, Clone)]
pub struct Created {
    pub report: Report,
    /// False when the client id was already known: the stored report is returned.
    pub created: bool,
    pub nearby: Vec<Nearby>,
    pub nearest_address: Option<ReverseMatch>,
}

/// Everything the service holds. Shared behind an `Arc` by every request.
pub struct App {
    pub config: Config,
    pub taxonomy: Arc<Taxonomy>,
    pub districts: Arc<DistrictRegistry>,
    pub geocoder: Arc<Geocoder>,
    reports: Arc<RwLock<ReportIndex>>,
    projects: RwLock<ProjectIndex>,
    store: Store,
    writer: WriterHandle,
    pub tiles: TileService,
    pub lifecycle: Lifecycle,
    pub campaigns: Campaigns,
    pub webhooks: Webhooks,
    /// Key of reporter pseudonyms (private).
    pseudonyms: crate::auth::PseudonymKey,
    /// Inhabitants of every district (INSEE's, or estimated).
    pub populations: crate::stats::Populations,
    /// The follower's start until [`App::start_follower`] takes it.
    follow: std::sync::Mutex<Option<FollowStart>>,
}

/// What the tile endpoints need beside the indexes.
#[derive(Debug)]
pub struct TileService {
    pub settings: TileSettings,
    /// Shared with the writer's hook, which invalidates under the index
    /// write lock.
    pub cache: Arc<TileCache>,
    boxes: DistrictBoxes,
}

impl TileService {
    #[must_use]
    pub fn new(
        settings: TileSettings,
        cache: Arc<TileCache>,
        districts: &DistrictRegistry,
    ) -> Self {
        Self {
            settings,
            cache,
            boxes: DistrictBoxes::new(districts),
        }
    }
}

fn encode(mvt: &[u8], gzip: bool) -> Vec<u8> {
    if gzip && !mvt.is_empty() {
        crate::tiles::mvt::gzip_level(mvt, GZIP_LEVEL)
    } else {
        mvt.to_vec()
    }
}

/// A strong validator of a tile's content: CRC-32 and length of the MVT
/// bytes (what gzip's own trailer records).
fn etag_of(mvt: &[u8]) -> u64 {
    (u64::from(libdeflater::crc32(mvt)) << 32) | (mvt.len() as u64 & 0xffff_ffff)
}

impl std::fmt::Debug for App {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("App")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

/// Converts between the store's plain rows and domain values.
pub(crate) struct Codec<'a> {
    pub taxonomy: &'a Taxonomy,
    pub districts: &'a DistrictRegistry,
}

impl Codec<'_> {
    pub fn district_ids(&self, d: &Districts) -> [Option<String>; 5] {
        d.0.map(|id| {
            id.and_then(|i| self.districts.get(i))
                .map(|d| d.public_id.clone())
        })
    }

    pub fn districts_from(&self, ids: &[Option<String>; 5]) -> Districts {
        let mut d = Districts::default();
        for layer in Layer::ALL {
            d.set(
                layer,
                ids[layer.index()]
                    .as_deref()
                    .and_then(|s| self.districts.by_public_id(s)),
            );
        }
        d
    }

    pub fn district_ref(&self, id: u32) -> Option<DistrictRef> {
        self.districts
            .get(id)
            .map(crate::districts::District::to_ref)
    }

    pub fn report_to_row(&self, r: &Report, seed: bool) -> ReportRow {
        let cat = self.taxonomy.category(r.category);
        ReportRow {
            id: r.id,
            client_id: r.client_id.clone(),
            kind: r.kind.as_str().to_owned(),
            category: cat.code.clone(),
            subcategory: r
                .subcategory
                .and_then(|i| self.taxonomy.subcategory(r.category, i))
                .map(|s| s.code.clone()),
            description: r.description.clone(),
            lon: r.location.lon(),
            lat: r.location.lat(),
            address: r.address.clone(),
            channel: r.channel.as_str().to_owned(),
            created_at_ms: unix_ms(r.created_at),
            status: r.status.as_str().to_owned(),
            campaign: r.campaign.clone(),
            contact: r.contact.as_ref().map(|c| c.expose().to_owned()),
            h3: i64::from_ne_bytes(r.h3.to_ne_bytes()),
            districts: self.district_ids(&r.districts),
            seed,
            // Set by `App::create_report`, which holds the key.
            reporter: None,
        }
    }

    /// # Errors
    /// [`ServiceError::Internal`] when a stored value is not one the code knows
    /// (a store written by another version).
    pub fn report_from_row(&self, row: &ReportRow) -> Result<Report, ServiceError> {
        let bad = |what: &str| {
            ServiceError::Internal(format!("report {}: stored {what} is invalid", row.id))
        };
        let category = self
            .taxonomy
            .category_id(&row.category)
            .map_err(|_| bad("category"))?;
        let subcategory = match &row.subcategory {
            Some(s) => Some(
                self.taxonomy
                    .subcategory_index(category, s)
                    .map_err(|_| bad("subcategory"))?,
            ),
            None => None,
        };
        let contact = match &row.contact {
            Some(c) => Some(validate_contact(c).map_err(|_| bad("contact"))?),
            None => None,
        };
        Ok(Report {
            id: row.id,
            client_id: row.client_id.clone(),
            kind: row.kind.parse().map_err(|_| bad("kind"))?,
            category,
            subcategory,
            description: row.description.clone(),
            location: LonLat::new(row.lon, row.lat).map_err(|_| bad("position"))?,
            address: row.address.clone(),
            channel: row.channel.parse().map_err(|_| bad("channel"))?,
            created_at: from_unix_ms(row.created_at_ms).ok_or_else(|| bad("created_at"))?,
            status: row.status.parse().map_err(|_| bad("status"))?,
            campaign: row.campaign.clone(),
            contact,
            h3: u64::from_ne_bytes(row.h3.to_ne_bytes()),
            districts: self.districts_from(&row.districts),
        })
    }
}

/// The index summary of a report.
#[must_use]
pub fn summary_of(r: &Report) -> ReportSummary {
    ReportSummary {
        id: r.id,
        location: r.location,
        kind: r.kind,
        category: r.category,
        status: r.status,
        created_ms: unix_ms(r.created_at),
        h3: r.h3,
        districts: r.districts,
        closed_ms: None,
        channel: r.channel,
        reporter: None,
        first_response_ms: None,
    }
}

#[must_use]
pub fn unix_ms(t: OffsetDateTime) -> i64 {
    i64::try_from(t.unix_timestamp_nanos() / 1_000_000).unwrap_or(i64::MAX)
}

#[must_use]
pub fn from_unix_ms(ms: i64) -> Option<OffsetDateTime> {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000).ok()
}

/// Checked, placed fields of a new report, before the store assigns its id.
pub(crate) struct Placed {
    pub report: Report,
    pub nearest_address: Option<ReverseMatch>,
}

impl App {
    /// Assembles an application from its parts (used by boot and by tests).
    #[must_use]
    #[allow(clippy::too_many_arguments)]
    pub fn from_parts(
        config: Config,
        taxonomy: Arc<Taxonomy>,
        districts: Arc<DistrictRegistry>,
        geocoder: Arc<Geocoder>,
        reports: Arc<RwLock<ReportIndex>>,
        projects: ProjectIndex,
        store: Store,
        writer: WriterHandle,
        tiles: TileService,
        lifecycle: Lifecycle,
        pseudonyms: crate::auth::PseudonymKey,
    ) -> Self {
        let populations = crate::stats::Populations::of(&districts);
        Self {
            config,
            taxonomy,
            districts,
            geocoder,
            reports,
            projects: RwLock::new(projects),
            store,
            writer,
            tiles,
            lifecycle,
            campaigns: Campaigns::default(),
            webhooks: Webhooks::new(),
            pseudonyms,
            populations,
            follow: std::sync::Mutex::new(None),
        }
    }

    /// One tile, from the cache or drawn now; an empty body means an empty
    /// tile. Drawn and cached under the index read lock, so that no tile
    /// older than a commit's invalidation can enter the cache (see
    /// `tiles::cache`).
    #[must_use]
    pub fn tile(&self, tile: TileId, q: &TileQuery, variant: &str, gzip: bool) -> CachedTile {
        let cache = &self.tiles.cache;
        if let Some(hit) = cache.get(tile, variant) {
            let fresh = match (hit.expires_min, &q.reports.public) {
                (Some(e), Some(view)) => view.now_min < e,
                _ => true,
            };
            if fresh {
                return hit;
            }
        }
        let reports = self.reports();
        let projects = self.projects();
        let src = Sources {
            reports: &reports,
            projects: &projects,
            districts: &self.districts,
            district_boxes: &self.tiles.boxes,
            taxonomy: &self.taxonomy,
        };
        let settings = &self.tiles.settings;
        let mut drawn = draw(src, settings, tile, q);
        let mut body = encode(&drawn.mvt, gzip);
        let with_reports = q.layers.contains(&TileLayer::Reports);
        // The cap is on the compressed size, whatever this client accepts,
        // so that every client gets the same features for a URL.
        let over_cap = drawn.mvt.len() > MAX_TILE_BYTES
            && if gzip {
                body.len() > MAX_TILE_BYTES
            } else {
                encode(&drawn.mvt, true).len() > MAX_TILE_BYTES
            };
        if over_cap && with_reports && settings.points_at(tile.z) {
            let aggregated = TileQuery {
                aggregate_reports: true,
                ..q.clone()
            };
            drawn = draw(src, settings, tile, &aggregated);
            body = encode(&drawn.mvt, gzip);
        }
        let served = CachedTile {
            expires_min: drawn.expires_min,
            etag: format!("{:016x}", etag_of(&drawn.mvt)).into(),
            body: body.into(),
        };
        cache.put(tile, variant.into(), with_reports, served.clone());
        served
    }

    pub(crate) fn codec(&self) -> Codec<'_> {
        Codec {
            taxonomy: &self.taxonomy,
            districts: &self.districts,
        }
    }

    #[must_use]
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// Read access to the report index.
    pub fn reports(&self) -> RwLockReadGuard<'_, ReportIndex> {
        self.reports
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Residents' supports ("me too") of a report: the index is their one
    /// holder in memory (point tiles draw them).
    #[must_use]
    pub fn supports(&self, id: ReportId) -> u32 {
        self.reports().supports(id)
    }

    /// Read access to the project index.
    pub fn projects(&self) -> RwLockReadGuard<'_, ProjectIndex> {
        self.projects
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Checks a position against the served city.
    ///
    /// # Errors
    /// [`ServiceError::Invalid`] naming `lon` or `lat`.
    pub fn check_position(&self, lon: f64, lat: f64) -> Result<LonLat, ServiceError> {
        let p = LonLat::new(lon, lat).map_err(|e| match e {
            CoordError::Latitude { .. } => ServiceError::invalid("lat", e),
            _ => ServiceError::invalid("lon", e),
        })?;
        if !self.config.envelope.contains(p) {
            let env = self.config.envelope;
            return Err(ServiceError::invalid(
                if (env.min_lon..=env.max_lon).contains(&lon) {
                    "lat"
                } else {
                    "lon"
                },
                format!(
                    "position {p} is outside the served area (lon {}..{}, lat {}..{})",
                    env.min_lon, env.max_lon, env.min_lat, env.max_lat
                ),
            ));
        }
        Ok(p)
    }

    /// Validates and places a new report (everything but the id).
    pub(crate) fn place(
        &self,
        input: NewReport,
        now: OffsetDateTime,
    ) -> Result<Placed, ServiceError> {
        let kind: Kind = input
            .kind
            .parse()
            .map_err(|e: ReportError| ServiceError::invalid("kind", e))?;
        let category = self
            .taxonomy
            .category_id(&input.category)
            .map_err(|e| ServiceError::invalid("category", e))?;
        let subcategory = match input.subcategory.as_deref() {
            Some(s) => Some(
                self.taxonomy
                    .subcategory_index(category, s)
                    .map_err(|e: TaxonomyError| ServiceError::invalid("subcategory", e))?,
            ),
            None if kind == Kind::Anomaly => {
                return Err(ServiceError::invalid(
                    "subcategory",
                    "an anomaly needs a subcategory of its category",
                ));
            }
            None => None,
        };
        let description = input.description.unwrap_or_default();
        validate_text("description", &description, MAX_DESCRIPTION_CHARS)
            .map_err(|e| ServiceError::invalid("description", e))?;
        if let Some(a) = &input.address {
            validate_text("address", a, MAX_ADDRESS_CHARS)
                .map_err(|e| ServiceError::invalid("address", e))?;
        }
        if let Some(c) = &input.client_id {
            validate_text("client_id", c, MAX_CLIENT_ID_CHARS)
                .map_err(|e| ServiceError::invalid("client_id", e))?;
            if c.trim().is_empty() {
                return Err(ServiceError::invalid("client_id", "must not be empty"));
            }
        }
        if let Some(c) = &input.campaign {
            validate_text("campaign", c, MAX_CLIENT_ID_CHARS)
                .map_err(|e| ServiceError::invalid("campaign", e))?;
        }
        let channel = match input.channel.as_deref() {
            Some(c) => c
                .parse::<Channel>()
                .map_err(|e| ServiceError::invalid("channel", e))?,
            None => Channel::Web,
        };
        let contact: Option<Contact> =
            input
                .contact
                .as_deref()
                .map(validate_contact)
                .transpose()
                .map_err(|e: ContactError| ServiceError::invalid("contact", e))?;

        let (location, address, nearest_address) = match (input.lon, input.lat) {
            (Some(lon), Some(lat)) => {
                let p = self.check_position(lon, lat)?;
                let nearest = self.geocoder.reverse(p, REVERSE_GEOCODE_MAX_M);
                let address = input
                    .address
                    .clone()
                    .or_else(|| nearest.as_ref().map(|n| n.label.clone()));
                (p, address, nearest)
            }
            (None, None) => {
                let Some(text) = input.address.clone().filter(|a| !a.trim().is_empty()) else {
                    return Err(ServiceError::invalid(
                        "lon",
                        "give lon and lat, or an address to geocode",
                    ));
                };
                let best = self.geocoder.forward(&text, &[], 1).into_iter().next();
                let Some(best) = best else {
                    return Err(ServiceError::AddressNotFound(text));
                };
                let p = self.check_position(best.location.lon(), best.location.lat())?;
                let nearest = self.geocoder.reverse(p, REVERSE_GEOCODE_MAX_M);
                (p, Some(text), nearest)
            }
            (Some(_), None) => {
                return Err(ServiceError::invalid("lat", "lon was given without lat"));
            }
            (None, Some(_)) => {
                return Err(ServiceError::invalid("lon", "lat was given without lon"));
            }
        };
        let districts = self.districts.attribute(location, now.date());
        Ok(Placed {
            report: Report {
                id: 0,
                client_id: input.client_id,
                kind,
                category,
                subcategory,
                description,
                location,
                address,
                channel,
                created_at: now,
                status: Status::New,
                campaign: input.campaign,
                contact,
                h3: spatial::h3_cell(location),
                districts,
            },
            nearest_address,
        })
    }

    /// Creates a report, or returns the one already stored under its client id.
    /// Returns only once the report is committed and visible in the index.
    ///
    /// # Errors
    /// [`ServiceError::Invalid`] / [`ServiceError::AddressNotFound`] for bad
    /// input (nothing stored), [`ServiceError::Conflict`] when the client id
    /// was used for a different report, [`ServiceError::Store`] when the commit
    /// failed (nothing acknowledged).
    pub async fn create_report(&self, input: NewReport) -> Result<Created, ServiceError> {
        let mut placed = self.place(input, OffsetDateTime::now_utc())?;
        self.check_campaign(&mut placed.report)?;
        let mut row = self.codec().report_to_row(&placed.report, false);
        row.reporter = row.contact.as_deref().map(|c| self.pseudonyms.pseudonym(c));
        let inserted = self.writer.submit(row).await?;
        let (row, created) = match inserted {
            Inserted::New(row) => (row, true),
            Inserted::Existing(row) => {
                let same = row.kind == placed.report.kind.as_str()
                    && row.category == self.taxonomy.category(placed.report.category).code
                    && (row.lon - placed.report.location.lon()).abs() < 1e-9
                    && (row.lat - placed.report.location.lat()).abs() < 1e-9
                    && row.description == placed.report.description;
                if !same {
                    return Err(ServiceError::Conflict(format!(
                        "client_id {:?} was already used for report {} with different content",
                        row.client_id.as_deref().unwrap_or_default(),
                        row.id
                    )));
                }
                (row, false)
            }
        };
        let report = self.codec().report_from_row(&row)?;
        let nearby = self.nearby_open(&report);
        let nearest_address = if created {
            placed.nearest_address
        } else {
            self.geocoder
                .reverse(report.location, REVERSE_GEOCODE_MAX_M)
        };
        Ok(Created {
            report,
            created,
            nearby,
            nearest_address,
        })
    }

    /// Open reports of the same category within [`DUPLICATE_RADIUS_M`].
    #[must_use]
    pub fn nearby_open(&self, r: &Report) -> Vec<Nearby> {
        self.reports()
            .within(
                r.location,
                DUPLICATE_RADIUS_M,
                DUPLICATE_HINT_LIMIT + 1,
                |s| s.id != r.id && s.category == r.category && s.status.is_open(),
            )
            .into_iter()
            .take(DUPLICATE_HINT_LIMIT)
            .map(|(report, distance_m)| Nearby { report, distance_m })
            .collect()
    }

    /// One report, with its nearest address.
    ///
    /// # Errors
    /// [`ServiceError::Store`] if the store cannot be read.
    pub async fn report(
        &self,
        id: ReportId,
    ) -> Result<Option<(Report, Option<ReverseMatch>)>, ServiceError> {
        let Some(row) = self.store.report(id).await? else {
            return Ok(None);
        };
        let r = self.codec().report_from_row(&row)?;
        let nearest = self.geocoder.reverse(r.location, REVERSE_GEOCODE_MAX_M);
        Ok(Some((r, nearest)))
    }

    /// A page of reports, newest first.
    ///
    /// # Errors
    /// [`ServiceError::Store`] if the store cannot be read.
    pub async fn list_reports(
        &self,
        filter: &ReportFilter,
        before: Option<ReportId>,
        limit: usize,
    ) -> Result<(Vec<Report>, Page), ServiceError> {
        let page = self.reports().page(filter, before, limit);
        let rows = self.store.reports_by_ids(&page.ids).await?;
        let codec = self.codec();
        let reports = rows
            .iter()
            .map(|r| codec.report_from_row(r))
            .collect::<Result<Vec<_>, _>>()?;
        Ok((reports, page))
    }

    /// Forward geocoding.
    #[must_use]
    pub fn geocode(&self, q: &str, limit: usize) -> Vec<GeocodeMatch> {
        self.geocoder.forward(q, &[], limit)
    }

    /// Looks a category up for filters.
    ///
    /// # Errors
    /// [`ServiceError::Invalid`] naming `category`.
    pub fn category(&self, code: &str) -> Result<CategoryId, ServiceError> {
        self.taxonomy
            .category_id(code)
            .map_err(|e| ServiceError::invalid("category", e))
    }

    /// A project by id.
    #[must_use]
    pub fn project(&self, id: i64) -> Option<Project> {
        self.projects().get(id).cloned()
    }
}
