//! The lifecycle service: what happens to images after they are pushed. The tag policy
//! (immutable releases, aliases that follow, promotion to `latest`), pull tracking, size
//! budgets and quotas, retention, garbage collection and fsck.
//!
//! It wraps the registry service for manifest pushes, pulls and deletes, so that policy is
//! applied in one place whichever client pushes, and it talks to storage only through the
//! `LifecycleStore`, `MetaStore` (through `Registry`) and `BlobStore` ports.
//!
//! Architecture invariant: only this module deletes blobs, and only through `gc`, after the
//! metadata store has tombstoned them; retention deletes tags and manifests, never bytes.

pub mod archive;
pub mod gc;
mod pulls;
pub mod retention;
pub mod tags;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use bytes::Bytes;

use crate::auth::AuditAction;
use crate::auth::{self, Access, Actor, Caller, Role, Target};
use crate::oci::digest::Digest;
use crate::oci::names::{Reference, project_of};
use crate::registry::{self, PutManifest, Registry, StoredManifest};
use crate::storage::archive::ArchiveStore;
pub use crate::storage::lifecycle::ProjectSettings;
use crate::storage::lifecycle::{LifecycleStore, RepositoryUsage};
use crate::storage::{self, BlobStore, TagMove};
pub use pulls::PullRecorder;
use tags::{Policy, TagKind};

/// The name under which automatic tag moves appear in the audit log.
pub const SYSTEM_ACTOR: &str = "berth";

