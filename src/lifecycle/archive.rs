//! The archive: images that retention archives instead of deleting, kept outside the registry
//! as OCI image layouts (one per repository) and restorable so that `docker pull` of the tag
//! works again.
//!
//! ```text
//! <archive_dir>/<repository>/
//! ├── oci-layout          {"imageLayoutVersion":"1.0.0"}
//! ├── index.json          one descriptor per archived tag (annotation
//! │                       org.opencontainers.image.ref.name) and per referrer
//! └── blobs/sha256/<hex>  manifests, configs and layers
//! ```
//!
//! Blobs are written to a temporary name, synced and renamed, and `index.json` is replaced by
//! a rename, so a crash never leaves a layout that names a missing blob. Writes happen under
//! the project's retention lock.

use std::path::{Path, PathBuf};

use bytes::Bytes;
use futures_util::StreamExt;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::tags::Policy;
use super::{Error, Lifecycle, Result};
use crate::auth::{Actor, Role, Target};
use crate::oci::digest::Digest;
use crate::oci::names::{Reference, project_of};

const REF_NAME: &str = "org.opencontainers.image.ref.name";
const ARCHIVED_AT: &str = "dev.berth.archived-at";
const SUBJECT_OF: &str = "dev.berth.referrer-of";

/// An archived tag, as `berth archive ls` lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Archived {
    pub repository: String,
    pub tag: String,
    pub digest: String,
    pub archived_at: i64,
}

impl Lifecycle {
    fn layout(&self, repository: &str) -> PathBuf {
        self.options.archive_dir.join(repository)
    }

    /// Writes the image `tag` of `repository` points at (`digest`), with its children, blobs
    /// and referrers, to the repository's layout.
    pub(super) async fn archive_image(
        &self,
        repository: &str,
        tag: &str,
        digest: &Digest,
    ) -> Result<()> {
        let layout = self.layout(repository);
        tokio::fs::create_dir_all(layout.join("blobs/sha256"))
            .await
            .map_err(io)?;
        write_atomic(
            &layout.join("oci-layout"),
            br#"{"imageLayoutVersion":"1.0.0"}"#,
        )
        .await?;
        let mut index = read_index(&layout).await?;
        let now = crate::time::now_secs().to_string();
        let top = self.copy_manifest(repository, digest, &layout).await?;
        let mut entry = top.clone();
        entry["annotations"] = json!({REF_NAME: tag, ARCHIVED_AT: now});
        let manifests = index["manifests"]
            .as_array_mut()
            .expect("read_index makes an array");
        manifests.retain(|m| m["annotations"][REF_NAME] != tag);
        manifests.push(entry);
        for referrer in self.registry.referrers(repository, digest, None).await? {
            let mut entry = self
                .copy_manifest(repository, &referrer.digest, &layout)
                .await?;
            entry["annotations"] = json!({SUBJECT_OF: digest.to_string(), ARCHIVED_AT: now});
            if !manifests.contains(&entry) {
                manifests.push(entry);
            }
        }
        let text = serde_json::to_vec_pretty(&index).expect("JSON values serialize");
        write_atomic(&layout.join("index.json"), &text).await
    }

    /// Copies a manifest and everything it names into the layout; returns its descriptor.
    async fn copy_manifest(
        &self,
        repository: &str,
        digest: &Digest,
        layout: &Path,
    ) -> Result<Value> {
        let reference = Reference::Digest(digest.clone());
        let manifest = self.registry.get_manifest(repository, &reference).await?;
        let parsed: Value = serde_json::from_slice(&manifest.content)
            .map_err(|e| Error::Invalid(format!("stored manifest {digest}: {e}")))?;
        for child in named(&parsed, "manifests") {
            Box::pin(self.copy_manifest(repository, &child, layout)).await?;
        }
        for blob in named(&parsed, "layers")
            .into_iter()
            .chain(named(&parsed, "config"))
        {
            let target = blob_path(layout, &blob);
            if tokio::fs::try_exists(&target).await.map_err(io)? {
                continue;
            }
            let read = self.registry.read_blob(repository, &blob, None).await?;
            let temp = target.with_extension("partial");
            let mut file = tokio::fs::File::create(&temp).await.map_err(io)?;
            let mut body = read.body;
            while let Some(chunk) = body.next().await {
                file.write_all(&chunk.map_err(io)?).await.map_err(io)?;
            }
            file.sync_all().await.map_err(io)?;
            tokio::fs::rename(&temp, &target).await.map_err(io)?;
        }
        write_atomic(&blob_path(layout, digest), &manifest.content).await?;
        Ok(json!({
            "mediaType": manifest.media_type,
            "digest": digest.to_string(),
            "size": manifest.content.len(),
        }))
    }

