//! Pull tracking without slowing pulls: a pull only bumps a counter in memory; a background
//! task writes the gathered counts in one transaction per flush. Counts are added in the
//! store, so replicas each flush their own and the totals stay right.

use std::cell::RefCell;
use std::collections::HashMap;
use std::fmt::Write as _;
use std::sync::Mutex;

use crate::oci::digest::Digest;
use crate::storage::lifecycle::{LifecycleStore, Pulls};
use crate::storage::{Error, Result};

/// Pulls gathered since the last flush, keyed by `repository \n digest \n tag` (the tag empty
/// for a pull by digest; names, digests and tags never hold a newline), so that counting a
/// pull of a key already seen allocates nothing.
#[derive(Default)]
pub struct PullRecorder {
    pending: Mutex<HashMap<String, (u64, i64)>>,
}

thread_local! {
    /// The key being looked up, reused across pulls on this thread.
    static KEY: RefCell<String> = const { RefCell::new(String::new()) };
}

impl PullRecorder {
    /// Counts one pull of `digest` in `repository`, by `tag` if it was pulled by tag.
    pub fn record(&self, repository: &str, digest: &Digest, tag: Option<&str>) {
        let now = crate::time::now_secs();
        KEY.with_borrow_mut(|key| {
            key.clear();
            let _ = write!(key, "{repository}\n{digest}\n{}", tag.unwrap_or(""));
            let mut pending = self.pending.lock().unwrap_or_else(|e| e.into_inner());
            match pending.get_mut(key.as_str()) {
                Some(entry) => *entry = (entry.0 + 1, now),
                None => {
                    pending.insert(key.clone(), (1, now));
                }
            }
        });
    }

    /// Writes what was gathered. On failure the counts are put back for the next flush.
    pub async fn flush(&self, store: &dyn LifecycleStore) -> Result<()> {
        let taken = std::mem::take(&mut *self.pending.lock().unwrap_or_else(|e| e.into_inner()));
        if taken.is_empty() {
            return Ok(());
        }
        let pulls = taken
            .iter()
            .map(|(key, (count, at))| {
                let mut fields = key.splitn(3, '\n');
                let (repository, digest) = (fields.next(), fields.next());
                let tag = fields.next().filter(|t| !t.is_empty());
                let digest = digest.and_then(|d| d.parse().ok());
                let (Some(repository), Some(digest)) = (repository, digest) else {
                    return Err(Error::Corrupt(format!("pull key {key:?}")));
                };
                Ok(Pulls {
                    repository: repository.to_owned(),
                    digest,
                    tag: tag.map(str::to_owned),
                    count: *count,
                    at: *at,
                })
            })
            .collect::<Result<Vec<_>>>()?;
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
