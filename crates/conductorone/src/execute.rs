//! Carries out one task handed out by GetTask and reports it with FinishTask:
//! `hello` answers with Hello, `sync_full` heartbeats, syncs, uploads and
//! cleans up, provisioning tasks go to the handler, anything else is finished
//! as unsupported. Every task runs in a span with its id, type and outcome.

use std::panic::AssertUnwindSafe;
use std::path::Path;
use std::pin::pin;
use std::sync::Arc;
use std::time::Duration;

use futures::FutureExt;
use prost::Name;
use prost_types::Any;
use tracing::Instrument;

use super::client::BatonClient;
use super::heartbeat::{HeartbeatStartError, Heartbeats};
use super::hello::hello_request;
use super::task::{
    BoxFuture, CancelReason, CancellationSignal, Canceller, SyncRequest, SyncedFile, TaskError,
    TaskHandler, is_acceptable_task_id,
};
use baton::model::annotation;
use baton::pb::c1::connector::v2::ConnectorMetadata;
use baton::pb::c1::connectorapi::baton::v1::Task;
use baton::pb::c1::connectorapi::baton::v1::baton_service_finish_task_request::{
    Error as FinishError, FinalState, Success as FinishSuccess,
};
use baton::pb::c1::connectorapi::baton::v1::task::{SyncFullTask, TaskType};
use baton::pb::google::rpc::Status;
use platform::backoff::{BackoffPolicy, Jitter};
use platform::metrics;

/// How long a cancelled sync may take to wind down before it is dropped.
const CANCEL_GRACE: Duration = Duration::from_secs(30);
const FINISH_ATTEMPTS: u32 = 3;
/// Between FinishTask attempts: about 1 s, then 2 s.
const FINISH_RETRY: BackoffPolicy =
    BackoffPolicy::new(Duration::from_secs(1), Duration::from_secs(4)).with_jitter(Jitter::Equal);

/// What every task of one tenant's session shares.
pub(crate) struct TaskContext {
    pub(crate) tenant: String,
    pub(crate) client: BatonClient,
    pub(crate) handler: Arc<dyn TaskHandler>,
    pub(crate) metadata: Arc<ConnectorMetadata>,
    /// Held for the whole of a sync: a tenant never runs two at once.
    pub(crate) sync_slot: tokio::sync::Mutex<()>,
    /// Fires when the session stops.
    pub(crate) shutdown: CancellationSignal,
}

/// How a task ended, for the span, the metric and the status page.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Outcome {
    Ok,
    Error,
    Cancelled,
    /// Not finished with ConductorOne (first heartbeat or FinishTask failed);
    /// ConductorOne will time the task out and hand it out again.
    Abandoned,
}

impl Outcome {
    fn as_str(self) -> &'static str {
        match self {
            Self::Ok => "ok",
            Self::Error => "error",
            Self::Cancelled => "cancelled",
            Self::Abandoned => "abandoned",
        }
    }
}

/// The name of a task's type, as used in spans, metrics and status.
pub(crate) fn task_type_name(task: &Task) -> &'static str {
    match &task.task_type {
        None => "unsupported",
        Some(TaskType::None(_)) => "none",
        Some(TaskType::Hello(_)) => "hello",
        Some(TaskType::SyncFull(_)) => "sync_full",
        Some(TaskType::Grant(_)) => "grant",
        Some(TaskType::Revoke(_)) => "revoke",
        Some(TaskType::CreateAccount(_)) => "create_account",
        Some(TaskType::DeleteResource(_)) => "delete_resource",
    }
}

/// Runs one task to its end. Never fails: every problem is reported to
/// ConductorOne and logged.
pub(crate) async fn execute(context: Arc<TaskContext>, task: Task, heartbeat_interval: Duration) {
    let task_type = task_type_name(&task);
    let span = tracing::info_span!(
        "c1.task",
        tenant = %context.tenant,
        task_id = %task.id,
        task_type,
        outcome = tracing::field::Empty,
    );
    async move {
        let id = task.id.as_str();
        let handler = &context.handler;
        let outcome = match task.task_type {
            _ if !is_acceptable_task_id(id) => {
                tracing::warn!("ConductorOne handed out a task whose id is not a safe file name");
                finish(&context, id, Err(unacceptable_task_id())).await
            }
            Some(TaskType::Hello(_)) => answer_hello(&context, id).await,
            Some(TaskType::SyncFull(sync)) => {
                full_sync(&context, id, sync, heartbeat_interval).await
            }
            Some(TaskType::Grant(grant)) => {
                let malformed = grant.entitlement.is_none() || grant.principal.is_none();
                let work = if malformed {
                    None
                } else {
                    Some(handler.grant(id, grant))
                };
                provision(&context, id, work, |response| response.annotations.clone()).await
            }
            Some(TaskType::Revoke(revoke)) => {
                let work = revoke.grant.is_some().then(|| handler.revoke(id, revoke));
                provision(&context, id, work, |response| response.annotations.clone()).await
            }
            Some(TaskType::CreateAccount(create)) => {
                let work = Some(handler.create_account(id, create));
                provision(&context, id, work, |response| response.annotations.clone()).await
            }
            Some(TaskType::DeleteResource(delete)) => {
                let named = delete.resource_id.as_ref().is_some_and(|resource| {
                    !resource.resource_type.is_empty() && !resource.resource.is_empty()
                });
                let work = named.then(|| handler.delete_resource(id, delete));
                provision(&context, id, work, |response| response.annotations.clone()).await
            }
            Some(TaskType::None(_)) | None => {
                tracing::warn!(
                    "ConductorOne handed out a task type this connector does not support"
                );
                finish(&context, id, Err(TaskError::unsupported_task_type())).await
            }
        };
        tracing::Span::current().record("outcome", outcome.as_str());
        metrics::c1_task(&context.tenant, task_type, outcome.as_str());
        tracing::info!(outcome = outcome.as_str(), "task done");
    }
    .instrument(span)
    .await;
}

