//! `MetaStore` on SQLite, the embedded default.
//!
//! One writer connection and read-only connections in WAL mode, so reads never wait for
//! writes. The request path's point reads (a manifest, a blob link, a page of tags or
//! repositories, referrers) run on rusqlite connections on the calling thread
//! (`conns::InlineReaders` says why); everything else goes through sqlx. Write transactions
//! start with `BEGIN IMMEDIATE`: a second process on the same file waits for the lock
//! (`busy_timeout`) instead of failing on a read-to-write upgrade.
//!
//! `synchronous = NORMAL` under WAL: a crash of the process or the machine never corrupts the
//! database or loses an earlier commit; a power loss may drop the last commits before the next
//! checkpoint. Blob bytes are fsynced before they become visible either way.

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use rusqlite::OptionalExtension;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqliteSynchronous};
use sqlx::{Connection, Row, SqliteConnection};

use super::{
    Admit, Error, LinkedBlob, ManifestPut, ManifestRecord, MetaStore, NewManifest, Quota, Referrer,
    Result, TagMove, TagPointed, UploadSession,
};
use crate::oci::digest::Digest;
use crate::time::{now_ms, now_secs};
use conns::{Connections, InlineReaders};

mod access;
mod conns;
mod lifecycle;

pub struct SqliteMetaStore {
    writer: Connections,
    reader: Connections,
    inline: InlineReaders,
}

impl SqliteMetaStore {
    /// Opens (creating if needed) the database at `path` and applies pending migrations.
    pub async fn open(path: &Path) -> Result<SqliteMetaStore> {
        let options = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(10));
        let writer = Connections::open(options.clone(), 1).await?;
        sqlx::migrate!("./migrations/sqlite")
            .run(&mut *writer.get().await?)
            .await?;
        let reader = Connections::open(options.read_only(true), 8).await?;
        let inline = InlineReaders::open(path, 4)?;
        Ok(SqliteMetaStore {
            writer,
            reader,
            inline,
        })
    }
}

fn parse_digest(text: &str) -> Result<Digest> {
    Digest::from_str(text).map_err(|e| Error::Corrupt(e.to_string()))
}

/// Digests as a JSON array of strings, for `json_each`.
fn digests_json(digests: &[Digest]) -> String {
    serde_json::Value::from(digests.iter().map(Digest::to_string).collect::<Vec<_>>()).to_string()
}

/// The first of `blobs` (JSON array) not linked in `repository`, else the first of `children`
/// not stored there, in manifest order; one statement.
async fn missing_reference<'e>(
    executor: impl sqlx::SqliteExecutor<'e>,
    repository: &str,
    blobs: &str,
    children: &str,
) -> Result<Option<Digest>> {
    let missing: Option<String> = sqlx::query_scalar(
        "WITH repo(id) AS (SELECT id FROM repositories WHERE name = ?1)
         SELECT value FROM (
             SELECT 0 AS kind, j.key AS position, j.value FROM json_each(?2) j
             WHERE NOT EXISTS (SELECT 1 FROM repository_blobs b
                               WHERE b.repository_id = (SELECT id FROM repo) AND b.digest = j.value)
             UNION ALL
             SELECT 1, j.key, j.value FROM json_each(?3) j
             WHERE NOT EXISTS (SELECT 1 FROM manifests m
                               WHERE m.repository_id = (SELECT id FROM repo) AND m.digest = j.value))
         ORDER BY kind, position LIMIT 1",
    )
    .bind(repository)
    .bind(blobs)
    .bind(children)
    .fetch_optional(executor)
    .await?;
    missing.as_deref().map(parse_digest).transpose()
}

/// Returns the id of `name`, creating the repository if needed.
async fn repository_id(conn: &mut SqliteConnection, name: &str) -> Result<i64> {
    let row = sqlx::query(
        "INSERT INTO repositories (name) VALUES (?1)
         ON CONFLICT (name) DO UPDATE SET name = excluded.name RETURNING id",
    )
    .bind(name)
    .fetch_one(conn)
    .await?;
    Ok(row.get(0))
}

/// The `WHERE` condition selecting repositories `r` of project `?1`: names in `["p/", "p0")`,
/// since `0` follows `/`, so that the index on names serves it.
macro_rules! in_project {
    () => {
        "r.name >= ?1 || '/' AND r.name < ?1 || '0'"
    };
}
pub(crate) use in_project;

