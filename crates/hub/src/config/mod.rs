//! The hub's configuration: one TOML file parsed into validated types at the
//! edge. Every problem is reported with file, line, tenant and key, all at
//! once; nothing downstream sees an unvalidated value. `diff` compares two
//! loaded configs for reload.

pub mod baton;
mod diff;
mod errors;
mod raw;
mod summary;
mod validate;

use std::collections::HashMap;
use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use reqwest::Url;

pub use self::diff::{ConfigDiff, diff};
pub use self::errors::{ConfigError, Problem};
use self::raw::RawConfig;
pub use self::summary::{Setting, effective_settings};
use self::validate::Validator;
use conductorone::settings::C1Settings;
use confluence::settings::ClientSettings;
use platform::secret::Secret;

/// The environment variable that may name the config file instead of `--config`.
pub const CONFIG_ENV: &str = "CONFLUENCE_HUB_CONFIG";

/// Defaults, each with the reason it is what it is.
pub mod defaults {
    use std::time::Duration;

    pub use confluence::settings::defaults::{
        MAX_IN_FLIGHT, MAX_IN_FLIGHT_CEILING, MAX_PAGES, MAX_RESPONSE_BYTES, PAGE_SIZE,
        REQUEST_TIMEOUT,
    };

    /// Baton's default sync cadence for service-less connectors.
    pub const SYNC_INTERVAL: Duration = Duration::from_secs(6 * 3600);
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
    /// With an `admin_token`, the admin endpoint listens on every interface.
    pub const ADMIN_LISTEN: &str = "0.0.0.0:9090";
    /// Without one, only this host may reach `/status` and `/reload`.
    pub const ADMIN_LISTEN_WITHOUT_TOKEN: &str = "127.0.0.1:9090";
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
    /// The bearer token `/status`, `/reload` and other tenant routes demand.
    pub admin_token: Option<Secret>,
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
            return Err("is not a valid tenant id: use 1-63 lowercase letters, digits, `-` or `_`, starting with a letter or digit".to_owned());
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

#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
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
    /// run where the secrets are not mounted. With no client secret to parse,
    /// tenants carry no ConductorOne settings (`conductorone` is `None`).
    pub fn load_without_secrets(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        Self::parse(&text, path, false, &HashMap::new())
    }

    /// [`HubConfig::from_toml`] without reading secrets (empty placeholders):
    /// checks a generated config on a machine that does not hold them. As in
    /// [`HubConfig::load_without_secrets`], `conductorone` is `None`.
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
        let raw: RawConfig =
            toml::from_str(text).map_err(|err| invalid(vec![Problem::from_toml(err, text)]))?;
        let base_dir = path.parent().map(Path::to_owned).unwrap_or_default();
        let mut validator = Validator {
            text,
            base_dir: &base_dir,
            resolve_secrets,
            given,
            problems: Vec::new(),
            ca_files: HashMap::new(),
            connectors: Vec::new(),
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
