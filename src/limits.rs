//! Abuse limits, the pure core: rate quotas keyed by client address or API
//! key (GCRA, bounded memory), the client address behind trusted proxies,
//! and the limits' configuration. No IO, no clock of its own (callers pass
//! the time), no HTTP: `http::limits` is the edge that applies them.
//!
//! Hand-written rather than the `governor` crate: the table of a keyed
//! limiter here has a hard bound on the keys it tracks (governor's keyed
//! store grows until `retain_recent` is called), idle entries are dropped
//! exactly (an entry whose theoretical arrival time has passed carries no
//! information), and a denial can be undone when a second quota of the same
//! request refuses it. The algorithm is ~60 lines.

use std::collections::HashMap;
use std::hash::Hash;
use std::net::IpAddr;
use std::str::FromStr;
use std::sync::Mutex;
use std::time::Duration;

use crate::model::Role;

/// A quota: at most `count` events per `per`, as a burst or spread out
/// (GCRA: one event every `per / count`, with a burst of `count`). A
/// `count` of 0 is no limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rate {
    pub count: u32,
    pub per: Duration,
}

impl Rate {
    const MINUTE: Duration = Duration::from_secs(60);
    const DAY: Duration = Duration::from_secs(86_400);

    #[must_use]
    pub const fn per_minute(count: u32) -> Self {
        Self {
            count,
            per: Self::MINUTE,
        }
    }

    #[must_use]
    pub const fn per_day(count: u32) -> Self {
        Self {
            count,
            per: Self::DAY,
        }
    }
}

/// A refusal: the quota named by `what` is used up; one more event is
/// admitted after `retry_after`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Denied {
    pub what: Quota,
    pub rate: Rate,
    pub retry_after: Duration,
}

impl Denied {
    /// `Retry-After` in whole seconds, rounded up, at least 1.
    #[must_use]
    pub fn retry_after_s(&self) -> u64 {
        let s = self.retry_after.as_secs() + u64::from(self.retry_after.subsec_nanos() > 0);
        s.max(1)
    }
}

/// The generic cell rate algorithm of one rate, in a time unit of the
/// caller's choice (nanoseconds in memory, microseconds in the store): the
/// arithmetic both the in-memory [`KeyedLimiter`] and the store-backed
/// quotas apply (the store's SQL writes the same inequality).
///
/// A key's state is its theoretical arrival time (TAT; 0 for a key never
/// seen): an event at `now` is admitted iff `max(tat, now) + interval - now
/// <= per`, and then moves the TAT to `max(tat, now) + interval`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Gcra {
    /// `per / count`, at least 1.
    pub interval: u64,
    /// The rate's period.
    pub per: u64,
}

impl Gcra {
    /// The GCRA of `rate` counted in units of `unit`; `None` for a rate
    /// without limit (count 0).
    ///
    /// ```
    /// # use std::time::Duration;
    /// # use civicmap::limits::{Gcra, Rate};
    /// let g = Gcra::new(Rate::per_minute(3), Duration::from_micros(1)).unwrap();
    /// assert_eq!((g.interval, g.per), (20_000_000, 60_000_000));
    /// ```
    #[must_use]
    pub fn new(rate: Rate, unit: Duration) -> Option<Self> {
        if rate.count == 0 {
            return None;
        }
        let per = rate.per.as_nanos() / unit.as_nanos().max(1);
        let per = u64::try_from(per).unwrap_or(u64::MAX);
        Some(Self {
            interval: (per / u64::from(rate.count)).max(1),
            per,
        })
    }

    /// Admits an event at `now` of a key whose TAT is `tat`.
    ///
    /// # Errors
    /// The wait until one more event is admitted (in the unit), when the
    /// key's quota is used up.
    pub fn admit(&self, tat: u64, now: u64) -> Result<u64, u64> {
        let next = tat.max(now).saturating_add(self.interval);
        if next - now > self.per {
            Err(next - now - self.per)
        } else {
            Ok(next)
        }
    }
}

/// One GCRA limiter keyed by `K`, holding at most `capacity` keys.
///
/// Each key holds its theoretical arrival time (TAT): an event at `t` is
/// admitted iff `max(tat, t) + interval - t <= per`, and then moves the TAT
/// by one interval. A key whose TAT is in the past is in the same state as
/// an unknown key, so it is dropped when room is needed; if every tracked
/// key is active, the one closest to idle is dropped (it gets back at most
/// the little quota it had not yet recovered).
#[derive(Debug)]
pub struct KeyedLimiter<K> {
    /// In nanoseconds.
    gcra: Gcra,
    rate: Rate,
    shards: Box<[Mutex<HashMap<K, u64>>]>,
    shard_capacity: usize,
    /// Picks a key's shard (random per limiter: a client cannot aim all
    /// its keys at one shard).
    hasher: std::collections::hash_map::RandomState,
}

const SHARDS: usize = 16;

impl<K: Hash + Eq + Clone> KeyedLimiter<K> {
    /// `None` for a rate without limit (count 0).
    #[must_use]
    pub fn new(rate: Rate, capacity: usize) -> Option<Self> {
        Some(Self {
            gcra: Gcra::new(rate, Duration::from_nanos(1))?,
            rate,
            shards: (0..SHARDS).map(|_| Mutex::new(HashMap::new())).collect(),
            shard_capacity: capacity.div_ceil(SHARDS).max(1),
            hasher: std::collections::hash_map::RandomState::new(),
        })
    }

    fn shard(&self, key: &K) -> &Mutex<HashMap<K, u64>> {
        use std::hash::BuildHasher;
        let h = self.hasher.hash_one(key);
        &self.shards[(h % SHARDS as u64) as usize]
    }

