//! berth: a private container registry and image-lifecycle manager.
//!
//! Data flows one way: `http` (routes, OCI error mapping) → services (`registry`, `auth`,
//! `lifecycle`) → ports (`storage::BlobStore`, `storage::MetaStore`, `storage::access::AccessStore`,
//! `storage::lifecycle::LifecycleStore`) → adapters
//! (`storage::fs`, `storage::sqlite`).
//! `main.rs` is the only binary edge; everything here returns typed errors.

pub mod analyze;
pub mod auth;
pub mod build;
pub mod config;
pub mod digest;
pub mod http;
pub mod image;
pub mod lifecycle;
pub mod lint;
pub mod registry;
pub mod server;
pub mod storage;
pub mod time;

use std::sync::Arc;
use std::time::Duration;

use auth::Access;
use config::Config;
use lifecycle::Lifecycle;
use registry::Registry;
use storage::fs::FsBlobStore;
use storage::sqlite::SqliteMetaStore;

/// The services over the stores the configuration names.
#[derive(Clone)]
pub struct Services {
    pub registry: Registry,
    pub access: Access,
    pub lifecycle: Lifecycle,
}

/// Opens the embedded stores under `config.data_dir` (applying migrations, creating the signing
/// key and the `admin` user on first start).
pub async fn services(config: &Config) -> Result<Services, auth::Error> {
    std::fs::create_dir_all(&config.data_dir).map_err(storage::Error::from)?;
    let blobs = Arc::new(FsBlobStore::open(&config.data_dir)?);
    let meta = Arc::new(SqliteMetaStore::open(&config.data_dir.join("meta.db")).await?);
    let options = registry::Options {
        upload_lease: config.timeouts.upload_lease(),
        gc_grace: Duration::from_secs(config.lifecycle.gc_grace_secs),
    };
    let access = Access::open(meta.clone(), config.auth.settings()).await?;
    let settings = Arc::new(lifecycle::Settings::new(meta.clone()));
    let registry = Registry::new(blobs.clone(), meta.clone(), settings.clone(), options);
    let lifecycle = Lifecycle::new(
        registry.clone(),
        access.clone(),
        meta,
        blobs,
        settings,
        config.lifecycle.options(&config.data_dir),
    );
    Ok(Services {
        registry,
        access,
        lifecycle,
    })
}

/// Opens the stores, builds the HTTP application and starts the lifecycle's background work
/// (pull-count flushes, scheduled GC). The services are returned too, so that the caller can
/// flush what is pending once the server has stopped.
pub async fn app(config: &Config) -> Result<(axum::Router, Services), auth::Error> {
    let trusted_proxies = config
        .auth
        .trusted_proxies
        .iter()
        .map(|text| http::auth::AddressBlock::parse(text))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| auth::Error::Invalid(format!("[auth] trusted_proxies: {e}")))?;
    let schedule = config
        .lifecycle
        .gc_schedule
        .as_deref()
        .map(lifecycle::parse_schedule)
        .transpose()
        .map_err(|e| auth::Error::Invalid(format!("[lifecycle] gc_schedule: {e}")))?;
    let services = services(config).await?;
    services.lifecycle.start_background(
        Duration::from_secs(config.lifecycle.pull_flush_secs.max(1)),
        schedule,
    );
    let router = http::router(http::AppState {
        registry: services.registry.clone(),
        access: services.access.clone(),
        lifecycle: services.lifecycle.clone(),
        realm: config.auth.realm.clone(),
        tls: config.tls.is_some(),
        trusted_proxies,
        metrics: http::metrics::install(),
        body_limits: http::body::BodyLimits {
            idle: config.timeouts.body_idle(),
            min_bytes_per_sec: config.timeouts.body_min_bytes_per_sec,
            window: config.timeouts.body_rate_window(),
        },
    });
    Ok((router, services))
}
