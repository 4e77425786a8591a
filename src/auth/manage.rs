//! Management: projects, members, users, robot accounts, CI tokens and signing keys, each change audited.

use super::*;

impl Access {
    pub fn require_system_admin(&self, actor: &Actor) -> Result<()> {
        if actor.subject.is_system_admin() {
            Ok(())
        } else {
            Err(Error::Denied("this needs a system administrator".into()))
        }
    }

    pub(super) async fn role_of(&self, actor: &Actor, project: &str) -> Result<Option<Role>> {
        match &actor.subject {
            Subject::User { id, .. } => self.store.role(project, *id).await.map_err(Error::from),
            _ => Ok(None),
        }
    }

    /// Refuses unless `actor` administers `project`, and answers `NotFound` (to those who
    /// may know) when the project does not exist.
    pub(super) async fn require_project_admin(&self, actor: &Actor, project: &str) -> Result<()> {
        self.require_role(actor, project, Role::Admin).await?;
        self.existing_project(project).await.map(drop)
    }

    /// Refuses unless `actor` is a system administrator or holds at least `role` in `project`.
    pub async fn require_role(&self, actor: &Actor, project: &str, role: Role) -> Result<()> {
        if actor.subject.is_system_admin()
            || self
                .role_of(actor, project)
                .await?
                .is_some_and(|r| r >= role)
        {
            Ok(())
        } else {
            Err(Error::Denied(format!(
                "this needs the {} role in project {project:?}",
                role.as_str()
            )))
        }
    }

    /// The actor behind a registry request's token, looked up again (it may be gone since the
    /// token was issued).
    pub async fn actor_of(&self, caller: &Caller) -> Result<Actor> {
        let subject = self.subject_by_pid(&caller.claims.pid, None).await?;
        Ok(Actor {
            subject: subject.unwrap_or(Subject::Anonymous),
            address: caller.address,
        })
    }

    /// Project `name`, or `NotFound`.
    pub async fn existing_project(&self, name: &str) -> Result<Project> {
        self.store
            .project(name)
            .await?
            .ok_or_else(|| Error::NotFound(format!("project {name:?}")))
    }

    /// Creates project `name` and returns it.
    pub async fn create_project(&self, actor: &Actor, name: &str, public: bool) -> Result<Project> {
        self.require_system_admin(actor)?;
        if name.contains('/') || validate_name(name).is_err() {
            return Err(Error::Invalid(format!(
                "invalid project name {name:?}: one path component of lower-case letters and \
                 digits, with `.`, `_`, `__` or dashes between them"
            )));
        }
        let project = Project {
            name: name.to_owned(),
            public,
        };
        if !self.store.project_create(&project, None).await? {
            return Err(Error::Conflict(format!("project {name:?}")));
        }
        self.invalidate();
        let detail = if public { "public" } else { "private" };
        self.audit(
            actor,
            AuditAction::ProjectCreate,
            Target::project(name).with_detail(detail),
        )
        .await;
        Ok(project)
    }

    pub async fn set_project_public(&self, actor: &Actor, name: &str, public: bool) -> Result<()> {
        self.require_project_admin(actor, name).await?;
        if !self.store.project_set_public(name, public).await? {
            return Err(Error::NotFound(format!("project {name:?}")));
        }
        self.invalidate();
        let detail = format!("public={public}");
        self.audit(
            actor,
            AuditAction::ProjectUpdate,
            Target::project(name).with_detail(&detail),
        )
        .await;
        Ok(())
    }

    /// Projects the actor may see.
    pub async fn projects(&self, actor: &Actor) -> Result<Vec<Project>> {
        let all = self.store.projects().await?;
        if actor.subject.is_system_admin() {
            return Ok(all);
        }
        let mine: Vec<String> = match &actor.subject {
            Subject::User { id, .. } => self
                .store
                .memberships(*id)
                .await?
                .into_iter()
                .map(|(p, _)| p)
                .collect(),
            _ => Vec::new(),
        };
        Ok(all
            .into_iter()
            .filter(|p| p.public || mine.contains(&p.name))
            .collect())
    }

    pub async fn create_user(
        &self,
        actor: &Actor,
        name: &str,
        password: &str,
        admin: bool,
    ) -> Result<()> {
        self.require_system_admin(actor)?;
        validate_user_name(name)?;
        validate_password(password)?;
        let hash = secret::hash_password(password.to_owned()).await?;
        if self.store.user_create(name, &hash, admin).await?.is_none() {
            return Err(Error::Conflict(format!("user {name:?}")));
        }
        let detail = if admin {
            "system administrator"
        } else {
            "user"
        };
        self.audit(
            actor,
            AuditAction::UserCreate,
            Target::detail(&format!("{name} ({detail})")),
        )
        .await;
        Ok(())
    }

