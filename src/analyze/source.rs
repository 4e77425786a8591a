//! Where `berth analyze` reads images from: a registry (no daemon), an OCI image layout
//! directory (`oci:DIR[:TAG]` or a directory path), or a `docker save` tarball
//! (`docker-archive:FILE` or a file path), which is unpacked to a temporary directory first.
//! An index is followed to every platform's image; attestation and artifact manifests are left
//! out.

use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};

use serde_json::Value;

use super::Error;
use crate::image::client::{self, Client};
use crate::image::{Layout, Platform, Reference, Verifying};
use crate::oci::digest::Digest;
use crate::oci::spec::{self, Document, REF_NAME};

/// An opened image source.
pub enum Source {
    Registry {
        client: Box<Client>,
        reference: Reference,
    },
    Layout {
        layout: Layout,
        name: Option<String>,
        /// Keeps an unpacked tarball alive.
        _unpacked: Option<tempfile::TempDir>,
    },
    /// A `docker save` archive without an OCI layout inside (Docker before 25).
    DockerArchive { dir: tempfile::TempDir },
}

/// One platform's image, ready to be walked.
pub struct Image {
    pub platform: Platform,
    pub manifest: Option<Digest>,
    pub config: Value,
    pub layers: Vec<LayerRef>,
}

/// A layer and how to read it.
pub struct LayerRef {
    pub digest: Option<Digest>,
    pub compressed: u64,
    path: Option<PathBuf>,
}

impl Source {
    /// Opens `text`: `oci:`, `docker-archive:`, an existing path, or a registry reference.
    pub fn open(text: &str, insecure: bool) -> Result<Source, Error> {
        if let Some(rest) = text.strip_prefix("oci:") {
            let (dir, name) = match rest.rsplit_once(':') {
                Some((dir, name)) if Path::new(dir).is_dir() => (dir, Some(name.to_owned())),
                _ => (rest, None),
            };
            return Ok(Source::Layout {
                layout: Layout::open(Path::new(dir))?,
                name,
                _unpacked: None,
            });
        }
        if let Some(path) = text.strip_prefix("docker-archive:") {
            return Source::archive(Path::new(path));
        }
        let path = Path::new(text);
        if path.is_dir() {
            return Ok(Source::Layout {
                layout: Layout::open(path)?,
                name: None,
                _unpacked: None,
            });
        }
        if path.is_file() {
            return Source::archive(path);
        }
        let reference = Reference::parse(text)?;
        let scopes = vec![client::scope(&reference.repository, false)];
        let client = Client::connect(&reference.registry, scopes, insecure)?;
        Ok(Source::Registry {
            client: Box::new(client),
            reference,
        })
    }

    fn archive(path: &Path) -> Result<Source, Error> {
        let dir = tempfile::tempdir()
            .map_err(crate::image::Error::io("creating a temporary directory"))?;
        let file = File::open(path).map_err(crate::image::Error::io(format!(
            "opening {}",
            path.display()
        )))?;
        tar::Archive::new(std::io::BufReader::new(file))
            .unpack(dir.path())
            .map_err(crate::image::Error::io(format!(
                "unpacking {}",
                path.display()
            )))?;
        if dir.path().join("oci-layout").is_file() && dir.path().join("index.json").is_file() {
            let layout = Layout::open(dir.path())?;
            if !layout.index()?.is_empty() {
                return Ok(Source::Layout {
                    layout,
                    name: None,
                    _unpacked: Some(dir),
                });
            }
        }
        Ok(Source::DockerArchive { dir })
    }

    /// The images to analyze: one per platform (only `platform`'s when given).
    pub fn images(&self, platform: Option<&Platform>) -> Result<Vec<Image>, Error> {
        let mut images = match self {
            Source::Registry { reference, .. } => {
                let top = self.manifest(&reference.target())?;
                self.expand(top)?
            }
            Source::Layout { layout, name, .. } => {
                let entries = layout.index()?;
                let chosen = match name {
                    Some(name) => entries
                        .iter()
                        .find(|entry| spec::annotation(entry, REF_NAME) == Some(name))
                        .ok_or_else(|| {
                            Error::NotFound(format!("no image named {name:?} in the layout"))
                        })?,
                    None => entries
                        .iter()
                        .find(|entry| {
                            entry.artifact_type().is_none()
                                && spec::annotation(entry, REF_NAME).is_some()
                        })
                        .or_else(|| entries.first())
                        .ok_or_else(|| Error::NotFound("the layout holds no image".into()))?,
                };
                let top = self.manifest(chosen.digest().as_ref())?;
                self.expand(top)?
            }
            Source::DockerArchive { dir } => vec![legacy_archive_image(dir.path())?],
        };
        if let Some(platform) = platform {
            images.retain(|image| platform.matches(&image.platform));
            if images.is_empty() {
                return Err(Error::NotFound(format!("no image for platform {platform}")));
            }
        }
        Ok(images)
    }

