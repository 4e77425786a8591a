//! The archive port: where retention keeps the images it archives instead of deleting, one OCI
//! image layout per repository, and the filesystem adapter on `image::Layout`.
//!
//! ```text
//! <archive_dir>/<repository>/
//! ├── oci-layout          {"imageLayoutVersion":"1.0.0"}
//! ├── index.json          one descriptor per archived tag and per referrer
//! └── blobs/sha256/<hex>  manifests, configs and layers
//! ```
//!
//! The contract (`testsuite.rs`, run on every adapter): a blob is visible only once its
//! bytes are complete and hash to its digest; a blob whose bytes do not match is refused and
//! leaves nothing under its name; the index is replaced as a whole, so a crash never leaves one
//! that names a missing blob (blobs are written before the index that names them).

use std::path::PathBuf;

use async_trait::async_trait;
use bytes::Bytes;
use futures_util::StreamExt;

use super::{ByteStream, Error, Result};
use crate::image::Layout;
use crate::oci::digest::Digest;
use crate::oci::spec::Descriptor;

/// An archive of OCI image layouts, one per repository.
#[async_trait]
pub trait ArchiveStore: Send + Sync + 'static {
    /// Whether the repository's layout holds the blob.
    async fn has_blob(&self, repository: &str, digest: &Digest) -> Result<bool>;
    /// Stores a blob, streaming; refused (and nothing stored) when the bytes are not `digest`.
    async fn put_blob(
        &self,
        repository: &str,
        digest: &Digest,
        body: ByteStream<'static>,
    ) -> Result<()>;
    /// A small blob (a manifest) whole, checked against its digest.
    async fn read_blob(&self, repository: &str, digest: &Digest) -> Result<Bytes>;
    /// A blob as a stream, for a restore's upload.
    async fn open_blob(&self, repository: &str, digest: &Digest) -> Result<ByteStream<'static>>;
    /// The descriptors of the repository's `index.json`; empty when nothing is archived.
    async fn index(&self, repository: &str) -> Result<Vec<Descriptor>>;
    /// Replaces the repository's index atomically.
    async fn write_index(&self, repository: &str, manifests: Vec<Descriptor>) -> Result<()>;
    /// The repositories that have a layout, sorted.
    async fn repositories(&self) -> Result<Vec<String>>;
}

/// Layouts in directories under `root`.
pub struct FsArchive {
    root: PathBuf,
}

impl FsArchive {
    pub fn new(root: PathBuf) -> FsArchive {
        FsArchive { root }
    }

    /// The layout of `repository`, created on first use.
    async fn layout(&self, repository: &str) -> Result<Layout> {
        let root = self.root.join(repository);
        blocking(move || Layout::create(&root).map_err(from_image)).await
    }

    /// The layout of `repository` if it exists.
    async fn existing(&self, repository: &str) -> Result<Option<Layout>> {
        let root = self.root.join(repository);
        blocking(move || {
            root.join("index.json")
                .is_file()
                .then(|| Layout::open(&root).map_err(from_image))
                .transpose()
        })
        .await
    }
}

#[async_trait]
impl ArchiveStore for FsArchive {
    async fn has_blob(&self, repository: &str, digest: &Digest) -> Result<bool> {
        Ok(match self.existing(repository).await? {
            Some(layout) => {
                let digest = digest.clone();
                blocking(move || Ok(layout.has_blob(&digest))).await?
            }
            None => false,
        })
    }

