//! What the registry API reaches through the lifecycle: blob pushes (creating the project on its
//! first push, the mount's pull check), the catalog a caller may see, manifest puts under the size
//! budget and tag policy, gets that count pulls, deletes that guard releases, and promotion of
//! `latest`.

use super::*;

impl Lifecycle {
    /// Starts a blob push for `caller`, creating the project on its first push: mounts the blob
    /// from `from` when the caller may pull there (else, as when the blob is not there, opens a
    /// session), stores a whole blob, or opens a session.
    pub async fn start_upload(
        &self,
        caller: &Caller,
        name: &str,
        start: UploadStart,
    ) -> Result<Started> {
        self.access.ensure_project(caller, name).await?;
        Ok(match start {
            UploadStart::Mount { digest, from } => {
                let from = from
                    .as_deref()
                    .filter(|from| caller.may(from, auth::Action::Pull))
                    .unwrap_or("");
                match self.registry.mount_blob(name, &digest, from).await? {
                    registry::Mount::Mounted => Started::Stored(digest),
                    registry::Mount::Upload(upload) => Started::Session(upload),
                }
            }
            UploadStart::Whole { digest, body } => {
                self.registry.upload_blob(name, &digest, body).await?;
                Started::Stored(digest)
            }
            UploadStart::Session => Started::Session(self.registry.start_upload(name).await?),
        })
    }

    /// A page of the catalog: the repositories of the projects `caller` may see.
    pub async fn catalog(
        &self,
        caller: &Caller,
        last: Option<&str>,
        n: Option<u32>,
    ) -> Result<registry::Page> {
        let visible = self.access.visible_projects(caller).await?;
        Ok(self
            .registry
            .catalog(last, n, &|name| visible.shows(name))
            .await?)
    }

    // --- Manifests, as the registry API reaches them -----------------------------------------

    /// Validates a manifest, checks it against the size budget, stores it under the project's
    /// tag policy, and writes the push and every tag it moved to the audit log.
    pub async fn put_manifest(
        &self,
        caller: &Caller,
        name: &str,
        reference: &Reference,
        content_type: Option<&str>,
        content: Bytes,
    ) -> Result<PutManifest> {
        self.access.ensure_project(caller, name).await?;
        let upload = self
            .registry
            .prepare_manifest(name, reference, content_type, content)
            .await?;
        let settings = self.settings.get(project_of(name)).await?;
        let digest = upload.digest().to_string();
        if upload.is_image()
            && let Some(budget) = self.budget(name, &settings).await?
            && upload.size() > budget
        {
            let message = format!(
                "image size {} bytes is over the budget of {budget} bytes for {name}",
                upload.size()
            );
            if !settings.budget_warn_only {
                return Err(registry::Error::Denied(message).into());
            }
            tracing::warn!(repository = name, %digest, "{message}");
            let target = Target::repository(name, Some(digest.clone())).with_detail(&message);
            self.access
                .audit_caller(caller, AuditAction::BudgetWarn, target)
                .await;
        }
        let put = self
            .registry
            .store_manifest(name, &upload, &Policy::of(&settings))
            .await?;
        let mut target = Target::repository(name, Some(digest.clone()));
        if let Some(tag) = upload.tag() {
            target = target.with_detail(&format!("tag {tag}"));
        }
        self.access
            .audit_caller(caller, AuditAction::Push, target)
            .await;
        if let (Some(tag), Some(from)) = (upload.tag(), &put.moved_from) {
            let target = Target::repository(name, Some(digest.clone()))
                .with_detail(&format!("tag {tag} moved from {from}"));
            self.access
                .audit_caller(caller, AuditAction::TagMove, target)
                .await;
        }
        for moved in &put.followed {
            self.audit_move(
                name,
                moved,
                &format!("following {}", upload.tag().unwrap_or("")),
            )
            .await;
        }
        Ok(put)
    }

    /// The budget that applies to `repository`: its own, else its project's.
    pub(super) async fn budget(
        &self,
        repository: &str,
        settings: &ProjectSettings,
    ) -> Result<Option<u64>> {
        let own = self.store.repository_budget(repository).await?;
        Ok(own.or(settings.budget_bytes))
    }

    pub(super) async fn audit_move(&self, name: &str, moved: &TagMove, why: &str) {
        let from = moved
            .from
            .as_ref()
            .map_or_else(|| "nothing".to_owned(), Digest::to_string);
        let target = Target::repository(name, Some(moved.to.to_string()))
            .with_detail(&format!("tag {} moved from {from}, {why}", moved.tag));
        self.access
            .audit(&Actor::system(), AuditAction::TagFollow, target)
            .await;
    }

