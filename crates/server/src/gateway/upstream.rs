//! The gateway's own client for upstreams: connections made with hyper's
//! `client::conn` (HTTP/1.1, or HTTP/2 when an https upstream offers it by
//! ALPN) and kept per upstream, instead of hyper-util's general-purpose
//! client (its per-request checkout futures, connector service and URI
//! rewriting showed in profiles of the proxy path).
//!
//! Each route's pool is found once, when the gateway is built (routes to
//! one upstream with the same TLS settings share it), not looked up by
//! authority per request.
//!
//! HTTP/1.1: a connection is taken from the pool (the most recently used
//! first, so a few stay warm), or made (`TCP_NODELAY`) when none is idle.
//! It goes back when the upstream's response body has been read to its
//! end; a response abandoned half-way takes its connection with it. A
//! pooled connection the upstream has closed in the meantime is noticed
//! before use, or, if the request could not be sent on it, the request is
//! sent again on a new connection (a request is sent at most once).
//! HTTP/2: one connection carries every request at once, and is replaced
//! when it closes.

use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::body::{Body, Bytes};
use axum::http::uri::{Authority, Scheme};
use axum::http::{header, Request, Response, Uri, Version};
use hyper::body::{Body as _, Frame, Incoming, SizeHint};
use hyper::client::conn::{http1, http2};
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::io::{AsyncRead, AsyncWrite};

use super::tls::Connector;

/// Idle connections kept per upstream.
const MAX_IDLE: usize = 256;
/// An idle connection older than this is closed rather than used.
const IDLE_TIMEOUT: Duration = Duration::from_secs(90);

/// Why a request did not reach the upstream, or got no answer.
#[derive(Debug, thiserror::Error)]
pub enum UpstreamError {
    #[error("connecting: {0}")]
    Connect(io::Error),
    #[error("TLS handshake: {0}")]
    Tls(io::Error),
    #[error("{0}")]
    Http(#[from] hyper::Error),
    #[error("the new connection closed at once")]
    Closed,
}

/// A request the upstream did not answer.
#[derive(Debug)]
pub struct Failed {
    pub error: UpstreamError,
    /// The request, when none of it was sent: it may go elsewhere.
    pub unsent: Option<Request<Body>>,
}

impl Failed {
    fn unsent(error: UpstreamError, req: Request<Body>) -> Self {
        Self {
            error,
            unsent: Some(req),
        }
    }
}

/// The connections to one upstream.
#[derive(Debug)]
pub struct Pool {
    authority: Authority,
    /// `host:port`, as connected to.
    addr: String,
    tls: Option<Connector>,
    /// The longest a TCP connection may take to open.
    connect_timeout: Duration,
    idle: Mutex<Vec<Idle>>,
    /// The HTTP/2 connection, shared by every request.
    h2: Mutex<Option<http2::SendRequest<Body>>>,
}

#[derive(Debug)]
struct Idle {
    sender: http1::SendRequest<Body>,
    since: Instant,
}

/// A connection, ready for a request.
enum Sender {
    H1(http1::SendRequest<Body>),
    H2(http2::SendRequest<Body>),
}

impl Pool {
    /// An empty pool for the upstream at `authority` (`addr` to connect
    /// to, within `connect_timeout`), over TLS when `tls` is given.
    pub fn new(
        authority: Authority,
        addr: String,
        tls: Option<Connector>,
        connect_timeout: Duration,
    ) -> Self {
        Self {
            authority,
            addr,
            tls,
            connect_timeout,
            idle: Mutex::default(),
            h2: Mutex::default(),
        }
    }

