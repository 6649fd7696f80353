//! The edge of the abuse limits (`crate::limits` is the pure core): the
//! client address of a request, quotas charged by handlers and by the
//! heavy-read middleware (in memory, or in the store when several instances
//! share it: `SharedQuotas`), the in-flight limit and the request deadline
//! (both 503 with `Retry-After`), the index size check of filings, the
//! places of open event streams (503 or 429 with `Retry-After`), and the
//! drain that ends live streams at shutdown.
//!
//! Order of the checks for a filing: 401 (key), 403 (role), 429 (quota),
//! 503 (index full), then the body's own refusals.

use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::{ConnectInfo, FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, Method};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use futures_util::Stream;
use tokio::sync::{Semaphore, watch};

use super::{ApiError, AppState};
use crate::limits::{
    self, AddrKey, Charge, Denied, Gcra, Holder, Limits, OpenStreams, Quota, Rate, RateLimiter,
    StreamRefused,
};
use crate::service::{App, Caller};
use crate::store::{Charged, QuotaCharge, Store};

/// The limits of one router: quota tables, the in-flight semaphore and the
/// drain signal.
#[derive(Debug)]
pub struct Guard {
    pub limits: Limits,
    /// This process's quota tables: the quotas themselves on a store that
    /// does not share them (SQLite), the fallback while the shared ones
    /// cannot be reached otherwise.
    quotas: RateLimiter,
    /// The quotas shared by every instance on the store (PostgreSQL).
    shared: Option<SharedQuotas>,
    /// Origin of the quota clock.
    epoch: Instant,
    in_flight: Option<Arc<Semaphore>>,
    /// Event streams open, in all and per address.
    streams: Arc<OpenStreams>,
    drain: watch::Sender<bool>,
}

/// `Retry-After` of a refused event stream: streams are long, a place
/// frees when one of them ends.
const STREAM_RETRY_AFTER_S: u64 = 10;

/// Longest wait for the store's verdict on a quota; beyond, this process's
/// own quotas decide (a store that slow is as good as unreachable).
const SHARED_QUOTA_TIMEOUT: Duration = Duration::from_secs(2);

/// How often this instance prunes the store's expired quota rows.
const QUOTA_PRUNE_EVERY: Duration = Duration::from_secs(60);

/// At most one warning per this period while the shared quotas fail.
const QUOTA_WARN_EVERY: Duration = Duration::from_secs(60);

/// Quotas kept in the store, shared by every instance on it.
///
/// When the store cannot judge a request (unreachable, failing, or slower
/// than [`SHARED_QUOTA_TIMEOUT`]), the request is charged to this process's
/// own quotas instead, as on a single instance: neither open (a flood
/// would meet no limit exactly when the database is strained, perhaps by
/// that flood) nor closed (a limiter outage would refuse requests that
/// need no store, such as statistics and geocoding, served from memory;
/// filings fail on their own if the store is down). During an
/// outage a client may thus get its quota once per instance, as before
/// quotas were shared. Each failure is logged at warn, at most once per
/// [`QUOTA_WARN_EVERY`] with the count since (never an address).
#[derive(Debug)]
struct SharedQuotas {
    store: Store,
    /// When (ms since `Guard::epoch`) the next prune is due.
    next_prune_ms: AtomicU64,
    /// Failures since the last warning, and when it was written.
    outage: Mutex<(u64, Option<Instant>)>,
}

impl Guard {
    /// The guard of a router whose application uses `store`: quotas shared
    /// through the store when it can (PostgreSQL), in memory otherwise.
    #[must_use]
    pub fn new(limits: &Limits, store: &Store) -> Self {
        Self {
            quotas: RateLimiter::new(limits),
            shared: store.has_shared_quotas().then(|| SharedQuotas {
                store: store.clone(),
                next_prune_ms: AtomicU64::new(0),
                outage: Mutex::new((0, None)),
            }),
            epoch: Instant::now(),
            in_flight: (limits.max_in_flight > 0)
                .then(|| Arc::new(Semaphore::new(limits.max_in_flight))),
            streams: Arc::new(OpenStreams::new(
                limits.max_event_streams,
                limits.max_event_streams_per_address,
            )),
            drain: watch::channel(false).0,
            limits: limits.clone(),
        }
    }

