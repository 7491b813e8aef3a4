//! Many tenants synced by one hub: N simulated tenants (default 200, each
//! 300 users / 30 groups / 20 spaces) in scheduled mode, each synced once by
//! the real `confluence-hub run` in its own process. The same syncs run twice:
//! with the hub's default concurrency, then one at a time
//! (`hub.max_concurrent_syncs = 1`). Prints, per run, the hub's wall time
//! from exec to the last c1z in place, the sync window (first sync request
//! to last sync end, from `/status`), how long the batch of syncs the
//! scheduler requests together takes to drain, the hub's CPU time and peak
//! RSS (VmHWM), and the ratios of the two runs.
//!
//! Defaults model a Confluence across a network: 20 ms added to every answer
//! and 100 requests per second per tenant. `HUB_LATENCY_MS=0 HUB_RPS=10000
//! HUB_BURST=10000` removes both, leaving the hub's own CPU as the limit.
//!
//! The Confluence simulators run in this bench process (their CPU is printed
//! separately), `HUB_SIMS` of them with one worker thread each, versions
//! 8.5 / 9.2 / 10.2 in turn, each with its own seeded dataset; tenant `i`
//! uses simulator `i % HUB_SIMS`. Tenants sharing a simulator are still
//! separate tenants: their own client, limiter, actors and files.
//!
//! `cargo bench --bench hub_tenants`. Knobs (environment): `HUB_TENANTS`,
//! `HUB_SIMS`, `HUB_USERS`, `HUB_GROUPS`, `HUB_SPACES`, `HUB_RPS`,
//! `HUB_BURST`, `HUB_MAX_IN_FLIGHT`, `HUB_LATENCY_MS`, `HUB_WORKERS`,
//! `HUB_MAX_CONCURRENT` (the concurrent run's limit), `HUB_RUNS`
//! (`concurrent,sequential`), `HUB_TIMEOUT_SECS`, `HUB_BENCH_KEEP`.

mod support;

use std::path::Path;
use std::time::{Duration, Instant, SystemTime};

use sim::confluence::{ConfluenceSim, Dataset, Faults, GenerateOptions, SimOptions, SimVersion};

use support::{
    HubProcess, LogTail, WorkDir, env_or, free_port, load_average, mib, own_usage, parse_time,
    seconds_between,
};

const VERSIONS: [SimVersion; 3] = [SimVersion::V8_5, SimVersion::V9_2, SimVersion::V10_2];
const TOKEN: &str = "hub-bench-pat";

struct Knobs {
    tenants: usize,
    sims: usize,
    users: usize,
    groups: usize,
    spaces: usize,
    requests_per_second: f64,
    burst: u32,
    max_in_flight: usize,
    /// Added by the simulators to every answer (a Confluence across a network).
    latency: Duration,
    workers: usize,
    /// `hub.max_concurrent_syncs` of the concurrent run; the hub's default when unset.
    max_concurrent: Option<usize>,
    runs: Vec<String>,
    timeout: Duration,
}

impl Knobs {
    fn from_env() -> Self {
        Self {
            tenants: env_or("HUB_TENANTS", 200),
            sims: env_or("HUB_SIMS", 12),
            users: env_or("HUB_USERS", 300),
            groups: env_or("HUB_GROUPS", 30),
            spaces: env_or("HUB_SPACES", 20),
            requests_per_second: env_or("HUB_RPS", 100.0),
            burst: env_or("HUB_BURST", 100),
            max_in_flight: env_or("HUB_MAX_IN_FLIGHT", 4),
            latency: Duration::from_millis(env_or("HUB_LATENCY_MS", 20)),
            workers: env_or("HUB_WORKERS", 2),
            max_concurrent: std::env::var("HUB_MAX_CONCURRENT")
                .ok()
                .map(|text| text.parse().expect("HUB_MAX_CONCURRENT is a number")),
            runs: env_or("HUB_RUNS", "concurrent,sequential".to_owned())
                .split(',')
                .map(str::to_owned)
                .collect(),
            timeout: Duration::from_secs(env_or("HUB_TIMEOUT_SECS", 3600)),
        }
    }
}

