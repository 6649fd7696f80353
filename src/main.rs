//! `civicmap`: the command line. Thin: parse arguments, then hand over to the
//! library (`boot`, `http`).

use std::io::BufWriter;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};

use civicmap::boot::{self, BootError};
use civicmap::config::{Config, PARIS_ENVELOPE};
use civicmap::districts::DEFAULT_WORKING_CLASS_THRESHOLD;
use civicmap::limits::{Cidr, KeyQuota, Limits, PolygonBounds, QuotaSet};
use civicmap::model::{Envelope, Layer, Role};
use civicmap::reference;
use civicmap::store::{LayerRow, Store};

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(
    name = "civicmap",
    version,
    about = "A city's street reports, participatory-budget projects and district statistics on a map"
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    serve: ServeArgs,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the HTTP API (the default).
    Serve(ServeArgs),
    /// Import perimeter layers, reports or budget projects into a data directory.
    #[command(subcommand)]
    Import(ImportCommand),
    /// Write a synthetic report set (DansMaRue CSV layout) that follows the real sample.
    Generate(GenerateArgs),
    /// Create, list or revoke API keys.
    #[command(subcommand)]
    Keys(KeysCommand),
    /// Write today's open-data snapshot (reports and projects, CSV and GeoJSON, with a
    /// manifest) under a directory, for an open-data portal to harvest.
    Snapshot(SnapshotArgs),
    /// Reporters' personal data.
    #[command(subcommand)]
    Privacy(PrivacyCommand),
    /// Copy a whole SQLite store into an empty PostgreSQL database (every table, ids
    /// kept), then compare both sides table by table. Stop the server first.
    MigrateStore(MigrateStoreArgs),
}

#[derive(Args)]
struct MigrateStoreArgs {
    /// The store to copy: `sqlite://<data dir>` (or the data directory itself).
    #[arg(long)]
    from: String,
    /// The empty PostgreSQL database to fill: `postgres://…`. A database holding
    /// anything is refused.
    #[arg(long)]
    to: String,
    /// Rows read per page and written per transaction.
    #[arg(long, default_value_t = civicmap::store::migrate::DEFAULT_PAGE_ROWS,
          value_parser = clap::value_parser!(u32).range(1..=100_000))]
    page_rows: u32,
    /// No progress bars (they are not drawn either when stderr is not a terminal).
    #[arg(long)]
    quiet: bool,
}

#[derive(Subcommand)]
enum PrivacyCommand {
    /// Erase, once, the contacts filed more than the retention period ago (what
    /// `serve` does every hour). A server running on the same store keeps the
    /// erased reports' pseudonyms in memory until it restarts.
    Purge(PurgeArgs),
}

#[derive(Args)]
struct PurgeArgs {
    #[command(flatten)]
    data: DataDir,
    #[command(flatten)]
    retention: RetentionArg,
    /// Then rewrite the whole database from its live content (SQLite's VACUUM): once
    /// after upgrading a store written before erasure existed, whose unused page space
    /// may still hold old copies of contacts. Writes wait meanwhile; best with the
    /// server stopped.
    #[arg(long)]
    vacuum: bool,
}

#[derive(Args)]
struct SnapshotArgs {
    #[command(flatten)]
    data: DataDir,
    /// Directory receiving one sub-directory per day (`YYYY-MM-DD/`) and `latest.json`.
    #[arg(long)]
    out: PathBuf,
}

#[derive(Subcommand)]
enum KeysCommand {
    /// Create a key and print it, alone, on stdout (it is shown once: only a digest is stored).
    Create(KeyCreateArgs),
    /// List keys (id, role, name, prefix, created, revoked).
    List(DataDir),
    /// Revoke a key by id.
    Revoke(KeyRevokeArgs),
}

#[derive(Args)]
struct KeyCreateArgs {
    #[command(flatten)]
    data: DataDir,
    /// app (mobile/web client), agent (city service), admin or analyst.
    #[arg(long)]
    role: Role,
    /// Who holds the key, e.g. "DPE" or "App iOS": shown as the author of public notes.
    #[arg(long)]
    name: String,
}

#[derive(Args)]
struct KeyRevokeArgs {
    #[command(flatten)]
    data: DataDir,
    /// The key's id (see `keys list`).
    id: i64,
}

