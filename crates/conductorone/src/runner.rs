//! One tenant's ConductorOne session: startup Hello, then GetTask polling at
//! the pace ConductorOne asks for (backing off on errors), running up to
//! `task_concurrency` tasks at once, until the shutdown future completes.
//! Plain tokio; the hub wraps it in an actor.

use std::future::Future;
use std::pin::pin;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use platform::backoff::BackoffPolicy;

use tokio::sync::{OwnedSemaphorePermit, Semaphore, watch};
use tokio::task::JoinSet;
use tracing::Instrument;

use super::client::{BatonClient, ConnectError};
use super::execute::{TaskContext, execute, task_type_name};
use super::heartbeat::{heartbeat_interval, proto_duration};
use super::hello::startup_hello;
use super::settings::C1Settings;
use super::status::{RunnerStatus, RunningTask, SessionState};
use super::task::{CancelReason, Canceller, TaskHandler};
use baton::pb::c1::connector::v2::ConnectorMetadata;
use baton::pb::c1::connectorapi::baton::v1::Task;
use baton::pb::c1::connectorapi::baton::v1::task::TaskType;

/// Never poll faster than this, whatever `next_poll` says (0 would spin).
const MIN_POLL_INTERVAL: Duration = Duration::from_secs(1);
const MAX_POLL_INTERVAL: Duration = Duration::from_secs(300);
/// GetTask after errors: 1 s doubling to a minute, full jitter, so replicas
/// that lost ConductorOne together do not come back in step.
const POLL_RETRY: BackoffPolicy =
    BackoffPolicy::new(Duration::from_secs(1), Duration::from_secs(60));
/// On shutdown, running tasks get this long to finish (syncs are cancelled).
const SHUTDOWN_GRACE: Duration = Duration::from_secs(30);
const DEFAULT_TASK_CONCURRENCY: usize = 3;

/// Why a session stopped for good. Its text names the tenant and says what to fix.
#[derive(Debug, Clone, thiserror::Error)]
pub enum SessionError {
    #[error("tenant {tenant}: cannot set up the ConductorOne connection: {reason}")]
    Connection { tenant: String, reason: String },
    #[error(
        "tenant {tenant}: ConductorOne refused the connector ({code:?}: {message}); check the client id and secret and the connector's setup in ConductorOne"
    )]
    Refused {
        tenant: String,
        code: tonic::Code,
        message: String,
    },
}

pub struct TaskRunner {
    settings: C1Settings,
    metadata: Arc<ConnectorMetadata>,
    handler: Arc<dyn TaskHandler>,
    status: watch::Sender<RunnerStatus>,
}

impl TaskRunner {
    pub fn new(
        settings: C1Settings,
        metadata: Arc<ConnectorMetadata>,
        handler: Arc<dyn TaskHandler>,
    ) -> Self {
        Self {
            settings,
            metadata,
            handler,
            status: watch::channel(RunnerStatus::starting()).0,
        }
    }

    /// A live view of the session; take it before [`TaskRunner::run`].
    pub fn status(&self) -> watch::Receiver<RunnerStatus> {
        self.status.subscribe()
    }

    /// Runs the session until `shutdown` completes (`Ok`) or a permanent
    /// error stops it (`Err`). Neither panics nor affects other tenants.
    pub async fn run(self, shutdown: impl Future<Output = ()> + Send) -> Result<(), SessionError> {
        let span = tracing::info_span!("c1.session", tenant = %self.settings.tenant);
        let status = self.status.clone();
        let result = self.session(shutdown).instrument(span.clone()).await;
        status.send_modify(|status| match &result {
            Ok(()) => status.state = SessionState::Stopped,
            Err(err) => {
                status.state = SessionState::Failed;
                status.last_error = Some(err.to_string());
            }
        });
        if let Err(err) = &result {
            span.in_scope(|| tracing::error!(error = %err, "ConductorOne session stopped"));
        }
        result
    }