    /// Charges one `quota` event to a caller (`None`: no key) from
    /// `address`: in the store when it shares quotas between instances
    /// (one round trip), in memory otherwise (no IO, nothing awaited).
    ///
    /// # Errors
    /// [`Denied`] when a quota of the address or the key is used up.
    pub async fn admit(
        &self,
        address: Option<IpAddr>,
        caller: Option<&Caller>,
        quota: Quota,
    ) -> Result<(), Denied> {
        let address = address.map(AddrKey::from);
        let who = match caller {
            None => limits::Caller::Anonymous(address),
            Some(c) => limits::Caller::Key {
                id: c.key_id,
                role: c.role,
                address,
            },
        };
        match &self.shared {
            None => self.quotas.admit(who, quota, self.epoch.elapsed()),
            Some(shared) => {
                let charges = self.limits.charges(who, quota);
                if charges.is_empty() {
                    return Ok(());
                }
                self.prune_if_due(shared);
                let judged = tokio::time::timeout(
                    SHARED_QUOTA_TIMEOUT,
                    shared_admit(shared, &charges, quota),
                )
                .await;
                match judged {
                    Ok(Ok(verdict)) => verdict,
                    Ok(Err(e)) => {
                        shared.failed(&e);
                        self.quotas.admit(who, quota, self.epoch.elapsed())
                    }
                    Err(_) => {
                        shared.failed(&format!(
                            "no answer within {} s",
                            SHARED_QUOTA_TIMEOUT.as_secs()
                        ));
                        self.quotas.admit(who, quota, self.epoch.elapsed())
                    }
                }
            }
        }
    }

    /// Starts a prune of the store's expired quota rows, in a task of its
    /// own, when [`QUOTA_PRUNE_EVERY`] has passed since the last one
    /// (the first admitted request of an instance starts one).
    fn prune_if_due(&self, shared: &SharedQuotas) {
        let now_ms = u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(u64::MAX);
        let due = shared.next_prune_ms.load(Ordering::Relaxed);
        let next =
            now_ms.saturating_add(u64::try_from(QUOTA_PRUNE_EVERY.as_millis()).unwrap_or(u64::MAX));
        if now_ms < due
            || shared
                .next_prune_ms
                .compare_exchange(due, next, Ordering::Relaxed, Ordering::Relaxed)
                .is_err()
        {
            return;
        }
        let store = shared.store.clone();
        tokio::spawn(async move {
            match store.prune_quotas().await {
                Ok(n) => tracing::debug!(rows = n, "expired quota rows pruned"),
                Err(e) => tracing::warn!(error = %e, "pruning expired quota rows failed"),
            }
        });
    }

    /// The client address of a request: the connection's peer, or what a
    /// trusted proxy forwarded. `None` without connection information (a
    /// router driven without a socket, as tests do): no address quota then.
    #[must_use]
    pub fn client(
        &self,
        extensions: &axum::http::Extensions,
        headers: &HeaderMap,
    ) -> Option<IpAddr> {
        let ConnectInfo(peer) = extensions.get::<ConnectInfo<SocketAddr>>()?;
        let forwarded = headers
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .collect::<Vec<_>>();
        Some(limits::client_address(
            peer.ip(),
            forwarded.into_iter(),
            &self.limits.trusted_proxies,
        ))
    }

    /// Refuses a filing (503) once the index holds `max_reports`. Filings in
    /// flight can pass it by at most the in-flight limit.
    ///
    /// # Errors
    /// [`ApiError::Unavailable`] when the index is full.
    pub fn room_for_reports(&self, app: &App) -> Result<(), ApiError> {
        let held = app.reports().len();
        if held >= self.limits.max_reports {
            return Err(ApiError::Unavailable {
                message: format!(
                    "this server holds its maximum of {} reports: new reports are refused \
                     for now, reading goes on",
                    self.limits.max_reports
                ),
                retry_after_s: None,
            });
        }
        Ok(())
    }

    /// Ends live streams (event streams) so that a graceful shutdown is not
    /// held by them.
    pub fn start_draining(&self) {
        self.drain.send_replace(true);
    }

    /// Completes when the server starts draining.
    pub fn drained(&self) -> impl Future<Output = ()> + Send + use<> {
        let mut rx = self.drain.subscribe();
        async move {
            let _ = rx.wait_for(|d| *d).await;
        }
    }
}

impl SharedQuotas {
    /// Notes a failure of the store's quotas; warns at most once per
    /// [`QUOTA_WARN_EVERY`].
    fn failed(&self, error: &dyn std::fmt::Display) {
        let mut outage = self
            .outage
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        outage.0 += 1;
        if outage.1.is_some_and(|at| at.elapsed() < QUOTA_WARN_EVERY) {
            return;
        }
        tracing::warn!(
            error = %error,
            requests = outage.0,
            "shared quotas unavailable: requests charged to this instance's own quotas"
        );
        *outage = (0, Some(Instant::now()));
    }
}