/// Why a lifecycle operation failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A registry operation failed (a push refused by policy arrives as `Denied` there).
    #[error(transparent)]
    Registry(#[from] registry::Error),
    /// The actor may not do this.
    #[error(transparent)]
    Access(#[from] auth::Error),
    /// A setting, rule or argument is malformed.
    #[error("{0}")]
    Invalid(String),
    /// The project, repository or tag does not exist.
    #[error("{0}")]
    NotFound(String),
    /// Another replica holds the lock of this job.
    #[error("{0} is running elsewhere")]
    Busy(String),
    /// A store failed.
    #[error(transparent)]
    Storage(#[from] storage::Error),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Settings of the lifecycle service.
#[derive(Debug, Clone)]
pub struct Options {
    /// Record pulls (batched), for retention rules.
    pub track_pulls: bool,
    /// GC spares what is younger than this.
    pub gc_grace: Duration,
    /// GC also deletes untagged manifests nothing references (not only orphaned referrers).
    pub gc_untagged: bool,
    /// How long a GC's lock lasts without renewal: after a GC dies, the next may start
    /// this long after.
    pub gc_lease: Duration,
}

/// Per-project settings, read through a cache of one second (as access control's project
/// cache): a change reaches every replica within a second.
pub struct Settings {
    store: Arc<dyn LifecycleStore>,
    cache: Mutex<HashMap<String, (Option<ProjectSettings>, Instant)>>,
}

const SETTINGS_TTL: Duration = Duration::from_secs(1);

impl Settings {
    pub fn new(store: Arc<dyn LifecycleStore>) -> Settings {
        Settings {
            store,
            cache: Mutex::new(HashMap::new()),
        }
    }

    /// The settings of `project`, or the defaults if it does not exist (yet).
    async fn get(&self, project: &str) -> storage::Result<ProjectSettings> {
        if let Some((settings, at)) = self.lock().get(project)
            && at.elapsed() < SETTINGS_TTL
        {
            return Ok(settings.clone().unwrap_or_default());
        }
        let settings = self.store.project_settings(project).await?;
        self.lock()
            .insert(project.to_owned(), (settings.clone(), Instant::now()));
        Ok(settings.unwrap_or_default())
    }

    fn forget(&self, project: &str) {
        self.lock().remove(project);
    }

    fn lock(
        &self,
    ) -> std::sync::MutexGuard<'_, HashMap<String, (Option<ProjectSettings>, Instant)>> {
        self.cache.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[async_trait]
impl registry::Quotas for Settings {
    async fn quota(&self, project: &str) -> storage::Result<Option<u64>> {
        Ok(self.get(project).await?.quota_bytes)
    }
}

/// How a blob push starts (`POST /v2/<name>/blobs/uploads/`).
pub enum UploadStart {
    /// `?mount=<digest>&from=<repository>`.
    Mount {
        digest: Digest,
        from: Option<String>,
    },
    /// `?digest=<digest>` with the whole blob as the body.
    Whole {
        digest: Digest,
        body: storage::ByteStream<'static>,
    },
    /// A session for chunks.
    Session,
}

/// What a push start did.
pub enum Started {
    /// The blob is in the repository (mounted or stored whole).
    Stored(Digest),
    /// An upload session to continue.
    Session(registry::UploadState),
}

/// A change to a project's settings: `None` (or `Change::Keep`) leaves a field as it is.
#[derive(Debug, Default, Clone)]
pub struct SettingsChange {
    pub immutable_releases: Option<bool>,
    pub follow_aliases: Option<bool>,
    pub latest_on_push: Option<bool>,
    /// Retention rules, one per line (checked before they are stored).
    pub retention: Option<String>,
    pub retention_schedule: Change<String>,
    pub quota_bytes: Change<u64>,
    pub budget_bytes: Change<u64>,
    pub budget_warn_only: Option<bool>,
}

/// A change to a setting that may be unset: leave it, remove it, or set it. In JSON an absent
/// field keeps the setting (with `#[serde(default)]`), `null` removes it.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub enum Change<T> {
    #[default]
    Keep,
    Remove,
    Set(T),
}

impl<T> Change<T> {
    /// The setting after the change.
    pub fn apply(self, current: Option<T>) -> Option<T> {
        match self {
            Change::Keep => current,
            Change::Remove => None,
            Change::Set(value) => Some(value),
        }
    }

    pub fn is_keep(&self) -> bool {
        matches!(self, Change::Keep)
    }
}

impl<'de, T: serde::Deserialize<'de>> serde::Deserialize<'de> for Change<T> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Change<T>, D::Error> {
        Ok(Option::<T>::deserialize(d)?.map_or(Change::Remove, Change::Set))
    }
}

/// The lifecycle service. Cheap to clone.
#[derive(Clone)]
pub struct Lifecycle {
    registry: Registry,
    access: Access,
    store: Arc<dyn LifecycleStore>,
    blobs: Arc<dyn BlobStore>,
    settings: Arc<Settings>,
    /// Where retention archives images instead of deleting them.
    archive: Arc<dyn ArchiveStore>,
    pulls: Arc<PullRecorder>,
    options: Arc<Options>,
}

impl Lifecycle {
    pub fn new(
        registry: Registry,
        access: Access,
        store: Arc<dyn LifecycleStore>,
        blobs: Arc<dyn BlobStore>,
        settings: Arc<Settings>,
        archive: Arc<dyn ArchiveStore>,
        options: Options,
    ) -> Lifecycle {
        Lifecycle {
            registry,
            access,
            store,
            blobs,
            settings,
            archive,
            pulls: Arc::new(PullRecorder::default()),
            options: Arc::new(options),
        }
    }

    // --- Blobs and the catalog, as the registry API reaches them ----------------------------

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
    async fn budget(&self, repository: &str, settings: &ProjectSettings) -> Result<Option<u64>> {
        let own = self.store.repository_budget(repository).await?;
        Ok(own.or(settings.budget_bytes))
    }

    async fn audit_move(&self, name: &str, moved: &TagMove, why: &str) {
        let from = moved
            .from
            .as_ref()
            .map_or_else(|| "nothing".to_owned(), Digest::to_string);
        let target = Target::repository(name, Some(moved.to.to_string()))
            .with_detail(&format!("tag {} moved from {from}, {why}", moved.tag));
        self.access
            .audit_system(SYSTEM_ACTOR, AuditAction::TagFollow, target)
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
    async fn guard_releases(&self, caller: &Caller, name: &str, digest: &Digest) -> Result<()> {
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

    async fn require_release_admin(
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

    /// Spawns the background work of a server: writing gathered pull counts every `flush`,
    /// and GC on `gc_schedule` (the `gc` lock keeps replicas from running it twice at once).
    pub fn start_background(&self, flush: Duration, gc_schedule: Option<croner::Cron>) {
        if self.options.track_pulls {
            let lifecycle = self.clone();
            tokio::spawn(async move {
                let mut ticks = tokio::time::interval(flush);
                ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                loop {
                    ticks.tick().await;
                    if let Err(e) = lifecycle.flush_pulls().await {
                        tracing::warn!("writing pull counts failed (kept for the next try): {e}");
                    }
                }
            });
        }
        let lifecycle = self.clone();
        tokio::spawn(async move { lifecycle.retention_schedules().await });
        if let Some(cron) = gc_schedule {
            let lifecycle = self.clone();
            tokio::spawn(async move {
                let system = Actor {
                    subject: auth::Subject::Cli,
                    address: None,
                };
                loop {
                    let now = crate::time::now_utc();
                    let Ok(next) = cron.find_next_occurrence(&now, false) else {
                        return;
                    };
                    let wait = (next - now).to_std().unwrap_or_default();
                    tokio::time::sleep(wait).await;
                    match lifecycle.gc(&system).await {
                        Ok(report) => tracing::info!(?report, "scheduled GC finished"),
                        Err(Error::Busy(_)) => {
                            tracing::info!("scheduled GC: another replica runs it")
                        }
                        Err(e) => tracing::error!("scheduled GC failed: {e}"),
                    }
                }
            });
        }
    }

    /// Runs each project's retention when its schedule comes due; looks every second (one
    /// small query), so that six-field schedules with seconds work too. The project's retention
    /// lock keeps replicas from running one project at the same time.
    async fn retention_schedules(&self) {
        let system = Actor {
            subject: auth::Subject::Cli,
            address: None,
        };
        let mut since = crate::time::now_utc();
        loop {
            tokio::time::sleep(Duration::from_secs(1)).await;
            let now = crate::time::now_utc();
            let schedules = match self.store.retention_schedules().await {
                Ok(schedules) => schedules,
                Err(e) => {
                    tracing::error!("reading retention schedules failed: {e}");
                    continue;
                }
            };
            for (project, schedule) in schedules {
                let due = parse_schedule(&schedule)
                    .ok()
                    .and_then(|cron| cron.find_next_occurrence(&since, false).ok())
                    .is_some_and(|next| next <= now);
                if !due {
                    continue;
                }
                match self.retention_run(&system, &project).await {
                    Ok(applied) => {
                        tracing::info!(project, deleted = applied.len(), "scheduled retention ran")
                    }
                    Err(Error::Busy(_)) => {}
                    Err(e) => tracing::error!(project, "scheduled retention failed: {e}"),
                }
            }
            since = now;
        }
    }

    // --- Retention ----------------------------------------------------------------------------

    /// What retention would delete in `project` now (maintainers may look).
    pub async fn retention_plan(
        &self,
        actor: &Actor,
        project: &str,
    ) -> Result<Vec<retention::Decision>> {
        self.access
            .require_role(actor, project, Role::Maintainer)
            .await?;
        self.plan(project).await
    }

    /// The plan, for an actor already allowed to see it.
    async fn plan(&self, project: &str) -> Result<Vec<retention::Decision>> {
        let settings = self
            .store
            .project_settings(project)
            .await?
            .ok_or_else(|| Error::NotFound(format!("project {project:?} does not exist")))?;
        let rules = retention::parse(&settings.retention).map_err(Error::Invalid)?;
        // Pulls gathered here and not yet written would otherwise look like no pulls.
        self.flush_pulls().await?;
        let images = self.store.images(project).await?;
        Ok(retention::plan(&rules, &images, crate::time::now_secs()))
    }

    /// Plans and applies retention in `project` (project admins: it deletes releases), under
    /// the project's retention lock. Each step applies only if the tag still points where the
    /// plan saw it (a push in between wins); returns the steps applied, each audited.
    pub async fn retention_run(
        &self,
        actor: &Actor,
        project: &str,
    ) -> Result<Vec<retention::Decision>> {
        self.access
            .require_role(actor, project, Role::Admin)
            .await?;
        let name = format!("retention:{project}");
        let lock = gc::JobLock::take(self, &name, self.options.gc_lease).await?;
        let res = self.apply_retention(actor, project, &lock).await;
        lock.release().await?;
        res
    }

    async fn apply_retention(
        &self,
        actor: &Actor,
        project: &str,
        lock: &gc::JobLock<'_>,
    ) -> Result<Vec<retention::Decision>> {
        let plan = self.plan(project).await?;
        let mut applied = Vec::new();
        for (step, decision) in plan.into_iter().enumerate() {
            // Steps take milliseconds: renewing every few dozen keeps the lease far from
            // running out without a write per step.
            if step % 50 == 49 {
                lock.renew().await?;
            }
            if decision.archive
                && let Some(tag) = &decision.tag
            {
                self.archive_image(&decision.repository, tag, &decision.digest)
                    .await?;
            }
            if let (Some(tag), Some(to)) = (&decision.tag, &decision.moves_to) {
                let (repository, from) = (&decision.repository, &decision.digest);
                if self.store.move_tag_if(repository, tag, from, to).await? {
                    let moved = TagMove {
                        tag: tag.clone(),
                        from: Some(from.clone()),
                        to: to.clone(),
                    };
                    self.audit_move(repository, &moved, &decision.rule).await;
                    applied.push(decision);
                }
                continue;
            }
            let done = match &decision.tag {
                Some(tag) => {
                    self.store
                        .delete_tag_if(&decision.repository, tag, &decision.digest)
                        .await?
                }
                None => {
                    self.store
                        .delete_untagged(&decision.repository, &decision.digest)
                        .await?
                }
            };
            if done {
                let what = decision
                    .tag
                    .as_ref()
                    .map_or("manifest".to_owned(), |t| format!("tag {t}"));
                let verb = if decision.archive {
                    "archived"
                } else {
                    "deleted"
                };
                let detail = format!("{what} {verb} by rule: {}", decision.rule);
                let target =
                    Target::repository(&decision.repository, Some(decision.digest.to_string()))
                        .with_detail(&detail);
                self.access
                    .audit(actor, AuditAction::RetentionDelete, target)
                    .await;
                applied.push(decision);
            }
        }
        Ok(applied)
    }

    /// Writes gathered pulls to the store.
    pub async fn flush_pulls(&self) -> Result<()> {
        Ok(self.pulls.flush(self.store.as_ref()).await?)
    }

    // --- Settings ---------------------------------------------------------------------------

    /// A project's settings; members of the project (any role) may read them.
    pub async fn project_settings(&self, actor: &Actor, project: &str) -> Result<ProjectSettings> {
        self.access
            .require_role(actor, project, Role::Guest)
            .await?;
        self.store
            .project_settings(project)
            .await?
            .ok_or_else(|| Error::NotFound(format!("project {project:?} does not exist")))
    }

    /// Changes a project's settings (project admins); rules and schedules are checked first.
    pub async fn update_project_settings(
        &self,
        actor: &Actor,
        project: &str,
        change: &SettingsChange,
    ) -> Result<Warned<ProjectSettings>> {
        self.access
            .require_role(actor, project, Role::Admin)
            .await?;
        let mut settings = self.project_settings(actor, project).await?;
        let c = change.clone();
        settings.immutable_releases = c.immutable_releases.unwrap_or(settings.immutable_releases);
        settings.follow_aliases = c.follow_aliases.unwrap_or(settings.follow_aliases);
        settings.latest_on_push = c.latest_on_push.unwrap_or(settings.latest_on_push);
        if let Some(rules) = c.retention {
            retention::parse(&rules).map_err(Error::Invalid)?;
            settings.retention = rules;
        }
        if let Change::Set(cron) = &c.retention_schedule {
            parse_schedule(cron).map_err(Error::Invalid)?;
        }
        settings.retention_schedule = c.retention_schedule.apply(settings.retention_schedule);
        settings.quota_bytes = c.quota_bytes.apply(settings.quota_bytes);
        settings.budget_bytes = c.budget_bytes.apply(settings.budget_bytes);
        settings.budget_warn_only = c.budget_warn_only.unwrap_or(settings.budget_warn_only);
        if !self.store.set_project_settings(project, &settings).await? {
            return Err(Error::NotFound(format!(
                "project {project:?} does not exist"
            )));
        }
        self.settings.forget(project);
        let target = Target::project(project).with_detail(&format!("{settings:?}"));
        self.access
            .audit(actor, AuditAction::ProjectSettings, target)
            .await;
        let mut warnings = Vec::new();
        if let Some(quota) = settings
            .quota_bytes
            .filter(|_| !change.quota_bytes.is_keep())
        {
            let used = self.store.project_bytes(project).await?;
            if used > quota {
                warnings.push(format!(
                    "the quota of {} is below the {} project {project:?} already uses: pushes \
                     of new blobs are refused until usage falls under it",
                    format_size(quota),
                    format_size(used)
                ));
            }
        }
        Ok(Warned {
            value: settings,
            warnings,
        })
    }

    /// Sets or removes a repository's own size budget (project admins).
    pub async fn set_repository_budget(
        &self,
        actor: &Actor,
        repository: &str,
        bytes: Option<u64>,
    ) -> Result<()> {
        crate::oci::names::validate_name(repository).map_err(registry::Error::from)?;
        let project = project_of(repository);
        self.access
            .require_role(actor, project, Role::Admin)
            .await?;
        self.store.set_repository_budget(repository, bytes).await?;
        let detail = bytes.map_or("budget removed".to_owned(), |b| format!("budget {b} bytes"));
        let target = Target::repository(repository, None).with_detail(&detail);
        self.access
            .audit(actor, AuditAction::RepositoryBudget, target)
            .await;
        Ok(())
    }

    /// Storage used by each repository of `project` (members), or of all (system admins),
    /// with each project's total of distinct blobs.
    pub async fn usage(&self, actor: &Actor, project: Option<&str>) -> Result<Usage> {
        match project {
            Some(project) => {
                self.access
                    .require_role(actor, project, Role::Guest)
                    .await?;
                self.access.existing_project(project).await?;
            }
            None => self.access.require_system_admin(actor)?,
        }
        let repositories = self.store.usage(project).await?;
        let mut projects: Vec<String> = repositories
            .iter()
            .map(|r| project_of(&r.repository).to_owned())
            .collect();
        // A project without repositories still has a row (of zero bytes).
        projects.extend(project.map(str::to_owned));
        projects.sort();
        projects.dedup();
        let mut totals = Vec::new();
        for name in projects {
            let bytes = self.store.project_bytes(&name).await?;
            let quota = self.settings.get(&name).await?.quota_bytes;
            totals.push(ProjectUsage { name, bytes, quota });
        }
        Ok(Usage {
            projects: totals,
            repositories,
        })
    }
}

/// Parses a cron expression (five fields, or six with seconds), as schedules are written.
pub fn parse_schedule(text: &str) -> Result<croner::Cron, String> {
    text.parse()
        .map_err(|e| format!("invalid schedule {text:?}: {e}"))
}

/// `12.3 MB`-style sizes for people (powers of 1000, as `docker images` prints them).
pub fn format_size(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["B", "kB", "MB", "GB", "TB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1000.0 && unit < UNITS.len() - 1 {
        value /= 1000.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

/// Parses a byte size: `1048576`, `512k`, `10MB`, `10MiB`, `5G`, `5GiB` (k, M, G, T are
/// powers of 1000 with `B`, of 1024 alone or with `iB`).
pub fn parse_size(text: &str) -> Result<u64, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let number: u64 = number
        .parse()
        .map_err(|_| format!("invalid size {text:?}: expected e.g. 10MB or 512MiB"))?;
    let scale: u64 = match unit.trim() {
        "" | "B" => 1,
        "kB" | "KB" => 1000,
        "MB" => 1000u64.pow(2),
        "GB" => 1000u64.pow(3),
        "TB" => 1000u64.pow(4),
        "k" | "K" | "KiB" => 1 << 10,
        "M" | "MiB" => 1 << 20,
        "G" | "GiB" => 1 << 30,
        "T" | "TiB" => 1 << 40,
        other => return Err(format!("invalid size unit {other:?} in {text:?}")),
    };
    number
        .checked_mul(scale)
        .ok_or_else(|| format!("size {text:?} is too large"))
}

/// A result that succeeded, with what its caller should be told about it (printed to stderr by
/// the CLI, `warnings` in the API's reply).
#[derive(Debug)]
pub struct Warned<T> {
    pub value: T,
    pub warnings: Vec<String>,
}

/// What `berth du` shows.
#[derive(Debug)]
pub struct Usage {
    pub projects: Vec<ProjectUsage>,
    pub repositories: Vec<RepositoryUsage>,
}

/// A project's storage: distinct blobs, each counted once however many repositories hold it.
#[derive(Debug)]
pub struct ProjectUsage {
    pub name: String,
    pub bytes: u64,
    pub quota: Option<u64>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_parse_with_decimal_and_binary_units() {
        assert_eq!(parse_size("1048576"), Ok(1 << 20));
        assert_eq!(parse_size("10MB"), Ok(10_000_000));
        assert_eq!(parse_size("10MiB"), Ok(10 << 20));
        assert_eq!(parse_size("512k"), Ok(512 << 10));
        assert_eq!(parse_size("5 GiB"), Ok(5 << 30));
        assert!(parse_size("ten").is_err());
        assert!(parse_size("10XB").is_err());
        assert!(parse_size("99999999999TB").is_err());
    }
}
