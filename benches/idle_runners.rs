//! Idle cost of ConductorOne sessions: N tenant runners (default 50) connected
//! to the ConductorOne simulator (a separate process, so its work is not
//! counted), polling with nothing to do for a while (default 60 s). Prints
//! the CPU time and resident memory of this process, which holds only the
//! runners.
//!
//! `cargo bench --bench idle_runners` (release) or add `--profile dev`;
//! `IDLE_TENANTS`, `IDLE_SECS` and `IDLE_NEXT_POLL` (e.g. `1s`) override the defaults.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use baton::pb::c1::connector::v2::{
    CreateAccountResponse, DeleteResourceResponse, GrantManagerServiceGrantResponse,
    GrantManagerServiceRevokeResponse,
};
use conductorone::credentials::ClientCredentials;
use conductorone::metadata::{connector_metadata, sync_capabilities};
use conductorone::settings::C1Settings;
use conductorone::task::{CreateAccountTask, DeleteResourceTask, GrantTask, RevokeTask};
use conductorone::{
    BoxFuture, CancellationSignal, SessionState, SyncRequest, SyncedFile, TaskError, TaskHandler,
    TaskRunner,
};
use platform::tls::CaCertificates;
use sim::conductorone::{SimTenant, TenantsFile, gen_credentials};

/// Idle runners are never handed work; every call is refused.
struct IdleHandler;

fn refuse<T>() -> BoxFuture<Result<T, TaskError>> {
    Box::pin(async {
        Err(TaskError::new(
            tonic::Code::Unimplemented,
            "benchmark handler",
        ))
    })
}

impl TaskHandler for IdleHandler {
    fn sync(
        &self,
        _: &str,
        _: SyncRequest,
        _: CancellationSignal,
    ) -> BoxFuture<Result<SyncedFile, TaskError>> {
        refuse()
    }
    fn grant(
        &self,
        _task_id: &str,
        _: GrantTask,
    ) -> BoxFuture<Result<GrantManagerServiceGrantResponse, TaskError>> {
        refuse()
    }
    fn revoke(
        &self,
        _task_id: &str,
        _: RevokeTask,
    ) -> BoxFuture<Result<GrantManagerServiceRevokeResponse, TaskError>> {
        refuse()
    }
    fn create_account(
        &self,
        _task_id: &str,
        _: CreateAccountTask,
    ) -> BoxFuture<Result<CreateAccountResponse, TaskError>> {
        refuse()
    }
    fn delete_resource(
        &self,
        _task_id: &str,
        _: DeleteResourceTask,
    ) -> BoxFuture<Result<DeleteResourceResponse, TaskError>> {
        refuse()
    }
}

struct Simulator {
    child: Child,
    api_host: String,
    control: String,
}

impl Drop for Simulator {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_simulator(dir: &std::path::Path, tenants: &TenantsFile, next_poll: &str) -> Simulator {
    let tenants_path = dir.join("tenants.json");
    std::fs::write(&tenants_path, serde_json::to_string(tenants).unwrap()).unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_confluence-hub"))
        .args([
            "sim",
            "conductorone",
            "--port",
            "0",
            "--next-poll",
            next_poll,
            "--tenants",
        ])
        .arg(&tenants_path)
        .arg("--cert-out")
        .arg(dir.join("ca.pem"))
        .stdout(Stdio::piped())
        .spawn()
        .expect("start the simulator");
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    // "listening on https://127.0.0.1:PORT control=http://127.0.0.1:CPORT"
    let rest = line
        .trim()
        .strip_prefix("listening on https://")
        .expect("the ready line");
    let (api_host, control) = rest.split_once(" control=http://").unwrap();
    Simulator {
        child,
        api_host: api_host.to_owned(),
        control: control.to_owned(),
    }
}

/// (user + system CPU seconds, current RSS KiB, peak RSS KiB) of this process.
fn usage() -> (f64, u64, u64) {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap();
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .unwrap()
        .1
        .split_whitespace()
        .collect();
    // utime and stime are fields 14 and 15 of the line, in clock ticks (100 Hz on Linux).
    let ticks: u64 = fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap();
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let kib = |key: &str| -> u64 {
        let line = status.lines().find(|line| line.starts_with(key)).unwrap();
        line.split_whitespace().nth(1).unwrap().parse().unwrap()
    };
    (ticks as f64 / 100.0, kib("VmRSS:"), kib("VmHWM:"))
}

fn env_or(name: &str, default: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| default.to_owned())
}

