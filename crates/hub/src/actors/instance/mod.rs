//! The Instance actor: one per tenant. It owns the tenant's Confluence client
//! and its children (three fetchers, and a Scheduler or the ConductorOne task
//! loop), runs at most one sync at a time, restarts dead children with
//! backoff, and stops gracefully: in-flight work gets a grace period, then is
//! cancelled and its temp files removed.

mod drain;
mod lifecycle;
mod messages;
mod record;

use std::path::PathBuf;
use std::time::{Duration, Instant, SystemTime};

use actix::{
    Actor, ActorContext, ActorFutureExt, AsyncContext, Context, Handler, ResponseActFuture,
    ResponseFuture, WrapFuture, fut,
};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use self::lifecycle::Lifecycle;
pub use self::lifecycle::LifecycleSettings;
pub use self::messages::{
    InstanceSpec, Mode, NextSync, RunSync, SessionEvent, Stop, SyncReport, SyncTarget, Trigger,
};
use super::child::{Child, ChildCheck, StopChild};
use super::fetcher::{GroupsFetcher, SpacesFetcher, UsersFetcher};
use super::provisioner::{Provision, ProvisionResponse, Provisioner};
use super::scheduler::{ScheduleSettings, Scheduler};
use super::status::{C1Status, TenantStatus};
use super::sync_job::{Fetchers, SyncJob};
use super::task_loop::{HubTaskHandler, TaskLoop};
use super::uploader::{Upload, Uploader};
use crate::provision;
use crate::sync::SyncError;
use conductorone::SessionState;
use conductorone::settings::C1Settings;
use conductorone::task::TaskError;
use conductorone::upload::{UploadError, upload_c1z};
use confluence::ConfluenceClient;

pub struct Instance {
    spec: InstanceSpec,
    client: Result<ConfluenceClient, String>,
    users: Option<Child<UsersFetcher>>,
    groups: Option<Child<GroupsFetcher>>,
    spaces: Option<Child<SpacesFetcher>>,
    scheduler: Option<Child<Scheduler>>,
    task_loop: Option<Child<TaskLoop>>,
    uploader: Option<Child<Uploader>>,
    provisioner: Option<Child<Provisioner>>,
    running: Option<RunningSync>,
    busy: watch::Sender<bool>,
    stopping: bool,
    lifecycle: Lifecycle,
}

/// The sync in flight: how to cancel it, when it began, and the client whose
/// answers show whether it is making progress.
struct RunningSync {
    cancel: CancellationToken,
    started: Instant,
    client: ConfluenceClient,
}

const SUPERVISE_EVERY: Duration = Duration::from_millis(500);

impl Instance {
    pub fn new(spec: InstanceSpec) -> Self {
        let client = ConfluenceClient::new(&spec.tenant.confluence).map_err(|err| err.to_string());
        let spec_lifecycle = spec.lifecycle;
        Self {
            spec,
            client,
            users: None,
            groups: None,
            spaces: None,
            scheduler: None,
            task_loop: None,
            uploader: None,
            provisioner: None,
            running: None,
            busy: watch::Sender::new(false),
            stopping: false,
            lifecycle: Lifecycle::new(spec_lifecycle),
        }
    }

    fn tenant(&self) -> &str {
        self.spec.tenant.id.as_str()
    }

