//! The simulated `c1.connectorapi.baton.v1.BatonService`: every call needs a
//! valid bearer token, which names the tenant; a tenant only ever sees and
//! finishes its own tasks; uploads are verified (owner, chunk size, SHA-256)
//! before they are recorded.

use std::path::PathBuf;
use std::sync::Arc;

use prost_types::Duration as ProtoDuration;
use sha2::{Digest, Sha256};
use tonic::{Request, Response, Status, Streaming};

use super::decode::decode_c1z;
use super::state::{FinishRecord, HelloRecord, Refusal, SimState, UploadRecord};
use baton::pb::c1::connectorapi::baton::v1::baton_service_finish_task_request::FinalState;
use baton::pb::c1::connectorapi::baton::v1::baton_service_server::BatonService;
use baton::pb::c1::connectorapi::baton::v1::baton_service_upload_asset_request::Msg;
use baton::pb::c1::connectorapi::baton::v1::{
    BatonServiceFinishTaskRequest, BatonServiceFinishTaskResponse, BatonServiceGetTaskRequest,
    BatonServiceGetTaskResponse, BatonServiceHeartbeatRequest, BatonServiceHeartbeatResponse,
    BatonServiceHelloRequest, BatonServiceHelloResponse, BatonServiceUploadAssetRequest,
    BatonServiceUploadAssetResponse,
};

/// ConductorOne's limit on one upload message.
const MAX_CHUNK: usize = 1024 * 1024;
const MAX_HOST_ID: usize = 256;

pub struct SimBatonService {
    pub state: Arc<SimState>,
    /// Where verified uploads are also written, as `<tenant>-<task id>.c1z`.
    pub upload_dir: Option<PathBuf>,
}

impl SimBatonService {
    fn tenant<T>(&self, request: &Request<T>) -> Result<String, Status> {
        let token = request
            .metadata()
            .get("authorization")
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.strip_prefix("Bearer "));
        self.state
            .authenticate(token)
            .map_err(Status::unauthenticated)
    }
}

fn check_host_id(host_id: &str) -> Result<(), Status> {
    if host_id.is_empty() || host_id.len() > MAX_HOST_ID {
        return Err(Status::invalid_argument("host_id must be 1 to 256 bytes"));
    }
    Ok(())
}

fn refusal(refusal: Refusal, task_id: &str) -> Status {
    match refusal {
        Refusal::NotFound => Status::not_found(format!("no task {task_id}")),
        Refusal::Unavailable => Status::unavailable("injected Heartbeat failure"),
        Refusal::AlreadyFinished => {
            Status::failed_precondition(format!("task {task_id} is not running"))
        }
    }
}

fn proto_duration(duration: std::time::Duration) -> ProtoDuration {
    ProtoDuration {
        seconds: i64::try_from(duration.as_secs()).unwrap_or(i64::MAX),
        nanos: i32::try_from(duration.subsec_nanos()).unwrap_or_default(),
    }
}

#[tonic::async_trait]
impl BatonService for SimBatonService {
    async fn hello(
        &self,
        request: Request<BatonServiceHelloRequest>,
    ) -> Result<Response<BatonServiceHelloResponse>, Status> {
        let tenant = self.tenant(&request)?;
        let hello = request.into_inner();
        check_host_id(&hello.host_id)?;
        let display_name = match &hello.connector_metadata {
            Some(metadata) if !metadata.display_name.is_empty() => metadata.display_name.clone(),
            _ => {
                return Err(Status::invalid_argument(
                    "connector_metadata.display_name is required",
                ));
            }
        };
        let record = HelloRecord {
            tenant,
            host_id: hello.host_id.clone(),
            task_id: hello.task_id.clone(),
            display_name,
            request: hello,
        };
        let task_id = record.task_id.clone();
        self.state
            .record_hello(record)
            .map_err(|err| refusal(err, &task_id))?;
        Ok(Response::new(BatonServiceHelloResponse::default()))
    }

    async fn get_task(
        &self,
        request: Request<BatonServiceGetTaskRequest>,
    ) -> Result<Response<BatonServiceGetTaskResponse>, Status> {
        let tenant = self.tenant(&request)?;
        check_host_id(&request.get_ref().host_id)?;
        let task = self
            .state
            .next_task(&tenant)
            .map_err(|()| Status::unavailable("injected GetTask failure"))?;
        Ok(Response::new(BatonServiceGetTaskResponse {
            task,
            next_poll: Some(proto_duration(self.state.pacing.next_poll)),
            next_heartbeat: Some(proto_duration(self.state.pacing.next_heartbeat)),
            annotations: Vec::new(),
        }))
    }

    async fn heartbeat(
        &self,
        request: Request<BatonServiceHeartbeatRequest>,
    ) -> Result<Response<BatonServiceHeartbeatResponse>, Status> {
        let tenant = self.tenant(&request)?;
        let beat = request.into_inner();
        check_host_id(&beat.host_id)?;
        let cancelled = self
            .state
            .heartbeat(&tenant, &beat.task_id)
            .map_err(|err| refusal(err, &beat.task_id))?;
        Ok(Response::new(BatonServiceHeartbeatResponse {
            next_heartbeat: Some(proto_duration(self.state.pacing.next_heartbeat)),
            cancelled,
            annotations: Vec::new(),
        }))
    }

