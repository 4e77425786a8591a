//! Ports: the `BlobStore` and `MetaStore` traits, and their adapters.
//!
//! Services talk to storage only through these two traits, held as `Arc<dyn …>` so that
//! handlers are not generic over the store. Only this module imports `sqlx` (or, later,
//! `object_store`); nothing here knows about HTTP or policy.
//!
//! Architecture invariant: blobs are immutable and content-addressed. A blob becomes visible
//! only after its digest has been verified and the bytes are atomically in place, and the
//! metadata store is the source of truth for what a repository contains.

pub mod access;
pub mod archive;
pub mod fs;
pub mod lifecycle;
pub mod sqlite;

use std::io;
use std::pin::Pin;

use async_trait::async_trait;
use bytes::Bytes;
use futures_util::Stream;

use crate::oci::digest::Digest;

/// A stream of body chunks, as a service hands it to a store.
pub type ByteStream<'a> = Pin<Box<dyn Stream<Item = io::Result<Bytes>> + Send + 'a>>;

/// What went wrong in a store. Adapters map their own failures onto these.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The blob, upload or record does not exist.
    #[error("not found")]
    NotFound,
    /// The upload's data does not end where the session says it does.
    #[error("upload data is {actual} bytes, expected {expected}")]
    UploadSizeMismatch { expected: u64, actual: u64 },
    /// The body stream failed (the client went away, stalled, or sent too much).
    #[error("reading the request body: {0}")]
    Body(#[source] io::Error),
    /// A filesystem operation failed.
    #[error("blob store I/O: {0}")]
    Io(io::Error),
    /// The metadata database failed.
    #[error("metadata store: {0}")]
    Db(sqlx::Error),
    /// A read on the metadata database's inline connections failed.
    #[error("metadata store read: {0}")]
    Read(rusqlite::Error),
    /// A store's volume is full (or its quota reached): nothing was written. Writes succeed
    /// again once space is freed; the stores recover by themselves.
    #[error("the registry is out of storage space ({0})")]
    OutOfSpace(String),
    /// Applying the metadata migrations failed.
    #[error("metadata migrations: {0}")]
    Migrate(sqlx::migrate::MigrateError),
    /// Stored metadata is not what berth wrote.
    #[error("corrupt metadata: {0}")]
    Corrupt(String),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Whether an I/O error says the volume is full or the user's disk quota is spent.
fn is_full(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::StorageFull | io::ErrorKind::QuotaExceeded
    )
}

impl From<io::Error> for Error {
    fn from(e: io::Error) -> Error {
        if is_full(&e) {
            return Error::OutOfSpace(format!("blob store: {e}"));
        }
        Error::Io(e)
    }
}

impl From<sqlx::Error> for Error {
    fn from(e: sqlx::Error) -> Error {
        /// SQLite's primary result code for a full disk (`SQLITE_FULL`).
        const SQLITE_FULL: i32 = 13;
        let full = match &e {
            sqlx::Error::Database(db) => db
                .code()
                .and_then(|code| code.parse::<i32>().ok())
                .is_some_and(|code| code & 0xff == SQLITE_FULL),
            sqlx::Error::Io(io) => is_full(io),
            _ => false,
        };
        if full {
            return Error::OutOfSpace(format!("metadata store: {e}"));
        }
        Error::Db(e)
    }
}

impl From<rusqlite::Error> for Error {
    fn from(e: rusqlite::Error) -> Error {
        Error::Read(e)
    }
}

impl From<sqlx::migrate::MigrateError> for Error {
    fn from(e: sqlx::migrate::MigrateError) -> Error {
        Error::Migrate(e)
    }
}

/// Content-addressed blob bytes plus the staging area of uploads in progress.
///
/// Layout of the filesystem adapter (keys of other adapters follow it):
///
/// ```text
/// <root>
/// ├── blobs
/// │   └── sha256
/// │       └── e3
/// │           └── e3b0c442…   committed blob, named by its verified digest
/// └── uploads
///     └── <upload id>         bytes received so far for one upload session
/// ```
#[async_trait]
pub trait BlobStore: Send + Sync {
    /// The size of a committed blob, or `None` if it is not stored.
    async fn stat(&self, digest: &Digest) -> Result<Option<u64>>;

