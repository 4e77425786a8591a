//! Pull tracking without slowing pulls: a pull only bumps a counter in memory; a background
//! task writes the gathered counts in one transaction per flush. Counts are added in the
//! store, so replicas each flush their own and the totals stay right.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

use crate::digest::Digest;
use crate::storage::Result;
use crate::storage::lifecycle::{LifecycleStore, Pulls};

type Key = (String, Digest, Option<String>);

/// Pulls gathered since the last flush.
#[derive(Default)]
pub struct PullRecorder {
    pending: Mutex<HashMap<Key, (u64, i64)>>,
}

impl PullRecorder {
    /// Counts one pull of `digest` in `repository`, by `tag` if it was pulled by tag.
    pub fn record(&self, repository: &str, digest: &Digest, tag: Option<&str>) {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs() as i64);
        let key = (
            repository.to_owned(),
            digest.clone(),
            tag.map(str::to_owned),
        );
        let mut pending = self.pending.lock().unwrap_or_else(|e| e.into_inner());
        let entry = pending.entry(key).or_insert((0, now));
        entry.0 += 1;
        entry.1 = now;
    }

    /// Writes what was gathered. On failure the counts are put back for the next flush.
    pub async fn flush(&self, store: &dyn LifecycleStore) -> Result<()> {
        let taken = std::mem::take(&mut *self.pending.lock().unwrap_or_else(|e| e.into_inner()));
        if taken.is_empty() {
            return Ok(());
        }
        let pulls: Vec<Pulls> = taken
            .iter()
            .map(|((repository, digest, tag), (count, at))| Pulls {
                repository: repository.clone(),
                digest: digest.clone(),
                tag: tag.clone(),
                count: *count,
                at: *at,
            })
            .collect();
        let res = store.record_pulls(&pulls).await;
        if res.is_err() {
            let mut pending = self.pending.lock().unwrap_or_else(|e| e.into_inner());
            for (key, (count, at)) in taken {
                let entry = pending.entry(key).or_insert((0, at));
                entry.0 += count;
                entry.1 = entry.1.max(at);
            }
        }
        res
    }
}