    /// A manifest and its digest.
    fn manifest(&self, reference: &str) -> Result<(Document, Digest), Error> {
        let (media_type, bytes, digest) = match self {
            Source::Registry {
                client,
                reference: image,
                ..
            } => {
                let manifest = client.fetch_manifest(&image.repository, reference)?;
                (manifest.media_type, manifest.bytes, manifest.digest)
            }
            Source::Layout { layout, .. } => {
                let digest: Digest = reference
                    .parse()
                    .map_err(|_| Error::NotFound(reference.to_owned()))?;
                (String::new(), layout.read_blob(&digest)?, digest)
            }
            Source::DockerArchive { .. } => {
                return Err(Error::NotFound(format!("manifest {reference}")));
            }
        };
        let document = Document::parse(&media_type, &bytes)
            .map_err(|e| crate::image::Error::Invalid(format!("manifest {digest}: {e}")))?;
        Ok((document, digest))
    }

    fn expand(&self, (document, digest): (Document, Digest)) -> Result<Vec<Image>, Error> {
        let manifest = match document {
            Document::Index(index) => {
                let mut images = vec![];
                for entry in index.manifests() {
                    // Attestations are filed under unknown/unknown; artifacts carry a type.
                    let attestation = entry
                        .platform()
                        .as_ref()
                        .is_some_and(|p| p.os().to_string() == "unknown");
                    if attestation || entry.artifact_type().is_some() {
                        continue;
                    }
                    images.extend(self.expand(self.manifest(entry.digest().as_ref())?)?);
                }
                return Ok(images);
            }
            Document::Image(manifest) => manifest,
        };
        let config_digest = crate::image::digest(manifest.config())?;
        let config: Value = {
            let mut bytes = vec![];
            self.blob(&LayerRef {
                digest: Some(config_digest.clone()),
                compressed: manifest.config().size(),
                path: None,
            })?
            .take(16 << 20)
            .read_to_end(&mut bytes)
            .map_err(crate::image::Error::io("reading an image config"))?;
            serde_json::from_slice(&bytes)
                .map_err(|e| crate::image::Error::Invalid(format!("config {config_digest}: {e}")))?
        };
        let layers = manifest
            .layers()
            .iter()
            .map(|layer| {
                Ok(LayerRef {
                    digest: Some(crate::image::digest(layer)?),
                    compressed: layer.size(),
                    path: None,
                })
            })
            .collect::<Result<_, Error>>()?;
        Ok(vec![Image {
            platform: Platform::from_json(&config).unwrap_or_else(Platform::host),
            manifest: Some(digest),
            config,
            layers,
        }])
    }

    /// A blob's bytes as a stream (compressed as stored).
    pub fn blob(&self, layer: &LayerRef) -> Result<Box<dyn Read>, Error> {
        if let Some(path) = &layer.path {
            let file = File::open(path).map_err(crate::image::Error::io(format!(
                "opening {}",
                path.display()
            )))?;
            return Ok(Box::new(file));
        }
        let digest = layer
            .digest
            .as_ref()
            .ok_or_else(|| Error::NotFound("a layer without digest or path".into()))?;
        let reader: Box<dyn Read> = match self {
            Source::Registry { client, reference } => {
                Box::new(client.fetch_blob(&reference.repository, digest)?)
            }
            Source::Layout { layout, .. } => Box::new(layout.open_blob(digest)?),
            Source::DockerArchive { .. } => return Err(Error::NotFound(format!("blob {digest}"))),
        };
        Ok(Box::new(Verifying::new(reader, digest.clone())))
    }
}

/// The first image of a legacy `docker save` archive (`manifest.json` with file paths).
fn legacy_archive_image(dir: &Path) -> Result<Image, Error> {
    let read = |name: &str| -> Result<Vec<u8>, Error> {
        let path = dir.join(name);
        Ok(
            std::fs::read(&path).map_err(crate::image::Error::io(format!(
                "reading {}",
                path.display()
            )))?,
        )
    };
    let manifest: Value = serde_json::from_slice(&read("manifest.json")?)
        .map_err(|e| crate::image::Error::Invalid(format!("manifest.json: {e}")))?;
    let entry = &manifest[0];
    let config_name = entry["Config"]
        .as_str()
        .ok_or_else(|| Error::NotFound("manifest.json names no config".into()))?;
    let config: Value = serde_json::from_slice(&read(config_name)?)
        .map_err(|e| crate::image::Error::Invalid(format!("{config_name}: {e}")))?;
    let mut layers = vec![];
    for name in entry["Layers"].as_array().into_iter().flatten() {
        let name = name.as_str().unwrap_or_default();
        let path = dir.join(name);
        let compressed = std::fs::metadata(&path)
            .map_err(crate::image::Error::io(format!(
                "reading {}",
                path.display()
            )))?
            .len();
        layers.push(LayerRef {
            digest: None,
            compressed,
            path: Some(path),
        });
    }
    Ok(Image {
        platform: Platform::from_json(&config).unwrap_or_else(Platform::host),
        manifest: None,
        config,
        layers,
    })
}
