//! The Supervisor: owns the validated config, this replica's shard of the
//! tenants and one Instance per tenant, spread round-robin over the worker
//! arbiters. It applies reloads as a diff (unchanged tenants are not touched),
//! re-creates Instances that die, and drives graceful shutdown.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix::{
    Actor, ActorFutureExt, Addr, Arbiter, ArbiterHandle, AsyncContext, Context, Handler, Message,
    ResponseActFuture, WrapFuture, fut,
};
use serde::Serialize;
use tokio::sync::Semaphore;

use super::child::{Child, ChildCheck};
use super::instance::{
    Instance, InstanceSpec, LifecycleSettings, Mode, RunSync, Stop, SyncTarget, Trigger,
};
use super::shard::replica_for;
use super::status::{Activity, StatusBoard, TenantStatus};
use crate::config::{ConfigError, HubConfig, TenantConfig, TenantId, diff, effective_settings};
use crate::history::HistoryLog;
use crate::telemetry::metrics;

struct TenantSlot {
    config: TenantConfig,
    instance: Child<Instance>,
    arbiter: ArbiterHandle,
    generation: u64,
}

pub struct Supervisor {
    config: Arc<HubConfig>,
    generation: u64,
    ordinal: u32,
    board: StatusBoard,
    arbiters: Vec<Arbiter>,
    next_arbiter: usize,
    sync_slots: Arc<Semaphore>,
    tenants: BTreeMap<TenantId, TenantSlot>,
    next_instance_generation: u64,
    lifecycle: LifecycleSettings,
    history: HistoryLog,
    shutting_down: bool,
}

impl Supervisor {
    pub fn new(
        config: HubConfig,
        ordinal: u32,
        board: StatusBoard,
        lifecycle: LifecycleSettings,
        history: HistoryLog,
    ) -> Self {
        let workers = config.hub.workers;
        Self {
            arbiters: (0..workers).map(|_| Arbiter::new()).collect(),
            sync_slots: Arc::new(Semaphore::new(config.hub.max_concurrent_syncs)),
            config: Arc::new(config),
            generation: 1,
            ordinal,
            board,
            next_arbiter: 0,
            tenants: BTreeMap::new(),
            next_instance_generation: 1,
            lifecycle,
            history,
            shutting_down: false,
        }
    }

    /// The tenants of `config` this replica serves.
    fn assigned(&self, config: &HubConfig) -> Vec<TenantConfig> {
        config
            .tenants
            .iter()
            .filter(|tenant| {
                replica_for(tenant.id.as_str(), config.sharding.replicas) == self.ordinal
            })
            .cloned()
            .collect()
    }

    fn instance_parts(&self) -> InstanceParts {
        InstanceParts {
            data_dir: self.config.hub.data_dir.clone(),
            board: self.board.clone(),
            sync_slots: self.sync_slots.clone(),
            lifecycle: self.lifecycle,
            history: self.history.clone(),
        }
    }

    fn start_tenant(&mut self, tenant: TenantConfig) {
        if tenant.confluence.sends_credentials_in_clear() {
            tracing::warn!(
                tenant = %tenant.id,
                "base_url is plain http to another host (allow_insecure_http = true): the Confluence token or password travels unencrypted; move the tenant to https"
            );
        }
        let arbiter = self.arbiters[self.next_arbiter % self.arbiters.len()].handle();
        self.next_arbiter += 1;
        let generation = self.next_instance_generation;
        self.next_instance_generation += 1;
        let spec = self.instance_parts().spec(&tenant, generation, false);
        let mut status = TenantStatus::new(tenant.id.as_str(), generation, spec.mode.label());
        status.settings = effective_settings(&tenant).into();
        self.board.insert(status);
        let addr = start_instance(&arbiter, spec);
        let id = tenant.id.clone();
        let slot = TenantSlot {
            config: tenant,
            instance: Child::new("instance", addr),
            arbiter,
            generation,
        };
        self.tenants.insert(id, slot);
    }

