//! `LifecycleStore` on SQLite.

use async_trait::async_trait;
use sqlx::{Connection, Row};

use super::{SqliteMetaStore, digests_json, in_project, parse_digest, project_bytes, split_lines};
use crate::oci::digest::Digest;
use crate::storage::Result;
use crate::storage::lifecycle::{
    Dangling, Image, LifecycleStore, ProjectSettings, Pulls, RecordedBlob, RepositoryUsage, TagInfo,
};

/// Converts a byte count that SQLite stores as a signed integer.
fn bytes(value: Option<i64>) -> Option<u64> {
    value.map(|v| v as u64)
}

#[async_trait]
impl LifecycleStore for SqliteMetaStore {
    async fn project_settings(&self, project: &str) -> Result<Option<ProjectSettings>> {
        let row = sqlx::query(
            "SELECT immutable_releases, follow_aliases, latest_on_push, retention,
                    retention_schedule, quota_bytes, budget_bytes, budget_warn_only
             FROM projects WHERE name = ?1",
        )
        .bind(project)
        .fetch_optional(&mut *self.reader.get().await?)
        .await?;
        Ok(row.map(|row| ProjectSettings {
            immutable_releases: row.get(0),
            follow_aliases: row.get(1),
            latest_on_push: row.get(2),
            retention: row.get(3),
            retention_schedule: row.get(4),
            quota_bytes: bytes(row.get(5)),
            budget_bytes: bytes(row.get(6)),
            budget_warn_only: row.get(7),
        }))
    }

    async fn set_project_settings(
        &self,
        project: &str,
        settings: &ProjectSettings,
    ) -> Result<bool> {
        let done = sqlx::query(
            "UPDATE projects SET immutable_releases = ?2, follow_aliases = ?3, latest_on_push = ?4,
                 retention = ?5, retention_schedule = ?6, quota_bytes = ?7, budget_bytes = ?8,
                 budget_warn_only = ?9
             WHERE name = ?1",
        )
        .bind(project)
        .bind(settings.immutable_releases)
        .bind(settings.follow_aliases)
        .bind(settings.latest_on_push)
        .bind(&settings.retention)
        .bind(&settings.retention_schedule)
        .bind(settings.quota_bytes.map(|b| b as i64))
        .bind(settings.budget_bytes.map(|b| b as i64))
        .bind(settings.budget_warn_only)
        .execute(&mut *self.writer.get().await?)
        .await?;
        Ok(done.rows_affected() > 0)
    }

    async fn repository_budget(&self, repository: &str) -> Result<Option<u64>> {
        let budget: Option<i64> =
            sqlx::query_scalar("SELECT bytes FROM repository_budgets WHERE repository = ?1")
                .bind(repository)
                .fetch_optional(&mut *self.reader.get().await?)
                .await?;
        Ok(bytes(budget))
    }

    async fn set_repository_budget(&self, repository: &str, budget: Option<u64>) -> Result<()> {
        let query = match budget {
            Some(b) => sqlx::query(
                "INSERT INTO repository_budgets (repository, bytes) VALUES (?1, ?2)
                 ON CONFLICT (repository) DO UPDATE SET bytes = excluded.bytes",
            )
            .bind(repository)
            .bind(b as i64),
            None => {
                sqlx::query("DELETE FROM repository_budgets WHERE repository = ?1").bind(repository)
            }
        };
        query.execute(&mut *self.writer.get().await?).await?;
        Ok(())
    }

    async fn record_pulls(&self, pulls: &[Pulls]) -> Result<()> {
        let mut conn = self.writer.get().await?;
        let mut tx = conn.begin_with("BEGIN IMMEDIATE").await?;
        for pull in pulls {
            sqlx::query(
                "UPDATE manifests SET pulls = pulls + ?3, pulled_at = max(coalesce(pulled_at, 0), ?4)
                 WHERE digest = ?2 AND repository_id = (SELECT id FROM repositories WHERE name = ?1)",
            )
            .bind(&pull.repository)
            .bind(pull.digest.to_string())
            .bind(pull.count as i64)
            .bind(pull.at)
            .execute(&mut *tx)
            .await?;
            if let Some(tag) = &pull.tag {
                sqlx::query(
                    "UPDATE tags SET pulls = pulls + ?4, pulled_at = max(coalesce(pulled_at, 0), ?5)
                     WHERE name = ?3 AND digest = ?2
                     AND repository_id = (SELECT id FROM repositories WHERE name = ?1)",
                )
                .bind(&pull.repository)
                .bind(pull.digest.to_string())
                .bind(tag)
                .bind(pull.count as i64)
                .bind(pull.at)
                .execute(&mut *tx)
                .await?;
            }
        }
        tx.commit().await?;
        Ok(())
    }

