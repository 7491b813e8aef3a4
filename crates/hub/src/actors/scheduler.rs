//! The Scheduler of a tenant without ConductorOne credentials: a local sync
//! every `sync_interval` (first one shortly after start), each with a little
//! jitter so tenants started together spread out, writing
//! `<data_dir>/<tenant>/latest.c1z`.

use std::time::{Duration, Instant, SystemTime};

use actix::{
    Actor, ActorContext, ActorFutureExt, AsyncContext, Context, Handler, SpawnHandle,
    WeakRecipient, WrapFuture,
};
use rand::Rng;

use super::child::StopChild;
use super::instance::{RunSync, SyncTarget, Trigger};
use super::status::StatusBoard;
use crate::sync::SyncError;

pub struct Scheduler {
    tenant: String,
    /// The tenant's Instance, weakly: the Instance owns this actor.
    instance: WeakRecipient<RunSync>,
    interval: Duration,
    board: StatusBoard,
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

impl Scheduler {
    pub fn new(
        tenant: String,
        instance: WeakRecipient<RunSync>,
        interval: Duration,
        board: StatusBoard,
    ) -> Self {
        Self {
            tenant,
            instance,
            interval,
            board,
            timer: None,
        }
    }

    fn schedule(&mut self, ctx: &mut Context<Self>, delay: Duration) {
        let next = SystemTime::now() + delay;
        self.board
            .update(&self.tenant, |status| status.next_sync_at = Some(next));
        self.timer = Some(ctx.run_later(delay, |scheduler, ctx| scheduler.tick(ctx)));
    }

    fn tick(&mut self, ctx: &mut Context<Self>) {
        let Some(instance) = self.instance.upgrade() else {
            ctx.stop();
            return;
        };
        let started = Instant::now();
        self.board
            .update(&self.tenant, |status| status.next_sync_at = None);
        let request = RunSync::new(Trigger::Schedule, SyncTarget::Latest);
        let run = instance.send(request).into_actor(self).map(move |result, scheduler, ctx| {
            match result {
                Ok(Ok(_)) | Ok(Err(SyncError::Stopping)) => {}
                Ok(Err(SyncError::AlreadyRunning { .. })) => {
                    tracing::info!(tenant = %scheduler.tenant, "scheduled sync skipped: a sync is already running");
                }
                // The Instance has logged and recorded the failure.
                Ok(Err(_)) => {}
                Err(_) => {
                    ctx.stop();
                    return;
                }
            }
            let delay = scheduler.interval.saturating_sub(started.elapsed()) + jitter(scheduler.interval);
            scheduler.schedule(ctx, delay);
        });
        ctx.spawn(run);
    }
}

impl Actor for Scheduler {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        let first = jitter(self.interval).min(Duration::from_secs(5));
        self.schedule(ctx, first);
    }

    fn stopped(&mut self, _: &mut Context<Self>) {
        self.board
            .update(&self.tenant, |status| status.next_sync_at = None);
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
}