/// What one run measured.
struct Figures {
    label: String,
    /// First sync start to last sync end, from `/status`.
    window: f64,
    /// Syncs requested within 100 ms of the last request, and the time from
    /// that last request to the last sync end.
    batch: usize,
    drain: f64,
    /// Hub exec to the last c1z in place.
    wall: f64,
    syncs: usize,
    /// Sum over tenants of each sync's own duration (queueing for a sync slot included).
    sync_seconds: f64,
    longest_sync: f64,
    hub_cpu: f64,
    hub_user: f64,
    hub_system: f64,
    hub_peak_mib: f64,
    hub_rss_mib: f64,
    hub_threads: u64,
    sim_cpu: f64,
    requests: u64,
    grants: u64,
    bytes: u64,
    load_before: String,
    load_after: String,
}

fn main() {
    let knobs = Knobs::from_env();
    let dir = WorkDir::new("tenants");
    let token_file = dir.path().join("confluence-pat");
    std::fs::write(&token_file, TOKEN).expect("write the token file");

    let sims: Vec<ConfluenceSim> = (0..knobs.sims)
        .map(|index| {
            let dataset = Dataset::generate(&GenerateOptions {
                seed: 1_000 + index as u64,
                users: knobs.users,
                groups: knobs.groups,
                spaces: knobs.spaces,
            });
            let mut options = SimOptions::new(VERSIONS[index % VERSIONS.len()], dataset);
            options.admin_token = TOKEN.to_owned();
            options.worker_threads = 1;
            options.faults = Faults {
                latency: knobs.latency,
                ..Faults::default()
            };
            ConfluenceSim::start(options).expect("start a Confluence simulator")
        })
        .collect();

    println!(
        "hub_tenants: {} tenants ({} users / {} groups / {} spaces each) on {} simulators (8.5/9.2/10.2 in turn, 1 worker thread each, {} ms added latency, in the bench process)",
        knobs.tenants,
        knobs.users,
        knobs.groups,
        knobs.spaces,
        knobs.sims,
        knobs.latency.as_millis()
    );
    println!(
        "  hub: release binary, workers = {}, max_concurrent_syncs = {} in the concurrent run, per tenant requests_per_second = {}, burst = {}, max_in_flight = {}, sync_interval = 24h (one sync each)",
        knobs.workers,
        knobs.max_concurrent.map_or_else(
            || "the default (8 per worker)".to_owned(),
            |n| n.to_string()
        ),
        knobs.requests_per_second,
        knobs.burst,
        knobs.max_in_flight
    );
    println!(
        "  machine: {} cores",
        std::thread::available_parallelism().map_or(0, usize::from)
    );

    let mut results = Vec::new();
    for label in &knobs.runs {
        let limit = match label.as_str() {
            "concurrent" => knobs.max_concurrent,
            "sequential" => Some(1),
            other => panic!("HUB_RUNS: unknown run `{other}`; use concurrent or sequential"),
        };
        let figures = run(&knobs, &sims, dir.path(), &token_file, label, limit);
        print_figures(&figures);
        results.push(figures);
    }
    if let [concurrent, sequential] = &results[..] {
        println!(
            "ratio, hub exec to last file (the target's measure; both include start-up and the scheduler's first-sync spread of up to 5 s): {:.1} s / {:.1} s = {:.3} (target < 0.5)",
            concurrent.wall,
            sequential.wall,
            concurrent.wall / sequential.wall
        );
        println!(
            "ratio, sync windows: {:.1} s / {:.1} s = {:.3}",
            concurrent.window,
            sequential.window,
            concurrent.window / sequential.window
        );
        println!(
            "ratio, batch drain (without the start spread): {:.1} s / {:.1} s = {:.3}",
            concurrent.drain,
            sequential.drain,
            concurrent.drain / sequential.drain
        );
    }
}

