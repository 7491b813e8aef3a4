//! Where a tenant's ConductorOne lives and how we reach it: the API host (from
//! the client id or the `api_host` override), the token URL, and one
//! long-lived TLS gRPC channel and HTTPS client per tenant.

use std::time::Duration;

use tonic::transport::{Certificate, Channel, ClientTlsConfig, Endpoint};

use super::credentials::ClientId;
use platform::tls::{CaCertificates, install_crypto_provider};

const DEFAULT_PORT: u16 = 443;
const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);
/// Token requests are small; a slow token endpoint should fail the call, not hang it.
const HTTP_TIMEOUT: Duration = Duration::from_secs(30);
/// Keeps NAT and load-balancer state alive for long idle stretches between polls.
const TCP_KEEPALIVE: Duration = Duration::from_secs(60);

#[derive(Debug, thiserror::Error)]
pub enum ChannelError {
    #[error("ConductorOne API host `{0}` is not a valid host[:port]")]
    InvalidHost(String),
    #[error("the ConductorOne CA certificate is not usable: {0}")]
    Tls(String),
    #[error("cannot build the HTTPS client for the ConductorOne token endpoint: {0}")]
    Http(String),
}

/// The resolved ConductorOne endpoint of one tenant.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApiEndpoint {
    /// Host without port: the TLS server name and the assertion's audience.
    host: String,
    port: u16,
}

impl ApiEndpoint {
    /// The override wins over the client id's host; a missing port means 443.
    pub fn resolve(client_id: &ClientId, api_host: Option<&str>) -> Result<Self, ChannelError> {
        let text = api_host
            .map(str::trim)
            .filter(|host| !host.is_empty())
            .unwrap_or(client_id.host());
        let invalid = || ChannelError::InvalidHost(text.to_owned());
        let (host, port) = match text.rsplit_once(':') {
            Some((host, port)) => (host, port.parse().map_err(|_| invalid())?),
            None => (text, DEFAULT_PORT),
        };
        if host.is_empty() || host.contains(['/', '@', ' ']) {
            return Err(invalid());
        }
        Ok(Self {
            host: host.to_owned(),
            port,
        })
    }

    /// The audience of the client assertion: the host without its port.
    pub fn host(&self) -> &str {
        &self.host
    }

    pub fn token_url(&self) -> String {
        format!("https://{}/auth/v1/token", self.authority())
    }

    fn authority(&self) -> String {
        if self.port == DEFAULT_PORT {
            self.host.clone()
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }
}

/// A lazily connected channel: no network I/O until the first call, and it
/// reconnects by itself after a broken connection.
pub fn grpc_channel(
    endpoint: &ApiEndpoint,
    ca: Option<&CaCertificates>,
    user_agent: &str,
) -> Result<Channel, ChannelError> {
    install_crypto_provider();
    let uri = format!("https://{}:{}", endpoint.host, endpoint.port);
    let builder = Endpoint::from_shared(uri)
        .map_err(|_| ChannelError::InvalidHost(endpoint.authority()))?
        .user_agent(user_agent)
        .map_err(|_| ChannelError::InvalidHost(endpoint.authority()))?
        .connect_timeout(CONNECT_TIMEOUT)
        .tcp_keepalive(Some(TCP_KEEPALIVE));
    let tls = ClientTlsConfig::new().domain_name(endpoint.host.clone());
    let with_extra = |tls: ClientTlsConfig| match ca {
        Some(ca) => tls.ca_certificate(Certificate::from_pem(ca.pem())),
        None => tls,
    };
    let configured = match builder
        .clone()
        .tls_config(with_extra(tls.clone().with_native_roots()))
    {
        Ok(configured) => configured,
        // A minimal container may have no system roots; a configured CA is then enough.
        Err(_) if ca.is_some() => builder
            .tls_config(with_extra(tls))
            .map_err(|err| ChannelError::Tls(err.to_string()))?,
        Err(err) => return Err(ChannelError::Tls(err.to_string())),
    };
    Ok(configured.connect_lazy())
}

/// The HTTPS client for the token endpoint: system roots plus the optional CA.
pub fn http_client(ca: Option<&CaCertificates>) -> Result<reqwest::Client, ChannelError> {
    install_crypto_provider();
    let mut builder = reqwest::Client::builder()
        .timeout(HTTP_TIMEOUT)
        .connect_timeout(CONNECT_TIMEOUT)
        .user_agent("baton-c1-credential-provider")
        // A redirect would re-send the signed client assertion to a server
        // nobody configured.
        .redirect(reqwest::redirect::Policy::none());
    if let Some(ca) = ca {
        let certificates = ca
            .certificates()
            .iter()
            .map(|der| reqwest::Certificate::from_der(der))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|err| ChannelError::Tls(err.to_string()))?;
        builder = builder.tls_certs_merge(certificates);
    }
    builder
        .build()
        .map_err(|err| ChannelError::Http(err.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn client_id(host: &str) -> ClientId {
        ClientId::parse(&format!("hub@{host}/pcc")).unwrap()
    }

    #[test]
    fn client_id_host_is_used_on_port_443() {
        let endpoint = ApiEndpoint::resolve(&client_id("acme.conductor.one"), None).unwrap();
        assert_eq!(endpoint.host(), "acme.conductor.one");
        assert_eq!(
            endpoint.token_url(),
            "https://acme.conductor.one/auth/v1/token"
        );
    }

    #[test]
    fn api_host_override_wins_and_keeps_its_port() {
        let endpoint =
            ApiEndpoint::resolve(&client_id("acme.conductor.one"), Some("127.0.0.1:8443")).unwrap();
        assert_eq!(endpoint.host(), "127.0.0.1");
        assert_eq!(endpoint.token_url(), "https://127.0.0.1:8443/auth/v1/token");
    }

    #[test]
    fn malformed_api_host_is_refused() {
        for bad in ["c1.example:http", ":443", "a/b"] {
            assert!(
                ApiEndpoint::resolve(&client_id("c1.example"), Some(bad)).is_err(),
                "{bad}"
            );
        }
    }
}