    /// A manifest by tag or digest; a `GET` (not a `HEAD`) counts as a pull.
    pub async fn get_manifest(
        &self,
        name: &str,
        reference: &Reference,
        head: bool,
    ) -> Result<StoredManifest> {
        let manifest = self.registry.get_manifest(name, reference).await?;
        if self.options.track_pulls && !head {
            let tag = match reference {
                Reference::Tag(tag) => Some(tag.as_str()),
                Reference::Digest(_) => None,
            };
            self.pulls.record(name, &manifest.digest, tag);
        }
        Ok(manifest)
    }

    /// Deletes a tag, or a manifest and its tags. Under the tag policy, deleting a release tag
    /// (or a manifest a release tag points at) needs the project admin role.
    pub async fn delete_manifest(
        &self,
        caller: &Caller,
        name: &str,
        reference: &Reference,
    ) -> Result<()> {
        match reference {
            Reference::Tag(tag) => {
                let policy = Policy::of(&self.settings.get(project_of(name)).await?);
                if policy.protects(tag) {
                    self.require_release_admin(caller, name, tag, "it").await?;
                }
            }
            Reference::Digest(digest) => self.guard_releases(caller, name, digest).await?,
        }
        self.registry.delete_manifest(name, reference).await?;
        let target = match reference {
            Reference::Tag(tag) => {
                Target::repository(name, None).with_detail(&format!("tag {tag}"))
            }
            Reference::Digest(digest) => Target::repository(name, Some(digest.to_string())),
        };
        self.access
            .audit_caller(caller, AuditAction::Delete, target)
            .await;
        Ok(())
    }

    /// Removes a blob from a repository. Under the tag policy, a blob that a release tag
    /// reaches (a layer or config of a release, or of a child of a release index) is part of
    /// the release: removing it needs the project admin role, as deleting the release does.
    pub async fn delete_blob(&self, caller: &Caller, name: &str, digest: &Digest) -> Result<()> {
        self.guard_releases(caller, name, digest).await?;
        self.registry.delete_blob(name, digest).await?;
        let target = Target::repository(name, Some(digest.to_string())).with_detail("blob");
        self.access
            .audit_caller(caller, AuditAction::Delete, target)
            .await;
        Ok(())
    }

    /// Refuses, unless the caller is a project admin, to delete `digest` (a manifest or a blob)
    /// while a release tag of the repository reaches it.
    pub(super) async fn guard_releases(
        &self,
        caller: &Caller,
        name: &str,
        digest: &Digest,
    ) -> Result<()> {
        let policy = Policy::of(&self.settings.get(project_of(name)).await?);
        if !policy.immutable_releases {
            return Ok(());
        }
        let tags = self.registry.tags_reaching(name, digest).await?;
        if let Some(tag) = tags.into_iter().find(|tag| policy.protects(tag)) {
            let what = format!("{digest}, which release {tag} holds,");
            return self.require_release_admin(caller, name, &tag, &what).await;
        }
        Ok(())
    }

    pub(super) async fn require_release_admin(
        &self,
        caller: &Caller,
        name: &str,
        tag: &str,
        what: &str,
    ) -> Result<()> {
        let actor = self.access.actor_of(caller).await?;
        let project = project_of(name);
        self.access
            .require_role(&actor, project, Role::Admin)
            .await
            .map_err(|_| {
                registry::Error::Denied(format!(
                    "tag {tag} is a release (immutable_releases): deleting {what} needs the \
                     admin role in project {project}"
                ))
            })?;
        Ok(())
    }

    /// Points `latest` at the manifest of `tag` (a maintainer's decision, audited).
    pub async fn promote(&self, actor: &Actor, name: &str, tag: &str) -> Result<Warned<TagMove>> {
        self.access
            .require_role(actor, project_of(name), Role::Maintainer)
            .await?;
        let reference = Reference::Tag(tag.to_owned());
        let manifest = match self.registry.get_manifest(name, &reference).await {
            Err(registry::Error::ManifestUnknown { .. }) => {
                return Err(Error::NotFound(format!("{name}:{tag} does not exist")));
            }
            res => res?,
        };
        let from = self
            .registry
            .point_tag(name, "latest", &manifest.digest)
            .await?;
        let moved = TagMove {
            tag: "latest".to_owned(),
            from,
            to: manifest.digest,
        };
        let target = Target::repository(name, Some(moved.to.to_string()))
            .with_detail(&format!("latest promoted to {tag}"));
        self.access
            .audit(actor, AuditAction::TagPromote, target)
            .await;
        let warning = match TagKind::of(tag) {
            TagKind::Release(version) if !version.pre.is_empty() => Some(format!(
                "{tag} is a pre-release: `latest` now names an image that is not a stable release"
            )),
            TagKind::Release(_) => None,
            _ => Some(format!(
                "{tag} is not a release tag (vMAJOR.MINOR.PATCH): `latest` now names a tag that \
                 may move"
            )),
        };
        Ok(Warned {
            value: moved,
            warnings: warning.into_iter().collect(),
        })
    }
}
