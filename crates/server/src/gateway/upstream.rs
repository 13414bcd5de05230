//! The gateway's own HTTP/1.1 client for upstreams: connections made with
//! hyper's `client::conn::http1` and kept in a small pool per upstream,
//! instead of hyper-util's general-purpose client (its per-request checkout
//! futures, connector service and URI rewriting showed in profiles of the
//! proxy path).
//!
//! Each route's pool is found once, when the gateway is built (routes to
//! one upstream share it), not looked up by authority per request.
//!
//! A connection is taken from the pool (the most recently used first, so
//! a few stay warm), or made (`TCP_NODELAY`) when none is idle. It goes
//! back when the upstream's response body has been read to its end; a
//! response abandoned half-way takes its connection with it. A pooled
//! connection the upstream has closed in the meantime is noticed before
//! use, or, if the request could not be sent on it, the request is sent
//! again on a new connection (a request is sent at most once).

use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::body::{Body, Bytes};
use axum::http::uri::Authority;
use axum::http::{Request, Response};
use hyper::body::{Body as _, Frame, Incoming, SizeHint};
use hyper::client::conn::http1::{self, SendRequest};
use hyper_util::rt::TokioIo;

/// Idle connections kept per upstream.
const MAX_IDLE: usize = 256;
/// An idle connection older than this is closed rather than used.
const IDLE_TIMEOUT: Duration = Duration::from_secs(90);

/// The idle connections to one upstream.
#[derive(Debug)]
pub struct Pool {
    authority: Authority,
    idle: Mutex<Vec<Idle>>,
}

#[derive(Debug)]
struct Idle {
    sender: SendRequest<Body>,
    since: Instant,
}

impl Pool {
    /// An empty pool for the upstream at `authority`.
    pub fn new(authority: Authority) -> Self {
        Self {
            authority,
            idle: Mutex::default(),
        }
    }

    /// Sends `req` (origin-form URI, `Host` set) to the upstream and gives
    /// the response, its body streaming from the upstream.
    pub async fn send(self: &Arc<Self>, mut req: Request<Body>) -> io::Result<Response<Body>> {
        loop {
            let (mut sender, pooled) = match self.checkout() {
                Some(s) => (s, true),
                None => (connect(&self.authority).await?, false),
            };
            if sender.ready().await.is_err() {
                if pooled {
                    continue;
                }
                return Err(io::Error::other(
                    "the new upstream connection closed at once",
                ));
            }
            match sender.try_send_request(req).await {
                Ok(resp) => return Ok(self.returning(sender, resp)),
                Err(mut failed) => match failed.take_message() {
                    // Never sent: the pooled connection had gone; once more.
                    Some(unsent) if pooled => req = unsent,
                    _ => return Err(io::Error::other(failed.into_error())),
                },
            }
        }
    }

    /// The most recently used idle connection that is still open.
    fn checkout(&self) -> Option<SendRequest<Body>> {
        let mut idle = self.idle.lock().unwrap_or_else(|p| p.into_inner());
        while let Some(c) = idle.pop() {
            if !c.sender.is_closed() && c.since.elapsed() < IDLE_TIMEOUT {
                return Some(c.sender);
            }
        }
        None
    }

    fn checkin(&self, sender: SendRequest<Body>) {
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

    /// The response, its body giving the connection back at its end.
    fn returning(
        self: &Arc<Self>,
        sender: SendRequest<Body>,
        resp: Response<Incoming>,
    ) -> Response<Body> {
        resp.map(|body| {
            Body::new(Returning {
                body,
                back: Some((self.clone(), sender)),
            })
        })
    }
}

/// A new connection to `authority`, its I/O driven by a task of its own.
async fn connect(authority: &Authority) -> io::Result<SendRequest<Body>> {
    let stream = tokio::net::TcpStream::connect(authority.as_str()).await?;
    stream.set_nodelay(true)?;
    let (sender, conn) = http1::Builder::new()
        .handshake(TokioIo::new(stream))
        .await
        .map_err(io::Error::other)?;
    tokio::spawn(async move {
        if let Err(e) = conn.await {
            tracing::debug!(error = %e, "upstream connection ended");
        }
    });
    Ok(sender)
}

/// An upstream's response body that returns its connection to the pool
/// once read to the end (or dropped when nothing was left to read).
struct Returning {
    body: Incoming,
    back: Option<(Arc<Pool>, SendRequest<Body>)>,
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
