//! The audit log: what the services write into it, and reading it.

use super::*;

/// What an audit entry records. Its name is what the log stores and the API filters by, so a
/// name never changes once released.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuditAction {
    Login,
    LoginFailed,
    LoginLimited,
    Push,
    Delete,
    TagMove,
    TagFollow,
    TagPromote,
    BudgetWarn,
    RepositoryBudget,
    ProjectCreate,
    ProjectUpdate,
    ProjectSettings,
    UserCreate,
    UserUpdate,
    MemberSet,
    MemberRemove,
    RobotCreate,
    RobotDisable,
    RobotEnable,
    RobotDelete,
    TokenCreate,
    TokenRevoke,
    KeyRotate,
    Gc,
    RetentionDelete,
    ArchiveRestore,
}

impl AuditAction {
    pub fn name(self) -> &'static str {
        match self {
            AuditAction::Login => "login",
            AuditAction::LoginFailed => "login.failed",
            AuditAction::LoginLimited => "login.limited",
            AuditAction::Push => "push",
            AuditAction::Delete => "delete",
            AuditAction::TagMove => "tag.move",
            AuditAction::TagFollow => "tag.follow",
            AuditAction::TagPromote => "tag.promote",
            AuditAction::BudgetWarn => "budget.warn",
            AuditAction::RepositoryBudget => "repository.budget",
            AuditAction::ProjectCreate => "project.create",
            AuditAction::ProjectUpdate => "project.update",
            AuditAction::ProjectSettings => "project.settings",
            AuditAction::UserCreate => "user.create",
            AuditAction::UserUpdate => "user.update",
            AuditAction::MemberSet => "member.set",
            AuditAction::MemberRemove => "member.remove",
            AuditAction::RobotCreate => "robot.create",
            AuditAction::RobotDisable => "robot.disable",
            AuditAction::RobotEnable => "robot.enable",
            AuditAction::RobotDelete => "robot.delete",
            AuditAction::TokenCreate => "token.create",
            AuditAction::TokenRevoke => "token.revoke",
            AuditAction::KeyRotate => "key.rotate",
            AuditAction::Gc => "gc",
            AuditAction::RetentionDelete => "retention.delete",
            AuditAction::ArchiveRestore => "archive.restore",
        }
    }
}

impl Access {
    /// Appends to the audit log as `actor`. A failure to write is logged, not returned: the
    /// action it records has already happened.
    pub async fn audit(&self, actor: &Actor, action: AuditAction, target: Target) {
        self.audit_as(actor.subject.name(), actor.address, action, target)
            .await;
    }

    /// Appends to the audit log as the caller of a registry request.
    pub async fn audit_caller(&self, caller: &Caller, action: AuditAction, target: Target) {
        let name = if caller.name().is_empty() {
            "anonymous"
        } else {
            caller.name()
        };
        self.audit_as(name, caller.address, action, target).await;
    }

    pub(super) async fn audit_as(
        &self,
        who: &str,
        address: Option<IpAddr>,
        action: AuditAction,
        target: Target,
    ) {
        let entry = AuditEntry {
            id: 0,
            at: now_ms(),
            actor: who.to_owned(),
            action: action.name().to_owned(),
            project: target.project.or_else(|| {
                target
                    .repository
                    .as_deref()
                    .map(|r| project_of(r).to_owned())
            }),
            repository: target.repository,
            digest: target.digest,
            detail: target.detail,
            address: address.map(|a| a.to_string()),
        };
        self.append(&entry).await;
    }

    pub(super) async fn append(&self, entry: &AuditEntry) {
        if let Err(e) = self.store.audit_append(entry).await {
            tracing::error!(action = %entry.action, "writing the audit log failed: {e}");
        }
    }

    /// A page of audit entries, newest first, and the `before` of the next page when there may
    /// be one. System administrators see all; project admins see their projects' entries (they
    /// must name the project).
    pub async fn audit_log(&self, actor: &Actor, filter: &AuditFilter) -> Result<AuditPage> {
        if !actor.subject.is_system_admin() {
            let Some(project) = &filter.project else {
                return Err(Error::Denied("only system administrators may list all projects' audit entries; name a project".into()));
            };
            self.require_project_admin(actor, project).await?;
        }
        let mut filter = filter.clone();
        filter.limit = filter.limit.clamp(1, 1000);
        let entries = self.store.audit_query(&filter).await?;
        let full = entries.len() as u32 >= filter.limit;
        let next = entries.last().filter(|_| full).map(|e| e.id);
        Ok(AuditPage { entries, next })
    }
}

#[cfg(test)]
mod tests {
    use super::AuditAction;

    /// The names the audit log stores: fixed once released, one per action.
    #[test]
    fn audit_action_names_are_unique_and_stable() {
        let all = [
            AuditAction::Login,
            AuditAction::LoginFailed,
            AuditAction::LoginLimited,
            AuditAction::Push,
            AuditAction::Delete,
            AuditAction::TagMove,
            AuditAction::TagFollow,
            AuditAction::TagPromote,
            AuditAction::BudgetWarn,
            AuditAction::RepositoryBudget,
            AuditAction::ProjectCreate,
            AuditAction::ProjectUpdate,
            AuditAction::ProjectSettings,
            AuditAction::UserCreate,
            AuditAction::UserUpdate,
            AuditAction::MemberSet,
            AuditAction::MemberRemove,
            AuditAction::RobotCreate,
            AuditAction::RobotDisable,
            AuditAction::RobotEnable,
            AuditAction::RobotDelete,
            AuditAction::TokenCreate,
            AuditAction::TokenRevoke,
            AuditAction::KeyRotate,
            AuditAction::Gc,
            AuditAction::RetentionDelete,
            AuditAction::ArchiveRestore,
        ];
        let names: Vec<&str> = all.iter().map(|a| a.name()).collect();
        let mut unique = names.clone();
        unique.sort_unstable();
        unique.dedup();
        assert_eq!(unique.len(), names.len(), "{names:?}");
        assert_eq!(AuditAction::Login.name(), "login");
        assert_eq!(AuditAction::TokenRevoke.name(), "token.revoke");
        assert_eq!(AuditAction::RetentionDelete.name(), "retention.delete");
    }
}