#[derive(Args, Clone)]
struct DataDir {
    /// Directory of the embedded SQLite store and of photo files.
    #[arg(long, env = "CIVICMAP_DATA_DIR", default_value = "./civicmap-data")]
    data_dir: PathBuf,
    /// The store, when not SQLite in the data directory: `postgres://…` (a
    /// PostgreSQL database several instances may share; photos stay under
    /// `--data-dir`, which they must then share too) or `sqlite://<dir>`.
    #[arg(long, env = "CIVICMAP_DATABASE_URL")]
    database_url: Option<String>,
}

impl DataDir {
    async fn open_store(&self) -> Result<Store, civicmap::store::StoreError> {
        Store::open_url(self.database_url.as_deref(), &self.data_dir).await
    }
}

#[derive(Args, Clone)]
struct ServeArgs {
    /// Address to listen on.
    #[arg(long, env = "CIVICMAP_LISTEN", default_value = "127.0.0.1:8080")]
    listen: SocketAddr,
    #[command(flatten)]
    data: DataDir,
    /// Do not load the DansMaRue sample as seed reports on first start (for a real deployment).
    #[arg(long, env = "CIVICMAP_NO_SEED")]
    no_seed: bool,
    /// Share of employees and manual workers among residents aged 15+ above which an IRIS
    /// belongs to the derived working-class layer.
    #[arg(long, default_value_t = DEFAULT_WORKING_CLASS_THRESHOLD)]
    working_class_threshold: f64,
    /// The served area, `minlon,minlat,maxlon,maxlat` (WGS84): reports outside are refused.
    /// Default: Paris with a margin.
    #[arg(long, env = "CIVICMAP_ENVELOPE", value_parser = parse_envelope)]
    envelope: Option<Envelope>,
    /// Base URL holding `maplibre-gl.js` and `maplibre-gl.css` for the map viewer
    /// (an http(s) URL or a path on this server). Default: the public CDN copy of
    /// the pinned MapLibre GL JS release.
    #[arg(long, env = "CIVICMAP_MAPLIBRE_URL", value_parser = civicmap::http::parse_maplibre_url)]
    maplibre_url: Option<String>,
    /// Serve MapLibre GL JS from this local directory (e.g. `node_modules/maplibre-gl/dist`)
    /// at `/viewer/vendor/`, and point the viewer page there instead of `--maplibre-url`.
    #[arg(long, env = "CIVICMAP_MAPLIBRE_DIR", value_parser = civicmap::http::parse_maplibre_dir,
          conflicts_with = "maplibre_url")]
    maplibre_dir: Option<PathBuf>,
    /// Memory for encoded tiles, in MiB (0 turns the tile cache off).
    #[arg(long, env = "CIVICMAP_TILE_CACHE_MB", default_value_t = 256)]
    tile_cache_mb: usize,
    /// Zoom from which reports are drawn as points (below: H3 hexagons).
    #[arg(long, default_value_t = 14, value_parser = clap::value_parser!(u8).range(1..=20))]
    tile_points_min_zoom: u8,
    /// Point tiles holding more reports than this are drawn as hexagons.
    #[arg(long, default_value_t = 5_000, value_parser = clap::value_parser!(u32).range(1..=50_000))]
    tile_max_points: u32,
    /// Accept webhook URLs in plain http (a receiver on this host, tests); otherwise
    /// https is required.
    #[arg(long, env = "CIVICMAP_WEBHOOK_ALLOW_HTTP")]
    webhook_allow_http: bool,
    /// Attempts per event and webhook (backoff 1 s, 2 s, 4 s… at most 60 s) before the
    /// failure is recorded and the webhook moves on to the next event.
    #[arg(long, env = "CIVICMAP_WEBHOOK_MAX_ATTEMPTS",
          default_value_t = civicmap::config::DEFAULT_WEBHOOK_MAX_ATTEMPTS,
          value_parser = clap::value_parser!(u32).range(1..=30))]
    webhook_max_attempts: u32,
    /// Events in a row that failed every attempt after which a webhook is disabled
    /// (0: never).
    #[arg(long, env = "CIVICMAP_WEBHOOK_DISABLE_AFTER",
          default_value_t = civicmap::config::DEFAULT_WEBHOOK_DISABLE_AFTER)]
    webhook_disable_after: u32,
    /// Published statistics (per district, per hexagon, per period) come from at least this
    /// many distinct reporters; smaller counts are rolled up or suppressed (2 to 100).
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u64).range(2..=100))]
    k_anonymity: u64,
    /// Write an open-data snapshot under this directory at start (if today's is
    /// missing), then each day (see `civicmap snapshot`).
    #[arg(long, env = "CIVICMAP_SNAPSHOT_DIR")]
    snapshot_dir: Option<PathBuf>,
    #[command(flatten)]
    limits: LimitArgs,
    #[command(flatten)]
    retention: RetentionArg,
}

