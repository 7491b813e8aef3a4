//! The BatonService client of one tenant: one long-lived TLS channel, every
//! call authorized with the tenant's cached bearer token and stamped with its
//! host id. Cheap to clone; clones share the channel and the token cache.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use futures::Stream;
use tonic::metadata::MetadataValue;

use super::auth::{AuthError, TokenSource};
use super::channel::{ApiEndpoint, ChannelError, GrpcChannel, grpc_channel};
use super::settings::C1Settings;
use baton::pb::c1::connectorapi::baton::v1::{
    BatonServiceFinishTaskRequest, BatonServiceGetTaskRequest, BatonServiceGetTaskResponse,
    BatonServiceHeartbeatRequest, BatonServiceHeartbeatResponse, BatonServiceHelloRequest,
    BatonServiceUploadAssetRequest, baton_service_client::BatonServiceClient,
    baton_service_finish_task_request::FinalState,
};
use baton::pb::google::rpc::Status;
use platform::tls;

/// Unary calls that take longer than this are abandoned and retried by the caller.
const CALL_TIMEOUT: Duration = Duration::from_secs(30);

/// Why a BatonService call failed: no token, or a gRPC status.
#[derive(Debug, Clone, thiserror::Error)]
pub enum RpcError {
    #[error(transparent)]
    Auth(#[from] AuthError),
    #[error("BatonService answered {code:?}: {message}", code = .0.code(), message = .0.message())]
    Status(tonic::Status),
}

impl RpcError {
    pub fn code(&self) -> tonic::Code {
        match self {
            Self::Auth(err) => err.code(),
            Self::Status(status) => status.code(),
        }
    }

    /// Worth trying again: the server or the network is unwell, not our request.
    pub fn is_transient(&self) -> bool {
        matches!(
            self.code(),
            tonic::Code::Unavailable
                | tonic::Code::DeadlineExceeded
                | tonic::Code::ResourceExhausted
                | tonic::Code::Aborted
                | tonic::Code::Internal
                | tonic::Code::Unknown
        )
    }
}

impl From<tonic::Status> for RpcError {
    fn from(status: tonic::Status) -> Self {
        Self::Status(status)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    #[error(transparent)]
    Channel(#[from] ChannelError),
}

#[derive(Clone, Debug)]
pub struct BatonClient {
    service: BatonServiceClient<GrpcChannel>,
    tokens: Arc<TokenSource>,
    host_id: Arc<str>,
}

impl BatonClient {
    /// Builds the channel over the already parsed credentials; connects
    /// lazily, so this never touches the network.
    pub fn connect(settings: &C1Settings) -> Result<Self, ConnectError> {
        let credentials = settings.credentials.clone();
        let endpoint = ApiEndpoint::resolve(credentials.client_id(), settings.api_host.as_deref())?;
        let ca = settings.ca.as_deref();
        let user_agent = format!(
            "{} confluence-hub/{}",
            credentials.client_id().name(),
            env!("CARGO_PKG_VERSION")
        );
        let channel = grpc_channel(&endpoint, ca, &user_agent)?;
        let tls = tls::client_config(ca).map_err(ChannelError::Tls)?;
        let tokens = TokenSource::new(credentials, &endpoint, tls);
        Ok(Self {
            service: BatonServiceClient::with_origin(channel.clone(), channel.origin()),
            tokens: Arc::new(tokens),
            host_id: settings.host_id.as_str().into(),
        })
    }

    pub fn host_id(&self) -> &str {
        &self.host_id
    }

    /// Exchanges the client credentials for an access token: proves the
    /// secret is accepted without touching any task (for `check`).
    pub async fn check_credentials(&self) -> Result<(), AuthError> {
        self.tokens.token().await.map(drop)
    }

    pub async fn hello(
        &self,
        task_id: &str,
        request: BatonServiceHelloRequest,
    ) -> Result<(), RpcError> {
        let request = BatonServiceHelloRequest {
            host_id: self.host_id.to_string(),
            task_id: task_id.to_owned(),
            ..request
        };
        let request = self.authorized(request, Some(CALL_TIMEOUT)).await?;
        within_deadline(self.service.clone().hello(request)).await?;
        Ok(())
    }

    pub async fn get_task(&self) -> Result<BatonServiceGetTaskResponse, RpcError> {
        let request = BatonServiceGetTaskRequest {
            host_id: self.host_id.to_string(),
        };
        let request = self.authorized(request, Some(CALL_TIMEOUT)).await?;
        let response = within_deadline(self.service.clone().get_task(request)).await?;
        Ok(response.into_inner())
    }

    pub async fn heartbeat(
        &self,
        task_id: &str,
    ) -> Result<BatonServiceHeartbeatResponse, RpcError> {
        let request = BatonServiceHeartbeatRequest {
            host_id: self.host_id.to_string(),
            task_id: task_id.to_owned(),
            annotations: Vec::new(),
        };
        let request = self.authorized(request, Some(CALL_TIMEOUT)).await?;
        let response = within_deadline(self.service.clone().heartbeat(request)).await?;
        Ok(response.into_inner())
    }

    pub async fn finish_task(
        &self,
        task_id: &str,
        status: Option<Status>,
        final_state: FinalState,
    ) -> Result<(), RpcError> {
        let request = BatonServiceFinishTaskRequest {
            host_id: self.host_id.to_string(),
            task_id: task_id.to_owned(),
            status,
            final_state: Some(final_state),
        };
        let request = self.authorized(request, Some(CALL_TIMEOUT)).await?;
        within_deadline(self.service.clone().finish_task(request)).await?;
        Ok(())
    }

    /// Streams one asset. No overall deadline: a large c1z may take a while,
    /// and the channel's HTTP/2 flow control notices a dead peer.
    pub async fn upload_asset(
        &self,
        messages: impl Stream<Item = BatonServiceUploadAssetRequest> + Send + 'static,
    ) -> Result<(), RpcError> {
        self.service
            .clone()
            .upload_asset(self.authorized(messages, None).await?)
            .await?;
        Ok(())
    }

    /// Wraps a message with `authorization: Bearer <token>`, marked sensitive
    /// so HTTP/2 never indexes it and debug output never shows it.
    async fn authorized<T>(
        &self,
        message: T,
        timeout: Option<Duration>,
    ) -> Result<tonic::Request<T>, RpcError> {
        let token = self.tokens.token().await?;
        let mut value: MetadataValue<_> =
            format!("Bearer {}", token.expose())
                .parse()
                .map_err(|_| AuthError::BadResponse {
                    reason: "the access token is not a valid header value".into(),
                })?;
        value.set_sensitive(true);
        let mut request = tonic::Request::new(message);
        request.metadata_mut().insert("authorization", value);
        if let Some(timeout) = timeout {
            request.set_timeout(timeout);
        }
        Ok(request)
    }
}

/// A unary call that gets no answer within [`CALL_TIMEOUT`] fails as
/// `DeadlineExceeded`, as the server was told in `grpc-timeout`.
async fn within_deadline<T>(
    call: impl Future<Output = Result<T, tonic::Status>>,
) -> Result<T, tonic::Status> {
    tokio::time::timeout(CALL_TIMEOUT, call)
        .await
        .unwrap_or_else(|_| {
            Err(tonic::Status::deadline_exceeded(format!(
                "ConductorOne did not answer within {CALL_TIMEOUT:?}"
            )))
        })
}