    /// Sends `req` (origin-form URI, `Host` set) to the upstream and gives
    /// the response, its body streaming from the upstream; or why not,
    /// with the request itself when it was never sent.
    pub async fn send(self: &Arc<Self>, mut req: Request<Body>) -> Result<Response<Body>, Failed> {
        loop {
            let (sender, pooled) = match self.checkout() {
                Some(s) => (s, true),
                None => match self.connect().await {
                    Ok(s) => (s, false),
                    Err(error) => return Err(Failed::unsent(error, req)),
                },
            };
            let sent = match sender {
                Sender::H1(mut h1) => {
                    if h1.ready().await.is_err() {
                        if pooled {
                            continue;
                        }
                        return Err(Failed::unsent(UpstreamError::Closed, req));
                    }
                    match h1.try_send_request(req).await {
                        Ok(resp) => return Ok(self.returning(Some(h1), resp)),
                        Err(failed) => failed,
                    }
                }
                Sender::H2(mut h2) => {
                    self.to_http2(&mut req);
                    if h2.ready().await.is_err() {
                        if pooled {
                            continue;
                        }
                        return Err(Failed::unsent(UpstreamError::Closed, req));
                    }
                    match h2.try_send_request(req).await {
                        Ok(resp) => return Ok(self.returning(None, resp)),
                        Err(failed) => failed,
                    }
                }
            };
            let mut failed = sent;
            let unsent = failed.take_message();
            match unsent {
                // Never sent: the pooled connection had gone; once more.
                Some(unsent) if pooled => req = unsent,
                unsent => {
                    return Err(Failed {
                        error: self.failed(failed.into_error()),
                        unsent,
                    })
                }
            }
        }
    }

    /// A failure after the handshake, as TLS when rustls reported it: TLS
    /// 1.3 refuses a missing or unknown client certificate with an alert
    /// the client reads only after it thinks the handshake is done.
    /// rustls reports every TLS failure as `InvalidData`, and HTTP/2 keeps
    /// only an I/O error's kind and text, so the kind is what tells.
    fn failed(&self, e: hyper::Error) -> UpstreamError {
        let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(&e);
        while let Some(c) = cause {
            let kind = c.downcast_ref::<io::Error>().map(io::Error::kind);
            if self.tls.is_some() && kind == Some(io::ErrorKind::InvalidData) {
                return UpstreamError::Tls(io::Error::new(io::ErrorKind::InvalidData, e));
            }
            cause = c.source();
        }
        UpstreamError::Http(e)
    }

    /// HTTP/2 names the upstream in `:scheme` and `:authority`, taken from
    /// an absolute URI, not in `Host`.
    fn to_http2(&self, req: &mut Request<Body>) {
        let mut parts = req.uri().clone().into_parts();
        parts.scheme = Some(Scheme::HTTPS);
        parts.authority = Some(self.authority.clone());
        if let Ok(uri) = Uri::from_parts(parts) {
            *req.uri_mut() = uri;
        }
        req.headers_mut().remove(header::HOST);
        *req.version_mut() = Version::HTTP_2;
    }

    /// The HTTP/2 connection if open, else the most recently used idle
    /// HTTP/1.1 connection that is still open.
    fn checkout(&self) -> Option<Sender> {
        let h2 = self.h2.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(s) = h2.as_ref().filter(|s| !s.is_closed()) {
            return Some(Sender::H2(s.clone()));
        }
        drop(h2);
        let mut idle = self.idle.lock().unwrap_or_else(|p| p.into_inner());
        while let Some(c) = idle.pop() {
            if !c.sender.is_closed() && c.since.elapsed() < IDLE_TIMEOUT {
                return Some(Sender::H1(c.sender));
            }
        }
        None
    }

    fn checkin(&self, sender: http1::SendRequest<Body>) {
        if sender.is_closed() {
            return;
        }
        let mut idle = self.idle.lock().unwrap_or_else(|p| p.into_inner());
        if idle.len() < MAX_IDLE {
            idle.push(Idle {
                sender,
                since: Instant::now(),
            });
        }
    }

    /// The response, its body giving an HTTP/1.1 connection back at its
    /// end.
    fn returning(
        self: &Arc<Self>,
        sender: Option<http1::SendRequest<Body>>,
        resp: Response<Incoming>,
    ) -> Response<Body> {
        resp.map(|body| {
            Body::new(Returning {
                body,
                back: sender.map(|s| (self.clone(), s)),
            })
        })
    }

