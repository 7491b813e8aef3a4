//! The idle cost of the hub in ConductorOne service mode: the real
//! `confluence-hub run` (its own process) with N tenants (default 50), each
//! with its own ConductorOne credentials, connected to the ConductorOne
//! simulator and polling with nothing to do. Once every session is connected
//! and a settle time has passed, measures the hub's CPU time over a window
//! (default 60 s) and its RSS (once a minute, and its growth over the
//! window), for each `next_poll` the simulator asks for.
//!
//! The simulators (ConductorOne, and one Confluence that the tenants point
//! at but, idle, never call) run in this bench process; their CPU is not
//! the hub's.
//!
//! `cargo bench --bench service_idle`. Knobs (environment): `IDLE_TENANTS`,
//! `IDLE_SECS`, `IDLE_SETTLE_SECS`, `IDLE_NEXT_POLLS` (comma-separated, e.g.
//! `1s,5s,30s`), `IDLE_WORKERS`, `HUB_BENCH_KEEP`.

mod support;

use std::path::Path;
use std::time::{Duration, Instant};

use sim::conductorone::{ConductorOneSim, SimOptions as C1Options, SimTenant, gen_credentials};
use sim::confluence::{ConfluenceSim, Dataset, GenerateOptions, SimOptions, SimVersion};

use support::{HubProcess, WorkDir, env_or, free_port, load_average, mib, own_usage};

const TOKEN: &str = "idle-bench-pat";

struct Credentials {
    tenant: String,
    client_id: String,
    secret_file: std::path::PathBuf,
}

fn main() {
    let count: usize = env_or("IDLE_TENANTS", 50);
    let seconds: u64 = env_or("IDLE_SECS", 60);
    let settle: u64 = env_or("IDLE_SETTLE_SECS", 5);
    let workers: usize = env_or("IDLE_WORKERS", 2);
    let polls: Vec<Duration> = env_or("IDLE_NEXT_POLLS", "1s,5s,30s".to_owned())
        .split(',')
        .map(|text| humantime::parse_duration(text.trim()).expect("a duration like 5s"))
        .collect();

    let dir = WorkDir::new("idle");
    let token_file = dir.path().join("confluence-pat");
    std::fs::write(&token_file, TOKEN).expect("write the token file");
    let mut options = SimOptions::new(
        SimVersion::V10_2,
        Dataset::generate(&GenerateOptions {
            seed: 7,
            users: 10,
            groups: 3,
            spaces: 2,
        }),
    );
    options.admin_token = TOKEN.to_owned();
    options.worker_threads = 1;
    let confluence = ConfluenceSim::start(options).expect("start the Confluence simulator");

    let mut tenants = Vec::new();
    let mut credentials = Vec::new();
    for index in 0..count {
        let tenant = format!("idle{index:03}");
        let (client_id, secret, public_jwk) = gen_credentials(&tenant, "127.0.0.1");
        let secret_file = dir.path().join(format!("{tenant}-c1-secret"));
        std::fs::write(&secret_file, secret.expose()).expect("write a client secret");
        tenants.push(SimTenant {
            name: tenant.clone(),
            client_id: client_id.clone(),
            public_jwk,
        });
        credentials.push(Credentials {
            tenant,
            client_id,
            secret_file,
        });
    }

    println!(
        "service_idle: {count} tenants with ConductorOne credentials, no tasks; hub = release binary in its own process, workers = {workers}, log level info"
    );
    println!(
        "  measured over {seconds} s, starting {settle} s after every session is connected; targets: < 1 % of one core, < 150 MB RSS"
    );
    for next_poll in polls {
        let c1 = ConductorOneSim::start(C1Options {
            tenants: tenants.clone(),
            next_poll,
            ..C1Options::default()
        })
        .expect("start the ConductorOne simulator");
        run(
            &RunSetup {
                dir: dir.path(),
                token_file: &token_file,
                confluence: &confluence,
                credentials: &credentials,
                workers,
                seconds,
                settle,
            },
            &c1,
            next_poll,
        );
        c1.shutdown();
    }
}

struct RunSetup<'a> {
    dir: &'a Path,
    token_file: &'a Path,
    confluence: &'a ConfluenceSim,
    credentials: &'a [Credentials],
    workers: usize,
    seconds: u64,
    settle: u64,
}

