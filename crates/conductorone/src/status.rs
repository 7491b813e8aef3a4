//! What a tenant's ConductorOne session is doing right now, for `/status`
//! and the hub's supervisor: a snapshot behind a `watch` channel, so readers
//! never block the runner.

use std::time::SystemTime;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SessionState {
    /// Building the client and sending the startup Hello.
    Starting,
    /// Hello accepted; polling for tasks.
    Connected,
    /// Stopped on request.
    Stopped,
    /// Stopped on a permanent error (see `last_error`).
    Failed,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RunningTask {
    pub id: String,
    pub task_type: &'static str,
    pub started_at: SystemTime,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RunnerStatus {
    pub state: SessionState,
    pub running: Vec<RunningTask>,
    /// The most recent problem (Hello retries, poll failures, fatal errors);
    /// cleared by the next successful poll.
    pub last_error: Option<String>,
    pub consecutive_poll_failures: u32,
    pub tasks_finished: u64,
}

impl RunnerStatus {
    pub(crate) fn starting() -> Self {
        Self {
            state: SessionState::Starting,
            running: Vec::new(),
            last_error: None,
            consecutive_poll_failures: 0,
            tasks_finished: 0,
        }
    }

    /// Connected with nothing to do.
    pub fn is_idle(&self) -> bool {
        self.state == SessionState::Connected && self.running.is_empty()
    }
}
