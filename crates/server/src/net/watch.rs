//! The timing of one connection: when a request head started arriving, when
//! the connection last did anything, and how many requests are in progress.
//!
//! [`Watched`] wraps the socket and notes reads; [`Watch::begin`] marks a
//! request's head as complete and returns a guard that ends the request when
//! dropped (after its response body). [`Watch::verdict`] then decides:
//! - a request in progress is never cut here (upstream and body timeouts
//!   apply elsewhere);
//! - bytes of a new head, without the whole head within
//!   `header_read_timeout`: close (slowloris);
//! - nothing in progress and nothing received for `idle_timeout`: close.
//!
//! HTTP/2 connections get only the idle rule: their control frames (PING,
//! SETTINGS) are not the start of a request.

use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::Notify;

use crate::config::ServerLimits;

/// The HTTP/2 connection preface's first bytes.
const H2_PREFACE: &[u8] = b"PRI * HTTP/2.0";

/// What a connection's timing says.
#[derive(Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Look again at this instant.
    Wait(Instant),
    /// Close the connection, for this reason.
    Close(&'static str),
}

#[derive(Debug)]
pub struct Watch {
    start: Instant,
    /// Requests begun and not yet ended.
    active: AtomicUsize,
    /// Milliseconds since `start` of the last read or request end.
    last: AtomicU64,
    /// 1 + milliseconds since `start` at which a new head began; 0 = none.
    head_since: AtomicU64,
    h2: AtomicBool,
    seen_bytes: AtomicBool,
    /// Told when the accept loop needs this idle connection's slot.
    reclaim: Notify,
    /// HTTP is being served (any TLS handshake is over).
    serving: AtomicBool,
}

/// Ends its request when dropped.
#[derive(Debug)]
pub struct Active(Arc<Watch>);

impl Drop for Active {
    fn drop(&mut self) {
        self.0
            .last
            .store(self.0.ms(Instant::now()), Ordering::Relaxed);
        self.0.active.fetch_sub(1, Ordering::AcqRel);
    }
}

impl Watch {
    pub fn new() -> Self {
        Self {
            start: Instant::now(),
            active: AtomicUsize::new(0),
            last: AtomicU64::new(0),
            head_since: AtomicU64::new(0),
            h2: AtomicBool::new(false),
            seen_bytes: AtomicBool::new(false),
            reclaim: Notify::new(),
            serving: AtomicBool::new(false),
        }
    }

    /// How long nothing has been in progress (no request, no head
    /// arriving); `None` while something is.
    pub fn idle_for(&self, now: Instant) -> Option<Duration> {
        if !self.serving.load(Ordering::Relaxed)
            || self.active.load(Ordering::Acquire) > 0
            || self.head_since.load(Ordering::Relaxed) > 0
        {
            return None;
        }
        Some(now.saturating_duration_since(self.at(self.last.load(Ordering::Relaxed))))
    }

    /// HTTP is served from now on: the connection may be idle.
    pub fn serving(&self) {
        self.serving.store(true, Ordering::Relaxed);
    }

    /// Asks the connection to close (its slot is wanted); kept until the
    /// connection looks, if it is not looking now.
    pub fn reclaim(&self) {
        self.reclaim.notify_one();
    }

    /// Resolves once [`Watch::reclaim`] was called.
    pub async fn reclaimed(&self) {
        self.reclaim.notified().await;
    }

    fn ms(&self, t: Instant) -> u64 {
        u64::try_from(t.saturating_duration_since(self.start).as_millis()).unwrap_or(u64::MAX)
    }

    fn at(&self, ms: u64) -> Instant {
        self.start + Duration::from_millis(ms)
    }

    /// A request's head is complete: it is in progress until the guard drops.
    pub fn begin(self: &Arc<Self>) -> Active {
        self.active.fetch_add(1, Ordering::AcqRel);
        self.head_since.store(0, Ordering::Relaxed);
        Active(self.clone())
    }

    /// `bytes` were just read from the connection.
    fn read(&self, bytes: &[u8]) {
        if bytes.is_empty() {
            return;
        }
        if !self.seen_bytes.swap(true, Ordering::Relaxed) && bytes.starts_with(H2_PREFACE) {
            self.h2.store(true, Ordering::Relaxed);
        }
        let now = self.ms(Instant::now());
        self.last.store(now, Ordering::Relaxed);
        if !self.h2.load(Ordering::Relaxed)
            && self.active.load(Ordering::Acquire) == 0
            && self.head_since.load(Ordering::Relaxed) == 0
        {
            self.head_since.store(now + 1, Ordering::Relaxed);
        }
    }

