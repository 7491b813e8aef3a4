//! Who may use the admin routes that show tenant details or act: with
//! `hub.admin_token`, callers presenting `Authorization: Bearer <token>`
//! (and, for the console, browsers signed in with it); without one, anyone
//! who can reach a loopback listener, read-only, and no one when the
//! listener is reachable from other hosts. Probes and scrapers use the open
//! routes (`/healthz`, `/readyz`, `/metrics`), which this never guards.

use std::net::SocketAddr;
use std::sync::Arc;

use arc_swap::ArcSwapOption;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use subtle::ConstantTimeEq;

use super::session::{self, Sessions};
use platform::secret::Secret;

/// The admin token in force (replaced on reload), where the endpoint
/// listens, and the console's signed-in browsers.
#[derive(Clone)]
pub struct AdminAccess {
    token: Arc<ArcSwapOption<Secret>>,
    listen: SocketAddr,
    sessions: Arc<Sessions>,
}

/// Who is looking at the console, which decides what it offers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Viewer {
    /// No `hub.admin_token`: anyone on this host may look, no one may act.
    ReadOnly,
    /// A browser signed in with the admin token; its forms carry this CSRF token.
    SignedIn { session: String, csrf: String },
    /// A script with `Authorization: Bearer`; it posts without a CSRF token,
    /// since no browser sends that header on its own.
    Bearer,
}

impl Viewer {
    pub fn may_act(&self) -> bool {
        !matches!(self, Self::ReadOnly)
    }
}

/// Why the console turns a caller away.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// There is an admin token and the caller did not present it.
    SignIn,
    /// No admin token and a listener other hosts reach: closed to all.
    Closed(String),
}

impl AdminAccess {
    pub fn new(token: Option<Secret>, listen: SocketAddr) -> Self {
        Self {
            token: Arc::new(ArcSwapOption::from(token.map(Arc::new))),
            listen,
            sessions: Arc::default(),
        }
    }

    /// Takes a reloaded config's token: rotation needs no restart, and a
    /// new token (or none) ends every console session.
    pub fn set_token(&self, token: Option<Secret>) {
        let old = self.token.swap(token.map(Arc::new));
        let new = self.token.load();
        let same = match (old.as_deref(), new.as_deref()) {
            (Some(old), Some(new)) => {
                bool::from(old.expose().as_bytes().ct_eq(new.expose().as_bytes()))
            }
            (None, None) => true,
            _ => false,
        };
        if !same {
            self.sessions.end_all();
        }
    }

    pub fn sessions(&self) -> &Sessions {
        &self.sessions
    }

    pub fn has_token(&self) -> bool {
        self.token.load().is_some()
    }

    /// True when `presented` is the admin token (compared in constant time).
    pub fn is_admin_token(&self, presented: &str) -> bool {
        self.token
            .load()
            .as_deref()
            .is_some_and(|token| bool::from(presented.as_bytes().ct_eq(token.expose().as_bytes())))
    }

    /// The console's rule: exactly `/status`'s, plus a signed-in session
    /// where a Bearer token is accepted.
    pub fn console_viewer(&self, headers: &HeaderMap) -> Result<Viewer, Refusal> {
        if !self.has_token() {
            return if self.listen.ip().is_loopback() {
                Ok(Viewer::ReadOnly)
            } else {
                Err(Refusal::Closed(self.closed_message()))
            };
        }
        if self.is_admin_token(bearer(headers)) {
            return Ok(Viewer::Bearer);
        }
        session::cookie_value(headers)
            .and_then(|id| {
                let csrf = self.sessions.csrf_of(&id)?;
                Some(Viewer::SignedIn { session: id, csrf })
            })
            .ok_or(Refusal::SignIn)
    }

    fn closed_message(&self) -> String {
        format!(
            "this admin endpoint listens on {} without hub.admin_token, so it serves only \
             /healthz, /readyz and /metrics; set hub.admin_token, or listen on 127.0.0.1",
            self.listen
        )
    }

    /// True when the guarded routes are refused to everyone: no token, and
    /// a listener other hosts can reach.
    pub fn guarded_routes_closed(&self) -> bool {
        self.token.load().is_none() && !self.listen.ip().is_loopback()
    }

    /// `Err` carries why the caller is refused, for the 401 body.
    fn admits(&self, headers: &HeaderMap) -> Result<(), String> {
        if !self.has_token() {
            if self.listen.ip().is_loopback() {
                return Ok(());
            }
            return Err(self.closed_message());
        }
        if self.is_admin_token(bearer(headers)) {
            Ok(())
        } else {
            Err("this route needs `Authorization: Bearer <hub.admin_token>`".to_owned())
        }
    }
}

/// The token of an `Authorization: Bearer` header, or "".
fn bearer(headers: &HeaderMap) -> &str {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.strip_prefix("Bearer "))
        .unwrap_or_default()
}

pub(crate) fn refusal(message: String) -> Response {
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
