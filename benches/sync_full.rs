//! A full one-shot sync of a big tenant: 20,000 users, 2,000 groups and 1,000
//! spaces from the Confluence simulator without latency or rate limiting,
//! through the real actor tree (`sync_once`). The simulator runs as its own
//! process (`confluence-hub sim confluence`), so this process is the hub
//! alone: its wall time, CPU time and peak RSS (`VmHWM`, reset before each
//! version) are the hub's. Prints requests (per route, from the simulator),
//! objects, file size and where the requests went. `VmHWM` is reset before
//! each version, but memory the allocator kept from an earlier version still
//! counts: for a clean peak, run one version per process (`--versions 9.2`).
//!
//! Run: `cargo bench --bench sync_full` (release), optionally
//! `-- --users N --groups N --spaces N --versions 8.5,9.2,10.2 --in-flight N
//! --expand`.

#[path = "support/flags.rs"]
mod flags;

use flags::Flags;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use confluence::settings::{Auth, ClientSettings};
use hub::actors::oneshot::sync_once_scoped;
use hub::config::{SyncSettings, TenantConfig, TenantId};
use hub::sync::{Progress, SyncScope};
use platform::secret::Secret;
use reqwest::Url;
use sim::confluence::DEFAULT_ADMIN_TOKEN;

struct Args {
    users: usize,
    groups: usize,
    spaces: usize,
    versions: Vec<String>,
    in_flight: usize,
    expand: bool,
}

fn parse_args() -> Args {
    let mut args = Args {
        users: 20_000,
        groups: 2_000,
        spaces: 1_000,
        versions: vec!["8.5".into(), "9.2".into(), "10.2".into()],
        in_flight: 4,
        expand: false,
    };
    let mut flags = Flags::from_env();
    while let Some(flag) = flags.next_flag() {
        match flag.as_str() {
            "--users" => args.users = flags.number(args.users),
            "--groups" => args.groups = flags.number(args.groups),
            "--spaces" => args.spaces = flags.number(args.spaces),
            "--in-flight" => args.in_flight = flags.number(args.in_flight).max(1),
            "--expand" => args.expand = true,
            "--versions" => {
                if let Some(list) = flags.text() {
                    args.versions = list.split(',').map(str::to_owned).collect();
                }
            }
            // `cargo bench` passes `--bench`; anything else is ignored too.
            _ => {}
        }
    }
    args
}

/// The simulator as a child process, killed on drop.
struct Simulator {
    child: Child,
    base_url: String,
}

impl Simulator {
    fn start(version: &str, args: &Args) -> Result<Self, Box<dyn std::error::Error>> {
        let mut child = Command::new(env!("CARGO_BIN_EXE_confluence-hub"))
            .args(["sim", "confluence", "--port", "0", "--version", version])
            .args(["--seed", "1", "--users", &args.users.to_string()])
            .args(["--groups", &args.groups.to_string()])
            .args(["--spaces", &args.spaces.to_string()])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()?;
        let stdout = child.stdout.take().ok_or("the simulator has no stdout")?;
        let mut line = String::new();
        BufReader::new(stdout).read_line(&mut line)?;
        let base_url = line
            .trim()
            .strip_prefix("listening on ")
            .ok_or_else(|| format!("the simulator said {line:?}"))?
            .to_owned();
        Ok(Self { child, base_url })
    }

    /// `GET /__sim/<path>` as JSON, over a plain socket.
    fn introspect(&self, path: &str) -> Result<serde_json::Value, Box<dyn std::error::Error>> {
        let address = self.base_url.trim_start_matches("http://");
        let mut stream = TcpStream::connect(address)?;
        write!(
            stream,
            "GET /__sim/{path} HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n\r\n"
        )?;
        let mut response = String::new();
        stream.read_to_string(&mut response)?;
        let body = response
            .split_once("\r\n\r\n")
            .map(|(_, body)| body)
            .ok_or("an HTTP response without a body")?;
        Ok(serde_json::from_str(body)?)
    }

    /// User plus system CPU time of the simulator so far.
    fn cpu(&self) -> Duration {
        process_cpu(&format!("/proc/{}/stat", self.child.id()))
    }
}