    /// Every archived tag (system administrators).
    pub async fn archived(&self, actor: &Actor) -> Result<Vec<Archived>> {
        self.access.require_system_admin(actor)?;
        let mut found = Vec::new();
        let root = self.options.archive_dir.clone();
        let layouts = tokio::task::spawn_blocking(move || find_layouts(&root, &root))
            .await
            .map_err(|e| io(std::io::Error::other(e)))?
            .map_err(io)?;
        for repository in layouts {
            let index = read_index(&self.layout(&repository)).await?;
            for entry in index["manifests"].as_array().into_iter().flatten() {
                let Some(tag) = entry["annotations"][REF_NAME].as_str() else {
                    continue;
                };
                found.push(Archived {
                    repository: repository.clone(),
                    tag: tag.to_owned(),
                    digest: entry["digest"].as_str().unwrap_or("").to_owned(),
                    archived_at: entry["annotations"][ARCHIVED_AT]
                        .as_str()
                        .and_then(|t| t.parse().ok())
                        .unwrap_or(0),
                });
            }
        }
        found.sort_by(|a, b| (&a.repository, &a.tag).cmp(&(&b.repository, &b.tag)));
        Ok(found)
    }

    /// Pushes an archived tag back into its repository (project admins): blobs, children, the
    /// manifest under its tag, then its referrers. Quotas and the tag policy apply as to any
    /// push.
    pub async fn restore(&self, actor: &Actor, repository: &str, tag: &str) -> Result<Digest> {
        self.access
            .require_role(actor, project_of(repository), Role::Admin)
            .await?;
        let layout = self.layout(repository);
        let index = read_index(&layout).await?;
        let entries = index["manifests"].as_array().cloned().unwrap_or_default();
        let entry = entries
            .iter()
            .find(|m| m["annotations"][REF_NAME] == tag)
            .ok_or_else(|| Error::NotFound(format!("{repository}:{tag} is not archived")))?;
        let digest = parse_digest(&entry["digest"])?;
        let settings = self.settings.get(project_of(repository)).await?;
        let policy = Policy::of(&settings);
        self.restore_manifest(repository, &layout, &digest, Some(tag), &policy)
            .await?;
        for referrer in entries
            .iter()
            .filter(|m| m["annotations"][SUBJECT_OF] == digest.to_string())
        {
            let referrer = parse_digest(&referrer["digest"])?;
            self.restore_manifest(repository, &layout, &referrer, None, &policy)
                .await?;
        }
        let target = Target::repository(repository, Some(digest.to_string()))
            .with_detail(&format!("tag {tag} restored from the archive"));
        self.access.audit(actor, "archive.restore", target).await;
        Ok(digest)
    }

