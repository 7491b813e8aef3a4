//! The hub's configuration: one TOML file parsed into validated types at the
//! edge. Every problem is reported with file, line, tenant and key, all at
//! once; nothing downstream sees an unvalidated value. `diff` compares two
//! loaded configs for reload.

pub mod baton;
mod diff;
mod raw;

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use reqwest::Url;

pub use self::diff::{ConfigDiff, diff};
use self::raw::{InlineOrRef, RawConfig, RawInstance, RawSettings};
use crate::conductorone::settings::C1Settings;
use crate::confluence::settings::{Auth, ClientSettings, RetryPolicy};
use crate::confluence::version::ConfluenceVersion;
use crate::secret::{Secret, SecretRef, resolve_path};

/// The environment variable that may name the config file instead of `--config`.
pub const CONFIG_ENV: &str = "CONFLUENCE_HUB_CONFIG";

/// Defaults, each with the reason it is what it is.
pub mod defaults {
    use std::time::Duration;

    /// No rate ceiling of our own: the server's limiter, read from its
    /// headers, and the adaptive concurrency limit pace the tenant.
    pub const REQUESTS_PER_SECOND: f64 = f64::INFINITY;
    /// With a ceiling but no burst, one second's worth of the ceiling.
    pub const BURST: u32 = 0;
    /// Concurrent requests per tenant at the start of adaptive pacing:
    /// enough to overlap latency, few enough not to load a Confluence node.
    pub const MAX_IN_FLIGHT: usize = 4;
    /// Adaptive pacing never goes above this many concurrent requests: past
    /// it, a Confluence node's request threads are what gets measured.
    pub const MAX_IN_FLIGHT_CEILING: usize = 16;
    /// Confluence caps user, group and member pages at 200 anyway.
    pub const PAGE_SIZE: u32 = 200;
    /// Baton's default sync cadence for service-less connectors.
    pub const SYNC_INTERVAL: Duration = Duration::from_secs(6 * 3600);
    /// A Confluence node under load answers big pages slowly; 60 s is generous
    /// without hanging a sync on a dead socket.
    pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);
    /// Syncs running at once per worker when `hub.max_concurrent_syncs` is
    /// unset: each holds a SQLite file and Confluence connections, so more
    /// only add memory once the workers are busy.
    pub const SYNCS_PER_WORKER: usize = 8;
    /// ConductorOne's SDK default (`--task-concurrency`).
    pub const TASK_CONCURRENCY: usize = 3;
    /// In-flight syncs get this long to finish on SIGTERM; matches the
    /// StatefulSet's terminationGracePeriodSeconds minus a margin.
    pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(60);
    /// A changed tenant restarts once its in-flight work ends, or after this.
    pub const RELOAD_GRACE: Duration = Duration::from_secs(300);
    pub const DATA_DIR: &str = "/var/lib/confluence-hub";
    pub const ADMIN_LISTEN: &str = "0.0.0.0:9090";
}