    fn supervise(&mut self) {
        if self.shutting_down {
            return;
        }
        let now = Instant::now();
        let parts = self.instance_parts();
        for (id, slot) in &mut self.tenants {
            let next_generation = self.next_instance_generation;
            // Built only for a restart: this runs for every tenant twice a
            // second, and the spec clones the tenant's whole config.
            let start = || {
                let spec = parts.spec(&slot.config, next_generation, true);
                start_instance(&slot.arbiter, spec)
            };
            if slot.instance.check(now, start) == ChildCheck::Restarted {
                self.next_instance_generation += 1;
                slot.generation = next_generation;
                let restarts = slot.instance.restarts();
                // The new Instance counts the restart in its tenant's state.
                tracing::warn!(tenant = %id, generation = next_generation, restarts, "tenant instance restarted");
            }
        }
    }
}

/// What every Instance of this hub is built with, besides its tenant.
struct InstanceParts {
    data_dir: PathBuf,
    board: StatusBoard,
    sync_slots: Arc<Semaphore>,
    lifecycle: LifecycleSettings,
    history: HistoryLog,
}

impl InstanceParts {
    fn spec(&self, tenant: &TenantConfig, generation: u64, restarted: bool) -> InstanceSpec {
        InstanceSpec {
            tenant_dir: self.data_dir.join(tenant.id.as_str()),
            tenant: tenant.clone(),
            generation,
            mode: Mode::for_tenant(tenant),
            board: self.board.clone(),
            sync_slots: self.sync_slots.clone(),
            lifecycle: self.lifecycle,
            restarted,
            history: Some(self.history.clone()),
        }
    }
}

fn start_instance(arbiter: &ArbiterHandle, spec: InstanceSpec) -> Addr<Instance> {
    Instance::start_in_arbiter(arbiter, move |_| Instance::new(spec))
}

impl Actor for Supervisor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        for tenant in self.assigned(&self.config.clone()) {
            self.start_tenant(tenant);
        }
        self.board.record_reload(self.generation, Vec::new());
        self.board.set_ready(true);
        tracing::info!(
            tenants = self.tenants.len(),
            replica = self.ordinal,
            replicas = self.config.sharding.replicas,
            workers = self.arbiters.len(),
            "hub started"
        );
        ctx.run_interval(Duration::from_millis(500), |supervisor, _| {
            supervisor.supervise()
        });
    }
}

/// What a reload did.
#[derive(Clone, Debug, Serialize)]
pub struct ReloadReport {
    pub ok: bool,
    pub generation: u64,
    pub added: Vec<String>,
    pub removed: Vec<String>,
    pub changed: Vec<String>,
    pub unchanged: Vec<String>,
    pub needs_restart: Vec<&'static str>,
}

/// Apply a freshly loaded, fully validated config.
#[derive(Message)]
#[rtype(result = "Result<ReloadReport, String>")]
pub struct ApplyConfig(pub Box<HubConfig>);

impl Handler<ApplyConfig> for Supervisor {
    type Result = ResponseActFuture<Self, Result<ReloadReport, String>>;

