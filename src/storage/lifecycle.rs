//! The `LifecycleStore` port: project settings (tag policy, retention, quota, size budget),
//! pull tracking, the snapshots retention plans from, usage, locks, and the sweeps of garbage
//! collection and fsck.
//!
//! Every sweep is one statement or one transaction that re-checks its own conditions, so a
//! push that races it either lands before (and is seen as a reference) or after (and finds the
//! garbage gone, never half of it). Times are unix seconds unless a name says `_ms`.

use async_trait::async_trait;

use super::Result;
use crate::oci::digest::Digest;

/// What a project decides about its tags, retention and storage.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProjectSettings {
    /// Release tags (`v1.4.0`) never move once pushed.
    pub immutable_releases: bool,
    /// `vMAJOR.MINOR` and `vMAJOR` follow the newest stable release of their line.
    pub follow_aliases: bool,
    /// `latest` follows the newest stable release on every push, not only on promotion.
    pub latest_on_push: bool,
    /// Retention rules, one per line.
    pub retention: String,
    /// When retention runs by itself (cron syntax).
    pub retention_schedule: Option<String>,
    /// Most bytes of distinct blobs the project may hold.
    pub quota_bytes: Option<u64>,
    /// Largest compressed image size a repository of the project may hold.
    pub budget_bytes: Option<u64>,
    /// An image over budget is stored with a warning instead of refused.
    pub budget_warn_only: bool,
}

impl Default for ProjectSettings {
    fn default() -> ProjectSettings {
        ProjectSettings {
            immutable_releases: true,
            follow_aliases: true,
            latest_on_push: false,
            retention: String::new(),
            retention_schedule: None,
            quota_bytes: None,
            budget_bytes: None,
            budget_warn_only: false,
        }
    }
}

/// Pulls of one manifest (and tag, when pulled by tag) gathered since the last flush.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pulls {
    pub repository: String,
    pub digest: Digest,
    pub tag: Option<String>,
    pub count: u64,
    /// The latest of them.
    pub at: i64,
}

/// One manifest of a repository, as retention sees it.
#[derive(Debug, Clone)]
pub struct Image {
    pub repository: String,
    pub digest: Digest,
    pub size: u64,
    pub created_at: i64,
    pub pulled_at: Option<i64>,
    /// Pulls by tag or digest.
    pub pulls: u64,
    pub subject: Option<Digest>,
    /// Child manifests (of an index).
    pub children: Vec<Digest>,
    pub tags: Vec<TagInfo>,
}

/// A tag of an `Image`.
#[derive(Debug, Clone)]
pub struct TagInfo {
    pub name: String,
    /// When the tag was last pointed at its manifest.
    pub updated_at: i64,
    pub pulled_at: Option<i64>,
    /// Pulls by this tag.
    pub pulls: u64,
}

/// Storage used by one repository.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RepositoryUsage {
    pub repository: String,
    pub manifests: u64,
    pub tags: u64,
    /// Bytes of the distinct blobs the repository holds.
    pub bytes: u64,
}

/// A blob the metadata store records, as GC and fsck see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordedBlob {
    pub digest: Digest,
    /// GC holds (or held) a tombstone on it: its bytes may be going.
    pub tombstoned: bool,
    /// Some repository links it, so `HEAD` answers for it and its bytes must exist.
    pub linked: bool,
}

/// A reference that does not resolve, as fsck reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dangling {
    pub repository: String,
    pub manifest: Digest,
    pub missing: Digest,
}

#[async_trait]
pub trait LifecycleStore: Send + Sync {
    /// `None` if the project does not exist.
    async fn project_settings(&self, project: &str) -> Result<Option<ProjectSettings>>;

    /// `false` if the project does not exist.
    async fn set_project_settings(&self, project: &str, settings: &ProjectSettings)
    -> Result<bool>;

    async fn repository_budget(&self, repository: &str) -> Result<Option<u64>>;