    async fn finish_task(
        &self,
        request: Request<BatonServiceFinishTaskRequest>,
    ) -> Result<Response<BatonServiceFinishTaskResponse>, Status> {
        let tenant = self.tenant(&request)?;
        let finish = request.into_inner();
        check_host_id(&finish.host_id)?;
        let status = finish.status.unwrap_or_default();
        let record = match finish.final_state {
            Some(FinalState::Success(success)) => FinishRecord {
                success: true,
                code: status.code,
                message: status.message,
                non_retryable: false,
                response_type_url: success.response.as_ref().map(|any| any.type_url.clone()),
                annotation_type_urls: success
                    .annotations
                    .iter()
                    .map(|any| any.type_url.clone())
                    .collect(),
                response: success.response,
            },
            Some(FinalState::Error(error)) => {
                if status.code == 0 {
                    return Err(Status::invalid_argument(
                        "an error finish needs a non-OK status",
                    ));
                }
                FinishRecord {
                    success: false,
                    code: status.code,
                    message: status.message,
                    non_retryable: error.non_retryable,
                    response_type_url: error.response.as_ref().map(|any| any.type_url.clone()),
                    annotation_type_urls: error
                        .annotations
                        .iter()
                        .map(|any| any.type_url.clone())
                        .collect(),
                    response: error.response,
                }
            }
            None => return Err(Status::invalid_argument("final_state is required")),
        };
        self.state
            .finish(&tenant, &finish.task_id, record)
            .map_err(|err| refusal(err, &finish.task_id))?;
        Ok(Response::new(BatonServiceFinishTaskResponse::default()))
    }

    async fn upload_asset(
        &self,
        request: Request<Streaming<BatonServiceUploadAssetRequest>>,
    ) -> Result<Response<BatonServiceUploadAssetResponse>, Status> {
        let tenant = self.tenant(&request)?;
        let mut stream = request.into_inner();
        let result = receive_upload(&self.state, &tenant, &mut stream).await;
        let mut upload = match result {
            Ok(upload) => upload,
            Err(status) => {
                self.state.refuse_upload(&tenant);
                return Err(status);
            }
        };
        if self.state.take_checksum_fault(&tenant) {
            return Err(Status::invalid_argument(
                "sha256 checksum mismatch (injected)",
            ));
        }
        if let Some(dir) = &self.upload_dir {
            let path = dir.join(format!("{}-{}.c1z", upload.tenant, upload.task_id));
            tokio::fs::write(&path, upload.bytes.as_slice())
                .await
                .map_err(|err| Status::internal(format!("cannot store the upload: {err}")))?;
        }
        match decode_c1z(upload.bytes.clone()).await {
            Ok(contents) => upload.contents = Some(contents),
            Err(reason) => upload.decode_error = Some(reason),
        }
        self.state.record_upload(upload);
        Ok(Response::new(BatonServiceUploadAssetResponse::default()))
    }
}

/// Reads metadata, data and EOF, checking each as it comes.
async fn receive_upload(
    state: &SimState,
    tenant: &str,
    stream: &mut Streaming<BatonServiceUploadAssetRequest>,
) -> Result<UploadRecord, Status> {
    let metadata = match stream.message().await?.and_then(|message| message.msg) {
        Some(Msg::Metadata(metadata)) => metadata,
        _ => {
            return Err(Status::invalid_argument(
                "an upload must start with metadata",
            ));
        }
    };
    check_host_id(&metadata.host_id)?;
    state
        .check_upload_target(tenant, &metadata.task_id)
        .map_err(|err| refusal(err, &metadata.task_id))?;
    let mut bytes = Vec::new();
    let mut chunks = 0;
    let mut hasher = Sha256::new();
    loop {
        match stream.message().await?.and_then(|message| message.msg) {
            Some(Msg::Data(data)) => {
                if data.data.is_empty() || data.data.len() > MAX_CHUNK {
                    return Err(Status::invalid_argument(
                        "upload chunks must hold 1 byte to 1 MiB",
                    ));
                }
                hasher.update(&data.data);
                bytes.extend_from_slice(&data.data);
                chunks += 1;
            }
            Some(Msg::Eof(eof)) => {
                let digest: [u8; 32] = hasher.finalize().into();
                if eof.sha256_checksum != digest {
                    return Err(Status::invalid_argument("sha256 checksum mismatch"));
                }
                return Ok(UploadRecord {
                    tenant: tenant.to_owned(),
                    task_id: metadata.task_id,
                    host_id: metadata.host_id,
                    size: bytes.len() as u64,
                    sha256: hex::encode(digest),
                    chunks,
                    contents: None,
                    decode_error: None,
                    bytes: Arc::new(bytes),
                });
            }
            Some(Msg::Metadata(_)) => return Err(Status::invalid_argument("metadata sent twice")),
            None => return Err(Status::invalid_argument("the upload ended without EOF")),
        }
    }
}
