//! Shared by the hub benchmarks: the real `confluence-hub run` binary as a
//! child process, what `/proc` says about its CPU time and memory, and the
//! machine's load average to print beside every figure.

#![allow(dead_code)] // each bench binary uses its own subset

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime};

/// Linux reports utime and stime in clock ticks of 1/100 s (USER_HZ).
const TICKS_PER_SECOND: f64 = 100.0;

/// CPU time and memory of one process, from `/proc/<pid>/stat` and `/status`.
#[derive(Clone, Copy, Debug)]
pub struct Usage {
    /// user + system CPU seconds since the process started.
    pub cpu: f64,
    pub user: f64,
    pub system: f64,
    pub rss_kib: u64,
    /// Peak resident set size (VmHWM).
    pub peak_kib: u64,
    pub threads: u64,
}

pub fn usage(pid: u32) -> Usage {
    usage_of(&format!("/proc/{pid}"))
}

pub fn own_usage() -> Usage {
    usage_of("/proc/self")
}

fn usage_of(dir: &str) -> Usage {
    let stat = std::fs::read_to_string(format!("{dir}/stat")).expect("read /proc/PID/stat");
    // The command name may contain spaces; fields after its closing
    // parenthesis start at field 3 (state), so utime (14) is index 11.
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .expect("a stat line")
        .1
        .split_whitespace()
        .collect();
    let ticks = |index: usize| fields[index].parse::<f64>().expect("a tick count");
    let (user, system) = (ticks(11) / TICKS_PER_SECOND, ticks(12) / TICKS_PER_SECOND);
    let status = std::fs::read_to_string(format!("{dir}/status")).expect("read /proc/PID/status");
    let value = |key: &str| -> u64 {
        status
            .lines()
            .find(|line| line.starts_with(key))
            .and_then(|line| line.split_whitespace().nth(1))
            .and_then(|value| value.parse().ok())
            .unwrap_or(0)
    };
    Usage {
        cpu: user + system,
        user,
        system,
        rss_kib: value("VmRSS:"),
        peak_kib: value("VmHWM:"),
        threads: value("Threads:"),
    }
}

pub fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

/// The 1, 5 and 15 minute load averages.
pub fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .map(|text| {
            text.split_whitespace()
                .take(3)
                .collect::<Vec<_>>()
                .join(" ")
        })
        .unwrap_or_else(|| "unknown".into())
}

pub fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    match std::env::var(name) {
        Ok(text) => text
            .parse()
            .unwrap_or_else(|_| panic!("{name}={text} does not parse")),
        Err(_) => default,
    }
}

pub fn http_client() -> reqwest::Client {
    confluence::http::install_crypto_provider();
    reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .expect("a reqwest client")
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|addr| addr.port())
        .expect("a free port")
}

/// A fresh directory under the system temp dir, removed on drop unless
/// `HUB_BENCH_KEEP` is set (to read the hub's log afterwards).
pub struct WorkDir(PathBuf);

