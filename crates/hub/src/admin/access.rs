//! Who may use the admin routes that show tenant details or act: with
//! `hub.admin_token`, callers presenting `Authorization: Bearer <token>`;
//! without one, anyone who can reach a loopback listener, and no one when
//! the listener is reachable from other hosts. Probes and scrapers use the
//! open routes (`/healthz`, `/readyz`, `/metrics`), which this never guards.

use std::net::SocketAddr;
use std::sync::Arc;

use arc_swap::ArcSwapOption;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use subtle::ConstantTimeEq;

use platform::secret::Secret;

/// The admin token in force (replaced on reload) and where the endpoint listens.
#[derive(Clone)]
pub struct AdminAccess {
    token: Arc<ArcSwapOption<Secret>>,
    listen: SocketAddr,
}

impl AdminAccess {
    pub fn new(token: Option<Secret>, listen: SocketAddr) -> Self {
        Self {
            token: Arc::new(ArcSwapOption::from(token.map(Arc::new))),
            listen,
        }
    }

    /// Takes a reloaded config's token: rotation needs no restart.
    pub fn set_token(&self, token: Option<Secret>) {
        self.token.store(token.map(Arc::new));
    }

    /// True when the guarded routes are refused to everyone: no token, and
    /// a listener other hosts can reach.
    pub fn guarded_routes_closed(&self) -> bool {
        self.token.load().is_none() && !self.listen.ip().is_loopback()
    }

    /// `Err` carries why the caller is refused, for the 401 body.
    fn admits(&self, headers: &HeaderMap) -> Result<(), String> {
        let Some(token) = self.token.load_full() else {
            if self.listen.ip().is_loopback() {
                return Ok(());
            }
            return Err(format!(
                "this admin endpoint listens on {} without hub.admin_token, so it serves only \
                 /healthz, /readyz and /metrics; set hub.admin_token, or listen on 127.0.0.1",
                self.listen
            ));
        };
        let presented = headers
            .get(header::AUTHORIZATION)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.strip_prefix("Bearer "))
            .unwrap_or_default();
        if bool::from(presented.as_bytes().ct_eq(token.expose().as_bytes())) {
            Ok(())
        } else {
            Err("this route needs `Authorization: Bearer <hub.admin_token>`".to_owned())
        }
    }
}

fn refusal(message: String) -> Response {
    (
        StatusCode::UNAUTHORIZED,
        [(header::WWW_AUTHENTICATE, "Bearer")],
        format!("{message}\n"),
    )
        .into_response()
}

/// Middleware for the guarded routes.
pub async fn require_admin(
    State(access): State<AdminAccess>,
    request: Request,
    next: Next,
) -> Response {
    match access.admits(request.headers()) {
        Ok(()) => next.run(request).await,
        Err(why) => refusal(why),
    }
}