/// Bytes of the distinct blobs held by `project`'s repositories.
async fn project_bytes(conn: &mut SqliteConnection, project: &str) -> Result<u64> {
    let bytes: i64 = sqlx::query_scalar(concat!(
        "SELECT coalesce(sum(b.size), 0) FROM blobs b WHERE b.digest IN (
             SELECT rb.digest FROM repository_blobs rb
             JOIN repositories r ON r.id = rb.repository_id WHERE ",
        in_project!(),
        ")"
    ))
    .bind(project)
    .fetch_one(conn)
    .await?;
    Ok(bytes as u64)
}

/// Whether linking `digest` of `size` bytes into a repository keeps its project within `quota`.
async fn admit(
    conn: &mut SqliteConnection,
    digest: &Digest,
    size: u64,
    quota: Option<Quota<'_>>,
) -> Result<Admit> {
    let Some(Quota { project, limit }) = quota else {
        return Ok(Admit::Admitted);
    };
    let held = sqlx::query(concat!(
        "SELECT 1 FROM repository_blobs rb JOIN repositories r ON r.id = rb.repository_id
         WHERE rb.digest = ?2 AND ",
        in_project!()
    ))
    .bind(project)
    .bind(digest.to_string())
    .fetch_optional(&mut *conn)
    .await?;
    if held.is_some() {
        return Ok(Admit::Admitted);
    }
    let used = project_bytes(conn, project).await?;
    if used + size > limit {
        return Ok(Admit::QuotaExceeded { used, limit });
    }
    Ok(Admit::Admitted)
}

/// The columns `read_manifest` reads, as a literal so that queries stay `&'static str`.
macro_rules! select_manifest {
    () => {
        "SELECT m.digest, m.media_type, m.content, m.subject, m.artifact_type, m.annotations
         FROM manifests m JOIN repositories r ON r.id = m.repository_id "
    };
}

impl SqliteMetaStore {
    /// The manifest that `query` (`select_manifest!` and a condition on `?1`, `?2`) finds.
    fn read_manifest(
        &self,
        query: &str,
        first: &str,
        second: &str,
    ) -> Result<Option<ManifestRecord>> {
        let row = self.inline.read(|conn| {
            conn.prepare_cached(query)?
                .query_row((first, second), |row| {
                    Ok((
                        row.get::<_, String>(0)?,
                        row.get(1)?,
                        row.get::<_, Vec<u8>>(2)?,
                        row.get::<_, Option<String>>(3)?,
                        row.get(4)?,
                        row.get(5)?,
                    ))
                })
                .optional()
        })?;
        let Some((digest, media_type, content, subject, artifact_type, annotations)) = row else {
            return Ok(None);
        };
        Ok(Some(ManifestRecord {
            digest: parse_digest(&digest)?,
            media_type,
            content: Bytes::from(content),
            subject: subject.as_deref().map(parse_digest).transpose()?,
            artifact_type,
            annotations,
        }))
    }
}

/// Splits a `group_concat(…, char(10))` result. The lifecycle's listing queries aggregate
/// names into one row because sqlx hands every row across a thread: one row instead of a
/// hundred is most of the cost of such a list. Names and tags cannot contain newlines (their
/// grammars forbid it). The aggregate takes no `ORDER BY` of its own (a second sort in
/// SQLite); callers sort, since group_concat promises no order.
fn split_lines(joined: Option<String>) -> Vec<String> {
    joined.map_or_else(Vec::new, |joined| {
        joined.split('\n').map(str::to_owned).collect()
    })
}

/// Points `tag` at `digest`, creating it if needed.
async fn set_tag(
    conn: &mut SqliteConnection,
    repo: i64,
    tag: &str,
    digest: &str,
    now: i64,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO tags (repository_id, name, digest, updated_at) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT (repository_id, name)
         DO UPDATE SET digest = excluded.digest, updated_at = excluded.updated_at",
    )
    .bind(repo)
    .bind(tag)
    .bind(digest)
    .bind(now)
    .execute(conn)
    .await?;
    Ok(())
}

