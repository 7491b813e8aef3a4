//! The config file as written: serde structs that reject unknown keys. Only
//! `Validator` in the parent module turns these into validated types.

use std::path::PathBuf;

use serde::Deserialize;
use toml::Spanned;

use super::Deprovisioning;
use platform::secret::SecretRef;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawConfig {
    pub hub: Option<RawHub>,
    pub telemetry: Option<RawTelemetry>,
    pub sharding: Option<RawSharding>,
    pub defaults: Option<RawSettings>,
    #[serde(default)]
    pub instance: Vec<Spanned<RawInstance>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawHub {
    pub data_dir: Option<PathBuf>,
    pub admin_listen: Option<String>,
    pub admin_token: Option<SecretRef>,
    pub workers: Option<usize>,
    pub max_concurrent_syncs: Option<usize>,
    pub shutdown_grace: Option<String>,
    pub reload_grace: Option<String>,
    pub watch_config: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawTelemetry {
    pub otlp_endpoint: Option<String>,
    pub service_name: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawSharding {
    pub replicas: Option<u32>,
}

/// Keys allowed both in `[defaults]` and in each `[[instance]]`.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawSettings {
    pub requests_per_second: Option<f64>,
    pub burst: Option<u32>,
    pub max_in_flight: Option<usize>,
    pub max_in_flight_ceiling: Option<usize>,
    pub page_size: Option<u32>,
    pub max_response_bytes: Option<u64>,
    pub max_pages: Option<u64>,
    pub sync_interval: Option<String>,
    pub request_timeout: Option<String>,
    pub task_concurrency: Option<usize>,
    pub retry_attempts: Option<u32>,
    pub retry_max_elapsed: Option<String>,
}

impl RawSettings {
    /// These settings with every unset key taken from `defaults`.
    pub fn over(self, defaults: &RawSettings) -> RawSettings {
        let defaults = defaults.clone();
        RawSettings {
            requests_per_second: self.requests_per_second.or(defaults.requests_per_second),
            burst: self.burst.or(defaults.burst),
            max_in_flight: self.max_in_flight.or(defaults.max_in_flight),
            max_in_flight_ceiling: self
                .max_in_flight_ceiling
                .or(defaults.max_in_flight_ceiling),
            page_size: self.page_size.or(defaults.page_size),
            max_response_bytes: self.max_response_bytes.or(defaults.max_response_bytes),
            max_pages: self.max_pages.or(defaults.max_pages),
            sync_interval: self.sync_interval.or(defaults.sync_interval),
            request_timeout: self.request_timeout.or(defaults.request_timeout),
            task_concurrency: self.task_concurrency.or(defaults.task_concurrency),
            retry_attempts: self.retry_attempts.or(defaults.retry_attempts),
            retry_max_elapsed: self.retry_max_elapsed.or(defaults.retry_max_elapsed),
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawInstance {
    pub id: String,
    pub base_url: String,
    pub token: Option<SecretRef>,
    pub username: Option<String>,
    pub password: Option<SecretRef>,
    pub ca_file: Option<PathBuf>,
    pub version: Option<String>,
    pub provisioning: Option<bool>,
    pub allow_insecure_http: Option<bool>,
    pub deprovisioning: Option<Deprovisioning>,
    pub include_archived_spaces: Option<bool>,
    pub include_personal_spaces: Option<bool>,
    pub skip_full_sync: Option<bool>,
    // serde cannot combine `flatten` with `deny_unknown_fields`, so the
    // per-instance overrides of `[defaults]` are listed here and regrouped.
    pub requests_per_second: Option<f64>,
    pub burst: Option<u32>,
    pub max_in_flight: Option<usize>,
    pub max_in_flight_ceiling: Option<usize>,
    pub page_size: Option<u32>,
    pub max_response_bytes: Option<u64>,
    pub max_pages: Option<u64>,
    pub sync_interval: Option<String>,
    pub request_timeout: Option<String>,
    pub task_concurrency: Option<usize>,
    pub retry_attempts: Option<u32>,
    pub retry_max_elapsed: Option<String>,
    pub conductorone: Option<RawConductorOne>,
}

impl RawInstance {
    pub fn settings(&self) -> RawSettings {
        RawSettings {
            requests_per_second: self.requests_per_second,
            burst: self.burst,
            max_in_flight: self.max_in_flight,
            max_in_flight_ceiling: self.max_in_flight_ceiling,
            page_size: self.page_size,
            max_response_bytes: self.max_response_bytes,
            max_pages: self.max_pages,
            sync_interval: self.sync_interval.clone(),
            request_timeout: self.request_timeout.clone(),
            task_concurrency: self.task_concurrency,
            retry_attempts: self.retry_attempts,
            retry_max_elapsed: self.retry_max_elapsed.clone(),
        }
    }
}

/// `client_id` may be written inline or as a reference; the secret only as a reference.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub(super) enum InlineOrRef {
    Inline(String),
    Ref(SecretRef),
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawConductorOne {
    pub client_id: InlineOrRef,
    pub client_secret: SecretRef,
    pub ca_file: Option<PathBuf>,
    pub api_host: Option<String>,
    pub host_id: Option<String>,
}
