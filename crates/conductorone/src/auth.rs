//! The access-token source of one tenant: trades a freshly signed client
//! assertion for a bearer token at `POST https://<host>/auth/v1/token`, caches
//! it, and refreshes it shortly before it expires. Concurrent callers share
//! one refresh. The HTTPS client lives only as long as one exchange: a token
//! is fetched about once an hour, and a thousand tenants holding an idle
//! client and connection each in between would be memory spent on nothing.

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use rustls::ClientConfig;
use serde::Deserialize;
use tokio::sync::Mutex;

use super::assertion::client_assertion;
use super::channel::{ApiEndpoint, http_client};
use super::credentials::ClientCredentials;

/// Refresh this long before expiry, so a token never expires in flight.
const REFRESH_BEFORE_EXPIRY: Duration = Duration::from_secs(10);
/// Up to this share of a token's lifetime earlier still, at random: tenants
/// started together (every tenant of a replica, after a restart) would
/// otherwise all refresh in the same second, an hour later, forever.
const REFRESH_SPREAD: f64 = 0.1;
/// Assumed when the endpoint leaves `expires_in` out: short enough that a
/// token that really lives less is soon replaced, long enough that a busy
/// session does not fetch one per call.
const DEFAULT_LIFETIME: Duration = Duration::from_secs(5 * 60);
/// The longest lifetime believed: a token is fetched at least once a day,
/// and no claimed lifetime can overflow an `Instant`.
const MAX_LIFETIME: Duration = Duration::from_secs(24 * 60 * 60);
const GRANT_TYPE: &str = "client_credentials";
const ASSERTION_TYPE: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// Why no token could be had. `Rejected` means the credentials are wrong (do
/// not retry); `Unavailable` means the endpoint is unwell (retry later).
#[derive(Debug, Clone, thiserror::Error)]
pub enum AuthError {
    #[error(
        "the ConductorOne token endpoint refused the client credentials (HTTP {status}); check the client id and secret"
    )]
    Rejected { status: u16 },
    #[error("the ConductorOne token endpoint is unavailable: {reason}")]
    Unavailable { reason: String },
    #[error("the ConductorOne token endpoint sent an unusable answer: {reason}")]
    BadResponse { reason: String },
}

impl AuthError {
    /// The gRPC code this failure stands for.
    pub fn code(&self) -> tonic::Code {
        match self {
            Self::Rejected { .. } | Self::BadResponse { .. } => tonic::Code::Unauthenticated,
            Self::Unavailable { .. } => tonic::Code::Unavailable,
        }
    }
}

/// A bearer token. `Debug` redacts it; only [`AccessToken::expose`] reveals it.
#[derive(Clone)]
pub struct AccessToken(Arc<str>);

impl AccessToken {
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for AccessToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("AccessToken([redacted])")
    }
}

#[derive(Deserialize)]
struct TokenResponse {
    access_token: String,
    expires_in: Option<u64>,
}

struct CachedToken {
    token: AccessToken,
    refresh_at: Instant,
}

pub struct TokenSource {
    credentials: ClientCredentials,
    token_url: String,
    audience: String,
    /// The shared TLS configuration each exchange's client is built from.
    tls: Arc<ClientConfig>,
    cached: Mutex<Option<CachedToken>>,
}

impl fmt::Debug for TokenSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenSource")
            .field("credentials", &self.credentials)
            .field("token_url", &self.token_url)
            .finish_non_exhaustive()
    }
}

impl TokenSource {
    pub fn new(
        credentials: ClientCredentials,
        endpoint: &ApiEndpoint,
        tls: Arc<ClientConfig>,
    ) -> Self {
        Self {
            credentials,
            token_url: endpoint.token_url(),
            audience: endpoint.host().to_owned(),
            tls,
            cached: Mutex::new(None),
        }
    }