    async fn restore_manifest(
        &self,
        repository: &str,
        layout: &Path,
        digest: &Digest,
        tag: Option<&str>,
        policy: &Policy,
    ) -> Result<()> {
        let content = tokio::fs::read(blob_path(layout, digest))
            .await
            .map_err(io)?;
        let parsed: Value = serde_json::from_slice(&content)
            .map_err(|e| Error::Invalid(format!("archived manifest {digest}: {e}")))?;
        for child in named(&parsed, "manifests") {
            Box::pin(self.restore_manifest(repository, layout, &child, None, policy)).await?;
        }
        for blob in named(&parsed, "layers")
            .into_iter()
            .chain(named(&parsed, "config"))
        {
            if self.registry.stat_blob(repository, &blob).await.is_ok() {
                continue;
            }
            let file = tokio::fs::File::open(blob_path(layout, &blob))
                .await
                .map_err(io)?;
            self.registry
                .upload_blob(repository, &blob, file_stream(file))
                .await?;
        }
        let media_type = parsed["mediaType"].as_str().map(str::to_owned);
        let reference = match tag {
            Some(tag) => Reference::Tag(tag.to_owned()),
            None => Reference::Digest(digest.clone()),
        };
        let upload = self
            .registry
            .prepare_manifest(
                repository,
                &reference,
                media_type.as_deref(),
                Bytes::from(content),
            )
            .await?;
        self.registry
            .store_manifest(repository, &upload, policy)
            .await?;
        Ok(())
    }
}

/// The digests a manifest names under `field` (`config`, `layers` or `manifests`).
fn named(manifest: &Value, field: &str) -> Vec<Digest> {
    let value = &manifest[field];
    let descriptors: Vec<&Value> = match value {
        Value::Array(items) => items.iter().collect(),
        Value::Object(_) => vec![value],
        _ => vec![],
    };
    descriptors
        .into_iter()
        .filter(|d| d["urls"].is_null())
        .filter_map(|d| d["digest"].as_str()?.parse().ok())
        .collect()
}

fn parse_digest(value: &Value) -> Result<Digest> {
    value
        .as_str()
        .and_then(|d| d.parse().ok())
        .ok_or_else(|| Error::Invalid(format!("archive index names {value} as a digest")))
}

fn blob_path(layout: &Path, digest: &Digest) -> PathBuf {
    layout
        .join("blobs")
        .join(digest.algorithm().name())
        .join(digest.hex())
}

async fn read_index(layout: &Path) -> Result<Value> {
    match tokio::fs::read(layout.join("index.json")).await {
        Ok(bytes) => serde_json::from_slice(&bytes)
            .map_err(|e| Error::Invalid(format!("{}: {e}", layout.display()))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            Ok(json!({"schemaVersion": 2, "manifests": []}))
        }
        Err(e) => Err(io(e)),
    }
}

async fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let temp = path.with_extension("partial");
    let mut file = tokio::fs::File::create(&temp).await.map_err(io)?;
    file.write_all(bytes).await.map_err(io)?;
    file.sync_all().await.map_err(io)?;
    tokio::fs::rename(&temp, path).await.map_err(io)
}

/// Repository names of the layouts under `dir` (directories holding an `index.json`).
fn find_layouts(root: &Path, dir: &Path) -> std::io::Result<Vec<String>> {
    let mut found = Vec::new();
    let entries = match std::fs::read_dir(dir) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(found),
        res => res?,
    };
    if dir.join("index.json").exists() {
        let name = dir.strip_prefix(root).unwrap_or(dir);
        found.push(name.to_string_lossy().into_owned());
        return Ok(found);
    }
    for entry in entries {
        let path = entry?.path();
        if path.is_dir() {
            found.extend(find_layouts(root, &path)?);
        }
    }
    Ok(found)
}

/// A file as a stream of 1 MiB chunks, for an upload.
fn file_stream(file: tokio::fs::File) -> crate::storage::ByteStream<'static> {
    Box::pin(futures_util::stream::unfold(file, |mut file| async move {
        let mut buf = Vec::with_capacity(1 << 20);
        match (&mut file).take(1 << 20).read_to_end(&mut buf).await {
            Ok(0) => None,
            Ok(_) => Some((Ok(Bytes::from(buf)), file)),
            Err(e) => Some((Err(e), file)),
        }
    }))
}

fn io(e: std::io::Error) -> Error {
    Error::Storage(crate::storage::Error::from(e))
}
