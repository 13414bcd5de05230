//! The Device Authorization Grant from the device's side (RFC 8628): ask
//! for a user code, show it, and poll the token endpoint at the interval
//! the server gives (5 s more after each `slow_down`) until the person has
//! decided, the code expires, or the caller's limit is reached.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tollgate_proto::{DeviceAuthorizationResponse, TokenRequest};

use crate::source::{endpoint_error, send_form, TokenSource};
use crate::token::Token;
use crate::Error;

/// RFC 8628 §3.2: the interval when the server names none.
const DEFAULT_INTERVAL: Duration = Duration::from_secs(5);
/// §3.5: what `slow_down` adds to the interval.
const SLOW_DOWN_STEP: Duration = Duration::from_secs(5);

impl TokenSource {
    /// Asks `url` (the device authorization endpoint) for a user code for
    /// this client and its scopes.
    pub async fn start_device_authorization(
        &self,
        url: &str,
    ) -> Result<DeviceAuthorizationResponse, Error> {
        let mut form = Vec::new();
        if let Some(scope) = self.requested_scope() {
            form.push(("scope".to_owned(), scope.to_string()));
        }
        form.extend(self.config().extra_params.iter().cloned());
        let b = self.post(url, &mut form);
        let (status, body) = send_form(b, url, &form).await?;
        if !(200..300).contains(&status) {
            return Err(endpoint_error(url, status, &body, false));
        }
        serde_json::from_slice(&body).map_err(|e| Error::Endpoint {
            url: url.to_owned(),
            status,
            error: None,
            description: Some(format!(
                "the answer is not a device authorization response: {e}"
            )),
        })
    }

    /// Polls the token endpoint with `started`'s device code until tokens
    /// come (they become this source's, as a browser sign-in's do), the
    /// person denies, the code expires, or `limit` passes.
    pub async fn sign_in_with_device_code(
        &self,
        started: &DeviceAuthorizationResponse,
        limit: Duration,
    ) -> Result<Arc<Token>, Error> {
        let mut interval = started
            .interval
            .map_or(DEFAULT_INTERVAL, Duration::from_secs);
        let lifetime = Duration::from_secs(started.expires_in);
        let deadline = Instant::now() + limit.min(lifetime);
        loop {
            if Instant::now() + interval > deadline {
                return Err(Error::Config(format!(
                    "nobody entered the code {} within {} s",
                    started.user_code,
                    limit.min(lifetime).as_secs()
                )));
            }
            tokio::time::sleep(interval).await;
            let req = TokenRequest::DeviceCode {
                device_code: started.device_code.clone(),
            };
            match self.request(req).await {
                Ok(token) => return Ok(self.adopt(token)),
                Err(e) => match e.oauth_error() {
                    Some("authorization_pending") => {}
                    Some("slow_down") => interval += SLOW_DOWN_STEP,
                    _ => return Err(e),
                },
            }
        }
    }
}
