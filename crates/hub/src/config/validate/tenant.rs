//! One `[[instance]]` block: its Confluence client, sync and ConductorOne settings.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use reqwest::Url;

use super::{Connector, Validator};

/// A bundle of every public CA is about 200 KiB; no trust store is 4 MiB.
const MAX_CA_FILE_BYTES: u64 = 4 * 1024 * 1024;

use crate::config::raw::{InlineOrRef, RawConductorOne, RawInstance, RawSettings};
use crate::config::{Deprovisioning, SyncSettings, TenantConfig, TenantId, defaults, hostname};
use conductorone::credentials::{ClientCredentials, CredentialError};
use conductorone::settings::C1Settings;
use confluence::RateCeiling;
use confluence::settings::{Auth, ClientSettings, RetryPolicy, is_plain_http_to_another_host};
use confluence::version::ConfluenceVersion;
use platform::secret::{Secret, resolve_path};
use platform::tls::CaCertificates;

impl Validator<'_> {
    pub(super) fn tenant(
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
                    "is not an http(s) base URL such as https://confluence.example.com".into(),
                );
                None
            }
        };
        let provisioning = raw.provisioning.unwrap_or(false);
        if let Some(url) = &base_url {
            let allow_insecure_http = raw.allow_insecure_http.unwrap_or(false);
            self.base_url_security(line, tenant, url, allow_insecure_http, provisioning);
        }

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

        let ca = raw
            .ca_file
            .as_deref()
            .and_then(|path| self.ca_file(line, tenant, "ca_file", path));

        let settings = raw.settings().over(defaults);
        let rate_ceiling = match settings.requests_per_second {
            None => None,
            Some(rate) if rate > 0.0 && rate.is_finite() => {
                Some(RateCeiling::new(rate, settings.burst))
            }
            Some(_) => {
                self.problem(
                    line,
                    tenant,
                    "requests_per_second",
                    "must be a positive number (leave it out for no ceiling)".into(),
                );
                None
            }
        };
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
        let max_response_bytes = settings
            .max_response_bytes
            .unwrap_or(defaults::MAX_RESPONSE_BYTES);
        if max_response_bytes < 1024 {
            self.problem(
                line,
                tenant,
                "max_response_bytes",
                "must be at least 1024 (bytes)".into(),
            );
        }
        let max_pages = settings.max_pages.unwrap_or(defaults::MAX_PAGES);
        if max_pages == 0 {
            self.problem(line, tenant, "max_pages", "must be at least 1".into());
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
            line,
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
                line,
                tenant,
                "retry_max_elapsed",
                settings.retry_max_elapsed.as_deref(),
                default_retry.max_elapsed,
            ),
            ..default_retry
        };
        let request_timeout = self.duration(
            line,
            tenant,
            "request_timeout",
            settings.request_timeout.as_deref(),
            defaults::REQUEST_TIMEOUT,
        );

        let version = match raw.version.as_deref() {
            None | Some("auto") => None,
            Some(text) => match text.parse::<ConfluenceVersion>() {
                Ok(version) => Some(version),
                Err(_) => {
                    let expected = "is not a Confluence version; expected MAJOR.MINOR[.PATCH] such as \"9.2\", or \"auto\"";
                    self.problem(line, tenant, "version", expected.into());
                    None
                }
            },
        };

        let conductorone = raw
            .conductorone
            .and_then(|c1| self.conductorone(c1, line, &name, task_concurrency));

        Some(TenantConfig {
            confluence: ClientSettings {
                tenant: name.clone(),
                base_url: base_url?,
                auth: auth?,
                ca,
                request_timeout,
                rate_ceiling,
                max_in_flight,
                max_in_flight_ceiling,
                page_size,
                max_response_bytes,
                max_pages,
                version,
                retry,
            },
            id,
            provisioning,
            deprovisioning: raw.deprovisioning.unwrap_or(Deprovisioning::Off),
            sync: SyncSettings {
                interval,
                include_archived_spaces: raw.include_archived_spaces.unwrap_or(true),
                include_personal_spaces: raw.include_personal_spaces.unwrap_or(true),
                skip_full_sync: raw.skip_full_sync.unwrap_or(false),
            },
            conductorone,
        })
    }

    /// The tenant's ConductorOne session settings, with the credentials parsed
    /// by the code the session uses, so a bad id or secret fails here and not
    /// when the session starts. Without secrets (`shard-plan`, `capabilities`)
    /// there is nothing to parse and no session to set up: `None`.
    fn conductorone(
        &mut self,
        c1: RawConductorOne,
        line: Option<usize>,
        tenant: &str,
        task_concurrency: usize,
    ) -> Option<C1Settings> {
        let client_id = match &c1.client_id {
            InlineOrRef::Inline(id) => Some(Secret::new(id.trim().to_owned())),
            InlineOrRef::Ref(reference) => self
                .secret(reference)
                .map_err(|message| {
                    self.problem(line, Some(tenant), "conductorone.client_id", message)
                })
                .ok(),
        };
        let client_secret = self
            .secret(&c1.client_secret)
            .map_err(|message| {
                self.problem(line, Some(tenant), "conductorone.client_secret", message)
            })
            .ok();
        let ca = c1
            .ca_file
            .as_deref()
            .and_then(|path| self.ca_file(line, Some(tenant), "conductorone.ca_file", path));
        let host_id = c1
            .host_id
            .unwrap_or_else(|| format!("{}-{}", hostname(), tenant));
        self.connectors.push(Connector {
            tenant: tenant.to_owned(),
            line,
            client_id: client_id
                .as_ref()
                .map(|id| id.expose().to_owned())
                .filter(|id| !id.is_empty()),
            host_id: host_id.clone(),
        });
        if !self.resolve_secrets {
            return None;
        }
        let (client_id, client_secret) = (client_id?, client_secret?);
        let credentials = match ClientCredentials::parse(client_id.expose(), &client_secret) {
            Ok(credentials) => credentials,
            Err(err @ CredentialError::ClientIdFormat) => {
                self.problem(
                    line,
                    Some(tenant),
                    "conductorone.client_id",
                    err.to_string(),
                );
                if let Err(err) = ClientCredentials::check_secret(&client_secret) {
                    let key = "conductorone.client_secret";
                    self.problem(line, Some(tenant), key, err.to_string());
                }
                return None;
            }
            Err(err) => {
                let key = "conductorone.client_secret";
                self.problem(line, Some(tenant), key, err.to_string());
                return None;
            }
        };
        Some(C1Settings {
            tenant: tenant.to_owned(),
            credentials,
            ca,
            api_host: c1.api_host,
            host_id,
            task_concurrency,
        })
    }

    /// Refuses a base URL that would expose credentials: user and password
    /// inside it, or plain http to another host unless the tenant accepts that
    /// with `allow_insecure_http`. Provisioning sends new users' passwords, so
    /// it is refused over plain http to another host either way.
    fn base_url_security(
        &mut self,
        line: Option<usize>,
        tenant: Option<&str>,
        url: &Url,
        allow_insecure_http: bool,
        provisioning: bool,
    ) {
        if !url.username().is_empty() || url.password().is_some() {
            self.problem(
                line,
                tenant,
                "base_url",
                "carries credentials (user:password@host); remove them and give `token`, or `username` and `password`, as secret references".into(),
            );
        }
        if !is_plain_http_to_another_host(url) {
            return;
        }
        if !allow_insecure_http {
            self.problem(
                line,
                tenant,
                "base_url",
                "is plain http to a host other than this machine, so the token or password would travel unencrypted; use https, or set allow_insecure_http = true if the network is trusted".into(),
            );
        } else if provisioning {
            self.problem(
                line,
                tenant,
                "provisioning",
                "is refused over plain http to a host other than this machine: it sends new users' passwords; give base_url an https address".into(),
            );
        }
    }

    /// A `ca_file`, read and parsed once however many keys name it.
    fn ca_file(
        &mut self,
        line: Option<usize>,
        tenant: Option<&str>,
        key: &str,
        path: &Path,
    ) -> Option<Arc<CaCertificates>> {
        let path = resolve_path(self.base_dir, path);
        if let Some(parsed) = self.ca_files.get(&path) {
            return parsed.clone();
        }
        let parsed = match platform::fs::read_small_file(&path, MAX_CA_FILE_BYTES) {
            Ok(pem) => CaCertificates::from_pem(pem).map(Arc::new).map_err(|why| {
                format!(
                    "{} {why}; give a PEM file of CA certificates",
                    path.display()
                )
            }),
            Err(err) => Err(format!("cannot read {}: {err}", path.display())),
        };
        let parsed = parsed
            .map_err(|message| self.problem(line, tenant, key, message))
            .ok();
        self.ca_files.insert(path, parsed.clone());
        parsed
    }
}