/// Every `(tag, digest)` of the repository.
async fn repository_tags(conn: &mut SqliteConnection, repo: i64) -> Result<Vec<(String, Digest)>> {
    let rows = sqlx::query("SELECT name, digest FROM tags WHERE repository_id = ?1")
        .bind(repo)
        .fetch_all(conn)
        .await?;
    rows.iter()
        .map(|row| Ok((row.get::<String, _>(0), parse_digest(row.get(1))?)))
        .collect()
}

fn session_from_row(row: &sqlx::sqlite::SqliteRow) -> UploadSession {
    UploadSession {
        id: row.get(0),
        repository: row.get(1),
        offset: row.get::<i64, _>(2) as u64,
        hash_state: row.get(3),
    }
}

#[async_trait]
impl MetaStore for SqliteMetaStore {
    async fn claim_blob(
        &self,
        digest: &Digest,
        size: u64,
        quota: Option<Quota<'_>>,
    ) -> Result<Admit> {
        if quota.is_none() {
            // Without a quota the claim is one statement (one trip to the writer): insert or
            // touch the row, unless a live tombstone holds it, which then returns no row.
            let claimed = sqlx::query(
                "INSERT INTO blobs (digest, size, created_at, touched_at) VALUES (?1, ?2, ?3, ?3)
                 ON CONFLICT (digest) DO UPDATE SET size = ?2, touched_at = ?3, deleting_until = NULL
                 WHERE deleting_until IS NULL OR deleting_until <= ?4
                 RETURNING 1",
            )
            .bind(digest.to_string())
            .bind(size as i64)
            .bind(now_secs())
            .bind(now_ms())
            .fetch_optional(&mut *self.writer.get().await?)
            .await?;
            return Ok(match claimed {
                Some(_) => Admit::Admitted,
                None => Admit::Deleting,
            });
        }
        let mut conn = self.writer.get().await?;
        let mut tx = conn.begin_with("BEGIN IMMEDIATE").await?;
        let deleting: Option<Option<i64>> =
            sqlx::query_scalar("SELECT deleting_until FROM blobs WHERE digest = ?1")
                .bind(digest.to_string())
                .fetch_optional(&mut *tx)
                .await?;
        if deleting.flatten().is_some_and(|until| until > now_ms()) {
            return Ok(Admit::Deleting);
        }
        let admitted = admit(&mut tx, digest, size, quota).await?;
        if admitted != Admit::Admitted {
            return Ok(admitted);
        }
        // A tombstone whose holder died is lifted: the caller commits the bytes again anyway.
        let now = now_secs();
        sqlx::query(
            "INSERT INTO blobs (digest, size, created_at, touched_at) VALUES (?1, ?2, ?3, ?3)
             ON CONFLICT (digest) DO UPDATE SET size = ?2, touched_at = ?3, deleting_until = NULL",
        )
        .bind(digest.to_string())
        .bind(size as i64)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(Admit::Admitted)
    }

    async fn link_blob(
        &self,
        repository: &str,
        digest: &Digest,
        size: u64,
        finished_upload: Option<&str>,
        quota: Option<Quota<'_>>,
    ) -> Result<Admit> {
        let mut conn = self.writer.get().await?;
        let mut tx = conn.begin_with("BEGIN IMMEDIATE").await?;
        // Only a recorded blob that no GC is deleting may be linked: a tombstoned or forgotten
        // one may have lost its bytes already. A quota is decided on such a blob before
        // anything is linked.
        if quota.is_some() {
            let live =
                sqlx::query("SELECT 1 FROM blobs WHERE digest = ?1 AND deleting_until IS NULL")
                    .bind(digest.to_string())
                    .fetch_optional(&mut *tx)
                    .await?;
            if live.is_none() {
                return Ok(Admit::Deleting);
            }
            let admitted = admit(&mut tx, digest, size, quota).await?;
            if admitted != Admit::Admitted {
                return Ok(admitted);
            }
        }
        // The link in one trip to the writer (every push ends here): the first statement
        // returns a row only for a live blob; without one, the link itself is skipped (the
        // blob row it would reference may not exist) and dropping the transaction undoes the
        // rest. The parameters are anonymous and bound in order across the statements: sqlx
        // binds numbered ones per statement and leaves any after a gap unbound (NULL).
        let (digest, now) = (digest.to_string(), now_secs());
        let live = sqlx::query(
            "UPDATE blobs SET touched_at = ? WHERE digest = ? AND deleting_until IS NULL
             RETURNING 1;
             INSERT INTO repositories (name) VALUES (?) ON CONFLICT (name) DO NOTHING;
             INSERT INTO repository_blobs (repository_id, digest, created_at, touched_at)
             SELECT id, ?, ?, ? FROM repositories WHERE name = ? AND EXISTS (
                 SELECT 1 FROM blobs WHERE digest = ? AND deleting_until IS NULL)
             ON CONFLICT DO UPDATE SET touched_at = excluded.touched_at;
             DELETE FROM uploads WHERE id = ?;",
        )
        .bind(now)
        .bind(&digest)
        .bind(repository)
        .bind(&digest)
        .bind(now)
        .bind(now)
        .bind(repository)
        .bind(&digest)
        .bind(finished_upload)
        .fetch_all(&mut *tx)
        .await?;
        if live.is_empty() {
            return Ok(Admit::Deleting);
        }
        tx.commit().await?;
        Ok(Admit::Admitted)
    }

