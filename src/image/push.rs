//! Pushing what a layout holds to a registry: blobs a few at a time (each once, skipped when
//! the registry has it), then manifests. The caller decides where a blob the layout lacks
//! comes from (`berth build` mounts or fetches its base's).

use std::fs::File;
use std::io::Read;

use super::{Client, Error, Layout};
use crate::oci::spec::Descriptor;

/// How many blobs go up at once.
pub const PARALLEL_UPLOADS: usize = 4;

/// One repository of a registry, filled from one layout.
pub struct Push<'a> {
    pub client: &'a Client,
    pub layout: &'a Layout,
    pub repository: &'a str,
}

impl Push<'_> {
    /// Whether the registry already holds the blob.
    pub fn has_blob(&self, descriptor: &Descriptor) -> Result<bool, Error> {
        self.client
            .blob_exists(self.repository, &super::digest(descriptor)?)
    }

    /// Uploads a blob of the layout, reading it through `wrap` (a progress bar, say).
    pub fn blob<R: Read + Send + 'static>(
        &self,
        descriptor: &Descriptor,
        wrap: impl Fn(File) -> R,
    ) -> Result<(), Error> {
        let path = self.layout.blob_path(&super::digest(descriptor)?);
        self.client.push_blob(self.repository, descriptor, || {
            let file =
                File::open(&path).map_err(Error::io(format!("opening {}", path.display())))?;
            Ok(wrap(file))
        })
    }

    /// Puts a manifest of the layout under `reference` (a tag or its digest).
    pub fn manifest(&self, descriptor: &Descriptor, reference: &str) -> Result<(), Error> {
        let bytes = self.layout.read_blob(&super::digest(descriptor)?)?;
        let media_type = descriptor.media_type().to_string();
        self.client
            .put_manifest(self.repository, reference, &media_type, &bytes)
    }
}

/// Runs `push` once per distinct blob, [`PARALLEL_UPLOADS`] at a time; the first error wins and
/// stops the others after their current blob.
pub fn each_blob<E: Send>(
    blobs: &[&Descriptor],
    push: &(dyn Fn(&Descriptor) -> Result<(), E> + Sync),
) -> Result<(), E> {
    let mut seen = std::collections::HashSet::new();
    let distinct: Vec<&Descriptor> = blobs
        .iter()
        .copied()
        .filter(|blob| seen.insert(blob.digest().clone()))
        .collect();
    let next = std::sync::atomic::AtomicUsize::new(0);
    let failure = std::sync::Mutex::new(None);
    std::thread::scope(|scope| {
        for _ in 0..PARALLEL_UPLOADS.min(distinct.len()) {
            scope.spawn(|| {
                loop {
                    let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    let Some(blob) = distinct.get(i) else { return };
                    if let Err(e) = push(blob) {
                        failure
                            .lock()
                            .unwrap_or_else(std::sync::PoisonError::into_inner)
                            .get_or_insert(e);
                        next.store(distinct.len(), std::sync::atomic::Ordering::Relaxed);
                        return;
                    }
                }
            });
        }
    });
    match failure
        .into_inner()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
    {
        Some(e) => Err(e),
        None => Ok(()),
    }
}