    /// A token valid for at least the next few seconds, from the cache when
    /// it can be.
    pub async fn token(&self) -> Result<AccessToken, AuthError> {
        let mut cached = self.cached.lock().await;
        if let Some(current) = cached
            .as_ref()
            .filter(|current| Instant::now() < current.refresh_at)
        {
            return Ok(current.token.clone());
        }
        let (token, lifetime) = self.fetch().await?;
        let refresh_at = Instant::now() + refresh_after(lifetime, rand::random());
        *cached = Some(CachedToken {
            token: token.clone(),
            refresh_at,
        });
        Ok(token)
    }

    async fn fetch(&self) -> Result<(AccessToken, Duration), AuthError> {
        let assertion = client_assertion(&self.credentials, &self.audience, SystemTime::now());
        let form = [
            ("client_id", self.credentials.client_id().as_str()),
            ("grant_type", GRANT_TYPE),
            ("client_assertion_type", ASSERTION_TYPE),
            ("client_assertion", assertion.expose()),
        ];
        let http = http_client(&self.tls).map_err(|err| AuthError::Unavailable {
            reason: err.to_string(),
        })?;
        let response = http
            .post(&self.token_url)
            .form(&form)
            .send()
            .await
            .map_err(|err| AuthError::Unavailable {
                reason: describe_transport_error(&err),
            })?;
        let status = response.status();
        if status.is_redirection() {
            return Err(AuthError::BadResponse {
                reason: format!(
                    "HTTP {} redirect, which is never followed (it would hand the client assertion to another server); check api_host",
                    status.as_u16()
                ),
            });
        }
        if status.is_server_error() || status == reqwest::StatusCode::TOO_MANY_REQUESTS {
            return Err(AuthError::Unavailable {
                reason: format!("HTTP {}", status.as_u16()),
            });
        }
        if !status.is_success() {
            return Err(AuthError::Rejected {
                status: status.as_u16(),
            });
        }
        let body: TokenResponse = response.json().await.map_err(|_| AuthError::BadResponse {
            reason: "the body is not a token response".into(),
        })?;
        if body.access_token.is_empty() {
            return Err(AuthError::BadResponse {
                reason: "the access token is empty".into(),
            });
        }
        let lifetime = believable_lifetime(body.expires_in);
        tracing::debug!(
            lifetime_s = lifetime.as_secs(),
            "obtained a ConductorOne access token"
        );
        Ok((AccessToken(body.access_token.into()), lifetime))
    }
}

/// The lifetime to plan with for a claimed `expires_in`: missing means
/// [`DEFAULT_LIFETIME`], more than [`MAX_LIFETIME`] means that. A short one
/// is believed: presenting an expired token would fail the call.
fn believable_lifetime(expires_in: Option<u64>) -> Duration {
    expires_in.map_or(DEFAULT_LIFETIME, |seconds| {
        Duration::from_secs(seconds).min(MAX_LIFETIME)
    })
}

/// How long a token of `lifetime` is used: up to [`REFRESH_BEFORE_EXPIRY`]
/// before it expires, less a random `share` (in `0..1`) of
/// [`REFRESH_SPREAD`] of the lifetime.
fn refresh_after(lifetime: Duration, share: f64) -> Duration {
    lifetime
        .saturating_sub(REFRESH_BEFORE_EXPIRY)
        .saturating_sub(lifetime.mul_f64(REFRESH_SPREAD * share.clamp(0.0, 1.0)))
}

/// reqwest's error text names the URL and the cause, never the form body.
fn describe_transport_error(err: &reqwest::Error) -> String {
    let mut text = err.to_string();
    let mut source = std::error::Error::source(err);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refreshes_spread_over_the_last_tenth_of_a_lifetime_before_the_margin() {
        let hour = Duration::from_secs(3_600);
        assert_eq!(refresh_after(hour, 0.0), Duration::from_secs(3_590));
        assert_eq!(refresh_after(hour, 1.0), Duration::from_secs(3_230));
        assert_eq!(refresh_after(hour, 0.5), Duration::from_secs(3_410));
        // A token shorter than the margin is replaced on every call.
        assert_eq!(refresh_after(Duration::from_secs(2), 0.7), Duration::ZERO);
    }
}