/// A validated hub configuration.
#[derive(Clone, Debug, PartialEq)]
pub struct HubConfig {
    /// The file it was read from (relative paths inside it are anchored there).
    pub source: PathBuf,
    pub hub: HubSettings,
    pub telemetry: TelemetrySettings,
    pub sharding: ShardingSettings,
    pub tenants: Vec<TenantConfig>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct HubSettings {
    pub data_dir: PathBuf,
    pub admin_listen: SocketAddr,
    /// Actix arbiters (worker threads) for tenant actor trees.
    pub workers: usize,
    /// Syncs running at once across the hub; the others wait for a slot.
    pub max_concurrent_syncs: usize,
    pub shutdown_grace: Duration,
    pub reload_grace: Duration,
    /// Poll the config file and reload when its content changes (Kubernetes
    /// rewrites mounted ConfigMaps without sending SIGHUP).
    pub watch_config: Option<Duration>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct TelemetrySettings {
    /// OTLP/gRPC collector endpoint; no export when absent.
    pub otlp_endpoint: Option<Url>,
    pub service_name: String,
}

#[derive(Clone, Debug, PartialEq)]
pub struct ShardingSettings {
    /// Number of StatefulSet replicas sharing the tenants; 1 = no sharding.
    pub replicas: u32,
}

/// A tenant id: a short slug naming data dirs, metric labels and log fields.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TenantId(String);

impl TenantId {
    pub fn parse(text: &str) -> Result<Self, String> {
        let valid_chars = text
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_');
        let starts_well = text
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphanumeric());
        if text.is_empty() || text.len() > 63 || !valid_chars || !starts_well {
            return Err(format!(
                "`{text}` is not a valid tenant id: use 1-63 lowercase letters, digits, `-` or `_`, starting with a letter or digit"
            ));
        }
        Ok(Self(text.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for TenantId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Deprovisioning {
    /// `delete_resource` is neither advertised nor carried out.
    Off,
    /// `delete_resource` on a user disables the Confluence account.
    Disable,
}

/// What a sync of this tenant covers.
#[derive(Clone, Debug, PartialEq)]
pub struct SyncSettings {
    pub interval: Duration,
    pub include_archived_spaces: bool,
    pub include_personal_spaces: bool,
    /// Answer every sync with an empty full sync (Baton's `--skip-full-sync`).
    pub skip_full_sync: bool,
}

#[derive(Clone, Debug, PartialEq)]
pub struct TenantConfig {
    pub id: TenantId,
    pub confluence: ClientSettings,
    pub provisioning: bool,
    pub deprovisioning: Deprovisioning,
    pub sync: SyncSettings,
    pub conductorone: Option<C1Settings>,
}

impl Default for SyncSettings {
    /// A config file's defaults: every space, a full sync every `sync_interval`.
    fn default() -> Self {
        Self {
            interval: defaults::SYNC_INTERVAL,
            include_archived_spaces: true,
            include_personal_spaces: true,
            skip_full_sync: false,
        }
    }
}

impl TenantConfig {
    /// A tenant with a config file's defaults: no provisioning, no
    /// ConductorOne session, default sync settings.
    pub fn new(id: TenantId, confluence: ClientSettings) -> Self {
        Self {
            id,
            confluence,
            provisioning: false,
            deprovisioning: Deprovisioning::Off,
            sync: SyncSettings::default(),
            conductorone: None,
        }
    }
}

/// A config problem, located as precisely as the input allows.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Problem {
    pub line: Option<usize>,
    pub tenant: Option<String>,
    pub key: String,
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(line) = self.line {
            write!(f, "line {line}: ")?;
        }
        if let Some(tenant) = &self.tenant {
            write!(f, "instance `{tenant}`: ")?;
        }
        if !self.key.is_empty() {
            write!(f, "key `{}`: ", self.key)?;
        }
        f.write_str(&self.message)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error(
        "no config file given: pass --config FILE or set {CONFIG_ENV} (see config/example.toml)"
    )]
    NoFile,
    #[error("cannot read config file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: {}", problems.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "))]
    Invalid {
        path: PathBuf,
        problems: Vec<Problem>,
    },
}

impl ConfigError {
    /// Every problem, for `/status` and for one-log-line-each reporting.
    pub fn problems(&self) -> Vec<Problem> {
        match self {
            Self::Invalid { problems, .. } => problems.clone(),
            other => vec![Problem {
                line: None,
                tenant: None,
                key: String::new(),
                message: other.to_string(),
            }],
        }
    }
}

impl HubConfig {
    /// Resolves the config path from `--config` or `CONFLUENCE_HUB_CONFIG`.
    pub fn path_from(explicit: Option<&Path>) -> Result<PathBuf, ConfigError> {
        match explicit {
            Some(path) => Ok(path.to_owned()),
            None => std::env::var_os(CONFIG_ENV)
                .map(PathBuf::from)
                .ok_or(ConfigError::NoFile),
        }
    }

    /// Reads, parses and validates the file, loading every referenced secret
    /// and CA file. Either everything is valid or nothing is returned.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        Self::from_toml(&text, path)
    }

    /// Like [`HubConfig::load`] but leaves secrets unread (empty placeholders),
    /// for commands such as `shard-plan` that only need the tenant list and
    /// run where the secrets are not mounted.
    pub fn load_without_secrets(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        Self::parse(&text, path, false, &HashMap::new())
    }

    /// [`HubConfig::from_toml`] without reading secrets (empty placeholders):
    /// checks a generated config on a machine that does not hold them.
    pub fn from_toml_without_secrets(text: &str, path: &Path) -> Result<Self, ConfigError> {
        Self::parse(text, path, false, &HashMap::new())
    }

    /// Parses `text` as if read from `path` (relative paths anchor at its directory).
    pub fn from_toml(text: &str, path: &Path) -> Result<Self, ConfigError> {
        Self::parse(text, path, true, &HashMap::new())
    }

    /// Like [`HubConfig::from_toml`], where `given` holds values for some of
    /// the environment variables the text references: a value given on the
    /// command line overrides its variable, as Baton's flags override their
    /// `BATON_*` variables.
    pub fn from_toml_with_values(
        text: &str,
        path: &Path,
        given: &HashMap<String, Secret>,
    ) -> Result<Self, ConfigError> {
        Self::parse(text, path, true, given)
    }

    fn parse(
        text: &str,
        path: &Path,
        resolve_secrets: bool,
        given: &HashMap<String, Secret>,
    ) -> Result<Self, ConfigError> {
        let invalid = |problems| ConfigError::Invalid {
            path: path.to_owned(),
            problems,
        };
        let raw: RawConfig = toml::from_str(text).map_err(|err| {
            invalid(vec![Problem {
                line: err.span().map(|span| line_of(text, span.start)),
                tenant: None,
                key: String::new(),
                message: err.message().trim().to_owned(),
            }])
        })?;
        let base_dir = path.parent().map(Path::to_owned).unwrap_or_default();
        let mut validator = Validator {
            text,
            base_dir: &base_dir,
            resolve_secrets,
            given,
            problems: Vec::new(),
        };
        let config = validator.config(raw, path);
        if validator.problems.is_empty() {
            Ok(config)
        } else {
            Err(invalid(validator.problems))
        }
    }

    pub fn tenant(&self, id: &str) -> Option<&TenantConfig> {
        self.tenants.iter().find(|tenant| tenant.id.as_str() == id)
    }
}

fn line_of(text: &str, offset: usize) -> usize {
    text[..offset.min(text.len())]
        .bytes()
        .filter(|&b| b == b'\n')
        .count()
        + 1
}

struct Validator<'a> {
    text: &'a str,
    base_dir: &'a Path,
    resolve_secrets: bool,
    given: &'a HashMap<String, Secret>,
    problems: Vec<Problem>,
}

impl Validator<'_> {
    fn secret(&self, reference: &SecretRef) -> Result<Secret, String> {
        if let Some(value) = reference.env_var().and_then(|var| self.given.get(var)) {
            return Ok(value.clone());
        }
        if self.resolve_secrets {
            reference.load(self.base_dir)
        } else {
            Ok(Secret::new(String::new()))
        }
    }