impl WorkDir {
    pub fn new(label: &str) -> Self {
        let path = std::env::temp_dir().join(format!("hub-bench-{label}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).expect("create the bench directory");
        Self(path)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for WorkDir {
    fn drop(&mut self) {
        if std::env::var_os("HUB_BENCH_KEEP").is_some() {
            eprintln!("kept {}", self.0.display());
        } else {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

/// `confluence-hub run` (the release binary cargo built for this bench) with
/// JSON logs at `info` in `<dir>/hub.log`.
pub struct HubProcess {
    child: Child,
    /// The hub's own process id, once known (see [`HubProcess::pid`]).
    hub_pid: std::cell::OnceCell<u32>,
    pub admin: String,
    pub log: PathBuf,
    pub started: Instant,
    pub started_at: SystemTime,
    runtime: tokio::runtime::Runtime,
    http: reqwest::Client,
}

impl HubProcess {
    /// Writes `config` to `<dir>/hub.toml` and starts the hub on it.
    pub fn start(dir: &Path, config: &str, admin_port: u16) -> Self {
        let config_path = dir.join("hub.toml");
        std::fs::write(&config_path, config).expect("write hub.toml");
        let log = dir.join("hub.log");
        let log_file = std::fs::File::create(&log).expect("create hub.log");
        let started = Instant::now();
        let started_at = SystemTime::now();
        // `HUB_BENCH_WRAPPER` runs the hub under a profiler (`heaptrack -o
        // FILE`, say); the process measured and stopped is still the hub.
        let binary = env!("CARGO_BIN_EXE_confluence-hub");
        let wrapper = std::env::var("HUB_BENCH_WRAPPER").unwrap_or_default();
        let mut command = match wrapper.split_whitespace().collect::<Vec<_>>()[..] {
            [] => Command::new(binary),
            [program, ref args @ ..] => {
                let mut command = Command::new(program);
                command.args(args).arg(binary);
                command
            }
        };
        let child = command
            .args([
                "--log-format",
                "json",
                "--log-level",
                "info",
                "run",
                "--config",
            ])
            .arg(&config_path)
            .env_remove("CONFLUENCE_HUB_CONFIG")
            .env_remove("HUB_ORDINAL")
            .stdin(Stdio::null())
            .stdout(log_file.try_clone().expect("clone the log file"))
            .stderr(log_file)
            .spawn()
            .expect("start confluence-hub run");
        Self {
            child,
            hub_pid: std::cell::OnceCell::new(),
            admin: format!("http://127.0.0.1:{admin_port}"),
            log,
            started,
            started_at,
            runtime: tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("a tokio runtime"),
            http: http_client(),
        }
    }

    /// The hub's process: the child itself, or, under a wrapper, the
    /// wrapper's descendant that runs the hub's binary.
    pub fn pid(&self) -> u32 {
        let child = self.child.id();
        if std::env::var_os("HUB_BENCH_WRAPPER").is_none() {
            return child;
        }
        if let Some(pid) = self.hub_pid.get() {
            return *pid;
        }
        let binary = Path::new(env!("CARGO_BIN_EXE_confluence-hub"));
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(pid) = descendant_running(child, binary) {
                return *self.hub_pid.get_or_init(|| pid);
            }
            assert!(
                Instant::now() < deadline,
                "the wrapper started no {}",
                binary.display()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn usage(&self) -> Usage {
        usage(self.pid())
    }

    pub fn status(&self) -> Option<serde_json::Value> {
        let url = format!("{}/status", self.admin);
        self.runtime.block_on(async {
            let response = self.http.get(url).send().await.ok()?;
            response.error_for_status().ok()?.json().await.ok()
        })
    }

    /// Panics with the log's tail if the hub has exited.
    pub fn assert_running(&mut self) {
        if let Ok(Some(status)) = self.child.try_wait() {
            panic!("the hub exited ({status})\n{}", self.log_tail());
        }
    }

    /// Polls `/status` every `every` until `done` holds.
    pub fn wait_for(
        &mut self,
        timeout: Duration,
        every: Duration,
        what: &str,
        done: impl Fn(&serde_json::Value) -> bool,
    ) -> serde_json::Value {
        let deadline = Instant::now() + timeout;
        loop {
            self.assert_running();
            if let Some(status) = self.status()
                && done(&status)
            {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "timed out waiting for {what}\n{}",
                self.log_tail()
            );
            std::thread::sleep(every);
        }
    }

    /// Waits until `/status` lists `tenants` tenants, each with its
    /// ConductorOne session connected.
    pub fn wait_for_sessions(&mut self, tenants: usize, timeout: Duration, every: Duration) {
        self.wait_for(
            timeout,
            every,
            "every ConductorOne session connected",
            |status| {
                let listed = status["tenants"].as_array().map_or(&[][..], Vec::as_slice);
                listed.len() == tenants
                    && listed
                        .iter()
                        .all(|tenant| tenant["conductorone"]["session"] == "connected")
            },
        );
    }

    /// SIGTERM, then waits for a graceful exit (SIGKILL after `timeout`).
    pub fn stop(mut self, timeout: Duration) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.pid().to_string()])
            .status();
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        eprintln!("the hub did not stop within {timeout:?}; killing it");
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    pub fn log_tail(&self) -> String {
        let text = self.log_text();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(30)..].join("\n")
    }
}

impl Drop for HubProcess {
    fn drop(&mut self) {
        // Under a wrapper, the hub first: killing only the wrapper orphans
        // it. Looked up afresh, so a hub that has exited is never mistaken
        // for a process that took its pid since.
        let binary = Path::new(env!("CARGO_BIN_EXE_confluence-hub"));
        let wrapped = std::env::var_os("HUB_BENCH_WRAPPER")
            .and_then(|_| descendant_running(self.child.id(), binary));
        if let Some(pid) = wrapped.filter(|&pid| pid != self.child.id()) {
            let _ = Command::new("kill")
                .args(["-KILL", &pid.to_string()])
                .status();
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Follows a growing log file, reading only what was appended since the
/// last call, so waiting on the hub costs the bench next to nothing.
pub struct LogTail {
    file: std::fs::File,
    pending: String,
}

impl LogTail {
    pub fn new(path: &Path) -> Self {
        Self {
            file: std::fs::File::open(path).expect("open the hub's log"),
            pending: String::new(),
        }
    }

    /// Complete lines appended since the last call that contain `needle`.
    pub fn count_new(&mut self, needle: &str) -> usize {
        use std::io::Read;
        let mut appended = String::new();
        self.file
            .read_to_string(&mut appended)
            .expect("read the hub's log");
        self.pending.push_str(&appended);
        let Some(end) = self.pending.rfind('\n') else {
            return 0;
        };
        let complete: String = self.pending.drain(..=end).collect();
        complete
            .lines()
            .filter(|line| line.contains(needle))
            .count()
    }
}

/// An RFC 3339 time from `/status` or a log line.
pub fn parse_time(text: &str) -> SystemTime {
    let parsed = time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339)
        .unwrap_or_else(|err| panic!("`{text}` is not RFC 3339: {err}"));
    SystemTime::from(parsed)
}

pub fn seconds_between(from: SystemTime, to: SystemTime) -> f64 {
    match to.duration_since(from) {
        Ok(duration) => duration.as_secs_f64(),
        Err(err) => -err.duration().as_secs_f64(),
    }
}

/// Where a hub tenant's ConductorOne simulator is and how it trusts it.
pub struct C1Endpoint<'a> {
    pub ca_file: &'a Path,
    pub api_host: &'a str,
}

/// One `[[instance]]` table of a hub config with ConductorOne credentials:
/// the Confluence token and the client secret from their files, and `extra`
/// lines (ending in a newline) for the instance itself.
pub fn c1_instance(
    id: &str,
    base_url: &str,
    token_file: &Path,
    extra: &str,
    client_id: &str,
    secret_file: &Path,
    c1: &C1Endpoint<'_>,
) -> String {
    format!(
        "[[instance]]\nid = \"{id}\"\nbase_url = \"{base_url}\"\ntoken = {{ file = \"{token}\" }}\n{extra}\
         [instance.conductorone]\nclient_id = \"{client_id}\"\nclient_secret = {{ file = \"{secret}\" }}\n\
         ca_file = \"{ca}\"\napi_host = \"{api_host}\"\n",
        token = token_file.display(),
        secret = secret_file.display(),
        ca = c1.ca_file.display(),
        api_host = c1.api_host,
    )
}

/// `ancestor` itself when it runs `binary` (a wrapper that execs), else a
/// process below it that does.
fn descendant_running(ancestor: u32, binary: &Path) -> Option<u32> {
    let parent_of = |pid: u32| -> Option<u32> {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
        // `pid (comm) state ppid …`; the command name may hold spaces.
        let (_, rest) = stat.rsplit_once(')')?;
        rest.split_whitespace().nth(1)?.parse().ok()
    };
    std::fs::read_dir("/proc")
        .ok()?
        .filter_map(|entry| entry.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|&pid| {
            std::fs::read_link(format!("/proc/{pid}/exe")).is_ok_and(|exe| exe == binary)
        })
        .find(|&pid| {
            if pid == ancestor {
                return true;
            }
            let mut current = pid;
            while let Some(parent) = parent_of(current) {
                if parent == ancestor {
                    return true;
                }
                if parent <= 1 {
                    return false;
                }
                current = parent;
            }
            false
        })
}
