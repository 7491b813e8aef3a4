//! ConductorOne service mode against the ConductorOne simulator, over real
//! TLS sockets on 127.0.0.1, with plain tokio: credentials, tokens, polling,
//! heartbeats, uploads, cancellation, provisioning answers, tenant isolation
//! and what the client logs.

use std::io::Write as _;

use crate::support::{CapturedLogs, fixture, run_alone};
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use prost::Name;
use sha2::{Digest, Sha256};
use tokio::sync::{oneshot, watch};
use tokio::task::JoinHandle;

use baton::pb::c1::connector::v2::{
    CreateAccountResponse, DeleteResourceResponse, GrantAlreadyExists, GrantAlreadyRevoked,
    GrantManagerServiceGrantResponse, GrantManagerServiceRevokeResponse, ResourceDoesNotExist,
    create_account_response,
};
use baton::pb::c1::connectorapi::baton::v1::baton_service_finish_task_request::{
    FinalState, Success,
};
use conductorone::client::BatonClient;
use conductorone::credentials::ClientCredentials;
use conductorone::metadata::{connector_metadata, sync_capabilities};
use conductorone::settings::C1Settings;
use conductorone::task::{CreateAccountTask, DeleteResourceTask, GrantTask, RevokeTask};
use conductorone::{
    BoxFuture, CancellationSignal, RunnerStatus, SessionError, SessionState, SyncRequest,
    SyncedFile, TaskError, TaskHandler, TaskRunner,
};
use platform::secret::Secret;
use platform::tls::CaCertificates;
use sim::conductorone::{
    ConductorOneSim, EntitlementRef, ResourceRef, SimOptions, SimTask, SimTenant, SyncOptions,
    TaskRecord, TaskState, TenantFaults, gen_credentials,
};

const WAIT: Duration = Duration::from_secs(30);
const FILE_SIZE: usize = 3 * 1024 * 1024 + 12_345;
const CANCELLED: i32 = tonic::Code::Cancelled as i32;

// ----- a handler that does real file work -----

#[derive(Default)]
struct Counters {
    running_tasks: AtomicUsize,
    max_tasks: AtomicUsize,
    running_syncs: AtomicUsize,
    max_syncs: AtomicUsize,
    cancelled_syncs: AtomicUsize,
}

impl Counters {
    fn enter(running: &AtomicUsize, max: &AtomicUsize) {
        let now = running.fetch_add(1, Ordering::SeqCst) + 1;
        max.fetch_max(now, Ordering::SeqCst);
    }
}

/// Writes a few MB per sync (slowly, when asked, checking for cancellation
/// between chunks) and answers provisioning tasks with typed responses.
struct TestHandler {
    dir: PathBuf,
    /// Pause between the 13 chunks a sync writes.
    sync_step: Duration,
    provision_time: Duration,
    counters: Counters,
    sync_requests: Mutex<Vec<SyncRequest>>,
}

impl TestHandler {
    fn new(sync_step: Duration) -> Arc<Self> {
        let dir = std::env::temp_dir().join(format!(
            "c1-it-{}-{}",
            std::process::id(),
            hex::encode(rand::random::<[u8; 6]>())
        ));
        std::fs::create_dir_all(&dir).unwrap();
        Arc::new(Self {
            dir,
            sync_step,
            provision_time: Duration::from_millis(50),
            counters: Counters::default(),
            sync_requests: Mutex::new(Vec::new()),
        })
    }

    fn with_provision_time(self: Arc<Self>, time: Duration) -> Arc<Self> {
        let mut handler = Arc::into_inner(self).unwrap();
        handler.provision_time = time;
        Arc::new(handler)
    }

    fn files_left(&self) -> Vec<PathBuf> {
        std::fs::read_dir(&self.dir)
            .unwrap()
            .map(|entry| entry.unwrap().path())
            .collect()
    }

    fn content_for(task_id: &str) -> Vec<u8> {
        let seed = Sha256::digest(task_id.as_bytes());
        (0..FILE_SIZE)
            .map(|i| seed[i % 32] ^ (i % 251) as u8)
            .collect()
    }

    fn provision<R: Send + 'static>(
        self: &Arc<Self>,
        result: Result<R, TaskError>,
    ) -> BoxFuture<Result<R, TaskError>> {
        let handler = self.clone();
        Box::pin(async move {
            Counters::enter(&handler.counters.running_tasks, &handler.counters.max_tasks);
            tokio::time::sleep(handler.provision_time).await;
            handler
                .counters
                .running_tasks
                .fetch_sub(1, Ordering::SeqCst);
            result
        })
    }
}

impl Drop for TestHandler {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// `Arc<TestHandler>` is what the runner holds; the test keeps a clone.
struct SharedHandler(Arc<TestHandler>);

impl TaskHandler for SharedHandler {
    fn sync(
        &self,
        task_id: &str,
        request: SyncRequest,
        cancel: CancellationSignal,
    ) -> BoxFuture<Result<SyncedFile, TaskError>> {
        let handler = self.0.clone();
        let task_id = task_id.to_owned();
        Box::pin(async move {
            let counters = &handler.counters;
            Counters::enter(&counters.running_tasks, &counters.max_tasks);
            Counters::enter(&counters.running_syncs, &counters.max_syncs);
            handler.sync_requests.lock().unwrap().push(request.clone());
            let result = write_c1z(&handler, &task_id, &request, &cancel).await;
            counters.running_syncs.fetch_sub(1, Ordering::SeqCst);
            counters.running_tasks.fetch_sub(1, Ordering::SeqCst);
            result
        })
    }

