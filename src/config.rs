//! One validated configuration: where to listen, where the data lives, and
//! every limit the service enforces.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use crate::model::Envelope;

/// Radius of the duplicate hint returned with a new report, in metres.
pub const DUPLICATE_RADIUS_M: f64 = 50.0;
/// Most nearby reports returned with a new report.
pub const DUPLICATE_HINT_LIMIT: usize = 10;
/// Largest request body accepted, in bytes.
pub const MAX_BODY_BYTES: usize = 64 * 1024;
/// Default page size of list endpoints.
pub const DEFAULT_PAGE_SIZE: usize = 100;
/// Largest page size of list endpoints.
pub const MAX_PAGE_SIZE: usize = 1_000;
/// Most reports committed in one store transaction.
pub const MAX_WRITE_BATCH: usize = 2_048;
/// Furthest a reverse-geocoded address may be from the report, in metres.
pub const REVERSE_GEOCODE_MAX_M: f64 = 150.0;

/// The MapLibre GL JS release the viewer page loads by default (the same as
/// the npm package maplibre-gl pinned in `tests/browser/package.json`).
pub const MAPLIBRE_VERSION: &str = "5.24.1";
/// Where the viewer page loads MapLibre GL JS from by default: the public CDN
/// copy of that release (a base URL holding `maplibre-gl.js` and `maplibre-gl.css`).
pub const DEFAULT_MAPLIBRE_URL: &str = "https://unpkg.com/maplibre-gl@5.24.1/dist";

/// Where points are accepted: Paris with a margin (the city's bbox is
/// lon 2.2241–2.4698, lat 48.8156–48.9022).
pub const PARIS_ENVELOPE: Envelope = Envelope {
    min_lon: 2.20,
    min_lat: 48.80,
    max_lon: 2.49,
    max_lat: 48.92,
};

/// Default budget of the encoded-tile cache (256 MiB: ~25,000 dense tiles).
pub const DEFAULT_TILE_CACHE_BYTES: usize = 256 << 20;

/// Attempts per event and webhook before the failure is recorded and the
/// webhook moves on.
pub const DEFAULT_WEBHOOK_MAX_ATTEMPTS: u32 = 8;
/// Wait before a webhook's second attempt; doubled at each further one.
pub const DEFAULT_WEBHOOK_RETRY_BASE: Duration = Duration::from_secs(1);
/// Longest wait between two attempts.
pub const DEFAULT_WEBHOOK_RETRY_MAX: Duration = Duration::from_secs(60);
/// How long a receiver has to answer one attempt.
pub const DEFAULT_WEBHOOK_TIMEOUT: Duration = Duration::from_secs(10);
/// Events in a row that failed every attempt after which a webhook is
/// disabled.
pub const DEFAULT_WEBHOOK_DISABLE_AFTER: u32 = 50;
/// How long the instance delivering a webhook holds its lease on a shared
/// store (renewed well before it runs out): the longest a stopped
/// instance's webhooks wait before another instance delivers them.
pub const DEFAULT_WEBHOOK_LEASE: Duration = Duration::from_secs(30);

