//! Per-project settings: the cache every replica reads them through, the changes the API and the
//! CLI make (with the warnings a change earns), repository budgets, and usage.

use super::*;

/// Per-project settings, read through a cache that lives `ttl` (as access control's project
/// cache): a change reaches every replica within that time.
pub struct SettingsCache {
    store: Arc<dyn LifecycleStore>,
    ttl: Duration,
    cache: Mutex<HashMap<String, (Option<ProjectSettings>, Instant)>>,
}

impl SettingsCache {
    pub fn new(store: Arc<dyn LifecycleStore>, ttl: Duration) -> SettingsCache {
        SettingsCache {
            store,
            ttl,
            cache: Mutex::new(HashMap::new()),
        }
    }

    /// The settings of `project`, or the defaults if it does not exist (yet).
    pub(super) async fn get(&self, project: &str) -> storage::Result<ProjectSettings> {
        if let Some((settings, at)) = self.lock().get(project)
            && at.elapsed() < self.ttl
        {
            return Ok(settings.clone().unwrap_or_default());
        }
        let settings = self.store.project_settings(project).await?;
        self.lock()
            .insert(project.to_owned(), (settings.clone(), Instant::now()));
        Ok(settings.unwrap_or_default())
    }

    pub(super) fn forget(&self, project: &str) {
        self.lock().remove(project);
    }

    pub(super) fn lock(
        &self,
    ) -> std::sync::MutexGuard<'_, HashMap<String, (Option<ProjectSettings>, Instant)>> {
        self.cache.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[async_trait]
impl registry::Quotas for SettingsCache {
    async fn quota(&self, project: &str) -> storage::Result<Option<u64>> {
        Ok(self.get(project).await?.quota_bytes)
    }
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

impl Lifecycle {
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
