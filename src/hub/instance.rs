//! The Instance actor: one per tenant. It owns the tenant's Confluence client
//! and its children (three fetchers, and a Scheduler or the ConductorOne task
//! loop), runs at most one sync at a time, restarts dead children with
//! backoff, and stops gracefully: in-flight work gets a grace period, then is
//! cancelled and its temp files removed.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use actix::{
    Actor, ActorContext, ActorFutureExt, Addr, AsyncContext, Context, Handler, Message,
    ResponseActFuture, ResponseFuture, WeakAddr, WrapFuture, fut,
};
use tokio::sync::{Semaphore, watch};
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use super::child::{Child, ChildCheck, StopChild};
use super::fetcher::{Fetch, Fetcher, GroupsFetcher, Phase, SpacesFetcher, UsersFetcher};
use super::provisioner::{Provision, ProvisionResponse, Provisioner};
use super::scheduler::Scheduler;
use super::status::{
    DEGRADED_AFTER_RESTARTS, LastSync, ObjectCounts, StatusBoard, SyncOutcome, TenantState,
    TenantStatus, duration_ms,
};
use super::task_loop::{HubTaskHandler, TaskLoop};
use super::uploader::{Upload, Uploader};
use super::writer::{AbortWriter, CreateWriter, FinishWriter, PoolSink, WriterPool};
use crate::baton::model::{self, ResourceKind};
use crate::c1z::{SyncType, WriterOptions};
use crate::conductorone::settings::C1Settings;
use crate::conductorone::task::TaskError;
use crate::conductorone::upload::{UploadError, upload_c1z};
use crate::config::TenantConfig;
use crate::confluence::{ClientStats, ConfluenceClient};
use crate::provision;
use crate::sync::{Batch, Directories, Progress, Skipped, SyncContext, SyncError, SyncScope};
use crate::telemetry::metrics;

/// Why a sync runs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Trigger {
    Schedule,
    ConductorOne { task_id: String },
    OneShot,
}

impl Trigger {
    pub fn label(&self) -> &'static str {
        match self {
            Self::Schedule => "schedule",
            Self::ConductorOne { .. } => "conductorone",
            Self::OneShot => "oneshot",
        }
    }
}

/// Where the finished c1z goes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SyncTarget {
    /// `<data_dir>/<tenant>/latest.c1z`, replaced only once the new file is complete.
    Latest,
    Path(PathBuf),
}

/// The live addresses of the three fetchers, for one sync.
type Fetchers = (Addr<UsersFetcher>, Addr<GroupsFetcher>, Addr<SpacesFetcher>);

/// What a finished sync produced.
#[derive(Clone, Debug)]
pub struct SyncReport {
    pub sync_id: String,
    pub path: PathBuf,
    pub file_size: u64,
    pub sha256: [u8; 32],
    pub counts: ObjectCounts,
    pub skipped: Skipped,
    pub client: ClientStats,
    pub duration: Duration,
}

/// Run one sync now; refused with `AlreadyRunning` while another runs.
#[derive(Message)]
#[rtype(result = "Result<SyncReport, SyncError>")]
pub struct RunSync {
    pub trigger: Trigger,
    pub target: SyncTarget,
    pub scope: SyncScope,
    /// Cancels the sync from outside (a ConductorOne `cancelled` heartbeat).
    pub cancel: CancellationToken,
    /// Live counters the caller may watch (progress bars).
    pub progress: Arc<Progress>,
}

impl RunSync {
    pub fn new(trigger: Trigger, target: SyncTarget) -> Self {
        Self {
            trigger,
            target,
            scope: SyncScope::default(),
            cancel: CancellationToken::new(),
            progress: Arc::new(Progress::default()),
        }
    }
}

/// Stop the tenant: in-flight work gets `grace`, then is cancelled.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Stop {
    pub grace: Duration,
}

/// How the tenant gets its work.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Local syncs every `sync_interval`.
    Scheduled,
    /// ConductorOne hands out syncs and provisioning tasks.
    ConductorOne,
    /// Syncs only when asked (the one-shot `sync` command).
    OnDemand,
}

impl Mode {
    /// Service mode when the tenant has ConductorOne credentials, else a schedule.
    pub fn for_tenant(tenant: &TenantConfig) -> Self {
        if tenant.conductorone.is_some() {
            Self::ConductorOne
        } else {
            Self::Scheduled
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Self::Scheduled => "scheduler",
            Self::ConductorOne => "conductorone",
            Self::OnDemand => "on-demand",
        }
    }
}