    fn problem(&mut self, line: Option<usize>, tenant: Option<&str>, key: &str, message: String) {
        self.problems.push(Problem {
            line,
            tenant: tenant.map(str::to_owned),
            key: key.to_owned(),
            message,
        });
    }

    fn config(&mut self, raw: RawConfig, path: &Path) -> HubConfig {
        let hub = raw.hub.unwrap_or_default();
        let admin_listen = hub
            .admin_listen
            .as_deref()
            .unwrap_or(defaults::ADMIN_LISTEN);
        let admin_listen = admin_listen.parse().unwrap_or_else(|_| {
            self.problem(
                None,
                None,
                "hub.admin_listen",
                format!("`{admin_listen}` is not an address; expected IP:PORT like 0.0.0.0:9090"),
            );
            SocketAddr::from(([0, 0, 0, 0], 9090))
        });
        let workers = match hub.workers {
            Some(0) => {
                self.problem(None, None, "hub.workers", "must be at least 1".into());
                1
            }
            Some(n) => n,
            None => std::thread::available_parallelism().map_or(2, usize::from),
        };
        let max_concurrent_syncs = match hub.max_concurrent_syncs {
            Some(0) => {
                self.problem(
                    None,
                    None,
                    "hub.max_concurrent_syncs",
                    "must be at least 1".into(),
                );
                1
            }
            Some(n) => n,
            None => workers * defaults::SYNCS_PER_WORKER,
        };
        let hub_settings = HubSettings {
            data_dir: resolve_path(
                self.base_dir,
                hub.data_dir
                    .as_deref()
                    .unwrap_or(Path::new(defaults::DATA_DIR)),
            ),
            admin_listen,
            workers,
            max_concurrent_syncs,
            shutdown_grace: self.duration(
                None,
                "hub.shutdown_grace",
                hub.shutdown_grace.as_deref(),
                defaults::SHUTDOWN_GRACE,
            ),
            reload_grace: self.duration(
                None,
                "hub.reload_grace",
                hub.reload_grace.as_deref(),
                defaults::RELOAD_GRACE,
            ),
            watch_config: hub
                .watch_config
                .as_deref()
                .map(|text| self.duration(None, "hub.watch_config", Some(text), Duration::ZERO)),
        };

        let telemetry = raw.telemetry.unwrap_or_default();
        let otlp_endpoint = telemetry
            .otlp_endpoint
            .and_then(|text| match Url::parse(&text) {
                Ok(url) if matches!(url.scheme(), "http" | "https") => Some(url),
                _ => {
                    self.problem(
                        None,
                        None,
                        "telemetry.otlp_endpoint",
                        format!(
                            "`{text}` is not an http(s) URL such as http://otel-collector:4317"
                        ),
                    );
                    None
                }
            });
        let telemetry = TelemetrySettings {
            otlp_endpoint,
            service_name: telemetry
                .service_name
                .unwrap_or_else(|| "confluence-hub".into()),
        };

        let replicas = raw.sharding.and_then(|s| s.replicas).unwrap_or(1);
        if replicas == 0 {
            self.problem(None, None, "sharding.replicas", "must be at least 1".into());
        }

        let defaults = raw.defaults.unwrap_or_default();
        let mut seen = HashSet::new();
        let mut tenants = Vec::new();
        for spanned in raw.instance {
            let line = Some(line_of(self.text, spanned.span().start));
            let instance = spanned.into_inner();
            if !seen.insert(instance.id.clone()) {
                self.problem(
                    line,
                    Some(instance.id.as_str()),
                    "id",
                    "duplicate tenant id; every [[instance]] needs its own id".into(),
                );
            }
            tenants.extend(self.tenant(instance, &defaults, line));
        }

        HubConfig {
            source: path.to_owned(),
            hub: hub_settings,
            telemetry,
            sharding: ShardingSettings {
                replicas: replicas.max(1),
            },
            tenants,
        }
    }