/// The store's verdict on `charges` (see [`Limits::charges`]), a refusal
/// turned into [`Denied`] by the same arithmetic as the in-memory limiter's
/// ([`Gcra`], in microseconds).
async fn shared_admit(
    shared: &SharedQuotas,
    charges: &[Charge],
    quota: Quota,
) -> Result<Result<(), Denied>, crate::store::StoreError> {
    let micro = Duration::from_micros(1);
    // (Every rate of `charges` has a limit: none is left out here.)
    let judged: Vec<(Rate, QuotaCharge)> = charges
        .iter()
        .filter_map(|c| {
            let gcra = Gcra::new(c.rate, micro)?;
            let (holder_kind, holder) = match c.holder {
                Holder::Address(AddrKey::V4(a)) => ("ipv4", i64::from(a)),
                // The prefix's 64 bits, reinterpreted as signed.
                Holder::Address(AddrKey::V6Prefix(p)) => ("ipv6_64", p.cast_signed()),
                Holder::Key(id) => ("key", id),
            };
            let row = QuotaCharge {
                holder_kind,
                holder,
                quota: quota.name(),
                period_s: i32::try_from(c.rate.per.as_secs()).unwrap_or(i32::MAX),
                interval_us: i64::try_from(gcra.interval).unwrap_or(i64::MAX),
            };
            Some((c.rate, row))
        })
        .collect();
    let rows: Vec<QuotaCharge> = judged.iter().map(|(_, row)| *row).collect();
    match shared.store.charge_quotas(&rows).await? {
        // (`None`: a store without shared quotas, which gets no `SharedQuotas`.)
        None | Some(Charged::Admitted) => Ok(Ok(())),
        Some(Charged::Refused {
            index,
            tat_us,
            now_us,
        }) => {
            let rate = judged[index].0;
            let wait_us = Gcra::new(rate, micro)
                .and_then(|g| {
                    g.admit(
                        u64::try_from(tat_us).unwrap_or(0),
                        u64::try_from(now_us).unwrap_or(0),
                    )
                    .err()
                })
                .unwrap_or(0);
            Ok(Err(Denied {
                what: quota,
                rate,
                retry_after: Duration::from_micros(wait_us),
            }))
        }
    }
}

impl From<Denied> for ApiError {
    fn from(d: Denied) -> Self {
        let per = if d.rate.per >= Duration::from_secs(86_400) {
            "day"
        } else {
            "minute"
        };
        ApiError::TooManyRequests {
            message: format!(
                "too many {}: at most {} per {per}; retry in {} s",
                d.what.describe(),
                d.rate.count,
                d.retry_after_s()
            ),
            retry_after_s: d.retry_after_s(),
        }
    }
}

/// The request's guard and client address, for handlers that charge a
/// quota themselves (after authenticating the key).
pub struct Client {
    pub guard: Arc<Guard>,
    pub address: Option<IpAddr>,
}