    async fn session(self, shutdown: impl Future<Output = ()> + Send) -> Result<(), SessionError> {
        let tenant = self.settings.tenant.clone();
        let client = BatonClient::connect(&self.settings).map_err(|err| match err {
            ConnectError::Channel(err) => SessionError::Connection {
                tenant: tenant.clone(),
                reason: err.to_string(),
            },
        })?;
        let mut shutdown = pin!(shutdown);

        // The Hello and GetTask calls are boxed: their futures (the request,
        // tonic's encoding, the call) are kilobytes, and a session spends its
        // life between calls. Held inline, they would sit in every idle
        // tenant's session for good; boxed, they exist while a call runs.
        let status = &self.status;
        let hello = Box::pin(startup_hello(&client, &self.metadata, |err, delay| {
            tracing::warn!(error = %err, retry_in_s = delay.as_secs(), "startup Hello failed; retrying");
            status.send_modify(|status| status.last_error = Some(err.to_string()));
        }));
        tokio::select! {
            _ = &mut shutdown => return Ok(()),
            result = hello => result.map_err(|err| SessionError::Refused {
                tenant: tenant.clone(),
                code: err.code(),
                message: err.to_string(),
            })?,
        }
        tracing::info!("connected to ConductorOne");
        self.status.send_modify(|status| {
            status.state = SessionState::Connected;
            status.last_error = None;
        });

        let (stop_tasks, stop_signal) = Canceller::new();
        let context = Arc::new(TaskContext {
            tenant,
            client: client.clone(),
            handler: self.handler,
            metadata: self.metadata,
            sync_slot: tokio::sync::Mutex::new(()),
            shutdown: stop_signal,
        });
        let concurrency = match self.settings.task_concurrency {
            0 => DEFAULT_TASK_CONCURRENCY,
            configured => configured,
        };
        let slots = Arc::new(Semaphore::new(concurrency));
        let mut tasks = JoinSet::new();
        let mut failures = 0u32;
        loop {
            while tasks.try_join_next().is_some() {}
            let slot = tokio::select! {
                _ = &mut shutdown => break,
                slot = slots.clone().acquire_owned() => match slot {
                    Ok(slot) => slot,
                    Err(_) => break,
                },
            };
            let reply = tokio::select! {
                _ = &mut shutdown => break,
                reply = Box::pin(client.get_task()) => reply,
            };
            let delay = match reply {
                Ok(reply) => {
                    failures = 0;
                    // Only a change wakes the status readers, not every poll.
                    self.status.send_if_modified(|status| {
                        let recovered =
                            status.consecutive_poll_failures != 0 || status.last_error.is_some();
                        status.consecutive_poll_failures = 0;
                        status.last_error = None;
                        recovered
                    });
                    if let Some(task) = reply.task.filter(is_work) {
                        let interval = heartbeat_interval(reply.next_heartbeat.as_ref());
                        let run =
                            run_task(context.clone(), self.status.clone(), task, interval, slot);
                        tasks.spawn(run.in_current_span());
                    }
                    poll_interval(reply.next_poll.as_ref().map(proto_duration))
                }
                Err(err) => {
                    failures += 1;
                    tracing::warn!(error = %err, failures, "GetTask failed");
                    self.status.send_modify(|status| {
                        status.consecutive_poll_failures = failures;
                        status.last_error = Some(err.to_string());
                    });
                    POLL_RETRY.delay(failures)
                }
            };
            tokio::select! {
                _ = &mut shutdown => break,
                _ = tokio::time::sleep(delay) => {}
            }
        }

        tracing::info!(running = tasks.len(), "stopping the ConductorOne session");
        stop_tasks.cancel(CancelReason::Shutdown);
        let drained = tokio::time::timeout(SHUTDOWN_GRACE, async {
            while tasks.join_next().await.is_some() {}
        })
        .await;
        if drained.is_err() {
            tracing::warn!(
                abandoned = tasks.len(),
                "tasks did not finish in time; abandoning them"
            );
            tasks.abort_all();
        }
        Ok(())
    }
}

/// A task with an id that is not `none`; an unknown type (empty oneof) counts,
/// so it can be finished as unsupported.
fn is_work(task: &Task) -> bool {
    !task.id.is_empty() && !matches!(task.task_type, Some(TaskType::None(_)))
}

async fn run_task(
    context: Arc<TaskContext>,
    status: watch::Sender<RunnerStatus>,
    task: Task,
    heartbeat_interval: Duration,
    _slot: OwnedSemaphorePermit,
) {
    let id = task.id.clone();
    status.send_modify(|status| {
        status.running.push(RunningTask {
            id: id.clone(),
            task_type: task_type_name(&task),
            started_at: SystemTime::now(),
        });
    });
    execute(context, task, heartbeat_interval).await;
    status.send_modify(|status| {
        status.running.retain(|running| running.id != id);
        status.tasks_finished += 1;
    });
}

/// `next_poll` within [1 s, 5 min]; absent means the floor.
fn poll_interval(next_poll: Option<Duration>) -> Duration {
    next_poll
        .unwrap_or_default()
        .clamp(MIN_POLL_INTERVAL, MAX_POLL_INTERVAL)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn poll_interval_has_a_floor_and_a_ceiling() {
        assert_eq!(poll_interval(None), MIN_POLL_INTERVAL);
        assert_eq!(poll_interval(Some(Duration::ZERO)), MIN_POLL_INTERVAL);
        assert_eq!(
            poll_interval(Some(Duration::from_secs(7))),
            Duration::from_secs(7)
        );
        assert_eq!(
            poll_interval(Some(Duration::from_secs(3_600))),
            MAX_POLL_INTERVAL
        );
    }

    #[test]
    fn poll_errors_back_off_from_a_second_up_to_a_minute() {
        let ceilings: Vec<u64> = [1, 2, 3, 6, 7, 1_000_000]
            .map(|n| POLL_RETRY.ceiling(n).as_secs())
            .to_vec();
        assert_eq!(ceilings, [1, 2, 4, 32, 60, 60]);
        assert!(POLL_RETRY.delay(1_000_000) <= Duration::from_secs(60));
    }

    #[test]
    fn none_tasks_and_empty_ids_are_idle_but_unknown_types_are_work() {
        let none = Task {
            id: "a".into(),
            task_type: Some(TaskType::None(Default::default())),
            ..Default::default()
        };
        let unknown = Task {
            id: "a".into(),
            task_type: None,
            ..Default::default()
        };
        let empty = Task::default();
        assert!(!is_work(&none));
        assert!(is_work(&unknown));
        assert!(!is_work(&empty));
    }
}
