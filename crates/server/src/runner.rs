//! Running a server: serve the routes on the listeners the caller bound,
//! with the background loops that keep a running instance true (sweeping
//! expired tokens, following the store's changes, reloading the TLS
//! certificate on SIGHUP), until shutdown; then drain and flush.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tokio::task::JoinHandle;

use crate::http::{self, router};
use crate::state::AppState;
use crate::{net, usage};

/// Serves `state` on `listener` until `shutdown` resolves, then lets
/// in-flight requests finish, flushes the usage counts and the store
/// before returning.
pub async fn run(
    listener: tokio::net::TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    run_with_admin(listener, None, state, shutdown).await
}

/// [`run`], with the admin API on a listener of its own (`admin_listen`)
/// when `admin` is given; both stop when `shutdown` resolves.
pub async fn run_with_admin(
    listener: tokio::net::TcpListener,
    admin: Option<tokio::net::TcpListener>,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    if state.config().admin_listen.is_some() && admin.is_none() {
        tracing::warn!(
            "admin_listen is set but no admin listener was given: the admin API is not served"
        );
    }
    // At first start this makes one key of each algorithm (an RSA key takes
    // a few hundred ms): the JWKS holds them all before the first answer.
    if let Err(e) = state.tokens().keys().ensure().await {
        tracing::warn!(error = %e, "cannot read or make the signing keys yet; trying again when a JWT is issued");
    }
    http::prepare_console(&state).await;
    let tls = match &state.config().tls {
        Some(files) => Some(Arc::new(
            net::tls::Tls::load(files).map_err(|e| std::io::Error::other(e.to_string()))?,
        )),
        None => None,
    };
    let local = listener.local_addr()?;
    tracing::info!(listen = %local, issuer = %state.config().issuer, "tollgate listening");
    if let Some(a) = &admin {
        tracing::info!(admin_listen = %a.local_addr()?, "admin API listening");
    }
    let background = spawn_background(&state, tls.as_ref());
    let (stop, stopped) = tokio::sync::watch::channel(());
    tokio::spawn(async move {
        shutdown.await;
        drop(stop);
    });
    let served = serve(listener, admin, &state, tls, stopped).await;
    for task in background {
        task.abort();
    }
    if let Err(e) = state.usage().flush(state.store().as_ref()).await {
        tracing::warn!(error = %e, "usage since the last flush is lost: the store refused it");
    }
    state.store().close().await;
    served
}

/// What runs beside the listeners until shutdown: the expired-token
/// sweeper, the usage flusher, the change watcher, the Redis invalidation
/// follower and keeper, the TLS reloader.
fn spawn_background(state: &AppState, tls: Option<&Arc<net::tls::Tls>>) -> Vec<JoinHandle<()>> {
    let mut tasks = vec![
        tokio::spawn(sweep_loop(state.clone())),
        tokio::spawn(usage::flush_loop(
            state.usage().clone(),
            state.store().clone(),
            state.config().usage_flush,
        )),
        tokio::spawn(watch_changes(state.clone())),
    ];
    if let Some(redis) = state.redis().cloned() {
        let tokens = state.tokens().clone();
        tasks.push(tokio::spawn(async move {
            tokens.follow_invalidations().await;
        }));
        tasks.push(tokio::spawn(async move {
            redis.keep().await;
        }));
    }
    if tls.is_some() || state.config().routes_file.is_some() {
        tasks.push(tokio::spawn(reload_on_hangup(tls.cloned(), state.clone())));
    }
    tasks
}