    async fn lock(&self, name: &str, holder: &str, now_ms: i64, until_ms: i64) -> Result<bool> {
        let done = sqlx::query(
            "INSERT INTO locks (name, holder, until_ms) VALUES (?1, ?2, ?4)
             ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, until_ms = excluded.until_ms
             WHERE locks.until_ms <= ?3 OR locks.holder = excluded.holder",
        )
        .bind(name)
        .bind(holder)
        .bind(now_ms)
        .bind(until_ms)
        .execute(&mut *self.writer.get().await?)
        .await?;
        Ok(done.rows_affected() > 0)
    }

    async fn unlock(&self, name: &str, holder: &str) -> Result<()> {
        sqlx::query("DELETE FROM locks WHERE name = ?1 AND holder = ?2")
            .bind(name)
            .bind(holder)
            .execute(&mut *self.writer.get().await?)
            .await?;
        Ok(())
    }

    async fn images(&self, project: &str) -> Result<Vec<Image>> {
        // Tags travel as `name \t updated_at \t pulled_at \t pulls` lines: one row per
        // manifest.
        let rows = sqlx::query(concat!(
            "SELECT r.name, m.digest, m.size, m.created_at, m.pulled_at, m.subject, m.pulls,
                (SELECT group_concat(mr.digest, char(10)) FROM manifest_refs mr
                 WHERE mr.repository_id = m.repository_id AND mr.manifest = m.digest
                 AND mr.child = 1),
                (SELECT group_concat(t.name || char(9) || t.updated_at || char(9)
                     || coalesce(t.pulled_at, '') || char(9) || t.pulls, char(10))
                 FROM tags t WHERE t.repository_id = m.repository_id AND t.digest = m.digest)
             FROM manifests m JOIN repositories r ON r.id = m.repository_id
             WHERE ",
            in_project!(),
            " ORDER BY r.name, m.digest"
        ))
        .bind(project)
        .fetch_all(&mut *self.reader.get().await?)
        .await?;
        rows.iter()
            .map(|row| {
                let subject: Option<String> = row.get(5);
                let tags = split_lines(row.get(8))
                    .iter()
                    .map(|line| {
                        let mut fields = line.split('\t');
                        let mut next = || fields.next().unwrap_or("");
                        let (name, updated) = (next().to_owned(), next());
                        let (pulled, pulls) = (next(), next());
                        TagInfo {
                            name,
                            updated_at: updated.parse().unwrap_or(0),
                            pulled_at: pulled.parse().ok(),
                            pulls: pulls.parse().unwrap_or(0),
                        }
                    })
                    .collect();
                Ok(Image {
                    repository: row.get(0),
                    digest: parse_digest(row.get(1))?,
                    size: row.get::<i64, _>(2) as u64,
                    created_at: row.get(3),
                    pulled_at: row.get(4),
                    pulls: row.get::<i64, _>(6) as u64,
                    subject: subject.as_deref().map(parse_digest).transpose()?,
                    children: split_lines(row.get(7))
                        .iter()
                        .map(|d| parse_digest(d))
                        .collect::<Result<_>>()?,
                    tags,
                })
            })
            .collect()
    }

    async fn retention_schedules(&self) -> Result<Vec<(String, String)>> {
        let rows = sqlx::query(
            "SELECT name, retention_schedule FROM projects
             WHERE retention_schedule IS NOT NULL ORDER BY name",
        )
        .fetch_all(&mut *self.reader.get().await?)
        .await?;
        Ok(rows.iter().map(|row| (row.get(0), row.get(1))).collect())
    }

    async fn move_tag_if(
        &self,
        repository: &str,
        tag: &str,
        from: &Digest,
        to: &Digest,
    ) -> Result<bool> {
        let done = sqlx::query(
            "UPDATE tags AS t SET digest = ?4, updated_at = ?5 WHERE t.name = ?2 AND t.digest = ?3
             AND t.repository_id = (SELECT id FROM repositories WHERE name = ?1)
             AND EXISTS (SELECT 1 FROM manifests m
                 WHERE m.repository_id = t.repository_id AND m.digest = ?4)",
        )
        .bind(repository)
        .bind(tag)
        .bind(from.to_string())
        .bind(to.to_string())
        .bind(crate::time::now_secs())
        .execute(&mut *self.writer.get().await?)
        .await?;
        Ok(done.rows_affected() > 0)
    }