    /// Admits one event of `key` at `now` (time since any fixed origin,
    /// the same for every call), or says how long to wait.
    ///
    /// # Errors
    /// [`Denied`] (with `what` set to `quota`) when the key's quota is used up.
    pub fn check(&self, key: &K, now: Duration, quota: Quota) -> Result<(), Denied> {
        let now = u64::try_from(now.as_nanos()).unwrap_or(u64::MAX);
        let mut map = self
            .shard(key)
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let next = self
            .gcra
            .admit(map.get(key).copied().unwrap_or(0), now)
            .map_err(|wait| Denied {
                what: quota,
                rate: self.rate,
                retry_after: Duration::from_nanos(wait),
            })?;
        if !map.contains_key(key) && map.len() >= self.shard_capacity {
            map.retain(|_, t| *t > now);
            if map.len() >= self.shard_capacity
                && let Some(oldest) = map.iter().min_by_key(|(_, t)| **t).map(|(k, _)| k.clone())
            {
                map.remove(&oldest);
            }
        }
        map.insert(key.clone(), next);
        Ok(())
    }

    /// Gives back the event admitted last for `key` (another quota of the
    /// same request refused it).
    pub fn refund(&self, key: &K) {
        let mut map = self
            .shard(key)
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(t) = map.get_mut(key) {
            *t = t.saturating_sub(self.gcra.interval);
        }
    }

    /// Keys tracked now (idle ones included until room is needed).
    #[must_use]
    pub fn tracked(&self) -> usize {
        self.shards
            .iter()
            .map(|s| s.lock().map_or(0, |m| m.len()))
            .sum()
    }
}

/// What a request spends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Quota {
    /// A report filed (`POST /api/v1/reports`, Open311 `POST requests`):
    /// spends from both the per-minute and the per-day quota.
    Report,
    /// A photo upload request (up to three photos).
    PhotoUpload,
    /// A statistics or export request.
    HeavyRead,
    /// A forward or reverse geocoding request.
    Geocode,
}

impl Quota {
    /// Its name in the store's quota table.
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Quota::Report => "report",
            Quota::PhotoUpload => "photo_upload",
            Quota::HeavyRead => "heavy_read",
            Quota::Geocode => "geocode",
        }
    }

    #[must_use]
    pub fn describe(self) -> &'static str {
        match self {
            Quota::Report => "reports filed",
            Quota::PhotoUpload => "photo uploads",
            Quota::HeavyRead => "statistics and export requests",
            Quota::Geocode => "geocoding requests",
        }
    }
}

/// The quotas of one client (an address, or a key): events per period, 0
/// for no limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QuotaSet {
    pub reports_per_minute: u32,
    pub reports_per_day: u32,
    pub photo_uploads_per_minute: u32,
    pub heavy_reads_per_minute: u32,
    pub geocode_per_minute: u32,
}

impl QuotaSet {
    /// No limit at all.
    pub const UNLIMITED: QuotaSet = QuotaSet {
        reports_per_minute: 0,
        reports_per_day: 0,
        photo_uploads_per_minute: 0,
        heavy_reads_per_minute: 0,
        geocode_per_minute: 0,
    };

    /// The default quotas of one client address (anonymous callers and app
    /// keys): generous for a household or a mobile carrier's shared
    /// address, far below what a script sends.
    pub const ADDRESS_DEFAULT: QuotaSet = QuotaSet {
        reports_per_minute: 20,
        reports_per_day: 500,
        photo_uploads_per_minute: 10,
        heavy_reads_per_minute: 60,
        geocode_per_minute: 300,
    };

    /// Sets one quota by its name (`reports_per_minute`…).
    ///
    /// # Errors
    /// The names known, when `name` is not one.
    pub fn set(&mut self, name: &str, value: u32) -> Result<(), String> {
        let slot = match name {
            "reports_per_minute" => &mut self.reports_per_minute,
            "reports_per_day" => &mut self.reports_per_day,
            "photo_uploads_per_minute" => &mut self.photo_uploads_per_minute,
            "heavy_reads_per_minute" => &mut self.heavy_reads_per_minute,
            "geocode_per_minute" => &mut self.geocode_per_minute,
            _ => {
                return Err(format!(
                    "unknown quota {name:?}: expected reports_per_minute, reports_per_day, \
                     photo_uploads_per_minute, heavy_reads_per_minute or geocode_per_minute"
                ));
            }
        };
        *slot = value;
        Ok(())
    }

    fn rates(&self, quota: Quota) -> [Rate; 2] {
        match quota {
            Quota::Report => [
                Rate::per_minute(self.reports_per_minute),
                Rate::per_day(self.reports_per_day),
            ],
            Quota::PhotoUpload => [Rate::per_minute(self.photo_uploads_per_minute); 2],
            Quota::HeavyRead => [Rate::per_minute(self.heavy_reads_per_minute); 2],
            Quota::Geocode => [Rate::per_minute(self.geocode_per_minute); 2],
        }
    }
}

/// One per-key quota of the command line: `ROLE:QUOTA=N`, e.g.
/// `app:reports_per_minute=20000`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyQuota {
    pub role: Role,
    pub name: String,
    pub value: u32,
}

impl FromStr for KeyQuota {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let bad =
            || format!("expected ROLE:QUOTA=N (e.g. app:reports_per_minute=20000), got {s:?}");
        let (role, rest) = s.split_once(':').ok_or_else(bad)?;
        let (name, value) = rest.split_once('=').ok_or_else(bad)?;
        let role = role.trim().parse::<Role>().map_err(|e| e.to_string())?;
        let value = value.trim().parse::<u32>().map_err(|_| bad())?;
        let mut known = QuotaSet::UNLIMITED;
        known.set(name.trim(), value)?;
        Ok(Self {
            role,
            name: name.trim().to_owned(),
            value,
        })
    }
}

