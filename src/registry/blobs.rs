//! Blobs and uploads: pull by digest (with ranges), delete, cross-repository mount, and
//! monolithic or chunked uploads whose bytes are hashed while they are written.

use bytes::Bytes;
use futures_util::StreamExt;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use super::{Error, Registry, Result, quota_exceeded};
use crate::oci::digest::{Algorithm, Digest, Hasher};
use crate::oci::names::{project_of, validate_name};
use crate::storage::{self, Admit, ByteStream, Quota, UploadSession};
use crate::time::{now_ms, now_secs};

/// How often a commit looks again whether GC has finished deleting the blob it needs.
const TOMBSTONE_POLL: std::time::Duration = std::time::Duration::from_millis(50);
/// How long a commit waits for GC before it gives up (GC deletes a batch in well under this).
const TOMBSTONE_WAIT: std::time::Duration = std::time::Duration::from_secs(30);

/// A byte range of a blob as requested: `start-end` (inclusive), `start-` or `-suffix`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BlobRange {
    From { start: u64, end: Option<u64> },
    Suffix(u64),
}

/// An open blob, or part of one.
pub struct BlobRead {
    /// Total size of the blob.
    pub size: u64,
    /// The inclusive byte range being returned, when a range was requested.
    pub range: Option<(u64, u64)>,
    pub body: ByteStream<'static>,
}

/// Where an upload session stands.
#[derive(Debug, Clone)]
pub struct UploadState {
    pub id: String,
    /// Bytes received so far.
    pub offset: u64,
}

/// The outcome of a mount request.
#[derive(Debug)]
pub enum Mount {
    /// The blob is now in the repository.
    Mounted,
    /// It could not be mounted; the client uploads it in this new session instead.
    Upload(UploadState),
}

impl Registry {
    /// The size of a blob the repository holds.
    pub async fn stat_blob(&self, name: &str, digest: &Digest) -> Result<u64> {
        validate_name(name)?;
        let linked = self.meta.linked_blob(name, digest).await?;
        let linked = linked.ok_or_else(|| Error::BlobUnknown(digest.clone()))?;
        let half_grace = (self.options.gc_grace / 2).as_secs() as i64;
        if linked.touched_at < now_secs() - half_grace {
            self.meta.touch_link(name, digest).await?;
        }
        Ok(linked.size)
    }

    /// Opens a blob the repository holds, or the requested range of it.
    pub async fn read_blob(
        &self,
        name: &str,
        digest: &Digest,
        range: Option<BlobRange>,
    ) -> Result<BlobRead> {
        let size = self.stat_blob(name, digest).await?;
        let range = range.map(|range| resolve_range(range, size)).transpose()?;
        let (offset, len) = match range {
            Some((start, end)) => (start, end - start + 1),
            None => (0, size),
        };
        let body = match self.blobs.read(digest, offset, len).await {
            Err(storage::Error::NotFound) => return Err(Error::BlobUnknown(digest.clone())),
            res => res?,
        };
        Ok(BlobRead { size, range, body })
    }

    /// Removes a blob from the repository. Its bytes stay until garbage collection.
    pub async fn delete_blob(&self, name: &str, digest: &Digest) -> Result<()> {
        validate_name(name)?;
        if !self.meta.unlink_blob(name, digest).await? {
            return Err(Error::BlobUnknown(digest.clone()));
        }
        Ok(())
    }

    /// Makes a blob of repository `from` available in `name` without uploading it again, or
    /// opens an upload session when `from` does not hold it.
    pub async fn mount_blob(&self, name: &str, digest: &Digest, from: &str) -> Result<Mount> {
        validate_name(name)?;
        if validate_name(from).is_ok()
            && let Some(linked) = self.meta.linked_blob(from, digest).await?
            && self.blobs.stat(digest).await?.is_some()
        {
            let quota = self.quota(name).await?;
            return match self
                .meta
                .link_blob(name, digest, linked.size, None, quota)
                .await?
            {
                Admit::QuotaExceeded { used, limit } => {
                    Err(quota_exceeded(project_of(name), linked.size, used, limit))
                }
                Admit::Admitted => Ok(Mount::Mounted),
                // GC is deleting the bytes (the source's link went meanwhile): the client
                // uploads the blob, whose commit waits for GC to finish.
                Admit::Deleting => Ok(Mount::Upload(self.start_upload(name).await?)),
            };
        }
        Ok(Mount::Upload(self.start_upload(name).await?))
    }

    /// Opens an upload session.
    pub async fn start_upload(&self, name: &str) -> Result<UploadState> {
        validate_name(name)?;
        let id = uuid::Uuid::new_v4().to_string();
        self.blobs.upload_create(&id).await?;
        let session = UploadSession {
            id: id.clone(),
            repository: name.to_owned(),
            offset: 0,
            hash_state: Hasher::new(Algorithm::Sha256).save(),
        };
        self.meta.upload_insert(&session).await?;
        Ok(UploadState { id, offset: 0 })
    }

