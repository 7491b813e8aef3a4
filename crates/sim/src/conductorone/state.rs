//! Everything the simulator knows and records, behind one lock: tenants and
//! their keys, issued tokens, per-tenant task queues, injected faults, and
//! the record of hellos, heartbeats, finishes and uploads that tests read.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::pin::Pin;
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use ed25519_dalek::VerifyingKey;
use tokio::sync::Notify;
use tokio::sync::futures::Notified;

use super::credentials::SimTenant;
mod records;

pub use self::records::{
    FinishRecord, HelloRecord, TaskRecord, TaskState, TenantFaults, TenantStats, UploadRecord,
};
use baton::pb::c1::connectorapi::baton::v1::Task;
use baton::pb::c1::connectorapi::baton::v1::task::TaskType;

struct TenantEntry {
    client_id: String,
    public_key: VerifyingKey,
    queue: VecDeque<String>,
    faults: TenantFaults,
    stats: TenantStats,
}

struct IssuedToken {
    tenant: String,
    expires_at: Instant,
}

#[derive(Default)]
struct Records {
    tenants: BTreeMap<String, TenantEntry>,
    tokens: HashMap<String, IssuedToken>,
    tasks: HashMap<String, TaskRecord>,
    task_order: Vec<String>,
    hellos: Vec<HelloRecord>,
    uploads: Vec<UploadRecord>,
    /// Every token issued and assertion received, by tenant, so tests can
    /// check that none of them ever shows up in the client's logs.
    issued_tokens: Vec<(String, String)>,
    assertions: Vec<(String, String)>,
}

/// Pacing the simulator asks of connectors.
#[derive(Clone, Copy, Debug)]
pub struct Pacing {
    pub next_poll: Duration,
    pub next_heartbeat: Duration,
    pub token_lifetime: Duration,
}

#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum StateError {
    #[error("no tenant named `{0}`")]
    UnknownTenant(String),
    #[error("no task `{0}`")]
    UnknownTask(String),
    #[error("tenant `{0}` is listed twice")]
    DuplicateTenant(String),
    #[error("tenant `{0}`: {1}")]
    InvalidKey(String, String),
}

/// Why an RPC or token request is refused.
#[derive(Debug, PartialEq, Eq)]
pub enum Refusal {
    NotFound,
    AlreadyFinished,
    /// An injected fault: answer Unavailable.
    Unavailable,
}

pub struct SimState {
    records: Mutex<Records>,
    changed: Notify,
    pub pacing: Pacing,
}

impl SimState {
    pub fn new(tenants: Vec<SimTenant>, pacing: Pacing) -> Result<Self, StateError> {
        let mut records = Records::default();
        for tenant in tenants {
            let public_key = tenant
                .public_jwk
                .verifying_key()
                .map_err(|reason| StateError::InvalidKey(tenant.name.clone(), reason))?;
            let entry = TenantEntry {
                client_id: tenant.client_id,
                public_key,
                queue: VecDeque::new(),
                faults: TenantFaults::default(),
                stats: TenantStats::default(),
            };
            if records.tenants.insert(tenant.name.clone(), entry).is_some() {
                return Err(StateError::DuplicateTenant(tenant.name));
            }
        }
        Ok(Self {
            records: Mutex::new(records),
            changed: Notify::new(),
            pacing,
        })
    }

    fn lock(&self) -> MutexGuard<'_, Records> {
        // A panic while holding the lock leaves plain data behind; keep serving it.
        self.records
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn touch(&self) {
        self.changed.notify_waiters();
    }

