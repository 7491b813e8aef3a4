//! The hub in ConductorOne service mode, end to end: the real binary, one
//! simulated ConductorOne, one simulated Confluence per tenant, each tenant
//! with its own credentials.

use std::collections::BTreeSet;
use std::path::Path;
use std::time::Duration;

use sim::conductorone::{
    ConductorOneSim, PublicJwk, SimOptions as C1Options, SimTask, SimTenant, SyncOptions,
    TaskState, gen_credentials,
};
use sim::confluence::{ConfluenceSim, Dataset, Faults, GenerateOptions, SimOptions, SimVersion};

use crate::support::{HubProcess, TempDir, c1z_resource_ids, dataset_ids, temp_files, tenant};

/// One tenant's simulated Confluence and ConductorOne credentials.
pub struct Tenant {
    pub id: &'static str,
    pub confluence: ConfluenceSim,
    pub confluence_token: String,
    pub client_id: String,
    pub client_secret: String,
    pub public_jwk: PublicJwk,
}

fn confluence(
    version: SimVersion,
    seed: u64,
    scale: usize,
    latency: Duration,
) -> (ConfluenceSim, String) {
    let dataset = Dataset::generate(&GenerateOptions {
        seed,
        users: 20 * scale,
        groups: 4 * scale,
        spaces: 3 * scale,
    });
    let mut options = SimOptions::new(version, dataset);
    let token = format!("pat-{}", hex::encode(rand::random::<[u8; 12]>()));
    options.admin_token = token.clone();
    options.faults = Faults {
        latency,
        ..Faults::default()
    };
    (
        ConfluenceSim::start(options).expect("start a Confluence simulator"),
        token,
    )
}

pub fn tenant_of(id: &'static str, version: SimVersion, seed: u64, latency: Duration) -> Tenant {
    // A slow tenant is also a bigger one, so its sync outlasts a heartbeat.
    let scale = if latency.is_zero() { 2 } else { 8 };
    let (confluence, confluence_token) = confluence(version, seed, scale, latency);
    let (client_id, secret, public_jwk) = gen_credentials(id, "127.0.0.1");
    Tenant {
        id,
        confluence,
        confluence_token,
        client_id,
        client_secret: secret.expose().to_owned(),
        public_jwk,
    }
}

/// Registers `tenant` with the simulator under `public_jwk`: its own key,
/// or someone else's to make its secret wrong.
pub fn sim_tenant(tenant: &Tenant, public_jwk: &PublicJwk) -> SimTenant {
    SimTenant {
        name: tenant.id.to_owned(),
        client_id: tenant.client_id.clone(),
        public_jwk: public_jwk.clone(),
    }
}

/// The hub config for `tenants` talking to `c1`, with secrets in files.
pub fn config(dir: &Path, c1: &ConductorOneSim, tenants: &[&Tenant], secrets: &[&str]) -> String {
    let ca = dir.join("c1-ca.pem");
    std::fs::write(&ca, c1.ca_pem()).unwrap();
    let mut text = String::from(
        "[hub]\ndata_dir = \"{data_dir}\"\nadmin_listen = \"{admin}\"\nshutdown_grace = \"2s\"\n",
    );
    for (tenant, secret) in tenants.iter().zip(secrets) {
        let secret_file = dir.join(format!("{}-c1-secret", tenant.id));
        std::fs::write(&secret_file, format!("{secret}\n")).unwrap();
        let token_file = dir.join(format!("{}-pat", tenant.id));
        std::fs::write(&token_file, &tenant.confluence_token).unwrap();
        text.push_str(&format!(
            "[[instance]]\nid = \"{id}\"\nbase_url = \"{url}\"\ntoken = {{ file = \"{token}\" }}\nrequests_per_second = 200\nburst = 50\n\
             [instance.conductorone]\nclient_id = \"{client_id}\"\nclient_secret = {{ file = \"{secret}\" }}\nca_file = \"{ca}\"\napi_host = \"{api_host}\"\n",
            id = tenant.id,
            url = tenant.confluence.base_url(),
            token = token_file.display(),
            client_id = tenant.client_id,
            secret = secret_file.display(),
            ca = ca.display(),
            api_host = c1.api_host(),
        ));
    }
    text
}

pub fn c1_sim(tenants: Vec<SimTenant>) -> ConductorOneSim {
    ConductorOneSim::start(C1Options {
        tenants,
        next_poll: Duration::from_millis(200),
        next_heartbeat: Duration::from_secs(1),
        ..C1Options::default()
    })
    .expect("start the ConductorOne simulator")
}

