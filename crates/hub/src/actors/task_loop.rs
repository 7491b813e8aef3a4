//! The TaskLoop of a tenant with ConductorOne credentials: hosts the
//! tenant's ConductorOne session (startup Hello, GetTask polling, heartbeats,
//! FinishTask) and turns its tasks into messages to the tenant's actors —
//! syncs to the Instance, uploads to the Uploader, provisioning to the
//! Provisioner. It reports the session to the Instance, which owns the
//! tenant's state: a session refused for good (bad credentials) leaves the
//! tenant `failing` without a restart; one that lost its connection setup
//! stops, and the Instance restarts it with backoff.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use actix::{
    Actor, ActorContext, ActorFutureExt, AsyncContext, Context, Handler, ResponseActFuture,
    WeakRecipient, WrapFuture, fut,
};
use tokio::sync::{oneshot, watch};
use tokio_util::sync::CancellationToken;

use super::child::StopChild;
use super::instance::{RunSync, SessionEvent, SyncTarget, Trigger};
use super::provisioner::{Provision, ProvisionRequest, ProvisionResponse};
use super::uploader::Upload;
use crate::sync::{SyncError, SyncScope};
use baton::model::ResourceKind;
use baton::pb::c1::connector::v2::{
    ConnectorMetadata, CreateAccountResponse, DeleteResourceResponse,
    GrantManagerServiceGrantResponse, GrantManagerServiceRevokeResponse,
};
use conductorone::client::BatonClient;
use conductorone::settings::C1Settings;
use conductorone::task::{
    BoxFuture, CancellationSignal, CreateAccountTask, DeleteResourceTask, GrantTask, RevokeTask,
    SyncRequest, SyncedFile, TaskError, TaskHandler, is_acceptable_task_id,
};
use conductorone::upload::{UploadError, upload_c1z};
use conductorone::{SessionError, TaskRunner};

/// How long a stopping session may take to finish its running tasks (the
/// runner cancels syncs at once and gives provisioning tasks this long).
const STOP_TIMEOUT: Duration = Duration::from_secs(45);

pub struct TaskLoop {
    settings: C1Settings,
    /// Shared with the session it starts, and with each restart's.
    metadata: Arc<ConnectorMetadata>,
    handler: Arc<HubTaskHandler>,
    /// The tenant's Instance, weakly (it owns this actor).
    session: WeakRecipient<SessionEvent>,
    stop: Option<oneshot::Sender<()>>,
    finished: watch::Sender<bool>,
}

impl TaskLoop {
    pub fn new(
        settings: C1Settings,
        metadata: ConnectorMetadata,
        handler: HubTaskHandler,
        session: WeakRecipient<SessionEvent>,
    ) -> Self {
        Self {
            settings,
            metadata: Arc::new(metadata),
            handler: Arc::new(handler),
            session,
            stop: None,
            finished: watch::Sender::new(false),
        }
    }
}

impl Actor for TaskLoop {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        let tenant = self.settings.tenant.clone();
        let runner = TaskRunner::new(
            self.settings.clone(),
            self.metadata.clone(),
            self.handler.clone() as Arc<dyn TaskHandler>,
        );
        let mut status = runner.status();
        let (stop, stopped) = oneshot::channel();
        self.stop = Some(stop);

        let session = self.session.clone();
        ctx.spawn(
            async move {
                loop {
                    let snapshot = status.borrow_and_update().clone();
                    if let Some(instance) = session.upgrade() {
                        instance.do_send(SessionEvent::Status(Box::new(snapshot)));
                    }
                    if status.changed().await.is_err() {
                        break;
                    }
                }
            }
            .into_actor(self),
        );

        let session = runner.run(async move {
            let _ = stopped.await;
        });
        ctx.spawn(session.into_actor(self).map(move |result, task_loop, ctx| {
            task_loop.finished.send_replace(true);
            match result {
                Ok(()) => ctx.stop(),
                Err(err @ SessionError::Refused { .. }) => {
                    // Permanent: restarting would only repeat the refusal.
                    // The actor stays, so the Instance does not restart it.
                    if let Some(instance) = task_loop.session.upgrade() {
                        instance.do_send(SessionEvent::Refused(err.to_string()));
                    }
                }
                Err(err @ SessionError::Connection { .. }) => {
                    tracing::warn!(tenant, error = %err, "ConductorOne session lost; it restarts after backoff");
                    ctx.stop();
                }
            }
        }));
    }
}

