//! The admin HTTP endpoint, served by axum on the control-plane runtime so a
//! busy actor arbiter can never stall a probe: `/healthz` (the process is
//! alive), `/readyz` (config loaded and every assigned tenant started),
//! `/status` (JSON, never a secret), `/metrics` (Prometheus text) and
//! `POST /reload` (the same reload SIGHUP triggers), and the operator
//! [`console`] at `/`. `/status`, `/reload` and the console are guarded by
//! [`access`]; the probes and `/metrics` are always open.

mod access;
pub mod console;
mod session;

pub use crate::actors::supervisor::SyncNowError;
pub use access::{AdminAccess, Viewer};
pub use console::hub_view::HubInfo;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use futures::future::BoxFuture;

use crate::actors::status::StatusBoard;

/// Renders the Prometheus exposition text of the hub's metrics.
pub type MetricsRenderer = Arc<dyn Fn() -> String + Send + Sync>;

/// Asks the hub to reload its config; resolves to a JSON report or the error.
pub type ReloadTrigger =
    Arc<dyn Fn() -> BoxFuture<'static, Result<serde_json::Value, String>> + Send + Sync>;

/// Starts a sync of one tenant now; resolves once it has started.
pub type SyncTrigger =
    Arc<dyn Fn(String) -> BoxFuture<'static, Result<(), SyncNowError>> + Send + Sync>;

#[derive(Clone)]
pub struct AdminState {
    pub board: StatusBoard,
    pub metrics: MetricsRenderer,
    pub reload: ReloadTrigger,
    pub sync_now: SyncTrigger,
    pub access: AdminAccess,
    pub info: HubInfo,
}

pub fn router(state: AdminState) -> Router {
    let guarded = Router::new()
        .route("/status", get(status))
        .route("/reload", post(reload))
        .route_layer(axum::middleware::from_fn_with_state(
            state.access.clone(),
            access::require_admin,
        ));
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .merge(guarded)
        .merge(console::routes())
        .with_state(state)
}

/// Binds the admin listener; a taken port is reported before anything starts.
pub async fn bind(addr: SocketAddr) -> std::io::Result<tokio::net::TcpListener> {
    tokio::net::TcpListener::bind(addr).await.map_err(|err| {
        std::io::Error::new(
            err.kind(),
            format!(
                "cannot listen on {addr} for the admin endpoint: {err}; change hub.admin_listen"
            ),
        )
    })
}

/// Serves until `shutdown` resolves.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: AdminState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router(state))
        .with_graceful_shutdown(shutdown)
        .await
}

async fn healthz() -> &'static str {
    "ok\n"
}

async fn readyz(State(state): State<AdminState>) -> Response {
    if state.board.is_ready() {
        (StatusCode::OK, "ready\n").into_response()
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            "starting: not every tenant has started yet\n",
        )
            .into_response()
    }
}

async fn status(State(state): State<AdminState>) -> Response {
    axum::Json(state.board.to_json()).into_response()
}

async fn metrics(State(state): State<AdminState>) -> Response {
    let text = (state.metrics)();
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        text,
    )
        .into_response()
}

async fn reload(State(state): State<AdminState>) -> Response {
    match (state.reload)().await {
        Ok(report) => axum::Json(report).into_response(),
        Err(error) => (
            StatusCode::UNPROCESSABLE_ENTITY,
            axum::Json(serde_json::json!({ "ok": false, "error": error })),
        )
            .into_response(),
    }
}
