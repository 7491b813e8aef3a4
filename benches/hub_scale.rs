//! How many tenants one replica holds: the real `confluence-hub run` (its
//! own process, release build, the config a new user writes) with many
//! tenants, in two runs:
//!
//! - `scheduled`: N tenants (default 1,000) in scheduled mode against one
//!   Confluence simulator (8.5, 300 users / 30 groups / 20 spaces). Waits for
//!   every tenant's first sync, then prints the peak RSS of the syncs, the
//!   RSS a settle time (default 60 s) after the last one, and the idle CPU
//!   over the window that follows (default 60 s).
//!   Targets: peak ≤ 250 MB, RSS after ≤ 150 MB, idle CPU ≤ 1 % of a core.
//! - `idle`: N tenants with their own ConductorOne credentials, connected
//!   to the ConductorOne simulator and polling (every 5 s by default) with
//!   nothing to do. Once every session is connected and the settle time
//!   (default 300 s) has passed, prints the hub's RSS once a minute, its
//!   growth over the window (default 3,300 s: minute 5 to minute 60) and its
//!   CPU. Targets: RSS ≤ 150 MB, growth ≤ 2 %, CPU ≤ 3 % of a core. Then a
//!   ConductorOne `sync_full` task goes to 50 of them at once (300 users /
//!   30 groups / 20 spaces each, one Confluence simulator), and the run
//!   prints the RSS before, at the peak and 60 s after they all finished:
//!   what the syncs leave behind.
//!
//! The simulators run in this bench process (their CPU is printed apart).
//!
//! `cargo bench --bench hub_scale`. Knobs (environment): `SCALE_RUNS`
//! (`scheduled,idle`), `SCALE_TENANTS`, `SCALE_SETTLE_SECS`,
//! `SCALE_WINDOW_SECS` (both per run when unset), `SCALE_NEXT_POLLS`
//! (comma-separated, e.g. `1s,5s,30s`), `SCALE_SYNC_TASKS` (50; 0 skips
//! them), `SCALE_WORKERS`,
//! `SCALE_TIMEOUT_SECS`, `HUB_BENCH_KEEP`, and `HUB_BENCH_WRAPPER` (a
//! command the hub runs under, e.g. `heaptrack -o /tmp/hub`).

mod support;

use std::path::Path;
use std::time::{Duration, Instant};

use sim::conductorone::{
    ConductorOneSim, SimOptions as C1Options, SimTenant, SyncOptions, gen_credentials,
};
use sim::confluence::{ConfluenceSim, Dataset, GenerateOptions, SimOptions, SimVersion};

use support::{
    C1Endpoint, HubProcess, LogTail, Usage, WorkDir, c1_instance, env_or, free_port, load_average,
    mib, own_usage,
};

const TOKEN: &str = "hub-scale-pat";

struct Knobs {
    runs: Vec<String>,
    tenants: usize,
    settle: Option<u64>,
    window: Option<u64>,
    next_polls: Vec<Duration>,
    sync_tasks: usize,
    workers: usize,
    timeout: Duration,
}

impl Knobs {
    fn from_env() -> Self {
        let optional = |name: &str| {
            std::env::var(name).ok().map(|text| {
                text.parse()
                    .unwrap_or_else(|_| panic!("{name}={text} is not a number"))
            })
        };
        Self {
            runs: env_or("SCALE_RUNS", "scheduled,idle".to_owned())
                .split(',')
                .map(str::to_owned)
                .collect(),
            tenants: env_or("SCALE_TENANTS", 1_000),
            settle: optional("SCALE_SETTLE_SECS"),
            window: optional("SCALE_WINDOW_SECS"),
            next_polls: env_or("SCALE_NEXT_POLLS", "5s".to_owned())
                .split(',')
                .map(|text| humantime::parse_duration(text.trim()).expect("a duration like 5s"))
                .collect(),
            sync_tasks: env_or("SCALE_SYNC_TASKS", 50),
            workers: env_or("SCALE_WORKERS", 2),
            timeout: Duration::from_secs(env_or("SCALE_TIMEOUT_SECS", 1_800)),
        }
    }
}

