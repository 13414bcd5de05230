//! Group commit of token inserts, for both SQL backends.
//!
//! Token issuance is the hot write. Each request queues its rows and waits;
//! one task takes everything queued at that moment (up to [`MAX_BATCH`]
//! requests) and hands it to the backend's `flush`, which writes it with one
//! statement. Every waiting request is then answered with that outcome, so
//! a 200 still means "committed", while a burst of N requests costs one
//! commit (one fsync) and one statement instead of N of each.

use std::future::Future;

use tokio::sync::{mpsc, oneshot};

use super::{StoreError, StoreResult, TokenRecord};

/// Most token requests one group commit takes.
const MAX_BATCH: usize = 512;
/// Queue length in front of the task; senders wait when it is full.
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
    /// Spawns the task; `flush` writes one batch in one transaction.
    pub fn spawn<F, Fut>(flush: F) -> Self
    where
        F: FnMut(Vec<TokenRecord>) -> Fut + Send + 'static,
        Fut: Future<Output = StoreResult<()>> + Send + 'static,
    {
        let (queue, rx) = mpsc::channel(QUEUE);
        tokio::spawn(run(rx, flush));
        Self { queue }
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

    /// Commits what is queued, then stops the task.
    pub async fn close(&self) {
        let (done, wait) = oneshot::channel();
        if self.queue.send(Msg::Close(done)).await.is_ok() {
            let _ = wait.await;
        }
    }
}

async fn run<F, Fut>(mut rx: mpsc::Receiver<Msg>, mut flush: F)
where
    F: FnMut(Vec<TokenRecord>) -> Fut,
    Fut: Future<Output = StoreResult<()>>,
{
    let mut waiting: Vec<Done> = Vec::new();
    let mut rows: Vec<TokenRecord> = Vec::new();
    while let Some(first) = rx.recv().await {
        let mut closing = None;
        let mut next = Some(first);
        while let Some(msg) = next.take() {
            match msg {
                Msg::Insert(tokens, done) => {
                    rows.extend(tokens);
                    waiting.push(done);
                }
                Msg::Close(done) => closing = Some(done),
            }
            if closing.is_none() && waiting.len() < MAX_BATCH {
                next = rx.try_recv().ok();
            }
        }
        if !waiting.is_empty() {
            let count = rows.len();
            let result = flush(std::mem::take(&mut rows)).await;
            if let Err(e) = &result {
                tracing::error!(error = %e, tokens = count, "token batch not committed");
            }
            for done in waiting.drain(..) {
                let _ = done.send(result.clone());
            }
        }
        if let Some(done) = closing {
            let _ = done.send(());
            return;
        }
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