/// Serves the main listener, and the admin listener when there is one,
/// until `stopped`'s sender is dropped.
async fn serve(
    listener: tokio::net::TcpListener,
    admin: Option<tokio::net::TcpListener>,
    state: &AppState,
    tls: Option<Arc<net::tls::Tls>>,
    stopped: tokio::sync::watch::Receiver<()>,
) -> std::io::Result<()> {
    let until_stopped = |mut rx: tokio::sync::watch::Receiver<()>| async move {
        while rx.changed().await.is_ok() {}
    };
    let trusted = Arc::new(state.config().trusted_proxies.clone());
    let on = |listener, router, tls, rx| {
        let limits = state.config().limits;
        let metrics = state.metrics().clone();
        net::serve(
            listener,
            router,
            tls,
            limits,
            trusted.clone(),
            metrics,
            until_stopped(rx),
        )
    };
    let main = on(
        listener,
        router(state.clone()),
        tls.clone(),
        stopped.clone(),
    );
    match admin {
        None => main.await,
        Some(admin) => {
            let admin = on(admin, http::admin_router(state.clone()), tls, stopped);
            let (main, admin) = tokio::join!(main, admin);
            main.and(admin)
        }
    }
}

/// On every SIGHUP, reads the TLS certificate and key again (renewals
/// apply to new connections; open ones are untouched) and the config
/// file's `[[routes]]` (for requests from then on; those in progress
/// finish on the old routes). A file that does not load keeps what is in
/// use, and says why in the log.
async fn reload_on_hangup(tls: Option<Arc<net::tls::Tls>>, state: AppState) {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let Ok(mut hangups) = signal(SignalKind::hangup()) else {
            tracing::warn!("cannot watch SIGHUP: TLS files and routes will not be reloaded");
            return;
        };
        while hangups.recv().await.is_some() {
            if let Some(tls) = &tls {
                match tls.reload() {
                    Ok(()) => tracing::info!("SIGHUP: TLS certificate reloaded"),
                    Err(e) => {
                        tracing::error!(error = %e, "SIGHUP: TLS certificate not reloaded; keeping the one in use")
                    }
                }
            }
            if let Some(path) = &state.config().routes_file {
                reload_routes(&state, path);
            }
        }
    }
    #[cfg(not(unix))]
    let _ = (tls, state);
}

fn reload_routes(state: &AppState, path: &std::path::Path) {
    let loaded = crate::config::routes_in(path).and_then(|routes| {
        let n = routes.len();
        state.gateway().replace_routes(routes).map(|()| n)
    });
    match loaded {
        Ok(n) => tracing::info!(routes = n, "SIGHUP: routes reloaded"),
        Err(e) => {
            tracing::error!(error = %e, "SIGHUP: routes not reloaded; keeping the ones in use")
        }
    }
}

/// Deletes expired tokens now and then. Rows are kept a minute past expiry
/// so that "expired" and "unknown" stay distinguishable in logs meanwhile.
async fn sweep_loop(state: AppState) {
    let mut tick = tokio::time::interval(Duration::from_secs(state.config().sweep_interval));
    loop {
        tick.tick().await;
        match state
            .store()
            .sweep_expired(state.clock().now_secs() - 60)
            .await
        {
            Ok(0) => {}
            Ok(n) => tracing::debug!(deleted = n, "swept expired tokens"),
            Err(e) => tracing::warn!(error = %e, "sweeping expired tokens failed"),
        }
    }
}

/// Drops the validation and client caches and reads the signing keys again
/// whenever the store's revision changes, that is when another process (an
/// admin command, another instance) changed a client, user or key, or
/// revoked a token. The keys are read at the first reading too: a key added
/// between their first load and it would go unseen. Keeps serving from the
/// caches while the store is unreachable.
async fn watch_changes(state: AppState) {
    let mut tick = tokio::time::interval(state.config().change_poll);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut last = None;
    loop {
        tick.tick().await;
        match state.store().revision().await {
            Ok(rev) if last != Some(rev) => {
                let read = match last {
                    Some(_) => state.oauth().follow_change().await,
                    None => state.tokens().keys().reload().await,
                };
                if let Err(e) = read {
                    tracing::debug!(error = %e, "cannot read the signing keys");
                }
                tracing::debug!(revision = rev, "store revision read: keys read again");
                last = Some(rev);
            }
            Ok(_) => {}
            Err(e) => tracing::debug!(error = %e, "cannot read the store revision"),
        }
    }
}