    fn duration(
        &mut self,
        tenant: Option<&str>,
        key: &str,
        text: Option<&str>,
        default: Duration,
    ) -> Duration {
        match text {
            None => default,
            Some(text) => humantime::parse_duration(text).unwrap_or_else(|err| {
                self.problem(
                    None,
                    tenant,
                    key,
                    format!(
                        "`{text}` is not a duration ({err}); write e.g. \"30s\", \"15m\", \"6h\""
                    ),
                );
                default
            }),
        }
    }

    fn tenant(
        &mut self,
        raw: RawInstance,
        defaults: &RawSettings,
        line: Option<usize>,
    ) -> Option<TenantConfig> {
        let id = match TenantId::parse(&raw.id) {
            Ok(id) => id,
            Err(message) => {
                self.problem(line, None, "id", message);
                return None;
            }
        };
        let name = id.as_str().to_owned();
        let tenant = Some(name.as_str());

        let base_url = match Url::parse(raw.base_url.trim_end_matches('/')) {
            Ok(url)
                if matches!(url.scheme(), "http" | "https")
                    && url.query().is_none()
                    && url.fragment().is_none() =>
            {
                Some(url)
            }
            _ => {
                self.problem(
                    line,
                    tenant,
                    "base_url",
                    format!(
                        "`{}` is not an http(s) base URL such as https://confluence.example.com",
                        raw.base_url
                    ),
                );
                None
            }
        };

        let auth = match (&raw.token, &raw.username, &raw.password) {
            (Some(token), None, None) => self
                .secret(token)
                .map(Auth::Token)
                .map_err(|message| self.problem(line, tenant, "token", message))
                .ok(),
            (None, Some(username), Some(password)) => self
                .secret(password)
                .map(|password| Auth::Basic {
                    username: username.clone(),
                    password,
                })
                .map_err(|message| self.problem(line, tenant, "password", message))
                .ok(),
            _ => {
                self.problem(
                    line,
                    tenant,
                    "token",
                    "give either `token` (a personal access token) or both `username` and `password`"
                        .into(),
                );
                None
            }
        };

        let ca_pem = raw
            .ca_file
            .as_deref()
            .and_then(|path| self.pem(line, tenant, "ca_file", path));

        let settings = raw.settings().over(defaults);
        let requests_per_second = settings
            .requests_per_second
            .unwrap_or(defaults::REQUESTS_PER_SECOND);
        if settings.requests_per_second.is_some()
            && !(requests_per_second > 0.0 && requests_per_second.is_finite())
        {
            self.problem(
                line,
                tenant,
                "requests_per_second",
                "must be a positive number (leave it out for no ceiling)".into(),
            );
        }
        let burst = settings.burst.unwrap_or(defaults::BURST);
        if settings.burst == Some(0) {
            self.problem(line, tenant, "burst", "must be at least 1".into());
        }
        let max_in_flight = settings.max_in_flight.unwrap_or(defaults::MAX_IN_FLIGHT);
        if max_in_flight == 0 {
            self.problem(line, tenant, "max_in_flight", "must be at least 1".into());
        }
        let max_in_flight_ceiling = settings
            .max_in_flight_ceiling
            .unwrap_or(defaults::MAX_IN_FLIGHT_CEILING.max(max_in_flight));
        if max_in_flight_ceiling < max_in_flight.max(1) {
            self.problem(
                line,
                tenant,
                "max_in_flight_ceiling",
                format!("must be at least max_in_flight ({max_in_flight})"),
            );
        }
        let page_size = settings.page_size.unwrap_or(defaults::PAGE_SIZE);
        if !(1..=1000).contains(&page_size) {
            self.problem(
                line,
                tenant,
                "page_size",
                "must be between 1 and 1000".into(),
            );
        }
        let task_concurrency = settings
            .task_concurrency
            .unwrap_or(defaults::TASK_CONCURRENCY);
        if !(1..=100).contains(&task_concurrency) {
            self.problem(
                line,
                tenant,
                "task_concurrency",
                "must be between 1 and 100".into(),
            );
        }
        let interval = self.duration(
            tenant,
            "sync_interval",
            settings.sync_interval.as_deref(),
            defaults::SYNC_INTERVAL,
        );
        if interval < Duration::from_secs(1) {
            self.problem(line, tenant, "sync_interval", "must be at least 1s".into());
        }
        let default_retry = RetryPolicy::default();
        let retry_attempts = settings
            .retry_attempts
            .unwrap_or(default_retry.max_attempts);
        if retry_attempts == 0 {
            self.problem(
                line,
                tenant,
                "retry_attempts",
                "must be at least 1 (1 = no retries)".into(),
            );
        }
        let retry = RetryPolicy {
            max_attempts: retry_attempts.max(1),
            max_elapsed: self.duration(
                tenant,
                "retry_max_elapsed",
                settings.retry_max_elapsed.as_deref(),
                default_retry.max_elapsed,
            ),
            ..default_retry
        };
        let request_timeout = self.duration(
            tenant,
            "request_timeout",
            settings.request_timeout.as_deref(),
            defaults::REQUEST_TIMEOUT,
        );

        let version = match raw.version.as_deref() {
            None | Some("auto") => None,
            Some(text) => match text.parse::<ConfluenceVersion>() {
                Ok(version) => Some(version),
                Err(err) => {
                    self.problem(line, tenant, "version", format!("{err}, or \"auto\""));
                    None
                }
            },
        };

        let deprovisioning = match raw.deprovisioning.as_deref() {
            None | Some("off") => Deprovisioning::Off,
            Some("disable") => Deprovisioning::Disable,
            Some(other) => {
                self.problem(
                    line,
                    tenant,
                    "deprovisioning",
                    format!("`{other}` is not one of \"off\", \"disable\""),
                );
                Deprovisioning::Off
            }
        };

        let conductorone = raw.conductorone.and_then(|c1| {
            let client_id = match &c1.client_id {
                InlineOrRef::Inline(id) => id.trim().to_owned(),
                InlineOrRef::Ref(reference) => match self.secret(reference) {
                    Ok(id) => id.expose().to_owned(),
                    Err(message) => {
                        self.problem(line, tenant, "conductorone.client_id", message);
                        return None;
                    }
                },
            };
            if self.resolve_secrets && !is_client_id(&client_id) {
                self.problem(
                    line,
                    tenant,
                    "conductorone.client_id",
                    "not a ConductorOne client id; expected NAME@HOST/USE-CASE".into(),
                );
            }
            let client_secret = self
                .secret(&c1.client_secret)
                .map_err(|message| self.problem(line, tenant, "conductorone.client_secret", message))
                .ok()?;
            if self.resolve_secrets
                && !client_secret.expose().starts_with("secret-token:conductorone.com:v1:")
            {
                self.problem(
                    line,
                    tenant,
                    "conductorone.client_secret",
                    "not a ConductorOne client secret; expected secret-token:conductorone.com:v1:..."
                        .into(),
                );
            }
            let ca_pem = c1
                .ca_file
                .as_deref()
                .and_then(|path| self.pem(line, tenant, "conductorone.ca_file", path));
            let host_id = c1.host_id.unwrap_or_else(|| format!("{}-{}", hostname(), name));
            Some(C1Settings {
                tenant: name.clone(),
                client_id,
                client_secret,
                ca_pem,
                api_host: c1.api_host,
                host_id,
                task_concurrency,
            })
        });

        Some(TenantConfig {
            confluence: ClientSettings {
                tenant: name.clone(),
                base_url: base_url?,
                auth: auth?,
                ca_pem,
                request_timeout,
                requests_per_second,
                burst,
                max_in_flight,
                max_in_flight_ceiling,
                page_size,
                version,
                retry,
            },
            id,
            provisioning: raw.provisioning.unwrap_or(false),
            deprovisioning,
            sync: SyncSettings {
                interval,
                include_archived_spaces: raw.include_archived_spaces.unwrap_or(true),
                include_personal_spaces: raw.include_personal_spaces.unwrap_or(true),
                skip_full_sync: raw.skip_full_sync.unwrap_or(false),
            },
            conductorone,
        })
    }

