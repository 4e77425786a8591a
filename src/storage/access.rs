//! The `AccessStore` port: projects, users, memberships, robot accounts, token signing keys,
//! login-failure counters and the audit log, kept in the metadata store so that every replica
//! sees the same.
//!
//! Times are unix milliseconds. Secrets never reach this port: only their hashes do.

use std::fmt;
use std::str::FromStr;

use async_trait::async_trait;

use super::Result;

/// What a client may do to a repository.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Pull,
    Push,
    Delete,
}

impl Action {
    pub const ALL: [Action; 3] = [Action::Pull, Action::Push, Action::Delete];

    pub fn as_str(self) -> &'static str {
        match self {
            Action::Pull => "pull",
            Action::Push => "push",
            Action::Delete => "delete",
        }
    }

    fn bit(self) -> u8 {
        match self {
            Action::Pull => 1,
            Action::Push => 2,
            Action::Delete => 4,
        }
    }
}

/// A set of actions.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Actions(u8);

impl Actions {
    pub const NONE: Actions = Actions(0);
    pub const ALL: Actions = Actions(7);

    pub fn of(actions: &[Action]) -> Actions {
        Actions(actions.iter().fold(0, |bits, a| bits | a.bit()))
    }

    pub fn contains(self, action: Action) -> bool {
        self.0 & action.bit() != 0
    }

    pub fn intersect(self, other: Actions) -> Actions {
        Actions(self.0 & other.0)
    }

    pub fn union(self, other: Actions) -> Actions {
        Actions(self.0 | other.0)
    }

    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    pub fn iter(self) -> impl Iterator<Item = Action> {
        Action::ALL.into_iter().filter(move |a| self.contains(*a))
    }

    /// Parses `pull,push`; unknown actions (such as `*`) are ignored, as the token spec asks
    /// of actions a server does not know.
    pub fn parse_lenient(text: &str) -> Actions {
        Actions::of(
            &text
                .split(',')
                .filter_map(|a| Action::ALL.into_iter().find(|x| x.as_str() == a.trim()))
                .collect::<Vec<_>>(),
        )
    }
}

/// `pull,push`, refusing unknown actions.
impl FromStr for Actions {
    type Err = Unknown;

    fn from_str(text: &str) -> Result<Actions, Unknown> {
        let mut actions = Actions::NONE;
        for word in text.split(',') {
            let action = Action::ALL
                .into_iter()
                .find(|a| a.as_str() == word.trim())
                .ok_or_else(|| Unknown(format!("unknown action {word:?}")))?;
            actions = actions.union(Actions::of(&[action]));
        }
        Ok(actions)
    }
}

impl fmt::Display for Actions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let words: Vec<&str> = self.iter().map(Action::as_str).collect();
        f.write_str(&words.join(","))
    }
}

/// A member's role in a project.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Role {
    /// Pull.
    Guest,
    /// Pull and push.
    Developer,
    /// Pull, push and delete tags.
    Maintainer,
    /// Everything, plus members, robots and settings of the project.
    Admin,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Guest => "guest",
            Role::Developer => "developer",
            Role::Maintainer => "maintainer",
            Role::Admin => "admin",
        }
    }

    pub fn actions(self) -> Actions {
        match self {
            Role::Guest => Actions::of(&[Action::Pull]),
            Role::Developer => Actions::of(&[Action::Pull, Action::Push]),
            Role::Maintainer | Role::Admin => Actions::ALL,
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Role {
    type Err = Unknown;

    fn from_str(text: &str) -> Result<Role, Unknown> {
        [Role::Guest, Role::Developer, Role::Maintainer, Role::Admin]
            .into_iter()
            .find(|r| r.as_str() == text)
            .ok_or_else(|| {
                Unknown(format!(
                    "unknown role {text:?} (guest, developer, maintainer or admin)"
                ))
            })
    }
}

/// What a robot account is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RobotKind {
    /// A robot account, created by a project admin.
    Robot,
    /// A CI push token, minted by a member for a pipeline; it lives only while the member who
    /// minted it may still push.
    Ci,
}

impl RobotKind {
    pub fn as_str(self) -> &'static str {
        match self {
            RobotKind::Robot => "robot",
            RobotKind::Ci => "ci",
        }
    }
}

impl fmt::Display for RobotKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for RobotKind {
    type Err = Unknown;

    fn from_str(text: &str) -> Result<RobotKind, Unknown> {
        [RobotKind::Robot, RobotKind::Ci]
            .into_iter()
            .find(|k| k.as_str() == text)
            .ok_or_else(|| Unknown(format!("unknown robot kind {text:?}")))
    }
}

/// A word of the access vocabulary (a role, an action, a robot kind) that is not one.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Unknown(pub String);

/// A project: the first path component of repository names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Project {
    pub name: String,
    /// Anonymous clients may pull.
    pub public: bool,
}

#[derive(Debug, Clone)]
pub struct User {
    pub id: i64,
    pub name: String,
    /// PHC string of an argon2id hash.
    pub password_hash: String,
    /// System administrator.
    pub admin: bool,
    pub disabled: bool,
    /// When the password last changed (0: never since creation).
    pub password_changed_at: i64,
}

/// Changes to a user; `None` leaves a field as it is.
#[derive(Debug, Default)]
pub struct UserUpdate {
    pub password_hash: Option<String>,
    pub admin: Option<bool>,
    pub disabled: Option<bool>,
}

