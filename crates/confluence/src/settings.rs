//! What one tenant's Confluence client needs, already validated (built by
//! `config` from the TOML file, or directly by tests and the demo).

use std::sync::Arc;
use std::time::Duration;

use reqwest::Url;

use super::ratelimit::RateCeiling;
use super::version::ConfluenceVersion;
use platform::secret::Secret;
use platform::tls::CaCertificates;

/// The client's defaults, each with its reason; the config file's defaults
/// for these keys are these.
pub mod defaults {
    use std::time::Duration;

    /// Concurrent requests per tenant at the start of adaptive pacing:
    /// enough to overlap latency, few enough not to load a Confluence node.
    pub const MAX_IN_FLIGHT: usize = 4;
    /// Adaptive pacing never goes above this many concurrent requests: past
    /// it, a Confluence node's request threads are what gets measured.
    pub const MAX_IN_FLIGHT_CEILING: usize = 16;
    /// Confluence caps user, group and member pages at 200 anyway.
    pub const PAGE_SIZE: u32 = 200;
    /// A page of 1000 users with expansions is a few MiB: 64 MiB stops a
    /// broken or hostile server long before it exhausts memory.
    pub const MAX_RESPONSE_BYTES: u64 = 64 * 1024 * 1024;
    /// 100 000 pages of 200 is 20 million records, far beyond any instance;
    /// a server that keeps offering a next page is stopped there.
    pub const MAX_PAGES: u64 = 100_000;
    /// A Confluence node under load answers big pages slowly; 60 s is generous
    /// without hanging a sync on a dead socket.
    pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);
}

#[derive(Clone, Debug, PartialEq)]
pub struct ClientSettings {
    /// The tenant id, carried into every error, log line and metric.
    pub tenant: String,
    /// Base URL without a trailing slash; may carry a context path (`/confluence`).
    pub base_url: Url,
    pub auth: Auth,
    /// Extra trust roots (an internal CA), parsed when the config was loaded.
    pub ca: Option<Arc<CaCertificates>>,
    pub request_timeout: Duration,
    /// The operator's ceiling on the request rate (`requests_per_second`,
    /// `burst`). None, the default: the server's limiter, read from its
    /// headers, and the adaptive concurrency limit pace the tenant.
    pub rate_ceiling: Option<RateCeiling>,
    /// Concurrent requests at the start; the adaptive limit moves from here.
    pub max_in_flight: usize,
    /// The adaptive concurrency limit never goes above this.
    pub max_in_flight_ceiling: usize,
    pub page_size: u32,
    /// The most bytes one response body may hold; reading stops past it.
    pub max_response_bytes: u64,
    /// The most pages one listing may take before it is abandoned.
    pub max_pages: u64,
    /// Skip detection and assume this version.
    pub version: Option<ConfluenceVersion>,
    pub retry: RetryPolicy,
}

impl ClientSettings {
    /// Settings with the config file's defaults for everything but the
    /// tenant, the base URL and the credentials; callers change what they
    /// need with struct update syntax.
    pub fn new(tenant: impl Into<String>, base_url: Url, auth: Auth) -> Self {
        Self {
            tenant: tenant.into(),
            base_url,
            auth,
            ca: None,
            request_timeout: defaults::REQUEST_TIMEOUT,
            rate_ceiling: None,
            max_in_flight: defaults::MAX_IN_FLIGHT,
            max_in_flight_ceiling: defaults::MAX_IN_FLIGHT_CEILING,
            page_size: defaults::PAGE_SIZE,
            max_response_bytes: defaults::MAX_RESPONSE_BYTES,
            max_pages: defaults::MAX_PAGES,
            version: None,
            retry: RetryPolicy::default(),
        }
    }
}

impl ClientSettings {
    /// Whether the token or password travels unencrypted: plain http to a
    /// host other than this machine (the config allows it only with
    /// `allow_insecure_http`).
    pub fn sends_credentials_in_clear(&self) -> bool {
        is_plain_http_to_another_host(&self.base_url)
    }
}

/// `http://` to anything but a loopback address or `localhost`.
pub fn is_plain_http_to_another_host(url: &Url) -> bool {
    let host = url.host_str().unwrap_or_default();
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let loopback = host.eq_ignore_ascii_case("localhost")
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|address| address.is_loopback());
    url.scheme() == "http" && !loopback
}

impl ClientSettings {
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
