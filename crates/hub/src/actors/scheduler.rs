//! The Scheduler of a tenant without ConductorOne credentials: a local sync
//! every `sync_interval` (first one shortly after start), each with a little
//! jitter so tenants started together spread out, writing
//! `<data_dir>/<tenant>/latest.c1z`. After a failed sync the next attempt
//! comes sooner, backing off: `min(sync_interval, base × 2^(failures−1))`.

use std::time::{Duration, Instant, SystemTime};

use actix::{
    Actor, ActorContext, ActorFutureExt, AsyncContext, Context, Handler, SpawnHandle,
    WeakRecipient, WrapFuture,
};
use platform::backoff::{BackoffPolicy, Jitter};
use rand::Rng;

use super::child::StopChild;
use super::instance::{NextSync, RunSync, SyncTarget, Trigger};
use super::status::NextSyncReason;
use crate::sync::SyncError;

/// When the Scheduler runs syncs.
#[derive(Clone, Copy, Debug)]
pub struct ScheduleSettings {
    pub interval: Duration,
    /// The first wait after a failed sync.
    pub failure_retry_base: Duration,
}

pub struct Scheduler {
    tenant: String,
    /// The tenant's Instance, weakly: the Instance owns this actor.
    instance: WeakRecipient<RunSync>,
    /// Where the next sync's time goes (the Instance publishes it).
    next_sync: WeakRecipient<NextSync>,
    settings: ScheduleSettings,
    /// Scheduled syncs that failed in a row.
    failures: u32,
    timer: Option<SpawnHandle>,
}

/// Jitter is at most 5 % of the interval and never more than a minute, so
/// a schedule stays well inside "on time".
fn jitter(interval: Duration) -> Duration {
    let cap = (interval / 20).min(Duration::from_secs(60));
    if cap.is_zero() {
        return Duration::ZERO;
    }
    cap.mul_f64(rand::rng().random_range(0.0..1.0))
}

/// The wait before the next attempt after `failures` failed syncs in a row:
/// `min(interval, base × 2^(failures−1))`, drawn from its upper half (equal
/// jitter) so tenants that failed together spread out while the waits grow.
pub fn retry_after_failure(settings: &ScheduleSettings, failures: u32) -> Duration {
    BackoffPolicy::new(settings.failure_retry_base, settings.interval)
        .with_jitter(Jitter::Equal)
        .delay(failures)
}

impl Scheduler {
    pub fn new(
        tenant: String,
        instance: WeakRecipient<RunSync>,
        next_sync: WeakRecipient<NextSync>,
        settings: ScheduleSettings,
    ) -> Self {
        Self {
            tenant,
            instance,
            next_sync,
            settings,
            failures: 0,
            timer: None,
        }
    }

    fn schedule(&mut self, ctx: &mut Context<Self>, delay: Duration, reason: NextSyncReason) {
        self.announce(Some(SystemTime::now() + delay), reason);
        self.timer = Some(ctx.run_later(delay, |scheduler, ctx| scheduler.tick(ctx)));
    }

    fn announce(&self, at: Option<SystemTime>, reason: NextSyncReason) {
        if let Some(next_sync) = self.next_sync.upgrade() {
            next_sync.do_send(NextSync { at, reason });
        }
    }

    fn tick(&mut self, ctx: &mut Context<Self>) {
        let Some(instance) = self.instance.upgrade() else {
            ctx.stop();
            return;
        };
        let started = Instant::now();
        self.announce(None, NextSyncReason::Schedule);
        let request = RunSync::new(Trigger::Schedule, SyncTarget::Latest);
        let run = instance.send(request).into_actor(self).map(move |result, scheduler, ctx| {
            let failed = match result {
                Ok(Ok(_)) => false,
                Ok(Err(SyncError::Stopping | SyncError::Cancelled)) => return,
                Ok(Err(SyncError::AlreadyRunning { .. })) => {
                    tracing::info!(tenant = %scheduler.tenant, "scheduled sync skipped: a sync is already running");
                    false
                }
                // The Instance has logged and recorded the failure.
                Ok(Err(_)) => true,
                Err(_) => {
                    ctx.stop();
                    return;
                }
            };
            let interval = scheduler.settings.interval;
            if failed {
                scheduler.failures = scheduler.failures.saturating_add(1);
                let delay = retry_after_failure(&scheduler.settings, scheduler.failures);
                tracing::info!(tenant = %scheduler.tenant, failures = scheduler.failures, ?delay, "scheduled sync failed; retrying after backoff");
                scheduler.schedule(ctx, delay, NextSyncReason::RetryAfterFailure);
            } else {
                scheduler.failures = 0;
                let delay = interval.saturating_sub(started.elapsed()) + jitter(interval);
                scheduler.schedule(ctx, delay, NextSyncReason::Schedule);
            }
        });
        ctx.spawn(run);
    }
}

impl Actor for Scheduler {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        let first = jitter(self.settings.interval).min(Duration::from_secs(5));
        self.schedule(ctx, first, NextSyncReason::Schedule);
    }

    fn stopped(&mut self, _: &mut Context<Self>) {
        self.announce(None, NextSyncReason::Schedule);
    }
}

impl Handler<StopChild> for Scheduler {
    type Result = ();

    fn handle(&mut self, _: StopChild, ctx: &mut Context<Self>) {
        if let Some(timer) = self.timer.take() {
            ctx.cancel_future(timer);
        }
        ctx.stop();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jitter_stays_within_five_percent_and_a_minute() {
        for _ in 0..100 {
            assert!(jitter(Duration::from_secs(10)) <= Duration::from_millis(500));
            assert!(jitter(Duration::from_secs(6 * 3600)) <= Duration::from_secs(60));
        }
        assert_eq!(jitter(Duration::ZERO), Duration::ZERO);
    }

    #[test]
    fn retries_after_failure_double_from_thirty_seconds_up_to_the_interval() {
        let settings = ScheduleSettings {
            interval: Duration::from_secs(3600),
            failure_retry_base: Duration::from_secs(30),
        };
        for (failures, ceiling) in [(1, 30), (2, 60), (3, 120), (7, 1920), (8, 3600), (40, 3600)] {
            for _ in 0..50 {
                let delay = retry_after_failure(&settings, failures);
                let ceiling = Duration::from_secs(ceiling);
                assert!(
                    delay <= ceiling && delay >= ceiling / 2,
                    "{failures}: {delay:?}"
                );
            }
        }
        let short = ScheduleSettings {
            interval: Duration::from_secs(10),
            ..settings
        };
        assert!(retry_after_failure(&short, 1) <= Duration::from_secs(10));
    }
}
