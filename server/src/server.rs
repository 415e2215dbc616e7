//! `hookline serve`: opens the store, starts the queue and its workers, and serves the API on a
//! listener it is given (tests bind `127.0.0.1:0`) until the shutdown future resolves.

use std::future::Future;
use std::sync::{Arc, RwLock};

use axum::extract::DefaultBodyLimit;
use tokio::net::TcpListener;

use crate::api::{self, AppState, hash_key, new_key};
use crate::config::Config;
use crate::delivery::HttpSender;
use crate::queue::Queue;
use crate::store::{self, Store, StoreError};
use crate::webhook::{Webhook, WebhookSpec};

/// Why the server could not start or stopped with an error.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServeError {
    /// The store could not be opened or failed at start.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The HTTP client could not be built.
    #[error(transparent)]
    Client(#[from] crate::delivery::ClientError),
    /// Serving HTTP failed.
    #[error("serving HTTP failed: {0}")]
    Io(#[from] std::io::Error),
    /// The key that seals secrets cannot be had.
    #[error(transparent)]
    Secrets(#[from] crate::secrets::SecretsError),
    /// `site` is not a directory.
    #[error("config key `site`: {0} is not a directory")]
    Site(String),
}

const ADMIN_KEY_META: &str = "admin_key_sha256";

/// Serves until `shutdown` resolves; then stops intake, lets attempts in flight finish (up to
/// `delivery.shutdown_grace`), releases the rest for the next start, and returns.
pub async fn run(
    listener: TcpListener,
    config: Config,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServeError> {
    if let Some(site) = &config.site
        && !site.is_dir()
    {
        return Err(ServeError::Site(site.display().to_string()));
    }
    let store = store::open(&config.database, config.sync_commits).await?;
    serve(listener, config, store, shutdown).await
}

/// [`run`] on a store the caller opened (a test's, say, that injects faults); closes it at the end.
pub async fn serve(
    listener: TcpListener,
    config: Config,
    store: Arc<dyn Store>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServeError> {
    let admin_hash = admin_key_hash(&config, store.as_ref()).await?;
    let sealer = crate::secrets::Sealer::load(&config.secrets, &config.database)?;
    // One process owns an SQLite database: leases left by a crash are released now.
    store.release_leases().await?;
    let sender = HttpSender::new(&config.delivery)?;
    let queue = Queue::new(config.clone(), store.clone(), sender);
    for record in store.all_webhooks().await? {
        let compiled = WebhookSpec::from_json(&record.spec)
            .map_err(|e| e.to_string())
            .and_then(|spec| sealer.open_spec(&spec).map_err(|e| e.to_string()))
            .and_then(|spec| Webhook::compile(spec).map_err(|e| e.to_string()));
        let scheme = compiled
            .as_ref()
            .map_or_else(|_| Default::default(), |w| w.spec().signing);
        let signer = crate::signing::signer_of(store.as_ref(), &sealer, &record, scheme).await;
        match compiled.and_then(|webhook| Ok((webhook, signer?))) {
            Ok((webhook, signer)) => {
                queue.upsert(&record, webhook.with_limits(config.templates), signer)
            }
            Err(e) => {
                tracing::error!(webhook = %record.id, error = %e, "a stored webhook no longer compiles; not delivering it")
            }
        }
    }
    let keys = crate::api::keys::Keys::new(store.app_keys().await?);
    let state = Arc::new(AppState {
        config: config.clone(),
        store: store.clone(),
        queue: queue.clone(),
        keys: RwLock::new(keys),
        bridge: crate::api::bridge::Bridge::new(&config.bridge, &store.list_apps().await?),
        sealer,
        admin_hash,
    });
    let poller = tokio::spawn(queue.clone().poll());
    let retention = tokio::spawn(crate::retention::run(
        store.clone(),
        config.retention.clone(),
    ));
    let mut app = api::router(state)
        .merge(crate::dashboard::router())
        .layer(DefaultBodyLimit::max(config.max_body_bytes));
    if let Some(site) = &config.site {
        // A file the site does not have is the API's JSON 404.
        let missing = axum::handler::HandlerWithoutStateExt::into_service(api::no_route);
        app = app
            .fallback_service(tower_http::services::ServeDir::new(site).not_found_service(missing));
    }
    tracing::info!(listen = %listener.local_addr()?, database = ?config.database, "hookline serving");
    let served = crate::http::serve(listener, app, &config.limits, shutdown).await;
    tracing::info!("shutting down: intake stopped, finishing attempts in flight");
    retention.abort();
    queue.shutdown().await;
    let _ = poller.await;
    // Tasks that outlive this (an attempt past the shutdown grace) find the store closed.
    store.close().await;
    served?;
    Ok(())
}

/// The admin key's hash: from the config (env `HOOKLINE_ADMIN_KEY`), else the stored one, else a
/// new key printed once.
async fn admin_key_hash(config: &Config, store: &dyn Store) -> Result<String, StoreError> {
    if let Some(key) = &config.admin_key {
        let hash = hash_key(key.expose());
        store.set_meta(ADMIN_KEY_META, &hash).await?;
        return Ok(hash);
    }
    if let Some(hash) = store.get_meta(ADMIN_KEY_META).await? {
        return Ok(hash);
    }
    let key = new_key("hk_admin_");
    let hash = hash_key(&key);
    store.set_meta(ADMIN_KEY_META, &hash).await?;
    // Printed once, on purpose on stderr and not in the logs: only its hash is stored.
    eprintln!(
        "\nhookline: generated an admin key (shown only now; set HOOKLINE_ADMIN_KEY to choose one):\n\n    {key}\n"
    );
    Ok(hash)
}

/// Resolves on Ctrl-C or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
    tracing::info!("shutdown signal received");
}
