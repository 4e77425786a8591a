//! `JobLock`: a lease on a named job (GC, a project's retention) held in the lifecycle store,
//! so that one replica at a time runs it; a holder that dies loses it when the lease runs out.

use std::time::Duration;

use super::{Error, Lifecycle, Result};

/// A store-held lease on a named job, renewed on demand.
pub(super) struct JobLock<'a> {
    lifecycle: &'a Lifecycle,
    name: String,
    holder: String,
    lease: Duration,
}

impl<'a> JobLock<'a> {
    pub(super) async fn take(
        lifecycle: &'a Lifecycle,
        name: &str,
        lease: Duration,
    ) -> Result<JobLock<'a>> {
        let lock = JobLock {
            lifecycle,
            name: name.to_owned(),
            holder: uuid::Uuid::new_v4().to_string(),
            lease,
        };
        lock.renew().await?;
        Ok(lock)
    }

    /// Extends the lease; fails if another holder took it (this one expired).
    pub(super) async fn renew(&self) -> Result<i64> {
        let now = crate::time::now_ms();
        let until = now + self.lease.as_millis() as i64;
        if !self
            .lifecycle
            .store
            .lock(&self.name, &self.holder, now, until)
            .await?
        {
            return Err(Error::Busy(self.name.clone()));
        }
        Ok(until)
    }

    pub(super) async fn release(self) -> Result<()> {
        Ok(self
            .lifecycle
            .store
            .unlock(&self.name, &self.holder)
            .await?)
    }
}