    /// Reads `len` bytes of a committed blob from `offset`. `Error::NotFound` if absent.
    async fn read(&self, digest: &Digest, offset: u64, len: u64) -> Result<ByteStream<'static>>;

    /// Creates the empty staging area of a new upload.
    async fn upload_create(&self, id: &str) -> Result<()>;

    /// Writes `body` at `offset` of an upload, discarding whatever lies beyond `offset` (bytes
    /// of an earlier request that failed half way), and returns the new size. Nothing is
    /// visible under any digest until `upload_commit`.
    async fn upload_write(&self, id: &str, offset: u64, body: ByteStream<'_>) -> Result<u64>;

    /// Reads the first `len` bytes staged for an upload (to hash them with another algorithm).
    async fn upload_read(&self, id: &str, len: u64) -> Result<ByteStream<'static>>;

    /// Makes the first `size` bytes of an upload durable and visible under `digest`, atomically,
    /// and removes the staging area. The caller has verified the digest. If the blob already
    /// exists the staged copy is dropped (content is deduplicated). Fails with
    /// `UploadSizeMismatch` if fewer bytes were staged.
    async fn upload_commit(&self, id: &str, size: u64, digest: &Digest) -> Result<()>;

    /// Removes an upload's staging area. Idempotent.
    async fn upload_delete(&self, id: &str) -> Result<()>;

    /// Deletes committed blobs, a batch at a time (one request per batch where the store has
    /// a batch delete). Idempotent: absent blobs are skipped. Only garbage collection calls
    /// it, after the metadata store has tombstoned the blobs so that no upload can claim them
    /// meanwhile.
    async fn delete(&self, digests: &[Digest]) -> Result<()>;

    /// Every committed blob with its modification time (unix seconds), for GC and fsck.
    async fn list(&self) -> Result<Vec<(Digest, i64)>>;

    /// Every upload staging area with its modification time (unix seconds).
    async fn list_uploads(&self) -> Result<Vec<(String, i64)>>;

    /// Proves the store reachable and writable now (for readiness checks): writes a few bytes
    /// durably outside the content-addressed space and removes them. `OutOfSpace` when full.
    async fn probe(&self) -> Result<()>;
}

/// An upload session: where a chunked upload stands, kept in the metadata store so that any
/// replica can continue it and a restart loses nothing.
#[derive(Debug, Clone)]
pub struct UploadSession {
    pub id: String,
    pub repository: String,
    /// Bytes received and hashed so far.
    pub offset: u64,
    /// `Hasher::save` of the bytes received so far.
    pub hash_state: Vec<u8>,
}

/// A manifest as stored: its bytes plus what the referrers API and lookups need.
#[derive(Debug, Clone)]
pub struct ManifestRecord {
    pub digest: Digest,
    pub media_type: String,
    pub content: Bytes,
    /// The manifest this one refers to (`subject`), for the referrers API.
    pub subject: Option<Digest>,
    /// `artifactType`, or else the config's media type, as the referrers API reports it.
    pub artifact_type: Option<String>,
    /// The manifest's `annotations` as JSON text, copied into referrers descriptors.
    pub annotations: Option<String>,
}

/// A manifest to store, with what it references.
pub struct NewManifest<'a> {
    pub record: &'a ManifestRecord,
    /// Blobs (config, layers) that must be in the repository.
    pub blobs: &'a [Digest],
    /// Child manifests (of an index) that must be in the repository.
    pub manifests: &'a [Digest],
    /// The tag to point at it, if pushed by tag.
    pub tag: Option<&'a str>,
    /// Compressed size of the image: the manifest plus what it names.
    pub size: u64,
    /// The project's tag policy, applied inside the transaction that stores the manifest.
    pub rules: &'a dyn TagRules,
}

/// A tag policy, as the store applies it while it stores a manifest: the store knows nothing
/// of versions, only that some tags may not move and that moving one may move others.
pub trait TagRules: Sync {
    /// Whether `tag`, once it exists, may be pointed at another manifest.
    fn may_move(&self, tag: &str) -> bool;

