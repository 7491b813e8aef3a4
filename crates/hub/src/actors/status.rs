//! The status board: what every tenant is doing, shared between the actors
//! that update it and the admin endpoint that reads it (on another runtime).
//! Never holds a secret: only ids, states, counts, times and error messages
//! the error types already keep secret-free.

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::{Duration, SystemTime};

use serde::{Deserialize, Serialize};

use crate::actors::instance::Trigger;
use crate::config::Setting;
use crate::history::{HISTORY_KEPT, HistoryEntry};
use crate::telemetry::metrics;
use conductorone::{RunnerStatus, SessionState};
use confluence::ConfluenceClient;

/// How the tenant is doing.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Health {
    Starting,
    Healthy,
    /// The last sync failed, or something that no sync clears (no client, a
    /// refused ConductorOne session) stands.
    Failing,
    /// Its actors keep dying; clears after a stable period without a restart.
    Degraded,
    Stopped,
}

impl Health {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Starting => "starting",
            Self::Healthy => "healthy",
            Self::Failing => "failing",
            Self::Degraded => "degraded",
            Self::Stopped => "stopped",
        }
    }
}

/// What the tenant is doing now.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Activity {
    Idle,
    Syncing,
    Provisioning,
}

impl Activity {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Idle => "idle",
            Self::Syncing => "syncing",
            Self::Provisioning => "provisioning",
        }
    }
}

/// The single `state` of `/status` and of the `confluence_hub_tenants{state}`
/// gauge: the health when it needs attention (or the tenant is not running),
/// else the activity.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum TenantState {
    Starting,
    Idle,
    Syncing,
    Provisioning,
    Failing,
    Degraded,
    Stopped,
}

impl TenantState {
    pub const ALL: [TenantState; 7] = [
        Self::Starting,
        Self::Idle,
        Self::Syncing,
        Self::Provisioning,
        Self::Failing,
        Self::Degraded,
        Self::Stopped,
    ];

    pub fn of(health: Health, activity: Activity) -> Self {
        match (health, activity) {
            (Health::Starting, _) => Self::Starting,
            (Health::Failing, _) => Self::Failing,
            (Health::Degraded, _) => Self::Degraded,
            (Health::Stopped, _) => Self::Stopped,
            (Health::Healthy, Activity::Idle) => Self::Idle,
            (Health::Healthy, Activity::Syncing) => Self::Syncing,
            (Health::Healthy, Activity::Provisioning) => Self::Provisioning,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Starting => "starting",
            Self::Idle => "idle",
            Self::Syncing => "syncing",
            Self::Provisioning => "provisioning",
            Self::Failing => "failing",
            Self::Degraded => "degraded",
            Self::Stopped => "stopped",
        }
    }
}

/// Why the next scheduled sync comes when it does.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum NextSyncReason {
    #[serde(rename = "schedule")]
    Schedule,
    #[serde(rename = "retry after failure")]
    RetryAfterFailure,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SyncOutcome {
    Ok,
    Error,
    Cancelled,
}

impl SyncOutcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ok => "ok",
            Self::Error => "error",
            Self::Cancelled => "cancelled",
        }
    }
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObjectCounts {
    pub user: u64,
    pub group: u64,
    pub space: u64,
    pub entitlement: u64,
    pub grant: u64,
}

/// One finished sync: `/status` shows the latest, the history keeps 50.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct LastSync {
    #[serde(with = "rfc3339")]
    pub started_at: SystemTime,
    #[serde(with = "rfc3339")]
    pub ended_at: SystemTime,
    pub outcome: SyncOutcome,
    pub duration_ms: u64,
    pub counts: ObjectCounts,
    /// Confluence requests, 429s and retries of this sync.
    pub requests: u64,
    pub rate_limited: u64,
    pub retries: u64,
    /// Time requests waited on the tenant's limiter and Retry-After, summed over requests.
    pub rate_limit_wait_ms: u64,
    /// Bytes of the finished c1z (0 when the sync failed).
    pub file_size: u64,
    pub trigger: Trigger,
    pub error: Option<String>,
}

#[derive(Clone, Debug, Serialize)]
pub struct TenantStatus {
    pub id: String,
    /// Derived from `health` and `activity`; kept for dashboards.
    pub state: TenantState,
    pub health: Health,
    pub activity: Activity,
    /// Bumped each time the tenant's actor tree is (re)built.
    pub generation: u64,
    pub consecutive_failures: u32,
    pub last_error: Option<String>,
    #[serde(with = "rfc3339_option")]
    pub next_sync_at: Option<SystemTime>,
    pub next_sync_reason: Option<NextSyncReason>,
    pub last_sync: Option<LastSync>,
    /// `"scheduler"` or `"conductorone"`.
    pub mode: &'static str,
    pub confluence_version: Option<String>,
    /// Child actors restarted since the tenant started.
    pub restarts: u32,
    /// Restarts since the last stable period; `degraded` counts these.
    pub restarts_in_a_row: u32,
    /// The ConductorOne session, for tenants in service mode.
    pub conductorone: Option<C1Status>,
    /// The tenant's request pacing, read live from its client at each look.
    #[serde(rename = "pacing", serialize_with = "live_pacing")]
    pub pacing_source: Option<ConfluenceClient>,
    /// The last syncs and provisioning tasks, oldest first; the console
    /// shows them, `/status` does not.
    #[serde(skip)]
    pub history: VecDeque<HistoryEntry>,
    /// The tenant's effective settings as the console shows them (no secret).
    #[serde(skip)]
    pub settings: Arc<[Setting]>,
}