    fn grant(
        &self,
        _task_id: &str,
        task: GrantTask,
    ) -> BoxFuture<Result<GrantManagerServiceGrantResponse, TaskError>> {
        let principal = task
            .principal
            .and_then(|p| p.id)
            .map(|id| id.resource)
            .unwrap_or_default();
        let result = if principal == "forbidden" {
            Err(TaskError::new(tonic::Code::PermissionDenied, "Confluence said no").non_retryable())
        } else if principal == "busy" {
            Err(TaskError::new(
                tonic::Code::Unavailable,
                "Confluence answered 503 after 3 attempts",
            ))
        } else {
            Ok(GrantManagerServiceGrantResponse {
                annotations: vec![prost_types::Any::from_msg(&GrantAlreadyExists {}).unwrap()],
                grants: Vec::new(),
            })
        };
        self.0.provision(result)
    }

    fn revoke(
        &self,
        _task_id: &str,
        _task: RevokeTask,
    ) -> BoxFuture<Result<GrantManagerServiceRevokeResponse, TaskError>> {
        self.0.provision(Ok(GrantManagerServiceRevokeResponse {
            annotations: vec![prost_types::Any::from_msg(&GrantAlreadyRevoked {}).unwrap()],
        }))
    }

    fn create_account(
        &self,
        _task_id: &str,
        task: CreateAccountTask,
    ) -> BoxFuture<Result<CreateAccountResponse, TaskError>> {
        let login = task.account_info.map(|info| info.login).unwrap_or_default();
        self.0.provision(Ok(CreateAccountResponse {
            result: Some(create_account_response::Result::Success(
                create_account_response::SuccessResult {
                    resource: Some(baton::pb::c1::connector::v2::Resource {
                        display_name: login,
                        ..Default::default()
                    }),
                    is_create_account_result: true,
                },
            )),
            ..Default::default()
        }))
    }

    fn delete_resource(
        &self,
        _task_id: &str,
        _task: DeleteResourceTask,
    ) -> BoxFuture<Result<DeleteResourceResponse, TaskError>> {
        self.0.provision(Ok(DeleteResourceResponse {
            annotations: vec![prost_types::Any::from_msg(&ResourceDoesNotExist {}).unwrap()],
        }))
    }
}

async fn write_c1z(
    handler: &TestHandler,
    task_id: &str,
    request: &SyncRequest,
    cancel: &CancellationSignal,
) -> Result<SyncedFile, TaskError> {
    if request
        .sync_resource_type_ids
        .iter()
        .any(|id| id == "reference")
    {
        let path = handler.dir.join(format!("{task_id}.c1z"));
        std::fs::copy(fixture("reference.c1z"), &path).unwrap();
        return Ok(SyncedFile { path });
    }
    if request.sync_resource_type_ids.iter().any(|id| id == "fail") {
        return Err(TaskError::new(
            tonic::Code::Unavailable,
            "Confluence is down",
        ));
    }
    let partial = handler.dir.join(format!("{task_id}.c1z.tmp"));
    let content = TestHandler::content_for(task_id);
    let mut file = std::fs::File::create(&partial).unwrap();
    for chunk in content.chunks(256 * 1024) {
        tokio::select! {
            _ = cancel.cancelled() => {
                drop(file);
                std::fs::remove_file(&partial).unwrap();
                handler.counters.cancelled_syncs.fetch_add(1, Ordering::SeqCst);
                return Err(TaskError::new(tonic::Code::Cancelled, "sync cancelled"));
            }
            _ = tokio::time::sleep(handler.sync_step) => {}
        }
        file.write_all(chunk).unwrap();
    }
    drop(file);
    let done = handler.dir.join(format!("{task_id}.c1z"));
    std::fs::rename(&partial, &done).unwrap();
    Ok(SyncedFile { path: done })
}

// ----- simulator and runner plumbing -----

struct TestTenant {
    name: String,
    settings: C1Settings,
    client_secret: Secret,
}

fn tenants(names: &[&str]) -> (Vec<SimTenant>, Vec<(String, String, Secret)>) {
    names
        .iter()
        .map(|name| {
            let (client_id, secret, public_jwk) = gen_credentials(name, "c1.example");
            let sim_tenant = SimTenant {
                name: (*name).into(),
                client_id: client_id.clone(),
                public_jwk,
            };
            (sim_tenant, ((*name).to_owned(), client_id, secret))
        })
        .unzip()
}

fn start_sim(names: &[&str]) -> (ConductorOneSim, Vec<TestTenant>) {
    let (sim_tenants, credentials) = tenants(names);
    let sim = ConductorOneSim::start(SimOptions {
        tenants: sim_tenants,
        ..Default::default()
    })
    .unwrap();
    let tenants = credentials
        .into_iter()
        .map(|(name, client_id, client_secret)| TestTenant {
            settings: C1Settings {
                tenant: name.clone(),
                credentials: ClientCredentials::parse(&client_id, &client_secret)
                    .expect("the simulator's credentials parse"),
                ca: Some(Arc::new(
                    CaCertificates::from_pem(sim.ca_pem().into()).expect("the simulator's CA"),
                )),
                api_host: Some(sim.api_host()),
                host_id: format!("it-{name}"),
                task_concurrency: 3,
            },
            name,
            client_secret,
        })
        .collect();
    (sim, tenants)
}

struct RunningRunner {
    status: watch::Receiver<RunnerStatus>,
    stop: Option<oneshot::Sender<()>>,
    handle: JoinHandle<Result<(), SessionError>>,
}

impl RunningRunner {
    async fn stop(mut self) -> Result<(), SessionError> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        tokio::time::timeout(WAIT, self.handle)
            .await
            .expect("runner stops")
            .expect("runner task")
    }
}

fn spawn_runner(settings: &C1Settings, handler: &Arc<TestHandler>) -> RunningRunner {
    let metadata = connector_metadata("https://wiki.example", sync_capabilities());
    let runner = TaskRunner::new(
        settings.clone(),
        Arc::new(metadata),
        Arc::new(SharedHandler(handler.clone())),
    );
    let status = runner.status();
    let (stop, stopped) = oneshot::channel::<()>();
    let handle = tokio::spawn(runner.run(async move {
        let _ = stopped.await;
    }));
    RunningRunner {
        status,
        stop: Some(stop),
        handle,
    }
}