/// Every abuse limit of `civicmap serve` (`Config::limits`).
#[derive(Debug, Clone)]
pub struct Limits {
    /// Quotas of each client address, for anonymous callers and `app` keys
    /// (an app key is shared by all the residents using the app: the
    /// address is what tells a device from another).
    pub per_address: QuotaSet,
    /// Quotas of each key, by role (`Role::ALL` order). Unlimited by
    /// default: the city's own services are trusted, and an app key's
    /// residents are limited by address.
    pub per_key: [QuotaSet; 4],
    /// Peers whose `X-Forwarded-For` is believed.
    pub trusted_proxies: Vec<Cidr>,
    /// Keys (addresses or API keys) tracked per quota; beyond, idle ones
    /// are forgotten first.
    pub max_tracked: usize,
    /// Requests handled at once; more are refused with 503 (0: no limit).
    pub max_in_flight: usize,
    /// Time to the response head (0: none); photo uploads get
    /// `upload_timeout` (slow mobile networks).
    pub request_timeout: Duration,
    pub upload_timeout: Duration,
    /// Longest export body and event stream (0: none).
    pub export_max_duration: Duration,
    pub events_max_duration: Duration,
    /// Largest `bbox` of a list, export, statistics or event query, in km².
    pub max_bbox_km2: f64,
    /// Reports held beyond which filing answers 503 (reads go on).
    pub max_reports: usize,
    /// After SIGTERM, how long in-flight requests have to complete before
    /// the process exits anyway.
    pub shutdown_grace: Duration,
    /// Event streams open at once, in all (503 beyond) and from one client
    /// address (429 beyond); 0: no limit.
    pub max_event_streams: usize,
    pub max_event_streams_per_address: usize,
    /// Bounds of a polygon a client sends (campaign perimeters, webhook
    /// areas): positions over all its rings, and rings over all its polygons.
    pub polygon: PolygonBounds,
}

/// Bounds of a client's GeoJSON Polygon or MultiPolygon.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PolygonBounds {
    /// Positions over every ring (a closed ring repeats its first one).
    pub max_vertices: usize,
    /// Rings (exteriors and holes) over every polygon.
    pub max_rings: usize,
}

/// Default positions of a client's polygon.
pub const DEFAULT_MAX_POLYGON_VERTICES: usize = 10_000;
/// Default rings of a client's polygon.
pub const DEFAULT_MAX_POLYGON_RINGS: usize = 100;

/// A refusal (as [`Denied`] is): a client's polygon passes a bound.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PolygonTooLarge {
    Vertices { found: usize, max: usize },
    Rings { found: usize, max: usize },
}

impl std::fmt::Display for PolygonTooLarge {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (found, what, max) = match *self {
            Self::Vertices { found, max } => (found, "positions", max),
            Self::Rings { found, max } => (found, "rings", max),
        };
        write!(
            f,
            "{found} {what}, at most {max} are accepted: simplify the polygon"
        )
    }
}

impl PolygonBounds {
    /// Checks a polygon given as its rings' lengths (positions per ring).
    ///
    /// # Errors
    /// [`PolygonTooLarge`] naming the bound passed.
    pub fn check(
        &self,
        ring_lengths: impl IntoIterator<Item = usize>,
    ) -> Result<(), PolygonTooLarge> {
        let (mut rings, mut vertices) = (0_usize, 0_usize);
        for n in ring_lengths {
            rings += 1;
            vertices = vertices.saturating_add(n);
        }
        if rings > self.max_rings {
            return Err(PolygonTooLarge::Rings {
                found: rings,
                max: self.max_rings,
            });
        }
        if vertices > self.max_vertices {
            return Err(PolygonTooLarge::Vertices {
                found: vertices,
                max: self.max_vertices,
            });
        }
        Ok(())
    }
}

/// Default event streams open at once (each holds a connection and a
/// broadcast receiver).
pub const DEFAULT_MAX_EVENT_STREAMS: usize = 1_000;
/// Default event streams open at once from one client address (a few tabs
/// of a back office).
pub const DEFAULT_MAX_EVENT_STREAMS_PER_ADDRESS: usize = 8;

/// The event streams open at once, in all and per client address. A place
/// is taken by [`OpenStreams::open`] and given back when its
/// [`StreamPlace`] is dropped (the body stream holds it).
#[derive(Debug)]
pub struct OpenStreams {
    max_total: usize,
    max_per_address: usize,
    /// Streams open, and those of each address that has one.
    open: Mutex<(usize, HashMap<AddrKey, usize>)>,
}

/// Why a new stream is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StreamRefused {
    /// The server holds its maximum of streams.
    Total { max: usize },
    /// The client address holds its maximum.
    PerAddress { max: usize },
}

/// One open stream's place; dropping it frees the place.
#[derive(Debug)]
pub struct StreamPlace {
    streams: std::sync::Arc<OpenStreams>,
    address: Option<AddrKey>,
}

impl OpenStreams {
    /// Counts streams up to these maxima (0: no limit).
    #[must_use]
    pub fn new(max_total: usize, max_per_address: usize) -> Self {
        Self {
            max_total,
            max_per_address,
            open: Mutex::new((0, HashMap::new())),
        }
    }

    /// Takes a place for a stream of `address` (`None`: unknown, counted in
    /// the total only).
    ///
    /// # Errors
    /// [`StreamRefused`] when the total or the address's streams are at
    /// their maximum; nothing is taken then.
    pub fn open(
        self: &std::sync::Arc<Self>,
        address: Option<AddrKey>,
    ) -> Result<StreamPlace, StreamRefused> {
        let mut open = self
            .open
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let (total, by_address) = &mut *open;
        if self.max_total > 0 && *total >= self.max_total {
            return Err(StreamRefused::Total {
                max: self.max_total,
            });
        }
        if let Some(a) = address {
            let n = by_address.entry(a).or_insert(0);
            if self.max_per_address > 0 && *n >= self.max_per_address {
                return Err(StreamRefused::PerAddress {
                    max: self.max_per_address,
                });
            }
            *n += 1;
        }
        *total += 1;
        Ok(StreamPlace {
            streams: std::sync::Arc::clone(self),
            address,
        })
    }

