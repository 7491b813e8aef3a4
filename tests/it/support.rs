//! Helpers shared by the integration test modules.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use rusqlite::Connection;

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
    confluence::http::install_crypto_provider();
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
    /// Sent as `Authorization: Bearer` by [`HubProcess::get`] and [`HubProcess::post`].
    pub bearer: Option<String>,
    http: reqwest::Client,
}

impl HubProcess {
    /// Writes `config` (which must use `{admin}` for `admin_listen` and
    /// `{data_dir}` for `data_dir`) to `dir/hub.toml` and starts the hub.
    pub fn start(dir: &Path, config: &str, env: &[(&str, &str)]) -> Self {
        Self::start_with_umask(dir, config, env, None)
    }

    /// As [`HubProcess::start`], with the file-creation mask set to `umask`
    /// (octal, as the shell's `umask` takes it) when given.
    pub fn start_with_umask(
        dir: &Path,
        config: &str,
        env: &[(&str, &str)],
        umask: Option<&str>,
    ) -> Self {
        let port = free_port();
        let config_path = dir.join("hub.toml");
        let text = config
            .replace("{admin}", &format!("127.0.0.1:{port}"))
            .replace("{admin_port}", &port.to_string())
            .replace("{data_dir}", &dir.join("data").display().to_string());
        std::fs::write(&config_path, text).expect("write hub.toml");
        let binary = env!("CARGO_BIN_EXE_confluence-hub");
        let mut command = match umask {
            Some(umask) => {
                let mut shell = std::process::Command::new("/bin/sh");
                shell.args(["-c", "umask \"$0\" && exec \"$@\"", umask, binary]);
                shell
            }
            None => std::process::Command::new(binary),
        };
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
            .env_remove("HUB_ORDINAL");
        for (key, value) in env {
            command.env(key, value);
        }
        Self::spawn(command, dir, port, config_path)
    }

    /// Starts the binary with no arguments and only `env` (plus `PATH`), in
    /// `dir`, as the reference connector's image would run: its admin
    /// endpoint on a free port and its temp dir inside `dir`.
    pub fn start_single(dir: &Path, env: &[(&str, &str)]) -> Self {
        let port = free_port();
        let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_confluence-hub"));
        command
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("TMPDIR", dir)
            .env("CONFLUENCE_HUB_ADMIN_LISTEN", format!("127.0.0.1:{port}"))
            .current_dir(dir);
        for (key, value) in env {
            command.env(key, value);
        }
        Self::spawn(command, dir, port, PathBuf::new())
    }

