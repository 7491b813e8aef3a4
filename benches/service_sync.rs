//! From enqueuing a ConductorOne `sync_full` task to its FinishTask, for a
//! 2,000-user tenant: the real `confluence-hub run` (its own process) in
//! service mode, one tenant per Confluence version (8.5, 9.2, 10.2, each its
//! own simulator), the ConductorOne simulator at its default pacing (next_poll
//! and next_heartbeat 1 s). Tasks are enqueued one at a time, so syncs never
//! overlap.
//!
//! The breakdown joins what the bench sees at the simulator (enqueue, the task
//! handed out by GetTask, FinishTask recorded; checked every millisecond) with
//! the hub's log lines (`sync started`, `sync finished`, `c1z uploaded`).
//!
//! `cargo bench --bench service_sync`. Knobs (environment): `SYNC_USERS`,
//! `SYNC_GROUPS`, `SYNC_SPACES`, `SYNC_VERSIONS` (`8.5,9.2,10.2`),
//! `SYNC_REPEATS`, `SYNC_RPS` (100), `SYNC_BURST` (100), `SYNC_LATENCY_MS`
//! (20, added by the simulators to every answer), `SYNC_MAX_IN_FLIGHT` (4),
//! `HUB_BENCH_KEEP`.

mod support;

use std::path::Path;
use std::time::{Duration, Instant, SystemTime};

use baton::c1z::C1zReader;
use sim::conductorone::{
    ConductorOneSim, SimOptions as C1Options, SimTenant, SyncOptions, TaskState, gen_credentials,
};
use sim::confluence::{ConfluenceSim, Dataset, Faults, GenerateOptions, SimOptions, SimVersion};

use support::{
    C1Endpoint, HubProcess, WorkDir, c1_instance, env_or, free_port, load_average, parse_time,
    seconds_between,
};

const TOKEN: &str = "sync-bench-pat";

struct Tenant {
    id: String,
    version: String,
    sim: ConfluenceSim,
}

/// One task's timeline, in seconds from its enqueue.
struct Timeline {
    handed_out: f64,
    sync_started: f64,
    sync_finished: f64,
    uploaded: f64,
    finished: f64,
    requests: u64,
    bytes: u64,
    grants: u64,
}

fn main() {
    let users: usize = env_or("SYNC_USERS", 2_000);
    let groups: usize = env_or("SYNC_GROUPS", 200);
    let spaces: usize = env_or("SYNC_SPACES", 100);
    let repeats: usize = env_or("SYNC_REPEATS", 3);
    let rps: f64 = env_or("SYNC_RPS", 100.0);
    let burst: u32 = env_or("SYNC_BURST", 100);
    let latency = Duration::from_millis(env_or("SYNC_LATENCY_MS", 20));
    let max_in_flight: usize = env_or("SYNC_MAX_IN_FLIGHT", 4);
    let versions = env_or("SYNC_VERSIONS", "8.5,9.2,10.2".to_owned());

    let dir = WorkDir::new("sync");
    let token_file = dir.path().join("confluence-pat");
    std::fs::write(&token_file, TOKEN).expect("write the token file");
    let tenants: Vec<Tenant> = versions
        .split(',')
        .enumerate()
        .map(|(index, version)| {
            let parsed: SimVersion = version.trim().parse().expect("a version: 8.5, 9.2 or 10.2");
            let dataset = Dataset::generate(&GenerateOptions {
                seed: 40 + index as u64,
                users,
                groups,
                spaces,
            });
            let mut options = SimOptions::new(parsed, dataset);
            options.admin_token = TOKEN.to_owned();
            options.faults = Faults {
                latency,
                ..Faults::default()
            };
            Tenant {
                id: format!("big{}", version.trim().replace('.', "")),
                version: version.trim().to_owned(),
                sim: ConfluenceSim::start(options).expect("start a Confluence simulator"),
            }
        })
        .collect();

    let mut sim_tenants = Vec::new();
    let mut secrets = Vec::new();
    for tenant in &tenants {
        let (client_id, secret, public_jwk) = gen_credentials(&tenant.id, "127.0.0.1");
        let secret_file = dir.path().join(format!("{}-c1-secret", tenant.id));
        std::fs::write(&secret_file, secret.expose()).expect("write a client secret");
        sim_tenants.push(SimTenant {
            name: tenant.id.clone(),
            client_id: client_id.clone(),
            public_jwk,
        });
        secrets.push((client_id, secret_file));
    }
    let c1 = ConductorOneSim::start(C1Options {
        tenants: sim_tenants,
        ..C1Options::default()
    })
    .expect("start the ConductorOne simulator");
    let ca_file = dir.path().join("c1-ca.pem");
    std::fs::write(&ca_file, c1.ca_pem()).expect("write the CA file");
    let api_host = c1.api_host();
    let endpoint = C1Endpoint {
        ca_file: &ca_file,
        api_host: &api_host,
    };
    let instances: String = tenants
        .iter()
        .zip(&secrets)
        .map(|(tenant, (client_id, secret_file))| {
            c1_instance(
                &tenant.id,
                &tenant.sim.base_url(),
                &token_file,
                "",
                client_id,
                secret_file,
                &endpoint,
            )
        })
        .collect();
    let port = free_port();
    let config = format!(
        "[hub]\ndata_dir = \"{data}\"\nadmin_listen = \"127.0.0.1:{port}\"\nworkers = 2\n\
         [defaults]\nrequests_per_second = {rps}\nburst = {burst}\nmax_in_flight = {max_in_flight}\n{instances}",
        data = dir.path().join("data").display(),
    );

    println!(
        "service_sync: enqueue to FinishTask, {users} users / {groups} groups / {spaces} spaces per tenant, {} ms added to every Confluence answer, {repeats} tasks per version, one at a time",
        latency.as_millis()
    );
    println!(
        "  hub: release binary, requests_per_second = {rps}, burst = {burst}, max_in_flight = {max_in_flight}; ConductorOne simulator next_poll 1 s, next_heartbeat 1 s"
    );
    let mut hub = HubProcess::start(dir.path(), &config, port);
    hub.wait_for_sessions(
        tenants.len(),
        Duration::from_secs(60),
        Duration::from_millis(100),
    );

    for tenant in &tenants {
        println!("Confluence {} (tenant {}):", tenant.version, tenant.id);
        for round in 0..repeats {
            let load = load_average();
            let timeline = run_task(&mut hub, &c1, tenant);
            // Phases end at times seen by two clocks' readers (the bench
            // polls every millisecond); a phase under that reads as 0.
            let phase = |from: f64, to: f64| 1000.0 * (to - from).max(0.0);
            println!(
                "  task {}: {:.2} s enqueue to FinishTask = poll wait {:.0} ms + to sync start {:.0} ms + sync {:.0} ms + upload {:.0} ms + finish {:.0} ms; {} Confluence requests ({:.1} s at {rps}/s), {} grants, {} bytes; load {load}",
                round + 1,
                timeline.finished,
                phase(0.0, timeline.handed_out),
                phase(timeline.handed_out, timeline.sync_started),
                phase(timeline.sync_started, timeline.sync_finished),
                phase(timeline.sync_finished, timeline.uploaded),
                phase(timeline.uploaded, timeline.finished),
                timeline.requests,
                timeline.requests as f64 / rps,
                timeline.grants,
                timeline.bytes,
            );
        }
        if let Some(upload) = c1.uploads(&tenant.id).last() {
            let decode = time_decode(dir.path(), &upload.bytes);
            println!(
                "  of the upload, the simulator's own check of the file (our c1z reader: decompress, open, count) takes about {decode:.2} s before it answers"
            );
        }
    }
    hub.stop(Duration::from_secs(30));
}

