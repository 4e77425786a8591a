//! `AccessStore` on SQLite: the same writer and read-only connections as the registry tables.

use async_trait::async_trait;
use sqlx::sqlite::SqliteRow;
use sqlx::{Connection, Row};

use super::SqliteMetaStore;
use crate::storage::access::{
    AccessStore, AuditEntry, AuditFilter, Project, Robot, Role, SigningKey, User, UserUpdate,
};
use crate::storage::{Error, Result};
use crate::time::now_ms;

fn user_from_row(row: &SqliteRow) -> User {
    User {
        id: row.get(0),
        name: row.get(1),
        password_hash: row.get(2),
        admin: row.get(3),
        disabled: row.get(4),
        password_changed_at: row.get(5),
    }
}

const SELECT_USER: &str =
    "SELECT id, name, password_hash, admin, disabled, password_changed_at FROM users ";

/// A word of the access vocabulary as stored; another word means the table was written by
/// something other than berth.
fn word<T: std::str::FromStr<Err = crate::storage::access::Unknown>>(text: &str) -> Result<T> {
    text.parse()
        .map_err(|e: crate::storage::access::Unknown| Error::Corrupt(e.0))
}

fn robot_from_row(row: &SqliteRow) -> Result<Robot> {
    Ok(Robot {
        id: row.get(0),
        name: row.get(1),
        kind: word(row.get(2))?,
        project: row.get(3),
        pattern: row.get(4),
        actions: word(row.get(5))?,
        secret_hash: row.get(6),
        expires_at: row.get(7),
        disabled: row.get(8),
        created_by: row.get(9),
    })
}

/// `(name, role)` rows.
fn with_roles(rows: &[SqliteRow]) -> Result<Vec<(String, Role)>> {
    rows.iter()
        .map(|row| Ok((row.get(0), word(row.get(1))?)))
        .collect()
}

const SELECT_ROBOT: &str = "SELECT id, name, kind, project, pattern, actions, secret_hash, \
                            expires_at, disabled, created_by FROM robots ";

fn audit_from_row(row: &SqliteRow) -> AuditEntry {
    AuditEntry {
        id: row.get(0),
        at: row.get(1),
        actor: row.get(2),
        action: row.get(3),
        project: row.get(4),
        repository: row.get(5),
        digest: row.get(6),
        detail: row.get(7),
        address: row.get(8),
    }
}

#[async_trait]
impl AccessStore for SqliteMetaStore {
    async fn project(&self, name: &str) -> Result<Option<Project>> {
        let row = sqlx::query("SELECT name, public FROM projects WHERE name = ?1")
            .bind(name)
            .fetch_optional(&mut *self.reader.get().await?)
            .await?;
        Ok(row.map(|row| Project {
            name: row.get(0),
            public: row.get(1),
        }))
    }

    async fn projects(&self) -> Result<Vec<Project>> {
        let rows = sqlx::query("SELECT name, public FROM projects ORDER BY name")
            .fetch_all(&mut *self.reader.get().await?)
            .await?;
        Ok(rows
            .iter()
            .map(|row| Project {
                name: row.get(0),
                public: row.get(1),
            })
            .collect())
    }

