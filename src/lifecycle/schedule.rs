//! Background work of `berth serve`: pull-count flushes, scheduled GC and each project's scheduled
//! retention, coordinated between replicas through the stores' locks.

use super::*;

impl Lifecycle {
    /// Spawns the background work of a server: writing gathered pull counts every `flush`,
    /// and GC on `gc_schedule` (the `gc` lock keeps replicas from running it twice at once).
    pub fn start_background(&self, flush: Duration, gc_schedule: Option<croner::Cron>) {
        if self.options.track_pulls {
            let lifecycle = self.clone();
            tokio::spawn(async move {
                let mut ticks = tokio::time::interval(flush);
                ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                loop {
                    ticks.tick().await;
                    if let Err(e) = lifecycle.flush_pulls().await {
                        tracing::warn!("writing pull counts failed (kept for the next try): {e}");
                    }
                }
            });
        }
        let lifecycle = self.clone();
        tokio::spawn(async move { lifecycle.retention_schedules().await });
        if let Some(cron) = gc_schedule {
            let lifecycle = self.clone();
            tokio::spawn(async move {
                let system = Actor::system();
                loop {
                    let now = crate::time::now_utc();
                    let Ok(next) = cron.find_next_occurrence(&now, false) else {
                        return;
                    };
                    let wait = (next - now).to_std().unwrap_or_default();
                    tokio::time::sleep(wait).await;
                    match lifecycle.gc(&system).await {
                        Ok(report) => tracing::info!(?report, "scheduled GC finished"),
                        Err(Error::Busy(_)) => {
                            tracing::info!("scheduled GC: another replica runs it")
                        }
                        Err(e) => tracing::error!("scheduled GC failed: {e}"),
                    }
                }
            });
        }
    }

    /// Runs each project's retention when its schedule comes due; looks every second (one
    /// small query), so that six-field schedules with seconds work too. The project's retention
    /// lock keeps replicas from running one project at the same time.
    pub(super) async fn retention_schedules(&self) {
        let system = Actor::system();
        let mut since = crate::time::now_utc();
        loop {
            tokio::time::sleep(Duration::from_secs(1)).await;
            let now = crate::time::now_utc();
            let schedules = match self.store.retention_schedules().await {
                Ok(schedules) => schedules,
                Err(e) => {
                    tracing::error!("reading retention schedules failed: {e}");
                    continue;
                }
            };
            for (project, schedule) in schedules {
                let due = parse_schedule(&schedule)
                    .ok()
                    .and_then(|cron| cron.find_next_occurrence(&since, false).ok())
                    .is_some_and(|next| next <= now);
                if !due {
                    continue;
                }
                match self.retention_run(&system, &project).await {
                    Ok(applied) => {
                        tracing::info!(project, deleted = applied.len(), "scheduled retention ran")
                    }
                    Err(Error::Busy(_)) => {}
                    Err(e) => tracing::error!(project, "scheduled retention failed: {e}"),
                }
            }
            since = now;
        }
    }
}