    /// Uploads a whole blob in one request (`POST ?digest=`).
    pub async fn upload_blob(
        &self,
        name: &str,
        digest: &Digest,
        body: ByteStream<'_>,
    ) -> Result<()> {
        validate_name(name)?;
        let id = uuid::Uuid::new_v4().to_string();
        self.blobs.upload_create(&id).await?;
        let res = async {
            let mut hashing = Hashing::new(Hasher::new(digest.algorithm()));
            let size = self.blobs.upload_write(&id, 0, hashing.wrap(body)).await;
            let hasher = hashing.finish().await?;
            self.commit(name, &id, size?, hasher, digest, None).await
        }
        .await;
        if res.is_err() {
            self.blobs.upload_delete(&id).await?;
        }
        res
    }

    /// Where an upload session stands.
    pub async fn upload_status(&self, name: &str, id: &str) -> Result<UploadState> {
        validate_name(name)?;
        let session = self.meta.upload_get(id).await?;
        match session {
            Some(session) if session.repository == name => Ok(UploadState {
                id: session.id,
                offset: session.offset,
            }),
            _ => Err(Error::BlobUploadUnknown),
        }
    }

    /// Appends a chunk to an upload (`PATCH`). `start` is where the client says the chunk
    /// begins (`Content-Range`), `declared` how long it says it is; Docker sends neither.
    pub async fn append_upload(
        &self,
        name: &str,
        id: &str,
        start: Option<u64>,
        declared: Option<u64>,
        body: ByteStream<'_>,
    ) -> Result<UploadState> {
        let lease = self.lease(name, id).await?;
        let session = &lease.session;
        let res = async {
            check_offset(session, start)?;
            let (offset, hasher) = self.write_chunk(session, declared, body).await?;
            if !self
                .meta
                .upload_advance(id, &lease.holder, offset, &hasher.save())
                .await?
            {
                return Err(Error::UploadBusy);
            }
            Ok(UploadState {
                id: id.to_owned(),
                offset,
            })
        }
        .await;
        if res.is_err() {
            self.meta.upload_release(id, &lease.holder).await?;
        }
        res
    }

    /// Completes an upload (`PUT ?digest=`), with an optional last chunk in `body`. The blob
    /// becomes visible only if everything received hashes to `digest`; otherwise the session is
    /// dropped and nothing is stored. (The last chunk's length is the HTTP layer's business:
    /// `Content-Length` framing already refuses a short body.)
    pub async fn finish_upload(
        &self,
        name: &str,
        id: &str,
        digest: &Digest,
        start: Option<u64>,
        declared: Option<u64>,
        body: ByteStream<'_>,
    ) -> Result<()> {
        let lease = self.lease(name, id).await?;
        let res = async {
            check_offset(&lease.session, start)?;
            let (size, hasher) = self.write_chunk(&lease.session, declared, body).await?;
            self.commit(name, id, size, hasher, digest, Some(id)).await
        }
        .await;
        match &res {
            // The commit moved the bytes and forgot the session.
            Ok(()) => {}
            // The client may retry the body, or send the chunk where the session stands.
            Err(Error::Body(_) | Error::ChunkOutOfOrder { .. }) => {
                self.meta.upload_release(id, &lease.holder).await?
            }
            Err(_) => {
                self.meta.upload_delete(id).await?;
                self.blobs.upload_delete(id).await?;
            }
        }
        res
    }

    /// Cancels an upload session and frees what it received.
    pub async fn cancel_upload(&self, name: &str, id: &str) -> Result<()> {
        self.upload_status(name, id).await?;
        self.meta.upload_delete(id).await?;
        self.blobs.upload_delete(id).await?;
        Ok(())
    }