fn main() {
    let knobs = Knobs::from_env();
    let dir = WorkDir::new("scale");
    let token_file = dir.path().join("confluence-pat");
    std::fs::write(&token_file, TOKEN).expect("write the token file");
    println!(
        "hub_scale: {} tenants; hub = release binary in its own process, default config, workers = {}; machine: {} cores",
        knobs.tenants,
        knobs.workers,
        std::thread::available_parallelism().map_or(0, usize::from)
    );
    for run in &knobs.runs {
        match run.as_str() {
            "scheduled" => scheduled(&knobs, dir.path(), &token_file),
            "idle" => idle(&knobs, dir.path(), &token_file),
            other => panic!("SCALE_RUNS: unknown run `{other}`; use scheduled or idle"),
        }
    }
}

fn confluence_sim(users: usize, groups: usize, spaces: usize) -> ConfluenceSim {
    let dataset = Dataset::generate(&GenerateOptions {
        seed: 7,
        users,
        groups,
        spaces,
    });
    let mut options = SimOptions::new(SimVersion::V8_5, dataset);
    options.admin_token = TOKEN.to_owned();
    options.worker_threads = 1;
    ConfluenceSim::start(options).expect("start the Confluence simulator")
}

fn hub_section(data_dir: &Path, port: u16, workers: usize) -> String {
    format!(
        "[hub]\ndata_dir = \"{}\"\nadmin_listen = \"127.0.0.1:{port}\"\nworkers = {workers}\n",
        data_dir.display()
    )
}