    async fn delete_tag_if(&self, repository: &str, tag: &str, digest: &Digest) -> Result<bool> {
        let done = sqlx::query(
            "DELETE FROM tags WHERE name = ?2 AND digest = ?3
             AND repository_id = (SELECT id FROM repositories WHERE name = ?1)",
        )
        .bind(repository)
        .bind(tag)
        .bind(digest.to_string())
        .execute(&mut *self.writer.get().await?)
        .await?;
        Ok(done.rows_affected() > 0)
    }

    async fn delete_untagged(&self, repository: &str, digest: &Digest) -> Result<bool> {
        let done = sqlx::query(
            "DELETE FROM manifests AS m WHERE m.digest = ?2
             AND m.repository_id = (SELECT id FROM repositories WHERE name = ?1)
             AND NOT EXISTS (SELECT 1 FROM tags t
                 WHERE t.repository_id = m.repository_id AND t.digest = m.digest)
             AND NOT EXISTS (SELECT 1 FROM manifest_refs mr
                 WHERE mr.repository_id = m.repository_id AND mr.digest = m.digest
                 AND mr.child = 1)",
        )
        .bind(repository)
        .bind(digest.to_string())
        .execute(&mut *self.writer.get().await?)
        .await?;
        Ok(done.rows_affected() > 0)
    }

    async fn usage(&self, project: Option<&str>) -> Result<Vec<RepositoryUsage>> {
        let rows = sqlx::query(concat!(
            "SELECT r.name,
                (SELECT count(*) FROM manifests m WHERE m.repository_id = r.id),
                (SELECT count(*) FROM tags t WHERE t.repository_id = r.id),
                (SELECT coalesce(sum(b.size), 0) FROM repository_blobs rb
                 JOIN blobs b ON b.digest = rb.digest WHERE rb.repository_id = r.id)
             FROM repositories r WHERE ?1 IS NULL OR (",
            in_project!(),
            ") ORDER BY r.name"
        ))
        .bind(project)
        .fetch_all(&mut *self.reader.get().await?)
        .await?;
        Ok(rows
            .iter()
            .map(|row| RepositoryUsage {
                repository: row.get(0),
                manifests: row.get::<i64, _>(1) as u64,
                tags: row.get::<i64, _>(2) as u64,
                bytes: row.get::<i64, _>(3) as u64,
            })
            .collect())
    }

    async fn project_bytes(&self, project: &str) -> Result<u64> {
        let mut conn = self.reader.get().await?;
        project_bytes(&mut conn, project).await
    }

    async fn gc_uploads(&self, cutoff: i64, now_ms: i64) -> Result<Vec<String>> {
        let ids = sqlx::query_scalar(
            "DELETE FROM uploads WHERE created_at < ?1 AND lease_until <= ?2 RETURNING id",
        )
        .bind(cutoff)
        .bind(now_ms)
        .fetch_all(&mut *self.writer.get().await?)
        .await?;
        Ok(ids)
    }

    async fn gc_manifests(&self, cutoff: i64, untagged: bool) -> Result<u64> {
        // Deleting an index frees its children, and deleting a subject its referrers: repeat
        // until a pass deletes nothing.
        let mut total = 0;
        loop {
            let done = sqlx::query(
                "DELETE FROM manifests AS m WHERE m.created_at < ?1
                 AND NOT EXISTS (SELECT 1 FROM tags t
                     WHERE t.repository_id = m.repository_id AND t.digest = m.digest)
                 AND NOT EXISTS (SELECT 1 FROM manifest_refs mr
                     WHERE mr.repository_id = m.repository_id AND mr.digest = m.digest
                     AND mr.child = 1)
                 AND CASE WHEN m.subject IS NULL THEN ?2
                     ELSE NOT EXISTS (SELECT 1 FROM manifests s
                         WHERE s.repository_id = m.repository_id AND s.digest = m.subject) END",
            )
            .bind(cutoff)
            .bind(untagged)
            .execute(&mut *self.writer.get().await?)
            .await?;
            if done.rows_affected() == 0 {
                return Ok(total);
            }
            total += done.rows_affected();
        }
    }

    async fn gc_links(&self, cutoff: i64) -> Result<u64> {
        let done = sqlx::query(
            "DELETE FROM repository_blobs AS rb WHERE rb.touched_at < ?1
             AND NOT EXISTS (SELECT 1 FROM manifest_refs mr
                 WHERE mr.repository_id = rb.repository_id AND mr.digest = rb.digest)",
        )
        .bind(cutoff)
        .execute(&mut *self.writer.get().await?)
        .await?;
        Ok(done.rows_affected())
    }

    async fn gc_mark_blobs(
        &self,
        cutoff: i64,
        now_ms: i64,
        until_ms: i64,
        limit: u32,
    ) -> Result<Vec<(Digest, u64)>> {
        let rows = sqlx::query(
            "UPDATE blobs SET deleting_until = ?3 WHERE digest IN (
                 SELECT b.digest FROM blobs b
                 WHERE (b.deleting_until IS NULL AND b.touched_at < ?1
                        OR b.deleting_until <= ?2)
                 AND NOT EXISTS (SELECT 1 FROM repository_blobs rb WHERE rb.digest = b.digest)
                 LIMIT ?4)
             RETURNING digest, size",
        )
        .bind(cutoff)
        .bind(now_ms)
        .bind(until_ms)
        .bind(i64::from(limit))
        .fetch_all(&mut *self.writer.get().await?)
        .await?;
        rows.iter()
            .map(|row| Ok((parse_digest(row.get(0))?, row.get::<i64, _>(1) as u64)))
            .collect()
    }

