//! Group commit of token inserts, for both SQL backends.
//!
//! Token issuance is the hot write. Each request queues its rows and waits;
//! the writer takes everything queued at that moment (up to [`MAX_BATCH`]
//! requests) and hands it to the backend's `flush`, which writes it in one
//! transaction. Every waiting request is then answered with that outcome, so
//! a 200 still means "committed", while a burst of N requests costs one
//! commit (one fsync) instead of N.
//!
//! The writer is a task ([`GroupCommit::spawn`], PostgreSQL: the flush is
//! async I/O) or a thread of its own ([`GroupCommit::spawn_thread`], SQLite:
//! the flush is blocking calls into the library, made where they run, with
//! no handoff to another thread per statement).

use std::future::Future;

use tokio::sync::{mpsc, oneshot};

use super::{StoreError, StoreResult, TokenRecord};

/// Most token requests one group commit takes.
const MAX_BATCH: usize = 512;
/// Queue length in front of the writer; senders wait when it is full.
const QUEUE: usize = 4096;
type Done = oneshot::Sender<StoreResult<()>>;

enum Msg {
    Insert(Vec<TokenRecord>, Done),
    Close(oneshot::Sender<()>),
}

/// The handle requests queue their rows through.
#[derive(Debug, Clone)]
pub struct GroupCommit {
    queue: mpsc::Sender<Msg>,
}

impl GroupCommit {
    /// Spawns the writer as a task; `flush` writes one batch in one transaction.
    pub fn spawn<F, Fut>(mut flush: F) -> Self
    where
        F: FnMut(Vec<TokenRecord>) -> Fut + Send + 'static,
        Fut: Future<Output = StoreResult<()>> + Send + 'static,
    {
        let (queue, mut rx) = mpsc::channel(QUEUE);
        tokio::spawn(async move {
            let mut batch = Batch::default();
            while let Some(first) = rx.recv().await {
                batch.gather(first, &mut rx);
                if !batch.waiting.is_empty() {
                    let result = flush(std::mem::take(&mut batch.rows)).await;
                    batch.answer(result);
                }
                if batch.close() {
                    return;
                }
            }
        });
        Self { queue }
    }

    /// Starts the writer on a thread of its own, named `name`; `flush` writes
    /// one batch in one transaction, blocking.
    pub fn spawn_thread<F>(name: &str, mut flush: F) -> StoreResult<Self>
    where
        F: FnMut(&[TokenRecord]) -> StoreResult<()> + Send + 'static,
    {
        let (queue, mut rx) = mpsc::channel(QUEUE);
        std::thread::Builder::new()
            .name(name.to_owned())
            .spawn(move || {
                let mut batch = Batch::default();
                while let Some(first) = rx.blocking_recv() {
                    batch.gather(first, &mut rx);
                    if !batch.waiting.is_empty() {
                        let result = flush(&batch.rows);
                        batch.rows.clear();
                        batch.answer(result);
                    }
                    if batch.close() {
                        return;
                    }
                }
            })
            .map_err(|e| StoreError::Backend(format!("cannot start the token writer: {e}")))?;
        Ok(Self { queue })
    }

    /// Queues `tokens` and waits until their batch is committed (or failed).
    pub async fn insert(&self, tokens: Vec<TokenRecord>) -> StoreResult<()> {
        let (done, answer) = oneshot::channel();
        let closed = || StoreError::Unavailable("the store is shutting down".into());
        self.queue
            .send(Msg::Insert(tokens, done))
            .await
            .map_err(|_| closed())?;
        answer.await.map_err(|_| closed())?
    }

    /// Commits what is queued, then stops the writer.
    pub async fn close(&self) {
        let (done, wait) = oneshot::channel();
        if self.queue.send(Msg::Close(done)).await.is_ok() {
            let _ = wait.await;
        }
    }
}

/// What one turn of the writer took from the queue.
#[derive(Default)]
struct Batch {
    rows: Vec<TokenRecord>,
    waiting: Vec<Done>,
    closing: Option<oneshot::Sender<()>>,
}

impl Batch {
    /// Takes `first` and whatever else is queued now, up to [`MAX_BATCH`]
    /// requests or a request to close.
    fn gather(&mut self, first: Msg, rx: &mut mpsc::Receiver<Msg>) {
        let mut next = Some(first);
        while let Some(msg) = next.take() {
            match msg {
                Msg::Insert(tokens, done) => {
                    self.rows.extend(tokens);
                    self.waiting.push(done);
                }
                Msg::Close(done) => self.closing = Some(done),
            }
            if self.closing.is_none() && self.waiting.len() < MAX_BATCH {
                next = rx.try_recv().ok();
            }
        }
    }

    /// Answers every waiting request with the batch's outcome.
    fn answer(&mut self, result: StoreResult<()>) {
        if let Err(e) = &result {
            tracing::error!(error = %e, requests = self.waiting.len(), "token batch not committed");
        }
        for done in self.waiting.drain(..) {
            let _ = done.send(result.clone());
        }
    }

    /// Whether the writer was asked to stop (and is told it has).
    fn close(&mut self) -> bool {
        self.closing.take().map(|done| done.send(())).is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::TokenKind;
    use tollgate_proto::{GrantType, Scope};

    fn rows(n: usize) -> Vec<TokenRecord> {
        (0..n)
            .map(|i| TokenRecord {
                hash: [u8::try_from(i % 256).unwrap_or(0); 32],
                kind: TokenKind::Access,
                client_id: "c".into(),
                username: None,
                scope: Scope::empty(),
                grant_type: GrantType::ClientCredentials,
                issued_at: 0,
                expires_at: 1,
                family_id: "f".into(),
                rotated_at: None,
                revoked_at: None,
            })
            .collect()
    }

    #[tokio::test]
    async fn one_flush_answers_every_waiting_request() {
        let flushed = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let seen = flushed.clone();
        let gc = GroupCommit::spawn(move |batch: Vec<TokenRecord>| {
            if let Ok(mut seen) = seen.lock() {
                seen.push(batch.len());
            }
            async { Ok(()) }
        });
        let waits: Vec<_> = (0..20)
            .map(|_| {
                let gc = gc.clone();
                tokio::spawn(async move { gc.insert(rows(2)).await })
            })
            .collect();
        for w in waits {
            assert!(matches!(w.await, Ok(Ok(()))));
        }
        gc.close().await;
        let total: usize = flushed.lock().map(|f| f.iter().sum()).unwrap_or(0);
        assert_eq!(total, 40);
        assert!(gc.insert(rows(1)).await.is_err(), "closed");
    }
}
