//! Sending logout tokens (Back-Channel Logout 1.0 §2.5): each POSTed as
//! `logout_token=...` to its client's `backchannel_logout_uri`, on a task
//! of its own so a sign-out never waits for a client. Up to three tries,
//! 1 s and then 2 s apart, each within 5 s; redirects are not followed and
//! nothing of the answer but its status is read. A token still undelivered
//! when the server stops is lost (the client's session then ends at its
//! own expiry).

use std::sync::OnceLock;
use std::time::Duration;

use crate::oauth::backchannel::Notice;

const TRIES: u32 = 3;
const FIRST_WAIT: Duration = Duration::from_secs(1);
const TIMEOUT: Duration = Duration::from_secs(5);

/// Sends every notice, in the background.
pub fn deliver(notices: Vec<Notice>) {
    if notices.is_empty() {
        return;
    }
    tokio::spawn(async move {
        futures_util::future::join_all(notices.into_iter().map(send)).await;
    });
}

fn client() -> Option<&'static reqwest::Client> {
    static CLIENT: OnceLock<Option<reqwest::Client>> = OnceLock::new();
    CLIENT
        .get_or_init(|| {
            let built = reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .timeout(TIMEOUT)
                .build();
            built
                .map_err(|e| tracing::error!(error = %e, "no HTTP client for back-channel logout"))
                .ok()
        })
        .as_ref()
}

async fn send(n: Notice) {
    let Some(http) = client() else { return };
    let mut wait = FIRST_WAIT;
    for attempt in 1..=TRIES {
        let sent = http
            .post(&n.uri)
            .form(&[("logout_token", &n.logout_token)])
            .send()
            .await;
        match sent {
            Ok(r) if r.status().is_success() => {
                tracing::info!(client_id = %n.client_id, attempt, "back-channel logout delivered");
                return;
            }
            Ok(r) => {
                tracing::warn!(client_id = %n.client_id, attempt, status = r.status().as_u16(), "back-channel logout refused")
            }
            Err(e) => {
                tracing::warn!(client_id = %n.client_id, attempt, error = %e.without_url(), "back-channel logout not delivered")
            }
        }
        if attempt < TRIES {
            tokio::time::sleep(wait).await;
            wait *= 2;
        }
    }
    tracing::warn!(client_id = %n.client_id, "back-channel logout given up after {TRIES} tries");
}