    /// Sends an upgrade request (`Connection: Upgrade`) on a connection of
    /// its own, HTTP/1.1 even where the upstream offers HTTP/2, and never
    /// pooled: after a `101` it belongs to the upgraded protocol.
    pub async fn send_upgrade(&self, req: Request<Body>) -> Result<Response<Incoming>, Failed> {
        let stream = match self.tcp().await {
            Ok(s) => s,
            Err(e) => return Err(Failed::unsent(e, req)),
        };
        let sender = match &self.tls {
            None => upgradable_http1(stream).await,
            Some(tls) => match tls.h1_only.connect(tls.name.clone(), stream).await {
                Ok(stream) => upgradable_http1(stream).await,
                Err(e) => Err(UpstreamError::Tls(e)),
            },
        };
        let mut sender = match sender {
            Ok(s) => s,
            Err(e) => return Err(Failed::unsent(e, req)),
        };
        sender
            .try_send_request(req)
            .await
            .map_err(|mut failed| Failed {
                unsent: failed.take_message(),
                error: self.failed(failed.into_error()),
            })
    }

    /// A TCP connection, within the connect timeout.
    async fn tcp(&self) -> Result<tokio::net::TcpStream, UpstreamError> {
        let connecting = tokio::net::TcpStream::connect(&self.addr);
        let stream = tokio::time::timeout(self.connect_timeout, connecting)
            .await
            .map_err(|_| UpstreamError::Connect(io::ErrorKind::TimedOut.into()))?
            .map_err(UpstreamError::Connect)?;
        stream.set_nodelay(true).map_err(UpstreamError::Connect)?;
        Ok(stream)
    }

    /// A new connection, its I/O driven by a task of its own.
    async fn connect(&self) -> Result<Sender, UpstreamError> {
        let stream = self.tcp().await?;
        let Some(tls) = &self.tls else {
            return http1_over(stream).await;
        };
        let stream = tls
            .connector
            .connect(tls.name.clone(), stream)
            .await
            .map_err(UpstreamError::Tls)?;
        if stream.get_ref().1.alpn_protocol() != Some(b"h2") {
            return http1_over(stream).await;
        }
        let (sender, conn) = http2::Builder::new(TokioExecutor::new())
            .handshake(TokioIo::new(stream))
            .await?;
        spawn_connection(conn);
        let mut h2 = self.h2.lock().unwrap_or_else(|p| p.into_inner());
        *h2 = Some(sender.clone());
        Ok(Sender::H2(sender))
    }
}

async fn http1_over<T>(io: T) -> Result<Sender, UpstreamError>
where
    T: AsyncRead + AsyncWrite + Send + Unpin + 'static,
{
    let (sender, conn) = http1::Builder::new().handshake(TokioIo::new(io)).await?;
    spawn_connection(conn);
    Ok(Sender::H1(sender))
}

/// An HTTP/1.1 connection whose I/O can be taken over after a `101`.
async fn upgradable_http1<T>(io: T) -> Result<http1::SendRequest<Body>, UpstreamError>
where
    T: AsyncRead + AsyncWrite + Send + Unpin + 'static,
{
    let (sender, conn) = http1::Builder::new().handshake(TokioIo::new(io)).await?;
    spawn_connection(conn.with_upgrades());
    Ok(sender)
}

fn spawn_connection<C>(conn: C)
where
    C: std::future::Future<Output = hyper::Result<()>> + Send + 'static,
{
    tokio::spawn(async move {
        if let Err(e) = conn.await {
            tracing::debug!(error = %e, "upstream connection ended");
        }
    });
}

/// An upstream's response body that returns its connection to the pool
/// once read to the end (or dropped when nothing was left to read).
struct Returning {
    body: Incoming,
    back: Option<(Arc<Pool>, http1::SendRequest<Body>)>,
}

impl Returning {
    fn give_back(&mut self) {
        if let Some((pool, sender)) = self.back.take() {
            pool.checkin(sender);
        }
    }
}

impl hyper::body::Body for Returning {
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, hyper::Error>>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.body).poll_frame(cx);
        match &polled {
            Poll::Ready(None) => this.give_back(),
            Poll::Ready(Some(Ok(_))) if this.body.is_end_stream() => this.give_back(),
            Poll::Ready(Some(Err(_))) => this.back = None,
            _ => {}
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

impl Drop for Returning {
    fn drop(&mut self) {
        // A body with nothing left (an empty one the server never polled)
        // leaves its connection reusable; a half-read one does not.
        if self.body.is_end_stream() {
            self.give_back();
        }
    }
}