    fn handle(&mut self, ApplyConfig(new): ApplyConfig, _: &mut Context<Self>) -> Self::Result {
        if self.shutting_down {
            return Box::pin(fut::ready(Err("the hub is shutting down".to_owned())));
        }
        let old_assigned: Vec<TenantConfig> = self
            .tenants
            .values()
            .map(|slot| slot.config.clone())
            .collect();
        let new_assigned = self.assigned(&new);
        let changes = diff(&self.config, &new, &old_assigned, &new_assigned);
        let reload_grace = new.hub.reload_grace;
        self.config = Arc::new(*new);
        self.generation += 1;
        for key in &changes.needs_restart {
            tracing::warn!(key, "changed setting takes effect only after a restart");
        }

        let mut stopping = Vec::new();
        for id in changes.removed.iter().chain(&changes.changed) {
            if let Some(mut slot) = self.tenants.remove(id)
                && let Some(addr) = slot.instance.take()
            {
                stopping.push((id.clone(), addr));
            }
        }
        for id in &changes.added {
            if let Some(tenant) = new_assigned.iter().find(|tenant| &tenant.id == id) {
                self.start_tenant(tenant.clone());
            }
        }
        let restart: Vec<TenantConfig> = new_assigned
            .iter()
            .filter(|tenant| changes.changed.contains(&tenant.id))
            .cloned()
            .collect();
        let removed = changes.removed.clone();
        let report = ReloadReport {
            ok: true,
            generation: self.generation,
            added: ids(&changes.added),
            removed: ids(&changes.removed),
            changed: ids(&changes.changed),
            unchanged: ids(&changes.unchanged),
            needs_restart: changes.needs_restart.clone(),
        };
        self.board
            .record_reload(self.generation, changes.needs_restart.clone());
        metrics::config_reload("ok");
        tracing::info!(
            generation = self.generation,
            added = ?report.added,
            removed = ?report.removed,
            changed = ?report.changed,
            unchanged = report.unchanged.len(),
            "config reloaded"
        );

        let stops = futures::future::join_all(stopping.into_iter().map(move |(_, addr)| {
            addr.send(Stop {
                grace: reload_grace,
            })
        }));
        Box::pin(stops.into_actor(self).map(move |_, supervisor, _| {
            for id in &removed {
                supervisor.board.remove(id.as_str());
            }
            // Changed tenants come back only after their old Instance ended,
            // so two versions of a tenant never run at once.
            if !supervisor.shutting_down {
                for tenant in restart {
                    supervisor.start_tenant(tenant);
                }
            }
            Ok(report)
        }))
    }
}

fn ids(ids: &[TenantId]) -> Vec<String> {
    ids.iter().map(ToString::to_string).collect()
}

/// A reload whose file did not validate: nothing changes, the error is kept.
#[derive(Message)]
#[rtype(result = "()")]
pub struct RejectConfig(pub ConfigError);

impl Handler<RejectConfig> for Supervisor {
    type Result = ();

    fn handle(&mut self, RejectConfig(error): RejectConfig, _: &mut Context<Self>) {
        for problem in error.problems() {
            tracing::error!(file = %self.config.source.display(), problem = %problem, "config reload rejected; the running config stays");
        }
        metrics::config_reload("error");
        self.board.record_rejected_reload(error.to_string());
    }
}

/// Why an operator's "sync now" is not offered for ConductorOne tenants.
pub const CONDUCTORONE_SCHEDULES: &str = "ConductorOne schedules this tenant's syncs (service mode): start one from ConductorOne, which hands the task to this hub.";

/// Why "sync now" did not start a sync.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SyncNowError {
    UnknownTenant,
    /// The tenant exists but cannot sync now; the text says why and what to do.
    Refused(String),
}

/// An operator's "sync now" of one scheduled tenant; answered once the
/// sync is asked for (the Instance records how it ends).
#[derive(Message)]
#[rtype(result = "Result<(), SyncNowError>")]
pub struct SyncNow(pub String);

impl Handler<SyncNow> for Supervisor {
    type Result = Result<(), SyncNowError>;

    fn handle(&mut self, SyncNow(id): SyncNow, _: &mut Context<Self>) -> Self::Result {
        let refused = |why: &str| Err(SyncNowError::Refused(why.to_owned()));
        if self.shutting_down {
            return refused("the hub is shutting down");
        }
        let Some(slot) = TenantId::parse(&id)
            .ok()
            .and_then(|tenant| self.tenants.get(&tenant))
        else {
            return Err(SyncNowError::UnknownTenant);
        };
        if Mode::for_tenant(&slot.config) == Mode::ConductorOne {
            return refused(CONDUCTORONE_SCHEDULES);
        }
        let syncing = self
            .board
            .tenant(&id)
            .is_some_and(|status| status.activity == Activity::Syncing);
        if syncing {
            return refused(
                "a sync of this tenant is running already; its result shows in the history when it ends",
            );
        }
        let Some(instance) = slot.instance.addr() else {
            return refused("the tenant is restarting; try again in a few seconds");
        };
        instance.do_send(RunSync::new(Trigger::Manual, SyncTarget::Latest));
        Ok(())
    }
}