    async fn put_blob(
        &self,
        repository: &str,
        digest: &Digest,
        mut body: ByteStream<'static>,
    ) -> Result<()> {
        let layout = self.layout(repository).await?;
        // The layout writes blocking I/O; chunks cross to its thread through a small queue, so
        // the blob is never held whole.
        let (chunks, mut queue) = tokio::sync::mpsc::channel::<Bytes>(4);
        let writer = tokio::task::spawn_blocking(move || {
            use std::io::Write;
            let mut writer = layout.blob_writer().map_err(from_image)?;
            while let Some(chunk) = queue.blocking_recv() {
                writer.write_all(&chunk)?;
            }
            Ok::<_, Error>((writer, layout))
        });
        while let Some(chunk) = body.next().await {
            let chunk = chunk.map_err(Error::Body)?;
            if chunks.send(chunk).await.is_err() {
                break;
            }
        }
        drop(chunks);
        let (writer, layout) = writer.await.map_err(join_error)??;
        // Hash and commit together: a blob whose bytes are not its digest never gets its name.
        let expected = digest.clone();
        blocking(move || {
            let (actual, _) = writer.commit().map_err(from_image)?;
            if actual != expected {
                let _ = std::fs::remove_file(layout.blob_path(&actual));
                return Err(Error::Corrupt(format!(
                    "archived blob {expected} has the bytes of {actual}"
                )));
            }
            Ok(())
        })
        .await
    }

    async fn read_blob(&self, repository: &str, digest: &Digest) -> Result<Bytes> {
        let layout = self.existing(repository).await?.ok_or(Error::NotFound)?;
        let digest = digest.clone();
        blocking(move || {
            if !layout.has_blob(&digest) {
                return Err(Error::NotFound);
            }
            layout
                .read_blob(&digest)
                .map(Bytes::from)
                .map_err(from_image)
        })
        .await
    }

    async fn open_blob(&self, repository: &str, digest: &Digest) -> Result<ByteStream<'static>> {
        let layout = self.existing(repository).await?.ok_or(Error::NotFound)?;
        let digest = digest.clone();
        let file = blocking(move || {
            if !layout.has_blob(&digest) {
                return Err(Error::NotFound);
            }
            layout.open_blob(&digest).map_err(from_image)
        })
        .await?;
        let reader = tokio::fs::File::from_std(file);
        Ok(Box::pin(tokio_util::io::ReaderStream::with_capacity(
            reader,
            1 << 20,
        )))
    }

    async fn index(&self, repository: &str) -> Result<Vec<Descriptor>> {
        match self.existing(repository).await? {
            Some(layout) => blocking(move || layout.index().map_err(from_image)).await,
            None => Ok(vec![]),
        }
    }

    async fn write_index(&self, repository: &str, manifests: Vec<Descriptor>) -> Result<()> {
        let layout = self.layout(repository).await?;
        blocking(move || layout.write_index(&manifests).map_err(from_image)).await
    }

    async fn repositories(&self) -> Result<Vec<String>> {
        let root = self.root.clone();
        blocking(move || {
            let mut found = vec![];
            find_layouts(&root, &root, &mut found)?;
            found.sort();
            Ok(found)
        })
        .await
    }
}

/// Repository names of the layouts under `dir` (directories holding an `index.json`).
fn find_layouts(
    root: &std::path::Path,
    dir: &std::path::Path,
    found: &mut Vec<String>,
) -> Result<()> {
    let entries = match std::fs::read_dir(dir) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        entries => entries?,
    };
    if dir.join("index.json").is_file() {
        let name = dir.strip_prefix(root).unwrap_or(dir);
        found.push(name.to_string_lossy().into_owned());
        return Ok(());
    }
    for entry in entries {
        let path = entry?.path();
        if path.is_dir() {
            find_layouts(root, &path, found)?;
        }
    }
    Ok(())
}

/// Runs blocking file work off the async threads.
async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T> + Send + 'static,
) -> Result<T> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(join_error)?
}

fn join_error(e: tokio::task::JoinError) -> Error {
    Error::Io(std::io::Error::other(e))
}

/// A layout's error as the store's: I/O keeps its kind (a full disk stays `OutOfSpace`).
fn from_image(e: crate::image::Error) -> Error {
    match e {
        crate::image::Error::Io { source, .. } => Error::from(source),
        other => Error::Corrupt(other.to_string()),
    }
}