impl Handler<StopChild> for TaskLoop {
    type Result = ResponseActFuture<Self, ()>;

    fn handle(&mut self, _: StopChild, _: &mut Context<Self>) -> Self::Result {
        let Some(stop) = self.stop.take() else {
            return Box::pin(fut::ready(()));
        };
        let _ = stop.send(());
        let mut finished = self.finished.subscribe();
        let wait = async move {
            let _ = tokio::time::timeout(STOP_TIMEOUT, finished.wait_for(|done| *done)).await;
        };
        Box::pin(wait.into_actor(self).map(|(), _, ctx| ctx.stop()))
    }
}

/// Carries out ConductorOne's tasks with the tenant's actors. Held by the
/// session's runner, so it must be `Send + Sync`: it talks by message only.
///
/// Provisioning and uploads go through the Instance, which routes them to
/// its current Provisioner and Uploader (children may have been restarted).
pub struct HubTaskHandler {
    /// The tenant's Instance, weakly (it owns the task loop), one recipient
    /// per kind of work it routes.
    pub syncs: WeakRecipient<RunSync>,
    pub provisioning: WeakRecipient<Provision>,
    pub uploads: WeakRecipient<Upload>,
    /// Where task c1z files are written before upload.
    pub tasks_dir: PathBuf,
}

fn tenant_gone() -> TaskError {
    TaskError::new(
        tonic::Code::Unavailable,
        "the tenant is restarting; retry the task",
    )
}

impl HubTaskHandler {
    fn provision(
        &self,
        task_id: &str,
        request: ProvisionRequest,
    ) -> BoxFuture<Result<ProvisionResponse, TaskError>> {
        let instance = self.provisioning.upgrade();
        let message = Provision {
            task_id: task_id.to_owned(),
            request,
        };
        Box::pin(async move {
            let instance = instance.ok_or_else(tenant_gone)?;
            instance
                .send(message)
                .await
                .unwrap_or_else(|_| Err(tenant_gone()))
        })
    }
}

fn unexpected(kind: &str) -> TaskError {
    TaskError::new(
        tonic::Code::Internal,
        format!("the provisioner answered a {kind} task with another kind of result"),
    )
}

impl TaskHandler for HubTaskHandler {
    fn sync(
        &self,
        task_id: &str,
        request: SyncRequest,
        cancel: CancellationSignal,
    ) -> BoxFuture<Result<SyncedFile, TaskError>> {
        if !is_acceptable_task_id(task_id) {
            let refused = TaskError::new(
                tonic::Code::InvalidArgument,
                "task id refused: it is not a safe file name",
            );
            return Box::pin(std::future::ready(Err(refused.non_retryable())));
        }
        let instance = self.syncs.upgrade();
        let path = self.tasks_dir.join(format!("{task_id}.c1z"));
        let task_id = task_id.to_owned();
        Box::pin(async move {
            let instance = instance.ok_or_else(tenant_gone)?;
            let scope = scope(&request)?;
            let token = CancellationToken::new();
            let mut run = RunSync::new(Trigger::ConductorOne { task_id }, SyncTarget::Path(path));
            run.scope = scope;
            run.cancel = token.clone();
            let mut sync = std::pin::pin!(instance.send(run));
            let result = tokio::select! {
                result = &mut sync => result,
                _ = cancel.cancelled() => {
                    token.cancel();
                    sync.await
                }
            };
            let report = result
                .map_err(|err| {
                    TaskError::new(
                        tonic::Code::Unavailable,
                        format!("the tenant actor stopped: {err}"),
                    )
                })?
                .map_err(|err| sync_error(&err))?;
            Ok(SyncedFile { path: report.path })
        })
    }