/// Abuse limits (see the README's "Limits" section). A quota of 0 is no limit.
#[derive(Args, Clone)]
struct LimitArgs {
    /// Reports filed per minute by one client address (anonymous callers and
    /// app keys; an IPv6 client is its /64).
    #[arg(long, default_value_t = QuotaSet::ADDRESS_DEFAULT.reports_per_minute)]
    address_reports_per_minute: u32,
    /// Reports filed per day by one client address.
    #[arg(long, default_value_t = QuotaSet::ADDRESS_DEFAULT.reports_per_day)]
    address_reports_per_day: u32,
    /// Photo upload requests per minute by one client address.
    #[arg(long, default_value_t = QuotaSet::ADDRESS_DEFAULT.photo_uploads_per_minute)]
    address_photo_uploads_per_minute: u32,
    /// Statistics and export requests per minute by one client address.
    #[arg(long, default_value_t = QuotaSet::ADDRESS_DEFAULT.heavy_reads_per_minute)]
    address_heavy_reads_per_minute: u32,
    /// Geocoding requests per minute by one client address.
    #[arg(long, default_value_t = QuotaSet::ADDRESS_DEFAULT.geocode_per_minute)]
    address_geocode_per_minute: u32,
    /// A quota of every key of a role, `ROLE:QUOTA=N` (repeatable), e.g.
    /// `app:reports_per_minute=20000`; QUOTA is one of the five above without
    /// `address_`. Keys have no quota by default.
    #[arg(long = "key-quota", value_name = "ROLE:QUOTA=N")]
    key_quota: Vec<KeyQuota>,
    /// A reverse proxy whose `X-Forwarded-For` is believed: an address or a
    /// CIDR block (repeatable). Without one, the header is ignored.
    #[arg(long = "trusted-proxy", value_name = "IP|CIDR")]
    trusted_proxy: Vec<Cidr>,
    /// Requests handled at once; more are refused with 503 (0: no limit).
    #[arg(long, default_value_t = civicmap::limits::DEFAULT_MAX_IN_FLIGHT)]
    max_in_flight: usize,
    /// Seconds to the response head before a 503 (0: none).
    #[arg(long, default_value_t = civicmap::limits::DEFAULT_REQUEST_TIMEOUT.as_secs())]
    request_timeout_s: u64,
    /// Seconds a photo upload request may take (0: none).
    #[arg(long, default_value_t = civicmap::limits::DEFAULT_UPLOAD_TIMEOUT.as_secs())]
    upload_timeout_s: u64,
    /// Longest export body, in seconds (0: none); a longer one is cut short.
    #[arg(long, default_value_t = civicmap::limits::DEFAULT_EXPORT_MAX_DURATION.as_secs())]
    export_max_s: u64,
    /// Longest event stream, in seconds (0: none); it then ends and the
    /// client resumes with Last-Event-ID.
    #[arg(long, default_value_t = civicmap::limits::DEFAULT_EVENTS_MAX_DURATION.as_secs())]
    events_max_s: u64,
    /// Largest bbox of a query, in km².
    #[arg(long, default_value_t = civicmap::limits::DEFAULT_MAX_BBOX_KM2)]
    max_bbox_km2: f64,
    /// Reports held beyond which filing answers 503 (reading goes on).
    #[arg(long, default_value_t = civicmap::limits::DEFAULT_MAX_REPORTS)]
    max_reports: usize,
    /// Seconds in-flight requests have after SIGTERM before the process exits anyway.
    #[arg(long, default_value_t = civicmap::limits::DEFAULT_SHUTDOWN_GRACE.as_secs())]
    shutdown_grace_s: u64,
    /// Event streams open at once; one more is refused with 503 (0: no limit).
    #[arg(long, default_value_t = civicmap::limits::DEFAULT_MAX_EVENT_STREAMS)]
    max_event_streams: usize,
    /// Event streams open at once from one client address; one more is
    /// refused with 429 (0: no limit).
    #[arg(long, default_value_t = civicmap::limits::DEFAULT_MAX_EVENT_STREAMS_PER_ADDRESS)]
    max_event_streams_per_address: usize,
    /// Positions of a campaign perimeter or webhook area, over all its rings.
    #[arg(long, default_value_t = civicmap::limits::DEFAULT_MAX_POLYGON_VERTICES)]
    max_polygon_vertices: usize,
    /// Rings (outlines and holes) of a campaign perimeter or webhook area.
    #[arg(long, default_value_t = civicmap::limits::DEFAULT_MAX_POLYGON_RINGS)]
    max_polygon_rings: usize,
}