    /// The quota of `name`'s project, if it has one.
    async fn quota<'a>(&self, name: &'a str) -> Result<Option<Quota<'a>>> {
        let project = project_of(name);
        let limit = self.quotas.quota(project).await?;
        Ok(limit.map(|limit| Quota { project, limit }))
    }

    /// Takes the session's lease, so that no other request on any replica writes concurrently.
    ///
    /// The lease is short and renewed in the background while the request lives, so a replica
    /// that dies holding it blocks the session for one lease period at most.
    async fn lease(&self, name: &str, id: &str) -> Result<Lease> {
        validate_name(name)?;
        let holder = uuid::Uuid::new_v4().to_string();
        let period = self.options.upload_lease;
        let now = now_ms();
        let session = match self
            .meta
            .upload_lease(id, name, &holder, now, now + millis(period))
            .await?
        {
            Some(session) => session,
            None => {
                let session = self.meta.upload_get(id).await?;
                return match session {
                    Some(session) if session.repository == name => Err(Error::UploadBusy),
                    _ => Err(Error::BlobUploadUnknown),
                };
            }
        };
        let (meta, renewed_id, renewed_holder) = (self.meta.clone(), id.to_owned(), holder.clone());
        let renewer = tokio::spawn(async move {
            loop {
                tokio::time::sleep(period / 3).await;
                let until = now_ms() + millis(period);
                // Lost or gone: the request finds out when it tries to advance the session.
                if !matches!(
                    meta.upload_renew(&renewed_id, &renewed_holder, until).await,
                    Ok(true)
                ) {
                    break;
                }
            }
        });
        Ok(Lease {
            session,
            holder,
            renewer,
        })
    }

    /// Writes `body` after what the session holds, hashing it on the way; returns the new size
    /// and hash state.
    async fn write_chunk(
        &self,
        session: &UploadSession,
        declared: Option<u64>,
        body: ByteStream<'_>,
    ) -> Result<(u64, Hasher)> {
        let hasher = Hasher::restore(&session.hash_state).ok_or_else(|| {
            Error::Storage(storage::Error::Corrupt(format!(
                "hash state of upload {}",
                session.id
            )))
        })?;
        let mut hashing = Hashing::new(hasher);
        let offset = self
            .blobs
            .upload_write(&session.id, session.offset, hashing.wrap(body))
            .await;
        let hasher = hashing.finish().await?;
        let offset = offset?;
        let actual = offset - session.offset;
        if let Some(declared) = declared
            && declared != actual
        {
            return Err(Error::SizeInvalid { declared, actual });
        }
        Ok((offset, hasher))
    }

    /// Verifies the staged bytes against `digest`, then makes them visible and links them,
    /// forgetting the upload `session` (if any) in the same metadata transaction.
    async fn commit(
        &self,
        name: &str,
        id: &str,
        size: u64,
        hasher: Hasher,
        digest: &Digest,
        session: Option<&str>,
    ) -> Result<()> {
        let computed = if hasher.algorithm() == digest.algorithm() {
            hasher.finish()
        } else {
            self.rehash(id, size, digest.algorithm()).await?
        };
        if &computed != digest {
            return Err(Error::DigestMismatch {
                expected: digest.clone(),
                computed,
            });
        }
        let quota = self.quota(name).await?;
        self.claim(digest, size, quota).await?;
        self.blobs.upload_commit(id, size, digest).await?;
        match self
            .meta
            .link_blob(name, digest, size, session, quota)
            .await?
        {
            // Another push took the last of the quota since the claim: the committed bytes
            // are linked nowhere new, and GC reclaims them if nothing else holds them.
            Admit::QuotaExceeded { used, limit } => {
                Err(quota_exceeded(project_of(name), size, used, limit))
            }
            Admit::Admitted => Ok(()),
            // GC tombstoned the blob between the claim and the link (a grace period shorter
            // than the commit): the bytes may be going, so nothing is acknowledged.
            Admit::Deleting => Err(Error::BlobBusy(digest.clone())),
        }
    }

    /// Claims `digest` before its bytes are committed: checks the quota and marks the blob in
    /// use, waiting while garbage collection finishes deleting an earlier copy of it.
    async fn claim(&self, digest: &Digest, size: u64, quota: Option<Quota<'_>>) -> Result<()> {
        let started = tokio::time::Instant::now();
        loop {
            match self.meta.claim_blob(digest, size, quota).await? {
                Admit::Admitted => return Ok(()),
                Admit::QuotaExceeded { used, limit } => {
                    let project = quota.map_or("", |q| q.project);
                    return Err(quota_exceeded(project, size, used, limit));
                }
                Admit::Deleting if started.elapsed() < TOMBSTONE_WAIT => {
                    tokio::time::sleep(TOMBSTONE_POLL).await;
                }
                Admit::Deleting => return Err(Error::BlobBusy(digest.clone())),
            }
        }
    }

    /// Hashes staged bytes again, for a digest of another algorithm than the running hash.
    async fn rehash(&self, id: &str, size: u64, algorithm: Algorithm) -> Result<Digest> {
        let mut staged = self.blobs.upload_read(id, size).await?;
        let mut hashing = Hashing::new(Hasher::new(algorithm));
        while let Some(chunk) = staged.next().await {
            hashing.feed(&chunk.map_err(storage::Error::from)?).await;
        }
        Ok(hashing.finish().await?.finish())
    }
}

/// A held upload lease; dropping it stops the renewals.
struct Lease {
    session: UploadSession,
    /// Identifies this request as the holder in the metadata store.
    holder: String,
    renewer: JoinHandle<()>,
}