    async fn linked_blob(&self, repository: &str, digest: &Digest) -> Result<Option<LinkedBlob>> {
        self.inline.read(|conn| {
            conn.prepare_cached(
                "SELECT b.size, rb.touched_at FROM repository_blobs rb
                 JOIN repositories r ON r.id = rb.repository_id
                 JOIN blobs b ON b.digest = rb.digest
                 WHERE r.name = ?1 AND rb.digest = ?2",
            )?
            .query_row((repository, digest.to_string()), |row| {
                Ok(LinkedBlob {
                    size: row.get::<_, i64>(0)? as u64,
                    touched_at: row.get(1)?,
                })
            })
            .optional()
        })
    }

    async fn touch_link(&self, repository: &str, digest: &Digest) -> Result<()> {
        sqlx::query(
            "UPDATE repository_blobs SET touched_at = ?3 WHERE digest = ?2
             AND repository_id = (SELECT id FROM repositories WHERE name = ?1)",
        )
        .bind(repository)
        .bind(digest.to_string())
        .bind(now_secs())
        .execute(&mut *self.writer.get().await?)
        .await?;
        Ok(())
    }

    async fn unlink_blob(&self, repository: &str, digest: &Digest) -> Result<bool> {
        let done = sqlx::query(
            "DELETE FROM repository_blobs WHERE digest = ?2
             AND repository_id = (SELECT id FROM repositories WHERE name = ?1)",
        )
        .bind(repository)
        .bind(digest.to_string())
        .execute(&mut *self.writer.get().await?)
        .await?;
        Ok(done.rows_affected() > 0)
    }

    async fn upload_insert(&self, session: &UploadSession) -> Result<()> {
        sqlx::query(
            "INSERT INTO uploads (id, repository, received, hash_state, created_at)
             VALUES (?1, ?2, ?3, ?4, ?5)",
        )
        .bind(&session.id)
        .bind(&session.repository)
        .bind(session.offset as i64)
        .bind(&session.hash_state)
        .bind(now_secs())
        .execute(&mut *self.writer.get().await?)
        .await?;
        Ok(())
    }

    async fn upload_get(&self, id: &str) -> Result<Option<UploadSession>> {
        let row =
            sqlx::query("SELECT id, repository, received, hash_state FROM uploads WHERE id = ?1")
                .bind(id)
                .fetch_optional(&mut *self.reader.get().await?)
                .await?;
        Ok(row.as_ref().map(session_from_row))
    }

    async fn upload_lease(
        &self,
        id: &str,
        repository: &str,
        holder: &str,
        now_ms: i64,
        until_ms: i64,
    ) -> Result<Option<UploadSession>> {
        let row = sqlx::query(
            "UPDATE uploads SET lease_holder = ?2, lease_until = ?4 WHERE id = ?1 AND lease_until <= ?3 AND repository = ?5
             RETURNING id, repository, received, hash_state",
        )
        .bind(id)
        .bind(holder)
        .bind(now_ms)
        .bind(until_ms)
        .bind(repository)
        .fetch_optional(&mut *self.writer.get().await?)
        .await?;
        Ok(row.as_ref().map(session_from_row))
    }

