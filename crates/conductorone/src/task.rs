//! The contract between the task runner and whoever does the work: the
//! [`TaskHandler`] trait, what a sync is asked to do, the cancellation signal
//! it must honour, and the [`TaskError`] every task can fail with.

use std::fmt;
use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;

use prost_types::Any;

use super::client::BatonClient;
use super::upload::{UploadError, upload_c1z};
use tokio::sync::watch;

use baton::pb::c1::connector::v2::{
    CreateAccountResponse, DeleteResourceResponse, GrantManagerServiceGrantResponse,
    GrantManagerServiceRevokeResponse,
};
pub use baton::pb::c1::connectorapi::baton::v1::task::{
    CreateAccountTask, DeleteResourceTask, GrantTask, RevokeTask,
};

pub type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send + 'static>>;

/// Does the work ConductorOne hands out. Implemented by the hub; the runner
/// calls it from plain tokio tasks, several at once (never two syncs).
pub trait TaskHandler: Send + Sync + 'static {
    /// Runs one full sync into a finished c1z. Stop promptly once `cancel`
    /// fires, removing any partial files; the runner removes the returned
    /// file itself after uploading it (or after a cancellation).
    fn sync(
        &self,
        task_id: &str,
        request: SyncRequest,
        cancel: CancellationSignal,
    ) -> BoxFuture<Result<SyncedFile, TaskError>>;

    fn grant(
        &self,
        task_id: &str,
        task: GrantTask,
    ) -> BoxFuture<Result<GrantManagerServiceGrantResponse, TaskError>>;

    fn revoke(
        &self,
        task_id: &str,
        task: RevokeTask,
    ) -> BoxFuture<Result<GrantManagerServiceRevokeResponse, TaskError>>;

    fn create_account(
        &self,
        task_id: &str,
        task: CreateAccountTask,
    ) -> BoxFuture<Result<CreateAccountResponse, TaskError>>;

    fn delete_resource(
        &self,
        task_id: &str,
        task: DeleteResourceTask,
    ) -> BoxFuture<Result<DeleteResourceResponse, TaskError>>;

    /// Streams a finished c1z to ConductorOne for `task_id` and returns the
    /// bytes sent. The default uploads directly; the hub routes it through
    /// the tenant's Uploader actor.
    fn upload(
        &self,
        client: BatonClient,
        tenant: String,
        task_id: String,
        path: PathBuf,
    ) -> BoxFuture<Result<u64, UploadError>> {
        Box::pin(async move { upload_c1z(&client, &tenant, &task_id, &path).await })
    }
}

/// The longest task id accepted; ConductorOne's ids are far shorter.
const MAX_TASK_ID_LEN: usize = 64;

/// Whether `id` is safe to use as a file name and a log field: 1 to 64 of
/// `[A-Za-z0-9_-]`. Task ids name the files a sync writes, so an id such as
/// `../other-tenant/latest` must never reach a path.
pub fn is_acceptable_task_id(id: &str) -> bool {
    (1..=MAX_TASK_ID_LEN).contains(&id.len())
        && id
            .bytes()
            .all(|byte| byte.is_ascii_alphanumeric() || byte == b'_' || byte == b'-')
}

/// What a `sync_full` task asks for.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SyncRequest {
    /// Record `GrantExpandable` data but do not expand grants (ConductorOne does).
    pub skip_expand_grants: bool,
    /// Resources only: no entitlements, no grants.
    pub skip_entitlements_and_grants: bool,
    pub skip_grants: bool,
    /// Only these resource types; empty means all.
    pub sync_resource_type_ids: Vec<String>,
}

/// A finished c1z, ready to upload.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SyncedFile {
    pub path: PathBuf,
}

/// Why a task is being stopped before it finished.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CancelReason {
    /// A heartbeat answered `cancelled`.
    ByConductorOne,
    /// Ten heartbeats in a row failed: ConductorOne may already have given the task to someone else.
    HeartbeatLost,
    /// The tenant's session is stopping (config reload, shutdown).
    Shutdown,
}

/// Fires once when a task must stop. Cheap to clone; every clone sees it.
#[derive(Clone, Debug)]
pub struct CancellationSignal(watch::Receiver<Option<CancelReason>>);