    /// Whether the policy decides where `tag` points, so that a push to it is first checked
    /// with `refuse`.
    fn manages(&self, tag: &str) -> bool;

    /// Why a push may not point the managed `tag` at `digest`, given every `(tag, digest)` of
    /// the repository before the push; `None` if the policy would put it there anyway.
    fn refuse(&self, tag: &str, digest: &Digest, tags: &[(String, Digest)]) -> Option<String>;

    /// Whether pointing `tag` at a manifest may move other tags (then `follow` is called).
    fn moves_others(&self, tag: &str) -> bool;

    /// The tags to point elsewhere, given every `(tag, digest)` of the repository after `tag`
    /// was stored.
    fn follow(&self, tag: &str, tags: &[(String, Digest)]) -> Vec<(String, Digest)>;
}

/// What `MetaStore::point_tag` did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TagPointed {
    /// The repository holds no manifest of that digest; nothing changed.
    NoSuchManifest,
    /// The tag points at the manifest now; `previous` is where it pointed before, if anywhere.
    Pointed { previous: Option<Digest> },
}

/// A tag pointed at another manifest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TagMove {
    pub tag: String,
    pub from: Option<Digest>,
    pub to: Digest,
}

/// A project's storage quota: at most `limit` bytes of distinct blobs in its repositories.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Quota<'a> {
    pub project: &'a str,
    pub limit: u64,
}

/// Whether a blob may be linked into a repository.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admit {
    Admitted,
    /// Linking it would take the project's distinct blobs over its quota.
    QuotaExceeded {
        used: u64,
        limit: u64,
    },
    /// Garbage collection is deleting this blob's bytes right now; try again shortly.
    Deleting,
}

/// A blob a repository holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LinkedBlob {
    pub size: u64,
    /// When the link was made or last used (unix seconds).
    pub touched_at: i64,
}

/// A manifest that names a subject, as listed by the referrers API.
#[derive(Debug, Clone)]
pub struct Referrer {
    pub digest: Digest,
    pub media_type: String,
    pub size: u64,
    pub artifact_type: Option<String>,
    pub annotations: Option<String>,
}

/// Outcome of storing a manifest.
#[derive(Debug, PartialEq, Eq)]
pub enum ManifestPut {
    /// Stored; `moved_from` is the manifest the tag pointed at before, if it pointed elsewhere,
    /// and `followed` the other tags the policy moved.
    Stored {
        moved_from: Option<Digest>,
        followed: Vec<TagMove>,
    },
    /// A referenced blob or child manifest is not in the repository; nothing was stored.
    MissingReference(Digest),
    /// The tag exists, points elsewhere, and the policy forbids moving it; nothing was stored.
    Immutable(String),
    /// The policy manages the tag and refused the push, for this reason; nothing was stored.
    Managed(String),
}

/// The source of truth for repositories, blob links, manifests, tags and upload sessions.
///
/// Every method is one transaction. Names and tags are validated by the caller.
#[async_trait]
pub trait MetaStore: Send + Sync {
    /// Before an upload's bytes are committed: checks that `digest` of `size` bytes keeps
    /// `quota`'s project within it, and marks the blob as in use so that garbage collection
    /// spares it. Refuses while GC holds a tombstone on the blob, since the bytes may be going.
    async fn claim_blob(
        &self,
        digest: &Digest,
        size: u64,
        quota: Option<Quota<'_>>,
    ) -> Result<Admit>;

    /// Records that `repository` holds the committed blob `digest` of `size` bytes, if that
    /// keeps the project within `quota`, and, when the blob came through an upload session,
    /// forgets `finished_upload` in the same transaction. The blob must be recorded (claimed)
    /// and not tombstoned: otherwise nothing changes and the answer is `Deleting`, since its
    /// bytes may be gone (a mount racing GC then uploads the blob instead).
    async fn link_blob(
        &self,
        repository: &str,
        digest: &Digest,
        size: u64,
        finished_upload: Option<&str>,
        quota: Option<Quota<'_>>,
    ) -> Result<Admit>;

