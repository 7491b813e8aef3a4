//! The Provisioner of a tenant: carries out ConductorOne's grant, revoke,
//! create-account and delete-resource tasks against Confluence through the
//! provisioning engine (`crate::provision`), several at once.

use std::sync::Arc;

use actix::{Actor, ActorContext, Context, Handler, Message, ResponseFuture};

use super::child::StopChild;
use crate::provision;
use baton::pb::c1::connector::v2::{
    CreateAccountResponse, DeleteResourceResponse, GrantManagerServiceGrantResponse,
    GrantManagerServiceRevokeResponse,
};
use conductorone::task::{CreateAccountTask, DeleteResourceTask, GrantTask, RevokeTask, TaskError};

pub struct Provisioner {
    engine: Arc<provision::Provisioner>,
}

impl Provisioner {
    pub fn new(engine: provision::Provisioner) -> Self {
        Self {
            engine: Arc::new(engine),
        }
    }
}

impl Actor for Provisioner {
    type Context = Context<Self>;
}

pub enum ProvisionRequest {
    Grant(GrantTask),
    Revoke(RevokeTask),
    CreateAccount(CreateAccountTask),
    DeleteResource(DeleteResourceTask),
}

impl ProvisionRequest {
    /// The task's type, as the tenant's history records it.
    pub fn label(&self) -> &'static str {
        match self {
            Self::Grant(_) => "grant",
            Self::Revoke(_) => "revoke",
            Self::CreateAccount(_) => "create_account",
            Self::DeleteResource(_) => "delete_resource",
        }
    }
}

pub enum ProvisionResponse {
    Grant(GrantManagerServiceGrantResponse),
    Revoke(GrantManagerServiceRevokeResponse),
    CreateAccount(Box<CreateAccountResponse>),
    DeleteResource(DeleteResourceResponse),
}

/// Carry out one provisioning task (`task_id` is for logs and metrics).
#[derive(Message)]
#[rtype(result = "Result<ProvisionResponse, TaskError>")]
pub struct Provision {
    pub task_id: String,
    pub request: ProvisionRequest,
}

impl Handler<Provision> for Provisioner {
    type Result = ResponseFuture<Result<ProvisionResponse, TaskError>>;

    fn handle(
        &mut self,
        Provision { task_id, request }: Provision,
        _: &mut Context<Self>,
    ) -> Self::Result {
        let engine = self.engine.clone();
        Box::pin(async move {
            let id = task_id.as_str();
            Ok(match request {
                ProvisionRequest::Grant(task) => {
                    ProvisionResponse::Grant(engine.grant(id, task).await?)
                }
                ProvisionRequest::Revoke(task) => {
                    ProvisionResponse::Revoke(engine.revoke(id, task).await?)
                }
                ProvisionRequest::CreateAccount(task) => ProvisionResponse::CreateAccount(
                    Box::new(engine.create_account(id, task).await?),
                ),
                ProvisionRequest::DeleteResource(task) => {
                    ProvisionResponse::DeleteResource(engine.delete_resource(id, task).await?)
                }
            })
        })
    }
}

impl Handler<StopChild> for Provisioner {
    type Result = ();

    fn handle(&mut self, _: StopChild, ctx: &mut Context<Self>) {
        ctx.stop();
    }
}