fn run(setup: &RunSetup<'_>, c1: &ConductorOneSim, next_poll: Duration) {
    let label = humantime::format_duration(next_poll).to_string();
    let run_dir = setup.dir.join(format!("poll-{label}"));
    std::fs::create_dir_all(&run_dir).expect("create the run directory");
    let ca_file = run_dir.join("c1-ca.pem");
    std::fs::write(&ca_file, c1.ca_pem()).expect("write the CA file");
    let port = free_port();
    let mut config = format!(
        "[hub]\ndata_dir = \"{data}\"\nadmin_listen = \"127.0.0.1:{port}\"\nworkers = {workers}\n",
        data = run_dir.join("data").display(),
        workers = setup.workers,
    );
    for tenant in setup.credentials {
        config.push_str(&format!(
            "[[instance]]\nid = \"{id}\"\nbase_url = \"{url}\"\ntoken = {{ file = \"{token}\" }}\nprovisioning = true\n\
             [instance.conductorone]\nclient_id = \"{client_id}\"\nclient_secret = {{ file = \"{secret}\" }}\n\
             ca_file = \"{ca}\"\napi_host = \"{api_host}\"\n",
            id = tenant.tenant,
            url = setup.confluence.base_url(),
            token = setup.token_file.display(),
            client_id = tenant.client_id,
            secret = tenant.secret_file.display(),
            ca = ca_file.display(),
            api_host = c1.api_host(),
        ));
    }

    let mut hub = HubProcess::start(&run_dir, &config, port);
    hub.wait_for(
        Duration::from_secs(120),
        Duration::from_millis(200),
        "every ConductorOne session connected",
        |status| {
            let tenants = status["tenants"].as_array().map_or(&[][..], Vec::as_slice);
            tenants.len() == setup.credentials.len()
                && tenants
                    .iter()
                    .all(|tenant| tenant["conductorone"]["session"] == "connected")
        },
    );
    let connected_after = hub.started.elapsed().as_secs_f64();
    let startup = hub.usage();
    std::thread::sleep(Duration::from_secs(setup.settle));

    let polls_before = total_polls(c1, setup.credentials);
    let confluence_before = setup.confluence.request_count();
    let load_before = load_average();
    let bench_before = own_usage();
    let before = hub.usage();
    let started = Instant::now();
    // RSS once a minute, to see whether an idle hub creeps.
    let window = Duration::from_secs(setup.seconds);
    while started.elapsed() + Duration::from_secs(60) <= window {
        std::thread::sleep(Duration::from_secs(60));
        let minute = started.elapsed().as_secs() / 60;
        println!(
            "  minute {minute} of the window: RSS {:.1} MiB",
            mib(hub.usage().rss_kib)
        );
    }
    std::thread::sleep(window.saturating_sub(started.elapsed()));
    let after = hub.usage();
    let elapsed = started.elapsed().as_secs_f64();
    let bench_after = own_usage();
    let load_after = load_average();
    let polls = total_polls(c1, setup.credentials) - polls_before;
    let confluence_requests = setup.confluence.request_count() - confluence_before;
    hub.assert_running();
    hub.stop(Duration::from_secs(30));

    let cpu = after.cpu - before.cpu;
    println!("next_poll {label}:");
    println!(
        "  start-up: every session connected {connected_after:.1} s after exec, {:.2} s CPU (credentials, TLS, tokens, Hello)",
        startup.cpu
    );
    println!(
        "  idle CPU: {cpu:.2} s over {elapsed:.1} s ({:.2} user + {:.2} system) = {:.2} % of one core = {:.2} CPU-s per minute",
        after.user - before.user,
        after.system - before.system,
        100.0 * cpu / elapsed,
        60.0 * cpu / elapsed
    );
    println!(
        "  GetTask polls: {polls} ({:.1}/s; idle CPU / polls = {:.0} µs, timers included); Confluence requests: {confluence_requests}",
        polls as f64 / elapsed,
        1e6 * cpu / polls.max(1) as f64
    );
    println!(
        "  RSS: {:.1} MiB when the window opened, {:.1} MiB at the end ({:+.2} %), {:.1} MiB peak (VmHWM); {} threads",
        mib(before.rss_kib),
        mib(after.rss_kib),
        100.0 * (after.rss_kib as f64 - before.rss_kib as f64) / before.rss_kib.max(1) as f64,
        mib(after.peak_kib),
        after.threads
    );
    println!(
        "  simulators' CPU (bench process): {:.2} s; load average before: {load_before}, after: {load_after}",
        bench_after.cpu - bench_before.cpu
    );
}

fn total_polls(c1: &ConductorOneSim, credentials: &[Credentials]) -> u64 {
    credentials
        .iter()
        .map(|tenant| {
            c1.stats(&tenant.tenant)
                .map(|stats| stats.get_task_calls)
                .unwrap_or(0)
        })
        .sum()
}
