//! `tollgate login`: a person signs in in the browser (authorization code
//! with PKCE, RFC 8252 for native apps). tollgate listens on a loopback port
//! for the redirect, exchanges the code, and caches the tokens like any
//! other grant's; `call`, `token` and the rest then use them (with a
//! profile that says `login = true`), refreshing as they go. With
//! `--device` (RFC 8628), for a machine without a browser: tollgate prints
//! a code and an address to open on any other screen, and polls until the
//! person has signed in there and allowed it.

use std::time::Duration;

use anyhow::{bail, Context, Result};
use axum::extract::{Query, State};
use axum::response::Html;
use axum::routing::get;
use clap::Args;
use serde::Deserialize;
use tokio::sync::mpsc;
use tollgate_client::pkce::{self, Pkce};

use crate::client_args::AuthArgs;
use crate::session::Session;

#[derive(Debug, Args)]
pub struct LoginArgs {
    /// Print the sign-in URL instead of opening a browser.
    #[arg(long)]
    no_browser: bool,
    /// Seconds to wait for the sign-in to finish.
    #[arg(long, default_value_t = 300, value_name = "SECS")]
    timeout: u64,
    /// The authorization endpoint [default: from the server's metadata].
    #[arg(long, value_name = "URL")]
    authorize_url: Option<String>,
    /// Sign in on another device: print a code and the address to enter it
    /// at, then wait (the device authorization grant, RFC 8628; the client
    /// must be registered for it).
    #[arg(long, conflicts_with_all = ["no_browser", "authorize_url"])]
    device: bool,
    /// The device authorization endpoint [default: from the server's metadata].
    #[arg(long, value_name = "URL", requires = "device")]
    device_url: Option<String>,
    #[command(flatten)]
    auth: AuthArgs,
}

/// What the browser brings back to the loopback listener.
#[derive(Debug, Deserialize)]
struct Callback {
    code: Option<String>,
    state: Option<String>,
    error: Option<String>,
    error_description: Option<String>,
    /// The issuer that sent it (RFC 9207), when it says.
    iss: Option<String>,
}

/// Where to sign in, and the issuer whose answer to expect (`None` when the
/// endpoint was given rather than discovered).
struct Endpoint {
    authorize: String,
    issuer: Option<String>,
}

pub async fn run(args: LoginArgs) -> Result<()> {
    let session = Session::open(args.auth.resolve_for_login()?)?;
    if args.device {
        return device_login(&args, &session).await;
    }
    let Endpoint { authorize, issuer } = match &args.authorize_url {
        Some(u) => Endpoint {
            authorize: u.clone(),
            issuer: None,
        },
        None => {
            let doc = metadata(&session).await?;
            Endpoint {
                authorize: endpoint_of(&doc, "authorization_endpoint", "--authorize-url")?,
                issuer: doc["issuer"].as_str().map(str::to_owned),
            }
        }
    };
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0))
        .await
        .context("cannot listen on a loopback port for the sign-in redirect")?;
    let redirect_uri = format!(
        "http://127.0.0.1:{}/callback",
        listener.local_addr()?.port()
    );
    let pkce = Pkce::new()?;
    let state = pkce::random_string::<24>()?;
    let config = session.source.config();
    let mut url = reqwest::Url::parse(&authorize)
        .with_context(|| format!("the authorization endpoint `{authorize}` is not a URL"))?;
    url.query_pairs_mut()
        .append_pair("response_type", "code")
        .append_pair("client_id", &config.credentials.client_id)
        .append_pair("redirect_uri", &redirect_uri)
        .append_pair("code_challenge", &pkce.challenge)
        .append_pair("code_challenge_method", "S256")
        .append_pair("state", &state);
    if !config.scopes.is_empty() {
        url.query_pairs_mut()
            .append_pair("scope", &config.scopes.join(" "));
    }
    eprintln!("Sign in at: {url}");
    if !args.no_browser && !open_browser(url.as_str()) {
        eprintln!("(no browser could be opened: open the address above yourself)");
    }
    let back = wait_for_callback(listener, Duration::from_secs(args.timeout)).await?;
    // Mix-up defence (RFC 9700 §4.4): an answer from another issuer is not
    // this server's, whatever it carries.
    if let (Some(expected), Some(came)) = (&issuer, &back.iss) {
        if expected != came {
            bail!("the sign-in redirect came from issuer `{came}`, not `{expected}`: ignored");
        }
    }
    if let Some(error) = back.error {
        let why = back.error_description.unwrap_or_default();
        bail!("the sign-in was refused: {error} {why}");
    }
    if back.state.as_deref() != Some(state.as_str()) {
        bail!("the sign-in redirect does not belong to this login (its state differs)");
    }
    let Some(code) = back.code else {
        bail!("the sign-in redirect carried no code");
    };
    session
        .source
        .sign_in_with_code(&code, &redirect_uri, &pkce.verifier)
        .await?;
    session.sync();
    eprintln!("Signed in; the tokens are cached and renewed as they expire.");
    Ok(())
}