fn run_task(hub: &mut HubProcess, c1: &ConductorOneSim, tenant: &Tenant) -> Timeline {
    let requests_before = tenant.sim.request_count();
    let enqueued = SystemTime::now();
    let task_id = c1
        .enqueue_sync(&tenant.id, SyncOptions::default())
        .expect("enqueue a sync");
    let mut handed_out = None;
    let deadline = Instant::now() + Duration::from_secs(900);
    let finish = loop {
        assert!(Instant::now() < deadline, "task {task_id} did not finish");
        let record = c1.task(&task_id).expect("the task exists");
        if handed_out.is_none() && record.state != TaskState::Pending {
            handed_out = Some(SystemTime::now());
        }
        if record.state == TaskState::Finished {
            break record.finish.expect("a finished task has its finish");
        }
        if handed_out.is_some() {
            hub.assert_running();
        }
        std::thread::sleep(Duration::from_millis(1));
    };
    let finished = SystemTime::now();
    assert!(finish.success, "the sync task failed: {finish:?}");
    let log = hub.log_text();
    let line = |message: &str| log_time(&log, &task_id, &tenant.id, message);
    let sync_started = line("sync started");
    let sync_finished = line("sync finished");
    let uploaded = line("c1z uploaded");
    let upload = c1
        .uploads(&tenant.id)
        .into_iter()
        .find(|upload| upload.task_id == task_id)
        .expect("the task's upload");
    let since = |time: SystemTime| seconds_between(enqueued, time);
    Timeline {
        handed_out: since(handed_out.unwrap_or(finished)),
        sync_started: since(sync_started),
        sync_finished: since(sync_finished),
        uploaded: since(uploaded),
        finished: since(finished),
        requests: tenant.sim.request_count() - requests_before,
        bytes: upload.size,
        grants: upload.contents.map_or(0, |contents| contents.grants),
    }
}

/// The timestamp of the hub's log line `message` about `task_id` (or, for
/// the Instance's `sync finished`, whose span names no task, the tenant's
/// last such line).
fn log_time(log: &str, task_id: &str, tenant: &str, message: &str) -> SystemTime {
    let lines: Vec<serde_json::Value> = log
        .lines()
        .filter_map(|line| serde_json::from_str(line).ok())
        .filter(|line: &serde_json::Value| line["message"] == message && line["tenant"] == tenant)
        .collect();
    let line = lines
        .iter()
        .rev()
        .find(|line| line["task_id"] == task_id)
        .or_else(|| lines.last())
        .unwrap_or_else(|| panic!("no `{message}` line for {tenant} in the hub's log"));
    parse_time(line["timestamp"].as_str().expect("a timestamp"))
}

/// Seconds our c1z reader takes to open `bytes` and count what it holds,
/// as the simulator does before answering an upload.
fn time_decode(dir: &Path, bytes: &[u8]) -> f64 {
    let path = dir.join("decode-check.c1z");
    std::fs::write(&path, bytes).expect("write the uploaded file");
    let started = Instant::now();
    let summary = C1zReader::open(&path).and_then(|reader| reader.summary());
    let took = started.elapsed().as_secs_f64();
    summary.expect("the upload decodes");
    let _ = std::fs::remove_file(&path);
    took
}