    /// Streams open now.
    #[must_use]
    pub fn count(&self) -> usize {
        self.open
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .0
    }
}

impl Drop for StreamPlace {
    fn drop(&mut self) {
        let mut open = self
            .streams
            .open
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let (total, by_address) = &mut *open;
        *total = total.saturating_sub(1);
        if let Some(a) = self.address
            && let Some(n) = by_address.get_mut(&a)
        {
            *n -= 1;
            if *n == 0 {
                by_address.remove(&a);
            }
        }
    }
}

/// Default keys tracked per quota (a few MB at most).
pub const DEFAULT_MAX_TRACKED: usize = 100_000;
/// Default requests in flight.
pub const DEFAULT_MAX_IN_FLIGHT: usize = 512;
/// Default time to the response head.
pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// Default time of a photo upload request (30 MiB over a slow link).
pub const DEFAULT_UPLOAD_TIMEOUT: Duration = Duration::from_secs(300);
/// Default longest export (1M reports take seconds on a good link).
pub const DEFAULT_EXPORT_MAX_DURATION: Duration = Duration::from_secs(1_800);
/// Default longest event stream; clients reconnect with `Last-Event-ID`.
pub const DEFAULT_EVENTS_MAX_DURATION: Duration = Duration::from_secs(3_600);
/// Default largest bbox: ~35 times Paris, a département.
pub const DEFAULT_MAX_BBOX_KM2: f64 = 10_000.0;
/// Default index size limit (the index was measured at 1M reports).
pub const DEFAULT_MAX_REPORTS: usize = 10_000_000;
/// Default time in-flight requests have after SIGTERM (less than the 30 s
/// that orchestrators commonly wait before SIGKILL).
pub const DEFAULT_SHUTDOWN_GRACE: Duration = Duration::from_secs(25);

impl Default for Limits {
    fn default() -> Self {
        Self {
            per_address: QuotaSet::ADDRESS_DEFAULT,
            per_key: [QuotaSet::UNLIMITED; 4],
            trusted_proxies: Vec::new(),
            max_tracked: DEFAULT_MAX_TRACKED,
            max_in_flight: DEFAULT_MAX_IN_FLIGHT,
            request_timeout: DEFAULT_REQUEST_TIMEOUT,
            upload_timeout: DEFAULT_UPLOAD_TIMEOUT,
            export_max_duration: DEFAULT_EXPORT_MAX_DURATION,
            events_max_duration: DEFAULT_EVENTS_MAX_DURATION,
            max_bbox_km2: DEFAULT_MAX_BBOX_KM2,
            max_reports: DEFAULT_MAX_REPORTS,
            shutdown_grace: DEFAULT_SHUTDOWN_GRACE,
            max_event_streams: DEFAULT_MAX_EVENT_STREAMS,
            max_event_streams_per_address: DEFAULT_MAX_EVENT_STREAMS_PER_ADDRESS,
            polygon: PolygonBounds {
                max_vertices: DEFAULT_MAX_POLYGON_VERTICES,
                max_rings: DEFAULT_MAX_POLYGON_RINGS,
            },
        }
    }
}

impl Limits {
    /// The quotas of a role's keys.
    #[must_use]
    pub fn of_role(&self, role: Role) -> &QuotaSet {
        &self.per_key[role_index(role)]
    }

    /// Applies one `ROLE:QUOTA=N` setting.
    pub fn set_key_quota(&mut self, q: &KeyQuota) {
        // The name was checked when `q` was parsed.
        let _ = self.per_key[role_index(q.role)].set(&q.name, q.value);
    }
}

fn role_index(role: Role) -> usize {
    Role::ALL.iter().position(|r| *r == role).unwrap_or(0)
}

/// Who a request is charged to.
#[derive(Debug, Clone, Copy)]
pub enum Caller {
    /// No key; the address when it is known (a router served without
    /// connection information, in tests, has none: no address quota).
    Anonymous(Option<AddrKey>),
    Key {
        id: i64,
        role: Role,
        address: Option<AddrKey>,
    },
}

impl Caller {
    /// What is charged: the address (anonymous callers and app keys, whose
    /// residents share the key) and the key (every role).
    fn holders(self) -> (Option<AddrKey>, Option<(i64, Role)>) {
        match self {
            Caller::Anonymous(a) => (a, None),
            Caller::Key { id, role, address } => {
                (address.filter(|_| role == Role::App), Some((id, role)))
            }
        }
    }
}

/// Who holds a quota: a client address or an API key (never a contact).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Holder {
    Address(AddrKey),
    Key(i64),
}

/// One rate a request is charged to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Charge {
    pub holder: Holder,
    pub rate: Rate,
}

impl Limits {
    /// The rates one `quota` event of `caller` is charged to (those without
    /// limit left out), in the order [`RateLimiter::admit`] checks them: the
    /// minute's before the day's, the address before the key. The store
    /// keeps that order, so the refusal reported is the same on both.
    #[must_use]
    pub fn charges(&self, caller: Caller, quota: Quota) -> Vec<Charge> {
        let (address, key) = caller.holders();
        let periods = if quota == Quota::Report { 2 } else { 1 };
        let mut out = Vec::with_capacity(2 * periods);
        for i in 0..periods {
            if let Some(a) = address {
                out.push(Charge {
                    holder: Holder::Address(a),
                    rate: self.per_address.rates(quota)[i],
                });
            }
            if let Some((id, role)) = key {
                out.push(Charge {
                    holder: Holder::Key(id),
                    rate: self.of_role(role).rates(quota)[i],
                });
            }
        }
        out.retain(|c| c.rate.count > 0);
        out
    }
}