    /// The blob `digest` if `repository` holds it.
    async fn linked_blob(&self, repository: &str, digest: &Digest) -> Result<Option<LinkedBlob>>;

    /// Marks the link as used now, so that GC's grace period starts again.
    async fn touch_link(&self, repository: &str, digest: &Digest) -> Result<()>;

    /// Removes the blob from `repository`; `false` if it was not there. The bytes stay until GC.
    async fn unlink_blob(&self, repository: &str, digest: &Digest) -> Result<bool>;

    async fn upload_insert(&self, session: &UploadSession) -> Result<()>;

    async fn upload_get(&self, id: &str) -> Result<Option<UploadSession>>;

    /// Takes the lease of session `id` of `repository` for `holder` until `until_ms` (unix
    /// milliseconds), so that no other request on any replica writes to the upload meanwhile.
    /// `None` if there is no such session or another holder's lease has not expired at `now_ms`.
    async fn upload_lease(
        &self,
        id: &str,
        repository: &str,
        holder: &str,
        now_ms: i64,
        until_ms: i64,
    ) -> Result<Option<UploadSession>>;

    /// Extends `holder`'s lease to `until_ms`; `false` if `holder` no longer holds it.
    async fn upload_renew(&self, id: &str, holder: &str, until_ms: i64) -> Result<bool>;

    /// Stores the new offset and hash state and releases the lease, if `holder` still holds it;
    /// otherwise changes nothing and returns `false`.
    async fn upload_advance(
        &self,
        id: &str,
        holder: &str,
        offset: u64,
        hash_state: &[u8],
    ) -> Result<bool>;

    /// Releases `holder`'s lease without changing the session.
    async fn upload_release(&self, id: &str, holder: &str) -> Result<()>;

    /// Forgets the session; `false` if it did not exist.
    async fn upload_delete(&self, id: &str) -> Result<bool>;

    /// Stores a manifest (and its tag) if everything it references is in the repository.
    async fn put_manifest(
        &self,
        repository: &str,
        manifest: NewManifest<'_>,
    ) -> Result<ManifestPut>;

    async fn manifest_by_digest(
        &self,
        repository: &str,
        digest: &Digest,
    ) -> Result<Option<ManifestRecord>>;

    async fn manifest_by_tag(&self, repository: &str, tag: &str) -> Result<Option<ManifestRecord>>;

    /// Deletes a manifest and every tag that points at it; `false` if it was not there.
    async fn delete_manifest(&self, repository: &str, digest: &Digest) -> Result<bool>;

    /// Deletes a tag (not the manifest); `false` if it was not there.
    async fn delete_tag(&self, repository: &str, tag: &str) -> Result<bool>;

    /// Points `tag` at the stored manifest `digest`, saying where it pointed before.
    async fn point_tag(&self, repository: &str, tag: &str, digest: &Digest) -> Result<TagPointed>;

    /// The tags that reach `digest` (a manifest or a blob): those pointing at it, or at a
    /// manifest that references it, directly or through an index.
    async fn tags_reaching(&self, repository: &str, digest: &Digest) -> Result<Vec<String>>;

    /// Up to `limit` tags after `last`, in lexical order; `None` if the repository is unknown.
    async fn tags(
        &self,
        repository: &str,
        last: Option<&str>,
        limit: u32,
    ) -> Result<Option<Vec<String>>>;

    /// Up to `limit` repository names (those holding a manifest) after `last`, in lexical order.
    async fn repositories(&self, last: Option<&str>, limit: u32) -> Result<Vec<String>>;

    /// Manifests in `repository` whose subject is `subject`, optionally of one artifact type.
    async fn referrers(
        &self,
        repository: &str,
        subject: &Digest,
        artifact_type: Option<&str>,
    ) -> Result<Vec<Referrer>>;

    /// Proves the store reachable and writable now (for readiness checks) with one committed
    /// write that changes nothing else. `OutOfSpace` when full.
    async fn probe(&self) -> Result<()>;
}

#[cfg(test)]
mod testsuite;