    async fn upload_renew(&self, id: &str, holder: &str, until_ms: i64) -> Result<bool> {
        let done =
            sqlx::query("UPDATE uploads SET lease_until = ?3 WHERE id = ?1 AND lease_holder = ?2")
                .bind(id)
                .bind(holder)
                .bind(until_ms)
                .execute(&mut *self.writer.get().await?)
                .await?;
        Ok(done.rows_affected() > 0)
    }

    async fn upload_advance(
        &self,
        id: &str,
        holder: &str,
        offset: u64,
        hash_state: &[u8],
    ) -> Result<bool> {
        let done = sqlx::query(
            "UPDATE uploads SET received = ?3, hash_state = ?4, lease_holder = NULL, lease_until = 0
             WHERE id = ?1 AND lease_holder = ?2",
        )
        .bind(id)
        .bind(holder)
        .bind(offset as i64)
        .bind(hash_state)
        .execute(&mut *self.writer.get().await?)
        .await?;
        Ok(done.rows_affected() > 0)
    }

    async fn upload_release(&self, id: &str, holder: &str) -> Result<()> {
        sqlx::query("UPDATE uploads SET lease_holder = NULL, lease_until = 0 WHERE id = ?1 AND lease_holder = ?2")
            .bind(id)
            .bind(holder)
            .execute(&mut *self.writer.get().await?)
            .await?;
        Ok(())
    }

    async fn probe(&self) -> Result<()> {
        sqlx::query(
            "INSERT INTO probe (id, at) VALUES (1, ?1) ON CONFLICT (id) DO UPDATE SET at = ?1",
        )
        .bind(now_ms())
        .execute(&mut *self.writer.get().await?)
        .await?;
        Ok(())
    }

    async fn upload_delete(&self, id: &str) -> Result<bool> {
        let done = sqlx::query("DELETE FROM uploads WHERE id = ?1")
            .bind(id)
            .execute(&mut *self.writer.get().await?)
            .await?;
        Ok(done.rows_affected() > 0)
    }

