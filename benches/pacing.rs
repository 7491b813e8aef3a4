//! The hub's sync on its default config (no rate ceiling, adaptive
//! concurrency from `max_in_flight` to `max_in_flight_ceiling`) against the
//! in-repo Confluence simulator, under the server behaviours pacing must
//! handle: none at all, 20 ms of latency, Confluence's rate limiter
//! (capacity 50, 10 per second) and a node whose latency grows with load
//! past 6 concurrent requests. Each scenario runs twice; each run prints wall
//! time, requests, 429s and peak RSS. The limiter scenario prints its floor,
//! (requests − 50) / 10 s; the knee scenario prints the p95 of the latency the
//! node added against its unloaded latency, and the wall time of the best
//! fixed concurrency for that knee.
//!
//! The simulator runs in this process (its own thread and runtime), so the
//! RSS figures include it.
//!
//! Then, with no limit and no latency, 20,000 users / 2,000 groups / 1,000
//! spaces on each of 8.5, 9.2 and 10.2.
//!
//! Run: `cargo bench --bench pacing`, optionally `-- --users N --groups N
//! --spaces N --version 8.5` (the first four scenarios' server) and
//! `--scenarios plain,latency,limited,knee,large` (which to run).
//! `PACING_ROUTES=1` prints each run's requests by route.

#[path = "support/flags.rs"]
mod flags;

use flags::Flags;

use std::sync::Arc;
use std::time::{Duration, Instant};

use confluence::settings::{Auth, ClientSettings, defaults};
use hub::actors::oneshot::sync_once;
use hub::config::{SyncSettings, TenantConfig, TenantId};
use hub::sync::Progress;
use platform::secret::Secret;
use reqwest::Url;
use sim::confluence::{
    ConfluenceSim, DEFAULT_ADMIN_TOKEN, Dataset, Faults, GenerateOptions, RateLimit, SimOptions,
    SimVersion,
};

type BenchResult<T> = Result<T, Box<dyn std::error::Error>>;

const LATENCY: Duration = Duration::from_millis(20);
const KNEE: usize = 6;
const LIMIT: RateLimit = RateLimit {
    capacity: 50,
    fill_rate: 10,
    interval: Duration::from_secs(1),
};

struct Args {
    users: usize,
    groups: usize,
    spaces: usize,
    version: String,
    scenarios: Vec<String>,
}

/// The large runs: this size on each of these versions, no limit, no latency.
const LARGE: (usize, usize, usize) = (20_000, 2_000, 1_000);
const LARGE_VERSIONS: [&str; 3] = ["8.5", "9.2", "10.2"];

fn parse_args() -> Args {
    let mut args = Args {
        users: 2_000,
        groups: 200,
        spaces: 100,
        version: "8.5".into(),
        scenarios: ["plain", "latency", "limited", "knee", "large"]
            .map(String::from)
            .to_vec(),
    };
    let mut flags = Flags::from_env();
    while let Some(flag) = flags.next_flag() {
        match flag.as_str() {
            "--users" => args.users = flags.number(args.users),
            "--groups" => args.groups = flags.number(args.groups),
            "--spaces" => args.spaces = flags.number(args.spaces),
            "--version" => {
                if let Some(version) = flags.text() {
                    args.version = version;
                }
            }
            "--scenarios" => {
                if let Some(list) = flags.text() {
                    args.scenarios = list.split(',').map(str::to_owned).collect();
                }
            }
            // `cargo bench` passes `--bench`; anything else is ignored too.
            _ => {}
        }
    }
    args
}

/// What the server does in one scenario.
#[derive(Clone, Copy, PartialEq)]
enum Scenario {
    Plain,
    Latency,
    Limited,
    Knee,
}

impl Scenario {
    fn name(self) -> &'static str {
        match self {
            Self::Plain => "plain",
            Self::Latency => "latency",
            Self::Limited => "limited",
            Self::Knee => "knee",
        }
    }

    fn label(self) -> &'static str {
        match self {
            Self::Plain => "no limit, no latency",
            Self::Latency => "20 ms latency",
            Self::Limited => "limiter on (capacity 50, 10/s)",
            Self::Knee => "latency 20 ms, knee at 6 in flight",
        }
    }

    fn faults(self) -> Faults {
        match self {
            Self::Plain | Self::Limited => Faults::default(),
            Self::Latency => Faults {
                latency: LATENCY,
                ..Faults::default()
            },
            Self::Knee => Faults {
                latency: LATENCY,
                knee: KNEE,
                ..Faults::default()
            },
        }
    }

    fn rate_limit(self) -> Option<RateLimit> {
        matches!(self, Self::Limited).then_some(LIMIT)
    }
}

struct Run {
    wall: Duration,
    requests: u64,
    rate_limited: u64,
    peak_mib: f64,
    /// The latency the node added, 95th percentile.
    added_p95: Duration,
}

fn start_simulator(args: &Args, scenario: Scenario) -> BenchResult<ConfluenceSim> {
    let version: SimVersion = args.version.parse()?;
    let dataset = Dataset::generate(&GenerateOptions {
        seed: 1,
        users: args.users,
        groups: args.groups,
        spaces: args.spaces,
    });
    let mut options = SimOptions::new(version, dataset);
    options.rate_limit = scenario.rate_limit();
    options.faults = scenario.faults();
    Ok(ConfluenceSim::start(options)?)
}