    /// Changes a user. Users may change their own password; everything else needs a system
    /// administrator.
    pub async fn update_user(
        &self,
        actor: &Actor,
        name: &str,
        password: Option<&str>,
        admin: Option<bool>,
        disabled: Option<bool>,
    ) -> Result<()> {
        let own_password_only = admin.is_none()
            && disabled.is_none()
            && matches!(&actor.subject, Subject::User { name: me, .. } if me == name);
        if !own_password_only {
            self.require_system_admin(actor)?;
        }
        let password_hash = match password {
            Some(password) => {
                validate_password(password)?;
                Some(secret::hash_password(password.to_owned()).await?)
            }
            None => None,
        };
        let update = UserUpdate {
            password_hash,
            admin,
            disabled,
        };
        if !self.store.user_update(name, &update).await? {
            return Err(Error::NotFound(format!("user {name:?}")));
        }
        self.invalidate();
        let mut changes = Vec::new();
        if password.is_some() {
            changes.push("password changed".to_owned());
        }
        if let Some(admin) = admin {
            changes.push(format!("admin={admin}"));
        }
        if let Some(disabled) = disabled {
            changes.push(format!("disabled={disabled}"));
        }
        let detail = format!("{name}: {}", changes.join(", "));
        self.audit(actor, AuditAction::UserUpdate, Target::detail(&detail))
            .await;
        Ok(())
    }

    pub async fn users(&self, actor: &Actor) -> Result<Vec<User>> {
        self.require_system_admin(actor)?;
        Ok(self.store.users().await?)
    }

    pub async fn set_member(
        &self,
        actor: &Actor,
        project: &str,
        user: &str,
        role: Role,
    ) -> Result<()> {
        self.require_project_admin(actor, project).await?;
        let found = self.store.user_by_name(user).await?;
        let found = found.ok_or_else(|| Error::NotFound(format!("user {user:?}")))?;
        self.store.member_set(project, found.id, role).await?;
        self.invalidate();
        let detail = format!("{user} is {}", role.as_str());
        self.audit(
            actor,
            AuditAction::MemberSet,
            Target::project(project).with_detail(&detail),
        )
        .await;
        Ok(())
    }

    pub async fn remove_member(&self, actor: &Actor, project: &str, user: &str) -> Result<()> {
        self.require_project_admin(actor, project).await?;
        let found = self.store.user_by_name(user).await?;
        let found = found.ok_or_else(|| Error::NotFound(format!("user {user:?}")))?;
        if !self.store.member_remove(project, found.id).await? {
            return Err(Error::NotFound(format!("member {user:?} of {project:?}")));
        }
        self.invalidate();
        self.audit(
            actor,
            AuditAction::MemberRemove,
            Target::project(project).with_detail(user),
        )
        .await;
        Ok(())
    }

    pub async fn members(&self, actor: &Actor, project: &str) -> Result<Vec<(String, Role)>> {
        self.require_project_admin(actor, project).await?;
        Ok(self.store.members(project).await?)
    }

    /// Creates the robot account `robot_account(project, name)`; the secret is returned only here.
    pub async fn create_robot(&self, actor: &Actor, spec: &RobotSpec) -> Result<NewCredential> {
        self.require_project_admin(actor, &spec.project).await?;
        validate_user_name(&spec.name)?;
        let max = self.options.robot_max_ttl;
        if spec.ttl > max || spec.ttl.is_zero() {
            return Err(Error::Invalid(format!(
                "a robot lives between one second and {} days ([auth] robot_max_ttl_days)",
                max.as_secs() / 86_400
            )));
        }
        let name = robot_account(&spec.project, &spec.name);
        self.mint(
            actor,
            RobotKind::Robot,
            name,
            spec,
            AuditAction::RobotCreate,
        )
        .await
    }

    /// Mints a CI push token for repositories of one project matching `pattern`, valid for
    /// `ttl` (at most a day). The actor must be able to push there.
    pub async fn create_ci_token(
        &self,
        actor: &Actor,
        pattern: &str,
        ttl: Duration,
    ) -> Result<NewCredential> {
        let project = project_of(pattern).to_owned();
        let can_push = actor.subject.is_system_admin()
            || self
                .role_of(actor, &project)
                .await?
                .is_some_and(|r| r >= Role::Developer);
        if !can_push {
            return Err(Error::Denied(format!(
                "minting a push token for {pattern:?} needs push rights in project {project:?}"
            )));
        }
        if ttl > CI_TOKEN_MAX_TTL || ttl.is_zero() {
            return Err(Error::Invalid(
                "a CI token lives between one second and one day".into(),
            ));
        }
        self.existing_project(&project).await?;
        let spec = RobotSpec {
            project: project.clone(),
            name: String::new(),
            pattern: pattern.to_owned(),
            actions: Actions::of(&[Action::Pull, Action::Push]),
            ttl,
        };
        let name = format!("ci${project}+{}", hex::encode(secret::random_bytes::<5>()));
        self.mint(actor, RobotKind::Ci, name, &spec, AuditAction::TokenCreate)
            .await
    }

