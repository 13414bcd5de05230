//! Accepting connections and serving HTTP/1.1 and HTTP/2 on them, within
//! bounds an attacker cannot move.
//!
//! - At most `max_connections` are open. At the limit an idle connection is
//!   closed to make room ([`census`]); when none is idle, one more is closed
//!   as soon as it is accepted (the kernel's queue never fills up behind
//!   it), with a warning logged at most every ten seconds and a counter in
//!   `/metrics`. At most `max_connections_per_address` are open from one
//!   peer address, trusted proxies excepted.
//! - Each request carries its [`ClientAddr`]: the peer, or the client a
//!   trusted proxy names ([`crate::forwarded`]).
//! - A request head must arrive within `header_read_timeout` of its first
//!   byte, and a connection with no request in progress is closed after
//!   `idle_timeout` ([`watch`]).
//! - hyper buffers at most [`ServerLimits::head_buffer_bytes`] of a head;
//!   the application answers heads over its own limits with a JSON 431/414.
//! - With [`tls::Tls`], each connection's handshake must finish within
//!   `header_read_timeout`; HTTP/2 or HTTP/1.1 is chosen by ALPN.
//! - On shutdown no connection is accepted; idle ones close, and requests in
//!   progress are answered before [`serve`] returns.

mod bare;
mod census;
mod hold;
pub mod tls;
mod watch;

pub use hold::{Busy, Hold};

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::body::HttpBody;
use axum::extract::ConnectInfo;
use axum::Router;
use hyper::body::Incoming;
use hyper::body::{Frame, SizeHint};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::{GracefulShutdown, Watcher};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tower::ServiceExt;

use crate::config::ServerLimits;
use crate::forwarded::{ClientAddr, TrustedProxies};
use crate::metrics::Metrics;
use census::Census;
use watch::{Verdict, Watch, Watched};

/// Seconds between two warnings that connections are being refused.
const REFUSAL_LOG_EVERY: Duration = Duration::from_secs(10);

/// How long the accept loop waits for a reclaimed idle connection's slot.
const RECLAIM_WAIT: Duration = Duration::from_millis(250);

/// Serves `app` on `listener` until `shutdown` resolves, then waits for the
/// requests in progress.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    tls: Option<Arc<tls::Tls>>,
    limits: ServerLimits,
    trusted: Arc<TrustedProxies>,
    metrics: Arc<Metrics>,
    shutdown: impl Future<Output = ()> + Send,
) -> std::io::Result<()> {
    let max_connections = effective_max_connections(limits.max_connections);
    let slots = Arc::new(Semaphore::new(max_connections));
    let census = Arc::new(Census::new(limits.max_connections_per_address));
    let builder = Arc::new(builder(&limits));
    let graceful = GracefulShutdown::new();
    let mut refusals = Refusals::new(max_connections);
    // Told to upgraded connections, which hyper no longer serves.
    let (stopping, stop) = tokio::sync::watch::channel(false);
    tokio::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    // EMFILE and friends: back off instead of spinning.
                    tracing::warn!(error = %e, "accepting a connection failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let watch = Arc::new(Watch::new());
        let exempt = trusted.contains(peer.ip());
        let Some(enrolled) = census.enroll(peer.ip(), watch.clone(), exempt) else {
            metrics.connection_refused();
            refusals.note_address(peer.ip(), limits.max_connections_per_address);
            drop(stream);
            continue;
        };
        let Some(slot) = take_slot(&slots, &census).await else {
            metrics.connection_refused();
            refusals.note();
            drop(stream);
            continue;
        };
        let _ = stream.set_nodelay(true);
        let conn = Connection {
            peer,
            hold: Hold::new(slot, enrolled, watch.clone(), stop.clone()),
            watch,
            trusted: trusted.clone(),
            app: app.clone(),
            builder: builder.clone(),
            limits,
            metrics: metrics.clone(),
            watcher: graceful.watcher(),
            secure: tls.is_some(),
        };
        tokio::spawn(conn.run(stream, tls.clone()));
    }
    drop(listener);
    let _ = stopping.send(true);
    graceful.shutdown().await;
    Ok(())
}