fn scheduled(knobs: &Knobs, dir: &Path, token_file: &Path) {
    let settle = knobs.settle.unwrap_or(60);
    let window = knobs.window.unwrap_or(60);
    let confluence = confluence_sim(300, 30, 20);
    let run_dir = dir.join("scheduled");
    std::fs::create_dir_all(&run_dir).expect("create the run directory");
    let port = free_port();
    let mut config = hub_section(&run_dir.join("data"), port, knobs.workers);
    for index in 0..knobs.tenants {
        config.push_str(&format!(
            "[[instance]]\nid = \"t{index:04}\"\nbase_url = \"{}\"\ntoken = {{ file = \"{}\" }}\n",
            confluence.base_url(),
            token_file.display()
        ));
    }
    println!(
        "\nscheduled: {} tenants against one Confluence 8.5 simulator (300 users / 30 groups / 20 spaces, 1 worker thread)",
        knobs.tenants
    );

    let requests_before = confluence.request_count();
    let bench_before = own_usage();
    let mut hub = HubProcess::start(&run_dir, &config, port);
    let deadline = Instant::now() + knobs.timeout;
    let mut log = LogTail::new(&hub.log);
    let (mut finished, mut reported) = (0, Instant::now());
    while finished < knobs.tenants {
        finished += log.count_new("\"message\":\"sync finished\"");
        hub.assert_running();
        assert!(
            Instant::now() < deadline,
            "only {finished} of {} first syncs finished within {:?}\n{}",
            knobs.tenants,
            knobs.timeout,
            hub.log_tail()
        );
        if reported.elapsed() >= Duration::from_secs(10) {
            reported = Instant::now();
            let usage = hub.usage();
            println!(
                "  {:>5.0} s: {finished} syncs finished, RSS {:.1} MiB, peak {:.1} MiB",
                hub.started.elapsed().as_secs_f64(),
                mib(usage.rss_kib),
                mib(usage.peak_kib)
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let wall = hub.started.elapsed().as_secs_f64();
    let synced = hub.usage();
    let bench_after = own_usage();
    let requests = confluence.request_count() - requests_before;
    let status = hub
        .status()
        .expect("/status answers once the syncs are done");
    let failed: Vec<&serde_json::Value> = status["tenants"]
        .as_array()
        .map_or(&[][..], Vec::as_slice)
        .iter()
        .filter(|tenant| tenant["last_sync"]["outcome"] != "ok")
        .collect();
    assert!(
        failed.is_empty(),
        "{} tenants have no successful sync, the first: {}",
        failed.len(),
        failed[0]
    );

    std::thread::sleep(Duration::from_secs(settle));
    let settled = hub.usage();
    let quiet = measure_quiet(&mut hub, window);
    hub.stop(Duration::from_secs(30));

    println!(
        "  every first sync finished {wall:.1} s after exec: {requests} Confluence requests, hub CPU {:.1} s, simulator CPU {:.1} s",
        synced.cpu,
        bench_after.cpu - bench_before.cpu
    );
    println!(
        "  peak RSS {:.1} MiB (target ≤ 250 MB = 238.4 MiB); RSS {settle} s after the last sync {:.1} MiB (target ≤ 150 MB = 143.1 MiB); {} threads",
        mib(settled.peak_kib),
        mib(settled.rss_kib),
        settled.threads
    );
    quiet.print("1 %");
}

fn idle(knobs: &Knobs, dir: &Path, token_file: &Path) {
    let settle = knobs.settle.unwrap_or(300);
    let window = knobs.window.unwrap_or(3_300);
    // Idle, the tenants never call it; the sync tasks at the end do.
    let confluence = confluence_sim(300, 30, 20);
    let mut tenants = Vec::new();
    let mut credentials = Vec::new();
    for index in 0..knobs.tenants {
        let tenant = format!("idle{index:04}");
        let (client_id, secret, public_jwk) = gen_credentials(&tenant, "127.0.0.1");
        let secret_file = dir.join(format!("{tenant}-c1-secret"));
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
    for &next_poll in &knobs.next_polls {
        let c1 = ConductorOneSim::start(C1Options {
            tenants: tenants.clone(),
            next_poll,
            ..C1Options::default()
        })
        .expect("start the ConductorOne simulator");
        let setup = IdleSetup {
            dir,
            token_file,
            confluence: &confluence,
            credentials: &credentials,
            sync_tasks: knobs.sync_tasks,
            workers: knobs.workers,
            settle,
            window,
        };
        idle_run(&setup, &c1, next_poll);
        c1.shutdown();
    }
}

struct Credentials {
    tenant: String,
    client_id: String,
    secret_file: std::path::PathBuf,
}

struct IdleSetup<'a> {
    dir: &'a Path,
    token_file: &'a Path,
    confluence: &'a ConfluenceSim,
    credentials: &'a [Credentials],
    sync_tasks: usize,
    workers: usize,
    settle: u64,
    window: u64,
}

fn idle_run(setup: &IdleSetup<'_>, c1: &ConductorOneSim, next_poll: Duration) {
    let label = humantime::format_duration(next_poll).to_string();
    let run_dir = setup.dir.join(format!("idle-poll-{label}"));
    std::fs::create_dir_all(&run_dir).expect("create the run directory");
    let ca_file = run_dir.join("c1-ca.pem");
    std::fs::write(&ca_file, c1.ca_pem()).expect("write the CA file");
    let port = free_port();
    let mut config = hub_section(&run_dir.join("data"), port, setup.workers);
    let api_host = c1.api_host();
    let endpoint = C1Endpoint {
        ca_file: &ca_file,
        api_host: &api_host,
    };
    for tenant in setup.credentials {
        config.push_str(&c1_instance(
            &tenant.tenant,
            &setup.confluence.base_url(),
            setup.token_file,
            "provisioning = true\n",
            &tenant.client_id,
            &tenant.secret_file,
            &endpoint,
        ));
    }
    println!(
        "\nidle, next_poll {label}: {} tenants with ConductorOne credentials, no tasks",
        setup.credentials.len()
    );

    let mut hub = HubProcess::start(&run_dir, &config, port);
    hub.wait_for_sessions(
        setup.credentials.len(),
        Duration::from_secs(300),
        Duration::from_millis(500),
    );
    let connected_after = hub.started.elapsed().as_secs_f64();
    let startup = hub.usage();
    println!(
        "  every session connected {connected_after:.1} s after exec, {:.2} s CPU (credentials, TLS, tokens, Hello), RSS {:.1} MiB",
        startup.cpu,
        mib(startup.rss_kib)
    );
    std::thread::sleep(Duration::from_secs(setup.settle));

    let polls_before = total_polls(c1, setup.credentials);
    let confluence_before = setup.confluence.request_count();
    let quiet = measure_quiet(&mut hub, setup.window);
    let polls = total_polls(c1, setup.credentials) - polls_before;
    let confluence_requests = setup.confluence.request_count() - confluence_before;
    quiet.print("3 %");
    println!(
        "  GetTask polls: {polls} ({:.1}/s; CPU per poll {:.0} µs, timers included); Confluence requests: {confluence_requests}",
        polls as f64 / quiet.elapsed,
        1e6 * quiet.cpu() / polls.max(1) as f64
    );
    let count = setup.sync_tasks.min(setup.credentials.len());
    if count > 0 {
        sync_burst(&mut hub, c1, &setup.credentials[..count]);
    }
    hub.stop(Duration::from_secs(30));
}

/// Sends a `sync_full` task to each of `tenants` at once, waits for every
/// FinishTask, and prints the hub's RSS before, at its sampled peak, and a
/// minute after the last one finished.
fn sync_burst(hub: &mut HubProcess, c1: &ConductorOneSim, tenants: &[Credentials]) {
    const AFTER: Duration = Duration::from_secs(60);
    let before = hub.usage();
    let started = Instant::now();
    let ids: Vec<String> = tenants
        .iter()
        .map(|tenant| {
            c1.enqueue_sync(&tenant.tenant, SyncOptions::default())
                .expect("enqueue a sync task")
        })
        .collect();
    let mut peak = before.rss_kib;
    loop {
        peak = peak.max(hub.usage().rss_kib);
        let finished: Vec<_> = ids
            .iter()
            .filter_map(|id| c1.task(id).and_then(|record| record.finish))
            .collect();
        if finished.len() == ids.len() {
            let failed = finished.iter().filter(|finish| !finish.success).count();
            assert_eq!(failed, 0, "{failed} sync tasks failed: {finished:?}");
            break;
        }
        hub.assert_running();
        assert!(
            started.elapsed() < Duration::from_secs(600),
            "only {} of {} sync tasks finished within 600 s\n{}",
            finished.len(),
            ids.len(),
            hub.log_tail()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let wall = started.elapsed().as_secs_f64();
    std::thread::sleep(AFTER);
    let after = hub.usage();
    println!(
        "  {} sync tasks at once: every FinishTask {wall:.1} s after enqueue; RSS {:.1} MiB before, {:.1} MiB at the peak, {:.1} MiB {} s after ({:+.1} MiB)",
        ids.len(),
        mib(before.rss_kib),
        mib(peak),
        mib(after.rss_kib),
        AFTER.as_secs(),
        mib(after.rss_kib) - mib(before.rss_kib)
    );
}

/// The hub's CPU and RSS over a window in which it has nothing to do.
struct Quiet {
    before: Usage,
    after: Usage,
    elapsed: f64,
    bench_cpu: f64,
    load_before: String,
    load_after: String,
}

/// Watches the hub for `seconds`, printing its RSS once a minute.
fn measure_quiet(hub: &mut HubProcess, seconds: u64) -> Quiet {
    let load_before = load_average();
    let bench_before = own_usage();
    let before = hub.usage();
    let started = Instant::now();
    let window = Duration::from_secs(seconds);
    while started.elapsed() + Duration::from_secs(60) <= window {
        std::thread::sleep(Duration::from_secs(60));
        println!(
            "  minute {} of the window: RSS {:.1} MiB",
            started.elapsed().as_secs() / 60,
            mib(hub.usage().rss_kib)
        );
    }
    std::thread::sleep(window.saturating_sub(started.elapsed()));
    hub.assert_running();
    Quiet {
        before,
        after: hub.usage(),
        elapsed: started.elapsed().as_secs_f64(),
        bench_cpu: own_usage().cpu - bench_before.cpu,
        load_before,
        load_after: load_average(),
    }
}

impl Quiet {
    fn cpu(&self) -> f64 {
        self.after.cpu - self.before.cpu
    }

    fn print(&self, cpu_target: &str) {
        let cpu = self.cpu();
        println!(
            "  quiet CPU: {cpu:.2} s over {:.0} s ({:.2} user + {:.2} system) = {:.2} % of one core (target ≤ {cpu_target})",
            self.elapsed,
            self.after.user - self.before.user,
            self.after.system - self.before.system,
            100.0 * cpu / self.elapsed,
        );
        println!(
            "  RSS: {:.1} MiB when the window opened, {:.1} MiB at its end ({:+.2} %), peak {:.1} MiB; {} threads",
            mib(self.before.rss_kib),
            mib(self.after.rss_kib),
            100.0 * (self.after.rss_kib as f64 - self.before.rss_kib as f64)
                / self.before.rss_kib.max(1) as f64,
            mib(self.after.peak_kib),
            self.after.threads
        );
        println!(
            "  simulators' CPU (bench process): {:.2} s; load average before: {}, after: {}",
            self.bench_cpu, self.load_before, self.load_after
        );
    }
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
