//! Reproducible layers: the same files give the same bytes on any machine. Entries are written
//! in sorted path order with every parent directory present, owned by root (0:0) with no user
//! or group names, with fixed modes and one mtime (the build's source date), in GNU tar format,
//! gzip-compressed by miniz_oxide at a fixed level with a zeroed gzip header time. The
//! uncompressed stream is hashed on the way for the config's `diff_ids`.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use flate2::{Compression, GzBuilder};

use crate::image::{Error, HashingWriter, Layout, media};
use crate::oci::digest::Digest;
use crate::oci::spec::{self, Descriptor};

/// A written layer: its blob and the digest of its uncompressed tar.
#[derive(Debug, Clone)]
pub struct Layer {
    pub descriptor: Descriptor,
    pub diff_id: Digest,
}

enum Content {
    Dir,
    /// A directory owned by a user other than root.
    OwnedDir(u64),
    Bytes(Vec<u8>),
    File(PathBuf),
    Symlink(String),
}

/// The files of one layer, keyed by their path in the image (no leading `/`).
#[derive(Default)]
pub struct LayerBuilder {
    entries: BTreeMap<String, (u32, Content)>,
}

impl LayerBuilder {
    pub fn new() -> LayerBuilder {
        LayerBuilder::default()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// A directory with its mode and owner (uid = gid).
    pub fn dir(&mut self, path: &str, mode: u32, owner: u64) {
        self.entries
            .insert(clean(path), (mode, Content::OwnedDir(owner)));
    }

    /// A file with the given content.
    pub fn bytes(&mut self, path: &str, mode: u32, bytes: Vec<u8>) {
        self.entries
            .insert(clean(path), (mode, Content::Bytes(bytes)));
    }

    /// A file copied from the host when the layer is written.
    pub fn file(&mut self, path: &str, mode: u32, source: &Path) {
        self.entries
            .insert(clean(path), (mode, Content::File(source.to_owned())));
    }

    /// A host directory tree under `path`: directories 0755, files 0755 when executable for
    /// their owner and 0644 otherwise, symbolic links kept as links.
    pub fn tree(&mut self, path: &str, source: &Path) -> io::Result<()> {
        let base = clean(path);
        self.entries.insert(base.clone(), (0o755, Content::Dir));
        let mut children: Vec<_> = std::fs::read_dir(source)?.collect::<Result<_, _>>()?;
        children.sort_by_key(|entry| entry.file_name());
        for child in children {
            let name = child.file_name().to_string_lossy().into_owned();
            let target = format!("{base}/{name}");
            let kind = child.file_type()?;
            if kind.is_dir() {
                self.tree(&target, &child.path())?;
            } else if kind.is_symlink() {
                let link = std::fs::read_link(child.path())?;
                self.entries.insert(
                    target,
                    (0o777, Content::Symlink(link.to_string_lossy().into_owned())),
                );
            } else {
                use std::os::unix::fs::PermissionsExt;
                let executable = child.metadata()?.permissions().mode() & 0o100 != 0;
                let mode = if executable { 0o755 } else { 0o644 };
                self.file(&target, mode, &child.path());
            }
        }
        Ok(())
    }

    /// Writes the layer into `layout` with every entry's mtime at `mtime` (Unix seconds).
    pub fn write(mut self, layout: &Layout, mtime: u64) -> Result<Layer, Error> {
        let parents: Vec<String> = self
            .entries
            .keys()
            .flat_map(|path| {
                let mut parents = vec![];
                let mut rest = path.as_str();
                while let Some((parent, _)) = rest.rsplit_once('/') {
                    parents.push(parent.to_owned());
                    rest = parent;
                }
                parents
            })
            .collect();
        for parent in parents {
            self.entries.entry(parent).or_insert((0o755, Content::Dir));
        }
        let blob = layout.blob_writer()?;
        let gzip = GzBuilder::new().mtime(0).write(blob, Compression::new(6));
        let mut tar = tar::Builder::new(HashingWriter::new(gzip));
        tar.mode(tar::HeaderMode::Deterministic);
        let write_entries = |tar: &mut tar::Builder<_>| -> io::Result<()> {
            for (path, (mode, content)) in &self.entries {
                let mut header = tar::Header::new_gnu();
                header.set_mode(*mode);
                header.set_uid(0);
                header.set_gid(0);
                header.set_mtime(mtime);
                match content {
                    Content::OwnedDir(owner) => {
                        header.set_uid(*owner);
                        header.set_gid(*owner);
                        header.set_entry_type(tar::EntryType::Directory);
                        header.set_size(0);
                        tar.append_data(&mut header, format!("{path}/"), io::empty())?;
                    }
                    Content::Dir => {
                        header.set_entry_type(tar::EntryType::Directory);
                        header.set_size(0);
                        tar.append_data(&mut header, format!("{path}/"), io::empty())?;
                    }
                    Content::Bytes(bytes) => {
                        header.set_entry_type(tar::EntryType::Regular);
                        header.set_size(bytes.len() as u64);
                        tar.append_data(&mut header, path, bytes.as_slice())?;
                    }
                    Content::File(source) => {
                        let mut file = File::open(source)?;
                        header.set_entry_type(tar::EntryType::Regular);
                        header.set_size(file.metadata()?.len());
                        tar.append_data(&mut header, path, &mut file)?;
                    }
                    Content::Symlink(target) => {
                        header.set_entry_type(tar::EntryType::Symlink);
                        header.set_size(0);
                        tar.append_link(&mut header, path, target)?;
                    }
                }
            }
            Ok(())
        };
        write_entries(&mut tar).map_err(Error::io("writing a layer"))?;
        let hashing = tar.into_inner().map_err(Error::io("writing a layer"))?;
        let (gzip, diff_id, _) = hashing.finish();
        let mut blob = gzip.finish().map_err(Error::io("compressing a layer"))?;
        blob.flush().map_err(Error::io("writing a layer"))?;
        let (digest, size) = blob.commit()?;
        Ok(Layer {
            descriptor: spec::descriptor(media::OCI_LAYER_GZIP, &digest, size),
            diff_id,
        })
    }
}

fn clean(path: &str) -> String {
    path.trim_matches('/').to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_files_give_the_same_layer_in_any_order() {
        let dir = tempfile::tempdir().unwrap();
        let layout = Layout::create(dir.path()).unwrap();
        let mut first = LayerBuilder::new();
        first.bytes("/etc/passwd", 0o644, b"root:x:0:0::/:\n".to_vec());
        first.bytes("/app/hello", 0o755, b"binary".to_vec());
        let mut second = LayerBuilder::new();
        second.bytes("app/hello", 0o755, b"binary".to_vec());
        second.bytes("etc/passwd", 0o644, b"root:x:0:0::/:\n".to_vec());
        let (a, b) = (
            first.write(&layout, 1).unwrap(),
            second.write(&layout, 1).unwrap(),
        );
        assert_eq!(a.descriptor, b.descriptor);
        assert_eq!(a.diff_id, b.diff_id);
        let mut later = LayerBuilder::new();
        later.bytes("etc/passwd", 0o644, b"root:x:0:0::/:\n".to_vec());
        assert_ne!(later.write(&layout, 2).unwrap().diff_id, a.diff_id);
    }
}
