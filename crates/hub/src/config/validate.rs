//! The validator: turns the raw file into validated types, collecting every
//! problem instead of stopping at the first. Tenant blocks are in `tenant`.

mod tenant;

use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use reqwest::Url;

use super::errors::line_of;
use super::raw::RawConfig;
use super::{HubConfig, HubSettings, Problem, ShardingSettings, TelemetrySettings, defaults};
use platform::secret::{Secret, SecretRef, resolve_path};
use platform::tls::CaCertificates;

pub(super) struct Validator<'a> {
    pub text: &'a str,
    pub base_dir: &'a Path,
    pub resolve_secrets: bool,
    pub given: &'a HashMap<String, Secret>,
    pub problems: Vec<Problem>,
    /// Each `ca_file` read so far, by path (`None` when it was refused).
    pub ca_files: HashMap<PathBuf, Option<Arc<CaCertificates>>>,
    /// Each tenant's ConductorOne connector identity, to refuse sharing.
    pub connectors: Vec<Connector>,
}

/// Who a tenant is to ConductorOne. Two tenants with one client id (or one
/// host id) would poll one connector and run each other's tasks.
pub(super) struct Connector {
    pub tenant: String,
    pub line: Option<usize>,
    /// `None` when it could not be read.
    pub client_id: Option<String>,
    pub host_id: String,
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

    pub(super) fn config(&mut self, raw: RawConfig, path: &Path) -> HubConfig {
        let hub = raw.hub.unwrap_or_default();
        let admin_token = hub.admin_token.as_ref().and_then(|reference| {
            self.secret(reference)
                .map_err(|message| self.problem(None, None, "hub.admin_token", message))
                .ok()
        });
        let admin_listen = hub
            .admin_listen
            .as_deref()
            .unwrap_or(if admin_token.is_some() {
                defaults::ADMIN_LISTEN
            } else {
                defaults::ADMIN_LISTEN_WITHOUT_TOKEN
            });
        let admin_listen = admin_listen.parse().unwrap_or_else(|_| {
            self.problem(
                None,
                None,
                "hub.admin_listen",
                "is not an address; expected IP:PORT like 0.0.0.0:9090".into(),
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
            admin_token,
            workers,
            max_concurrent_syncs,
            shutdown_grace: self.duration(
                None,
                None,
                "hub.shutdown_grace",
                hub.shutdown_grace.as_deref(),
                defaults::SHUTDOWN_GRACE,
            ),
            reload_grace: self.duration(
                None,
                None,
                "hub.reload_grace",
                hub.reload_grace.as_deref(),
                defaults::RELOAD_GRACE,
            ),
            watch_config: hub.watch_config.as_deref().map(|text| {
                self.duration(None, None, "hub.watch_config", Some(text), Duration::ZERO)
            }),
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
                        "is not an http(s) URL such as http://otel-collector:4317".into(),
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

        self.shared_connectors();

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

    /// Refuses a client id or host id that a later tenant shares with an
    /// earlier one, naming both tenants (the values may be secret-adjacent and
    /// are not repeated).
    fn shared_connectors(&mut self) {
        let connectors = std::mem::take(&mut self.connectors);
        for (index, later) in connectors.iter().enumerate() {
            let earlier = &connectors[..index];
            let same_client = earlier
                .iter()
                .find(|first| first.client_id.is_some() && first.client_id == later.client_id);
            if let Some(first) = same_client {
                self.problem(
                    later.line,
                    Some(&later.tenant),
                    "conductorone.client_id",
                    format!(
                        "tenant `{}` has the same ConductorOne client id; each tenant needs its own connector in ConductorOne, with its own client id and secret",
                        first.tenant
                    ),
                );
            }
            if let Some(first) = earlier.iter().find(|first| first.host_id == later.host_id) {
                self.problem(
                    later.line,
                    Some(&later.tenant),
                    "conductorone.host_id",
                    format!(
                        "tenant `{}` has the same ConductorOne host id; give each tenant its own host_id",
                        first.tenant
                    ),
                );
            }
        }
    }

    fn duration(
        &mut self,
        line: Option<usize>,
        tenant: Option<&str>,
        key: &str,
        text: Option<&str>,
        default: Duration,
    ) -> Duration {
        match text {
            None => default,
            Some(text) => humantime::parse_duration(text).unwrap_or_else(|_| {
                self.problem(
                    line,
                    tenant,
                    key,
                    "is not a duration; write e.g. \"30s\", \"15m\", \"6h\"".into(),
                );
                default
            }),
        }
    }
}