/// A free connection slot; at the limit, the slot of an idle connection
/// told to close, if one closes within [`RECLAIM_WAIT`].
async fn take_slot(slots: &Arc<Semaphore>, census: &Census) -> Option<OwnedSemaphorePermit> {
    if let Ok(slot) = slots.clone().try_acquire_owned() {
        return Some(slot);
    }
    if !census.reclaim_idle(Instant::now()) {
        return None;
    }
    tokio::time::timeout(RECLAIM_WAIT, slots.clone().acquire_owned())
        .await
        .ok()?
        .ok()
}

/// hyper's settings: both protocols, the head buffer bound, no hyper
/// timers (the watch does the timing, for both protocols alike).
fn builder(limits: &ServerLimits) -> auto::Builder<TokioExecutor> {
    let mut b = auto::Builder::new(TokioExecutor::new());
    b.http1()
        .timer(TokioTimer::new())
        .header_read_timeout(None)
        // hyper's default of 100 headers: a larger max_headers makes it
        // allocate the header array per request instead of on the stack.
        .max_buf_size(limits.head_buffer_bytes());
    b.http2()
        .timer(TokioTimer::new())
        .max_header_list_size(u32::try_from(limits.head_buffer_bytes()).unwrap_or(u32::MAX))
        .max_concurrent_streams(256);
    b
}

/// `max_connections`, lowered to what the open-file limit allows (after
/// raising the soft limit to the hard one, as nginx's
/// `worker_rlimit_nofile` does), with room for the store and upstreams.
fn effective_max_connections(configured: usize) -> usize {
    const RESERVED_FDS: u64 = 128;
    let nofile = rlimit::increase_nofile_limit(u64::MAX).unwrap_or(1024);
    let allowed =
        usize::try_from(nofile.saturating_sub(RESERVED_FDS).max(16)).unwrap_or(usize::MAX);
    if allowed < configured {
        tracing::warn!(
            max_connections = configured,
            open_file_limit = nofile,
            using = allowed,
            "the open-file limit is below max_connections; using fewer"
        );
    }
    configured.min(allowed)
}

/// One accepted connection and what serving it needs.
struct Connection {
    peer: SocketAddr,
    /// Its timing, also seen by the census.
    watch: Arc<Watch>,
    /// Its slot and place in the census, given up when the connection
    /// ends, or an upgraded connection made of it.
    hold: Hold,
    trusted: Arc<TrustedProxies>,
    app: Router,
    builder: Arc<auto::Builder<TokioExecutor>>,
    limits: ServerLimits,
    metrics: Arc<Metrics>,
    watcher: Watcher,
    /// Over TLS: requests carry [`Secure`].
    secure: bool,
}

/// In a request's extensions when it came over TLS.
#[derive(Debug, Clone, Copy)]
pub struct Secure;

impl Connection {
    /// The TLS handshake first when there is TLS (within
    /// `header_read_timeout`), then the connection; its slot is freed at
    /// the end (or when an upgraded connection made of it ends).
    async fn run(self, stream: TcpStream, tls: Option<Arc<tls::Tls>>) {
        let Some(tls) = tls else {
            self.serve(stream).await;
            return;
        };
        let peer = self.peer;
        let handshake = tokio::time::timeout(
            Duration::from_secs(self.limits.header_read_timeout),
            tls.acceptor().accept(stream),
        );
        match handshake.await {
            Ok(Ok(stream)) => self.serve(stream).await,
            Ok(Err(e)) => tracing::debug!(%peer, error = %e, "TLS handshake failed"),
            Err(_) => tracing::debug!(%peer, "TLS handshake timed out"),
        }
    }