    fn supervise(&mut self, ctx: &mut Context<Self>) {
        if self.stopping {
            return;
        }
        let now = Instant::now();
        let mut restarted = 0;
        restarted += u32::from(check_fetcher(&mut self.users, now));
        restarted += u32::from(check_fetcher(&mut self.groups, now));
        restarted += u32::from(check_fetcher(&mut self.spaces, now));
        if let Some(scheduler) = &mut self.scheduler {
            let spec = &self.spec;
            let check = scheduler.check(now, || scheduler_for(spec, ctx).start());
            restarted += u32::from(check == ChildCheck::Restarted);
        }
        if let Some(uploader) = &mut self.uploader {
            let tenant = self.spec.tenant.id.to_string();
            let check = uploader.check(now, || Uploader::new(tenant).start());
            restarted += u32::from(check == ChildCheck::Restarted);
        }
        if let (Some(provisioner), Ok(client)) = (&mut self.provisioner, &self.client) {
            let tenant = &self.spec.tenant;
            let check = provisioner.check(now, || {
                Provisioner::new(provision::Provisioner::new(client.clone(), tenant)).start()
            });
            restarted += u32::from(check == ChildCheck::Restarted);
        }
        if let (Some(task_loop), Some(settings)) =
            (&mut self.task_loop, &self.spec.tenant.conductorone)
        {
            let (spec, instance) = (&self.spec, ctx.address().downgrade());
            let check = task_loop.check(now, || task_loop_for(spec, settings, instance).start());
            restarted += u32::from(check == ChildCheck::Restarted);
        }
        let recovered = self.lifecycle.tick(now);
        self.lifecycle.restarted(restarted, now);
        if restarted > 0 || recovered {
            self.publish();
        }
    }

    fn fetchers(&self) -> Result<Fetchers, SyncError> {
        fn live<A: Actor>(
            phase: &'static str,
            child: &Option<Child<A>>,
        ) -> Result<actix::Addr<A>, SyncError> {
            child
                .as_ref()
                .and_then(Child::addr)
                .cloned()
                .ok_or(SyncError::FetcherLost {
                    phase,
                    detail: "it is not running".into(),
                })
        }
        Ok(Fetchers {
            users: live("user", &self.users)?,
            groups: live("group", &self.groups)?,
            spaces: live("space", &self.spaces)?,
        })
    }

    fn target_path(&self, target: &SyncTarget) -> PathBuf {
        match target {
            SyncTarget::Latest => self.spec.tenant_dir.join("latest.c1z"),
            SyncTarget::Path(path) => path.clone(),
        }
    }
}

fn stop_child<A>(child: &mut Option<Child<A>>)
where
    A: Actor<Context = Context<A>> + Handler<StopChild>,
{
    if let Some(addr) = child.as_mut().and_then(Child::take) {
        addr.do_send(StopChild);
    }
}

fn check_fetcher<A>(child: &mut Option<Child<A>>, now: Instant) -> bool
where
    A: Actor<Context = Context<A>> + Default,
{
    child
        .as_mut()
        .is_some_and(|child| child.check(now, || A::default().start()) == ChildCheck::Restarted)
}

impl Actor for Instance {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        let tenant = self.tenant().to_owned();
        // The Supervisor put the tenant on the board as `starting`; a
        // restarted Instance keeps the history already there.
        if self.spec.board.tenant(&tenant).is_none() {
            let status = TenantStatus::new(&tenant, self.spec.generation, self.spec.mode.label());
            self.spec.board.insert(status);
        }
        let client_error = self.client.as_ref().err().cloned();
        let pacing_source = self.client.as_ref().ok().cloned();
        let generation = self.spec.generation;
        self.spec.board.update(&tenant, |status| {
            status.generation = generation;
            status.pacing_source = pacing_source;
        });
        self.resume_lifecycle(client_error);
        // A re-created Instance finds its history on the board already.
        if !self.spec.restarted {
            self.load_history(ctx);
        }
        self.users = Some(Child::new("users fetcher", UsersFetcher::default().start()));
        self.groups = Some(Child::new(
            "groups fetcher",
            GroupsFetcher::default().start(),
        ));
        self.spaces = Some(Child::new(
            "spaces fetcher",
            SpacesFetcher::default().start(),
        ));
        if self.spec.mode == Mode::ConductorOne {
            self.uploader = Some(Child::new(
                "uploader",
                Uploader::new(tenant.clone()).start(),
            ));
            if let Ok(client) = &self.client {
                let engine = provision::Provisioner::new(client.clone(), &self.spec.tenant);
                self.provisioner =
                    Some(Child::new("provisioner", Provisioner::new(engine).start()));
            }
            if let Some(settings) = &self.spec.tenant.conductorone {
                let task_loop = task_loop_for(&self.spec, settings, ctx.address().downgrade());
                self.task_loop = Some(Child::new("task loop", task_loop.start()));
            }
        }
        if self.spec.mode == Mode::Scheduled {
            let scheduler = scheduler_for(&self.spec, ctx);
            self.scheduler = Some(Child::new("scheduler", scheduler.start()));
        }
        ctx.run_interval(SUPERVISE_EVERY, |instance, ctx| instance.supervise(ctx));
        tracing::info!(
            tenant,
            generation = self.spec.generation,
            mode = self.spec.mode.label(),
            "tenant started"
        );
    }

    fn stopped(&mut self, _: &mut Context<Self>) {
        tracing::info!(tenant = self.tenant(), "tenant stopped");
    }
}