/// The device flow: a code to show, then polls until the person decides.
async fn device_login(args: &LoginArgs, session: &Session) -> Result<()> {
    let url = match &args.device_url {
        Some(u) => u.clone(),
        None => endpoint_of(
            &metadata(session).await?,
            "device_authorization_endpoint",
            "--device-url",
        )?,
    };
    let started = session.source.start_device_authorization(&url).await?;
    eprintln!(
        "To sign in, open {} on any device and enter the code {}",
        started.verification_uri, started.user_code
    );
    if let Some(complete) = &started.verification_uri_complete {
        eprintln!("(or open {complete}, which has the code in it)");
    }
    eprintln!("Waiting for you to sign in and allow it...");
    session
        .source
        .sign_in_with_device_code(&started, Duration::from_secs(args.timeout))
        .await?;
    session.sync();
    eprintln!("Signed in; the tokens are cached and renewed as they expire.");
    Ok(())
}

/// The RFC 8414 metadata of the token URL's server.
async fn metadata(session: &Session) -> Result<serde_json::Value> {
    let token_url = reqwest::Url::parse(&session.source.config().token_url)?;
    let metadata = token_url.join("/.well-known/oauth-authorization-server")?;
    session
        .http
        .get(metadata.clone())
        .send()
        .await
        .with_context(|| format!("fetching {metadata}"))?
        .error_for_status()?
        .json()
        .await
        .with_context(|| format!("reading {metadata}"))
}

/// The endpoint `field` of the metadata, or what to pass instead.
fn endpoint_of(doc: &serde_json::Value, field: &str, flag: &str) -> Result<String> {
    match doc[field].as_str() {
        Some(u) => Ok(u.to_owned()),
        None => bail!("the server's metadata names no {field}: pass {flag} URL"),
    }
}

/// Serves `/callback` on `listener` until the browser arrives, or `limit`.
async fn wait_for_callback(listener: tokio::net::TcpListener, limit: Duration) -> Result<Callback> {
    let (tx, mut rx) = mpsc::channel::<Callback>(1);
    let app = axum::Router::new()
        .route("/callback", get(callback))
        .with_state(tx);
    let server = tokio::spawn(async move { axum::serve(listener, app).await });
    let got = tokio::time::timeout(limit, rx.recv()).await;
    // Let the browser's page finish loading before the listener goes.
    tokio::time::sleep(Duration::from_millis(100)).await;
    server.abort();
    match got {
        Ok(Some(back)) => Ok(back),
        Ok(None) => bail!("the sign-in listener stopped"),
        Err(_) => bail!("no sign-in within {} s", limit.as_secs()),
    }
}

async fn callback(
    State(tx): State<mpsc::Sender<Callback>>,
    Query(back): Query<Callback>,
) -> Html<&'static str> {
    let ok = back.error.is_none();
    let _ = tx.send(back).await;
    Html(if ok {
        "<!doctype html><title>tollgate</title><p>Signed in. You can close this tab and return to the terminal.</p>"
    } else {
        "<!doctype html><title>tollgate</title><p>The sign-in did not complete. See the terminal.</p>"
    })
}

/// Asks the desktop to open `url`; whether something was started.
fn open_browser(url: &str) -> bool {
    let opener = if cfg!(target_os = "macos") {
        "open"
    } else {
        "xdg-open"
    };
    std::process::Command::new(opener)
        .arg(url)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .is_ok()
}