/// A robot account or a CI push token: a machine credential confined to the repositories of
/// one project that match `pattern`.
#[derive(Debug, Clone)]
pub struct Robot {
    pub id: i64,
    pub name: String,
    pub kind: RobotKind,
    pub project: String,
    /// Comma-separated repositories of the project: names or patterns with `*`.
    pub pattern: String,
    pub actions: Actions,
    /// SHA-256 of the secret.
    pub secret_hash: Vec<u8>,
    pub expires_at: i64,
    pub disabled: bool,
    pub created_by: String,
}

/// A key that signs and verifies tokens.
#[derive(Debug, Clone)]
pub struct SigningKey {
    pub kid: String,
    pub secret: Vec<u8>,
    pub created_at: i64,
    /// When a newer key replaced it.
    pub retired_at: Option<i64>,
}

/// One audit record. `id` is assigned by the store and increases with every append.
#[derive(Debug, Clone, Default)]
pub struct AuditEntry {
    pub id: i64,
    pub at: i64,
    pub actor: String,
    pub action: String,
    pub project: Option<String>,
    pub repository: Option<String>,
    pub digest: Option<String>,
    pub detail: Option<String>,
    pub address: Option<String>,
}

/// Which audit records to list: all conditions hold, newest first, ids below `before`.
#[derive(Debug, Clone, Default)]
pub struct AuditFilter {
    pub project: Option<String>,
    pub actor: Option<String>,
    pub action: Option<String>,
    pub since: Option<i64>,
    pub until: Option<i64>,
    pub before: Option<i64>,
    pub limit: u32,
}

/// Access control data. Every method is one transaction; names are validated by the caller.
#[async_trait]
pub trait AccessStore: Send + Sync {
    async fn project(&self, name: &str) -> Result<Option<Project>>;

    async fn projects(&self) -> Result<Vec<Project>>;

    /// Creates a project and, if `admin` is given, makes that user its admin, in one
    /// transaction; `false` (and no change) if the project exists.
    async fn project_create(&self, project: &Project, admin: Option<i64>) -> Result<bool>;

    /// `false` if the project does not exist.
    async fn project_set_public(&self, name: &str, public: bool) -> Result<bool>;

    async fn user_by_name(&self, name: &str) -> Result<Option<User>>;

    async fn user_by_id(&self, id: i64) -> Result<Option<User>>;

    async fn users(&self) -> Result<Vec<User>>;

    /// The new user's id, or `None` (and no change) if the name is taken.
    async fn user_create(
        &self,
        name: &str,
        password_hash: &str,
        admin: bool,
    ) -> Result<Option<i64>>;

    /// `false` if the user does not exist. A new password hash also sets `password_changed_at`
    /// to now.
    async fn user_update(&self, name: &str, update: &UserUpdate) -> Result<bool>;

    /// Gives `user_id` `role` in `project`, replacing any role it had there.
    async fn member_set(&self, project: &str, user_id: i64, role: Role) -> Result<()>;

    /// `false` if the user was not a member.
    async fn member_remove(&self, project: &str, user_id: i64) -> Result<bool>;

    /// `(user name, role)` of every member of `project`, by name.
    async fn members(&self, project: &str) -> Result<Vec<(String, Role)>>;

    /// The role of `user_id` in `project`, if a member.
    async fn role(&self, project: &str, user_id: i64) -> Result<Option<Role>>;

    /// `(project, role)` of every membership of `user_id`.
    async fn memberships(&self, user_id: i64) -> Result<Vec<(String, Role)>>;

    /// Stores a robot (its `id` is ignored); the new id, or `None` if the name is taken.
    async fn robot_create(&self, robot: &Robot) -> Result<Option<i64>>;

    async fn robot_by_name(&self, name: &str) -> Result<Option<Robot>>;

    async fn robot_by_id(&self, id: i64) -> Result<Option<Robot>>;

    /// Robots and CI tokens of `project`, by name.
    async fn robots(&self, project: &str) -> Result<Vec<Robot>>;

    /// `false` if there is no such robot.
    async fn robot_set_disabled(&self, name: &str, disabled: bool) -> Result<bool>;

    /// `false` if there was no such robot.
    async fn robot_delete(&self, name: &str) -> Result<bool>;

    /// Every signing key, newest first.
    async fn signing_keys(&self) -> Result<Vec<SigningKey>>;

    /// Adds `key`; with `retire_at`, marks every other unretired key retired at that time, in
    /// the same transaction.
    async fn signing_key_add(&self, key: &SigningKey, retire_at: Option<i64>) -> Result<()>;

    /// Counts one login attempt (a failure until it is forgiven) for `key`, starting a new window at `now` if the current one
    /// started at or before `now - window`; returns the count in the window.
    async fn login_failure_record(&self, key: &str, now: i64, window: i64) -> Result<u32>;

    async fn login_failures_clear(&self, key: &str) -> Result<()>;

    /// Takes back one count of `key` (an attempt counted before it turned out right).
    async fn login_failure_forgive(&self, key: &str) -> Result<()>;

    /// Appends to the audit log (the store assigns `id`). There is no way to change or remove
    /// an entry.
    async fn audit_append(&self, entry: &AuditEntry) -> Result<()>;

    async fn audit_query(&self, filter: &AuditFilter) -> Result<Vec<AuditEntry>>;
}