/// The quota tables of one server.
#[derive(Debug)]
pub struct RateLimiter {
    /// Per quota kind, the minute and (reports) day limiters by address.
    address: HashMap<(Quota, usize), KeyedLimiter<AddrKey>>,
    key: HashMap<(Role, Quota, usize), KeyedLimiter<i64>>,
}

const QUOTAS: [Quota; 4] = [
    Quota::Report,
    Quota::PhotoUpload,
    Quota::HeavyRead,
    Quota::Geocode,
];

impl RateLimiter {
    #[must_use]
    pub fn new(limits: &Limits) -> Self {
        let mut address = HashMap::new();
        let mut key = HashMap::new();
        for quota in QUOTAS {
            for (i, rate) in limits.per_address.rates(quota).into_iter().enumerate() {
                if i == 1 && quota != Quota::Report {
                    continue;
                }
                if let Some(l) = KeyedLimiter::new(rate, limits.max_tracked) {
                    address.insert((quota, i), l);
                }
                for role in Role::ALL {
                    let rate = limits.of_role(role).rates(quota)[i];
                    if let Some(l) = KeyedLimiter::new(rate, limits.max_tracked) {
                        key.insert((role, quota, i), l);
                    }
                }
            }
        }
        Self { address, key }
    }

    /// Charges one `quota` event to `caller` at `now`: to its address
    /// (anonymous callers and app keys) and to its key (every role, with
    /// its role's quotas). Either refusing refunds what the other took.
    ///
    /// # Errors
    /// [`Denied`] for the first quota used up.
    pub fn admit(&self, caller: Caller, quota: Quota, now: Duration) -> Result<(), Denied> {
        let (address, key) = caller.holders();
        let mut by_address = Vec::new();
        let mut by_key = Vec::new();
        let mut charge = || -> Result<(), Denied> {
            for i in 0..2 {
                if let (Some(a), Some(l)) = (address, self.address.get(&(quota, i))) {
                    l.check(&a, now, quota)?;
                    by_address.push((l, a));
                }
                if let Some((id, role)) = key
                    && let Some(l) = self.key.get(&(role, quota, i))
                {
                    l.check(&id, now, quota)?;
                    by_key.push((l, id));
                }
            }
            Ok(())
        };
        let result = charge();
        if result.is_err() {
            for (l, a) in by_address {
                l.refund(&a);
            }
            for (l, id) in by_key {
                l.refund(&id);
            }
        }
        result
    }
}

/// What a client address is counted as: an IPv4 address, or the /64
/// prefix of an IPv6 one (a single subscriber usually holds a whole /64,
/// so counting each address would let one client spread over 2^64 keys).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AddrKey {
    V4(u32),
    V6Prefix(u64),
}

impl From<IpAddr> for AddrKey {
    fn from(ip: IpAddr) -> Self {
        match ip.to_canonical() {
            IpAddr::V4(v4) => AddrKey::V4(u32::from(v4)),
            IpAddr::V6(v6) => AddrKey::V6Prefix((u128::from(v6) >> 64) as u64),
        }
    }
}

/// An address block, `192.0.2.0/24`, `2001:db8::/32` or one address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    addr: IpAddr,
    prefix: u8,
}

impl Cidr {
    #[must_use]
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.addr, ip.to_canonical()) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                let mask = u32::MAX
                    .checked_shl(32 - u32::from(self.prefix))
                    .unwrap_or(0);
                u32::from(net) & mask == u32::from(ip) & mask
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.prefix))
                    .unwrap_or(0);
                u128::from(net) & mask == u128::from(ip) & mask
            }
            _ => false,
        }
    }
}

impl FromStr for Cidr {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let (addr, prefix) = match s.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (s, None),
        };
        let addr = addr
            .trim()
            .parse::<IpAddr>()
            .map_err(|_| format!("{s:?} is not an IP address or CIDR block"))?
            .to_canonical();
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            None => max,
            Some(p) => p
                .trim()
                .parse::<u8>()
                .ok()
                .filter(|p| *p <= max)
                .ok_or_else(|| format!("{s:?}: the prefix length must be 0 to {max}"))?,
        };
        Ok(Self { addr, prefix })
    }
}

/// The client of a connection from `peer`: the peer itself, unless it is a
/// trusted proxy; then the right-most address of `X-Forwarded-For` (the
/// values of every such header, in order) that is not itself a trusted
/// proxy. Addresses left of it were written by the client and are ignored,
/// so a client cannot choose its address by sending the header. An entry
/// that is not an address (reached only if trusted proxies wrote it) stops
/// the walk at the last trusted hop.
#[must_use]
pub fn client_address<'a>(
    peer: IpAddr,
    forwarded_for: impl DoubleEndedIterator<Item = &'a str>,
    trusted: &[Cidr],
) -> IpAddr {
    let is_trusted = |ip: IpAddr| trusted.iter().any(|c| c.contains(ip));
    if !is_trusted(peer) {
        return peer;
    }
    let mut client = peer;
    for value in forwarded_for.rev() {
        for hop in value.rsplit(',') {
            let Some(ip) = parse_hop(hop) else {
                return client;
            };
            client = ip;
            if !is_trusted(ip) {
                return ip;
            }
        }
    }
    client
}