/// The resource ids (`type:id`) of an uploaded c1z.
fn resource_ids(bytes: &[u8], dir: &Path, name: &str) -> BTreeSet<String> {
    let path = dir.join(format!("{name}.c1z"));
    std::fs::write(&path, bytes).unwrap();
    c1z_resource_ids(&path)
}

/// Every secret of `tenant` a page or log must never hold: its client
/// secret, its Confluence token, and each access token and assertion the
/// ConductorOne simulator saw.
pub fn secrets_of(tenant: &Tenant, c1: &ConductorOneSim) -> Vec<String> {
    let mut secrets = vec![
        tenant.client_secret.clone(),
        tenant.confluence_token.clone(),
    ];
    secrets.extend(c1.credentials_seen(tenant.id));
    assert!(
        secrets.len() >= 4,
        "{}: the simulator saw no access token or assertion",
        tenant.id
    );
    secrets
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_tenant_syncs_and_uploads_only_its_own_data_with_its_own_credentials() {
    let tenants = [
        tenant_of("alpha", SimVersion::V8_5, 71, Duration::ZERO),
        tenant_of("bravo", SimVersion::V9_2, 72, Duration::ZERO),
        tenant_of("charlie", SimVersion::V10_2, 73, Duration::ZERO),
    ];
    let c1 = c1_sim(
        tenants
            .iter()
            .map(|t| sim_tenant(t, &t.public_jwk))
            .collect(),
    );
    let dir = TempDir::new("service-mode");
    let refs: Vec<&Tenant> = tenants.iter().collect();
    let secrets: Vec<&str> = tenants.iter().map(|t| t.client_secret.as_str()).collect();
    let mut hub = HubProcess::start(dir.path(), &config(dir.path(), &c1, &refs, &secrets), &[]);

    let tasks: Vec<String> = tenants
        .iter()
        .map(|t| {
            c1.enqueue_sync(
                t.id,
                SyncOptions {
                    skip_expand_grants: true,
                    ..SyncOptions::default()
                },
            )
            .unwrap()
        })
        .collect();
    for (tenant, task_id) in tenants.iter().zip(&tasks) {
        let record = c1
            .wait_for_finish(task_id, Duration::from_secs(60))
            .await
            .unwrap_or_else(|| {
                panic!("{}: the sync never finished\n{}", tenant.id, hub.log_tail())
            });
        let finish = record.finish.as_ref().unwrap();
        assert!(
            finish.success,
            "{}: {finish:?}\n{}",
            tenant.id,
            hub.log_tail()
        );
        assert!(record.heartbeats >= 1, "{}: no heartbeat", tenant.id);
        assert_eq!(
            record.foreign_calls, 0,
            "{}: another tenant touched this task",
            tenant.id
        );
    }

    let all: Vec<BTreeSet<String>> = tenants
        .iter()
        .map(|t| dataset_ids(&t.confluence.dataset()))
        .collect();
    for (index, tenant) in tenants.iter().enumerate() {
        let uploads = c1.uploads(tenant.id);
        assert_eq!(uploads.len(), 1, "{}: uploads {uploads:?}", tenant.id);
        assert_eq!(uploads[0].task_id, tasks[index]);
        assert!(
            uploads[0].decode_error.is_none(),
            "{:?}",
            uploads[0].decode_error
        );
        let ids = resource_ids(&uploads[0].bytes, dir.path(), tenant.id);
        let own = &all[index];
        let foreign: Vec<&String> = ids.iter().filter(|id| !own.contains(*id)).collect();
        assert!(
            foreign.is_empty(),
            "{}: ids from elsewhere: {foreign:?}",
            tenant.id
        );
        let users: Vec<&String> = own.iter().filter(|id| id.starts_with("user:")).collect();
        assert!(
            users.iter().all(|user| ids.contains(*user)),
            "{}: users missing from its upload",
            tenant.id
        );
        for (other, other_ids) in all.iter().enumerate().filter(|(other, _)| *other != index) {
            let crossing: Vec<&String> = ids
                .iter()
                .filter(|id| other_ids.contains(*id) && !own.contains(*id))
                .collect();
            assert!(
                crossing.is_empty(),
                "{} holds {}'s ids {crossing:?}",
                tenant.id,
                tenants[other].id
            );
        }
        let hellos = c1.hellos(tenant.id);
        assert!(!hellos.is_empty(), "{}: no Hello", tenant.id);
        assert_eq!(hellos[0].display_name, "Confluence Data Center");
        assert!(
            hellos
                .iter()
                .all(|hello| hello.host_id.ends_with(tenant.id))
        );
    }
    assert_eq!(
        temp_files(&dir.path().join("data")),
        Vec::<std::path::PathBuf>::new()
    );

    // Nothing secret reaches the logs or /status.
    let status = hub
        .wait_for(
            Duration::from_secs(10),
            "every tenant idle and connected",
            |status| {
                tenants.iter().all(|t| {
                    tenant(status, t.id).is_some_and(|s| {
                        s["state"] == "idle" && s["conductorone"]["session"] == "connected"
                    })
                })
            },
        )
        .await
        .to_string();
    let log = hub.log_text();
    assert!(
        log.contains("sync finished"),
        "the log does not show the syncs"
    );
    for tenant in &tenants {
        for secret in &secrets_of(tenant, &c1) {
            assert!(
                !log.contains(secret.as_str()),
                "{}: a secret is in the log",
                tenant.id
            );
            assert!(
                !status.contains(secret.as_str()),
                "{}: a secret is on /status",
                tenant.id
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_secret_or_a_cancelled_sync_affects_only_its_own_tenant() {
    let healthy = tenant_of("healthy", SimVersion::V9_2, 81, Duration::ZERO);
    let impostor = tenant_of("impostor", SimVersion::V9_2, 82, Duration::ZERO);
    let slow = tenant_of("slow", SimVersion::V10_2, 83, Duration::from_millis(250));
    // `impostor` is registered with a key its configured secret does not match.
    let (_, _, someone_elses_key) = gen_credentials("someone-else", "127.0.0.1");
    let c1 = c1_sim(vec![
        sim_tenant(&healthy, &healthy.public_jwk),
        sim_tenant(&impostor, &someone_elses_key),
        sim_tenant(&slow, &slow.public_jwk),
    ]);
    let dir = TempDir::new("service-mode-faults");
    let tenants = [&healthy, &impostor, &slow];
    let secrets: Vec<&str> = tenants.iter().map(|t| t.client_secret.as_str()).collect();
    let mut hub = HubProcess::start(
        dir.path(),
        &config(dir.path(), &c1, &tenants, &secrets),
        &[],
    );

    let status = hub
        .wait_for(
            Duration::from_secs(20),
            "the impostor to be refused",
            |status| tenant(status, "impostor").is_some_and(|t| t["state"] == "failing"),
        )
        .await;
    let refused = tenant(&status, "impostor").unwrap();
    assert!(
        refused["last_error"]
            .as_str()
            .unwrap()
            .contains("ConductorOne"),
        "{refused:#}"
    );

    let slow_task = c1.enqueue_sync("slow", SyncOptions::default()).unwrap();
    let healthy_task = c1.enqueue_sync("healthy", SyncOptions::default()).unwrap();
    c1.wait_for_task(&slow_task, Duration::from_secs(20), |task| {
        task.heartbeats >= 1
    })
    .await
    .expect("the slow sync started");
    hub.wait_for(Duration::from_secs(10), "slow to be syncing", |status| {
        tenant(status, "slow").is_some_and(|t| t["state"] == "syncing")
    })
    .await;
    c1.cancel(&slow_task).unwrap();

    let cancelled = c1
        .wait_for_finish(&slow_task, Duration::from_secs(20))
        .await
        .expect("the cancelled sync finished");
    let finish = cancelled.finish.unwrap();
    assert!(!finish.success);
    assert_eq!(finish.code, tonic::Code::Cancelled as i32, "{finish:?}");
    assert!(c1.uploads("slow").is_empty(), "a cancelled sync uploaded");

    let done = c1
        .wait_for_finish(&healthy_task, Duration::from_secs(30))
        .await
        .expect("healthy synced");
    assert!(done.finish.unwrap().success);
    assert_eq!(done.state, TaskState::Finished);
    assert_eq!(c1.uploads("healthy").len(), 1);

    let status = hub
        .wait_for(Duration::from_secs(10), "slow to be idle again", |status| {
            tenant(status, "slow").is_some_and(|t| t["state"] == "idle")
        })
        .await;
    assert_eq!(
        tenant(&status, "slow").unwrap()["last_sync"]["outcome"],
        "cancelled"
    );
    assert_eq!(
        tenant(&status, "healthy").unwrap()["last_sync"]["outcome"],
        "ok"
    );
    assert_eq!(
        temp_files(&dir.path().join("data")),
        Vec::<std::path::PathBuf>::new()
    );
    let leftovers: Vec<_> = std::fs::read_dir(dir.path().join("data/slow/tasks"))
        .map(|entries| entries.flatten().map(|entry| entry.path()).collect())
        .unwrap_or_default();
    assert!(leftovers.is_empty(), "cancelled sync left {leftovers:?}");
}

#[test]
fn check_reports_conductorone_credentials_per_tenant() {
    let good = tenant_of("good", SimVersion::V9_2, 91, Duration::ZERO);
    let wrong = tenant_of("wrong", SimVersion::V10_2, 92, Duration::ZERO);
    let (_, _, someone_elses_key) = gen_credentials("someone-else", "127.0.0.1");
    let c1 = c1_sim(vec![
        sim_tenant(&good, &good.public_jwk),
        sim_tenant(&wrong, &someone_elses_key),
    ]);
    let dir = TempDir::new("check-c1");
    let text = config(
        dir.path(),
        &c1,
        &[&good, &wrong],
        &[&good.client_secret, &wrong.client_secret],
    )
    .replace("{admin}", "127.0.0.1:0")
    .replace("{data_dir}", "data");
    let path = dir.path().join("hub.toml");
    std::fs::write(&path, text).unwrap();
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_confluence-hub"))
        .args(["check", "--config"])
        .arg(&path)
        .output()
        .unwrap();
    let stdout = String::from_utf8(output.stdout).unwrap();
    assert_eq!(output.status.code(), Some(1), "{stdout}");
    let lines: Vec<&str> = stdout.lines().collect();
    assert!(
        lines[0].starts_with("good ok confluence 9.2")
            && lines[0].ends_with("conductorone credentials accepted"),
        "{stdout}"
    );
    assert!(
        lines[1].starts_with("wrong FAILED conductorone:") && lines[1].contains("refused"),
        "{stdout}"
    );
    assert!(!stdout.contains(&wrong.client_secret) && !stdout.contains(&good.client_secret));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_task_id_that_climbs_out_of_the_tasks_directory_is_refused_before_any_file_is_touched() {
    let alpha = tenant_of("alpha", SimVersion::V9_2, 91, Duration::ZERO);
    let c1 = c1_sim(vec![sim_tenant(&alpha, &alpha.public_jwk)]);
    let dir = TempDir::new("service-mode-hostile-id");
    let mut hub = HubProcess::start(
        dir.path(),
        &config(dir.path(), &c1, &[&alpha], &[alpha.client_secret.as_str()]),
        &[],
    );

    let hostile = c1
        .enqueue_with_id(
            "alpha",
            "../../other-tenant/latest",
            &SimTask::SyncFull(SyncOptions::default()),
        )
        .unwrap();
    let record = c1
        .wait_for_finish(&hostile, Duration::from_secs(30))
        .await
        .unwrap_or_else(|| panic!("the hostile task was never finished\n{}", hub.log_tail()));
    let finish = record.finish.unwrap();
    assert!(!finish.success, "{finish:?}");
    assert_eq!(
        finish.code,
        tonic::Code::InvalidArgument as i32,
        "{finish:?}"
    );
    assert!(c1.uploads("alpha").is_empty(), "the hostile task uploaded");

    // A well-formed task still runs, so the refusal was not a broken session.
    let honest = c1.enqueue_sync("alpha", SyncOptions::default()).unwrap();
    let done = c1
        .wait_for_finish(&honest, Duration::from_secs(30))
        .await
        .expect("the honest task finished");
    assert!(done.finish.unwrap().success, "{}", hub.log_tail());

    let data: Vec<String> = std::fs::read_dir(dir.path().join("data"))
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(
        data,
        ["alpha"],
        "files appeared outside the tenant's directory"
    );
    assert!(!dir.path().join("other-tenant").exists());
    for private in ["data", "data/alpha", "data/alpha/tasks"] {
        let mode = std::os::unix::fs::MetadataExt::mode(
            &std::fs::metadata(dir.path().join(private)).unwrap(),
        );
        assert_eq!(mode & 0o777, 0o700, "{private} is {:o}", mode & 0o777);
    }
    hub.signal("TERM");
    hub.wait_exit(Duration::from_secs(10));
}
