//! The open connections, by peer address, so that one address cannot take
//! them all.
//!
//! - At most `max_connections_per_address` are open from one TCP peer
//!   address; one more is closed as soon as it is accepted. Trusted proxies
//!   are exempt: every client behind them shares their address.
//! - When all `max_connections` are open, the accept loop asks for an idle
//!   one back ([`Census::reclaim_idle`]), as nginx drains its reusable
//!   connections: an idle connection of the address holding the most, the
//!   one idle longest among them, is told to close. A connection with a
//!   request in progress, or a head arriving, is never taken.
//!
//! The table holds one entry per open connection, so it is bounded by
//! `max_connections` (about 100 bytes an entry); it is keyed by peer
//! addresses, which callers choose, so it keeps std's SipHash.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use super::watch::Watch;

#[derive(Debug)]
pub struct Census {
    per_address: usize,
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    next_id: u64,
    per_address: HashMap<IpAddr, usize>,
    open: HashMap<u64, Entry>,
}

#[derive(Debug)]
struct Entry {
    addr: IpAddr,
    watch: Arc<Watch>,
}

/// One connection's place in the census, given up when dropped.
#[derive(Debug)]
pub struct Enrolled {
    census: Arc<Census>,
    id: u64,
}

impl Drop for Enrolled {
    fn drop(&mut self) {
        let mut inner = self.census.lock();
        if let Some(e) = inner.open.remove(&self.id) {
            if let Some(n) = inner.per_address.get_mut(&e.addr) {
                *n -= 1;
                if *n == 0 {
                    inner.per_address.remove(&e.addr);
                }
            }
        }
    }
}

impl Census {
    pub fn new(per_address: usize) -> Self {
        Self {
            per_address,
            inner: Mutex::new(Inner::default()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Counts a new connection from `addr`, or `None` when that address
    /// already has `max_connections_per_address` (unless `exempt`).
    pub fn enroll(
        self: &Arc<Self>,
        addr: IpAddr,
        watch: Arc<Watch>,
        exempt: bool,
    ) -> Option<Enrolled> {
        let mut inner = self.lock();
        let n = inner.per_address.entry(addr).or_insert(0);
        if *n >= self.per_address && !exempt {
            return None;
        }
        *n += 1;
        let id = inner.next_id;
        inner.next_id += 1;
        inner.open.insert(id, Entry { addr, watch });
        Some(Enrolled {
            census: self.clone(),
            id,
        })
    }

    /// Tells the idle connection most worth closing to close; false when
    /// none is idle.
    pub fn reclaim_idle(&self, now: Instant) -> bool {
        let inner = self.lock();
        let victim = inner
            .open
            .values()
            .filter_map(|e| {
                let idle: Duration = e.watch.idle_for(now)?;
                let held = inner.per_address.get(&e.addr).copied().unwrap_or(0);
                Some(((held, idle), e))
            })
            .max_by_key(|(rank, _)| *rank);
        match victim {
            Some((_, e)) => {
                e.watch.reclaim();
                true
            }
            None => false,
        }
    }

    /// Connections open from `addr`.
    #[cfg(test)]
    fn count(&self, addr: IpAddr) -> usize {
        self.lock().per_address.get(&addr).copied().unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    const A: IpAddr = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1));
    const B: IpAddr = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 2));

    #[test]
    fn an_address_gets_its_share_and_gives_it_back() {
        let census = Arc::new(Census::new(2));
        let w = || Arc::new(Watch::new());
        let a1 = census.enroll(A, w(), false);
        let a2 = census.enroll(A, w(), false);
        assert!(a1.is_some() && a2.is_some());
        assert!(census.enroll(A, w(), false).is_none(), "a third from A");
        let exempt = census.enroll(A, w(), true);
        assert!(exempt.is_some(), "a trusted proxy is not limited");
        assert!(census.enroll(B, w(), false).is_some(), "B is not A");
        assert_eq!(census.count(B), 0, "B's guard was dropped at once");
        drop(a1);
        assert!(
            census.enroll(A, w(), false).is_none(),
            "still 2 (one exempt)"
        );
        drop(exempt);
        assert!(census.enroll(A, w(), false).is_some(), "one freed");
    }

    #[tokio::test]
    async fn the_address_holding_most_gives_up_an_idle_connection() {
        let census = Arc::new(Census::new(100));
        let busy = Arc::new(Watch::new());
        let _busy_guard = busy.begin();
        let serving = || {
            let w = Arc::new(Watch::new());
            w.serving();
            w
        };
        busy.serving();
        let (a1, a2, b1) = (serving(), serving(), serving());
        let _g = [
            census.enroll(A, busy.clone(), false),
            census.enroll(A, a1.clone(), false),
            census.enroll(A, a2.clone(), false),
            census.enroll(B, b1.clone(), false),
        ];
        assert!(census.reclaim_idle(Instant::now() + Duration::from_secs(1)));
        let told = |w: &Arc<Watch>| {
            let w = w.clone();
            async move {
                tokio::time::timeout(Duration::from_millis(20), w.reclaimed())
                    .await
                    .is_ok()
            }
        };
        assert!(!told(&busy).await, "never one with a request in progress");
        assert!(!told(&b1).await, "B holds fewer");
        assert!(told(&a1).await || told(&a2).await, "one of A's idle ones");
    }
}