impl Handler<RunSync> for Instance {
    type Result = ResponseActFuture<Self, Result<SyncReport, SyncError>>;

    fn handle(&mut self, request: RunSync, _: &mut Context<Self>) -> Self::Result {
        if self.stopping {
            return Box::pin(fut::ready(Err(SyncError::Stopping)));
        }
        if let Some(running) = &self.running {
            let started_ago = running.started.elapsed();
            return Box::pin(fut::ready(Err(SyncError::AlreadyRunning { started_ago })));
        }
        let client = match &self.client {
            Ok(client) => client.clone(),
            Err(err) => return Box::pin(fut::ready(Err(SyncError::Internal(err.clone())))),
        };
        let fetchers = match self.fetchers() {
            Ok(fetchers) => fetchers,
            Err(err) => return Box::pin(fut::ready(Err(err))),
        };
        let cancel = request.cancel.child_token();
        self.running = Some(RunningSync {
            cancel: cancel.clone(),
            started: Instant::now(),
            client: client.clone(),
        });
        self.busy.send_replace(true);
        self.lifecycle.sync_started();
        self.publish();

        let job = SyncJob {
            tenant: self.spec.tenant.clone(),
            client,
            final_path: self.target_path(&request.target),
            scope: request.scope,
            progress: request.progress,
            cancel,
            sync_slots: self.spec.sync_slots.clone(),
            fetchers,
            board: self.spec.board.clone(),
        };
        let trigger = request.trigger;
        let started_at = SystemTime::now();
        let span = tracing::info_span!(
            "sync",
            tenant = self.tenant(),
            trigger = trigger.label(),
            sync_id = tracing::field::Empty
        );
        Box::pin(
            job.run()
                .instrument(span)
                .into_actor(self)
                .map(move |result, instance, _| {
                    if let Some(running) = instance.running.take() {
                        // Their buffers would sit idle until the next sync.
                        running.client.release_idle_connections();
                    }
                    instance.busy.send_replace(false);
                    instance.record(trigger, started_at, &result);
                    result
                }),
        )
    }
}

impl Handler<Stop> for Instance {
    type Result = ResponseActFuture<Self, ()>;

    fn handle(&mut self, Stop { grace }: Stop, _: &mut Context<Self>) -> Self::Result {
        self.stopping = true;
        stop_child(&mut self.scheduler);
        // The session finishes or hands back its running tasks first, so
        // ConductorOne hears about every task before the tenant goes.
        let task_loop = self.task_loop.as_mut().and_then(Child::take);
        let running = self.running.as_ref().map(|running| drain::InFlight {
            cancel: running.cancel.clone(),
            busy: self.busy.subscribe(),
            client: running.client.clone(),
        });
        let tenant = self.tenant().to_owned();
        let drain = async move {
            if let Some(task_loop) = task_loop {
                let _ = task_loop.send(StopChild).await;
            }
            if let Some(sync) = running {
                drain::drain(&tenant, grace, sync).await;
            }
        };
        Box::pin(drain.into_actor(self).map(|(), instance, ctx| {
            stop_child(&mut instance.users);
            stop_child(&mut instance.groups);
            stop_child(&mut instance.spaces);
            stop_child(&mut instance.uploader);
            stop_child(&mut instance.provisioner);
            instance.lifecycle.stopped();
            instance.publish();
            instance.spec.board.update(instance.tenant(), |status| {
                status.next_sync_at = None;
                status.next_sync_reason = None;
                status.pacing_source = None;
            });
            ctx.stop();
        }))
    }
}