fn live_pacing<S: serde::Serializer>(
    client: &Option<ConfluenceClient>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    client
        .as_ref()
        .map(ConfluenceClient::pacing)
        .serialize(serializer)
}

/// A tenant's ConductorOne session as `/status` shows it.
#[derive(Clone, Debug, Serialize)]
pub struct C1Status {
    /// `starting`, `connected`, `stopped` or `failed`.
    pub session: &'static str,
    pub running_tasks: Vec<RunningC1Task>,
    pub tasks_finished: u64,
    pub consecutive_poll_failures: u32,
    pub last_error: Option<String>,
}

#[derive(Clone, Debug, Serialize)]
pub struct RunningC1Task {
    pub id: String,
    pub task_type: &'static str,
    #[serde(with = "rfc3339")]
    pub started_at: SystemTime,
}

impl From<&RunnerStatus> for C1Status {
    fn from(status: &RunnerStatus) -> Self {
        Self {
            session: match status.state {
                SessionState::Starting => "starting",
                SessionState::Connected => "connected",
                SessionState::Stopped => "stopped",
                SessionState::Failed => "failed",
            },
            running_tasks: status
                .running
                .iter()
                .map(|task| RunningC1Task {
                    id: task.id.clone(),
                    task_type: task.task_type,
                    started_at: task.started_at,
                })
                .collect(),
            tasks_finished: status.tasks_finished,
            consecutive_poll_failures: status.consecutive_poll_failures,
            last_error: status.last_error.clone(),
        }
    }
}

impl TenantStatus {
    pub fn new(id: &str, generation: u64, mode: &'static str) -> Self {
        Self {
            id: id.to_owned(),
            state: TenantState::Starting,
            health: Health::Starting,
            activity: Activity::Idle,
            generation,
            consecutive_failures: 0,
            last_error: None,
            next_sync_at: None,
            next_sync_reason: None,
            last_sync: None,
            mode,
            confluence_version: None,
            restarts: 0,
            restarts_in_a_row: 0,
            conductorone: None,
            pacing_source: None,
            history: VecDeque::new(),
            settings: Arc::from(Vec::new()),
        }
    }

    /// When the current run of failed syncs began: the start of the oldest
    /// failed sync with no successful one after it, while the tenant fails.
    pub fn failing_since(&self) -> Option<SystemTime> {
        if self.consecutive_failures == 0 {
            return None;
        }
        self.history
            .iter()
            .rev()
            .filter_map(|entry| match entry {
                HistoryEntry::Sync(sync) => Some(sync),
                HistoryEntry::Task(_) => None,
            })
            .take_while(|sync| sync.outcome != SyncOutcome::Ok)
            .last()
            .map(|sync| sync.started_at)
    }

    /// Appends a finished sync or task, dropping the oldest past the limit.
    pub fn remember(&mut self, entry: HistoryEntry) {
        self.history.push_back(entry);
        while self.history.len() > HISTORY_KEPT {
            self.history.pop_front();
        }
    }

    /// Puts what an earlier run of the hub recorded before what this run
    /// has recorded so far; the latest loaded sync becomes `last_sync`
    /// when this run has none yet.
    pub fn adopt_history(&mut self, earlier: Vec<HistoryEntry>) {
        if self.last_sync.is_none() {
            self.last_sync = earlier.iter().rev().find_map(|entry| match entry {
                HistoryEntry::Sync(sync) => Some(sync.clone()),
                HistoryEntry::Task(_) => None,
            });
        }
        let recent = std::mem::take(&mut self.history);
        self.history = earlier.into();
        for entry in recent {
            self.remember(entry);
        }
        while self.history.len() > HISTORY_KEPT {
            self.history.pop_front();
        }
    }
}

#[derive(Clone, Debug, Serialize)]
pub struct ReloadStatus {
    pub ok: bool,
    pub error: Option<String>,
    #[serde(with = "rfc3339")]
    pub at: SystemTime,
    /// Changed keys that take effect only after a restart.
    pub needs_restart: Vec<&'static str>,
}

#[derive(Clone, Debug, Serialize)]
pub struct Board {
    pub config_generation: u64,
    pub last_reload: ReloadStatus,
    pub replica: u32,
    pub replicas: u32,
    /// True once the config is loaded and every assigned tenant has started.
    #[serde(skip)]
    pub ready: bool,
    #[serde(serialize_with = "tenants_as_list")]
    pub tenants: BTreeMap<String, TenantStatus>,
}