    fn grant(
        &self,
        task_id: &str,
        task: GrantTask,
    ) -> BoxFuture<Result<GrantManagerServiceGrantResponse, TaskError>> {
        let response = self.provision(task_id, ProvisionRequest::Grant(task));
        Box::pin(async move {
            match response.await? {
                ProvisionResponse::Grant(response) => Ok(response),
                _ => Err(unexpected("grant")),
            }
        })
    }

    fn revoke(
        &self,
        task_id: &str,
        task: RevokeTask,
    ) -> BoxFuture<Result<GrantManagerServiceRevokeResponse, TaskError>> {
        let response = self.provision(task_id, ProvisionRequest::Revoke(task));
        Box::pin(async move {
            match response.await? {
                ProvisionResponse::Revoke(response) => Ok(response),
                _ => Err(unexpected("revoke")),
            }
        })
    }

    fn create_account(
        &self,
        task_id: &str,
        task: CreateAccountTask,
    ) -> BoxFuture<Result<CreateAccountResponse, TaskError>> {
        let response = self.provision(task_id, ProvisionRequest::CreateAccount(task));
        Box::pin(async move {
            match response.await? {
                ProvisionResponse::CreateAccount(response) => Ok(*response),
                _ => Err(unexpected("create_account")),
            }
        })
    }

    fn delete_resource(
        &self,
        task_id: &str,
        task: DeleteResourceTask,
    ) -> BoxFuture<Result<DeleteResourceResponse, TaskError>> {
        let response = self.provision(task_id, ProvisionRequest::DeleteResource(task));
        Box::pin(async move {
            match response.await? {
                ProvisionResponse::DeleteResource(response) => Ok(response),
                _ => Err(unexpected("delete_resource")),
            }
        })
    }

    fn upload(
        &self,
        client: BatonClient,
        tenant: String,
        task_id: String,
        path: PathBuf,
    ) -> BoxFuture<Result<u64, UploadError>> {
        let instance = self.uploads.upgrade();
        Box::pin(async move {
            let upload = Upload {
                client,
                task_id,
                path,
            };
            match instance {
                Some(instance) => match instance.send(upload.clone()).await {
                    Ok(result) => result,
                    Err(_) => {
                        upload_c1z(&upload.client, &tenant, &upload.task_id, &upload.path).await
                    }
                },
                None => upload_c1z(&upload.client, &tenant, &upload.task_id, &upload.path).await,
            }
        })
    }
}

/// What a `sync_full` task covers. Unknown resource type ids are refused
/// (Baton treats them as an error too).
fn scope(request: &SyncRequest) -> Result<SyncScope, TaskError> {
    let mut scope = SyncScope {
        skip_entitlements_and_grants: request.skip_entitlements_and_grants,
        skip_grants: request.skip_grants,
        expand_grants: !request.skip_expand_grants,
        ..SyncScope::default()
    };
    if !request.sync_resource_type_ids.is_empty() {
        scope.resource_types = request
            .sync_resource_type_ids
            .iter()
            .map(|id| {
                ResourceKind::parse(id).ok_or_else(|| {
                    TaskError::new(
                        tonic::Code::InvalidArgument,
                        format!(
                            "unknown resource type `{id}`; this connector has user, group and space"
                        ),
                    )
                    .non_retryable()
                })
            })
            .collect::<Result<_, _>>()?;
    }
    Ok(scope)
}

/// A failed sync as ConductorOne records it: Confluence failures through the
/// one error-kind table; the hub's own troubles may well pass next time.
fn sync_error(error: &SyncError) -> TaskError {
    let code = match error {
        SyncError::Confluence(err) => return crate::error_kind::task_error(err),
        SyncError::Cancelled => tonic::Code::Cancelled,
        SyncError::AlreadyRunning { .. }
        | SyncError::Stopping
        | SyncError::FetcherLost { .. }
        | SyncError::WriterLost(_) => tonic::Code::Unavailable,
        SyncError::C1z(_) | SyncError::Internal(_) => tonic::Code::Internal,
    };
    TaskError::new(code, error.to_string())
}
