//! What the simulator records and reports: injected faults, task states,
//! and the records of finishes, tasks, hellos and uploads tests read.

use std::sync::Arc;

use prost_types::Any;
use serde::{Deserialize, Serialize};

use super::super::decode::UploadContents;
use baton::pb::c1::connectorapi::baton::v1::{BatonServiceHelloRequest, Task};

/// Faults injected into one tenant's traffic; counters count down per use.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TenantFaults {
    /// The next N GetTask calls answer Unavailable.
    pub get_task_unavailable: u32,
    /// The next N Heartbeat calls answer Unavailable.
    pub heartbeat_unavailable: u32,
    /// The next N uploads are answered with a checksum mismatch.
    pub upload_checksum_mismatch: u32,
    /// The next N token requests get HTTP 500.
    pub token_server_error: u32,
    /// Lifetime of tokens issued from now on (default: the simulator's).
    pub token_lifetime_secs: Option<u64>,
    /// Token answers leave `expires_in` out.
    pub token_omit_expires_in: bool,
    /// Token answers claim this `expires_in`; the token lives as long as usual.
    pub token_claimed_expires_in: Option<u64>,
    /// Token requests are answered `302 Found` with this `Location`.
    pub token_redirect: Option<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TaskState {
    Pending,
    Running,
    Finished,
    /// Cancelled while still queued; never handed out.
    Withdrawn,
}

/// What the connector said in FinishTask.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct FinishRecord {
    pub success: bool,
    /// `google.rpc.Status.code` (0 on success).
    pub code: i32,
    pub message: String,
    pub non_retryable: bool,
    pub response_type_url: Option<String>,
    pub annotation_type_urls: Vec<String>,
    #[serde(skip)]
    pub response: Option<Any>,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct TaskRecord {
    pub id: String,
    pub tenant: String,
    pub task_type: &'static str,
    pub state: TaskState,
    pub heartbeats: u32,
    pub cancel_requested: bool,
    pub finish: Option<FinishRecord>,
    /// FinishTask calls refused because the task was no longer running.
    pub late_finishes: u32,
    /// Calls about this task refused because they came from another tenant.
    pub foreign_calls: u32,
    #[serde(skip)]
    pub task: Task,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct HelloRecord {
    pub tenant: String,
    pub host_id: String,
    pub task_id: String,
    pub display_name: String,
    #[serde(skip)]
    pub request: BatonServiceHelloRequest,
}

/// A verified upload. The bytes are kept in memory (and in the upload
/// directory, when one is set).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct UploadRecord {
    pub tenant: String,
    pub task_id: String,
    pub host_id: String,
    pub size: u64,
    pub sha256: String,
    pub chunks: u32,
    /// What our c1z reader found in the file, or why it could not read it.
    pub contents: Option<UploadContents>,
    pub decode_error: Option<String>,
    #[serde(skip)]
    pub bytes: Arc<Vec<u8>>,
}

/// Counters per tenant.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct TenantStats {
    pub tokens_issued: u64,
    pub token_requests_refused: u64,
    pub calls_rejected_unauthenticated: u64,
    pub get_task_calls: u64,
    pub uploads_refused: u64,
}
