//! OCI image layouts (image-spec `image-layout.md`): a directory with `oci-layout`,
//! `index.json` and content-addressed `blobs/<alg>/<hex>`. `berth build` assembles every image
//! in one before pushing it or writing it out, and `berth analyze` reads them; a `docker load`
//! tarball is a layout plus Docker's `manifest.json`, tarred.
//!
//! ```text
//! <root>/
//!   oci-layout            {"imageLayoutVersion": "1.0.0"}
//!   index.json            the tagged manifests (annotation org.opencontainers.image.ref.name)
//!   blobs/sha256/<hex>    layers, configs, manifests
//! ```
//!
//! A blob is written to a temporary file beside its place and renamed there once its digest is
//! known, so a layout never shows a partial blob.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use serde::Serialize;

use super::{Error, HashingWriter};
use crate::oci::digest::{Algorithm, Digest};
use crate::oci::spec::{self, Descriptor, ImageIndex, REF_NAME};

/// An image layout directory.
pub struct Layout {
    root: PathBuf,
}

/// A blob being written; `commit` moves it under its digest.
pub struct BlobWriter {
    /// `None` only inside `commit`, which consumes the writer.
    writer: Option<HashingWriter<BufWriter<File>>>,
    temp: PathBuf,
    dir: PathBuf,
}

impl Write for BlobWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.writer
            .as_mut()
            .map_or(Ok(0), |writer| writer.write(buf))
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.writer.as_mut().map_or(Ok(()), Write::flush)
    }
}

impl BlobWriter {
    /// Syncs the blob and moves it to `blobs/sha256/<hex>`; returns its digest and size.
    pub fn commit(mut self) -> Result<(Digest, u64), Error> {
        let writer = self
            .writer
            .take()
            .ok_or_else(|| Error::Invalid("blob committed twice".into()))?;
        let (buffered, digest, size) = writer.finish();
        let file = buffered
            .into_inner()
            .map_err(|e| Error::io("writing a blob")(e.into_error()))?;
        file.sync_all().map_err(Error::io("syncing a blob"))?;
        let target = self.dir.join(digest.hex());
        std::fs::rename(&self.temp, &target)
            .map_err(Error::io(format!("moving a blob to {}", target.display())))?;
        Ok((digest, size))
    }
}

impl Drop for BlobWriter {
    fn drop(&mut self) {
        // After a commit the temporary name is gone and this fails quietly.
        let _ = std::fs::remove_file(&self.temp);
    }
}