    /// Whether to close the connection at `now`, or when to look again.
    pub fn verdict(&self, now: Instant, limits: &ServerLimits) -> Verdict {
        let idle = Duration::from_secs(limits.idle_timeout);
        if self.active.load(Ordering::Acquire) > 0 {
            return Verdict::Wait(now + idle);
        }
        let head_since = self.head_since.load(Ordering::Relaxed);
        if head_since > 0 {
            let deadline =
                self.at(head_since - 1) + Duration::from_secs(limits.header_read_timeout);
            return if now >= deadline {
                Verdict::Close("the request head did not arrive within header_read_timeout")
            } else {
                Verdict::Wait(deadline)
            };
        }
        let deadline = self.at(self.last.load(Ordering::Relaxed)) + idle;
        if now >= deadline {
            Verdict::Close("idle for idle_timeout")
        } else {
            Verdict::Wait(deadline)
        }
    }
}

/// A socket whose reads are noted in a [`Watch`], and whose writes of
/// hyper's own error answers get a JSON body ([`super::bare`]).
#[derive(Debug)]
pub struct Watched<IO> {
    inner: IO,
    watch: Arc<Watch>,
    /// A rewritten answer still to be written, from `sent` on.
    pending: Vec<u8>,
    sent: usize,
}

impl<IO> Watched<IO> {
    pub fn new(inner: IO, watch: Arc<Watch>) -> Self {
        Self {
            inner,
            watch,
            pending: Vec::new(),
            sent: 0,
        }
    }
}

impl Watch {
    /// Whether a write now can only be hyper answering a head by itself: an
    /// HTTP/1 head was arriving and no handler has begun.
    fn head_refused(&self) -> bool {
        !self.h2.load(Ordering::Relaxed)
            && self.active.load(Ordering::Acquire) == 0
            && self.head_since.load(Ordering::Relaxed) > 0
    }
}

impl<IO: AsyncWrite + Unpin> Watched<IO> {
    /// Writes what is pending; ready once nothing is.
    fn drain(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while self.sent < self.pending.len() {
            let n = std::task::ready!(
                Pin::new(&mut self.inner).poll_write(cx, &self.pending[self.sent..])
            )?;
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            self.sent += n;
        }
        self.pending.clear();
        self.sent = 0;
        Poll::Ready(Ok(()))
    }
}

impl<IO: AsyncRead + Unpin> AsyncRead for Watched<IO> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.inner).poll_read(cx, buf);
        if let Poll::Ready(Ok(())) = polled {
            self.watch.read(&buf.filled()[before..]);
        }
        polled
    }
}

impl<IO: AsyncWrite + Unpin> AsyncWrite for Watched<IO> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        std::task::ready!(self.drain(cx))?;
        if self.watch.head_refused() {
            if let Some(answer) = super::bare::rewrite(buf) {
                self.pending = answer;
                // Taken whole; written by this drain or the next flush.
                let _ = self.drain(cx)?;
                return Poll::Ready(Ok(buf.len()));
            }
        }
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        if self.watch.head_refused() {
            // Rare: gather the pieces so the whole head can be looked at.
            let whole: Vec<u8> = bufs.iter().flat_map(|b| b.iter().copied()).collect();
            return self.poll_write(cx, &whole);
        }
        std::task::ready!(self.drain(cx))?;
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        std::task::ready!(self.drain(cx))?;
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        std::task::ready!(self.drain(cx))?;
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits() -> ServerLimits {
        ServerLimits {
            header_read_timeout: 10,
            idle_timeout: 60,
            ..ServerLimits::default()
        }
    }

    #[test]
    fn idle_then_closed() {
        let w = Watch::new();
        let t0 = w.start;
        assert_eq!(
            w.verdict(t0, &limits()),
            Verdict::Wait(t0 + Duration::from_secs(60))
        );
        assert!(matches!(
            w.verdict(t0 + Duration::from_secs(61), &limits()),
            Verdict::Close(_)
        ));
    }

    #[test]
    fn a_slow_head_is_cut_at_header_read_timeout() {
        let w = Watch::new();
        w.read(b"GET / HT");
        let t0 = w.start;
        assert!(matches!(
            w.verdict(t0 + Duration::from_secs(11), &limits()),
            Verdict::Close(_)
        ));
    }

    #[test]
    fn a_request_in_progress_is_never_cut() {
        let w = Arc::new(Watch::new());
        w.read(b"GET / HTTP/1.1\r\n\r\n");
        let active = w.begin();
        let late = w.start + Duration::from_secs(3600);
        assert!(matches!(w.verdict(late, &limits()), Verdict::Wait(_)));
        drop(active);
        assert!(matches!(
            w.verdict(Instant::now() + Duration::from_secs(61), &limits()),
            Verdict::Close(_)
        ));
    }

    #[test]
    fn http2_frames_are_not_a_slow_head() {
        let w = Watch::new();
        w.read(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n");
        let t0 = w.start;
        assert!(matches!(
            w.verdict(t0 + Duration::from_secs(11), &limits()),
            Verdict::Wait(_)
        ));
    }
}
