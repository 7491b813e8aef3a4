//! Helpers shared by the integration test modules.

use std::path::{Path, PathBuf};

/// A file of `tests/fixtures/` (the reference c1z, its listing and schema,
/// the small dataset).
pub fn fixture(name: &str) -> PathBuf {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name);
    assert!(path.exists(), "fixture {} is missing", path.display());
    path
}

/// A fresh directory under the system temp dir, removed on drop.
pub struct TempDir(PathBuf);

impl TempDir {
    pub fn new(label: &str) -> Self {
        static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let path = std::env::temp_dir().join(format!("hub-it-{label}-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).expect("create a temp dir");
        Self(path)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Every file under `dir` whose name ends in `.tmp`.
pub fn temp_files(dir: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut pending = vec![dir.to_owned()];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
            let path = entry.path();
            if path.is_dir() {
                pending.push(path);
            } else if path.extension().is_some_and(|ext| ext == "tmp") {
                found.push(path);
            }
        }
    }
    found
}

/// A free TCP port on 127.0.0.1 (bound and released, so a race is possible
/// but harmless in tests that each pick their own).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|addr| addr.port())
        .expect("a free port")
}

pub fn http_client() -> reqwest::Client {
    confluence_hub::confluence::http::install_crypto_provider();
    reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(10))
        .build()
        .expect("a reqwest client")
}

/// The real `confluence-hub run` as a child process, with its admin endpoint
/// on a free port and its logs captured to a file.
pub struct HubProcess {
    child: std::process::Child,
    pub admin: String,
    pub log: PathBuf,
    pub config: PathBuf,
    http: reqwest::Client,
}

impl HubProcess {
    /// Writes `config` (which must use `{admin}` for `admin_listen` and
    /// `{data_dir}` for `data_dir`) to `dir/hub.toml` and starts the hub.
    pub fn start(dir: &Path, config: &str, env: &[(&str, &str)]) -> Self {
        let port = free_port();
        let config_path = dir.join("hub.toml");
        let text = config
            .replace("{admin}", &format!("127.0.0.1:{port}"))
            .replace("{data_dir}", &dir.join("data").display().to_string());
        std::fs::write(&config_path, text).expect("write hub.toml");
        let log = dir.join("hub.log");
        let log_file = std::fs::File::create(&log).expect("create the log file");
        let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_confluence-hub"));
        command
            .args([
                "--log-format",
                "json",
                "--log-level",
                "debug",
                "run",
                "--config",
            ])
            .arg(&config_path)
            .env_remove("CONFLUENCE_HUB_CONFIG")
            .env_remove("HUB_ORDINAL")
            .stdout(log_file.try_clone().expect("clone the log file"))
            .stderr(log_file);
        for (key, value) in env {
            command.env(key, value);
        }
        let child = command.spawn().expect("start confluence-hub run");
        Self {
            child,
            admin: format!("http://127.0.0.1:{port}"),
            log,
            config: config_path,
            http: http_client(),
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Rewrites the config file (same placeholders as `start`).
    pub fn rewrite_config(&self, config: &str) {
        let port = self.admin.rsplit(':').next().unwrap_or_default().to_owned();
        let dir = self.config.parent().expect("config has a directory");
        let text = config
            .replace("{admin}", &format!("127.0.0.1:{port}"))
            .replace("{data_dir}", &dir.join("data").display().to_string());
        std::fs::write(&self.config, text).expect("rewrite hub.toml");
    }

    pub fn signal(&self, signal: &str) {
        let status = std::process::Command::new("kill")
            .args([format!("-{signal}"), self.pid().to_string()])
            .status()
            .expect("run kill");
        assert!(status.success(), "kill -{signal} failed");
    }

    pub async fn get(&self, path: &str) -> Option<reqwest::Response> {
        self.http
            .get(format!("{}{path}", self.admin))
            .send()
            .await
            .ok()
    }

    pub async fn status(&self) -> Option<serde_json::Value> {
        self.get("/status").await?.json().await.ok()
    }

    /// Polls `/status` until `done` holds; panics with the last status and
    /// the log's tail after `timeout`.
    pub async fn wait_for(
        &mut self,
        timeout: std::time::Duration,
        what: &str,
        done: impl Fn(&serde_json::Value) -> bool,
    ) -> serde_json::Value {
        let deadline = std::time::Instant::now() + timeout;
        let mut last = None;
        while std::time::Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!(
                    "the hub exited ({status}) while waiting for {what}\n{}",
                    self.log_tail()
                );
            }
            if let Some(status) = self.status().await {
                if done(&status) {
                    return status;
                }
                last = Some(status);
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        panic!(
            "timed out waiting for {what}; last status: {last:#?}\n{}",
            self.log_tail()
        );
    }

    /// Waits for the process to exit; `None` on timeout.
    pub fn wait_exit(&mut self, timeout: std::time::Duration) -> Option<std::process::ExitStatus> {
        let deadline = std::time::Instant::now() + timeout;
        while std::time::Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Some(status);
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        None
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    pub fn log_tail(&self) -> String {
        let text = self.log_text();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(40)..].join("\n")
    }
}

impl Drop for HubProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The tenant entry of a `/status` document.
pub fn tenant<'a>(status: &'a serde_json::Value, id: &str) -> Option<&'a serde_json::Value> {
    status["tenants"]
        .as_array()?
        .iter()
        .find(|tenant| tenant["id"] == id)
}