/// Everything an Instance is built from; `Send`, so it can cross to the
/// arbiter the Instance runs on.
#[derive(Clone)]
pub struct InstanceSpec {
    pub tenant: TenantConfig,
    pub generation: u64,
    pub mode: Mode,
    pub tenant_dir: PathBuf,
    pub board: StatusBoard,
    pub writers: Addr<WriterPool>,
    /// Hub-wide bound on syncs running at once.
    pub sync_slots: Arc<Semaphore>,
}

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
    running: Option<(CancellationToken, Instant)>,
    busy: watch::Sender<bool>,
    stopping: bool,
}

const SUPERVISE_EVERY: Duration = Duration::from_millis(500);

impl Instance {
    pub fn new(spec: InstanceSpec) -> Self {
        let client = ConfluenceClient::new(&spec.tenant.confluence).map_err(|err| err.to_string());
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
            let weak = ctx.address().downgrade();
            let check = scheduler.check(now, || {
                Scheduler::new(
                    spec.tenant.id.to_string(),
                    weak,
                    spec.tenant.sync.interval,
                    spec.board.clone(),
                )
                .start()
            });
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
        if restarted > 0 {
            self.spec
                .board
                .update(self.spec.tenant.id.as_str(), |status| {
                    status.restarts += restarted;
                    if status.restarts >= DEGRADED_AFTER_RESTARTS {
                        status.state = TenantState::Degraded;
                        status.last_error = Some(format!(
                            "child actors restarted {} times; see the logs for the panics",
                            status.restarts
                        ));
                    }
                });
        }
    }

    fn fetchers(&self) -> Result<Fetchers, SyncError> {
        fn live<P: Phase>(
            child: &Option<Child<Fetcher<P>>>,
        ) -> Result<Addr<Fetcher<P>>, SyncError> {
            child
                .as_ref()
                .and_then(Child::addr)
                .cloned()
                .ok_or(SyncError::FetcherLost {
                    phase: P::NAME,
                    detail: "it is not running".into(),
                })
        }
        Ok((live(&self.users)?, live(&self.groups)?, live(&self.spaces)?))
    }

    fn target_path(&self, target: &SyncTarget) -> PathBuf {
        match target {
            SyncTarget::Latest => self.spec.tenant_dir.join("latest.c1z"),
            SyncTarget::Path(path) => path.clone(),
        }
    }

    fn record(
        &self,
        trigger: &Trigger,
        started_at: SystemTime,
        result: &Result<SyncReport, SyncError>,
    ) {
        let tenant = self.tenant();
        let ended_at = SystemTime::now();
        let took = ended_at.duration_since(started_at).unwrap_or_default();
        let (outcome, error) = match result {
            Ok(_) => (SyncOutcome::Ok, None),
            Err(SyncError::Cancelled) => (SyncOutcome::Cancelled, None),
            Err(err) => (SyncOutcome::Error, Some(err.to_string())),
        };
        let (counts, client, file_size) = match result {
            Ok(report) => (report.counts.clone(), report.client, report.file_size),
            Err(_) => (ObjectCounts::default(), ClientStats::default(), 0),
        };
        metrics::sync_finished(tenant, trigger.label(), outcome.as_str(), took);
        match result {
            Ok(report) => {
                for (kind, count) in [
                    ("user", report.counts.user),
                    ("group", report.counts.group),
                    ("space", report.counts.space),
                    ("entitlement", report.counts.entitlement),
                    ("grant", report.counts.grant),
                ] {
                    metrics::objects_synced(tenant, kind, count);
                }
                for (reason, count) in &report.skipped.0 {
                    metrics::rows_skipped(tenant, reason.label(), *count);
                }
                tracing::info!(
                    tenant,
                    sync_id = %report.sync_id,
                    trigger = trigger.label(),
                    users = report.counts.user,
                    groups = report.counts.group,
                    spaces = report.counts.space,
                    entitlements = report.counts.entitlement,
                    grants = report.counts.grant,
                    skipped = report.skipped.total(),
                    requests = report.client.requests,
                    rate_limited = report.client.rate_limited,
                    retries = report.client.retries,
                    bytes = report.file_size,
                    duration_ms = duration_ms(report.duration),
                    path = %report.path.display(),
                    "sync finished",
                );
            }
            Err(SyncError::Cancelled) => {
                tracing::warn!(tenant, trigger = trigger.label(), "sync cancelled")
            }
            Err(err) => {
                tracing::error!(tenant, trigger = trigger.label(), error = %err, "sync failed")
            }
        }
        self.spec.board.record_sync(
            tenant,
            LastSync {
                started_at,
                ended_at,
                outcome,
                duration_ms: duration_ms(took),
                counts,
                requests: client.requests,
                rate_limited: client.rate_limited,
                retries: client.retries,
                rate_limit_wait_ms: duration_ms(client.rate_limit_wait),
                file_size,
                trigger: trigger.label().to_owned(),
                error,
            },
        );
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

fn check_fetcher<P: Phase>(child: &mut Option<Child<Fetcher<P>>>, now: Instant) -> bool {
    child.as_mut().is_some_and(|child| {
        child.check(now, || Fetcher::<P>::default().start()) == ChildCheck::Restarted
    })
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
            match client_error {
                None => status.state = TenantState::Idle,
                Some(err) => {
                    status.state = TenantState::Failing;
                    status.consecutive_failures += 1;
                    status.last_error = Some(err);
                }
            }
        });
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
            let scheduler = Scheduler::new(
                tenant.clone(),
                ctx.address().downgrade(),
                self.spec.tenant.sync.interval,
                self.spec.board.clone(),
            );
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
        if let Some((_, started)) = &self.running {
            let started_ago = started.elapsed();
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
        self.running = Some((cancel.clone(), Instant::now()));
        self.busy.send_replace(true);
        self.spec
            .board
            .update(self.tenant(), |status| status.state = TenantState::Syncing);

        let job = SyncJob {
            tenant: self.spec.tenant.clone(),
            client,
            final_path: self.target_path(&request.target),
            scope: request.scope,
            progress: request.progress,
            cancel,
            writers: self.spec.writers.clone(),
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
                    instance.running = None;
                    instance.busy.send_replace(false);
                    instance.record(&trigger, started_at, &result);
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
        let running = self.running.as_ref().map(|(cancel, _)| cancel.clone());
        let mut idle = self.busy.subscribe();
        let tenant = self.tenant().to_owned();
        let drain = async move {
            if let Some(task_loop) = task_loop {
                let _ = task_loop.send(StopChild).await;
            }
            let Some(cancel) = running else { return };
            if tokio::time::timeout(grace, idle.wait_for(|busy| !busy))
                .await
                .is_err()
            {
                tracing::warn!(
                    tenant,
                    ?grace,
                    "in-flight sync did not finish within the grace period; cancelling it"
                );
                cancel.cancel();
                // Cancellation aborts the writer and removes its temp files;
                // wait for that so nothing partial is left behind.
                let _ = idle.wait_for(|busy| !busy).await;
            }
        };
        Box::pin(drain.into_actor(self).map(|(), instance, ctx| {
            stop_child(&mut instance.users);
            stop_child(&mut instance.groups);
            stop_child(&mut instance.spaces);
            stop_child(&mut instance.uploader);
            stop_child(&mut instance.provisioner);
            instance.spec.board.update(instance.tenant(), |status| {
                status.state = TenantState::Stopped;
                status.next_sync_at = None;
                status.pacing_source = None;
            });
            ctx.stop();
        }))
    }
}

impl Handler<Provision> for Instance {
    type Result = ResponseFuture<Result<ProvisionResponse, TaskError>>;

