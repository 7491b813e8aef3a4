//! Binds and serves the simulator's two ports: HTTPS (BatonService over
//! gRPC and `POST /auth/v1/token`, HTTP/2 and HTTP/1.1) and the plain-HTTP
//! control API.

use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::AtomicUsize;
use std::time::Duration;

use axum::Router;
use axum::routing::post;
use rustls::ServerConfig;
use tokio::net::TcpListener;
use tokio::sync::{mpsc, watch};
use tokio_stream::wrappers::ReceiverStream;
use tonic::service::Routes;

use super::control;
use super::service::SimBatonService;
use super::state::SimState;
use super::tls::accept_tls;
use super::token::issue_token;
use baton::pb::c1::connectorapi::baton::v1::baton_service_server::BatonServiceServer;

/// Open connections get this long to wind down after a stop.
const STOP_GRACE: Duration = Duration::from_secs(2);
/// Handshaken connections waiting for the gRPC server to take them.
const ACCEPT_BACKLOG: usize = 64;

pub struct Ports {
    pub https: u16,
    pub control: u16,
    /// Counts the HTTPS connections open now.
    pub open: Arc<AtomicUsize>,
}

/// Binds both ports on 127.0.0.1, reports their addresses through `ready`,
/// then serves until `stop` turns true.
pub async fn serve(
    state: Arc<SimState>,
    tls: Arc<ServerConfig>,
    upload_dir: Option<PathBuf>,
    ports: Ports,
    ready: std::sync::mpsc::Sender<io::Result<(SocketAddr, SocketAddr)>>,
    mut stop: watch::Receiver<bool>,
) {
    let bound = async {
        let https = TcpListener::bind((Ipv4Addr::LOCALHOST, ports.https)).await?;
        let control = TcpListener::bind((Ipv4Addr::LOCALHOST, ports.control)).await?;
        Ok::<_, io::Error>((https, control))
    }
    .await;
    let (https, control_listener) = match bound.and_then(|(https, control)| {
        let addresses = (https.local_addr()?, control.local_addr()?);
        Ok(((https, control), addresses))
    }) {
        Ok((listeners, addresses)) => {
            // The starter may have given up waiting; serving anyway is harmless.
            let _ = ready.send(Ok(addresses));
            listeners
        }
        Err(err) => {
            let _ = ready.send(Err(err));
            return;
        }
    };

    let (streams_tx, streams_rx) = mpsc::channel(ACCEPT_BACKLOG);
    let acceptor = tokio::spawn(accept_tls(https, tls, streams_tx, ports.open));
    let grpc = BatonServiceServer::new(SimBatonService {
        state: state.clone(),
        upload_dir,
    });
    let token_route = Router::new()
        .route("/auth/v1/token", post(issue_token))
        .with_state(state.clone());
    let routes = Routes::from(Routes::new(grpc).into_axum_router().merge(token_route));
    let stopped = |mut stop: watch::Receiver<bool>| async move {
        // An error means the sender is gone, which is a stop as well.
        let _ = stop.wait_for(|stopped| *stopped).await;
    };
    let https_server = tonic::transport::Server::builder()
        .accept_http1(true)
        .add_routes(routes)
        .serve_with_incoming_shutdown(ReceiverStream::new(streams_rx), stopped(stop.clone()));
    let control_server = axum::serve(control_listener, control::router(state))
        .with_graceful_shutdown(stopped(stop.clone()));

    let servers = async {
        let (https_result, control_result) = tokio::join!(https_server, control_server);
        if let Err(err) = https_result {
            tracing::error!(error = %err, "simulator HTTPS server failed");
        }
        if let Err(err) = control_result {
            tracing::error!(error = %err, "simulator control server failed");
        }
    };
    tokio::select! {
        () = servers => {}
        () = async {
            let _ = stop.wait_for(|stopped| *stopped).await;
            tokio::time::sleep(STOP_GRACE).await;
        } => {}
    }
    acceptor.abort();
}
