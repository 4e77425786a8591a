//! Garbage collection while pushes go on, and fsck.
//!
//! GC never stops the registry. Each sweep is a statement of the metadata store that
//! re-checks its own conditions, and blobs are deleted in three steps: tombstone the rows
//! (in one transaction that checks nothing links them), delete the bytes, forget the rows. An
//! upload that needs a tombstoned blob waits until it is gone and then commits its own copy;
//! one that claimed the blob first refreshed its touch time, which the grace period spares.
//! Links and blobs younger than the grace period are never collected, which covers the time
//! between a blob upload (or a `HEAD` that found the blob) and the manifest that names it.
//!
//! One GC runs at a time across replicas: the `gc` lock lives in the metadata store, with a
//! lease renewed before every step. A GC killed half way leaves tombstones whose lease
//! expires; the next GC finishes them, and uploads lift them.

use std::collections::HashSet;

use super::lock::JobLock;
use super::{Lifecycle, Result};
use crate::auth::Actor;
use crate::auth::AuditAction;
use crate::oci::digest::Digest;
use crate::storage::lifecycle::Dangling;

/// Blobs tombstoned and deleted per batch.
const BATCH: u32 = 1000;

/// What one GC run removed.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct GcReport {
    pub uploads: u64,
    pub manifests: u64,
    pub links: u64,
    pub blobs: u64,
    pub bytes: u64,
    /// Stored bytes the metadata store had no record of.
    pub orphans: u64,
}

/// What fsck found; empty lists mean the stores agree.
#[derive(Debug, Default)]
pub struct FsckReport {
    /// Manifests naming a blob or child manifest their repository does not hold.
    pub dangling: Vec<Dangling>,
    /// Blobs recorded in the metadata store (and linked, or not being collected) whose bytes
    /// are not in the blob store: `HEAD` finds them, `GET` does not.
    pub missing: Vec<Digest>,
    /// Bytes in the blob store that no record accounts for.
    pub unaccounted: Vec<Digest>,
}

impl FsckReport {
    pub fn is_clean(&self) -> bool {
        self.dangling.is_empty() && self.missing.is_empty() && self.unaccounted.is_empty()
    }
}

impl Lifecycle {
    /// Collects garbage (system administrators). See the module documentation.
    pub async fn gc(&self, actor: &Actor) -> Result<GcReport> {
        self.access.require_system_admin(actor)?;
        let lock = JobLock::take(self, "gc", self.options.gc_lease).await?;
        let res = self.collect(&lock).await;
        lock.release().await?;
        let report = res?;
        let detail = format!("{report:?}");
        self.access
            .audit(actor, AuditAction::Gc, crate::auth::Target::detail(&detail))
            .await;
        Ok(report)
    }

    async fn collect(&self, lock: &JobLock<'_>) -> Result<GcReport> {
        let mut report = GcReport::default();
        let cutoff = crate::time::now_secs() - self.options.gc_grace.as_secs() as i64;

        lock.renew().await?;
        for id in self.store.gc_uploads(cutoff, crate::time::now_ms()).await? {
            self.blobs.upload_delete(&id).await?;
            report.uploads += 1;
        }
        report.manifests = self
            .store
            .gc_manifests(cutoff, self.options.gc_untagged)
            .await?;
        report.links = self.store.gc_links(cutoff).await?;

        loop {
            let until = lock.renew().await?;
            let marked = self
                .store
                .gc_mark_blobs(cutoff, crate::time::now_ms(), until, BATCH)
                .await?;
            if marked.is_empty() {
                break;
            }
            let digests: Vec<Digest> = marked.iter().map(|(d, _)| d.clone()).collect();
            self.blobs.delete(&digests).await?;
            self.store.gc_forget_blobs(&digests).await?;
            report.blobs += marked.len() as u64;
            report.bytes += marked.iter().map(|(_, size)| size).sum::<u64>();
        }

        // Bytes nobody recorded: listed before the records are read, so that a blob committed
        // in between is either recorded (and spared) or too young (and spared).
        let stored = self.blobs.list().await?;
        let known: HashSet<Digest> = self
            .store
            .blob_digests()
            .await?
            .into_iter()
            .map(|b| b.digest)
            .collect();
        let orphans: Vec<Digest> = stored
            .into_iter()
            .filter(|(d, modified)| *modified < cutoff && !known.contains(d))
            .map(|(d, _)| d)
            .collect();
        for batch in orphans.chunks(BATCH as usize) {
            let until = lock.renew().await?;
            let tombstoned = self.store.gc_tombstone_orphans(batch, until).await?;
            self.blobs.delete(&tombstoned).await?;
            self.store.gc_forget_blobs(&tombstoned).await?;
            report.orphans += tombstoned.len() as u64;
        }

        // Staging areas whose session is gone (a crash between the two).
        let staged = self.blobs.list_uploads().await?;
        let sessions: HashSet<String> = self.store.upload_ids().await?.into_iter().collect();
        for (id, modified) in staged {
            if modified < cutoff && !sessions.contains(&id) {
                self.blobs.upload_delete(&id).await?;
                report.uploads += 1;
            }
        }
        Ok(report)
    }

    /// Checks that every manifest's blobs and children exist and that no stored blob is
    /// unaccounted for (system administrators). Read-only.
    pub async fn fsck(&self, actor: &Actor) -> Result<FsckReport> {
        self.access.require_system_admin(actor)?;
        let dangling = self.store.dangling().await?;
        let stored = self.blobs.list().await?;
        let recorded = self.store.blob_digests().await?;
        let stored_set: HashSet<&Digest> = stored.iter().map(|(d, _)| d).collect();
        let recorded_set: HashSet<&Digest> = recorded.iter().map(|b| &b.digest).collect();
        // A tombstoned blob nothing links is GC at work; a linked one without bytes is what a
        // `HEAD` (answered from the records) and a `GET` (from the bytes) disagree on.
        let mut missing: Vec<Digest> = recorded
            .iter()
            .filter(|b| (b.linked || !b.tombstoned) && !stored_set.contains(&b.digest))
            .map(|b| b.digest.clone())
            .collect();
        let mut unaccounted: Vec<Digest> = stored
            .iter()
            .filter(|(d, _)| !recorded_set.contains(d))
            .map(|(d, _)| d.clone())
            .collect();
        missing.sort_by_key(Digest::to_string);
        unaccounted.sort_by_key(Digest::to_string);
        Ok(FsckReport {
            dangling,
            missing,
            unaccounted,
        })
    }
}