    /// A snapshot-change future armed *now*, so no change is missed between
    /// checking a condition and waiting.
    pub fn change_notifier(&self) -> Pin<Box<Notified<'_>>> {
        let mut notified = Box::pin(self.changed.notified());
        notified.as_mut().enable();
        notified
    }

    // ----- tenants and tokens -----

    /// The tenant owning `client_id` and its public key.
    pub fn tenant_for_client(&self, client_id: &str) -> Option<(String, VerifyingKey)> {
        let records = self.lock();
        records
            .tenants
            .iter()
            .find(|(_, entry)| entry.client_id == client_id)
            .map(|(name, entry)| (name.clone(), entry.public_key))
    }

    /// Counts down the token-endpoint fault; true means "answer 500".
    pub fn take_token_fault(&self, tenant: &str) -> bool {
        let mut records = self.lock();
        let Some(entry) = records.tenants.get_mut(tenant) else {
            return false;
        };
        take(&mut entry.faults.token_server_error)
    }

    /// The tenant's current faults (the defaults for an unknown tenant).
    pub fn faults(&self, tenant: &str) -> TenantFaults {
        let records = self.lock();
        records
            .tenants
            .get(tenant)
            .map(|entry| entry.faults.clone())
            .unwrap_or_default()
    }

    pub fn record_assertion(&self, tenant: &str, assertion: &str) {
        self.lock()
            .assertions
            .push((tenant.to_owned(), assertion.to_owned()));
    }

    /// Every access token issued to `tenant` and every assertion it sent.
    pub fn credentials_seen(&self, tenant: &str) -> Vec<String> {
        let records = self.lock();
        records
            .issued_tokens
            .iter()
            .chain(&records.assertions)
            .filter(|(owner, _)| owner == tenant)
            .map(|(_, value)| value.clone())
            .collect()
    }

    pub fn refuse_token_request(&self, tenant: &str) {
        if let Some(entry) = self.lock().tenants.get_mut(tenant) {
            entry.stats.token_requests_refused += 1;
        }
    }

    /// Issues an opaque token for `tenant`; returns it and its lifetime.
    pub fn issue_token(&self, tenant: &str) -> (String, Duration) {
        let token = hex::encode(rand::random::<[u8; 32]>());
        let mut records = self.lock();
        let lifetime = records
            .tenants
            .get(tenant)
            .and_then(|entry| entry.faults.token_lifetime_secs)
            .map_or(self.pacing.token_lifetime, Duration::from_secs);
        if let Some(entry) = records.tenants.get_mut(tenant) {
            entry.stats.tokens_issued += 1;
        }
        let now = Instant::now();
        records.tokens.retain(|_, issued| issued.expires_at > now);
        records.tokens.insert(
            token.clone(),
            IssuedToken {
                tenant: tenant.to_owned(),
                expires_at: now + lifetime,
            },
        );
        records
            .issued_tokens
            .push((tenant.to_owned(), token.clone()));
        (token, lifetime)
    }

    /// The tenant of a valid bearer token, or why it is not valid.
    pub fn authenticate(&self, token: Option<&str>) -> Result<String, &'static str> {
        let mut records = self.lock();
        let Some(token) = token else {
            return Err("missing bearer token");
        };
        let verdict = match records.tokens.get(token) {
            None => Err((None, "unknown access token")),
            Some(issued) if issued.expires_at <= Instant::now() => {
                Err((Some(issued.tenant.clone()), "access token expired"))
            }
            Some(issued) => Ok(issued.tenant.clone()),
        };
        verdict.map_err(|(tenant, reason)| {
            if let Some(entry) = tenant.and_then(|tenant| records.tenants.get_mut(&tenant)) {
                entry.stats.calls_rejected_unauthenticated += 1;
            }
            reason
        })
    }

    pub fn set_faults(&self, tenant: &str, faults: TenantFaults) -> Result<(), StateError> {
        let mut records = self.lock();
        let entry = records
            .tenants
            .get_mut(tenant)
            .ok_or_else(|| StateError::UnknownTenant(tenant.into()))?;
        entry.faults = faults;
        Ok(())
    }

    pub fn stats(&self, tenant: &str) -> Result<TenantStats, StateError> {
        let records = self.lock();
        let entry = records
            .tenants
            .get(tenant)
            .ok_or_else(|| StateError::UnknownTenant(tenant.into()))?;
        Ok(entry.stats.clone())
    }

    // ----- tasks -----

    pub fn enqueue(
        &self,
        tenant: &str,
        task_type: Option<TaskType>,
        type_name: &'static str,
    ) -> Result<String, StateError> {
        self.enqueue_with_id(tenant, task_id(), task_type, type_name)
    }

    /// Queues a task under an id of the caller's choosing, hostile ones included.
    pub fn enqueue_with_id(
        &self,
        tenant: &str,
        id: String,
        task_type: Option<TaskType>,
        type_name: &'static str,
    ) -> Result<String, StateError> {
        let mut records = self.lock();
        let entry = records
            .tenants
            .get_mut(tenant)
            .ok_or_else(|| StateError::UnknownTenant(tenant.into()))?;
        entry.queue.push_back(id.clone());
        let task = Task {
            id: id.clone(),
            task_type,
            ..Default::default()
        };
        let record = TaskRecord {
            id: id.clone(),
            tenant: tenant.to_owned(),
            task_type: type_name,
            state: TaskState::Pending,
            heartbeats: 0,
            cancel_requested: false,
            finish: None,
            late_finishes: 0,
            foreign_calls: 0,
            task,
        };
        records.tasks.insert(id.clone(), record);
        records.task_order.push(id.clone());
        drop(records);
        self.touch();
        Ok(id)
    }

    /// Asks for a task to stop: a queued one is withdrawn, a running one is
    /// told `cancelled` at its next heartbeat.
    pub fn cancel(&self, task_id: &str) -> Result<(), StateError> {
        let mut records = self.lock();
        let record = records
            .tasks
            .get_mut(task_id)
            .ok_or_else(|| StateError::UnknownTask(task_id.into()))?;
        record.cancel_requested = true;
        if record.state == TaskState::Pending {
            record.state = TaskState::Withdrawn;
        }
        drop(records);
        self.touch();
        Ok(())
    }

    /// GetTask for `tenant`: a fault, the next queued task, or nothing.
    pub fn next_task(&self, tenant: &str) -> Result<Option<Task>, ()> {
        let mut records = self.lock();
        let Records { tenants, tasks, .. } = &mut *records;
        let Some(entry) = tenants.get_mut(tenant) else {
            return Ok(None);
        };
        entry.stats.get_task_calls += 1;
        if take(&mut entry.faults.get_task_unavailable) {
            return Err(());
        }
        while let Some(id) = entry.queue.pop_front() {
            if let Some(record) = tasks
                .get_mut(&id)
                .filter(|record| record.state == TaskState::Pending)
            {
                record.state = TaskState::Running;
                let task = record.task.clone();
                drop(records);
                self.touch();
                return Ok(Some(task));
            }
        }
        Ok(None)
    }

    /// Heartbeat from `tenant`; answers whether the task was cancelled.
    pub fn heartbeat(&self, tenant: &str, task_id: &str) -> Result<bool, Refusal> {
        let mut records = self.lock();
        let faulted = records
            .tenants
            .get_mut(tenant)
            .is_some_and(|entry| take(&mut entry.faults.heartbeat_unavailable));
        if faulted {
            return Err(Refusal::Unavailable);
        }
        let record = owned_task(&mut records, tenant, task_id)?;
        if record.state != TaskState::Running {
            return Err(Refusal::AlreadyFinished);
        }
        record.heartbeats += 1;
        let cancelled = record.cancel_requested;
        drop(records);
        self.touch();
        Ok(cancelled)
    }

    pub fn finish(&self, tenant: &str, task_id: &str, finish: FinishRecord) -> Result<(), Refusal> {
        let mut records = self.lock();
        let record = owned_task(&mut records, tenant, task_id)?;
        if record.state != TaskState::Running {
            record.late_finishes += 1;
            return Err(Refusal::AlreadyFinished);
        }
        record.state = TaskState::Finished;
        record.finish = Some(finish);
        drop(records);
        self.touch();
        Ok(())
    }

    /// Checks that `tenant` may upload for `task_id` (its own, running task).
    pub fn check_upload_target(&self, tenant: &str, task_id: &str) -> Result<(), Refusal> {
        let mut records = self.lock();
        let refusal = match owned_task(&mut records, tenant, task_id) {
            Ok(record) if record.state == TaskState::Running => return Ok(()),
            Ok(_) => Refusal::AlreadyFinished,
            Err(refusal) => refusal,
        };
        if let Some(entry) = records.tenants.get_mut(tenant) {
            entry.stats.uploads_refused += 1;
        }
        Err(refusal)
    }

    /// Counts down the checksum fault; true means "report a mismatch".
    pub fn take_checksum_fault(&self, tenant: &str) -> bool {
        let mut records = self.lock();
        let Some(entry) = records.tenants.get_mut(tenant) else {
            return false;
        };
        let fault = take(&mut entry.faults.upload_checksum_mismatch);
        if fault {
            entry.stats.uploads_refused += 1;
        }
        fault
    }

    pub fn refuse_upload(&self, tenant: &str) {
        if let Some(entry) = self.lock().tenants.get_mut(tenant) {
            entry.stats.uploads_refused += 1;
        }
    }

    pub fn record_upload(&self, upload: UploadRecord) {
        self.lock().uploads.push(upload);
        self.touch();
    }

    /// A Hello; one carrying a hello task's id completes that task.
    pub fn record_hello(&self, hello: HelloRecord) -> Result<(), Refusal> {
        let mut records = self.lock();
        if !hello.task_id.is_empty() {
            let record = owned_task(&mut records, &hello.tenant, &hello.task_id)?;
            if record.state != TaskState::Running {
                return Err(Refusal::AlreadyFinished);
            }
            record.state = TaskState::Finished;
        }
        records.hellos.push(hello);
        drop(records);
        self.touch();
        Ok(())
    }

    // ----- reading the record -----

    pub fn task(&self, task_id: &str) -> Option<TaskRecord> {
        self.lock().tasks.get(task_id).cloned()
    }

    /// A tenant's tasks in the order they were enqueued.
    pub fn tasks(&self, tenant: &str) -> Vec<TaskRecord> {
        let records = self.lock();
        records
            .task_order
            .iter()
            .filter_map(|id| records.tasks.get(id))
            .filter(|record| record.tenant == tenant)
            .cloned()
            .collect()
    }

    pub fn hellos(&self, tenant: &str) -> Vec<HelloRecord> {
        self.lock()
            .hellos
            .iter()
            .filter(|hello| hello.tenant == tenant)
            .cloned()
            .collect()
    }

    pub fn uploads(&self, tenant: &str) -> Vec<UploadRecord> {
        self.lock()
            .uploads
            .iter()
            .filter(|upload| upload.tenant == tenant)
            .cloned()
            .collect()
    }
}

/// The task, if it exists and belongs to `tenant`. Another tenant's task is
/// reported as missing, so tenants learn nothing about each other.
fn owned_task<'a>(
    records: &'a mut Records,
    tenant: &str,
    task_id: &str,
) -> Result<&'a mut TaskRecord, Refusal> {
    match records.tasks.get_mut(task_id) {
        Some(record) if record.tenant == tenant => Ok(record),
        Some(record) => {
            record.foreign_calls += 1;
            Err(Refusal::NotFound)
        }
        None => Err(Refusal::NotFound),
    }
}

fn take(counter: &mut u32) -> bool {
    let armed = *counter > 0;
    *counter = counter.saturating_sub(1);
    armed
}

/// 27 alphanumerics, the shape of ConductorOne's task ids.
fn task_id() -> String {
    const ALPHABET: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    let random: [u8; 27] = rand::random();
    random
        .iter()
        .map(|byte| char::from(ALPHABET[usize::from(*byte) % ALPHABET.len()]))
        .collect()
}

#[cfg(test)]
mod tests;