impl Drop for Simulator {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// User plus system CPU time from a `/proc/<pid>/stat` file (fields 14 and
/// 15, in clock ticks of 1/100 s, Linux's USER_HZ everywhere).
fn process_cpu(path: &str) -> Duration {
    let ticks = std::fs::read_to_string(path)
        .ok()
        .and_then(|stat| {
            // The command name may hold spaces; fields count from after it.
            let (_, rest) = stat.rsplit_once(')')?;
            let fields: Vec<&str> = rest.split_whitespace().collect();
            let user: u64 = fields.get(11)?.parse().ok()?;
            let system: u64 = fields.get(12)?.parse().ok()?;
            Some(user + system)
        })
        .unwrap_or_default();
    Duration::from_millis(ticks * 10)
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

fn tenant(base_url: &str, in_flight: usize) -> Result<TenantConfig, Box<dyn std::error::Error>> {
    let auth = Auth::Token(Secret::new(DEFAULT_ADMIN_TOKEN.into()));
    let confluence = ClientSettings {
        request_timeout: Duration::from_secs(60),
        max_in_flight: in_flight,
        page_size: 200,
        ..ClientSettings::new("bench", Url::parse(base_url)?, auth)
    };
    Ok(TenantConfig {
        sync: SyncSettings {
            interval: Duration::from_secs(3600),
            ..SyncSettings::default()
        },
        ..TenantConfig::new(TenantId::parse("bench")?, confluence)
    })
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = parse_args();
    let directory = std::env::temp_dir().join(format!("sync-bench-{}", std::process::id()));
    std::fs::create_dir_all(&directory)?;
    let result = run(&args, &directory);
    std::fs::remove_dir_all(&directory)?;
    result
}

fn run(args: &Args, directory: &std::path::Path) -> Result<(), Box<dyn std::error::Error>> {
    println!(
        "full sync of {} users, {} groups, {} spaces; simulator in its own process, no latency; \
         {} requests in flight; grants {}",
        args.users,
        args.groups,
        args.spaces,
        args.in_flight,
        if args.expand {
            "expanded"
        } else {
            "not expanded"
        }
    );
    for version in &args.versions {
        let started = Instant::now();
        let simulator = Simulator::start(version, args)?;
        let sim_started_in = started.elapsed();
        let sim_cpu_before = simulator.cpu();
        let out = directory.join(format!("bench-{version}.c1z"));
        let scope = SyncScope {
            expand_grants: args.expand,
            ..SyncScope::default()
        };
        reset_peak_rss();
        let cpu_before = process_cpu("/proc/self/stat");
        let started = Instant::now();
        let report = sync_once_scoped(
            tenant(&simulator.base_url, args.in_flight)?,
            out.clone(),
            scope,
            Arc::new(Progress::default()),
        )?;
        let wall = started.elapsed();
        let hub_cpu = process_cpu("/proc/self/stat").saturating_sub(cpu_before);
        let sim_cpu = simulator.cpu().saturating_sub(sim_cpu_before);
        let peak = peak_rss_mib().unwrap_or(f64::NAN);
        let counts = &report.counts;
        println!("\nConfluence {version} (simulator up in {sim_started_in:.1?})");
        println!("  wall time      {wall:.2?}");
        println!("  hub CPU        {hub_cpu:.2?} (simulator CPU {sim_cpu:.2?})");
        println!("  peak RSS       {peak:.1} MiB (hub process, VmHWM)");
        println!(
            "  requests       {} ({} 429s, {} retries), {:.0}/s",
            report.client.requests,
            report.client.rate_limited,
            report.client.retries,
            report.client.requests as f64 / wall.as_secs_f64()
        );
        println!(
            "  objects        {} users, {} groups, {} spaces, {} entitlements, {} grants; {} rows skipped",
            counts.user,
            counts.group,
            counts.space,
            counts.entitlement,
            counts.grant,
            report.skipped.total()
        );
        println!(
            "  file size      {} bytes ({:.1} MiB)",
            report.file_size,
            report.file_size as f64 / (1024.0 * 1024.0)
        );
        let requests = simulator.introspect("requests")?;
        if let Some(routes) = requests["byRoute"].as_object() {
            let mut routes: Vec<(&String, u64)> = routes
                .iter()
                .map(|(route, count)| (route, count.as_u64().unwrap_or_default()))
                .collect();
            routes.sort_by_key(|(_, count)| std::cmp::Reverse(*count));
            println!("  requests by route (simulator):");
            for (route, count) in routes {
                println!("    {count:>7}  {route}");
            }
        }
        std::fs::remove_file(&out)?;
    }
    Ok(())
}
