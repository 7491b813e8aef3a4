//! A tenant's state machine, owned by its Instance: health (how the tenant is
//! doing) apart from activity (what it is doing now). Pure, so every
//! transition is unit-tested; the Instance publishes the result to the board.

use std::time::{Duration, Instant};

use crate::actors::status::{Activity, Health};

/// Named settings of the state machine and of the retry after a failure.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LifecycleSettings {
    /// Restarts of the tenant's actors, with no stable period between them,
    /// that make it `degraded`.
    pub degraded_after_restarts: u32,
    /// Time without a restart after which a `degraded` tenant recovers.
    pub stable_period: Duration,
    /// First wait after a failed scheduled sync; doubles with each failure
    /// in a row, up to the tenant's `sync_interval`.
    pub failure_retry_base: Duration,
}

/// Five restarts: one panic is a bug to log, five in a row are a tenant an
/// operator must look at.
pub const DEGRADED_AFTER_RESTARTS: u32 = 5;
/// Ten minutes without a restart: long enough to cover several syncs.
pub const STABLE_PERIOD: Duration = Duration::from_secs(600);
/// 30 s: a transient failure is retried within a minute.
pub const FAILURE_RETRY_BASE: Duration = Duration::from_secs(30);

impl Default for LifecycleSettings {
    fn default() -> Self {
        Self {
            degraded_after_restarts: DEGRADED_AFTER_RESTARTS,
            stable_period: STABLE_PERIOD,
            failure_retry_base: FAILURE_RETRY_BASE,
        }
    }
}

/// Internal knobs, not config keys: tests shorten the retry base and the
/// stable period with these, in milliseconds.
pub const FAILURE_RETRY_BASE_ENV: &str = "HUB_FAILURE_RETRY_BASE_MS";
pub const STABLE_PERIOD_ENV: &str = "HUB_STABLE_PERIOD_MS";

impl LifecycleSettings {
    /// The defaults, with the internal knobs applied when set.
    pub fn from_env() -> Self {
        let millis = |name: &str| {
            std::env::var(name)
                .ok()
                .and_then(|value| value.trim().parse::<u64>().ok())
                .filter(|millis| *millis > 0)
                .map(Duration::from_millis)
        };
        let defaults = Self::default();
        Self {
            failure_retry_base: millis(FAILURE_RETRY_BASE_ENV)
                .unwrap_or(defaults.failure_retry_base),
            stable_period: millis(STABLE_PERIOD_ENV).unwrap_or(defaults.stable_period),
            ..defaults
        }
    }
}

/// What an Instance that died left on the board for its successor.
#[derive(Clone, Debug, Default)]
pub struct Resumed {
    pub consecutive_failures: u32,
    pub last_error: Option<String>,
    pub restarts: u32,
    pub restarts_in_a_row: u32,
}

/// How a sync ended, as far as health is concerned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SyncEnd {
    Succeeded,
    Failed,
    Cancelled,
}

#[derive(Clone, Debug)]
pub struct Lifecycle {
    settings: LifecycleSettings,
    started: bool,
    stopped: bool,
    syncing: bool,
    provisioning: u32,
    consecutive_failures: u32,
    last_error: Option<String>,
    /// A failure that no sync clears (no client, a refused session).
    standing_error: Option<String>,
    restarts: u32,
    restarts_in_a_row: u32,
    last_restart: Option<Instant>,
}

impl Lifecycle {
    pub fn new(settings: LifecycleSettings) -> Self {
        Self {
            settings,
            started: false,
            stopped: false,
            syncing: false,
            provisioning: 0,
            consecutive_failures: 0,
            last_error: None,
            standing_error: None,
            restarts: 0,
            restarts_in_a_row: 0,
            last_restart: None,
        }
    }

    /// Carries over what a restarted Instance's predecessor published.
    pub fn resume(&mut self, previous: Resumed) {
        self.consecutive_failures = previous.consecutive_failures;
        self.last_error = previous.last_error;
        self.restarts = previous.restarts;
        self.restarts_in_a_row = previous.restarts_in_a_row;
    }

    /// Restarts since the last stable period (what `degraded` counts).
    pub fn restarts_in_a_row(&self) -> u32 {
        self.restarts_in_a_row
    }

    pub fn health(&self) -> Health {
        if self.stopped {
            Health::Stopped
        } else if self.restarts_in_a_row >= self.settings.degraded_after_restarts {
            Health::Degraded
        } else if self.consecutive_failures > 0 || self.standing_error.is_some() {
            Health::Failing
        } else if !self.started {
            Health::Starting
        } else {
            Health::Healthy
        }
    }

    pub fn activity(&self) -> Activity {
        if self.syncing {
            Activity::Syncing
        } else if self.provisioning > 0 {
            Activity::Provisioning
        } else {
            Activity::Idle
        }
    }

    pub fn consecutive_failures(&self) -> u32 {
        self.consecutive_failures
    }

    pub fn restarts(&self) -> u32 {
        self.restarts
    }

    /// The error an operator should read first: a standing one, else the
    /// last sync's, else why the tenant is degraded.
    pub fn last_error(&self) -> Option<String> {
        if let Some(error) = self.standing_error.as_ref().or(self.last_error.as_ref()) {
            return Some(error.clone());
        }
        (self.health() == Health::Degraded).then(|| {
            format!(
                "the tenant's actors were restarted {} times in a row; see the logs for the panics",
                self.restarts_in_a_row
            )
        })
    }

    /// The Instance is up; `client_error` says why it can never sync.
    pub fn started(&mut self, client_error: Option<String>) {
        self.started = true;
        self.standing_error = client_error;
    }

    pub fn sync_started(&mut self) {
        self.syncing = true;
    }

    pub fn sync_finished(&mut self, end: SyncEnd, error: Option<String>) {
        self.syncing = false;
        match end {
            SyncEnd::Succeeded => {
                self.consecutive_failures = 0;
                self.last_error = None;
            }
            SyncEnd::Failed => {
                self.consecutive_failures = self.consecutive_failures.saturating_add(1);
                self.last_error = error;
            }
            SyncEnd::Cancelled => {}
        }
    }

    pub fn provisioning_started(&mut self) {
        self.provisioning += 1;
    }

    pub fn provisioning_finished(&mut self) {
        self.provisioning = self.provisioning.saturating_sub(1);
    }

    /// The ConductorOne session was refused for good (bad credentials).
    pub fn session_refused(&mut self, error: String) {
        self.standing_error = Some(error);
    }

    /// The ConductorOne session is connected, so no refusal stands.
    pub fn session_connected(&mut self) {
        self.standing_error = None;
    }

    /// `count` of the tenant's actors were re-created at `now`.
    pub fn restarted(&mut self, count: u32, now: Instant) {
        if count == 0 {
            return;
        }
        self.restarts = self.restarts.saturating_add(count);
        self.restarts_in_a_row = self.restarts_in_a_row.saturating_add(count);
        self.last_restart = Some(now);
    }

    /// Forgets restarts older than the stable period; true when that
    /// changed the health.
    pub fn tick(&mut self, now: Instant) -> bool {
        let stable = self
            .last_restart
            .is_some_and(|at| now.saturating_duration_since(at) >= self.settings.stable_period);
        if !stable || self.restarts_in_a_row == 0 {
            return false;
        }
        let before = self.health();
        self.restarts_in_a_row = 0;
        before != self.health()
    }

    pub fn stopped(&mut self) {
        self.stopped = true;
        self.syncing = false;
        self.provisioning = 0;
    }
}

#[cfg(test)]
mod tests;