    async fn put_manifest(
        &self,
        repository: &str,
        manifest: NewManifest<'_>,
    ) -> Result<ManifestPut> {
        // References are checked twice, each time in one statement over a JSON array: first
        // on a reader, so that a manifest naming what is not there never waits for the writer,
        // then in the write transaction, where GC cannot unlink anything meanwhile. One
        // statement, not one per reference, keeps a manifest of thousands of layers from
        // holding the writer (and every other push) for long.
        let blobs = digests_json(manifest.blobs);
        let children = digests_json(manifest.manifests);
        if let Some(missing) = missing_reference(
            &mut *self.reader.get().await?,
            repository,
            &blobs,
            &children,
        )
        .await?
        {
            return Ok(ManifestPut::MissingReference(missing));
        }
        let mut conn = self.writer.get().await?;
        let mut tx = conn.begin_with("BEGIN IMMEDIATE").await?;
        let repo = repository_id(&mut tx, repository).await?;
        if let Some(missing) = missing_reference(&mut *tx, repository, &blobs, &children).await? {
            return Ok(ManifestPut::MissingReference(missing));
        }
        let record = manifest.record;
        let digest = record.digest.to_string();
        let now = now_secs();
        let mut moved_from = None;
        if let Some(tag) = manifest.tag {
            let previous: Option<String> = sqlx::query_scalar(
                "SELECT digest FROM tags WHERE repository_id = ?1 AND name = ?2",
            )
            .bind(repo)
            .bind(tag)
            .fetch_optional(&mut *tx)
            .await?;
            moved_from = previous
                .filter(|previous| *previous != digest)
                .map(|previous| parse_digest(&previous))
                .transpose()?;
            if moved_from.is_some() && !manifest.rules.may_move(tag) {
                return Ok(ManifestPut::Immutable(tag.to_owned()));
            }
            if manifest.rules.manages(tag) {
                let tags = repository_tags(&mut tx, repo).await?;
                if let Some(reason) = manifest.rules.refuse(tag, &record.digest, &tags) {
                    return Ok(ManifestPut::Managed(reason));
                }
            }
        }
        let inserted = sqlx::query(
            "INSERT INTO manifests
             (repository_id, digest, media_type, content, subject, artifact_type, annotations,
              created_at, size)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9) ON CONFLICT DO NOTHING",
        )
        .bind(repo)
        .bind(&digest)
        .bind(&record.media_type)
        .bind(record.content.as_ref())
        .bind(record.subject.as_ref().map(Digest::to_string))
        .bind(&record.artifact_type)
        .bind(&record.annotations)
        .bind(now)
        .bind(manifest.size as i64)
        .execute(&mut *tx)
        .await?;
        if inserted.rows_affected() > 0 {
            for (list, child) in [(&blobs, false), (&children, true)] {
                sqlx::query(
                    "INSERT INTO manifest_refs (repository_id, manifest, digest, child)
                     SELECT ?1, ?2, value, ?3 FROM json_each(?4) WHERE true
                     ON CONFLICT DO NOTHING",
                )
                .bind(repo)
                .bind(&digest)
                .bind(child)
                .bind(list)
                .execute(&mut *tx)
                .await?;
            }
        }
        let mut followed = Vec::new();
        if let Some(tag) = manifest.tag {
            set_tag(&mut tx, repo, tag, &digest, now).await?;
            if manifest.rules.moves_others(tag) {
                let tags = repository_tags(&mut tx, repo).await?;
                for (name, to) in manifest.rules.follow(tag, &tags) {
                    let from = tags
                        .iter()
                        .find(|(t, _)| *t == name)
                        .map(|(_, d)| d.clone());
                    if from.as_ref() != Some(&to) {
                        set_tag(&mut tx, repo, &name, &to.to_string(), now).await?;
                        followed.push(TagMove {
                            tag: name,
                            from,
                            to,
                        });
                    }
                }
            }
        }
        tx.commit().await?;
        Ok(ManifestPut::Stored {
            moved_from,
            followed,
        })
    }

    async fn manifest_by_digest(
        &self,
        repository: &str,
        digest: &Digest,
    ) -> Result<Option<ManifestRecord>> {
        let query = concat!(select_manifest!(), "WHERE r.name = ?1 AND m.digest = ?2");
        self.read_manifest(query, repository, &digest.to_string())
    }

    async fn manifest_by_tag(&self, repository: &str, tag: &str) -> Result<Option<ManifestRecord>> {
        let query = concat!(
            select_manifest!(),
            "JOIN tags t ON t.repository_id = m.repository_id AND t.digest = m.digest
             WHERE r.name = ?1 AND t.name = ?2"
        );
        self.read_manifest(query, repository, tag)
    }

    async fn delete_manifest(&self, repository: &str, digest: &Digest) -> Result<bool> {
        let mut conn = self.writer.get().await?;
        let mut tx = conn.begin_with("BEGIN IMMEDIATE").await?;
        let repo: Option<i64> = sqlx::query_scalar("SELECT id FROM repositories WHERE name = ?1")
            .bind(repository)
            .fetch_optional(&mut *tx)
            .await?;
        let Some(repo) = repo else { return Ok(false) };
        sqlx::query("DELETE FROM tags WHERE repository_id = ?1 AND digest = ?2")
            .bind(repo)
            .bind(digest.to_string())
            .execute(&mut *tx)
            .await?;
        let done = sqlx::query("DELETE FROM manifests WHERE repository_id = ?1 AND digest = ?2")
            .bind(repo)
            .bind(digest.to_string())
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(done.rows_affected() > 0)
    }

    async fn delete_tag(&self, repository: &str, tag: &str) -> Result<bool> {
        let done = sqlx::query(
            "DELETE FROM tags WHERE name = ?2
             AND repository_id = (SELECT id FROM repositories WHERE name = ?1)",
        )
        .bind(repository)
        .bind(tag)
        .execute(&mut *self.writer.get().await?)
        .await?;
        Ok(done.rows_affected() > 0)
    }

    async fn point_tag(&self, repository: &str, tag: &str, digest: &Digest) -> Result<TagPointed> {
        let mut conn = self.writer.get().await?;
        let mut tx = conn.begin_with("BEGIN IMMEDIATE").await?;
        let repo: Option<i64> = sqlx::query_scalar(
            "SELECT r.id FROM repositories r JOIN manifests m ON m.repository_id = r.id
             WHERE r.name = ?1 AND m.digest = ?2",
        )
        .bind(repository)
        .bind(digest.to_string())
        .fetch_optional(&mut *tx)
        .await?;
        let Some(repo) = repo else {
            return Ok(TagPointed::NoSuchManifest);
        };
        let previous: Option<String> =
            sqlx::query_scalar("SELECT digest FROM tags WHERE repository_id = ?1 AND name = ?2")
                .bind(repo)
                .bind(tag)
                .fetch_optional(&mut *tx)
                .await?;
        set_tag(&mut tx, repo, tag, &digest.to_string(), now_secs()).await?;
        tx.commit().await?;
        Ok(TagPointed::Pointed {
            previous: previous.as_deref().map(parse_digest).transpose()?,
        })
    }

    async fn tags_reaching(&self, repository: &str, digest: &Digest) -> Result<Vec<String>> {
        // Up from `digest` through the manifests that reference it (an image its blob, an
        // index its child), then the tags on any of them.
        let names = sqlx::query_scalar(
            "WITH RECURSIVE repo(id) AS (SELECT id FROM repositories WHERE name = ?1),
             up(digest) AS (
                 SELECT ?2
                 UNION
                 SELECT mr.manifest FROM manifest_refs mr JOIN up ON mr.digest = up.digest
                 WHERE mr.repository_id = (SELECT id FROM repo))
             SELECT DISTINCT t.name FROM tags t JOIN up ON t.digest = up.digest
             WHERE t.repository_id = (SELECT id FROM repo) ORDER BY t.name",
        )
        .bind(repository)
        .bind(digest.to_string())
        .fetch_all(&mut *self.reader.get().await?)
        .await?;
        Ok(names)
    }

    async fn tags(
        &self,
        repository: &str,
        last: Option<&str>,
        limit: u32,
    ) -> Result<Option<Vec<String>>> {
        // One statement, so one read transaction: no row for an unknown repository, one row
        // with a NULL name for a known one with nothing past `last`, else the page, in the
        // primary key's order.
        let names = self.inline.read(|conn| {
            conn.prepare_cached(
                "SELECT t.name FROM repositories r
                 LEFT JOIN tags t ON t.repository_id = r.id AND t.name > ?2
                 WHERE r.name = ?1 ORDER BY t.name LIMIT ?3",
            )?
            .query_map((repository, last.unwrap_or(""), i64::from(limit)), |row| {
                row.get::<_, Option<String>>(0)
            })?
            .collect::<rusqlite::Result<Vec<_>>>()
        })?;
        if names.is_empty() {
            return Ok(None);
        }
        Ok(Some(names.into_iter().flatten().collect()))
    }

    async fn repositories(&self, last: Option<&str>, limit: u32) -> Result<Vec<String>> {
        self.inline.read(|conn| {
            conn.prepare_cached(
                "SELECT name FROM repositories WHERE name > ?1 AND manifests > 0
                 ORDER BY name LIMIT ?2",
            )?
            .query_map((last.unwrap_or(""), i64::from(limit)), |row| row.get(0))?
            .collect()
        })
    }

    async fn referrers(
        &self,
        repository: &str,
        subject: &Digest,
        artifact_type: Option<&str>,
    ) -> Result<Vec<Referrer>> {
        let rows = self.inline.read(|conn| {
            conn.prepare_cached(
                "SELECT m.digest, m.media_type, length(m.content), m.artifact_type, m.annotations
                 FROM manifests m JOIN repositories r ON r.id = m.repository_id
                 WHERE r.name = ?1 AND m.subject = ?2 AND (?3 IS NULL OR m.artifact_type = ?3)
                 ORDER BY m.digest",
            )?
            .query_map((repository, subject.to_string(), artifact_type), |row| {
                Ok((
                    row.get::<_, String>(0)?,
                    row.get(1)?,
                    row.get::<_, i64>(2)?,
                    row.get(3)?,
                    row.get(4)?,
                ))
            })?
            .collect::<rusqlite::Result<Vec<_>>>()
        })?;
        rows.into_iter()
            .map(|(digest, media_type, size, artifact_type, annotations)| {
                Ok(Referrer {
                    digest: parse_digest(&digest)?,
                    media_type,
                    size: size as u64,
                    artifact_type,
                    annotations,
                })
            })
            .collect()
    }
}
