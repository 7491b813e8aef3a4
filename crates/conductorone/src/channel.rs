//! Where a tenant's ConductorOne lives and how we reach it: the API host (from
//! the client id or the `api_host` override), the token URL, and one
//! long-lived TLS gRPC channel and HTTPS client per tenant.

use std::time::Duration;

use hyper_rustls::HttpsConnectorBuilder;
use hyper_util::client::legacy::connect::HttpConnector;
use rustls::ClientConfig;
use tonic::codegen::http::uri::Scheme;
use tonic::transport::{Channel, Endpoint, Uri};
use tower::ServiceExt;

use super::credentials::ClientId;
use platform::tls::{self, CaCertificates};

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
    #[error("cannot set up TLS for ConductorOne: {0}")]
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
/// reconnects by itself after a broken connection. TLS comes from the
/// process's shared client configuration for this CA bundle (or the system
/// roots), so a thousand tenants do not load a thousand copies of the roots.
pub fn grpc_channel(
    endpoint: &ApiEndpoint,
    ca: Option<&CaCertificates>,
    user_agent: &str,
) -> Result<Channel, ChannelError> {
    let invalid = || ChannelError::InvalidHost(endpoint.authority());
    // Requests carry the https origin (`:scheme`, `:authority`); the channel
    // itself is told `http`, because tonic refuses an https address unless
    // its own TLS (which loads the system roots per channel) is configured.
    // The connector below always speaks TLS, whatever scheme it is handed.
    let origin: Uri = format!("https://{}:{}", endpoint.host, endpoint.port)
        .parse()
        .map_err(|_| invalid())?;
    let builder = Endpoint::from_shared(format!("http://{}:{}", endpoint.host, endpoint.port))
        .map_err(|_| invalid())?
        .origin(origin)
        .user_agent(user_agent)
        .map_err(|_| invalid())?;
    let tls = tls::client_config(ca).map_err(ChannelError::Tls)?;
    // The endpoint's own connect timeout and keepalive apply only to tonic's
    // connector; this one carries them itself.
    let mut tcp = HttpConnector::new();
    tcp.enforce_http(false);
    tcp.set_nodelay(true);
    tcp.set_connect_timeout(Some(CONNECT_TIMEOUT));
    tcp.set_keepalive(Some(TCP_KEEPALIVE));
    let mut tls = ClientConfig::clone(&tls);
    // The connector sets ALPN (h2) itself and refuses a config that has one.
    tls.alpn_protocols.clear();
    let connector = HttpsConnectorBuilder::new()
        .with_tls_config(tls)
        .https_only()
        .enable_http2()
        .wrap_connector(tcp);
    let connector = ServiceExt::<Uri>::map_request(connector, with_https_scheme);
    Ok(builder.connect_with_connector_lazy(connector))
}

fn with_https_scheme(uri: Uri) -> Uri {
    let mut parts = uri.into_parts();
    parts.scheme = Some(Scheme::HTTPS);
    Uri::from_parts(parts).expect("an authority-form URI stays valid with another scheme")
}

/// The HTTPS client for the token endpoint: system roots plus the optional
/// CA, from the same shared configuration as the gRPC channel.
pub fn http_client(ca: Option<&CaCertificates>) -> Result<reqwest::Client, ChannelError> {
    let tls = tls::client_config(ca).map_err(ChannelError::Tls)?;
    let builder = reqwest::Client::builder()
        .timeout(HTTP_TIMEOUT)
        .connect_timeout(CONNECT_TIMEOUT)
        .user_agent("baton-c1-credential-provider")
        // A redirect would re-send the signed client assertion to a server
        // nobody configured.
        .redirect(reqwest::redirect::Policy::none())
        .tls_backend_preconfigured(ClientConfig::clone(&tls));
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