    async fn project_create(&self, project: &Project, admin: Option<i64>) -> Result<bool> {
        let mut conn = self.writer.get().await?;
        let mut tx = conn.begin_with("BEGIN IMMEDIATE").await?;
        let done = sqlx::query(
            "INSERT INTO projects (name, public, created_at) VALUES (?1, ?2, ?3)
             ON CONFLICT DO NOTHING",
        )
        .bind(&project.name)
        .bind(project.public)
        .bind(now_ms())
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() == 0 {
            return Ok(false);
        }
        if let Some(user_id) = admin {
            sqlx::query("INSERT INTO members (project, user_id, role) VALUES (?1, ?2, 'admin')")
                .bind(&project.name)
                .bind(user_id)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(true)
    }

    async fn project_set_public(&self, name: &str, public: bool) -> Result<bool> {
        let done = sqlx::query("UPDATE projects SET public = ?2 WHERE name = ?1")
            .bind(name)
            .bind(public)
            .execute(&mut *self.writer.get().await?)
            .await?;
        Ok(done.rows_affected() > 0)
    }

    async fn user_by_name(&self, name: &str) -> Result<Option<User>> {
        let row = sqlx::query(&format!("{SELECT_USER} WHERE name = ?1"))
            .bind(name)
            .fetch_optional(&mut *self.reader.get().await?)
            .await?;
        Ok(row.as_ref().map(user_from_row))
    }

    async fn user_by_id(&self, id: i64) -> Result<Option<User>> {
        let row = sqlx::query(&format!("{SELECT_USER} WHERE id = ?1"))
            .bind(id)
            .fetch_optional(&mut *self.reader.get().await?)
            .await?;
        Ok(row.as_ref().map(user_from_row))
    }

    async fn users(&self) -> Result<Vec<User>> {
        let rows = sqlx::query(&format!("{SELECT_USER} ORDER BY name"))
            .fetch_all(&mut *self.reader.get().await?)
            .await?;
        Ok(rows.iter().map(user_from_row).collect())
    }

    async fn user_create(
        &self,
        name: &str,
        password_hash: &str,
        admin: bool,
    ) -> Result<Option<i64>> {
        let row = sqlx::query(
            "INSERT INTO users (name, password_hash, admin, created_at) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT DO NOTHING RETURNING id",
        )
        .bind(name)
        .bind(password_hash)
        .bind(admin)
        .bind(now_ms())
        .fetch_optional(&mut *self.writer.get().await?)
        .await?;
        Ok(row.map(|row| row.get(0)))
    }

    async fn user_update(&self, name: &str, update: &UserUpdate) -> Result<bool> {
        let done = sqlx::query(
            "UPDATE users SET password_hash = coalesce(?2, password_hash),
             admin = coalesce(?3, admin), disabled = coalesce(?4, disabled),
             password_changed_at = CASE WHEN ?2 IS NULL THEN password_changed_at ELSE ?5 END
             WHERE name = ?1",
        )
        .bind(name)
        .bind(&update.password_hash)
        .bind(update.admin)
        .bind(update.disabled)
        .bind(now_ms())
        .execute(&mut *self.writer.get().await?)
        .await?;
        Ok(done.rows_affected() > 0)
    }

    async fn member_set(&self, project: &str, user_id: i64, role: Role) -> Result<()> {
        sqlx::query(
            "INSERT INTO members (project, user_id, role) VALUES (?1, ?2, ?3)
             ON CONFLICT (project, user_id) DO UPDATE SET role = excluded.role",
        )
        .bind(project)
        .bind(user_id)
        .bind(role.as_str())
        .execute(&mut *self.writer.get().await?)
        .await?;
        Ok(())
    }

    async fn member_remove(&self, project: &str, user_id: i64) -> Result<bool> {
        let done = sqlx::query("DELETE FROM members WHERE project = ?1 AND user_id = ?2")
            .bind(project)
            .bind(user_id)
            .execute(&mut *self.writer.get().await?)
            .await?;
        Ok(done.rows_affected() > 0)
    }

    async fn members(&self, project: &str) -> Result<Vec<(String, Role)>> {
        let rows = sqlx::query(
            "SELECT u.name, m.role FROM members m JOIN users u ON u.id = m.user_id
             WHERE m.project = ?1 ORDER BY u.name",
        )
        .bind(project)
        .fetch_all(&mut *self.reader.get().await?)
        .await?;
        with_roles(&rows)
    }

    async fn role(&self, project: &str, user_id: i64) -> Result<Option<Role>> {
        let role: Option<String> =
            sqlx::query_scalar("SELECT role FROM members WHERE project = ?1 AND user_id = ?2")
                .bind(project)
                .bind(user_id)
                .fetch_optional(&mut *self.reader.get().await?)
                .await?;
        role.as_deref().map(word).transpose()
    }

    async fn memberships(&self, user_id: i64) -> Result<Vec<(String, Role)>> {
        let rows = sqlx::query("SELECT project, role FROM members WHERE user_id = ?1")
            .bind(user_id)
            .fetch_all(&mut *self.reader.get().await?)
            .await?;
        with_roles(&rows)
    }

    async fn robot_create(&self, robot: &Robot) -> Result<Option<i64>> {
        let row = sqlx::query(
            "INSERT INTO robots (name, kind, project, pattern, actions, secret_hash, expires_at,
             disabled, created_by, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)
             ON CONFLICT DO NOTHING RETURNING id",
        )
        .bind(&robot.name)
        .bind(robot.kind.as_str())
        .bind(&robot.project)
        .bind(&robot.pattern)
        .bind(robot.actions.to_string())
        .bind(&robot.secret_hash)
        .bind(robot.expires_at)
        .bind(robot.disabled)
        .bind(&robot.created_by)
        .bind(now_ms())
        .fetch_optional(&mut *self.writer.get().await?)
        .await?;
        Ok(row.map(|row| row.get(0)))
    }

    async fn robot_by_name(&self, name: &str) -> Result<Option<Robot>> {
        let row = sqlx::query(&format!("{SELECT_ROBOT} WHERE name = ?1"))
            .bind(name)
            .fetch_optional(&mut *self.reader.get().await?)
            .await?;
        row.as_ref().map(robot_from_row).transpose()
    }

    async fn robot_by_id(&self, id: i64) -> Result<Option<Robot>> {
        let row = sqlx::query(&format!("{SELECT_ROBOT} WHERE id = ?1"))
            .bind(id)
            .fetch_optional(&mut *self.reader.get().await?)
            .await?;
        row.as_ref().map(robot_from_row).transpose()
    }