    fn handle(&mut self, message: Provision, _: &mut Context<Self>) -> Self::Result {
        let provisioner = self.provisioner.as_ref().and_then(Child::addr).cloned();
        let unavailable = match &self.client {
            Err(err) => format!("the tenant's Confluence client could not be built: {err}"),
            Ok(_) => "the tenant's provisioner is restarting; retry the task".to_owned(),
        };
        Box::pin(async move {
            let Some(provisioner) = provisioner else {
                return Err(TaskError::new(tonic::Code::Unavailable, unavailable));
            };
            provisioner
                .send(message)
                .await
                .unwrap_or_else(|_| Err(TaskError::new(tonic::Code::Unavailable, unavailable)))
        })
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

/// The tenant's ConductorOne session actor.
fn task_loop_for(
    spec: &InstanceSpec,
    settings: &C1Settings,
    instance: WeakAddr<Instance>,
) -> TaskLoop {
    let handler = HubTaskHandler {
        instance,
        tasks_dir: spec.tenant_dir.join("tasks"),
    };
    TaskLoop::new(
        settings.clone(),
        provision::connector_metadata(&spec.tenant),
        handler,
        spec.board.clone(),
    )
}

impl<P: Phase> Handler<StopChild> for Fetcher<P> {
    type Result = ();

    fn handle(&mut self, _: StopChild, ctx: &mut Context<Self>) {
        ctx.stop();
    }
}

/// One sync, from creating the writer to the renamed file. Plain async code
/// running in the Instance's context; it talks to the fetchers and the writer
/// pool by messages only.
struct SyncJob {
    tenant: TenantConfig,
    client: ConfluenceClient,
    final_path: PathBuf,
    scope: SyncScope,
    progress: Arc<Progress>,
    cancel: CancellationToken,
    writers: Addr<WriterPool>,
    sync_slots: Arc<Semaphore>,
    fetchers: Fetchers,
    board: StatusBoard,
}

impl SyncJob {
    async fn run(self) -> Result<SyncReport, SyncError> {
        let started = Instant::now();
        let _slot = tokio::select! {
            slot = self.sync_slots.clone().acquire_owned() => slot.map_err(|_| SyncError::Stopping)?,
            () = self.cancel.cancelled() => return Err(SyncError::Cancelled),
        };
        let stats_before = self.client.stats();
        // A bad token is answered as the anonymous user, not with a 401:
        // check who we are first, so it fails as bad credentials.
        self.client.current_user().await?;
        let version = self.client.version().await?;
        self.board.update(self.tenant.id.as_str(), |status| {
            status.confluence_version = Some(version.to_string());
        });

        let sync_type = if self.scope.skip_entitlements_and_grants {
            SyncType::ResourcesOnly
        } else {
            SyncType::Full
        };
        let options = WriterOptions {
            sync_type,
            expand_grants: self.scope.expand_grants,
            ..WriterOptions::default()
        };
        let sync_id = options.sync_id.clone();
        if let Some(dir) = self.final_path.parent() {
            tokio::fs::create_dir_all(dir).await.map_err(|err| {
                SyncError::Internal(format!(
                    "cannot create {}: {err}; check that the data dir is writable",
                    dir.display()
                ))
            })?;
        }
        tracing::Span::current().record("sync_id", sync_id.as_str());
        let writer = self
            .writers
            .send(CreateWriter {
                final_path: self.final_path.clone(),
                options,
            })
            .await
            .map_err(|err| SyncError::WriterLost(err.to_string()))??;

        let context = Arc::new(SyncContext {
            tenant: self.tenant.id.to_string(),
            sync_id: sync_id.clone(),
            client: self.client.clone(),
            settings: self.tenant.sync.clone(),
            scope: self.scope.clone(),
            sink: Arc::new(PoolSink {
                pool: self.writers.clone(),
                writer: writer.clone(),
            }),
            directories: Directories::default(),
            progress: self.progress.clone(),
            cancel: self.cancel.clone(),
            concurrency: self.tenant.confluence.concurrency_ceiling(),
        });

        let fetched = self.fetch_all(&context).await;
        // The fetchers hold clones of the context; make sure nothing writes
        // after this point, whatever happened.
        self.cancel.cancel();
        if let Err(err) = fetched {
            let _ = self.writers.send(AbortWriter(writer)).await;
            return Err(err);
        }
        let finished = self
            .writers
            .send(FinishWriter(writer))
            .await
            .map_err(|err| SyncError::WriterLost(err.to_string()))??;
        let snapshot = self.progress.snapshot();
        Ok(SyncReport {
            sync_id,
            path: finished.path,
            file_size: finished.size,
            sha256: finished.sha256,
            counts: ObjectCounts {
                user: snapshot.users,
                group: snapshot.groups,
                space: snapshot.spaces,
                entitlement: snapshot.entitlements,
                // The file's count: grant expansion adds grants no fetcher sent.
                grant: finished.counts.grants,
            },
            skipped: snapshot.skipped,
            client: self.client.stats().since(&stats_before),
            duration: started.elapsed(),
        })
    }

    /// Runs the three phases at once; the first failure cancels the others,
    /// and all three have returned before this does.
    async fn fetch_all(&self, context: &Arc<SyncContext>) -> Result<(), SyncError> {
        if self.tenant.sync.skip_full_sync {
            // Baton's `--skip-full-sync`: a sync run that starts and ends with no data.
            tracing::info!(
                tenant = self.tenant.id.as_str(),
                "skip_full_sync is set: writing an empty full sync"
            );
            return Ok(());
        }
        let types: Vec<_> = ResourceKind::ALL
            .into_iter()
            .filter(|kind| self.scope.includes(*kind))
            .map(model::resource_type)
            .collect();
        context.put(Batch::ResourceTypes(types)).await?;

        let (users, groups, spaces) = &self.fetchers;
        let results = futures::join!(
            self.phase::<super::fetcher::Users>(users, context),
            self.phase::<super::fetcher::Groups>(groups, context),
            self.phase::<super::fetcher::Spaces>(spaces, context),
        );
        // Report the failure that caused the others to be cancelled, not
        // the cancellations themselves.
        let mut cancelled = false;
        for result in [results.0, results.1, results.2] {
            match result {
                Ok(()) => {}
                Err(SyncError::Cancelled) => cancelled = true,
                Err(err) => return Err(err),
            }
        }
        if cancelled {
            Err(SyncError::Cancelled)
        } else {
            Ok(())
        }
    }

    async fn phase<P: Phase>(
        &self,
        fetcher: &Addr<Fetcher<P>>,
        context: &Arc<SyncContext>,
    ) -> Result<(), SyncError> {
        let result = match fetcher.send(Fetch(context.clone())).await {
            Ok(result) => result,
            Err(err) => Err(SyncError::FetcherLost {
                phase: P::NAME,
                detail: err.to_string(),
            }),
        };
        if result.is_err() {
            self.cancel.cancel();
        }
        result
    }
}
