//! berth: a private container registry and image-lifecycle manager.
//!
//! Data flows one way: `http` (routes, OCI error mapping) → services (`registry`, `auth`) →
//! ports (`storage::BlobStore`, `storage::MetaStore`, `storage::access::AccessStore`) → adapters
//! (`storage::fs`, `storage::sqlite`).
//! `main.rs` is the only binary edge; everything here returns typed errors.

pub mod auth;
pub mod config;
pub mod digest;
pub mod http;
pub mod registry;
pub mod server;
pub mod storage;

use std::sync::Arc;

use auth::Access;
use config::Config;
use registry::Registry;
use storage::fs::FsBlobStore;
use storage::sqlite::SqliteMetaStore;

/// The services over the stores the configuration names.
#[derive(Clone)]
pub struct Services {
    pub registry: Registry,
    pub access: Access,
}

/// Opens the embedded stores under `config.data_dir` (applying migrations, creating the signing
/// key and the `admin` user on first start).
pub async fn services(config: &Config) -> Result<Services, auth::Error> {
    std::fs::create_dir_all(&config.data_dir).map_err(storage::Error::from)?;
    let blobs = Arc::new(FsBlobStore::open(&config.data_dir)?);
    let meta = Arc::new(SqliteMetaStore::open(&config.data_dir.join("meta.db")).await?);
    let options = registry::Options {
        upload_lease: config.timeouts.upload_lease(),
    };
    let access = Access::open(meta.clone(), config.auth.settings()).await?;
    Ok(Services {
        registry: Registry::new(blobs, meta, options),
        access,
    })
}

/// Opens the stores and builds the HTTP application.
pub async fn app(config: &Config) -> Result<axum::Router, auth::Error> {
    let trusted_proxies = config
        .auth
        .trusted_proxies
        .iter()
        .map(|text| http::auth::AddressBlock::parse(text))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| auth::Error::Invalid(format!("[auth] trusted_proxies: {e}")))?;
    let services = services(config).await?;
    Ok(http::router(http::AppState {
        registry: services.registry,
        access: services.access,
        realm: config.auth.realm.clone(),
        tls: config.tls.is_some(),
        trusted_proxies,
        metrics: http::metrics::install(),
        body_idle_timeout: config.timeouts.body_idle(),
    }))
}