    async fn robots(&self, project: &str) -> Result<Vec<Robot>> {
        let rows = sqlx::query(&format!("{SELECT_ROBOT} WHERE project = ?1 ORDER BY name"))
            .bind(project)
            .fetch_all(&mut *self.reader.get().await?)
            .await?;
        rows.iter().map(robot_from_row).collect()
    }

    async fn robot_set_disabled(&self, name: &str, disabled: bool) -> Result<bool> {
        let done = sqlx::query("UPDATE robots SET disabled = ?2 WHERE name = ?1")
            .bind(name)
            .bind(disabled)
            .execute(&mut *self.writer.get().await?)
            .await?;
        Ok(done.rows_affected() > 0)
    }

    async fn robot_delete(&self, name: &str) -> Result<bool> {
        let done = sqlx::query("DELETE FROM robots WHERE name = ?1")
            .bind(name)
            .execute(&mut *self.writer.get().await?)
            .await?;
        Ok(done.rows_affected() > 0)
    }

    async fn signing_keys(&self) -> Result<Vec<SigningKey>> {
        let rows = sqlx::query(
            "SELECT kid, secret, created_at, retired_at FROM signing_keys
             ORDER BY created_at DESC, kid",
        )
        .fetch_all(&mut *self.reader.get().await?)
        .await?;
        Ok(rows
            .iter()
            .map(|row| SigningKey {
                kid: row.get(0),
                secret: row.get(1),
                created_at: row.get(2),
                retired_at: row.get(3),
            })
            .collect())
    }

    async fn signing_key_add(&self, key: &SigningKey, retire_at: Option<i64>) -> Result<()> {
        let mut conn = self.writer.get().await?;
        let mut tx = conn.begin_with("BEGIN IMMEDIATE").await?;
        if let Some(at) = retire_at {
            sqlx::query("UPDATE signing_keys SET retired_at = ?1 WHERE retired_at IS NULL")
                .bind(at)
                .execute(&mut *tx)
                .await?;
        }
        sqlx::query(
            "INSERT INTO signing_keys (kid, secret, created_at, retired_at) VALUES (?1, ?2, ?3, ?4)",
        )
        .bind(&key.kid)
        .bind(&key.secret)
        .bind(key.created_at)
        .bind(key.retired_at)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn login_failure_record(&self, key: &str, now: i64, window: i64) -> Result<u32> {
        let count: i64 = sqlx::query_scalar(
            "INSERT INTO login_failures (key, failures, window_start) VALUES (?1, 1, ?2)
             ON CONFLICT (key) DO UPDATE SET
               failures = CASE WHEN window_start <= ?2 - ?3 THEN 1 ELSE failures + 1 END,
               window_start = CASE WHEN window_start <= ?2 - ?3 THEN ?2 ELSE window_start END
             RETURNING failures",
        )
        .bind(key)
        .bind(now)
        .bind(window)
        .fetch_one(&mut *self.writer.get().await?)
        .await?;
        Ok(count as u32)
    }

    async fn login_failure_forgive(&self, key: &str) -> Result<()> {
        sqlx::query(
            "UPDATE login_failures SET failures = failures - 1 WHERE key = ?1 AND failures > 0",
        )
        .bind(key)
        .execute(&mut *self.writer.get().await?)
        .await?;
        Ok(())
    }

    async fn login_failures_clear(&self, key: &str) -> Result<()> {
        sqlx::query("DELETE FROM login_failures WHERE key = ?1")
            .bind(key)
            .execute(&mut *self.writer.get().await?)
            .await?;
        Ok(())
    }

    async fn audit_append(&self, entry: &AuditEntry) -> Result<()> {
        sqlx::query(
            "INSERT INTO audit (at, actor, action, project, repository, digest, detail, address)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        )
        .bind(entry.at)
        .bind(&entry.actor)
        .bind(&entry.action)
        .bind(&entry.project)
        .bind(&entry.repository)
        .bind(&entry.digest)
        .bind(&entry.detail)
        .bind(&entry.address)
        .execute(&mut *self.writer.get().await?)
        .await?;
        Ok(())
    }

    async fn audit_query(&self, filter: &AuditFilter) -> Result<Vec<AuditEntry>> {
        let rows = sqlx::query(
            "SELECT id, at, actor, action, project, repository, digest, detail, address
             FROM audit WHERE (?1 IS NULL OR project = ?1) AND (?2 IS NULL OR actor = ?2)
             AND (?3 IS NULL OR action = ?3) AND (?4 IS NULL OR at >= ?4)
             AND (?5 IS NULL OR at < ?5) AND (?6 IS NULL OR id < ?6)
             ORDER BY id DESC LIMIT ?7",
        )
        .bind(&filter.project)
        .bind(&filter.actor)
        .bind(&filter.action)
        .bind(filter.since)
        .bind(filter.until)
        .bind(filter.before)
        .bind(i64::from(filter.limit))
        .fetch_all(&mut *self.reader.get().await?)
        .await?;
        Ok(rows.iter().map(audit_from_row).collect())
    }
}