    /// Stores a new credential of `spec` in its project, which the caller has checked exists.
    pub(super) async fn mint(
        &self,
        actor: &Actor,
        kind: RobotKind,
        name: String,
        spec: &RobotSpec,
        action: AuditAction,
    ) -> Result<NewCredential> {
        validate_pattern(&spec.project, &spec.pattern)?;
        if spec.actions.is_empty() {
            return Err(Error::Invalid(
                "a credential needs at least one action".into(),
            ));
        }
        let secret = secret::generate();
        let expires_at = i64::try_from(spec.ttl.as_millis())
            .ok()
            .and_then(|ttl| now_ms().checked_add(ttl))
            .ok_or_else(|| Error::Invalid(format!("lifetime {:?} is too long", spec.ttl)))?;
        let mut robot = Robot {
            id: 0,
            name: name.clone(),
            kind,
            project: spec.project.clone(),
            pattern: spec.pattern.clone(),
            actions: spec.actions,
            secret_hash: secret::digest(&secret),
            expires_at,
            disabled: false,
            created_by: actor.subject.creator().to_owned(),
        };
        let Some(id) = self.store.robot_create(&robot).await? else {
            return Err(Error::Conflict(format!("credential {name:?}")));
        };
        robot.id = id;
        let detail = format!(
            "{name}: {} on {} for {} s",
            spec.actions,
            spec.pattern,
            spec.ttl.as_secs()
        );
        self.audit(
            actor,
            action,
            Target::project(&spec.project).with_detail(&detail),
        )
        .await;
        Ok(NewCredential { robot, secret })
    }

    pub(super) async fn existing_robot(&self, name: &str) -> Result<Robot> {
        self.store
            .robot_by_name(name)
            .await?
            .ok_or_else(|| Error::NotFound(format!("credential {name:?}")))
    }

    /// Robots and CI tokens may be managed by their project's admins; CI tokens also by the
    /// user who minted them, while that user may still push in the project.
    pub(super) async fn require_robot_manager(&self, actor: &Actor, robot: &Robot) -> Result<()> {
        let minted_it = robot.kind == RobotKind::Ci
            && matches!(actor.subject, Subject::User { .. })
            && robot.created_by == actor.subject.creator()
            && self.minter_entitled(robot).await?;
        if minted_it {
            return Ok(());
        }
        self.require_project_admin(actor, &robot.project).await
    }

    /// Whether the minter of CI token `robot` may still push in its project: a CI token never
    /// has more rights than its minter has now. Tokens minted on the command line stand
    /// on their own (as do those minted, before `(cli)` was the CLI's mark, as `cli`).
    pub(super) async fn minter_entitled(&self, robot: &Robot) -> Result<bool> {
        if robot.created_by == CLI_CREATOR || robot.created_by == "cli" {
            return Ok(true);
        }
        let Some(user) = self.store.user_by_name(&robot.created_by).await? else {
            return Ok(false);
        };
        if user.disabled {
            return Ok(false);
        }
        if user.admin {
            return Ok(true);
        }
        let role = self.store.role(&robot.project, user.id).await?;
        Ok(role.is_some_and(|r| r >= Role::Developer))
    }

    pub async fn set_robot_disabled(
        &self,
        actor: &Actor,
        name: &str,
        disabled: bool,
    ) -> Result<()> {
        let robot = self.existing_robot(name).await?;
        self.require_robot_manager(actor, &robot).await?;
        self.store.robot_set_disabled(name, disabled).await?;
        self.invalidate();
        let action = if disabled {
            AuditAction::RobotDisable
        } else {
            AuditAction::RobotEnable
        };
        self.audit(
            actor,
            action,
            Target::project(&robot.project).with_detail(name),
        )
        .await;
        Ok(())
    }

    /// Deletes a robot or revokes a CI token; it stops working at once.
    pub async fn delete_robot(&self, actor: &Actor, name: &str) -> Result<()> {
        let robot = self.existing_robot(name).await?;
        self.require_robot_manager(actor, &robot).await?;
        self.store.robot_delete(name).await?;
        self.invalidate();
        let action = if robot.kind == RobotKind::Ci {
            AuditAction::TokenRevoke
        } else {
            AuditAction::RobotDelete
        };
        self.audit(
            actor,
            action,
            Target::project(&robot.project).with_detail(name),
        )
        .await;
        Ok(())
    }

    pub async fn robots(&self, actor: &Actor, project: &str) -> Result<Vec<Robot>> {
        self.require_project_admin(actor, project).await?;
        Ok(self.store.robots(project).await?)
    }

    /// Adds a new signing key; tokens signed with the old ones stay valid until they expire.
    pub async fn rotate_keys(&self, actor: &Actor) -> Result<String> {
        self.require_system_admin(actor)?;
        let kid = self.keys.rotate().await?;
        self.audit(actor, AuditAction::KeyRotate, Target::detail(&kid))
            .await;
        Ok(kid)
    }
}