impl LimitArgs {
    fn limits(self) -> Result<Limits, BootError> {
        if self.max_bbox_km2.is_nan() || self.max_bbox_km2 <= 0.0 {
            return Err(BootError::Invalid("--max-bbox-km2 must be positive".into()));
        }
        let mut limits = Limits {
            per_address: QuotaSet {
                reports_per_minute: self.address_reports_per_minute,
                reports_per_day: self.address_reports_per_day,
                photo_uploads_per_minute: self.address_photo_uploads_per_minute,
                heavy_reads_per_minute: self.address_heavy_reads_per_minute,
                geocode_per_minute: self.address_geocode_per_minute,
            },
            trusted_proxies: self.trusted_proxy,
            max_in_flight: self.max_in_flight,
            request_timeout: Duration::from_secs(self.request_timeout_s),
            upload_timeout: Duration::from_secs(self.upload_timeout_s),
            export_max_duration: Duration::from_secs(self.export_max_s),
            events_max_duration: Duration::from_secs(self.events_max_s),
            max_bbox_km2: self.max_bbox_km2,
            max_reports: self.max_reports,
            shutdown_grace: Duration::from_secs(self.shutdown_grace_s),
            max_event_streams: self.max_event_streams,
            max_event_streams_per_address: self.max_event_streams_per_address,
            polygon: PolygonBounds {
                max_vertices: self.max_polygon_vertices,
                max_rings: self.max_polygon_rings,
            },
            ..Limits::default()
        };
        for q in &self.key_quota {
            limits.set_key_quota(q);
        }
        Ok(limits)
    }
}

#[derive(Args, Clone)]
struct RetentionArg {
    /// Days a reporter's contact is kept after filing; then it is erased with its
    /// pseudonym (checked at start and every hour). 0: kept until erased on request.
    #[arg(long, env = "CIVICMAP_CONTACT_RETENTION_DAYS",
          default_value_t = civicmap::config::DEFAULT_CONTACT_RETENTION_DAYS)]
    contact_retention_days: u32,
}

fn parse_envelope(s: &str) -> Result<Envelope, String> {
    let v: Vec<f64> = s
        .split(',')
        .map(|p| {
            p.trim()
                .parse::<f64>()
                .map_err(|_| format!("{p:?} is not a number"))
        })
        .collect::<Result<_, _>>()?;
    let [a, b, c, d] = v[..] else {
        return Err("expected minlon,minlat,maxlon,maxlat".into());
    };
    Envelope::new(a, b, c, d).map_err(|e| e.to_string())
}

#[derive(Subcommand)]
enum ImportCommand {
    /// A perimeter layer from a GeoJSON FeatureCollection (e.g. the official QPV file of ANCT).
    Perimeters(PerimeterArgs),
    /// Reports from a DansMaRue CSV export.
    Reports(FileArgs),
    /// Participatory-budget winners from the city's CSV export.
    Projects(FileArgs),
}

#[derive(Args)]
struct FileArgs {
    #[command(flatten)]
    data: DataDir,
    /// The file to import.
    file: PathBuf,
}

#[derive(Args)]
struct PerimeterArgs {
    #[command(flatten)]
    data: DataDir,
    /// Layer: arrondissement, quartier, conseil_quartier, iris or working_class.
    #[arg(long)]
    layer: Layer,
    /// Version name, e.g. 2024.
    #[arg(long)]
    version: String,
    /// First day the perimeters apply (YYYY-MM-DD); open-ended if omitted.
    #[arg(long)]
    valid_from: Option<String>,
    /// First day they no longer apply (YYYY-MM-DD); open-ended if omitted.
    #[arg(long)]
    valid_to: Option<String>,
    /// Feature property holding the district code.
    #[arg(long)]
    code_property: String,
    /// Feature property holding the district name.
    #[arg(long)]
    name_property: String,
    /// Publisher and licence, for attribution.
    #[arg(long)]
    source: String,
    /// The official perimeters (as opposed to derived ones).
    #[arg(long)]
    official: bool,
    file: PathBuf,
}

