//! The archive: images that retention archives instead of deleting, kept outside the registry
//! as OCI image layouts (one per repository, `storage::archive::ArchiveStore`) and restorable so
//! that `docker pull` of the tag works again. Blobs go in before the index that names them, and
//! the index is replaced whole, so a crash never leaves a layout that names a missing blob.
//! Writes happen under the project's retention lock.

use bytes::Bytes;
use serde_json::{Value, json};

use super::tags::Policy;
use super::{Error, Lifecycle, Result};
use crate::auth::AuditAction;
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
    /// Writes the image `tag` of `repository` points at (`digest`), with its children, blobs
    /// and referrers, to the repository's layout.
    pub(super) async fn archive_image(
        &self,
        repository: &str,
        tag: &str,
        digest: &Digest,
    ) -> Result<()> {
        let mut manifests = self.archive.index(repository).await?;
        let now = crate::time::now_secs().to_string();
        let top = self.copy_manifest(repository, digest).await?;
        let mut entry = top.clone();
        entry["annotations"] = json!({REF_NAME: tag, ARCHIVED_AT: now});
        manifests.retain(|m| m["annotations"][REF_NAME] != tag);
        manifests.push(entry);
        for referrer in self.registry.referrers(repository, digest, None).await? {
            let mut entry = self.copy_manifest(repository, &referrer.digest).await?;
            entry["annotations"] = json!({SUBJECT_OF: digest.to_string(), ARCHIVED_AT: now});
            if !manifests.contains(&entry) {
                manifests.push(entry);
            }
        }
        Ok(self.archive.write_index(repository, manifests).await?)
    }

    /// Copies a manifest and everything it names into the archive; returns its descriptor.
    async fn copy_manifest(&self, repository: &str, digest: &Digest) -> Result<Value> {
        let reference = Reference::Digest(digest.clone());
        let manifest = self.registry.get_manifest(repository, &reference).await?;
        let parsed: Value = serde_json::from_slice(&manifest.content)
            .map_err(|e| Error::Invalid(format!("stored manifest {digest}: {e}")))?;
        for child in named(&parsed, "manifests") {
            Box::pin(self.copy_manifest(repository, &child)).await?;
        }
        for blob in named(&parsed, "layers")
            .into_iter()
            .chain(named(&parsed, "config"))
        {
            if self.archive.has_blob(repository, &blob).await? {
                continue;
            }
            let read = self.registry.read_blob(repository, &blob, None).await?;
            self.archive.put_blob(repository, &blob, read.body).await?;
        }
        let content = manifest.content.clone();
        let body: crate::storage::ByteStream<'static> =
            Box::pin(futures_util::stream::once(async move { Ok(content) }));
        self.archive.put_blob(repository, digest, body).await?;
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
        for repository in self.archive.repositories().await? {
            for entry in self.archive.index(&repository).await? {
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
        let entries = self.archive.index(repository).await?;
        let entry = entries
            .iter()
            .find(|m| m["annotations"][REF_NAME] == tag)
            .ok_or_else(|| Error::NotFound(format!("{repository}:{tag} is not archived")))?;
        let digest = parse_digest(&entry["digest"])?;
        let settings = self.settings.get(project_of(repository)).await?;
        let policy = Policy::of(&settings);
        self.restore_manifest(repository, &digest, Some(tag), &policy)
            .await?;
        for referrer in entries
            .iter()
            .filter(|m| m["annotations"][SUBJECT_OF] == digest.to_string())
        {
            let referrer = parse_digest(&referrer["digest"])?;
            self.restore_manifest(repository, &referrer, None, &policy)
                .await?;
        }
        let target = Target::repository(repository, Some(digest.to_string()))
            .with_detail(&format!("tag {tag} restored from the archive"));
        self.access
            .audit(actor, AuditAction::ArchiveRestore, target)
            .await;
        Ok(digest)
    }

    async fn restore_manifest(
        &self,
        repository: &str,
        digest: &Digest,
        tag: Option<&str>,
        policy: &Policy,
    ) -> Result<()> {
        let content: Bytes = self.archive.read_blob(repository, digest).await?;
        let parsed: Value = serde_json::from_slice(&content)
            .map_err(|e| Error::Invalid(format!("archived manifest {digest}: {e}")))?;
        for child in named(&parsed, "manifests") {
            Box::pin(self.restore_manifest(repository, &child, None, policy)).await?;
        }
        for blob in named(&parsed, "layers")
            .into_iter()
            .chain(named(&parsed, "config"))
        {
            if self.registry.stat_blob(repository, &blob).await.is_ok() {
                continue;
            }
            let body = self.archive.open_blob(repository, &blob).await?;
            self.registry.upload_blob(repository, &blob, body).await?;
        }
        let media_type = parsed["mediaType"].as_str().map(str::to_owned);
        let reference = match tag {
            Some(tag) => Reference::Tag(tag.to_owned()),
            None => Reference::Digest(digest.clone()),
        };
        let upload = self
            .registry
            .prepare_manifest(repository, &reference, media_type.as_deref(), content)
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