fn run(
    knobs: &Knobs,
    sims: &[ConfluenceSim],
    dir: &Path,
    token_file: &Path,
    label: &str,
    max_concurrent_syncs: Option<usize>,
) -> Figures {
    let run_dir = dir.join(label);
    std::fs::create_dir_all(&run_dir).expect("create the run directory");
    let data_dir = run_dir.join("data");
    let port = free_port();
    let mut config = format!(
        "[hub]\ndata_dir = \"{data}\"\nadmin_listen = \"127.0.0.1:{port}\"\nworkers = {workers}\nshutdown_grace = \"5s\"\n",
        data = data_dir.display(),
        workers = knobs.workers,
    );
    if let Some(limit) = max_concurrent_syncs {
        config.push_str(&format!("max_concurrent_syncs = {limit}\n"));
    }
    config.push_str(&format!(
        "[defaults]\nrequests_per_second = {}\nburst = {}\nmax_in_flight = {}\nsync_interval = \"24h\"\n",
        knobs.requests_per_second, knobs.burst, knobs.max_in_flight
    ));
    for index in 0..knobs.tenants {
        config.push_str(&format!(
            "[[instance]]\nid = \"{}\"\nbase_url = \"{}\"\ntoken = {{ file = \"{}\" }}\n",
            tenant_id(index),
            sims[index % sims.len()].base_url(),
            token_file.display()
        ));
    }

    let requests_before: u64 = sims.iter().map(ConfluenceSim::request_count).sum();
    let bench_before = own_usage();
    let load_before = load_average();
    let mut hub = HubProcess::start(&run_dir, &config, port);
    let deadline = Instant::now() + knobs.timeout;
    let mut last_check = Instant::now();
    let mut log = LogTail::new(&hub.log);
    let mut finished = 0;
    while finished < knobs.tenants {
        finished += log.count_new("\"message\":\"sync finished\"");
        assert!(
            Instant::now() < deadline,
            "{label}: the syncs did not finish within {:?}",
            knobs.timeout
        );
        hub.assert_running();
        if last_check.elapsed() > Duration::from_secs(5) {
            last_check = Instant::now();
            if let Some(status) = hub.status() {
                fail_on_errors(&status);
            }
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let wall = hub.started.elapsed().as_secs_f64();
    assert_eq!(
        finished_files(&data_dir, knobs.tenants),
        knobs.tenants,
        "every tenant's latest.c1z is in place"
    );
    let hub_usage = hub.usage();
    let bench_after = own_usage();
    let load_after = load_average();
    let requests = sims.iter().map(ConfluenceSim::request_count).sum::<u64>() - requests_before;

    let status = hub.wait_for(
        Duration::from_secs(30),
        Duration::from_millis(100),
        "every tenant's last sync on /status",
        |status| {
            tenants(status)
                .iter()
                .all(|tenant| !tenant["last_sync"].is_null())
        },
    );
    fail_on_errors(&status);
    let syncs: Vec<&serde_json::Value> = tenants(&status)
        .iter()
        .map(|tenant| &tenant["last_sync"])
        .collect();
    let requested: Vec<SystemTime> = syncs
        .iter()
        .map(|sync| parse_time(sync["started_at"].as_str().expect("started_at")))
        .collect();
    let started = *requested.iter().min().expect("at least one tenant");
    // The scheduler starts each tenant's first sync after min(jitter, 5 s),
    // so most tenants ask at the 5 s mark together: that batch, drained.
    let last_request = *requested.iter().max().expect("at least one tenant");
    let batch = requested
        .iter()
        .filter(|at| seconds_between(**at, last_request) < 0.1)
        .count();
    let ended = syncs
        .iter()
        .map(|sync| parse_time(sync["ended_at"].as_str().expect("ended_at")))
        .max()
        .expect("at least one tenant");
    let millis = |sync: &&serde_json::Value| sync["duration_ms"].as_u64().unwrap_or(0);
    let sum = |key: &str| -> u64 {
        syncs
            .iter()
            .map(|sync| sync["counts"][key].as_u64().unwrap_or(0))
            .sum()
    };
    let figures = Figures {
        label: label.to_owned(),
        window: seconds_between(started, ended),
        batch,
        drain: seconds_between(last_request, ended),
        wall,
        syncs: syncs.len(),
        sync_seconds: syncs.iter().map(millis).sum::<u64>() as f64 / 1000.0,
        longest_sync: syncs.iter().map(millis).max().unwrap_or(0) as f64 / 1000.0,
        hub_cpu: hub_usage.cpu,
        hub_user: hub_usage.user,
        hub_system: hub_usage.system,
        hub_peak_mib: mib(hub_usage.peak_kib),
        hub_rss_mib: mib(hub_usage.rss_kib),
        hub_threads: hub_usage.threads,
        sim_cpu: bench_after.cpu - bench_before.cpu,
        requests,
        grants: sum("grant"),
        bytes: syncs
            .iter()
            .map(|sync| sync["file_size"].as_u64().unwrap_or(0))
            .sum(),
        load_before,
        load_after,
    };
    assert_eq!(
        syncs.len(),
        knobs.tenants,
        "every tenant is on /status exactly once"
    );
    let first_start = seconds_between(hub.started_at, started);
    println!("{label}: first sync started {first_start:.1} s after exec");
    hub.stop(Duration::from_secs(30));
    figures
}

fn print_figures(figures: &Figures) {
    println!("{}:", figures.label);
    println!(
        "  hub exec to last file: {:.1} s; sync window (first request to last end): {:.1} s; the {} syncs requested together at the end of the start spread drain in {:.1} s",
        figures.wall, figures.window, figures.batch, figures.drain
    );
    println!(
        "  per sync: {:.2} s mean (queueing for a slot included), {:.2} s longest",
        figures.sync_seconds / figures.syncs.max(1) as f64,
        figures.longest_sync
    );
    println!(
        "  hub CPU: {:.1} s ({:.1} user + {:.1} system) = {:.0} % of one core over the wall time",
        figures.hub_cpu,
        figures.hub_user,
        figures.hub_system,
        100.0 * figures.hub_cpu / figures.wall
    );
    println!(
        "  hub memory: peak RSS (VmHWM) {:.1} MiB, RSS at the end {:.1} MiB, {} threads",
        figures.hub_peak_mib, figures.hub_rss_mib, figures.hub_threads
    );
    println!(
        "  simulators' CPU (bench process): {:.1} s; Confluence requests: {}; grants written: {}; c1z bytes: {}",
        figures.sim_cpu, figures.requests, figures.grants, figures.bytes
    );
    println!(
        "  load average before: {}, after: {}",
        figures.load_before, figures.load_after
    );
}

fn tenant_id(index: usize) -> String {
    format!("t{index:03}")
}

fn tenants(status: &serde_json::Value) -> &[serde_json::Value] {
    status["tenants"].as_array().map_or(&[], Vec::as_slice)
}

/// Panics on the first tenant whose sync failed: the figures would be meaningless.
fn fail_on_errors(status: &serde_json::Value) {
    for tenant in tenants(status) {
        let sync = &tenant["last_sync"];
        if !sync.is_null() && sync["outcome"] != "ok" {
            panic!("tenant {} failed its sync: {}", tenant["id"], sync);
        }
        if tenant["state"] == "failing" || tenant["state"] == "degraded" {
            panic!("tenant {} is {}: {}", tenant["id"], tenant["state"], tenant);
        }
    }
}

/// Tenants whose `latest.c1z` is in place (renamed only once complete).
fn finished_files(data_dir: &Path, tenants: usize) -> usize {
    (0..tenants)
        .filter(|index| data_dir.join(tenant_id(*index)).join("latest.c1z").exists())
        .count()
}
