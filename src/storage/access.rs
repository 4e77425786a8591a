//! The `AccessStore` port: projects, users, memberships, robot accounts, token signing keys,
//! login-failure counters and the audit log, kept in the metadata store so that every replica
//! sees the same.
//!
//! Times are unix milliseconds. Secrets never reach this port: only their hashes do.

use async_trait::async_trait;

use super::Result;

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
    /// `robot` or `ci`.
    pub kind: String,
    pub project: String,
    /// Comma-separated repositories of the project: names or patterns with `*`.
    pub pattern: String,
    /// Comma-separated actions: `pull`, `push`, `delete`.
    pub actions: String,
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
    async fn member_set(&self, project: &str, user_id: i64, role: &str) -> Result<()>;

    /// `false` if the user was not a member.
    async fn member_remove(&self, project: &str, user_id: i64) -> Result<bool>;

    /// `(user name, role)` of every member of `project`, by name.
    async fn members(&self, project: &str) -> Result<Vec<(String, String)>>;

    /// The role of `user_id` in `project`, if a member.
    async fn role(&self, project: &str, user_id: i64) -> Result<Option<String>>;

    /// `(project, role)` of every membership of `user_id`.
    async fn memberships(&self, user_id: i64) -> Result<Vec<(String, String)>>;

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