impl Handler<Provision> for Instance {
    type Result = ResponseActFuture<Self, Result<ProvisionResponse, TaskError>>;

    fn handle(&mut self, message: Provision, _: &mut Context<Self>) -> Self::Result {
        self.lifecycle.provisioning_started();
        self.publish();
        let task_type = message.request.label();
        let started_at = SystemTime::now();
        let provisioner = self.provisioner.as_ref().and_then(Child::addr).cloned();
        let unavailable = match &self.client {
            Err(err) => format!("the tenant's Confluence client could not be built: {err}"),
            Ok(_) => "the tenant's provisioner is restarting; retry the task".to_owned(),
        };
        let work = async move {
            let Some(provisioner) = provisioner else {
                return Err(TaskError::new(tonic::Code::Unavailable, unavailable));
            };
            provisioner
                .send(message)
                .await
                .unwrap_or_else(|_| Err(TaskError::new(tonic::Code::Unavailable, unavailable)))
        };
        Box::pin(work.into_actor(self).map(move |result, instance, _| {
            instance.lifecycle.provisioning_finished();
            instance.record_task(task_type, started_at, result.as_ref().err());
            instance.publish();
            result
        }))
    }
}

impl Handler<Upload> for Instance {
    type Result = ResponseFuture<Result<u64, UploadError>>;

    fn handle(&mut self, upload: Upload, _: &mut Context<Self>) -> Self::Result {
        let uploader = self.uploader.as_ref().and_then(Child::addr).cloned();
        let tenant = self.tenant().to_owned();
        Box::pin(async move {
            if let Some(uploader) = uploader
                && let Ok(result) = uploader.send(upload.clone()).await
            {
                return result;
            }
            // No Uploader right now (it is being restarted): upload from
            // here rather than fail a finished sync.
            upload_c1z(&upload.client, &tenant, &upload.task_id, &upload.path).await
        })
    }
}

impl Handler<NextSync> for Instance {
    type Result = ();

    fn handle(&mut self, next: NextSync, _: &mut Context<Self>) {
        self.spec.board.update(self.tenant(), |status| {
            status.next_sync_at = next.at;
            status.next_sync_reason = next.at.map(|_| next.reason);
        });
    }
}

impl Handler<SessionEvent> for Instance {
    type Result = ();

    fn handle(&mut self, event: SessionEvent, _: &mut Context<Self>) {
        match event {
            SessionEvent::Status(snapshot) => {
                if snapshot.state == SessionState::Connected {
                    self.lifecycle.session_connected();
                }
                self.spec.board.update(self.tenant(), |status| {
                    status.conductorone = Some(C1Status::from(&*snapshot));
                });
            }
            SessionEvent::Refused(error) => self.lifecycle.session_refused(error),
        }
        self.publish();
    }
}

/// The tenant's Scheduler, reporting to this Instance.
fn scheduler_for(spec: &InstanceSpec, ctx: &Context<Instance>) -> Scheduler {
    let instance = ctx.address().downgrade();
    Scheduler::new(
        spec.tenant.id.to_string(),
        instance.clone().recipient(),
        instance.recipient(),
        ScheduleSettings {
            interval: spec.tenant.sync.interval,
            failure_retry_base: spec.lifecycle.failure_retry_base,
        },
    )
}

/// The tenant's ConductorOne session actor.
fn task_loop_for(
    spec: &InstanceSpec,
    settings: &C1Settings,
    instance: actix::WeakAddr<Instance>,
) -> TaskLoop {
    let handler = HubTaskHandler {
        syncs: instance.clone().recipient(),
        provisioning: instance.clone().recipient(),
        uploads: instance.clone().recipient(),
        tasks_dir: spec.tenant_dir.join("tasks"),
    };
    TaskLoop::new(
        settings.clone(),
        provision::connector_metadata(&spec.tenant),
        handler,
        instance.recipient(),
    )
}

#[cfg(test)]
mod tests;