    fn spawn(mut command: std::process::Command, dir: &Path, port: u16, config: PathBuf) -> Self {
        let log = dir.join("hub.log");
        let log_file = std::fs::File::create(&log).expect("create the log file");
        command
            .stdout(log_file.try_clone().expect("clone the log file"))
            .stderr(log_file);
        let child = command.spawn().expect("start confluence-hub");
        Self {
            child,
            admin: format!("http://127.0.0.1:{port}"),
            log,
            config,
            bearer: None,
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
        self.authorised(self.http.get(format!("{}{path}", self.admin)))
            .send()
            .await
            .ok()
    }

    fn authorised(&self, request: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        match &self.bearer {
            Some(token) => request.bearer_auth(token),
            None => request,
        }
    }

    /// POSTs to the admin endpoint: the status code and the body.
    pub async fn post(&self, path: &str) -> (u16, String) {
        let response = self
            .authorised(self.http.post(format!("{}{path}", self.admin)))
            .send()
            .await
            .expect("the admin endpoint answers");
        let status = response.status().as_u16();
        (status, response.text().await.unwrap_or_default())
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

    /// Waits until `/status` lists every tenant in `ids`: the admin endpoint
    /// answers while tenants are still being started.
    pub async fn wait_for_tenants(&mut self, ids: &[&str]) {
        self.wait_for(
            std::time::Duration::from_secs(30),
            "every tenant on /status",
            |status| ids.iter().all(|id| tenant(status, id).is_some()),
        )
        .await;
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

// ---------------------------------------------------------------- c1z schema

/// The SQLite file inside a c1z, decompressed with the plain zstd decoder.
pub fn decompress_copy(c1z: &Path, into: &Path) {
    let bytes = std::fs::read(c1z).unwrap();
    assert_eq!(&bytes[..5], b"C1ZF\0");
    let database = zstd::stream::decode_all(&bytes[5..]).unwrap();
    std::fs::write(into, database).unwrap();
}

#[derive(Debug, PartialEq)]
pub struct Column {
    pub declared_type: String,
    pub not_null: bool,
    pub default: Option<String>,
    pub primary_key: i64,
}

#[derive(Debug, PartialEq)]
pub struct Index {
    pub unique: bool,
    pub origin: String,
    pub partial: bool,
    pub columns: Vec<String>,
    pub sql: Option<String>,
}

#[derive(Debug, PartialEq)]
pub struct Table {
    pub columns: BTreeMap<String, Column>,
    pub indexes: BTreeMap<String, Index>,
}

pub fn strings(connection: &Connection, sql: &str, param: &str) -> Vec<String> {
    let mut statement = connection.prepare(sql).unwrap();
    statement
        .query_map([param], |row| row.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect()
}

/// Tables, columns (by name), declared types, NOT NULL, defaults, indexes
/// with their uniqueness, partiality, columns and SQL (whitespace collapsed).
pub fn schema_of(database: &Path) -> BTreeMap<String, Table> {
    let connection = Connection::open(database).unwrap();
    let tables = strings(
        &connection,
        "select name from sqlite_master where type = 'table' and name not like ?1",
        "sqlite_%",
    );
    let mut schema = BTreeMap::new();
    for table in tables {
        let mut columns = BTreeMap::new();
        let mut statement = connection
            .prepare("select name, type, \"notnull\", dflt_value, pk from pragma_table_info(?1)")
            .unwrap();
        let rows = statement
            .query_map([&table], |row| {
                Ok((
                    row.get::<_, String>(0)?,
                    Column {
                        declared_type: row.get(1)?,
                        not_null: row.get(2)?,
                        default: row.get(3)?,
                        primary_key: row.get(4)?,
                    },
                ))
            })
            .unwrap();
        for row in rows {
            let (name, column) = row.unwrap();
            columns.insert(name, column);
        }
        let mut indexes = BTreeMap::new();
        let mut statement = connection
            .prepare("select name, \"unique\", origin, partial from pragma_index_list(?1)")
            .unwrap();
        let listed: Vec<(String, bool, String, bool)> = statement
            .query_map([&table], |row| {
                Ok((row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?))
            })
            .unwrap()
            .map(Result::unwrap)
            .collect();
        for (name, unique, origin, partial) in listed {
            let columns = strings(
                &connection,
                "select name from pragma_index_info(?1) order by seqno",
                &name,
            );
            let sql = strings(
                &connection,
                "select coalesce(sql, '') from sqlite_master where type = 'index' and name = ?1",
                &name,
            )
            .pop()
            .filter(|sql| !sql.is_empty())
            .map(|sql| sql.split_whitespace().collect::<Vec<_>>().join(" "));
            indexes.insert(
                name,
                Index {
                    unique,
                    origin,
                    partial,
                    columns,
                    sql,
                },
            );
        }
        schema.insert(table, Table { columns, indexes });
    }
    schema
}

/// What baton-sdk does when it opens an old file (docs/data-model.md, Older
/// files): ALTER TABLE ADD COLUMN for each newer column, CREATE INDEX IF NOT
/// EXISTS for each newer index, CREATE TABLE IF NOT EXISTS for a missing table.
pub const BATON_MIGRATIONS: &str = "
alter table v1_sync_runs add column sync_type text not null default 'full';
alter table v1_sync_runs add column parent_sync_id text not null default '';
alter table v1_sync_runs add column linked_sync_id text not null default '';
alter table v1_sync_runs add column supports_diff integer not null default 0;
alter table v1_sync_runs add column grants_backfilled integer not null default 0;
alter table v1_sync_runs add column stats text;
alter table v1_sync_runs add column ingest_invariant_generation text not null default '';
alter table v1_sync_runs add column ingest_invariant_coverage text not null default '';
alter table v1_sync_runs add column ingest_invariant_mode text not null default '';
alter table v1_grants add column expansion blob;
alter table v1_grants add column needs_expansion integer not null default 0;
create index if not exists idx_grants_resource_type_id_resource_id_v1 on v1_grants (resource_type_id, resource_id);
create index if not exists idx_grants_entitlement_id_principal_id_v1 on v1_grants (entitlement_id, principal_resource_type_id, principal_resource_id);
create index if not exists idx_grants_sync_expansion_v1 on v1_grants (sync_id) where expansion is not null;
create index if not exists idx_grants_sync_needs_expansion_v1 on v1_grants (sync_id) where needs_expansion = 1;
create index if not exists idx_grants_entitlement_sync_grant_v1 on v1_grants (entitlement_id, sync_id, id);
create table if not exists v1_connector_sessions (
    id integer primary key,
    sync_id text not null,
    key text not null,
    value blob not null
);
create unique index if not exists idx_session_store_sync_key_v1 on v1_connector_sessions (sync_id, key);
";

/// Asserts that the database inside the c1z at `ours` has the reference
/// file's schema (tables, columns, declared types, defaults, indexes and
/// their SQL) as baton-sdk leaves it after opening it, and returns ours.
/// `scratch` holds the decompressed databases.
pub fn assert_reference_schema(ours: &Path, scratch: &Path) -> BTreeMap<String, Table> {
    let ours_db = scratch.join("ours.db");
    let reference_db = scratch.join("reference.db");
    decompress_copy(ours, &ours_db);
    decompress_copy(&fixture("reference.c1z"), &reference_db);
    let reference_connection = Connection::open(&reference_db).unwrap();
    reference_connection
        .execute_batch(BATON_MIGRATIONS)
        .unwrap();
    drop(reference_connection);

    let mut reference = schema_of(&reference_db);
    let ours = schema_of(&ours_db);
    // The one documented difference: SDK v0.2.18 indexed grants on
    // entitlement_id alone; newer SDKs no longer create that index (its
    // prefix is covered by idx_grants_entitlement_id_principal_id_v1) but
    // migrations leave it in old files.
    let legacy = reference
        .get_mut("v1_grants")
        .unwrap()
        .indexes
        .remove("idx_grants_entitlement_id_v1");
    assert_eq!(
        legacy.map(|index| index.columns),
        Some(vec!["entitlement_id".to_owned()])
    );

    let names = |schema: &BTreeMap<String, Table>| schema.keys().cloned().collect::<Vec<_>>();
    assert_eq!(names(&ours), names(&reference));
    for (table, expected) in &reference {
        assert_eq!(&ours[table], expected, "table {table}");
    }
    ours
}

/// The resource ids (`type:id`) a c1z file holds.
pub fn c1z_resource_ids(path: &Path) -> BTreeSet<String> {
    let reader = baton::c1z::C1zReader::open(path).expect("a readable c1z");
    reader
        .resources()
        .unwrap()
        .into_iter()
        .map(|resource| {
            let id = resource.id.unwrap();
            format!("{}:{}", id.resource_type, id.resource)
        })
        .collect()
}

/// The resource ids a simulated Confluence's dataset should sync to.
pub fn dataset_ids(dataset: &sim::confluence::Dataset) -> BTreeSet<String> {
    let users = dataset
        .users
        .iter()
        .map(|user| format!("user:{}", user.user_key));
    let groups = dataset
        .groups
        .iter()
        .map(|group| format!("group:{}", group.name));
    let spaces = dataset
        .spaces
        .iter()
        .map(|space| format!("space:{}", space.key));
    users.chain(groups).chain(spaces).collect()
}

/// Runs `test`, an `#[ignore]`d test of this binary, in a process of its
/// own and returns what it wrote to stderr once it has passed.
///
/// Tests that must see every tracing event need this: only a global
/// subscriber sees them all, and a process holds one. A thread-local one is
/// no substitute, since tracing caches each callsite's interest process-wide
/// and concurrent tests can leave it stale.
pub fn run_alone(test: &str) -> String {
    let output = std::process::Command::new(std::env::current_exe().expect("test binary path"))
        .args([
            test,
            "--exact",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .output()
        .unwrap_or_else(|err| panic!("run {test} in a child process: {err}"));
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert!(
        output.status.success(),
        "{test} failed in its own process\n--- stdout\n{stdout}\n--- stderr\n{stderr}"
    );
    assert!(
        stdout.contains("1 passed"),
        "the child process ran no test named {test}:\n{stdout}"
    );
    stderr
}

/// Everything a TRACE-level fmt subscriber, installed as the process's
/// global default, writes from every thread. Only for tests run by
/// [`run_alone`]: the global default can be set once per process.
#[derive(Clone, Default)]
pub struct CapturedLogs(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl CapturedLogs {
    pub fn install_globally() -> Self {
        let logs = Self::default();
        let writer = logs.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::TRACE)
            .with_ansi(false)
            .with_writer(move || writer.clone())
            .finish();
        tracing::subscriber::set_global_default(subscriber)
            .expect("no other subscriber in a process of its own");
        logs
    }

    pub fn text(&self) -> String {
        let bytes = self.0.lock().expect("the log buffer").clone();
        String::from_utf8(bytes).expect("log lines are UTF-8")
    }

    /// Fails, showing where, if `secret` appears in the logs; the lines are
    /// shown with the secret blanked out.
    pub fn assert_absent(&self, secret: &str, what: &str) {
        let text = self.text();
        let leaks: Vec<String> = text
            .lines()
            .filter(|line| line.contains(secret))
            .map(|line| line.replace(secret, "<SECRET>"))
            .collect();
        assert!(
            leaks.is_empty(),
            "{what} ({} chars) reached the logs in:\n{}",
            secret.len(),
            leaks.join("\n")
        );
    }
}

impl std::io::Write for CapturedLogs {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .expect("the log buffer")
            .extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}
