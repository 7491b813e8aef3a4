//! The Uploader of a ConductorOne tenant: streams finished c1z files to
//! BatonService `UploadAsset` (512 KiB chunks, SHA-256 at EOF, up to three
//! attempts). One upload at a time per tenant, so a tenant's uploads never
//! compete with each other for its bandwidth.

use std::path::PathBuf;

use actix::{Actor, ActorContext, AtomicResponse, Context, Handler, Message, WrapFuture};

use super::child::StopChild;
use conductorone::client::BatonClient;
use conductorone::upload::{UploadError, upload_c1z};

pub struct Uploader {
    tenant: String,
}

impl Uploader {
    pub fn new(tenant: String) -> Self {
        Self { tenant }
    }
}

impl Actor for Uploader {
    type Context = Context<Self>;
}

/// Upload `path` as the result of `task_id`; answers with the bytes sent.
#[derive(Clone, Message)]
#[rtype(result = "Result<u64, UploadError>")]
pub struct Upload {
    pub client: BatonClient,
    pub task_id: String,
    pub path: PathBuf,
}

impl Handler<Upload> for Uploader {
    type Result = AtomicResponse<Self, Result<u64, UploadError>>;

    fn handle(&mut self, upload: Upload, _: &mut Context<Self>) -> Self::Result {
        let tenant = self.tenant.clone();
        AtomicResponse::new(Box::pin(
            async move { upload_c1z(&upload.client, &tenant, &upload.task_id, &upload.path).await }
                .into_actor(self),
        ))
    }
}

impl Handler<StopChild> for Uploader {
    type Result = ();

    fn handle(&mut self, _: StopChild, ctx: &mut Context<Self>) {
        ctx.stop();
    }
}
