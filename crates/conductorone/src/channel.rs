//! Where a tenant's ConductorOne lives and how we reach it: the API host (from
//! the client id or the `api_host` override), the token URL, one long-lived
//! TLS gRPC channel per tenant, and the HTTPS client of a token exchange.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context as TaskContext, Poll};
use std::time::Duration;

use hyper::body::Incoming;
use hyper::client::conn::http2::{self, SendRequest};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioTimer};
use rustls::ClientConfig;
use tonic::body::Body;
use tonic::codegen::http::header::{HeaderValue, USER_AGENT};
use tonic::codegen::http::uri::Scheme;
use tonic::codegen::http::{Request, Response, Uri};
use tower::util::MapRequest;
use tower::{Service, ServiceExt};

type BoxError = Box<dyn std::error::Error + Send + Sync>;

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

/// One tenant's HTTP/2 connection to ConductorOne, behind the tower
/// `Service` the generated client calls. It connects on the first call and
/// again on the first call after the connection broke; until then, calls
/// share it as HTTP/2 streams. TLS comes from the process's shared client
/// configuration for this CA bundle (or the system roots), so a thousand
/// tenants do not load a thousand copies of the roots.
///
/// Not tonic's `Channel`: that puts a request queue and a worker task in
/// front of the connection, sized for many callers, which costs ~25 KiB per
/// tenant that polls alone (heaptrack, `benches/hub_scale.rs`); at 1,000
/// tenants that was a sixth of the hub's idle memory.
#[derive(Clone)]
pub struct GrpcChannel {
    shared: Arc<Shared>,
}

type Connector = MapRequest<HttpsConnector<HttpConnector>, fn(Uri) -> Uri>;

struct Shared {
    connector: Connector,
    origin: Uri,
    user_agent: HeaderValue,
    sender: tokio::sync::Mutex<Option<SendRequest<Body>>>,
}

impl std::fmt::Debug for GrpcChannel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GrpcChannel")
            .field("origin", &self.shared.origin)
            .finish_non_exhaustive()
    }
}

impl GrpcChannel {
    /// The origin every request is sent to (`https://host:port`).
    pub fn origin(&self) -> Uri {
        self.shared.origin.clone()
    }
}

impl Shared {
    /// The open connection, or a new one when there is none or it closed.
    async fn sender(&self) -> Result<SendRequest<Body>, BoxError> {
        let mut slot = self.sender.lock().await;
        if let Some(sender) = slot.as_ref().filter(|sender| !sender.is_closed()) {
            return Ok(sender.clone());
        }
        *slot = None;
        let io = self.connector.clone().oneshot(self.origin.clone()).await?;
        let (sender, connection) = http2::Builder::new(TokioExecutor::new())
            .timer(TokioTimer::new())
            // ConductorOne's answers carry few headers: no table to keep.
            .header_table_size(0)
            .handshake(io)
            .await?;
        let origin = self.origin.clone();
        tokio::spawn(async move {
            if let Err(err) = connection.await {
                tracing::debug!(%origin, error = %err, "ConductorOne connection ended");
            }
        });
        *slot = Some(sender.clone());
        Ok(sender)
    }
}

impl Service<Request<Body>> for GrpcChannel {
    type Response = Response<Incoming>;
    type Error = BoxError;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, BoxError>> + Send>>;

    fn poll_ready(&mut self, _: &mut TaskContext<'_>) -> Poll<Result<(), BoxError>> {
        // Readiness is the connection's, checked per call below.
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, mut request: Request<Body>) -> Self::Future {
        let shared = Arc::clone(&self.shared);
        Box::pin(async move {
            request
                .headers_mut()
                .insert(USER_AGENT, shared.user_agent.clone());
            let mut sender = shared.sender().await?;
            futures::future::poll_fn(|cx| sender.poll_ready(cx)).await?;
            Ok(sender.send_request(request).await?)
        })
    }
}

/// The tenant's channel: nothing is sent until the first call.
pub fn grpc_channel(
    endpoint: &ApiEndpoint,
    ca: Option<&CaCertificates>,
    user_agent: &str,
) -> Result<GrpcChannel, ChannelError> {
    let invalid = || ChannelError::InvalidHost(endpoint.authority());
    let origin: Uri = format!("https://{}:{}", endpoint.host, endpoint.port)
        .parse()
        .map_err(|_| invalid())?;
    let user_agent = HeaderValue::from_str(user_agent).map_err(|_| invalid())?;
    let tls = tls::h2_client_config(ca).map_err(ChannelError::Tls)?;
    let mut tcp = HttpConnector::new();
    tcp.enforce_http(false);
    tcp.set_nodelay(true);
    tcp.set_connect_timeout(Some(CONNECT_TIMEOUT));
    tcp.set_keepalive(Some(TCP_KEEPALIVE));
    // The shared configuration as it is (ALPN h2 only); every URI is made
    // https below, so nothing is ever sent in the clear.
    let connector = HttpsConnector::from((tcp, tls));
    let connector: Connector = ServiceExt::<Uri>::map_request(connector, with_https_scheme);
    Ok(GrpcChannel {
        shared: Arc::new(Shared {
            connector,
            origin,
            user_agent,
            sender: tokio::sync::Mutex::new(None),
        }),
    })
}

fn with_https_scheme(uri: Uri) -> Uri {
    let mut parts = uri.into_parts();
    parts.scheme = Some(Scheme::HTTPS);
    Uri::from_parts(parts).expect("an authority-form URI stays valid with another scheme")
}

/// An HTTPS client for the token endpoint over the tenant's shared TLS
/// configuration (system roots plus the optional CA).
pub fn http_client(tls: &ClientConfig) -> Result<reqwest::Client, ChannelError> {
    let builder = reqwest::Client::builder()
        .timeout(HTTP_TIMEOUT)
        .connect_timeout(CONNECT_TIMEOUT)
        .user_agent("baton-c1-credential-provider")
        // A redirect would re-send the signed client assertion to a server
        // nobody configured.
        .redirect(reqwest::redirect::Policy::none())
        .tls_backend_preconfigured(tls.clone());
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
