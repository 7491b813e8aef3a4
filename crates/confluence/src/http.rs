//! Building the tenant's HTTP client: rustls with the ring provider, an
//! optional extra CA, the request timeout and the `Authorization` header
//! (marked sensitive so it never reaches a log).
//!
//! The TLS configuration comes from [`platform::tls::client_config`]: built
//! once per process (and once per `ca_file` bundle) and shared by every
//! tenant's client. Left to reqwest, each client loads its own copy of the
//! system roots (about 85 KB and a parse of the whole bundle per tenant,
//! which `benches/hub_tenants.rs` showed growing with the tenant count).

use std::time::Duration;

use base64::Engine as _;
use reqwest::header::{ACCEPT, AUTHORIZATION, HeaderMap, HeaderValue};
use rustls::ClientConfig;

use super::error::{ConfluenceError, ErrorKind};
use super::settings::{Auth, ClientSettings};

/// Connecting should never take as long as a slow page; cap it separately.
const MAX_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// A sync reuses its connections back to back, and releases them when it
/// ends; this closes those a provisioning task or a pause left idle. The pool
/// checks once per timeout, so they close between one and two timeouts after
/// their last use.
const IDLE_CONNECTION_TIMEOUT: Duration = Duration::from_secs(3);

pub use platform::tls::install_crypto_provider;

/// The reqwest client for one tenant.
pub(crate) fn build_client(settings: &ClientSettings) -> Result<reqwest::Client, ConfluenceError> {
    install_crypto_provider();
    let setup =
        |detail: String| ConfluenceError::new(&settings.tenant, ErrorKind::Setup { detail });

    let mut headers = HeaderMap::new();
    headers.insert(ACCEPT, HeaderValue::from_static("application/json"));
    headers.insert(AUTHORIZATION, authorization(&settings.auth).map_err(setup)?);

    let builder = reqwest::Client::builder()
        .user_agent(concat!("confluence-hub/", env!("CARGO_PKG_VERSION")))
        .default_headers(headers)
        .timeout(settings.request_timeout)
        .connect_timeout(settings.request_timeout.min(MAX_CONNECT_TIMEOUT))
        // A redirect is almost always a wrong base_url (http -> https, a
        // missing context path, a login page); following it would hide that,
        // so it surfaces as an error that says so.
        .redirect(reqwest::redirect::Policy::none())
        .pool_max_idle_per_host(settings.concurrency_ceiling())
        .pool_idle_timeout(IDLE_CONNECTION_TIMEOUT);
    let tls = platform::tls::client_config(settings.ca.as_deref()).map_err(setup)?;
    builder
        .tls_backend_preconfigured(ClientConfig::clone(&tls))
        .build()
        .map_err(|err| setup(err.without_url().to_string()))
}

fn authorization(auth: &Auth) -> Result<HeaderValue, String> {
    let value = match auth {
        Auth::Token(token) => format!("Bearer {}", token.expose()),
        Auth::Basic { username, password } => {
            let pair = format!("{username}:{}", password.expose());
            format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode(pair)
            )
        }
    };
    let mut header = HeaderValue::from_str(&value).map_err(|_| {
        "the token or password contains characters that cannot travel in an HTTP header \
         (control characters or line breaks); check the secret's file or variable"
            .to_owned()
    })?;
    header.set_sensitive(true);
    Ok(header)
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use platform::secret::Secret;
    use platform::tls::CaCertificates;

    /// A self-signed test CA (`openssl req -x509 -newkey ec`), no key kept.
    const TEST_CA: &str = "-----BEGIN CERTIFICATE-----\n\
MIIBmTCCAT+gAwIBAgIUFs6/ZZeafdY0eBFCCyHYfIm8DfYwCgYIKoZIzj0EAwIw\n\
ITEfMB0GA1UEAwwWY29uZmx1ZW5jZS1odWIgdGVzdCBDQTAgFw0yNjExMjYyMzQy\n\
MzZaGA8yMTI2MTEwMjIzNDIzNlowITEfMB0GA1UEAwwWY29uZmx1ZW5jZS1odWIg\n\
dGVzdCBDQTBZMBMGByqGSM49AgEGCCqGSM49AwEHA0IABHapefvg32VzXWiGKSXV\n\
JPNKpOJ4S874q3UN04AoXKIEScbVM2pwOvnotPWith09gRyenutHDctSwVZCHo0M\n\
NcWjUzBRMB0GA1UdDgQWBBT9Zomq0sCRfog2LAMz9nVzYImNkTAfBgNVHSMEGDAW\n\
gBT9Zomq0sCRfog2LAMz9nVzYImNkTAPBgNVHRMBAf8EBTADAQH/MAoGCCqGSM49\n\
BAMCA0gAMEUCIQCIqEFghB0ukgottkUkqHtgmlF2FEe05S0holqgz8V/PgIgYQOx\n\
eH8WLkldomYbCajobUnKNZ/jDW8y8VxFKIQJwzI=\n\
-----END CERTIFICATE-----\n";

    fn settings(ca_pem: Option<&str>) -> ClientSettings {
        ClientSettings {
            ca: ca_pem.map(|pem| Arc::new(CaCertificates::from_pem(pem.into()).unwrap())),
            request_timeout: Duration::from_secs(5),
            ..ClientSettings::new(
                "acme",
                "https://confluence.acme.example".parse().unwrap(),
                Auth::Token(Secret::new("t".into())),
            )
        }
    }

    #[test]
    fn a_client_builds_with_and_without_an_extra_ca() {
        assert!(build_client(&settings(Some(TEST_CA))).is_ok());
        assert!(build_client(&settings(None)).is_ok());
    }

    #[test]
    fn basic_auth_is_base64_of_username_and_password() {
        let auth = Auth::Basic {
            username: "admin".into(),
            password: Secret::new("s3cret!".into()),
        };
        let header = authorization(&auth).unwrap();
        assert_eq!(header.to_str().unwrap(), "Basic YWRtaW46czNjcmV0IQ==");
        assert!(header.is_sensitive());
        assert_eq!(format!("{header:?}"), "Sensitive");
    }

    #[test]
    fn a_token_with_a_line_break_is_refused_without_echoing_it() {
        let err = authorization(&Auth::Token(Secret::new("abc\ndef".into()))).unwrap_err();
        assert!(!err.contains("abc"), "{err}");
    }
}