    /// Sets (or with `None` removes) a repository's own size budget.
    async fn set_repository_budget(&self, repository: &str, bytes: Option<u64>) -> Result<()>;

    /// Adds gathered pulls to the counters and moves the last-pulled times forward.
    async fn record_pulls(&self, pulls: &[Pulls]) -> Result<()>;

    /// Takes or renews the lease `name` for `holder` until `until_ms`; `false` if another
    /// holder's lease has not expired at `now_ms`.
    async fn lock(&self, name: &str, holder: &str, now_ms: i64, until_ms: i64) -> Result<bool>;

    /// Gives up `holder`'s lease `name`, if it still holds it.
    async fn unlock(&self, name: &str, holder: &str) -> Result<()>;

    /// Every manifest of the project's repositories with its tags, in repository order.
    async fn images(&self, project: &str) -> Result<Vec<Image>>;

    /// Projects with a retention schedule, and the schedule.
    async fn retention_schedules(&self) -> Result<Vec<(String, String)>>;

    /// Points `tag` at `to` if it still points at `from` and the repository holds `to`.
    async fn move_tag_if(
        &self,
        repository: &str,
        tag: &str,
        from: &Digest,
        to: &Digest,
    ) -> Result<bool>;

    /// Deletes `tag` if it still points at `digest`.
    async fn delete_tag_if(&self, repository: &str, tag: &str, digest: &Digest) -> Result<bool>;

    /// Deletes the manifest if no tag points at it (any more).
    async fn delete_untagged(&self, repository: &str, digest: &Digest) -> Result<bool>;

    /// Usage of every repository of `project` (every repository when `None`).
    async fn usage(&self, project: Option<&str>) -> Result<Vec<RepositoryUsage>>;

    /// Bytes of the distinct blobs held by the project's repositories.
    async fn project_bytes(&self, project: &str) -> Result<u64>;

    /// Forgets upload sessions created before `cutoff` whose lease is not held at `now_ms`;
    /// returns their ids, whose staging areas the caller removes.
    async fn gc_uploads(&self, cutoff: i64, now_ms: i64) -> Result<Vec<String>>;

    /// Deletes manifests created before `cutoff` that nothing references: no tag, no index of
    /// the repository naming them, and either a `subject` that is gone or (when `untagged`)
    /// no subject at all. Returns how many went.
    async fn gc_manifests(&self, cutoff: i64, untagged: bool) -> Result<u64>;

    /// Removes links touched before `cutoff` that no manifest of their repository references.
    async fn gc_links(&self, cutoff: i64) -> Result<u64>;

    /// Tombstones up to `limit` blobs that no repository links and that were touched before
    /// `cutoff`, plus tombstones whose holder's lease has expired; GC holds them until
    /// `until_ms`. Returns them with their sizes.
    async fn gc_mark_blobs(
        &self,
        cutoff: i64,
        now_ms: i64,
        until_ms: i64,
        limit: u32,
    ) -> Result<Vec<(Digest, u64)>>;

    /// Tombstones blobs whose bytes are stored but which the store has no record of (an upload
    /// that died between its commit and its link), unless a record appeared meanwhile.
    /// Returns those tombstoned.
    async fn gc_tombstone_orphans(&self, digests: &[Digest], until_ms: i64) -> Result<Vec<Digest>>;

    /// Forgets tombstoned blobs whose bytes are gone, except any that a repository links (which
    /// fsck then reports as missing rather than GC failing on them).
    async fn gc_forget_blobs(&self, digests: &[Digest]) -> Result<()>;

    /// Every blob the metadata store knows.
    async fn blob_digests(&self) -> Result<Vec<RecordedBlob>>;

    /// Ids of every upload session.
    async fn upload_ids(&self) -> Result<Vec<String>>;

    /// References of manifests to blobs or child manifests the repository does not hold.
    /// (Links always name a recorded blob: a foreign key sees to that.)
    async fn dangling(&self) -> Result<Vec<Dangling>>;
}
