//! The registry service: blobs, uploads, manifests, tags, catalog and referrers, as the OCI
//! Distribution Specification v1.1 defines them, over the `BlobStore` and `MetaStore` ports.
//!
//! Architecture invariant: nothing here knows about HTTP (no `axum` or `http` types) or about
//! files and SQL; handlers call one method of `Registry` and map its `Error`.

mod blobs;
mod manifests;

use std::io;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;

pub use crate::storage::{ByteStream, Referrer};
pub use blobs::{BlobRange, BlobRead, Mount, UploadState};
pub use manifests::{
    DOCKER_MANIFEST, DOCKER_MANIFEST_LIST, ManifestUpload, OCI_INDEX, OCI_MANIFEST, Page,
    PutManifest, StoredManifest,
};

use crate::oci::digest::Digest;
use crate::storage::{self, BlobStore, MetaStore};

/// Why a registry operation failed. Each variant maps to one OCI error code in `http/error.rs`;
/// the codes are those of the OCI Distribution Spec v1.1, "Error Codes":
/// <https://github.com/opencontainers/distribution-spec/blob/main/spec.md#error-codes>
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The repository name does not follow the grammar.
    #[error("invalid repository name {0:?}")]
    NameInvalid(String),
    /// The repository is not known to the registry.
    #[error("repository {0:?} is not known to the registry")]
    NameUnknown(String),
    /// The tag does not follow the grammar.
    #[error("invalid tag {0:?}")]
    TagInvalid(String),
    /// The digest is malformed or of an algorithm berth cannot verify.
    #[error("invalid digest {0:?}")]
    DigestInvalid(String),
    /// The uploaded content does not hash to the digest the client gave.
    #[error("content digest {computed} does not match {expected}")]
    DigestMismatch { expected: Digest, computed: Digest },
    /// The repository holds no blob with this digest.
    #[error("blob {0} is not known to the repository")]
    BlobUnknown(Digest),
    /// No upload session with this id exists in the repository.
    #[error("upload session is not known")]
    BlobUploadUnknown,
    /// A chunk does not start where the upload stands (the client must resume from `offset`).
    #[error("chunk starts at {start}, but the upload stands at {offset}")]
    ChunkOutOfOrder { start: u64, offset: u64 },
    /// The body held fewer or more bytes than the client declared.
    #[error("the body held {actual} bytes, {declared} were declared")]
    SizeInvalid { declared: u64, actual: u64 },
    /// Another request is writing to this upload session right now.
    #[error("another request is writing to this upload session")]
    UploadBusy,
    /// The request body failed: the client went away, stalled past the timeout, or was cut off.
    #[error("reading the upload body: {0}")]
    Body(#[source] io::Error),
    /// A byte range outside the blob was requested.
    #[error("range not satisfiable for a blob of {size} bytes")]
    RangeNotSatisfiable { size: u64 },
    /// No manifest with this tag or digest (`reference`, as the client wrote it) exists in
    /// repository `name`.
    #[error("manifest unknown")]
    ManifestUnknown { name: String, reference: String },
    /// The manifest is not valid JSON or not a manifest berth understands.
    #[error("invalid manifest: {0}")]
    ManifestInvalid(String),
    /// The manifest references a blob or child manifest the repository does not hold.
    #[error("manifest references {0}, which is not in the repository")]
    ManifestBlobUnknown(Digest),
    /// A project policy refuses the request: an immutable tag, a quota, a size budget.
    #[error("{0}")]
    Denied(String),
    /// Garbage collection is deleting this blob's bytes at this moment and did not finish in
    /// time; the client may retry.
    #[error("blob {0} is being garbage-collected; retry")]
    BlobBusy(Digest),
    /// The storage layer failed; details stay in the server's log.
    #[error(transparent)]
    Storage(storage::Error),
}

impl From<storage::Error> for Error {
    fn from(e: storage::Error) -> Error {
        match e {
            storage::Error::Body(e) => Error::Body(e),
            e => Error::Storage(e),
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Settings of the registry service.
#[derive(Debug, Clone)]
pub struct Options {
    /// How long an upload lease lasts without renewal: the longest a session stays blocked
    /// after the process writing to it dies. Renewed every third of it while a request lives.
    pub upload_lease: Duration,
    /// Garbage collection spares blobs and links younger than this. A blob link older than
    /// half of it is touched again when a client asks for it (a `HEAD` before a push that
    /// skips the upload), so the manifest that follows finds it still there.
    pub gc_grace: Duration,
    /// The most blobs and child manifests one manifest may reference (all are checked and
    /// recorded while the metadata store's writer is held).
    pub max_manifest_references: usize,
}

/// Where the registry learns a project's storage quota: bytes of distinct blobs it may hold.
/// The lifecycle service answers from the project settings.
#[async_trait]
pub trait Quotas: Send + Sync {
    async fn quota(&self, project: &str) -> Result<Option<u64>, storage::Error>;
}

/// The registry service. Cheap to clone; every replica builds one over the shared stores.
#[derive(Clone)]
pub struct Registry {
    blobs: Arc<dyn BlobStore>,
    meta: Arc<dyn MetaStore>,
    quotas: Arc<dyn Quotas>,
    options: Options,
}

impl Registry {
    pub fn new(
        blobs: Arc<dyn BlobStore>,
        meta: Arc<dyn MetaStore>,
        quotas: Arc<dyn Quotas>,
        options: Options,
    ) -> Registry {
        Registry {
            blobs,
            meta,
            quotas,
            options,
        }
    }

    /// Whether each store takes writes now, probed at once (for readiness checks).
    pub async fn readiness(&self) -> Readiness {
        let (blobs, metadata) = tokio::join!(self.blobs.probe(), self.meta.probe());
        Readiness {
            blobs: blobs.into(),
            metadata: metadata.into(),
        }
    }
}

impl From<crate::oci::names::Error> for Error {
    fn from(e: crate::oci::names::Error) -> Error {
        use crate::oci::names::Error as Name;
        match e {
            Name::NameInvalid(name) => Error::NameInvalid(name),
            Name::TagInvalid(tag) => Error::TagInvalid(tag),
            Name::DigestInvalid(digest) => Error::DigestInvalid(digest),
        }
    }
}

/// What the readiness probes of both stores found.
#[derive(Debug)]
pub struct Readiness {
    pub blobs: StoreState,
    pub metadata: StoreState,
}

impl Readiness {
    pub fn is_ready(&self) -> bool {
        self.blobs == StoreState::Ready && self.metadata == StoreState::Ready
    }
}

/// Whether a store takes writes now; the reason (for the log) when it does not.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreState {
    Ready,
    OutOfSpace(String),
    Failing(String),
}

impl From<Result<(), storage::Error>> for StoreState {
    fn from(probe: Result<(), storage::Error>) -> StoreState {
        match probe {
            Ok(()) => StoreState::Ready,
            Err(e @ storage::Error::OutOfSpace(_)) => StoreState::OutOfSpace(e.to_string()),
            Err(e) => StoreState::Failing(e.to_string()),
        }
    }
}

/// The refusal of a blob that would take `project` over its quota.
fn quota_exceeded(project: &str, size: u64, used: u64, limit: u64) -> Error {
    Error::Denied(format!(
        "quota exceeded: project {project} holds {used} of its {limit} bytes; \
         a blob of {size} bytes does not fit"
    ))
}