    async fn gc_tombstone_orphans(&self, digests: &[Digest], until_ms: i64) -> Result<Vec<Digest>> {
        // One statement for the batch; RETURNING names only the rows it inserted. (`WHERE
        // true` keeps SQLite from reading `ON CONFLICT` as part of the SELECT's join.)
        let rows: Vec<String> = sqlx::query_scalar(
            "INSERT INTO blobs (digest, size, created_at, touched_at, deleting_until)
             SELECT value, 0, 0, 0, ?2 FROM json_each(?1) WHERE true
             ON CONFLICT DO NOTHING RETURNING digest",
        )
        .bind(digests_json(digests))
        .bind(until_ms)
        .fetch_all(&mut *self.writer.get().await?)
        .await?;
        rows.iter().map(|d| parse_digest(d)).collect()
    }

    async fn gc_forget_blobs(&self, digests: &[Digest]) -> Result<()> {
        sqlx::query(
            "DELETE FROM blobs AS b
             WHERE b.digest IN (SELECT value FROM json_each(?1)) AND b.deleting_until IS NOT NULL
             AND NOT EXISTS (SELECT 1 FROM repository_blobs rb WHERE rb.digest = b.digest)",
        )
        .bind(digests_json(digests))
        .execute(&mut *self.writer.get().await?)
        .await?;
        Ok(())
    }

    async fn blob_digests(&self) -> Result<Vec<RecordedBlob>> {
        let rows = sqlx::query(
            "SELECT b.digest, b.deleting_until IS NOT NULL,
                 EXISTS (SELECT 1 FROM repository_blobs rb WHERE rb.digest = b.digest)
             FROM blobs b",
        )
        .fetch_all(&mut *self.reader.get().await?)
        .await?;
        rows.iter()
            .map(|row| {
                Ok(RecordedBlob {
                    digest: parse_digest(row.get(0))?,
                    tombstoned: row.get(1),
                    linked: row.get(2),
                })
            })
            .collect()
    }

    async fn upload_ids(&self) -> Result<Vec<String>> {
        Ok(sqlx::query_scalar("SELECT id FROM uploads")
            .fetch_all(&mut *self.reader.get().await?)
            .await?)
    }

    async fn dangling(&self) -> Result<Vec<Dangling>> {
        let rows = sqlx::query(
            "SELECT r.name, mr.manifest, mr.digest FROM manifest_refs mr
             JOIN repositories r ON r.id = mr.repository_id
             WHERE CASE WHEN mr.child = 0
                 THEN NOT EXISTS (SELECT 1 FROM repository_blobs rb
                     WHERE rb.repository_id = mr.repository_id AND rb.digest = mr.digest)
                 ELSE NOT EXISTS (SELECT 1 FROM manifests m
                     WHERE m.repository_id = mr.repository_id AND m.digest = mr.digest) END
             ORDER BY r.name, mr.manifest, mr.digest",
        )
        .fetch_all(&mut *self.reader.get().await?)
        .await?;
        rows.iter()
            .map(|row| {
                Ok(Dangling {
                    repository: row.get(0),
                    manifest: parse_digest(row.get(1))?,
                    missing: parse_digest(row.get(2))?,
                })
            })
            .collect()
    }
}