/// A `hello` task is answered with Hello alone; ConductorOne expects no FinishTask.
async fn answer_hello(context: &TaskContext, task_id: &str) -> Outcome {
    match context
        .client
        .hello(task_id, hello_request(&context.metadata))
        .await
    {
        Ok(()) => Outcome::Ok,
        Err(err) => {
            tracing::warn!(error = %err, "Hello for a hello task failed");
            Outcome::Error
        }
    }
}

/// Grant, revoke, create account, delete resource: one handler call, then
/// FinishTask with the typed response, its annotations as task annotations.
/// `work` is `None` when the task lacks what the handler needs. The handler's
/// error says whether ConductorOne may hand the task out again (a transient
/// Confluence failure may, a refused request may not); a panic may not.
async fn provision<R: Name + Send + 'static>(
    context: &TaskContext,
    task_id: &str,
    work: Option<BoxFuture<Result<R, TaskError>>>,
    annotations: fn(&R) -> Vec<Any>,
) -> Outcome {
    let Some(work) = work else {
        let malformed = TaskError::new(
            tonic::Code::InvalidArgument,
            "malformed task: required fields are missing",
        );
        return finish(context, task_id, Err(malformed.non_retryable())).await;
    };
    let result = match AssertUnwindSafe(work).catch_unwind().await {
        Ok(result) => result,
        Err(_) => Err(handler_panicked().non_retryable()),
    };
    let result = result.map(|response| (Some(annotation(&response)), annotations(&response)));
    finish(context, task_id, result).await
}

async fn full_sync(
    context: &TaskContext,
    task_id: &str,
    task: SyncFullTask,
    interval: Duration,
) -> Outcome {
    let (canceller, signal) = Canceller::new();
    let heartbeats = match Heartbeats::start(
        context.client.clone(),
        &context.tenant,
        task_id,
        interval,
        canceller.clone(),
    )
    .await
    {
        Ok(heartbeats) => heartbeats,
        Err(HeartbeatStartError::Cancelled) => {
            return finish(
                context,
                task_id,
                Err(cancelled(CancelReason::ByConductorOne)),
            )
            .await;
        }
        Err(err @ HeartbeatStartError::Failed(_)) => {
            tracing::warn!(error = %err, "sync not started");
            return Outcome::Abandoned;
        }
    };
    let request = SyncRequest {
        skip_expand_grants: task.skip_expand_grants,
        skip_entitlements_and_grants: task.skip_entitlements_and_grants,
        skip_grants: task.skip_grants,
        sync_resource_type_ids: task.sync_resource_type_ids,
    };
    let result = sync_and_upload(context, task_id, request, &canceller, &signal).await;
    drop(heartbeats);
    match result {
        Ok(()) => finish(context, task_id, Ok((None, Vec::new()))).await,
        Err(SyncStop::Failed(err)) => finish(context, task_id, Err(err)).await,
        Err(SyncStop::Cancelled(reason)) => {
            let outcome = finish(context, task_id, Err(cancelled(reason))).await;
            if outcome == Outcome::Abandoned {
                outcome
            } else {
                Outcome::Cancelled
            }
        }
    }
}

enum SyncStop {
    Failed(TaskError),
    Cancelled(CancelReason),
}