impl CancellationSignal {
    pub fn is_cancelled(&self) -> bool {
        self.0.borrow().is_some()
    }

    pub fn reason(&self) -> Option<CancelReason> {
        *self.0.borrow()
    }

    /// Completes when the task is cancelled (at once if it already is).
    pub async fn cancelled(&self) -> CancelReason {
        let mut receiver = self.0.clone();
        loop {
            if let Some(reason) = *receiver.borrow_and_update() {
                return reason;
            }
            if receiver.changed().await.is_err() {
                // The canceller is gone without cancelling: this task can no longer be cancelled.
                std::future::pending::<()>().await;
            }
        }
    }
}

/// The sending half of a [`CancellationSignal`]; the first reason sticks.
#[derive(Clone, Debug)]
pub(crate) struct Canceller(Arc<watch::Sender<Option<CancelReason>>>);

impl Canceller {
    pub(crate) fn new() -> (Self, CancellationSignal) {
        let (sender, receiver) = watch::channel(None);
        (Self(Arc::new(sender)), CancellationSignal(receiver))
    }

    pub(crate) fn cancel(&self, reason: CancelReason) {
        self.0.send_if_modified(|current| {
            let first = current.is_none();
            if first {
                *current = Some(reason);
            }
            first
        });
    }
}

/// A task that failed: the gRPC code and message ConductorOne records, whether
/// it may retry, and optionally a typed response or status details.
#[derive(Clone, PartialEq)]
pub struct TaskError {
    code: tonic::Code,
    message: String,
    non_retryable: bool,
    response: Option<Any>,
    details: Vec<Any>,
}

impl TaskError {
    pub fn new(code: tonic::Code, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
            non_retryable: false,
            response: None,
            details: Vec::new(),
        }
    }

    /// ConductorOne should not hand this task out again.
    pub fn non_retryable(mut self) -> Self {
        self.non_retryable = true;
        self
    }

    pub fn with_response(mut self, response: Any) -> Self {
        self.response = Some(response);
        self
    }

    /// A `google.rpc.Status` detail, e.g. `google.rpc.ErrorInfo`.
    pub fn with_detail(mut self, detail: Any) -> Self {
        self.details.push(detail);
        self
    }

    /// The answer to provisioning tasks on a tenant with `provisioning = false`.
    pub fn provisioning_disabled() -> Self {
        Self::new(
            tonic::Code::FailedPrecondition,
            "provisioning is not enabled",
        )
        .non_retryable()
    }

    pub(crate) fn unsupported_task_type() -> Self {
        Self::new(tonic::Code::Unknown, "unsupported task type")
    }

    pub fn code(&self) -> tonic::Code {
        self.code
    }

    pub fn message(&self) -> &str {
        &self.message
    }

    pub fn is_non_retryable(&self) -> bool {
        self.non_retryable
    }

    pub fn response(&self) -> Option<&Any> {
        self.response.as_ref()
    }

    pub fn details(&self) -> &[Any] {
        &self.details
    }
}

impl fmt::Debug for TaskError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TaskError")
            .field("code", &self.code)
            .field("message", &self.message)
            .field("non_retryable", &self.non_retryable)
            .field(
                "response",
                &self.response.as_ref().map(|any| any.type_url.as_str()),
            )
            .finish_non_exhaustive()
    }
}

impl fmt::Display for TaskError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}: {}", self.code, self.message)
    }
}

impl std::error::Error for TaskError {}

impl From<tonic::Status> for TaskError {
    fn from(status: tonic::Status) -> Self {
        Self::new(status.code(), status.message())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn first_cancel_reason_sticks_and_reaches_every_clone() {
        let (canceller, signal) = Canceller::new();
        let clone = signal.clone();
        assert!(!signal.is_cancelled());
        canceller.cancel(CancelReason::ByConductorOne);
        canceller.cancel(CancelReason::Shutdown);
        assert_eq!(clone.cancelled().await, CancelReason::ByConductorOne);
        assert_eq!(signal.reason(), Some(CancelReason::ByConductorOne));
    }
}