async fn finished(sim: &ConductorOneSim, task_id: &str) -> TaskRecord {
    sim.wait_for_finish(task_id, WAIT)
        .await
        .unwrap_or_else(|| panic!("task {task_id} did not finish: {:?}", sim.task(task_id)))
}

fn success_of(record: &TaskRecord) -> &sim::conductorone::FinishRecord {
    let finish = record.finish.as_ref().expect("a finish record");
    assert!(finish.success, "task failed: {finish:?}");
    finish
}

fn entitlement(resource_type: &str, resource: &str, slug: &str) -> EntitlementRef {
    EntitlementRef {
        resource: resource_ref(resource_type, resource),
        slug: slug.into(),
    }
}

fn resource_ref(resource_type: &str, resource: &str) -> ResourceRef {
    ResourceRef {
        resource_type: resource_type.into(),
        resource: resource.into(),
    }
}

// ----- the tests -----

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tenants_sync_heartbeat_upload_and_finish_with_their_own_credentials() {
    let (sim, tenants) = start_sim(&["acme", "globex", "initech"]);
    let handler = TestHandler::new(Duration::from_millis(100));
    let runners: Vec<_> = tenants
        .iter()
        .map(|tenant| spawn_runner(&tenant.settings, &handler))
        .collect();
    let task_ids: Vec<String> = tenants
        .iter()
        .map(|tenant| {
            sim.enqueue_sync(&tenant.name, SyncOptions::default())
                .unwrap()
        })
        .collect();

    for (tenant, task_id) in tenants.iter().zip(&task_ids) {
        let record = finished(&sim, task_id).await;
        assert_eq!(record.tenant, tenant.name);
        let finish = success_of(&record);
        assert_eq!(
            finish.response_type_url, None,
            "a full sync finishes without a response"
        );
        assert!(record.heartbeats >= 1, "{record:?}");

        let uploads = sim.uploads(&tenant.name);
        assert_eq!(uploads.len(), 1, "{}: {uploads:?}", tenant.name);
        let upload = &uploads[0];
        assert_eq!(&upload.task_id, task_id);
        assert_eq!(upload.host_id, format!("it-{}", tenant.name));
        let expected = TestHandler::content_for(task_id);
        assert_eq!(upload.bytes.as_slice(), expected.as_slice());
        assert_eq!(upload.sha256, hex::encode(Sha256::digest(&expected)));
        assert_eq!(upload.chunks, 7, "3 MiB and a bit in 512 KiB chunks");

        let hellos = sim.hellos(&tenant.name);
        assert_eq!(hellos.len(), 1);
        assert_eq!(hellos[0].task_id, "");
        assert_eq!(hellos[0].display_name, "Confluence Data Center");
        let os_info = hellos[0].request.os_info.clone().unwrap();
        assert!(!os_info.hostname.is_empty() && !os_info.kernel_arch.is_empty());
    }
    for runner in runners {
        assert_eq!(runner.status.borrow().state, SessionState::Connected);
        runner.stop().await.unwrap();
    }
    assert!(
        handler.files_left().is_empty(),
        "uploaded files are removed: {:?}",
        handler.files_left()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tenant_cannot_see_or_finish_another_tenants_task() {
    let (sim, tenants) = start_sim(&["acme", "globex"]);
    let acme_task = sim.enqueue_sync("acme", SyncOptions::default()).unwrap();
    let globex = BatonClient::connect(&tenants[1].settings).unwrap();

    let reply = globex.get_task().await.unwrap();
    assert!(
        reply.task.is_none(),
        "globex sees acme's task: {:?}",
        reply.task
    );
    let heartbeat = globex.heartbeat(&acme_task).await.unwrap_err();
    assert_eq!(heartbeat.code(), tonic::Code::NotFound);
    let success = FinalState::Success(Success::default());
    let finish = globex
        .finish_task(&acme_task, None, success)
        .await
        .unwrap_err();
    assert_eq!(finish.code(), tonic::Code::NotFound);

    let record = sim.task(&acme_task).unwrap();
    assert_eq!(record.state, TaskState::Pending);
    assert_eq!(record.foreign_calls, 2);

    let acme = BatonClient::connect(&tenants[0].settings).unwrap();
    let handed_out = acme.get_task().await.unwrap().task.unwrap();
    assert_eq!(handed_out.id, acme_task);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_secret_stops_only_that_tenant_with_a_typed_error() {
    let (sim, tenants) = start_sim(&["acme", "globex", "initech"]);
    let handler = TestHandler::new(Duration::from_millis(10));

    // globex holds a well-formed secret for a key the simulator does not know.
    let mut wrong_key = tenants[1].settings.clone();
    wrong_key.credentials = ClientCredentials::parse(
        wrong_key.credentials.client_id().as_str(),
        &gen_credentials("globex", "c1.example").1,
    )
    .unwrap();
    let refused = spawn_runner(&wrong_key, &handler);
    let healthy = spawn_runner(&tenants[0].settings, &handler);

    let err = tokio::time::timeout(WAIT, refused.handle)
        .await
        .unwrap()
        .unwrap()
        .unwrap_err();
    assert!(
        matches!(
            err,
            SessionError::Refused {
                code: tonic::Code::Unauthenticated,
                ..
            }
        ),
        "{err:?}"
    );
    assert!(err.to_string().contains("globex"), "{err}");
    assert_eq!(refused.status.borrow().state, SessionState::Failed);
    assert!(refused.status.borrow().last_error.is_some());

    let task_id = sim.enqueue_sync("acme", SyncOptions::default()).unwrap();
    success_of(&finished(&sim, &task_id).await);
    assert_eq!(sim.stats("globex").unwrap().token_requests_refused, 1);
    healthy.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn short_lived_tokens_are_refreshed_and_never_presented_expired() {
    let (sim, tenants) = start_sim(&["acme"]);
    let faults = TenantFaults {
        token_lifetime_secs: Some(2),
        ..Default::default()
    };
    sim.set_faults("acme", faults).unwrap();
    let handler = TestHandler::new(Duration::from_millis(300));
    let runner = spawn_runner(&tenants[0].settings, &handler);

    // The sync takes about 4 s of heartbeats and polls: twice the token lifetime.
    let task_id = sim.enqueue_sync("acme", SyncOptions::default()).unwrap();
    success_of(&finished(&sim, &task_id).await);
    let stats = sim.stats("acme").unwrap();
    assert!(stats.tokens_issued >= 3, "{stats:?}");
    assert_eq!(stats.calls_rejected_unauthenticated, 0, "{stats:?}");
    runner.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn token_endpoint_errors_are_retried_until_it_recovers_without_touching_other_tenants() {
    let (sim, tenants) = start_sim(&["acme", "globex"]);
    sim.set_faults(
        "acme",
        TenantFaults {
            token_server_error: 2,
            ..Default::default()
        },
    )
    .unwrap();
    let handler = TestHandler::new(Duration::from_millis(10));
    let acme = spawn_runner(&tenants[0].settings, &handler);
    let globex = spawn_runner(&tenants[1].settings, &handler);

    let globex_task = sim
        .enqueue_grant(
            "globex",
            entitlement("group", "devs", "member"),
            resource_ref("user", "u1"),
        )
        .unwrap();
    let acme_task = sim
        .enqueue_grant(
            "acme",
            entitlement("group", "devs", "member"),
            resource_ref("user", "u1"),
        )
        .unwrap();
    let globex_done = finished(&sim, &globex_task).await;
    success_of(&globex_done);
    // acme needs 1 s + 2 s of Hello backoff first, so globex is well ahead.
    assert_ne!(sim.task(&acme_task).unwrap().state, TaskState::Finished);
    success_of(&finished(&sim, &acme_task).await);
    assert_eq!(sim.hellos("acme").len(), 1);
    acme.stop().await.unwrap();
    globex.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn get_task_unavailable_backs_off_and_recovers_without_touching_other_tenants() {
    let (sim, tenants) = start_sim(&["acme", "globex"]);
    sim.set_faults(
        "acme",
        TenantFaults {
            get_task_unavailable: 2,
            ..Default::default()
        },
    )
    .unwrap();
    let handler = TestHandler::new(Duration::from_millis(10));
    let acme = spawn_runner(&tenants[0].settings, &handler);
    let globex = spawn_runner(&tenants[1].settings, &handler);
    let mut acme_status = acme.status.clone();

    let acme_task = sim.enqueue_sync("acme", SyncOptions::default()).unwrap();
    let globex_task = sim.enqueue_sync("globex", SyncOptions::default()).unwrap();
    let failing = acme_status.wait_for(|status| status.consecutive_poll_failures == 2);
    let failing = tokio::time::timeout(WAIT, failing)
        .await
        .unwrap()
        .unwrap()
        .clone();
    assert!(
        failing
            .last_error
            .as_deref()
            .unwrap_or_default()
            .contains("Unavailable"),
        "{failing:?}"
    );

    success_of(&finished(&sim, &globex_task).await);
    success_of(&finished(&sim, &acme_task).await);
    // Backoff of 1 s then 4 s: three GetTask calls, not a storm.
    assert!(
        sim.stats("acme").unwrap().get_task_calls <= 5,
        "{:?}",
        sim.stats("acme")
    );
    assert_eq!(acme.status.borrow().consecutive_poll_failures, 0);
    acme.stop().await.unwrap();
    globex.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn checksum_mismatch_is_retried_and_three_in_a_row_fail_the_task() {
    let (sim, tenants) = start_sim(&["acme", "globex"]);
    sim.set_faults(
        "acme",
        TenantFaults {
            upload_checksum_mismatch: 1,
            ..Default::default()
        },
    )
    .unwrap();
    sim.set_faults(
        "globex",
        TenantFaults {
            upload_checksum_mismatch: 3,
            ..Default::default()
        },
    )
    .unwrap();
    let handler = TestHandler::new(Duration::from_millis(10));
    let acme = spawn_runner(&tenants[0].settings, &handler);
    let globex = spawn_runner(&tenants[1].settings, &handler);

    let acme_task = sim.enqueue_sync("acme", SyncOptions::default()).unwrap();
    let globex_task = sim.enqueue_sync("globex", SyncOptions::default()).unwrap();

    success_of(&finished(&sim, &acme_task).await);
    assert_eq!(sim.uploads("acme").len(), 1);
    assert_eq!(sim.stats("acme").unwrap().uploads_refused, 1);

    let failed = finished(&sim, &globex_task).await;
    let finish = failed.finish.unwrap();
    assert!(!finish.success);
    assert_eq!(finish.code, tonic::Code::InvalidArgument as i32);
    assert!(finish.message.contains("3 attempts"), "{}", finish.message);
    assert!(!finish.non_retryable, "an upload failure may be retried");
    assert!(sim.uploads("globex").is_empty());
    assert_eq!(sim.stats("globex").unwrap().uploads_refused, 3);
    acme.stop().await.unwrap();
    globex.stop().await.unwrap();
    assert!(
        handler.files_left().is_empty(),
        "{:?}",
        handler.files_left()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancellation_mid_sync_stops_the_handler_removes_its_files_and_finishes_cancelled() {
    let (sim, tenants) = start_sim(&["acme", "globex"]);
    // 13 chunks × 1 s: the sync would take 13 s if nobody cancelled it.
    let slow = TestHandler::new(Duration::from_secs(1));
    let quick = TestHandler::new(Duration::from_millis(10));
    let acme = spawn_runner(&tenants[0].settings, &slow);
    let globex = spawn_runner(&tenants[1].settings, &quick);

    let acme_task = sim.enqueue_sync("acme", SyncOptions::default()).unwrap();
    let beating = sim
        .wait_for_task(&acme_task, WAIT, |record| record.heartbeats >= 2)
        .await;
    assert!(beating.is_some(), "the sync heartbeats while it runs");
    assert_eq!(acme.status.borrow().running.len(), 1);
    sim.cancel(&acme_task).unwrap();
    let globex_task = sim.enqueue_sync("globex", SyncOptions::default()).unwrap();

    let cancelled = finished(&sim, &acme_task).await;
    let finish = cancelled.finish.unwrap();
    assert!(!finish.success);
    assert_eq!(finish.code, CANCELLED);
    assert_eq!(slow.counters.cancelled_syncs.load(Ordering::SeqCst), 1);
    assert!(
        sim.uploads("acme").is_empty(),
        "a cancelled sync uploads nothing"
    );
    assert!(slow.files_left().is_empty(), "{:?}", slow.files_left());

    success_of(&finished(&sim, &globex_task).await);
    assert_eq!(sim.uploads("globex").len(), 1);
    acme.stop().await.unwrap();
    globex.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sync_failure_finishes_with_the_handlers_error_and_uploads_nothing() {
    let (sim, tenants) = start_sim(&["acme"]);
    let handler = TestHandler::new(Duration::from_millis(10));
    let runner = spawn_runner(&tenants[0].settings, &handler);

    let options = SyncOptions {
        skip_expand_grants: true,
        skip_entitlements_and_grants: false,
        skip_grants: true,
        sync_resource_type_ids: vec!["fail".into(), "space".into()],
    };
    let task_id = sim.enqueue_sync("acme", options).unwrap();
    let finish = finished(&sim, &task_id).await.finish.unwrap();
    assert!(!finish.success);
    assert_eq!(finish.code, tonic::Code::Unavailable as i32);
    assert_eq!(finish.message, "Confluence is down");
    assert!(sim.uploads("acme").is_empty());
    assert_eq!(
        handler.sync_requests.lock().unwrap().as_slice(),
        [SyncRequest {
            skip_expand_grants: true,
            skip_entitlements_and_grants: false,
            skip_grants: true,
            sync_resource_type_ids: vec!["fail".into(), "space".into()],
        }]
    );
    runner.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn provisioning_tasks_finish_with_typed_responses_and_keep_the_transient_permanent_split() {
    let (sim, tenants) = start_sim(&["acme"]);
    let handler = TestHandler::new(Duration::from_millis(10));
    let runner = spawn_runner(&tenants[0].settings, &handler);

    let grant = sim
        .enqueue_grant(
            "acme",
            entitlement("space", "DOCS", "view"),
            resource_ref("group", "devs"),
        )
        .unwrap();
    let revoke = sim
        .enqueue_revoke(
            "acme",
            entitlement("group", "devs", "member"),
            resource_ref("user", "u1"),
        )
        .unwrap();
    let create = sim
        .enqueue_create_account("acme", "jdoe", "jdoe@example.com")
        .unwrap();
    let delete = sim
        .enqueue_delete_resource("acme", resource_ref("user", "gone"))
        .unwrap();
    let refused = sim
        .enqueue_grant(
            "acme",
            entitlement("group", "devs", "member"),
            resource_ref("user", "forbidden"),
        )
        .unwrap();
    let malformed = sim
        .enqueue_delete_resource("acme", resource_ref("", ""))
        .unwrap();
    let busy = sim
        .enqueue_grant(
            "acme",
            entitlement("group", "devs", "member"),
            resource_ref("user", "busy"),
        )
        .unwrap();

    let expectations = [
        (
            grant,
            GrantManagerServiceGrantResponse::type_url(),
            GrantAlreadyExists::type_url(),
        ),
        (
            revoke,
            GrantManagerServiceRevokeResponse::type_url(),
            GrantAlreadyRevoked::type_url(),
        ),
        (
            delete,
            DeleteResourceResponse::type_url(),
            ResourceDoesNotExist::type_url(),
        ),
    ];
    for (task_id, response, annotation) in expectations {
        let record = finished(&sim, &task_id).await;
        let finish = success_of(&record);
        assert_eq!(finish.response_type_url.as_deref(), Some(response.as_str()));
        assert_eq!(finish.annotation_type_urls, [annotation]);
    }
    let created = finished(&sim, &create).await;
    let response = success_of(&created)
        .response
        .clone()
        .unwrap()
        .to_msg::<CreateAccountResponse>()
        .unwrap();
    assert!(
        matches!(response.result, Some(create_account_response::Result::Success(ref s)) if s.resource.as_ref().unwrap().display_name == "jdoe")
    );

    let refused = finished(&sim, &refused).await.finish.unwrap();
    assert_eq!(
        (refused.success, refused.code),
        (false, tonic::Code::PermissionDenied as i32)
    );
    assert!(refused.non_retryable, "a refusal is final");
    let busy = finished(&sim, &busy).await.finish.unwrap();
    assert_eq!(
        (busy.success, busy.code, busy.non_retryable),
        (false, tonic::Code::Unavailable as i32, false),
        "a transient failure may be handed out again"
    );
    let malformed = finished(&sim, &malformed).await.finish.unwrap();
    assert_eq!(
        (malformed.code, malformed.non_retryable),
        (tonic::Code::InvalidArgument as i32, true)
    );
    runner.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unsupported_task_type_finishes_with_an_error_and_hello_task_is_answered_with_hello() {
    let (sim, tenants) = start_sim(&["acme"]);
    let handler = TestHandler::new(Duration::from_millis(10));
    let runner = spawn_runner(&tenants[0].settings, &handler);

    let unsupported = sim.enqueue("acme", &SimTask::Unsupported).unwrap();
    let hello = sim.enqueue("acme", &SimTask::Hello).unwrap();

    let finish = finished(&sim, &unsupported).await.finish.unwrap();
    assert_eq!(
        (finish.success, finish.code),
        (false, tonic::Code::Unknown as i32)
    );
    assert_eq!(finish.message, "unsupported task type");
    assert!(!finish.non_retryable);

    let answered = finished(&sim, &hello).await;
    assert!(answered.finish.is_none(), "a hello task gets no FinishTask");
    let hellos = sim.hellos("acme");
    assert_eq!(
        hellos
            .iter()
            .map(|hello| hello.task_id.as_str())
            .collect::<Vec<_>>(),
        ["", hello.as_str()]
    );
    runner.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn task_concurrency_is_respected_and_one_tenant_never_runs_two_syncs_at_once() {
    let (sim, mut tenants) = start_sim(&["acme"]);
    tenants[0].settings.task_concurrency = 2;
    let handler =
        TestHandler::new(Duration::from_millis(100)).with_provision_time(Duration::from_secs(3));
    let runner = spawn_runner(&tenants[0].settings, &handler);

    let mut task_ids = Vec::new();
    for _ in 0..2 {
        task_ids.push(sim.enqueue_sync("acme", SyncOptions::default()).unwrap());
    }
    for user in ["u1", "u2", "u3"] {
        task_ids.push(
            sim.enqueue_grant(
                "acme",
                entitlement("group", "devs", "member"),
                resource_ref("user", user),
            )
            .unwrap(),
        );
    }
    for task_id in &task_ids {
        success_of(&finished(&sim, task_id).await);
    }
    assert_eq!(
        handler.counters.max_syncs.load(Ordering::SeqCst),
        1,
        "two syncs overlapped"
    );
    let max_tasks = handler.counters.max_tasks.load(Ordering::SeqCst);
    assert_eq!(
        max_tasks, 2,
        "at most task_concurrency tasks at once, and the slots were used"
    );
    assert_eq!(sim.uploads("acme").len(), 2);
    runner.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_cancels_a_running_sync_and_finishes_it_as_retryable() {
    let (sim, tenants) = start_sim(&["acme"]);
    let handler = TestHandler::new(Duration::from_secs(1));
    let runner = spawn_runner(&tenants[0].settings, &handler);
    let task_id = sim.enqueue_sync("acme", SyncOptions::default()).unwrap();
    assert!(
        sim.wait_for_task(&task_id, WAIT, |record| record.heartbeats >= 1)
            .await
            .is_some()
    );

    let status = runner.status.clone();
    runner.stop().await.unwrap();
    assert_eq!(status.borrow().state, SessionState::Stopped);
    let finish = sim.task(&task_id).unwrap().finish.unwrap();
    assert_eq!(
        (finish.success, finish.code, finish.non_retryable),
        (false, tonic::Code::Unavailable as i32, false)
    );
    assert!(
        handler.files_left().is_empty(),
        "{:?}",
        handler.files_left()
    );
}

#[test]
fn session_never_logs_the_secret_tokens_or_assertions() {
    run_alone("conductorone::session_logs_of_every_crate_at_trace");
}

/// A whole session, logged at TRACE from every crate and thread.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "run in its own process by session_never_logs_the_secret_tokens_or_assertions"]
async fn session_logs_of_every_crate_at_trace() {
    let logs = CapturedLogs::install_globally();

    let (sim, tenants) = start_sim(&["acme"]);
    let settings = &tenants[0].settings;
    let client_secret = &tenants[0].client_secret;
    let handler = TestHandler::new(Duration::from_millis(10));
    let runner = spawn_runner(settings, &handler);
    let sync = sim.enqueue_sync("acme", SyncOptions::default()).unwrap();
    let grant = sim
        .enqueue_grant(
            "acme",
            entitlement("group", "devs", "member"),
            resource_ref("user", "u1"),
        )
        .unwrap();
    success_of(&finished(&sim, &sync).await);
    success_of(&finished(&sim, &grant).await);
    runner.stop().await.unwrap();
    let credentials = &settings.credentials;
    tracing::debug!(?credentials, "debug of the credentials");

    let text = logs.text();
    assert!(text.contains("tenant=acme"), "spans carry the tenant");
    assert!(
        text.contains("debug of the credentials"),
        "the test's own event"
    );
    assert!(
        text.contains("TRACE") && text.len() > 100_000,
        "TRACE output is captured: {} bytes",
        text.len()
    );
    let secret = client_secret.expose();
    let encoded_jwk = secret.rsplit(':').next().unwrap();
    let jwk: serde_json::Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(encoded_jwk).unwrap()).unwrap();
    let mut forbidden = vec![
        secret.to_owned(),
        encoded_jwk.to_owned(),
        jwk["d"].as_str().unwrap().to_owned(),
    ];
    let seen = sim.credentials_seen("acme");
    assert!(
        seen.len() >= 2,
        "at least one token and one assertion: {}",
        seen.len()
    );
    for value in seen {
        forbidden.extend(value.split('.').map(str::to_owned));
        forbidden.push(value);
    }
    for value in forbidden.iter().filter(|value| value.len() >= 16) {
        logs.assert_absent(value, "a credential");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_first_heartbeat_abandons_the_sync_without_running_or_finishing_it() {
    let (sim, tenants) = start_sim(&["acme"]);
    sim.set_faults(
        "acme",
        TenantFaults {
            heartbeat_unavailable: 1,
            ..Default::default()
        },
    )
    .unwrap();
    let handler = TestHandler::new(Duration::from_millis(10));
    let runner = spawn_runner(&tenants[0].settings, &handler);

    let abandoned = sim.enqueue_sync("acme", SyncOptions::default()).unwrap();
    let next = sim
        .enqueue_grant(
            "acme",
            entitlement("group", "devs", "member"),
            resource_ref("user", "u1"),
        )
        .unwrap();
    success_of(&finished(&sim, &next).await);
    let record = sim.task(&abandoned).unwrap();
    assert_eq!(
        (record.state, record.heartbeats),
        (TaskState::Running, 0),
        "{record:?}"
    );
    assert!(record.finish.is_none());
    assert!(
        handler.sync_requests.lock().unwrap().is_empty(),
        "the sync never started"
    );
    runner.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_failed_heartbeats_in_a_row_cancel_the_sync() {
    let (sim, tenants) = start_sim(&["acme"]);
    // 13 chunks × 2 s: far longer than ten 1-second heartbeats.
    let handler = TestHandler::new(Duration::from_secs(2));
    let runner = spawn_runner(&tenants[0].settings, &handler);

    let task_id = sim.enqueue_sync("acme", SyncOptions::default()).unwrap();
    assert!(
        sim.wait_for_task(&task_id, WAIT, |record| record.heartbeats >= 1)
            .await
            .is_some()
    );
    sim.set_faults(
        "acme",
        TenantFaults {
            heartbeat_unavailable: 10,
            ..Default::default()
        },
    )
    .unwrap();

    let finish = finished(&sim, &task_id).await.finish.unwrap();
    assert_eq!((finish.success, finish.code), (false, CANCELLED));
    assert!(finish.message.contains("heartbeats"), "{}", finish.message);
    assert_eq!(handler.counters.cancelled_syncs.load(Ordering::SeqCst), 1);
    assert!(sim.uploads("acme").is_empty());
    runner.stop().await.unwrap();
}

/// Kills the simulator process on drop, so a failing test leaves nothing behind.
struct ChildGuard(std::process::Child);

impl Drop for ChildGuard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn simulator_cli_prints_its_addresses_and_serves_a_runner_with_generated_credentials() {
    use std::io::BufRead;
    use std::process::{Command, Stdio};

    let binary = env!("CARGO_BIN_EXE_confluence-hub");
    let handler = TestHandler::new(Duration::from_millis(10));
    let dir = handler.dir.join("sim");
    let generated = Command::new(binary)
        .args([
            "sim",
            "conductorone",
            "gen-credentials",
            "--tenant",
            "acme",
            "--host",
            "c1.example",
            "--out-dir",
        ])
        .arg(&dir)
        .output()
        .unwrap();
    assert!(
        generated.status.success(),
        "{}",
        String::from_utf8_lossy(&generated.stderr)
    );

    let mut child = Command::new(binary)
        .args(["sim", "conductorone", "--port", "0", "--tenants"])
        .arg(dir.join("tenants.json"))
        .arg("--cert-out")
        .arg(dir.join("ca.pem"))
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let _guard = ChildGuard(child);
    let mut line = String::new();
    std::io::BufReader::new(stdout)
        .read_line(&mut line)
        .unwrap();

    let ports = line
        .strip_prefix("listening on https://127.0.0.1:")
        .and_then(|rest| rest.strip_suffix('\n'))
        .and_then(|rest| rest.split_once(" control=http://127.0.0.1:"))
        .and_then(|(port, control)| {
            Some((port.parse::<u16>().ok()?, control.parse::<u16>().ok()?))
        });
    let (port, control_port) = ports.unwrap_or_else(|| panic!("unexpected ready line {line:?}"));

    let settings = C1Settings {
        tenant: "acme".into(),
        credentials: ClientCredentials::parse(
            std::fs::read_to_string(dir.join("acme.client-id"))
                .unwrap()
                .trim(),
            &Secret::new(
                std::fs::read_to_string(dir.join("acme.client-secret"))
                    .unwrap()
                    .trim()
                    .to_owned(),
            ),
        )
        .unwrap(),
        ca: Some(Arc::new(
            CaCertificates::from_pem(std::fs::read(dir.join("ca.pem")).unwrap()).unwrap(),
        )),
        api_host: Some(format!("127.0.0.1:{port}")),
        host_id: "it-cli".into(),
        task_concurrency: 3,
    };
    let runner = spawn_runner(&settings, &handler);

    let control = format!("http://127.0.0.1:{control_port}");
    let http = reqwest::Client::new();
    let created: serde_json::Value = http
        .post(format!("{control}/tenants/acme/tasks"))
        .json(&serde_json::json!({
            "type": "grant",
            "entitlement": {"resource": {"resource_type": "group", "resource": "devs"}, "slug": "member"},
            "principal": {"resource_type": "user", "resource": "u1"},
        }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let task_id = created["task_id"].as_str().unwrap().to_owned();
    let deadline = tokio::time::Instant::now() + WAIT;
    let record = loop {
        let record: serde_json::Value = http
            .get(format!("{control}/tasks/{task_id}"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if record["state"] == "finished" {
            break record;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "task never finished: {record}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(record["finish"]["success"], true, "{record}");
    let tenant: serde_json::Value = http
        .get(format!("{control}/tenants/acme"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(tenant["hellos"][0]["host_id"], "it-cli", "{tenant}");
    runner.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn simulator_decodes_uploaded_c1z_files_with_our_reader() {
    let (sim, tenants) = start_sim(&["acme"]);
    let handler = TestHandler::new(Duration::from_millis(10));
    let runner = spawn_runner(&tenants[0].settings, &handler);

    let reference = SyncOptions {
        sync_resource_type_ids: vec!["reference".into()],
        ..Default::default()
    };
    let real = sim.enqueue_sync("acme", reference).unwrap();
    let noise = sim.enqueue_sync("acme", SyncOptions::default()).unwrap();
    success_of(&finished(&sim, &real).await);
    success_of(&finished(&sim, &noise).await);

    let listing: serde_json::Value =
        serde_json::from_slice(&std::fs::read(fixture("reference.listing.json")).unwrap()).unwrap();
    let count = |key: &str| listing[key].as_array().unwrap().len() as u64;
    let uploads = sim.uploads("acme");
    let decoded = uploads
        .iter()
        .find(|upload| upload.task_id == real)
        .unwrap();
    let contents = decoded
        .contents
        .as_ref()
        .unwrap_or_else(|| panic!("{:?}", decoded.decode_error));
    assert_eq!(
        (
            contents.resource_types,
            contents.resources,
            contents.entitlements,
            contents.grants
        ),
        (
            count("resource_types"),
            count("resources"),
            count("entitlements"),
            count("grants")
        )
    );
    let undecodable = uploads
        .iter()
        .find(|upload| upload.task_id == noise)
        .unwrap();
    assert!(undecodable.contents.is_none() && undecodable.decode_error.is_some());
    runner.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_endpoint_redirect_is_never_followed() {
    let (sim, tenants) = start_sim(&["acme"]);
    // Anything that connects here would have been sent the client assertion.
    let elsewhere = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let elsewhere_port = elsewhere.local_addr().unwrap().port();
    let visited = Arc::new(AtomicUsize::new(0));
    let counter = visited.clone();
    let trap = tokio::spawn(async move {
        while elsewhere.accept().await.is_ok() {
            counter.fetch_add(1, Ordering::SeqCst);
        }
    });
    sim.set_faults(
        "acme",
        TenantFaults {
            token_redirect: Some(format!("https://127.0.0.1:{elsewhere_port}/auth/v1/token")),
            ..Default::default()
        },
    )
    .unwrap();
    let client = BatonClient::connect(&tenants[0].settings).unwrap();

    let refused = client.check_credentials().await.unwrap_err();
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        visited.load(Ordering::SeqCst),
        0,
        "the redirect was followed"
    );
    assert!(refused.to_string().contains("redirect"), "{refused}");
    trap.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_or_absurd_token_lifetime_neither_panics_nor_fetches_a_token_per_call() {
    let (sim, tenants) = start_sim(&["missing", "absurd"]);
    let lifetimes = [
        TenantFaults {
            token_omit_expires_in: true,
            ..Default::default()
        },
        TenantFaults {
            token_claimed_expires_in: Some(u64::MAX),
            ..Default::default()
        },
    ];
    for (tenant, faults) in tenants.iter().zip(lifetimes) {
        sim.set_faults(&tenant.name, faults).unwrap();
        let client = BatonClient::connect(&tenant.settings).unwrap();
        for _ in 0..5 {
            client
                .get_task()
                .await
                .unwrap_or_else(|err| panic!("{}: {err}", tenant.name));
        }
        let stats = sim.stats(&tenant.name).unwrap();
        assert_eq!(stats.tokens_issued, 1, "{}: {stats:?}", tenant.name);
    }
}

/// Forwards TCP to `target` and can cut every connection it carries, as a
/// load balancer or NAT that drops them would.
struct CuttingProxy {
    port: u16,
    accepted: Arc<AtomicUsize>,
    links: Arc<Mutex<Vec<JoinHandle<()>>>>,
    accept: JoinHandle<()>,
}

impl CuttingProxy {
    async fn start(target: std::net::SocketAddr) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let accepted = Arc::new(AtomicUsize::new(0));
        let links: Arc<Mutex<Vec<JoinHandle<()>>>> = Arc::default();
        let (count, held) = (accepted.clone(), links.clone());
        let accept = tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                count.fetch_add(1, Ordering::SeqCst);
                let link = tokio::spawn(async move {
                    if let Ok(mut outbound) = tokio::net::TcpStream::connect(target).await {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                    }
                });
                held.lock().unwrap().push(link);
            }
        });
        Self {
            port,
            accepted,
            links,
            accept,
        }
    }

    fn cut(&self) {
        for link in self.links.lock().unwrap().drain(..) {
            link.abort();
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_grpc_connection_is_reused_and_made_again_after_it_breaks() {
    let (sim, tenants) = start_sim(&["acme"]);
    let proxy = CuttingProxy::start(sim.addr()).await;
    let settings = C1Settings {
        api_host: Some(format!("127.0.0.1:{}", proxy.port)),
        ..tenants[0].settings.clone()
    };
    let client = BatonClient::connect(&settings).unwrap();
    assert_eq!(
        proxy.accepted.load(Ordering::SeqCst),
        0,
        "connected before a call"
    );

    client.check_credentials().await.unwrap();
    let after_token = proxy.accepted.load(Ordering::SeqCst);
    for _ in 0..5 {
        client.get_task().await.unwrap();
    }
    assert_eq!(
        proxy.accepted.load(Ordering::SeqCst),
        after_token + 1,
        "five calls, one gRPC connection"
    );

    proxy.cut();
    // The first call may still meet the dead connection; the next one must not.
    let mut answered = false;
    for _ in 0..3 {
        if client.get_task().await.is_ok() {
            answered = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(answered, "no call succeeded after the connection was cut");
    assert_eq!(
        proxy.accepted.load(Ordering::SeqCst),
        after_token + 2,
        "one new gRPC connection after the cut"
    );
    proxy.accept.abort();
}

/// Waits up to two seconds for the simulator to hold `count` connections.
async fn until_open_connections(sim: &ConductorOneSim, count: usize) -> usize {
    let started = Instant::now();
    while sim.open_connections() != count && started.elapsed() < Duration::from_secs(2) {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    sim.open_connections()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tenant_between_calls_holds_its_grpc_connection_and_nothing_for_tokens() {
    let (sim, tenants) = start_sim(&["acme"]);
    let client = BatonClient::connect(&tenants[0].settings).unwrap();
    client.check_credentials().await.unwrap();
    client.get_task().await.unwrap();
    assert_eq!(
        until_open_connections(&sim, 1).await,
        1,
        "the token exchange's connection outlived it"
    );

    // A removed tenant leaves no connection behind.
    drop(client);
    assert_eq!(until_open_connections(&sim, 0).await, 0);
}
