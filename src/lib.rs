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
pub mod http;
pub mod image;
pub mod lifecycle;
pub mod lint;
pub mod oci;
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
use storage::archive::FsArchive;
use storage::fs::FsBlobStore;
use storage::sqlite::SqliteMetaStore;

/// The services over the stores the configuration names.
#[derive(Clone)]
pub struct Services {
    pub registry: Registry,
    pub access: Access,
    pub lifecycle: Lifecycle,
}

/// Why the stores or the services could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// A maintenance command was pointed at a directory that holds no store.
    #[error(
        "no berth store at {}: point --data-dir (or data_dir in --config) at the server's data \
         directory; only `berth serve` creates a store",
        .0.display()
    )]
    NoStore(std::path::PathBuf),
    /// A setting cannot be used.
    #[error("{0}")]
    Config(String),
    #[error(transparent)]
    Storage(#[from] storage::Error),
    #[error(transparent)]
    Access(#[from] auth::Error),
}

/// Whether opening may create the stores.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Open {
    /// `berth serve`: create the data directory and the stores on first start.
    Create,
    /// Maintenance commands: the stores must exist.
    Existing,
}

/// Opens the embedded stores under `config.data_dir` (applying migrations and creating the
/// signing key on first start).
pub async fn services(config: &Config, open: Open) -> Result<Services, StartError> {
    let meta_path = config.data_dir.join("meta.db");
    if open == Open::Existing && !meta_path.is_file() {
        return Err(StartError::NoStore(config.data_dir.clone()));
    }
    std::fs::create_dir_all(&config.data_dir).map_err(storage::Error::from)?;
    let blobs = Arc::new(FsBlobStore::open(&config.data_dir)?);
    let meta = Arc::new(SqliteMetaStore::open(&meta_path).await?);
    let options = registry::Options {
        upload_lease: config.timeouts.upload_lease(),
        gc_grace: Duration::from_secs(config.lifecycle.gc_grace_secs),
        max_manifest_references: config.limits.max_manifest_references,
    };
    let access = Access::open(meta.clone(), config.auth.options(config.cache_ttl())).await?;
    let settings = Arc::new(lifecycle::SettingsCache::new(
        meta.clone(),
        config.cache_ttl(),
    ));
    let registry = Registry::new(blobs.clone(), meta.clone(), settings.clone(), options);
    let lifecycle = Lifecycle::new(
        registry.clone(),
        access.clone(),
        meta,
        blobs,
        settings,
        Arc::new(FsArchive::new(
            config.lifecycle.archive_dir(&config.data_dir),
        )),
        config.lifecycle.options(),
    );
    Ok(Services {
        registry,
        access,
        lifecycle,
    })
}

/// What `app` gives the server.
pub struct App {
    pub router: axum::Router,
    /// Returned so that the caller can flush what is pending once the server has stopped.
    pub services: Services,
    /// The password berth generated for `admin` when it created it just now.
    pub generated_admin_password: Option<String>,
}

/// Opens (creating, on first start) the stores, bootstraps `admin`, builds the HTTP
/// application and starts the lifecycle's background work (pull-count flushes, scheduled GC).
pub async fn app(config: &Config) -> Result<App, StartError> {
    let trusted_proxies = config
        .auth
        .trusted_proxies
        .iter()
        .map(|text| http::auth::parse_block(text))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| StartError::Config(format!("[auth] trusted_proxies: {e}")))?;
    let schedule = config
        .lifecycle
        .gc_schedule
        .as_deref()
        .map(lifecycle::parse_schedule)
        .transpose()
        .map_err(|e| StartError::Config(format!("[lifecycle] gc_schedule: {e}")))?;
    let services = services(config, Open::Create).await?;
    let generated_admin_password = services.access.bootstrap_admin().await?;
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
        access_log: config.access_log,
    });
    Ok(App {
        router,
        services,
        generated_admin_password,
    })
}