    fn pem(
        &mut self,
        line: Option<usize>,
        tenant: Option<&str>,
        key: &str,
        path: &Path,
    ) -> Option<Vec<u8>> {
        let path = resolve_path(self.base_dir, path);
        match std::fs::read(&path) {
            Ok(bytes)
                if String::from_utf8_lossy(&bytes).contains("-----BEGIN CERTIFICATE-----") =>
            {
                Some(bytes)
            }
            Ok(_) => {
                self.problem(
                    line,
                    tenant,
                    key,
                    format!("{} holds no PEM certificate", path.display()),
                );
                None
            }
            Err(err) => {
                self.problem(
                    line,
                    tenant,
                    key,
                    format!("cannot read {}: {err}", path.display()),
                );
                None
            }
        }
    }
}

fn is_client_id(text: &str) -> bool {
    let Some((name, rest)) = text.split_once('@') else {
        return false;
    };
    let Some((host, use_case)) = rest.split_once('/') else {
        return false;
    };
    !name.is_empty() && !host.is_empty() && !use_case.is_empty()
}

/// The machine's hostname, for default host ids and shard ordinals.
pub fn hostname() -> String {
    std::env::var("HOSTNAME")
        .ok()
        .filter(|name| !name.is_empty())
        .or_else(|| {
            std::fs::read_to_string("/proc/sys/kernel/hostname")
                .ok()
                .map(|name| name.trim().to_owned())
                .filter(|name| !name.is_empty())
        })
        .unwrap_or_else(|| "confluence-hub".into())
}

#[cfg(test)]
mod tests;