/// The default config, with `fixed` pinning the concurrency when given.
fn tenant(sim: &ConfluenceSim, fixed: Option<usize>) -> BenchResult<TenantConfig> {
    let auth = Auth::Token(Secret::new(DEFAULT_ADMIN_TOKEN.into()));
    let defaults = ClientSettings::new("bench", Url::parse(&sim.base_url())?, auth);
    let confluence = match fixed {
        Some(in_flight) => ClientSettings {
            max_in_flight: in_flight,
            max_in_flight_ceiling: in_flight,
            ..defaults
        },
        None => defaults,
    };
    Ok(TenantConfig {
        sync: SyncSettings {
            interval: Duration::from_secs(3600),
            ..SyncSettings::default()
        },
        ..TenantConfig::new(TenantId::parse("bench")?, confluence)
    })
}

fn sync(args: &Args, scenario: Scenario, fixed: Option<usize>) -> BenchResult<Run> {
    let sim = start_simulator(args, scenario)?;
    let directory = std::env::temp_dir().join(format!("pacing-bench-{}", std::process::id()));
    std::fs::create_dir_all(&directory)?;
    reset_peak_rss();
    let started = Instant::now();
    let report = sync_once(
        tenant(&sim, fixed)?,
        directory.join("bench.c1z"),
        Arc::new(Progress::default()),
    )?;
    let wall = started.elapsed();
    let peak_mib = peak_rss_mib().unwrap_or(f64::NAN);
    std::fs::remove_dir_all(&directory)?;
    let mut added = sim.added_latencies();
    added.sort();
    let added_p95 = added
        .get((added.len() * 95 / 100).min(added.len().saturating_sub(1)))
        .copied()
        .unwrap_or_default();
    if std::env::var_os("PACING_ROUTES").is_some() {
        for (route, count) in sim.request_counts() {
            println!("      {count:>6}  {route}");
        }
    }
    sim.shutdown();
    Ok(Run {
        wall,
        requests: report.client.requests,
        rate_limited: report.client.rate_limited,
        peak_mib,
        added_p95,
    })
}

/// Resets this process's peak RSS (`VmHWM`) to its current RSS.
fn reset_peak_rss() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

fn peak_rss_mib() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|line| line.starts_with("VmHWM:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}

fn print_run(run: &Run) {
    println!(
        "    wall {:>8.2?}  requests {:>5}  429s {:>3}  peak RSS {:>6.1} MiB",
        run.wall, run.requests, run.rate_limited, run.peak_mib
    );
}

fn main() -> BenchResult<()> {
    let args = parse_args();
    println!(
        "pacing: full sync of {} users, {} groups, {} spaces on Confluence {}, hub on its default config",
        args.users, args.groups, args.spaces, args.version
    );
    for scenario in [
        Scenario::Plain,
        Scenario::Latency,
        Scenario::Limited,
        Scenario::Knee,
    ] {
        if !args.scenarios.iter().any(|name| name == scenario.name()) {
            continue;
        }
        println!("\n  {}", scenario.label());
        for _ in 0..2 {
            let run = sync(&args, scenario, None)?;
            print_run(&run);
            match scenario {
                Scenario::Limited => {
                    let floor = (run.requests as f64 - f64::from(LIMIT.capacity)).max(0.0)
                        / f64::from(LIMIT.fill_rate);
                    println!(
                        "    floor {floor:.2} s; wall / floor {:.3}",
                        run.wall.as_secs_f64() / floor.max(f64::MIN_POSITIVE)
                    );
                }
                Scenario::Knee => println!(
                    "    added latency p95 {:?} = {:.2} x the unloaded {LATENCY:?}",
                    run.added_p95,
                    run.added_p95.as_secs_f64() / LATENCY.as_secs_f64()
                ),
                Scenario::Plain | Scenario::Latency => {}
            }
        }
        if matches!(scenario, Scenario::Latency) {
            let ceiling = defaults::MAX_IN_FLIGHT_CEILING;
            let run = sync(&args, scenario, Some(ceiling))?;
            println!(
                "    the ceiling ({ceiling} in flight) from the first request: wall {:.2?}; requests x latency / ceiling = {:.2} s",
                run.wall,
                run.requests as f64 * LATENCY.as_secs_f64() / ceiling as f64
            );
        }
        if matches!(scenario, Scenario::Knee) {
            let mut best: Option<(usize, Duration)> = None;
            for in_flight in [2, 4, 6, 8, 12, 16] {
                let run = sync(&args, scenario, Some(in_flight))?;
                println!(
                    "    fixed concurrency {in_flight:>2}: wall {:.2?}, added latency p95 {:?}",
                    run.wall, run.added_p95
                );
                if best.is_none_or(|(_, wall)| run.wall < wall) {
                    best = Some((in_flight, run.wall));
                }
            }
            if let Some((in_flight, wall)) = best {
                println!("    best fixed concurrency: {in_flight} in {wall:.2?}");
            }
        }
    }
    if args.scenarios.iter().any(|name| name == "large") {
        let (users, groups, spaces) = LARGE;
        for version in LARGE_VERSIONS {
            println!(
                "\n  {users} users, {groups} groups, {spaces} spaces on Confluence {version}, no limit, no latency"
            );
            let large = Args {
                users,
                groups,
                spaces,
                version: version.into(),
                scenarios: Vec::new(),
            };
            for _ in 0..2 {
                print_run(&sync(&large, Scenario::Plain, None)?);
            }
        }
    }
    Ok(())
}
