//! The archive: images that retention archives instead of deleting, kept outside the registry
//! as OCI image layouts (one per repository, `storage::archive::ArchiveStore`) and restorable so
//! that `docker pull` of the tag works again. Blobs go in before the index that names them, and
//! the index is replaced whole, so a crash never leaves a layout that names a missing blob.
//! Writes happen under the project's retention lock.

use bytes::Bytes;

use super::tags::Policy;
use super::{Error, Lifecycle, Result};
use crate::auth::AuditAction;
use crate::auth::{Actor, Role, Target};
use crate::oci::digest::Digest;
use crate::oci::names::{Reference, project_of};
use crate::oci::spec::{self, Descriptor, Document, REF_NAME};

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
        let mut entry = self.copy_manifest(repository, digest).await?;
        spec::annotate(&mut entry, REF_NAME, tag);
        spec::annotate(&mut entry, ARCHIVED_AT, &now);
        manifests.retain(|m| spec::annotation(m, REF_NAME) != Some(tag));
        manifests.push(entry);
        for referrer in self.registry.referrers(repository, digest, None).await? {
            let mut entry = self.copy_manifest(repository, &referrer.digest).await?;
            spec::annotate(&mut entry, SUBJECT_OF, &digest.to_string());
            spec::annotate(&mut entry, ARCHIVED_AT, &now);
            if !manifests.contains(&entry) {
                manifests.push(entry);
            }
        }
        Ok(self.archive.write_index(repository, manifests).await?)
    }

    /// Copies a manifest and everything it names into the archive; returns its descriptor.
    async fn copy_manifest(&self, repository: &str, digest: &Digest) -> Result<Descriptor> {
        let reference = Reference::Digest(digest.clone());
        let manifest = self.registry.get_manifest(repository, &reference).await?;
        let parsed = Document::parse(&manifest.media_type, &manifest.content)
            .map_err(|e| Error::Invalid(format!("stored manifest {digest}: {e}")))?;
        for child in digests(parsed.manifests())? {
            Box::pin(self.copy_manifest(repository, &child)).await?;
        }
        for blob in digests(parsed.blobs())? {
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
        Ok(spec::descriptor(
            &manifest.media_type,
            digest,
            manifest.content.len() as u64,
        ))
    }

    /// Every archived tag (system administrators).
    pub async fn archived(&self, actor: &Actor) -> Result<Vec<Archived>> {
        self.access.require_system_admin(actor)?;
        let mut found = Vec::new();
        for repository in self.archive.repositories().await? {
            for entry in self.archive.index(&repository).await? {
                let Some(tag) = spec::annotation(&entry, REF_NAME) else {
                    continue;
                };
                found.push(Archived {
                    repository: repository.clone(),
                    tag: tag.to_owned(),
                    digest: entry.digest().to_string(),
                    archived_at: spec::annotation(&entry, ARCHIVED_AT)
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
            .find(|m| spec::annotation(m, REF_NAME) == Some(tag))
            .ok_or_else(|| Error::NotFound(format!("{repository}:{tag} is not archived")))?;
        let digest = parse_digest(entry)?;
        let settings = self.settings.get(project_of(repository)).await?;
        let policy = Policy::of(&settings);
        self.restore_manifest(repository, &digest, Some(tag), &policy)
            .await?;
        for referrer in entries
            .iter()
            .filter(|m| spec::annotation(m, SUBJECT_OF) == Some(&digest.to_string()))
        {
            let referrer = parse_digest(referrer)?;
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
        let parsed = Document::parse("", &content)
            .map_err(|e| Error::Invalid(format!("archived manifest {digest}: {e}")))?;
        for child in digests(parsed.manifests())? {
            Box::pin(self.restore_manifest(repository, &child, None, policy)).await?;
        }
        for blob in digests(parsed.blobs())? {
            if self.registry.stat_blob(repository, &blob).await.is_ok() {
                continue;
            }
            let body = self.archive.open_blob(repository, &blob).await?;
            self.registry.upload_blob(repository, &blob, body).await?;
        }
        let media_type = parsed.media_type();
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

/// The digests of descriptors whose content the registry holds (foreign layers, fetched from
/// their URLs, are left out).
fn digests<'a>(descriptors: impl IntoIterator<Item = &'a Descriptor>) -> Result<Vec<Digest>> {
    descriptors
        .into_iter()
        .filter(|d| d.urls().is_none())
        .map(parse_digest)
        .collect()
}

fn parse_digest(descriptor: &Descriptor) -> Result<Digest> {
    spec::digest_of(descriptor).map_err(|e| Error::Invalid(format!("the archive index: {e}")))
}