impl Layout {
    /// Creates the layout at `root` (or adds to the one there).
    pub fn create(root: &Path) -> Result<Layout, Error> {
        let blobs = root.join("blobs/sha256");
        std::fs::create_dir_all(&blobs)
            .map_err(Error::io(format!("creating {}", blobs.display())))?;
        let marker = root.join("oci-layout");
        std::fs::write(&marker, br#"{"imageLayoutVersion":"1.0.0"}"#)
            .map_err(Error::io(format!("writing {}", marker.display())))?;
        let layout = Layout {
            root: root.to_owned(),
        };
        if !root.join("index.json").exists() {
            layout.write_index(&[])?;
        }
        Ok(layout)
    }

    /// Opens an existing layout.
    pub fn open(root: &Path) -> Result<Layout, Error> {
        if !root.join("oci-layout").is_file() || !root.join("index.json").is_file() {
            return Err(Error::Invalid(format!(
                "{} is not an OCI image layout (no oci-layout or index.json)",
                root.display()
            )));
        }
        Ok(Layout {
            root: root.to_owned(),
        })
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    pub fn blob_path(&self, digest: &Digest) -> PathBuf {
        self.root
            .join("blobs")
            .join(digest.algorithm().name())
            .join(digest.hex())
    }

    pub fn has_blob(&self, digest: &Digest) -> bool {
        self.blob_path(digest).is_file()
    }

    /// A writer for a new blob.
    pub fn blob_writer(&self) -> Result<BlobWriter, Error> {
        let dir = self.root.join("blobs/sha256");
        let temp = dir.join(format!(".tmp-{}", uuid::Uuid::new_v4()));
        let file =
            File::create(&temp).map_err(Error::io(format!("creating {}", temp.display())))?;
        Ok(BlobWriter {
            writer: Some(HashingWriter::new(BufWriter::with_capacity(1 << 20, file))),
            temp,
            dir,
        })
    }

    /// Stores small content (a config or a manifest) and returns its descriptor.
    pub fn write_blob(&self, media_type: &str, bytes: &[u8]) -> Result<Descriptor, Error> {
        let digest = Digest::of(Algorithm::Sha256, bytes);
        let path = self.blob_path(&digest);
        if !path.exists() {
            let mut writer = self.blob_writer()?;
            writer
                .write_all(bytes)
                .map_err(Error::io(format!("writing {}", path.display())))?;
            writer.commit()?;
        }
        Ok(spec::descriptor(media_type, &digest, bytes.len() as u64))
    }

    /// Stores a JSON document as a blob, in the bytes of [`spec::to_vec`].
    pub fn write_json<T: Serialize>(
        &self,
        media_type: &str,
        document: &T,
    ) -> Result<Descriptor, Error> {
        self.write_blob(media_type, &spec::to_vec(document))
    }

    /// Reads a small blob (a manifest or config) whole, checking its digest.
    pub fn read_blob(&self, digest: &Digest) -> Result<Vec<u8>, Error> {
        let path = self.blob_path(digest);
        let bytes =
            std::fs::read(&path).map_err(Error::io(format!("reading {}", path.display())))?;
        let actual = Digest::of(digest.algorithm(), &bytes);
        if &actual != digest {
            return Err(Error::DigestMismatch {
                what: path.display().to_string(),
                expected: digest.clone(),
                actual,
            });
        }
        Ok(bytes)
    }

    /// Opens a blob for streaming.
    pub fn open_blob(&self, digest: &Digest) -> Result<File, Error> {
        let path = self.blob_path(digest);
        File::open(&path).map_err(Error::io(format!("opening {}", path.display())))
    }

    /// The manifests `index.json` lists.
    pub fn index(&self) -> Result<Vec<Descriptor>, Error> {
        let path = self.root.join("index.json");
        let text = std::fs::read_to_string(&path)
            .map_err(Error::io(format!("reading {}", path.display())))?;
        let index: ImageIndex = serde_json::from_str(&text)
            .map_err(|e| Error::Invalid(format!("{}: {e}", path.display())))?;
        Ok(index.manifests().clone())
    }

    /// Replaces `index.json` atomically.
    pub fn write_index(&self, manifests: &[Descriptor]) -> Result<(), Error> {
        let index =
            serde_json::to_value(spec::index(manifests.to_vec())).expect("an index serializes");
        let path = self.root.join("index.json");
        let temp = self
            .root
            .join(format!(".index-{}.json", uuid::Uuid::new_v4()));
        let write = || -> std::io::Result<()> {
            let mut file = File::create(&temp)?;
            file.write_all(&serde_json::to_vec_pretty(&index).expect("JSON serializes"))?;
            file.sync_all()?;
            std::fs::rename(&temp, &path)
        };
        // Replaced by a rename, so a reader (or a crash) never sees half an index.
        write().map_err(|e| {
            let _ = std::fs::remove_file(&temp);
            Error::io(format!("writing {}", path.display()))(e)
        })
    }

    /// Adds manifests to `index.json`, replacing entries with the same `ref.name`.
    pub fn add_to_index(&self, entries: &[Descriptor]) -> Result<(), Error> {
        let mut manifests = self.index()?;
        for entry in entries {
            let name = spec::annotation(entry, REF_NAME);
            manifests.retain(|old| match name {
                None => old.digest() != entry.digest(),
                Some(name) => spec::annotation(old, REF_NAME) != Some(name),
            });
            manifests.push(entry.clone());
        }
        self.write_index(&manifests)
    }

    /// Writes the layout's blobs as a tarball `docker load` reads: an OCI layout whose
    /// `index.json` holds `index_entries`, plus Docker's `manifest.json`, which names one
    /// image's config, tags and layers.
    pub fn export_docker_archive(
        &self,
        path: &Path,
        index_entries: &[Descriptor],
        config: &Digest,
        layers: &[Digest],
        repo_tags: &[String],
    ) -> Result<(), Error> {
        let index = spec::to_vec(&spec::index(index_entries.to_vec()));
        let blob_name =
            |digest: &Digest| format!("blobs/{}/{}", digest.algorithm().name(), digest.hex());
        let docker_manifest = serde_json::json!([{
            "Config": blob_name(config),
            "RepoTags": repo_tags,
            "Layers": layers.iter().map(blob_name).collect::<Vec<_>>(),
        }]);
        let file = File::create(path).map_err(Error::io(format!("creating {}", path.display())))?;
        let mut tar = tar::Builder::new(BufWriter::new(file));
        let io_err = Error::io(format!("writing {}", path.display()));
        let result = (|| -> std::io::Result<()> {
            let mut names = vec![];
            for entry in std::fs::read_dir(self.root.join("blobs/sha256"))? {
                let name = entry?.file_name().to_string_lossy().into_owned();
                if !name.starts_with('.') {
                    names.push(name);
                }
            }
            names.sort();
            append_bytes(&mut tar, "oci-layout", br#"{"imageLayoutVersion":"1.0.0"}"#)?;
            append_bytes(&mut tar, "index.json", &index)?;
            append_bytes(
                &mut tar,
                "manifest.json",
                docker_manifest.to_string().as_bytes(),
            )?;
            for name in names {
                let mut blob = File::open(self.root.join("blobs/sha256").join(&name))?;
                let mut header = tar::Header::new_gnu();
                header.set_size(blob.metadata()?.len());
                header.set_mode(0o644);
                header.set_entry_type(tar::EntryType::Regular);
                tar.append_data(&mut header, format!("blobs/sha256/{name}"), &mut blob)?;
            }
            tar.into_inner()?.flush()
        })();
        result.map_err(io_err)
    }
}

fn append_bytes<W: Write>(
    tar: &mut tar::Builder<W>,
    name: &str,
    bytes: &[u8],
) -> std::io::Result<()> {
    let mut header = tar::Header::new_gnu();
    header.set_size(bytes.len() as u64);
    header.set_mode(0o644);
    header.set_entry_type(tar::EntryType::Regular);
    tar.append_data(&mut header, name, bytes)
}