impl Client {
    /// Charges `quota` (see [`Guard::admit`]).
    ///
    /// # Errors
    /// [`Denied`] when a quota is used up.
    pub async fn admit(&self, caller: Option<&Caller>, quota: Quota) -> Result<(), Denied> {
        self.guard.admit(self.address, caller, quota).await
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Client {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        let guard = parts
            .extensions
            .get::<Arc<Guard>>()
            .cloned()
            .ok_or_else(|| ApiError::Internal("no limits guard on the router".into()))?;
        let address = guard.client(&parts.extensions, &parts.headers);
        Ok(Client { guard, address })
    }
}

/// Middleware: at most `max_in_flight` requests are handled at once; one
/// more is refused at once with 503 and `Retry-After: 1` rather than
/// queued. A streamed body (export, events) holds its place only until its
/// head is sent.
pub async fn shed(State(guard): State<Arc<Guard>>, req: Request, next: Next) -> Response {
    let Some(semaphore) = &guard.in_flight else {
        return next.run(req).await;
    };
    let Ok(_permit) = Arc::clone(semaphore).try_acquire_owned() else {
        return ApiError::Unavailable {
            message: format!(
                "the server is handling its maximum of {} requests: retry in a moment",
                guard.limits.max_in_flight
            ),
            retry_after_s: Some(1),
        }
        .into_response();
    };
    next.run(req).await
}

/// Middleware: a request whose response head is not ready in time is
/// answered 503 (`Retry-After: 1`). A filing cut off this way may still
/// commit: retry it with the same `client_id`. Photo uploads have their own
/// longer bound; streamed bodies (events, exports) have theirs
/// ([`until`]), since this one ends at the head.
pub async fn deadline(State(guard): State<Arc<Guard>>, req: Request, next: Next) -> Response {
    let upload = req.method() == Method::POST && req.uri().path().ends_with("/photos");
    let limit = if upload {
        guard.limits.upload_timeout
    } else {
        guard.limits.request_timeout
    };
    if limit.is_zero() {
        return next.run(req).await;
    }
    match tokio::time::timeout(limit, next.run(req)).await {
        Ok(response) => response,
        Err(_) => ApiError::Unavailable {
            message: format!(
                "the request was not answered within {} s: retry later",
                limit.as_secs()
            ),
            retry_after_s: Some(1),
        }
        .into_response(),
    }
}

/// Middleware of the event stream: takes a place among the open streams
/// (503 past the total, 429 past the client address's share, both with
/// `Retry-After`) and hands it to the response body, which frees it when
/// the stream ends or the client goes away. A refused request (4xx) frees
/// it at once.
pub async fn event_stream(State(guard): State<Arc<Guard>>, req: Request, next: Next) -> Response {
    use futures_util::StreamExt as _;
    let address = guard.client(req.extensions(), req.headers());
    let place = match guard.streams.open(address.map(AddrKey::from)) {
        Ok(place) => place,
        Err(StreamRefused::Total { max }) => {
            return ApiError::Unavailable {
                message: format!(
                    "the server holds its maximum of {max} open event streams: retry later"
                ),
                retry_after_s: Some(STREAM_RETRY_AFTER_S),
            }
            .into_response();
        }
        Err(StreamRefused::PerAddress { max }) => {
            return ApiError::TooManyRequests {
                message: format!(
                    "too many open event streams: at most {max} per client address; close one \
                     or retry in {STREAM_RETRY_AFTER_S} s"
                ),
                retry_after_s: STREAM_RETRY_AFTER_S,
            }
            .into_response();
        }
    };
    let response = next.run(req).await;
    if !response.status().is_success() {
        return response;
    }
    response.map(|body| {
        axum::body::Body::from_stream(body.into_data_stream().map(move |chunk| {
            // Moved into the stream: dropped with it.
            let _held = &place;
            chunk
        }))
    })
}

/// Middleware of the statistics and export routes: charges a heavy read to
/// the caller (its key if it sends a valid one, else its address).
pub async fn heavy_read(
    State((app, guard)): State<(AppState, Arc<Guard>)>,
    req: Request,
    next: Next,
) -> Response {
    charged(&app, &guard, Quota::HeavyRead, req, next).await
}

/// Middleware of the geocoding routes.
pub async fn geocode(
    State((app, guard)): State<(AppState, Arc<Guard>)>,
    req: Request,
    next: Next,
) -> Response {
    charged(&app, &guard, Quota::Geocode, req, next).await
}

async fn charged(app: &App, guard: &Guard, quota: Quota, req: Request, next: Next) -> Response {
    let address = guard.client(req.extensions(), req.headers());
    // A bad key is the handler's to refuse (401) or ignore: here it is
    // charged as no key, by address, so inventing keys dodges nothing.
    let key = super::auth::key_in(req.headers())
        .ok()
        .flatten()
        .map(str::to_owned);
    let caller = match key {
        Some(key) => app.authenticate(&key).await.ok(),
        None => None,
    };
    if let Err(d) = guard.admit(address, caller.as_ref(), quota).await {
        return ApiError::from(d).into_response();
    }
    next.run(req).await
}

/// A body stream bounded in time: it ends at `stop` (a clean end, for an
/// event stream that the client resumes with `Last-Event-ID`) or, after
/// `max` (0: never), with an error that cuts the body short (an export
/// must not look complete when it is not).
pub fn until<S, T>(
    stream: S,
    max: Duration,
    stop: impl Future<Output = ()> + Send + 'static,
    overrun: impl FnOnce() -> Option<T> + Send + 'static,
) -> impl Stream<Item = T> + Send
where
    S: Stream<Item = T> + Send + 'static,
    T: Send + 'static,
{
    use futures_util::StreamExt as _;
    let deadline = (!max.is_zero()).then(|| tokio::time::Instant::now() + max);
    let timer = async move {
        match deadline {
            Some(d) => tokio::time::sleep_until(d).await,
            None => std::future::pending().await,
        }
    };
    let ended = Box::pin(async move {
        tokio::select! {
            () = stop => false,
            () = timer => true,
        }
    });
    futures_util::stream::unfold(
        Some((Box::pin(stream), ended, overrun)),
        |state| async move {
            let (mut stream, mut ended, overrun) = state?;
            tokio::select! {
                item = stream.next() => item.map(|i| (i, Some((stream, ended, overrun)))),
                timed_out = &mut ended => if timed_out { overrun().map(|i| (i, None)) } else { None },
            }
        },
    )
}
