//! berth: a private container registry and image-lifecycle manager.
//!
//! Data flows one way: `http` (routes, OCI error mapping) → services (`registry`) → ports
//! (`storage::BlobStore`, `storage::MetaStore`) → adapters (`storage::fs`, `storage::sqlite`).
//! `main.rs` is the only binary edge; everything here returns typed errors.

pub mod config;
pub mod digest;
pub mod http;
pub mod registry;
pub mod server;
pub mod storage;

use std::sync::Arc;

use config::Config;
use registry::Registry;
use storage::fs::FsBlobStore;
use storage::sqlite::SqliteMetaStore;

/// Opens the embedded stores under `config.data_dir` and builds the HTTP application.
pub async fn app(config: &Config) -> Result<axum::Router, storage::Error> {
    std::fs::create_dir_all(&config.data_dir)?;
    let blobs = Arc::new(FsBlobStore::open(&config.data_dir)?);
    let meta = Arc::new(SqliteMetaStore::open(&config.data_dir.join("meta.db")).await?);
    let options = registry::Options {
        upload_lease: config.timeouts.upload_lease(),
    };
    let registry = Registry::new(blobs, meta, options);
    Ok(http::router(http::AppState {
        registry,
        metrics: http::metrics::install(),
        body_idle_timeout: config.timeouts.body_idle(),
    }))
}