/// Stop everything: in-flight syncs get `grace`, then are cancelled.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Shutdown {
    pub grace: Duration,
}

impl Handler<Shutdown> for Supervisor {
    type Result = ResponseActFuture<Self, ()>;

    fn handle(&mut self, Shutdown { grace }: Shutdown, _: &mut Context<Self>) -> Self::Result {
        if self.shutting_down {
            return Box::pin(fut::ready(()));
        }
        self.shutting_down = true;
        self.board.set_ready(false);
        tracing::info!(?grace, tenants = self.tenants.len(), "shutting down");
        let stops: Vec<_> = self
            .tenants
            .values_mut()
            .filter_map(|slot| slot.instance.take())
            .map(|addr| addr.send(Stop { grace }))
            .collect();
        let data_dir = self.config.hub.data_dir.clone();
        Box::pin(
            futures::future::join_all(stops)
                .into_actor(self)
                .map(move |_, supervisor, _| {
                    remove_temp_files(&data_dir);
                    for arbiter in &supervisor.arbiters {
                        arbiter.stop();
                    }
                    tracing::info!("all tenants stopped");
                }),
        )
    }
}

/// Removes leftover `*.tmp` files (of crashed or cancelled syncs) under the
/// data dir; finished files are never touched. Symbolic links are never
/// followed: a link with a temp name is removed itself, its target never.
pub fn remove_temp_files(data_dir: &Path) {
    for dir in real_directories_under(data_dir) {
        remove_entries(&dir, "temp file", |name| {
            Path::new(name).extension().is_some_and(|ext| ext == "tmp") || name.contains(".tmp-")
        });
    }
}

/// Removes the c1z files of ConductorOne tasks a crash left in each tenant's
/// `tasks` directory; run at start, before any task can be running.
pub fn remove_leftover_task_files(data_dir: &Path) {
    for tenant_dir in real_subdirectories(data_dir) {
        let tasks = tenant_dir.join("tasks");
        if std::fs::symlink_metadata(&tasks).is_ok_and(|metadata| metadata.is_dir()) {
            remove_entries(&tasks, "task file", |name| name.ends_with(".c1z"));
        }
    }
}

/// The directories below `root` (not `root` itself), reached without
/// following a symbolic link.
fn real_directories_under(root: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut pending = real_subdirectories(root);
    while let Some(dir) = pending.pop() {
        pending.extend(real_subdirectories(&dir));
        found.push(dir);
    }
    found
}

fn real_subdirectories(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    // DirEntry::file_type does not follow links: a link to a directory is not one.
    entries
        .flatten()
        .filter(|entry| entry.file_type().is_ok_and(|kind| kind.is_dir()))
        .map(|entry| entry.path())
        .collect()
}

/// Removes the files and links of `dir` whose names `matches`; the link
/// itself goes, never what it points at.
fn remove_entries(dir: &Path, what: &str, matches: impl Fn(&str) -> bool) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let removable = entry
            .file_type()
            .is_ok_and(|kind| kind.is_file() || kind.is_symlink());
        if !removable || !entry.file_name().to_str().is_some_and(&matches) {
            continue;
        }
        let path = entry.path();
        match std::fs::remove_file(&path) {
            Ok(()) => tracing::info!(path = %path.display(), "removed leftover {what}"),
            Err(err) => {
                tracing::warn!(path = %path.display(), error = %err, "cannot remove leftover {what}")
            }
        }
    }
}
