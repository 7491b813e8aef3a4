//! What one tenant's Confluence client needs, already validated (built by
//! `config` from the TOML file, or directly by tests and the demo).

use std::time::Duration;

use reqwest::Url;

use super::ratelimit::RateCeiling;
use super::version::ConfluenceVersion;
use crate::secret::Secret;

#[derive(Clone, Debug, PartialEq)]
pub struct ClientSettings {
    /// The tenant id, carried into every error, log line and metric.
    pub tenant: String,
    /// Base URL without a trailing slash; may carry a context path (`/confluence`).
    pub base_url: Url,
    pub auth: Auth,
    /// Extra PEM trust roots (an internal CA), read when the config was loaded.
    pub ca_pem: Option<Vec<u8>>,
    pub request_timeout: Duration,
    /// The operator's ceiling on the request rate; infinite (the default)
    /// sets none, leaving the pace to the server's limiter and to latency.
    pub requests_per_second: f64,
    /// Requests allowed at once above [`Self::requests_per_second`] when it
    /// is finite; 0 means one second's worth of it.
    pub burst: u32,
    /// Concurrent requests at the start; the adaptive limit moves from here.
    pub max_in_flight: usize,
    /// The adaptive concurrency limit never goes above this.
    pub max_in_flight_ceiling: usize,
    pub page_size: u32,
    /// Skip detection and assume this version.
    pub version: Option<ConfluenceVersion>,
    pub retry: RetryPolicy,
}

impl ClientSettings {
    /// Settings with the config file's defaults for everything but the
    /// tenant, the base URL and the credentials; callers change what they
    /// need with struct update syntax.
    pub fn new(tenant: impl Into<String>, base_url: Url, auth: Auth) -> Self {
        use crate::config::defaults;
        Self {
            tenant: tenant.into(),
            base_url,
            auth,
            ca_pem: None,
            request_timeout: defaults::REQUEST_TIMEOUT,
            requests_per_second: defaults::REQUESTS_PER_SECOND,
            burst: defaults::BURST,
            max_in_flight: defaults::MAX_IN_FLIGHT,
            max_in_flight_ceiling: defaults::MAX_IN_FLIGHT_CEILING,
            page_size: defaults::PAGE_SIZE,
            version: None,
            retry: RetryPolicy::default(),
        }
    }
}

impl ClientSettings {
    /// The operator's rate ceiling, if one is set (a finite, positive rate).
    pub(crate) fn rate_ceiling(&self) -> Option<RateCeiling> {
        (self.requests_per_second.is_finite() && self.requests_per_second > 0.0).then_some(
            RateCeiling {
                requests_per_second: self.requests_per_second,
                burst: match self.burst {
                    0 => self
                        .requests_per_second
                        .ceil()
                        .clamp(1.0, f64::from(u32::MAX)) as u32,
                    burst => burst,
                },
            },
        )
    }

    /// The most requests the tenant may ever have in flight.
    pub fn concurrency_ceiling(&self) -> usize {
        self.max_in_flight_ceiling.max(self.max_in_flight).max(1)
    }
}

#[derive(Clone, Debug, PartialEq)]
pub enum Auth {
    /// Personal access token, sent as `Authorization: Bearer`.
    Token(Secret),
    /// Username and password, sent as `Authorization: Basic`.
    Basic { username: String, password: Secret },
}

/// Retries on 429/502/503/504, connection errors and timeouts, bounded both in
/// attempts and in total time.
#[derive(Clone, Debug, PartialEq)]
pub struct RetryPolicy {
    pub max_attempts: u32,
    pub max_elapsed: Duration,
    pub initial_backoff: Duration,
    pub max_backoff: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_attempts: 8,
            max_elapsed: Duration::from_secs(300),
            initial_backoff: Duration::from_millis(250),
            max_backoff: Duration::from_secs(30),
        }
    }
}