/// Runtime configuration of `civicmap serve`.
#[derive(Debug, Clone)]
pub struct Config {
    pub listen: SocketAddr,
    /// Photo files, and the SQLite store unless `database_url` names another.
    pub data_dir: PathBuf,
    /// The store, as [`crate::store::Store::open_url`] reads it (`None`:
    /// SQLite in `data_dir`).
    pub database_url: Option<String>,
    /// Follow the changes other instances commit to a shared store
    /// (PostgreSQL; see `service::follower`). Always on in service; off only
    /// in tests that show what it does.
    pub follow_store: bool,
    /// Load the DansMaRue sample as seed reports on first start.
    pub seed_reports: bool,
    /// Points outside are refused (the served city).
    pub envelope: Envelope,
    /// Share of employees and manual workers among residents aged 15+ above
    /// which an IRIS is in the derived working-class layer.
    pub working_class_threshold: f64,
    /// Base URL (absolute, or a path on this server) of `maplibre-gl.js` and
    /// `maplibre-gl.css` for the viewer page.
    pub maplibre_url: String,
    /// A local directory holding MapLibre GL JS (e.g. the npm package's `dist`),
    /// served at `/viewer/vendor/` and used by the page instead of `maplibre_url`.
    pub maplibre_dir: Option<PathBuf>,
    /// Zooms served and where reports switch from hexagons to points.
    pub tiles: crate::tiles::TileSettings,
    /// Budget of the encoded-tile cache, in bytes.
    pub tile_cache_bytes: usize,
    /// Days after which a closed report fades from public maps and lists
    /// (it stays in statistics), by category code; `fade_days` for others.
    /// DansMaRue's own rule: graffiti 90 days, the rest 30.
    pub fade_days: u32,
    pub fade_days_by_category: Vec<(String, u32)>,
    /// Accept webhook URLs in plain `http` (tests, a receiver on the same
    /// host); otherwise `https` is required.
    pub webhook_allow_http: bool,
    /// Attempts per event before a webhook gives up on it (at least 1).
    pub webhook_max_attempts: u32,
    /// Wait before the second attempt, doubled at each further one, at most
    /// `webhook_retry_max`.
    pub webhook_retry_base: Duration,
    pub webhook_retry_max: Duration,
    /// Time a receiver has to answer one attempt.
    pub webhook_timeout: Duration,
    /// Events in a row failed (every attempt) that disable a webhook; 0:
    /// never.
    pub webhook_disable_after: u32,
    /// Delivery lease of a webhook on a shared store (PostgreSQL): see
    /// `service::webhooks`. At least twice `webhook_timeout` plus a margin
    /// is used, whatever is set.
    pub webhook_lease: Duration,
    /// Published statistics come from at least this many distinct reporters
    /// (k-anonymity); analyst keys see unsuppressed counts.
    pub k_anonymity: usize,
    /// Abuse limits: rate quotas, in-flight requests, timeouts, bbox area,
    /// index size (`crate::limits`).
    pub limits: crate::limits::Limits,
    /// Days a reporter's contact is kept after filing; then it is erased
    /// (with its pseudonym) by the retention task. 0: kept until erased on
    /// request.
    pub contact_retention_days: u32,
}

/// Default days a reporter's contact is kept: a year, long enough for the
/// city to answer and follow up on a report.
pub const DEFAULT_CONTACT_RETENTION_DAYS: u32 = 365;

/// Default k of published statistics.
pub const DEFAULT_K_ANONYMITY: usize = 5;
/// Largest k accepted (each protected cell keeps up to k pseudonyms).
pub const MAX_K_ANONYMITY: usize = 100;

impl Config {
    /// A configuration with the defaults, for a data directory.
    #[must_use]
    pub fn new(data_dir: PathBuf) -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            data_dir,
            database_url: None,
            follow_store: true,
            seed_reports: true,
            envelope: PARIS_ENVELOPE,
            working_class_threshold: crate::districts::DEFAULT_WORKING_CLASS_THRESHOLD,
            maplibre_url: DEFAULT_MAPLIBRE_URL.to_owned(),
            maplibre_dir: None,
            tiles: crate::tiles::TileSettings::default(),
            tile_cache_bytes: DEFAULT_TILE_CACHE_BYTES,
            fade_days: 30,
            fade_days_by_category: vec![("graffitis_tags_affiches_et_autocollants".to_owned(), 90)],
            webhook_allow_http: false,
            webhook_max_attempts: DEFAULT_WEBHOOK_MAX_ATTEMPTS,
            webhook_retry_base: DEFAULT_WEBHOOK_RETRY_BASE,
            webhook_retry_max: DEFAULT_WEBHOOK_RETRY_MAX,
            webhook_timeout: DEFAULT_WEBHOOK_TIMEOUT,
            webhook_disable_after: DEFAULT_WEBHOOK_DISABLE_AFTER,
            webhook_lease: DEFAULT_WEBHOOK_LEASE,
            k_anonymity: DEFAULT_K_ANONYMITY,
            limits: crate::limits::Limits::default(),
            contact_retention_days: DEFAULT_CONTACT_RETENTION_DAYS,
        }
    }
}