fn main() {
    platform::tls::install_crypto_provider();
    let count: usize = env_or("IDLE_TENANTS", "50").parse().unwrap();
    let seconds: u64 = env_or("IDLE_SECS", "60").parse().unwrap();
    let next_poll = env_or("IDLE_NEXT_POLL", "1s");
    let dir = std::env::temp_dir().join(format!("c1-idle-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();

    let mut tenants = TenantsFile::default();
    let mut settings = Vec::new();
    for index in 0..count {
        let name = format!("tenant{index:03}");
        let (client_id, client_secret, public_jwk) = gen_credentials(&name, "c1.example");
        tenants.tenants.push(SimTenant {
            name: name.clone(),
            client_id: client_id.clone(),
            public_jwk,
        });
        settings.push((name, client_id, client_secret));
    }
    let simulator = start_simulator(&dir, &tenants, &next_poll);
    let ca =
        Arc::new(CaCertificates::from_pem(std::fs::read(dir.join("ca.pem")).unwrap()).unwrap());

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let (cpu_before_start, _, _) = usage();
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let statuses: Vec<_> = settings
        .into_iter()
        .map(|(name, client_id, client_secret)| {
            let settings = C1Settings {
                tenant: name.clone(),
                credentials: ClientCredentials::parse(&client_id, &client_secret)
                    .expect("generated credentials parse"),
                ca: Some(ca.clone()),
                api_host: Some(simulator.api_host.clone()),
                host_id: format!("bench-{name}"),
                task_concurrency: 3,
            };
            let metadata = connector_metadata("https://wiki.example", sync_capabilities());
            let runner = TaskRunner::new(settings, Arc::new(metadata), Arc::new(IdleHandler));
            let status = runner.status();
            let mut stopped = stopped.clone();
            runtime.spawn(runner.run(async move {
                let _ = stopped.wait_for(|stop| *stop).await;
            }));
            status
        })
        .collect();

    runtime.block_on(async {
        for mut status in statuses.clone() {
            let connected = status.wait_for(|status| status.state == SessionState::Connected);
            tokio::time::timeout(Duration::from_secs(60), connected)
                .await
                .unwrap()
                .unwrap();
        }
        // Let connection setup settle before measuring.
        tokio::time::sleep(Duration::from_secs(3)).await;
    });
    let (cpu_connected, _, _) = usage();
    let polls_before = total_polls(&runtime, &simulator, count);
    let started = Instant::now();
    let (cpu_start, _, _) = usage();
    runtime.block_on(async { tokio::time::sleep(Duration::from_secs(seconds)).await });
    let (cpu_end, rss, peak) = usage();
    let elapsed = started.elapsed().as_secs_f64();
    let polls = total_polls(&runtime, &simulator, count) - polls_before;
    let _ = stop.send(true);
    drop(runtime);

    let cpu = cpu_end - cpu_start;
    println!("idle_runners: {count} tenants, next_poll {next_poll}, {elapsed:.1} s idle");
    println!(
        "  startup (credentials, TLS, token, Hello) CPU: {:.2} s",
        cpu_connected - cpu_before_start
    );
    println!(
        "  idle CPU: {cpu:.2} s = {:.3} % of one core",
        100.0 * cpu / elapsed
    );
    println!(
        "  GetTask polls: {polls} ({:.1}/s, {:.1} µs CPU per poll)",
        polls as f64 / elapsed,
        1e6 * cpu / polls.max(1) as f64
    );
    println!(
        "  RSS: {:.1} MiB now, {:.1} MiB peak",
        rss as f64 / 1024.0,
        peak as f64 / 1024.0
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// GetTask calls the simulator has seen, summed over tenants (control API).
fn total_polls(runtime: &tokio::runtime::Runtime, simulator: &Simulator, count: usize) -> u64 {
    runtime.block_on(async {
        let http = reqwest::Client::new();
        let mut total = 0;
        for index in 0..count {
            let url = format!("http://{}/tenants/tenant{index:03}", simulator.control);
            let record: serde_json::Value =
                http.get(url).send().await.unwrap().json().await.unwrap();
            total += record["stats"]["get_task_calls"].as_u64().unwrap();
        }
        total
    })
}
