//! The edge of the abuse limits (`crate::limits` is the pure core): the
//! client address of a request, quotas charged by handlers and by the
//! heavy-read middleware, the in-flight limit and the request deadline
//! (both 503 with `Retry-After`), the index size check of filings, the
//! places of open event streams (503 or 429 with `Retry-After`), and the
//! drain that ends live streams at shutdown.
//!
//! Order of the checks for a filing: 401 (key), 403 (role), 429 (quota),
//! 503 (index full), then the body's own refusals.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
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
    self, AddrKey, Denied, Limits, OpenStreams, Quota, RateLimiter, StreamRefused,
};
use crate::service::{App, Caller};

/// The limits of one router: quota tables, the in-flight semaphore and the
/// drain signal.
#[derive(Debug)]
pub struct Guard {
    pub limits: Limits,
    quotas: RateLimiter,
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

impl Guard {
    #[must_use]
    pub fn new(limits: &Limits) -> Self {
        Self {
            quotas: RateLimiter::new(limits),
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
    /// `address`.
    ///
    /// # Errors
    /// [`Denied`] when a quota of the address or the key is used up.
    pub fn admit(
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
        self.quotas.admit(who, quota, self.epoch.elapsed())
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
    pub fn admit(&self, caller: Option<&Caller>, quota: Quota) -> Result<(), Denied> {
        self.guard.admit(self.address, caller, quota)
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
    if let Err(d) = guard.admit(address, caller.as_ref(), quota) {
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