impl Drop for Lease {
    fn drop(&mut self) {
        self.renewer.abort();
    }
}

/// A chunk that says where it starts must start where the session stands.
fn check_offset(session: &UploadSession, start: Option<u64>) -> Result<()> {
    match start {
        Some(start) if start != session.offset => Err(Error::ChunkOutOfOrder {
            start,
            offset: session.offset,
        }),
        _ => Ok(()),
    }
}

fn millis(duration: std::time::Duration) -> i64 {
    duration.as_millis() as i64
}

/// Bodies up to this size are hashed inline; larger ones on a thread of their own.
const INLINE_HASH_LIMIT: u64 = 1 << 20;
/// How many chunks may wait for the hashing thread. Bounds memory per upload.
const HASH_QUEUE: usize = 4;

/// Hashes a body on its way to the store, in the same single pass over its bytes.
///
/// SHA-256 is the slowest stage of a push, so once a body passes `INLINE_HASH_LIMIT` the
/// hashing moves to a blocking thread of its own and overlaps with receiving and writing
/// (Garage hashes in `spawn_blocking` for the same reason). Small bodies stay inline, where a
/// thread hand-off would cost more than the hash.
enum Hashing {
    Inline {
        hasher: Box<Hasher>,
        seen: u64,
    },
    Background {
        queue: mpsc::Sender<Bytes>,
        task: JoinHandle<Hasher>,
    },
}

impl Hashing {
    fn new(hasher: Hasher) -> Hashing {
        Hashing::Inline {
            hasher: Box::new(hasher),
            seen: 0,
        }
    }

    async fn feed(&mut self, chunk: &Bytes) {
        if let Hashing::Inline { hasher, seen } = self {
            *seen += chunk.len() as u64;
            if *seen <= INLINE_HASH_LIMIT {
                return hasher.update(chunk);
            }
            let (queue, mut chunks) = mpsc::channel::<Bytes>(HASH_QUEUE);
            let mut hasher = (**hasher).clone();
            let task = tokio::task::spawn_blocking(move || {
                while let Some(chunk) = chunks.blocking_recv() {
                    hasher.update(&chunk);
                }
                hasher
            });
            *self = Hashing::Background { queue, task };
        }
        if let Hashing::Background { queue, .. } = self {
            // A send fails only if the hashing thread died; `finish` reports that.
            let _ = queue.send(chunk.clone()).await;
        }
    }

    /// Wraps `body` so that every chunk is fed to the hash as the store consumes it.
    fn wrap<'a>(&'a mut self, body: ByteStream<'a>) -> ByteStream<'a> {
        Box::pin(futures_util::stream::unfold(
            (body, self),
            |(mut body, hashing)| async move {
                let chunk = body.next().await?;
                if let Ok(bytes) = &chunk {
                    hashing.feed(bytes).await;
                }
                Some((chunk, (body, hashing)))
            },
        ))
    }

    /// The hash of everything fed, once the hashing thread (if any) has caught up.
    async fn finish(self) -> Result<Hasher> {
        match self {
            Hashing::Inline { hasher, .. } => Ok(*hasher),
            Hashing::Background { queue, task } => {
                drop(queue);
                task.await
                    .map_err(|e| Error::Storage(storage::Error::Io(std::io::Error::other(e))))
            }
        }
    }
}

/// Turns a requested range into an inclusive `(start, end)` within a blob of `size` bytes.
fn resolve_range(range: BlobRange, size: u64) -> Result<(u64, u64)> {
    let unsatisfiable = Error::RangeNotSatisfiable { size };
    match range {
        BlobRange::From { start, end } => {
            if start >= size || end.is_some_and(|end| end < start) {
                return Err(unsatisfiable);
            }
            Ok((start, end.map_or(size - 1, |end| end.min(size - 1))))
        }
        BlobRange::Suffix(len) => {
            if len == 0 || size == 0 {
                return Err(unsatisfiable);
            }
            Ok((size - len.min(size), size - 1))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_resolve_within_the_blob() {
        let from = |start, end| BlobRange::From { start, end };
        assert_eq!(resolve_range(from(0, Some(9)), 100).unwrap(), (0, 9));
        assert_eq!(resolve_range(from(90, None), 100).unwrap(), (90, 99));
        assert_eq!(resolve_range(from(90, Some(500)), 100).unwrap(), (90, 99));
        assert_eq!(resolve_range(BlobRange::Suffix(10), 100).unwrap(), (90, 99));
        assert_eq!(resolve_range(BlobRange::Suffix(500), 100).unwrap(), (0, 99));
        assert!(resolve_range(from(100, None), 100).is_err());
        assert!(resolve_range(from(5, Some(4)), 100).is_err());
        assert!(resolve_range(BlobRange::Suffix(0), 100).is_err());
    }
}
