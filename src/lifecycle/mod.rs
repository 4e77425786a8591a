//! The lifecycle service: what happens to images after they are pushed. The tag policy
//! (immutable releases, aliases that follow, promotion to `latest`), pull tracking, size
//! budgets and quotas, retention, garbage collection and fsck.
//!
//! It wraps the registry service for manifest pushes, pulls and deletes, so that policy is
//! applied in one place whichever client pushes, and it talks to storage only through the
//! `LifecycleStore`, `MetaStore` (through `Registry`) and `BlobStore` ports.
//!
//! Architecture invariant: only this module deletes blobs, and only through `gc`, after the
//! metadata store has tombstoned them; retention deletes tags and manifests, never bytes.

pub mod archive;
pub mod gc;
mod lock;
mod manifests;
mod pulls;
pub mod retention;
mod runs;
mod schedule;
mod settings;
pub mod tags;

pub use settings::{Change, SettingsCache, SettingsChange};

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use bytes::Bytes;

use crate::auth::AuditAction;
use crate::auth::{self, Access, Actor, Caller, Role, Target};
use crate::oci::digest::Digest;
use crate::oci::names::{Reference, project_of};
use crate::registry::{self, PutManifest, Registry, StoredManifest};
use crate::storage::archive::ArchiveStore;
pub use crate::storage::lifecycle::ProjectSettings;
use crate::storage::lifecycle::{LifecycleStore, RepositoryUsage};
use crate::storage::{self, BlobStore, TagMove};
pub use pulls::PullRecorder;
use tags::{Policy, TagKind};

/// Why a lifecycle operation failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A registry operation failed (a push refused by policy arrives as `Denied` there).
    #[error(transparent)]
    Registry(#[from] registry::Error),
    /// The actor may not do this.
    #[error(transparent)]
    Access(#[from] auth::Error),
    /// A setting, rule or argument is malformed.
    #[error("{0}")]
    Invalid(String),
    /// The project, repository or tag does not exist.
    #[error("{0}")]
    NotFound(String),
    /// Another replica holds the lock of this job.
    #[error("{0} is running elsewhere")]
    Busy(String),
    /// A store failed.
    #[error(transparent)]
    Storage(#[from] storage::Error),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Settings of the lifecycle service.
#[derive(Debug, Clone)]
pub struct Options {
    /// Record pulls (batched), for retention rules.
    pub track_pulls: bool,
    /// GC spares what is younger than this.
    pub gc_grace: Duration,
    /// GC also deletes untagged manifests nothing references (not only orphaned referrers).
    pub gc_untagged: bool,
    /// How long a GC's lock lasts without renewal: after a GC dies, the next may start
    /// this long after.
    pub gc_lease: Duration,
}

/// How a blob push starts (`POST /v2/<name>/blobs/uploads/`).
pub enum UploadStart {
    /// `?mount=<digest>&from=<repository>`.
    Mount {
        digest: Digest,
        from: Option<String>,
    },
    /// `?digest=<digest>` with the whole blob as the body.
    Whole {
        digest: Digest,
        body: storage::ByteStream<'static>,
    },
    /// A session for chunks.
    Session,
}

/// What a push start did.
pub enum Started {
    /// The blob is in the repository (mounted or stored whole).
    Stored(Digest),
    /// An upload session to continue.
    Session(registry::UploadState),
}

/// The lifecycle service. Cheap to clone.
#[derive(Clone)]
pub struct Lifecycle {
    registry: Registry,
    access: Access,
    store: Arc<dyn LifecycleStore>,
    blobs: Arc<dyn BlobStore>,
    settings: Arc<SettingsCache>,
    /// Where retention archives images instead of deleting them.
    archive: Arc<dyn ArchiveStore>,
    pulls: Arc<PullRecorder>,
    options: Arc<Options>,
}

impl Lifecycle {
    pub fn new(
        registry: Registry,
        access: Access,
        store: Arc<dyn LifecycleStore>,
        blobs: Arc<dyn BlobStore>,
        settings: Arc<SettingsCache>,
        archive: Arc<dyn ArchiveStore>,
        options: Options,
    ) -> Lifecycle {
        Lifecycle {
            registry,
            access,
            store,
            blobs,
            settings,
            archive,
            pulls: Arc::new(PullRecorder::default()),
            options: Arc::new(options),
        }
    }
}

/// Parses a cron expression (five fields, or six with seconds), as schedules are written.
pub fn parse_schedule(text: &str) -> Result<croner::Cron, String> {
    text.parse()
        .map_err(|e| format!("invalid schedule {text:?}: {e}"))
}

/// `12.3 MB`-style sizes for people (powers of 1000, as `docker images` prints them).
pub fn format_size(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["B", "kB", "MB", "GB", "TB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1000.0 && unit < UNITS.len() - 1 {
        value /= 1000.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

/// Parses a byte size: `1048576`, `512k`, `10MB`, `10MiB`, `5G`, `5GiB` (k, M, G, T are
/// powers of 1000 with `B`, of 1024 alone or with `iB`).
pub fn parse_size(text: &str) -> Result<u64, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let number: u64 = number
        .parse()
        .map_err(|_| format!("invalid size {text:?}: expected e.g. 10MB or 512MiB"))?;
    let scale: u64 = match unit.trim() {
        "" | "B" => 1,
        "kB" | "KB" => 1000,
        "MB" => 1000u64.pow(2),
        "GB" => 1000u64.pow(3),
        "TB" => 1000u64.pow(4),
        "k" | "K" | "KiB" => 1 << 10,
        "M" | "MiB" => 1 << 20,
        "G" | "GiB" => 1 << 30,
        "T" | "TiB" => 1 << 40,
        other => return Err(format!("invalid size unit {other:?} in {text:?}")),
    };
    number
        .checked_mul(scale)
        .ok_or_else(|| format!("size {text:?} is too large"))
}

/// A result that succeeded, with what its caller should be told about it (printed to stderr by
/// the CLI, `warnings` in the API's reply).
#[derive(Debug)]
pub struct Warned<T> {
    pub value: T,
    pub warnings: Vec<String>,
}

/// What `berth du` shows.
#[derive(Debug)]
pub struct Usage {
    pub projects: Vec<ProjectUsage>,
    pub repositories: Vec<RepositoryUsage>,
}

/// A project's storage: distinct blobs, each counted once however many repositories hold it.
#[derive(Debug)]
pub struct ProjectUsage {
    pub name: String,
    pub bytes: u64,
    pub quota: Option<u64>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_parse_with_decimal_and_binary_units() {
        assert_eq!(parse_size("1048576"), Ok(1 << 20));
        assert_eq!(parse_size("10MB"), Ok(10_000_000));
        assert_eq!(parse_size("10MiB"), Ok(10 << 20));
        assert_eq!(parse_size("512k"), Ok(512 << 10));
        assert_eq!(parse_size("5 GiB"), Ok(5 << 30));
        assert!(parse_size("ten").is_err());
        assert!(parse_size("10XB").is_err());
        assert!(parse_size("99999999999TB").is_err());
    }
}