    /// Serves `io` until the connection ends, times out, or the server
    /// shuts down.
    async fn serve<IO>(self, io: IO)
    where
        IO: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let watch = self.watch;
        watch.serving();
        let io = TokioIo::new(Watched::new(io, watch.clone()));
        let service = service(
            self.app,
            self.peer,
            self.trusted,
            (self.secure, self.hold.clone()),
            watch.clone(),
        );
        let conn = self
            .builder
            .serve_connection_with_upgrades(io, service)
            .into_owned();
        let conn = self.watcher.watch(conn);
        let metrics = self.metrics;
        metrics.connection_opened();
        tokio::pin!(conn);
        let mut next_check = tokio::time::Instant::now();
        loop {
            tokio::select! {
                result = &mut conn => {
                    if let Err(e) = result {
                        tracing::debug!(error = %e, "connection ended with an error");
                    }
                    break;
                }
                () = watch.reclaimed() => {
                    // Asked for while idle; a request may have begun since.
                    if watch.idle_for(Instant::now()).is_some() {
                        tracing::debug!("closing an idle connection: its slot is needed");
                        break;
                    }
                }
                () = tokio::time::sleep_until(next_check) => {
                    match watch.verdict(Instant::now(), &self.limits) {
                        Verdict::Wait(until) => next_check = until.into(),
                        Verdict::Close(reason) => {
                            metrics.connection_timed_out();
                            tracing::debug!(reason, "closing connection");
                            break;
                        }
                    }
                }
            }
        }
        metrics.connection_closed();
        drop(self.hold);
    }
}

/// hyper's service for one connection: the caller's address in the
/// request's extensions (and the connection's [`Hold`] when it asks for an
/// upgrade), and the watch told when each request begins and when its
/// response body has been sent.
fn service(
    app: Router,
    peer: SocketAddr,
    trusted: Arc<TrustedProxies>,
    (secure, hold): (bool, Hold),
    watch: Arc<Watch>,
) -> impl hyper::service::Service<
    hyper::Request<Incoming>,
    Response = hyper::Response<Body>,
    Error = Infallible,
    Future = impl Future<Output = Result<hyper::Response<Body>, Infallible>> + Send,
> + Clone {
    hyper::service::service_fn(move |req: hyper::Request<Incoming>| {
        let active = watch.begin();
        let mut req = req.map(Body::new);
        let client: ClientAddr = trusted.client(peer.ip(), req.headers());
        req.extensions_mut().insert(ConnectInfo(peer));
        req.extensions_mut().insert(client);
        if secure {
            req.extensions_mut().insert(Secure);
        }
        if req.headers().contains_key(axum::http::header::UPGRADE) {
            req.extensions_mut().insert(hold.clone());
        }
        let app = app.clone();
        async move {
            let resp = app.oneshot(req).await?;
            // The request ends when its body is dropped, sent or not.
            Ok(resp.map(|inner| Body::new(Tracked { inner, active })))
        }
    })
}

/// A response body that holds its request's [`watch::Active`] until hyper
/// drops it; size and end are passed through, so `Content-Length` stays.
struct Tracked {
    inner: Body,
    active: watch::Active,
}

impl HttpBody for Tracked {
    type Data = axum::body::Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        let _ = &self.active;
        Pin::new(&mut self.inner).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// Logs refused connections at most every [`REFUSAL_LOG_EVERY`].
struct Refusals {
    max: usize,
    since_log: u64,
    last_log: Option<Instant>,
}

impl Refusals {
    fn new(max: usize) -> Self {
        Self {
            max,
            since_log: 0,
            last_log: None,
        }
    }

    /// Whether a warning may be logged now (at most every
    /// [`REFUSAL_LOG_EVERY`]); if so, it counts as logged.
    fn due(&mut self) -> bool {
        let due = self
            .last_log
            .is_none_or(|t| t.elapsed() >= REFUSAL_LOG_EVERY);
        if due {
            self.last_log = Some(Instant::now());
        }
        due
    }

    /// A connection closed because its address has its share.
    fn note_address(&mut self, addr: std::net::IpAddr, per_address: usize) {
        if self.due() {
            tracing::warn!(
                %addr,
                max_connections_per_address = per_address,
                "an address has its share of connections: closing its new ones"
            );
        }
    }

    fn note(&mut self) {
        self.since_log += 1;
        if self.due() {
            tracing::warn!(
                max_connections = self.max,
                refused = self.since_log,
                "connection limit reached: closing new connections (raise limits.max_connections or the open-file limit)"
            );
            self.since_log = 0;
        }
    }
}