async fn sync_and_upload(
    context: &TaskContext,
    task_id: &str,
    request: SyncRequest,
    canceller: &Canceller,
    signal: &CancellationSignal,
) -> Result<(), SyncStop> {
    let stop = || stop_requested(canceller, signal, &context.shutdown);
    let _sync_slot = tokio::select! {
        slot = context.sync_slot.lock() => slot,
        reason = stop() => return Err(SyncStop::Cancelled(reason)),
    };
    tracing::info!(?request, "sync started");
    let mut work = pin!(
        AssertUnwindSafe(context.handler.sync(task_id, request, signal.clone())).catch_unwind()
    );
    // Stop is polled first: a handler that returns because it saw the
    // cancellation must not turn a cancellation into an ordinary failure.
    let synced = tokio::select! {
        biased;
        reason = stop() => {
            if let Ok(Ok(Ok(file))) = tokio::time::timeout(CANCEL_GRACE, work).await {
                remove_file(&file.path).await;
            }
            return Err(SyncStop::Cancelled(reason));
        }
        result = &mut work => result.unwrap_or_else(|_| Err(handler_panicked())),
    };
    let SyncedFile { path } = synced.map_err(SyncStop::Failed)?;
    let uploaded = tokio::select! {
        biased;
        reason = stop() => Err(SyncStop::Cancelled(reason)),
        result = context.handler.upload(
            context.client.clone(),
            context.tenant.clone(),
            task_id.to_owned(),
            path.clone(),
        ) => {
            result.map_err(|err| SyncStop::Failed(TaskError::new(err.code(), err.to_string())))
        }
    };
    remove_file(&path).await;
    uploaded.map(drop)
}

/// Completes when the task's heartbeats or the session ask it to stop; the
/// handler's signal fires in both cases.
async fn stop_requested(
    canceller: &Canceller,
    signal: &CancellationSignal,
    shutdown: &CancellationSignal,
) -> CancelReason {
    tokio::select! {
        reason = signal.cancelled() => reason,
        _ = shutdown.cancelled() => {
            canceller.cancel(CancelReason::Shutdown);
            signal.reason().unwrap_or(CancelReason::Shutdown)
        }
    }
}

fn cancelled(reason: CancelReason) -> TaskError {
    match reason {
        CancelReason::ByConductorOne => {
            TaskError::new(tonic::Code::Cancelled, "task cancelled by ConductorOne")
        }
        CancelReason::HeartbeatLost => TaskError::new(
            tonic::Code::Cancelled,
            "task cancelled: ten heartbeats in a row failed",
        ),
        CancelReason::Shutdown => TaskError::new(
            tonic::Code::Unavailable,
            "the connector is shutting down; the task can be retried",
        ),
    }
}

fn unacceptable_task_id() -> TaskError {
    TaskError::new(
        tonic::Code::InvalidArgument,
        "task id refused: it must be 1 to 64 letters, digits, '_' or '-'; nothing was run",
    )
    .non_retryable()
}

fn handler_panicked() -> TaskError {
    TaskError::new(tonic::Code::Internal, "the task handler panicked")
}

async fn remove_file(path: &Path) {
    match tokio::fs::remove_file(path).await {
        Ok(()) => {}
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => {}
        Err(err) => tracing::warn!(path = %path.display(), error = %err, "cannot remove the c1z"),
    }
}

/// Sends FinishTask, retrying brief outages; `Ok` carries the response and
/// its annotations.
async fn finish(
    context: &TaskContext,
    task_id: &str,
    result: Result<(Option<Any>, Vec<Any>), TaskError>,
) -> Outcome {
    let (outcome, status, final_state) = match result {
        Ok((response, annotations)) => (
            Outcome::Ok,
            None,
            FinalState::Success(FinishSuccess {
                annotations,
                response,
            }),
        ),
        Err(err) => {
            tracing::warn!(code = ?err.code(), message = err.message(), non_retryable = err.is_non_retryable(), "task failed");
            let outcome = if err.code() == tonic::Code::Cancelled {
                Outcome::Cancelled
            } else {
                Outcome::Error
            };
            let status = Status {
                code: err.code() as i32,
                message: err.message().to_owned(),
                details: err.details().to_vec(),
            };
            let state = FinalState::Error(FinishError {
                non_retryable: err.is_non_retryable(),
                annotations: Vec::new(),
                response: err.response().cloned(),
            });
            (outcome, Some(status), state)
        }
    };
    let mut attempt = 1;
    let mut backoff = FINISH_RETRY.start();
    loop {
        match context
            .client
            .finish_task(task_id, status.clone(), final_state.clone())
            .await
        {
            Ok(()) => return outcome,
            Err(err) if err.is_transient() && attempt < FINISH_ATTEMPTS => {
                tracing::warn!(attempt, error = %err, "FinishTask failed; retrying");
                attempt += 1;
                // FINISH_RETRY has no elapsed budget, so there is always a delay.
                let delay = backoff.next_delay().unwrap_or(FINISH_RETRY.max);
                tokio::time::sleep(delay).await;
            }
            Err(err) => {
                tracing::error!(error = %err, "FinishTask failed; ConductorOne will time the task out");
                return Outcome::Abandoned;
            }
        }
    }
}