#[derive(Args)]
struct GenerateArgs {
    /// Number of reports.
    #[arg(long)]
    reports: u64,
    /// Random seed (the same seed gives the same set).
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Output CSV file ("-" for standard output).
    #[arg(long, default_value = "-")]
    out: PathBuf,
}

fn main() -> ExitCode {
    fix_c_allocator_thresholds();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "info,sqlx=warn,tower_http=info".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async move {
        match cli.command {
            None => serve(cli.serve).await,
            Some(Command::Serve(args)) => serve(args).await,
            Some(Command::Import(cmd)) => import(cmd).await,
            Some(Command::Generate(args)) => generate(&args),
            Some(Command::Keys(cmd)) => keys(cmd).await,
            Some(Command::Snapshot(args)) => snapshot(args).await,
            Some(Command::Privacy(PrivacyCommand::Purge(args))) => purge(args).await,
            Some(Command::MigrateStore(args)) => migrate_store(args).await,
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn serve(args: ServeArgs) -> Result<(), BootError> {
    let mut config = Config::new(args.data.data_dir);
    config.database_url = args.data.database_url;
    config.listen = args.listen;
    config.seed_reports = !args.no_seed;
    config.working_class_threshold = args.working_class_threshold;
    if let Some(envelope) = args.envelope {
        config.envelope = envelope;
    }
    if let Some(url) = args.maplibre_url {
        config.maplibre_url = url;
    }
    config.maplibre_dir = args.maplibre_dir;
    config.tile_cache_bytes = args.tile_cache_mb.saturating_mul(1 << 20);
    config.tiles.points_min_zoom = args.tile_points_min_zoom;
    config.tiles.max_points = args.tile_max_points as usize;
    config.webhook_allow_http = args.webhook_allow_http;
    config.webhook_max_attempts = args.webhook_max_attempts;
    config.webhook_disable_after = args.webhook_disable_after;
    config.k_anonymity = usize::try_from(args.k_anonymity).unwrap_or(config.k_anonymity);
    config.limits = args.limits.limits()?;
    config.contact_retention_days = args.retention.contact_retention_days;
    let app = Arc::new(boot::open(config.clone()).await?);
    // Before serving: the temporary files of uploads a crash cut off.
    match civicmap::service::sweep_partial_uploads(&config.data_dir) {
        Ok(0) => {}
        Ok(n) => tracing::info!(files = n, "partial photo uploads removed"),
        Err(e) => tracing::warn!(error = %e, "partial photo uploads not swept"),
    }
    release_free_memory();
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .map_err(|e| BootError::Invalid(format!("cannot listen on {}: {e}", config.listen)))?;
    if let Some(dir) = args.snapshot_dir {
        civicmap::service::snapshot::spawn_daily(&app, dir);
    }
    civicmap::service::privacy::spawn_retention(&app);
    tracing::info!(listen = %config.listen, "serving");
    let (router, guard) = civicmap::http::serving(app);
    // On SIGTERM (or Ctrl-C): stop accepting, end the event streams, let
    // the requests in flight complete (every filing answered has been
    // committed by then), but not for longer than the grace.
    let (stopping, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = axum::serve(
        listener,
        router.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(async move {
        shutdown_signal().await;
        guard.start_draining();
        let _ = stopping.send(());
    });
    let grace = config.limits.shutdown_grace;
    let overrun = async move {
        if stopped.await.is_err() {
            std::future::pending::<()>().await;
        }
        tokio::time::sleep(grace).await;
    };
    tokio::select! {
        served = std::future::IntoFuture::into_future(server) => {
            served.map_err(|e| BootError::Invalid(format!("server failed: {e}")))?;
            tracing::info!("stopped: every request answered");
        }
        () = overrun => {
            tracing::warn!(grace_s = grace.as_secs(), "stopped: requests still in flight after the grace");
        }
    }
    Ok(())
}

/// Hands the allocators' free pages back to the OS. Building the index
/// peaks at about twice its final size (the leaves are sorted and copied
/// into the tree); mimalloc would otherwise keep those pages until later
/// allocations on this thread trigger its purge, which an idle server may
/// never do. SQLite allocates through the C allocator: the page-cache
/// entries of the boot scan, released by the store after the scan
/// (`PRAGMA shrink_memory`), stay in glibc's arenas until trimmed.
#[allow(unsafe_code)]
fn release_free_memory() {
    // SAFETY: `mi_collect` takes no pointer and may be called at any time
    // from any thread; it only frees pages that hold no live block.
    unsafe { libmimalloc_sys::mi_collect(true) }
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: `malloc_trim` takes a byte count and only returns free
    // memory of glibc's arenas to the OS; it is thread-safe.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// Fixes glibc's thresholds, which SQLite's allocations go through. By
/// default glibc raises its mmap threshold each time a large block is freed
/// (up to 32 MiB) and its trim threshold to twice that: after the boot scan
/// (SQLite hands each page of rows over as one large string) every reader
/// thread's arena kept a top of 10–14 MiB free but resident, about 50 MB at
/// 1M reports (BENCHMARKS.md §21). Fixed thresholds keep large blocks in
/// their own mappings, unmapped when freed, and trim arenas past 1 MiB.
#[allow(unsafe_code)]
fn fix_c_allocator_thresholds() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: `mallopt` only sets allocator parameters; called first in
    // `main`, before any thread starts.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 256 * 1024);
        libc::mallopt(libc::M_TRIM_THRESHOLD, 1024 * 1024);
    }
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        if let Ok(mut s) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        {
            s.recv().await;
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { () = ctrl_c => {}, () = term => {} }
    tracing::info!("shutting down: finishing in-flight requests");
}

async fn snapshot(args: SnapshotArgs) -> Result<(), BootError> {
    let mut config = Config::new(args.data.data_dir);
    config.database_url = args.data.database_url;
    config.seed_reports = false;
    let app = Arc::new(boot::open(config).await?);
    let (manifest, dir) = civicmap::service::snapshot::write_snapshot(
        &app,
        &args.out,
        time::OffsetDateTime::now_utc(),
    )
    .await
    .map_err(|e| BootError::Invalid(e.to_string()))?;
    for d in &manifest.distributions {
        println!("{}\t{} rows\t{} bytes", d.name, d.rows, d.bytes);
    }
    eprintln!(
        "wrote the snapshot of {} in {}",
        manifest.issued,
        dir.display()
    );
    Ok(())
}

async fn purge(args: PurgeArgs) -> Result<(), BootError> {
    use civicmap::service::privacy::{Purged, purge_contacts, retention_cutoff_ms};
    let days = args.retention.contact_retention_days;
    if days == 0 && !args.vacuum {
        return Err(BootError::Invalid(
            "--contact-retention-days 0 keeps contacts: nothing to purge".into(),
        ));
    }
    let store = args.data.open_store().await?;
    let mut purged = Purged::default();
    if days > 0 {
        let now = time::OffsetDateTime::now_utc();
        let before = retention_cutoff_ms(now, days);
        let at = civicmap::service::unix_ms(now);
        purged = purge_contacts(&store, before, at, |_| {}).await?;
        println!(
            "erased the contacts of {} reports filed more than {days} days ago",
            purged.reports
        );
    }
    if args.vacuum {
        purged.log_truncated = store.vacuum().await?;
        println!("database rewritten");
    }
    if !purged.log_truncated {
        eprintln!(
            "warning: another process kept the write-ahead log busy: the erased values stay \
             in it until its next complete checkpoint"
        );
    }
    Ok(())
}

async fn migrate_store(args: MigrateStoreArgs) -> Result<(), BootError> {
    use civicmap::store::migrate::{self, Progress};
    let failed = |e: migrate::MigrateError| BootError::Invalid(e.to_string());
    let source = migrate::open_source(&args.from).await.map_err(failed)?;
    let target = migrate::open_target(&args.to).await.map_err(failed)?;
    let started = std::time::Instant::now();
    let mut current: Option<ProgressBar> = None;
    let migrated = source
        .migrate_to(&target, args.page_rows, |p| match p {
            Progress::Table { table, rows } => {
                if let Some(pb) = current.take() {
                    pb.finish();
                }
                current = Some(if args.quiet {
                    ProgressBar::hidden()
                } else {
                    bar(rows, table)
                });
            }
            Progress::Copied { done, .. } => {
                if let Some(pb) = &current {
                    pb.set_position(done);
                }
            }
            Progress::Verifying => {
                if let Some(pb) = current.take() {
                    pb.finish();
                }
            }
        })
        .await
        .map_err(failed)?;
    let seconds = started.elapsed().as_secs_f64();
    source.close().await;
    target.close().await;

    println!(
        "{:<20} {:<22} {:>12} {:>12}",
        "table", "check", "source", "target"
    );
    for c in &migrated.checks {
        println!(
            "{:<20} {:<22} {:>12} {:>12}  {}",
            c.table,
            c.check.to_string(),
            c.source,
            c.target,
            if c.agrees() { "ok" } else { "DIFFERS" }
        );
    }
    let rows: i64 = migrated
        .checks
        .iter()
        .filter(|c| c.check == migrate::Check::Rows)
        .map(|c| c.source)
        .sum();
    eprintln!(
        "copied {rows} rows in {seconds:.1} s ({:.0} rows/s)",
        rows as f64 / seconds.max(1e-9)
    );
    if migrated.photos > 0 {
        let dir = args.from.strip_prefix("sqlite://").unwrap_or(&args.from);
        println!(
            "photos: {} photo rows copied; their files are not in the database: copy {} \
             into the --data-dir of every instance serving the new store (or share one \
             directory between them)",
            migrated.photos,
            std::path::Path::new(dir)
                .join(civicmap::service::PHOTOS_DIR)
                .display()
        );
    }
    if !migrated.verified() {
        let n = migrated.differences().count();
        return Err(BootError::Invalid(format!(
            "verification failed: {n} checks differ between the source and the target"
        )));
    }
    println!("verified: every table has the same rows on both sides");
    Ok(())
}

fn bar(len: u64, what: &str) -> ProgressBar {
    let pb = ProgressBar::new(len);
    pb.set_style(
        ProgressStyle::with_template("{msg:>10} [{bar:40}] {pos}/{len} ({per_sec}, {eta})")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    pb.set_message(what.to_owned());
    pb
}

fn print_rejections(rejected: &[reference::Rejected]) {
    if rejected.is_empty() {
        return;
    }
    eprintln!("rejected {} rows:", rejected.len());
    let mut reasons: std::collections::BTreeMap<&str, (usize, u64)> =
        std::collections::BTreeMap::new();
    for r in rejected {
        let e = reasons.entry(r.reason.as_str()).or_insert((0, r.line));
        e.0 += 1;
    }
    for (reason, (n, first)) in reasons.iter().take(20) {
        eprintln!("  {n:>7} × {reason} (first at line {first})");
    }
}

async fn keys(cmd: KeysCommand) -> Result<(), BootError> {
    use civicmap::service::create_key;
    let ms = |t: i64| {
        civicmap::service::from_unix_ms(t)
            .and_then(|t| {
                t.format(&time::format_description::well_known::Rfc3339)
                    .ok()
            })
            .unwrap_or_default()
    };
    match cmd {
        KeysCommand::Create(args) => {
            let store = args.data.open_store().await?;
            let (row, secret) = create_key(&store, &args.name, args.role).await?;
            eprintln!(
                "created key {} ({}, role {}): keep it now, it is not shown again",
                row.id, row.name, row.role
            );
            println!("{secret}");
        }
        KeysCommand::List(data) => {
            let store = data.open_store().await?;
            for k in store.keys().await? {
                println!(
                    "{}\t{}\t{}\t{}…\t{}\t{}",
                    k.id,
                    k.role,
                    k.name,
                    k.prefix,
                    ms(k.created_at_ms),
                    k.revoked_at_ms
                        .map_or_else(|| "active".to_owned(), |t| format!("revoked {}", ms(t)))
                );
            }
        }
        KeysCommand::Revoke(args) => {
            let store = args.data.open_store().await?;
            let now = civicmap::service::unix_ms(time::OffsetDateTime::now_utc());
            if !store.revoke_key(args.id, now).await? {
                return Err(BootError::Invalid(format!("no active key {}", args.id)));
            }
            eprintln!("revoked key {}", args.id);
        }
    }
    Ok(())
}

async fn import(cmd: ImportCommand) -> Result<(), BootError> {
    let read = |p: &PathBuf| {
        std::fs::read(p)
            .map_err(|e| BootError::Invalid(format!("cannot read {}: {e}", p.display())))
    };
    match cmd {
        ImportCommand::Reports(args) => {
            // The whole file is parsed first: a damaged one is refused
            // before the store is even opened.
            let (records, mut rejected) = reference::parse_dansmarue(&read(&args.file)?)?;
            let store = args.data.open_store().await?;
            let reference = boot::load_reference(&store, DEFAULT_WORKING_CLASS_THRESHOLD).await?;
            let pb = bar(records.len() as u64, "reports");
            let s = boot::import_dansmarue(&store, &reference, records, false, |n| {
                pb.set_position(n as u64)
            })
            .await?;
            pb.finish();
            rejected.extend(s.rejected);
            println!(
                "imported {} reports, {} already present, {} rejected",
                s.imported,
                s.already_present,
                rejected.len()
            );
            print_rejections(&rejected);
        }
        ImportCommand::Projects(args) => {
            let (raw, rejected) = reference::parse_projects(&read(&args.file)?)?;
            let store = args.data.open_store().await?;
            let reference = boot::load_reference(&store, DEFAULT_WORKING_CLASS_THRESHOLD).await?;
            let pb = bar(raw.len() as u64, "projects");
            let s = boot::import_projects(&store, &reference, raw).await?;
            pb.finish();
            println!(
                "imported {} projects, {} located by their address ({:.1} %), {} rejected",
                s.imported,
                s.located,
                100.0 * s.located as f64 / s.imported.max(1) as f64,
                rejected.len()
            );
            print_rejections(&rejected);
        }
        ImportCommand::Perimeters(args) => {
            let bytes = read(&args.file)?;
            // Names the line of the first byte that is not UTF-8.
            reference::utf8_text("perimeter GeoJSON", &bytes)?;
            let text = String::from_utf8(bytes)
                .map_err(|_| BootError::Invalid("the GeoJSON file is not UTF-8".into()))?;
            let store = args.data.open_store().await?;
            let row = LayerRow {
                layer: args.layer.as_str().to_owned(),
                version: args.version,
                source: args.source,
                official: args.official,
                valid_from: args.valid_from,
                valid_to: args.valid_to,
                code_property: args.code_property,
                name_property: args.name_property,
                geojson: text,
                imported_at_ms: civicmap::service::unix_ms(time::OffsetDateTime::now_utc()),
            };
            // Validate fully (GeoJSON, codes, dates) before anything is stored.
            let spec = boot::layer_spec(&row)?;
            let mut check = civicmap::districts::DistrictRegistry::default();
            let version = check.add_layer_geojson(&spec, &row.geojson)?;
            let count = check
                .layer_version(version)
                .map_or(0, civicmap::districts::LayerVersion::len);
            store.save_layer(row).await?;
            let reference = boot::load_reference(&store, DEFAULT_WORKING_CLASS_THRESHOLD).await?;
            let pb = ProgressBar::new_spinner();
            pb.set_message("re-attributing stored reports and projects");
            let (reports, projects) = boot::reattribute(&store, &reference, args.layer).await?;
            pb.finish_and_clear();
            println!(
                "imported layer {} version {} ({count} districts); re-attributed {reports} reports and {projects} projects",
                args.layer, spec.version
            );
        }
    }
    Ok(())
}

fn generate(args: &GenerateArgs) -> Result<(), BootError> {
    let (sample, _) = reference::parse_dansmarue(reference::DANSMARUE_SAMPLE_CSV)?;
    let generator = civicmap::generate::Generator::new(&sample, args.seed, PARIS_ENVELOPE)
        .ok_or_else(|| BootError::Invalid("empty sample".into()))?;
    let records = generator.take(usize::try_from(args.reports).unwrap_or(usize::MAX));
    let io = |e: std::io::Error| BootError::Invalid(format!("cannot write: {e}"));
    let n = if args.out.as_os_str() == "-" {
        civicmap::generate::write_csv(BufWriter::new(std::io::stdout().lock()), records)
            .map_err(io)?
    } else {
        let f = std::fs::File::create(&args.out).map_err(io)?;
        civicmap::generate::write_csv(BufWriter::new(f), records).map_err(io)?
    };
    eprintln!("wrote {n} synthetic reports (seed {})", args.seed);
    Ok(())
}
