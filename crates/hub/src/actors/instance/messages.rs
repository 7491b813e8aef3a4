//! What an Instance is built from and the messages it answers: run a sync,
//! stop. (Provisioning and uploads arrive as the Provisioner's and the
//! Uploader's own messages, which the Instance routes.)

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use actix::Message;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;

use super::lifecycle::LifecycleSettings;
use crate::actors::status::{NextSyncReason, ObjectCounts, StatusBoard};
use crate::config::TenantConfig;
use crate::history::HistoryLog;
use crate::sync::{Progress, Skipped, SyncError, SyncScope};
use conductorone::RunnerStatus;
use confluence::ClientStats;

/// Why a sync runs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Trigger {
    Schedule,
    ConductorOne {
        task_id: String,
    },
    OneShot,
    /// An operator's "sync now" (the console, or a script with the admin token).
    Manual,
}

/// `/status` shows the label; a task id is in the logs.
impl serde::Serialize for Trigger {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.label())
    }
}

/// Read back from a tenant's history file, which keeps the label only: a
/// ConductorOne sync comes back without its task id.
impl<'de> serde::Deserialize<'de> for Trigger {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let label = <String as serde::Deserialize>::deserialize(deserializer)?;
        match label.as_str() {
            "schedule" => Ok(Self::Schedule),
            "conductorone" => Ok(Self::ConductorOne {
                task_id: String::new(),
            }),
            "oneshot" => Ok(Self::OneShot),
            "manual" => Ok(Self::Manual),
            other => Err(serde::de::Error::custom(format!(
                "unknown sync trigger `{other}`"
            ))),
        }
    }
}

impl Trigger {
    pub fn label(&self) -> &'static str {
        match self {
            Self::Schedule => "schedule",
            Self::ConductorOne { .. } => "conductorone",
            Self::OneShot => "oneshot",
            Self::Manual => "manual",
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
    /// Hub-wide bound on syncs running at once.
    pub sync_slots: Arc<Semaphore>,
    pub lifecycle: LifecycleSettings,
    /// True when the Supervisor re-creates an Instance that died.
    pub restarted: bool,
    /// Where finished syncs and tasks are recorded; `None` for a one-shot sync.
    pub history: Option<HistoryLog>,
}

/// What the Scheduler decided about the next sync.
#[derive(Message)]
#[rtype(result = "()")]
pub struct NextSync {
    pub at: Option<SystemTime>,
    pub reason: NextSyncReason,
}

/// The ConductorOne session, as far as the tenant's health goes.
#[derive(Message)]
#[rtype(result = "()")]
pub enum SessionEvent {
    /// The session's latest snapshot, shown on `/status`.
    Status(Box<RunnerStatus>),
    /// Refused for good; the message says why and what to do.
    Refused(String),
}