/// One `X-Forwarded-For` entry: an address, with or without a port
/// (`192.0.2.1:4711`, `[2001:db8::1]:4711`).
fn parse_hop(hop: &str) -> Option<IpAddr> {
    let hop = hop.trim();
    if let Ok(ip) = hop.parse::<IpAddr>() {
        return Some(ip.to_canonical());
    }
    if let Ok(sa) = hop.parse::<std::net::SocketAddr>() {
        return Some(sa.ip().to_canonical());
    }
    hop.strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .and_then(|h| h.parse::<IpAddr>().ok())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    const S: Duration = Duration::from_secs(1);

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn a_stream_place_is_refused_past_the_address_or_total_maximum_and_freed_on_drop() {
        let streams = std::sync::Arc::new(OpenStreams::new(3, 2));
        let (a, b, c) = (
            Some(AddrKey::from(ip("192.0.2.1"))),
            Some(AddrKey::from(ip("192.0.2.2"))),
            Some(AddrKey::from(ip("192.0.2.3"))),
        );
        let a1 = streams.open(a).unwrap();
        let _a2 = streams.open(a).unwrap();
        assert_eq!(
            streams.open(a).unwrap_err(),
            StreamRefused::PerAddress { max: 2 }
        );
        let _b1 = streams.open(b).unwrap();
        assert_eq!(
            streams.open(c).unwrap_err(),
            StreamRefused::Total { max: 3 }
        );
        assert_eq!(streams.count(), 3);
        drop(a1);
        assert_eq!(streams.count(), 2);
        let _a3 = streams.open(a).unwrap();
        // No address: counted in the total only; 0 is no limit.
        let free = std::sync::Arc::new(OpenStreams::new(0, 0));
        let held: Vec<_> = (0..50).map(|_| free.open(None).unwrap()).collect();
        assert_eq!(free.count(), 50);
        drop(held);
        assert_eq!(free.count(), 0);
    }

    #[test]
    fn a_polygon_over_its_positions_or_rings_is_refused_naming_the_bound() {
        let bounds = PolygonBounds {
            max_vertices: 10,
            max_rings: 2,
        };
        assert_eq!(bounds.check([5, 5]), Ok(()));
        assert_eq!(
            bounds.check([5, 6]),
            Err(PolygonTooLarge::Vertices { found: 11, max: 10 })
        );
        assert_eq!(
            bounds.check([4, 4, 4]),
            Err(PolygonTooLarge::Rings { found: 3, max: 2 })
        );
    }

    #[test]
    fn a_quota_admits_its_burst_then_one_event_per_interval() {
        // Room for many keys per shard: with one per shard, keys 1 and 2
        // would share a shard once in 16 and 2 would evict 1.
        let l = KeyedLimiter::new(Rate::per_minute(3), 1_000).unwrap();
        let t0 = Duration::from_secs(1_000);
        for _ in 0..3 {
            l.check(&1, t0, Quota::Report).unwrap();
        }
        let d = l.check(&1, t0, Quota::Report).unwrap_err();
        assert_eq!(d.retry_after, 20 * S);
        assert_eq!(d.retry_after_s(), 20);
        // Another key is not affected.
        l.check(&2, t0, Quota::Report).unwrap();
        // One interval later, exactly one more.
        l.check(&1, t0 + 20 * S, Quota::Report).unwrap();
        assert!(l.check(&1, t0 + 20 * S, Quota::Report).is_err());
        // A full period later, the whole burst again.
        for _ in 0..3 {
            l.check(&1, t0 + 80 * S, Quota::Report).unwrap();
        }
    }

    #[test]
    fn the_gcra_in_microseconds_waits_what_it_waits_in_nanoseconds() {
        let us = Duration::from_micros(1);
        let ns = Duration::from_nanos(1);
        for rate in [
            Rate::per_minute(3),
            Rate::per_minute(7),
            Rate::per_day(500),
            Rate::per_day(7),
        ] {
            let (g_us, g_ns) = (Gcra::new(rate, us).unwrap(), Gcra::new(rate, ns).unwrap());
            // A burst of `count` from nothing, then a refusal, in both units.
            let now_s = 1_796_553_452_u64;
            let (mut t_us, mut t_ns) = (0, 0);
            for _ in 0..rate.count {
                t_us = g_us.admit(t_us, now_s * 1_000_000).unwrap();
                t_ns = g_ns.admit(t_ns, now_s * 1_000_000_000).unwrap();
            }
            let wait_us = g_us.admit(t_us, now_s * 1_000_000).unwrap_err();
            let wait_ns = g_ns.admit(t_ns, now_s * 1_000_000_000).unwrap_err();
            let retry = |retry_after| {
                Denied {
                    what: Quota::Report,
                    rate,
                    retry_after,
                }
                .retry_after_s()
            };
            assert_eq!(
                retry(Duration::from_micros(wait_us)),
                retry(Duration::from_nanos(wait_ns)),
                "{rate:?}"
            );
        }
        assert_eq!(Gcra::new(Rate::per_day(0), us), None);
    }

    #[test]
    fn charges_name_the_address_of_anonymous_callers_and_app_keys_and_every_key() {
        let mut limits = limits();
        limits.set_key_quota(&"agent:reports_per_day=9".parse().unwrap());
        limits.set_key_quota(&"app:geocode_per_minute=4".parse().unwrap());
        let a = AddrKey::from(ip("192.0.2.1"));
        let key = |id, role| Caller::Key {
            id,
            role,
            address: Some(a),
        };
        let charge = |holder, rate| Charge { holder, rate };
        let cases = [
            (
                Caller::Anonymous(Some(a)),
                Quota::Report,
                vec![
                    charge(Holder::Address(a), Rate::per_minute(2)),
                    charge(Holder::Address(a), Rate::per_day(3)),
                ],
            ),
            // No address known (a router without connection information).
            (Caller::Anonymous(None), Quota::Report, vec![]),
            (
                key(1, Role::App),
                Quota::Geocode,
                vec![
                    charge(Holder::Address(a), Rate::per_minute(300)),
                    charge(Holder::Key(1), Rate::per_minute(4)),
                ],
            ),
            // The city's keys: by key only, and only its role's limits.
            (
                key(2, Role::Agent),
                Quota::Report,
                vec![charge(Holder::Key(2), Rate::per_day(9))],
            ),
            (key(3, Role::Admin), Quota::Report, vec![]),
        ];
        for (caller, quota, want) in cases {
            assert_eq!(limits.charges(caller, quota), want, "{caller:?} {quota:?}");
        }
    }

    /// The store's way (every rate of [`Limits::charges`] judged by
    /// [`Gcra`], all charged or none) against the in-memory limiter, over
    /// random requests: same verdicts, same rate refusing, same wait.
    #[test]
    fn charging_all_rates_or_none_decides_as_the_in_memory_limiter_does() {
        use rand::{Rng as _, SeedableRng as _};
        let mut limits = limits();
        limits.per_address.heavy_reads_per_minute = 3;
        limits.set_key_quota(&"app:reports_per_minute=3".parse().unwrap());
        limits.set_key_quota(&"app:reports_per_day=4".parse().unwrap());
        limits.set_key_quota(&"agent:heavy_reads_per_minute=2".parse().unwrap());
        let memory = RateLimiter::new(&limits);
        let mut tats: HashMap<(Holder, Quota, Duration), u64> = HashMap::new();
        let mut rng = rand_pcg::Pcg64::seed_from_u64(7);
        let mut now = Duration::from_secs(1_000);
        let (mut admitted, mut refused) = (0, 0);
        for _ in 0..5_000 {
            now += Duration::from_millis(rng.random_range(0..4_000));
            let address = Some(AddrKey::V4(rng.random_range(0..3)));
            let caller = match rng.random_range(0..3) {
                0 => Caller::Anonymous(address),
                1 => Caller::Key {
                    id: rng.random_range(0..2),
                    role: Role::App,
                    address,
                },
                _ => Caller::Key {
                    id: 10,
                    role: Role::Agent,
                    address,
                },
            };
            let quota = [Quota::Report, Quota::HeavyRead][rng.random_range(0..2)];
            let now_ns = u64::try_from(now.as_nanos()).unwrap();
            let charges = limits.charges(caller, quota);
            let verdicts: Vec<_> = charges
                .iter()
                .map(|c| {
                    let g = Gcra::new(c.rate, Duration::from_nanos(1)).unwrap();
                    let tat = tats.get(&(c.holder, quota, c.rate.per)).copied();
                    g.admit(tat.unwrap_or(0), now_ns)
                })
                .collect();
            let store_way = match verdicts.iter().position(Result::is_err) {
                None => {
                    for (c, v) in charges.iter().zip(&verdicts) {
                        tats.insert((c.holder, quota, c.rate.per), *v.as_ref().unwrap());
                    }
                    admitted += 1;
                    Ok(())
                }
                Some(i) => {
                    refused += 1;
                    Err((charges[i].rate, verdicts[i].unwrap_err()))
                }
            };
            let memory_way = memory
                .admit(caller, quota, now)
                .map_err(|d| (d.rate, u64::try_from(d.retry_after.as_nanos()).unwrap()));
            assert_eq!(store_way, memory_way, "{caller:?} {quota:?} at {now:?}");
        }
        assert!(admitted > 100 && refused > 100, "{admitted} {refused}");
    }

    #[test]
    fn a_retry_after_is_whole_seconds_rounded_up_and_never_zero() {
        let d = |ns| Denied {
            what: Quota::Report,
            rate: Rate::per_minute(1),
            retry_after: Duration::from_nanos(ns),
        };
        assert_eq!(d(1).retry_after_s(), 1);
        assert_eq!(d(1_000_000_001).retry_after_s(), 2);
        assert_eq!(d(2_000_000_000).retry_after_s(), 2);
    }

    #[test]
    fn a_zero_rate_is_no_limiter_at_all() {
        assert!(KeyedLimiter::<u8>::new(Rate::per_minute(0), 10).is_none());
    }

    #[test]
    fn a_flood_of_distinct_keys_never_grows_the_table_past_its_capacity() {
        let l = KeyedLimiter::new(Rate::per_day(5), 1_000).unwrap();
        for k in 0..100_000u32 {
            l.check(&k, Duration::from_secs(u64::from(k)), Quota::Report)
                .unwrap();
        }
        assert!(l.tracked() <= 1_000 + SHARDS, "{}", l.tracked());
    }

    #[test]
    fn idle_keys_are_forgotten_before_active_ones() {
        // Capacity of one key per shard: a second key in a shard needs room.
        let l = KeyedLimiter::new(Rate::per_minute(2), 1).unwrap();
        let (a, b) = (0u64..)
            .map(|k| (0u64, k))
            .find(|(a, b)| a != b && std::ptr::eq(l.shard(a), l.shard(b)))
            .unwrap();
        let t0 = Duration::from_secs(100);
        l.check(&a, t0, Quota::Report).unwrap();
        l.check(&a, t0, Quota::Report).unwrap();
        assert!(l.check(&a, t0, Quota::Report).is_err());
        // `b` arrives while `a` is active: `a` is the closest to idle and goes.
        l.check(&b, t0, Quota::Report).unwrap();
        assert_eq!(l.tracked(), 1);
        // Once `b` is idle (a period later), `a` takes its place at no loss.
        l.check(&a, t0 + 60 * S, Quota::Report).unwrap();
        l.check(&a, t0 + 60 * S, Quota::Report).unwrap();
        assert!(l.check(&a, t0 + 60 * S, Quota::Report).is_err());
    }

    #[test]
    fn a_refund_gives_back_exactly_one_event() {
        let l = KeyedLimiter::new(Rate::per_minute(1), 1_000).unwrap();
        l.check(&7, S, Quota::Report).unwrap();
        assert!(l.check(&7, S, Quota::Report).is_err());
        l.refund(&7);
        l.check(&7, S, Quota::Report).unwrap();
    }

    fn limits() -> Limits {
        let mut limits = Limits::default();
        limits.per_address.reports_per_minute = 2;
        limits.per_address.reports_per_day = 3;
        limits
    }

    #[test]
    fn reports_spend_the_minute_and_the_day_quota_and_a_refusal_spends_neither() {
        let r = RateLimiter::new(&limits());
        let who = Caller::Anonymous(Some(ip("192.0.2.1").into()));
        r.admit(who, Quota::Report, S).unwrap();
        r.admit(who, Quota::Report, S).unwrap();
        let d = r.admit(who, Quota::Report, S).unwrap_err();
        assert_eq!(d.rate, Rate::per_minute(2));
        // A minute on: one left for the day.
        r.admit(who, Quota::Report, 61 * S).unwrap();
        let d = r.admit(who, Quota::Report, 121 * S).unwrap_err();
        assert_eq!(d.rate, Rate::per_day(3));
        // The day's refusal gave the minute quota back.
        assert!(d.retry_after > Duration::from_secs(3_600));
    }

    #[test]
    fn app_keys_are_counted_by_address_and_the_city_s_keys_by_key_only() {
        let mut limits = limits();
        limits.set_key_quota(&"agent:reports_per_minute=1".parse().unwrap());
        let r = RateLimiter::new(&limits);
        let addr = Some(ip("192.0.2.1").into());
        let app = Caller::Key {
            id: 1,
            role: Role::App,
            address: addr,
        };
        r.admit(app, Quota::Report, S).unwrap();
        r.admit(app, Quota::Report, S).unwrap();
        assert!(r.admit(app, Quota::Report, S).is_err());
        // The same address with an agent key: the address quota does not apply...
        let agent = Caller::Key {
            id: 2,
            role: Role::Agent,
            address: addr,
        };
        r.admit(agent, Quota::Report, S).unwrap();
        // ... its key's does.
        assert!(r.admit(agent, Quota::Report, S).is_err());
        let admin = Caller::Key {
            id: 3,
            role: Role::Admin,
            address: addr,
        };
        for _ in 0..100 {
            r.admit(admin, Quota::Report, S).unwrap();
        }
    }

    #[test]
    fn ipv6_clients_are_counted_by_their_64_prefix_and_mapped_ipv4_as_ipv4() {
        assert_eq!(
            AddrKey::from(ip("2001:db8:1:2::1")),
            AddrKey::from(ip("2001:db8:1:2:ffff::9"))
        );
        assert_ne!(
            AddrKey::from(ip("2001:db8:1:2::1")),
            AddrKey::from(ip("2001:db8:1:3::1"))
        );
        assert_eq!(
            AddrKey::from(ip("::ffff:192.0.2.1")),
            AddrKey::from(ip("192.0.2.1"))
        );
    }

    #[test]
    fn cidr_blocks_parse_and_contain_their_addresses() {
        let net: Cidr = "10.0.0.0/8".parse().unwrap();
        assert!(net.contains(ip("10.200.1.2")));
        assert!(net.contains(ip("::ffff:10.0.0.1")));
        assert!(!net.contains(ip("11.0.0.1")));
        let one: Cidr = "192.0.2.7".parse().unwrap();
        assert!(one.contains(ip("192.0.2.7")) && !one.contains(ip("192.0.2.8")));
        let v6: Cidr = "2001:db8::/32".parse().unwrap();
        assert!(v6.contains(ip("2001:db8:ffff::1")) && !v6.contains(ip("2001:db9::1")));
        assert!("0.0.0.0/0".parse::<Cidr>().unwrap().contains(ip("8.8.8.8")));
        for bad in ["10.0.0.0/33", "example.org", "10.0.0.0/x", "::/129"] {
            assert!(bad.parse::<Cidr>().is_err(), "{bad}");
        }
    }

    #[test]
    fn forwarded_for_is_believed_only_from_a_trusted_proxy_and_only_right_of_it() {
        let trusted: Vec<Cidr> = vec!["10.0.0.0/8".parse().unwrap()];
        let cases: [(&str, &[&str], &str); 8] = [
            // An untrusted peer: its header is ignored.
            ("198.51.100.9", &["203.0.113.5"], "198.51.100.9"),
            // A trusted proxy: the address it saw.
            ("10.0.0.2", &["203.0.113.5"], "203.0.113.5"),
            // A client-written entry left of the proxy's is ignored.
            ("10.0.0.2", &["1.2.3.4, 203.0.113.5"], "203.0.113.5"),
            ("10.0.0.2", &["1.2.3.4", "203.0.113.5"], "203.0.113.5"),
            // Two trusted hops.
            ("10.0.0.2", &["203.0.113.5, 10.0.0.3"], "203.0.113.5"),
            // No header: the proxy itself.
            ("10.0.0.2", &[], "10.0.0.2"),
            // Garbage written by a trusted hop: the last trusted hop.
            ("10.0.0.2", &["junk, 10.0.0.3"], "10.0.0.3"),
            // Ports are tolerated.
            ("10.0.0.2", &["[2001:db8::5]:4711"], "2001:db8::5"),
        ];
        for (peer, xff, want) in cases {
            assert_eq!(
                client_address(ip(peer), xff.iter().copied(), &trusted),
                ip(want),
                "{peer} {xff:?}"
            );
        }
    }

    #[test]
    fn key_quotas_parse_from_the_command_line_form() {
        let q: KeyQuota = "app:reports_per_minute=20000".parse().unwrap();
        assert_eq!(
            (q.role, q.name.as_str(), q.value),
            (Role::App, "reports_per_minute", 20_000)
        );
        for bad in [
            "app",
            "app:reports_per_minute",
            "nobody:reports_per_minute=1",
            "app:reports_per_week=1",
            "app:reports_per_minute=-1",
        ] {
            assert!(bad.parse::<KeyQuota>().is_err(), "{bad}");
        }
    }
}
