//! Retention as the CLI, the API and the schedule run it: the plan of a project, and its run step
//! by step under the project's retention lock.

use super::*;

impl Lifecycle {
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
    pub(super) async fn plan(&self, project: &str) -> Result<Vec<retention::Decision>> {
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
        let lock = lock::JobLock::take(self, &name, self.options.gc_lease).await?;
        let res = self.apply_retention(actor, project, &lock).await;
        lock.release().await?;
        res
    }

    pub(super) async fn apply_retention(
        &self,
        actor: &Actor,
        project: &str,
        lock: &lock::JobLock<'_>,
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
}