fn tenants_as_list<S: serde::Serializer>(
    tenants: &BTreeMap<String, TenantStatus>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    serializer.collect_seq(tenants.values())
}

/// Cheap to clone; all clones see the same board.
#[derive(Clone)]
pub struct StatusBoard(Arc<RwLock<Board>>);

impl StatusBoard {
    pub fn new(replica: u32, replicas: u32) -> Self {
        Self(Arc::new(RwLock::new(Board {
            config_generation: 0,
            last_reload: ReloadStatus {
                ok: true,
                error: None,
                at: SystemTime::now(),
                needs_restart: Vec::new(),
            },
            replica,
            replicas,
            ready: false,
            tenants: BTreeMap::new(),
        })))
    }

    // A poisoned lock only means a writer panicked mid-update of plain data;
    // the board stays usable, so recover the guard instead of propagating.
    fn read(&self) -> RwLockReadGuard<'_, Board> {
        self.0
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn write(&self) -> RwLockWriteGuard<'_, Board> {
        self.0
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    pub fn snapshot(&self) -> Board {
        self.read().clone()
    }

    /// Runs `look` on the board under the read lock: the console renders a
    /// thousand tenants without copying their histories.
    pub fn read_with<R>(&self, look: impl FnOnce(&Board) -> R) -> R {
        look(&self.read())
    }

    pub fn to_json(&self) -> serde_json::Value {
        serde_json::to_value(&*self.read()).unwrap_or_default()
    }

    pub fn is_ready(&self) -> bool {
        let board = self.read();
        board.ready
            && board
                .tenants
                .values()
                .all(|tenant| tenant.state != TenantState::Starting)
    }

    pub fn set_ready(&self, ready: bool) {
        self.write().ready = ready;
    }

    /// An applied config; `needs_restart` lists changed keys it cannot apply live.
    pub fn record_reload(&self, generation: u64, needs_restart: Vec<&'static str>) {
        let mut board = self.write();
        board.config_generation = generation;
        board.last_reload = ReloadStatus {
            ok: true,
            error: None,
            at: SystemTime::now(),
            needs_restart,
        };
    }

    pub fn record_rejected_reload(&self, error: String) {
        self.write().last_reload = ReloadStatus {
            ok: false,
            error: Some(error),
            at: SystemTime::now(),
            needs_restart: Vec::new(),
        };
    }

    pub fn tenant(&self, id: &str) -> Option<TenantStatus> {
        self.read().tenants.get(id).cloned()
    }

    /// Adds or replaces a tenant's entry.
    pub fn insert(&self, status: TenantStatus) {
        publish_state(&status.id, None, status.state);
        self.write().tenants.insert(status.id.clone(), status);
    }

    pub fn remove(&self, id: &str) {
        if let Some(old) = self.write().tenants.remove(id) {
            publish_state(id, Some(old.state), TenantState::Stopped);
            metrics::tenant_state(id, TenantState::Stopped.as_str(), false);
        }
    }

    /// Applies `change` to a tenant's entry, if it is on the board.
    pub fn update(&self, id: &str, change: impl FnOnce(&mut TenantStatus)) {
        let mut board = self.write();
        if let Some(status) = board.tenants.get_mut(id) {
            let before = status.state;
            change(status);
            if status.state != before {
                publish_state(id, Some(before), status.state);
            }
        }
    }
}

fn publish_state(id: &str, before: Option<TenantState>, after: TenantState) {
    if let Some(before) = before {
        metrics::tenant_state(id, before.as_str(), false);
    }
    metrics::tenant_state(id, after.as_str(), true);
}

pub fn duration_ms(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

/// RFC 3339 with millisecond precision, UTC.
pub fn format_rfc3339(time: SystemTime) -> String {
    let time = time::OffsetDateTime::from(time);
    let millis = time
        .replace_nanosecond(time.millisecond() as u32 * 1_000_000)
        .unwrap_or(time);
    millis
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_else(|_| String::from("1970-01-01T00:00:00Z"))
}

pub(crate) mod rfc3339 {
    use std::time::SystemTime;

    use serde::Deserialize;

    pub fn serialize<S: serde::Serializer>(time: &SystemTime, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&super::format_rfc3339(*time))
    }

    pub fn deserialize<'de, D: serde::Deserializer<'de>>(d: D) -> Result<SystemTime, D::Error> {
        let text = String::deserialize(d)?;
        time::OffsetDateTime::parse(&text, &time::format_description::well_known::Rfc3339)
            .map(SystemTime::from)
            .map_err(serde::de::Error::custom)
    }
}

pub(crate) mod rfc3339_option {
    use std::time::SystemTime;

    pub fn serialize<S: serde::Serializer>(
        time: &Option<SystemTime>,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        match time {
            Some(time) => s.serialize_str(&super::format_rfc3339(*time)),
            None => s.serialize_none(),
        }
    }
}

#[cfg(test)]
mod tests;
