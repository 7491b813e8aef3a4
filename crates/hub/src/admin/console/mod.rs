//! The operator console: server-rendered pages on the admin port (fleet,
//! tenant, hub), `/api/tenants/{id}` for scripts, and two actions ("sync
//! now", "reload config") behind the admin token and a CSRF token. Reading
//! follows `/status`'s rule; the pages work without JavaScript, which only
//! makes the filter live and refreshes on request.

mod actions;
pub mod fleet;
mod format;
mod html;
pub mod hub_view;
mod layout;
mod signin;
pub mod tenant;

use std::time::SystemTime;

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::Deserialize;

use super::AdminState;
use super::access::{Refusal, Viewer};
use fleet::FleetQuery;
use tenant::TenantPage;

const STYLE: &str = include_str!("console.css");
const SCRIPT: &str = include_str!("console.js");

/// Scripts and styles only from this origin, no framing, no referrer.
const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; style-src 'self'; script-src 'self'; img-src 'self'; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

pub fn routes() -> Router<AdminState> {
    Router::new()
        .route("/", get(fleet_page))
        .route("/hub", get(hub_page))
        .route("/hub/reload", post(actions::reload))
        .route("/tenants/{id}", get(tenant_page))
        .route("/tenants/{id}/sync", post(actions::sync_now))
        .route("/api/tenants/{id}", get(tenant_api))
        .route("/signin", get(actions::sign_in_form).post(actions::sign_in))
        .route("/signout", post(actions::sign_out))
        .route(
            "/console.css",
            get(|| asset("text/css; charset=utf-8", STYLE)),
        )
        .route(
            "/console.js",
            get(|| asset("text/javascript; charset=utf-8", SCRIPT)),
        )
}

async fn asset(content_type: &'static str, body: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, "no-cache"),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        ],
        body,
    )
        .into_response()
}

/// An HTML page with the headers every console page carries.
fn html_page(status: StatusCode, body: String) -> Response {
    let mut response = (status, body).into_response();
    let headers = response.headers_mut();
    for (name, value) in [
        (header::CONTENT_TYPE, "text/html; charset=utf-8"),
        (header::CACHE_CONTROL, "no-store"),
        (header::CONTENT_SECURITY_POLICY, CONTENT_SECURITY_POLICY),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::X_FRAME_OPTIONS, "DENY"),
        (header::REFERRER_POLICY, "no-referrer"),
    ] {
        headers.insert(name, HeaderValue::from_static(value));
    }
    response
}

/// A response that ends a request early (boxed: a `Response` is large).
type Refused = Box<Response>;

/// The viewer of a page, or the page that turns them away: the sign-in
/// form (401, as `/status` answers) or why the console is closed.
fn viewer_of(state: &AdminState, headers: &HeaderMap) -> Result<Viewer, Refused> {
    state.access.console_viewer(headers).map_err(|refusal| {
        let body = match refusal {
            Refusal::SignIn => signin::render(true, None),
            Refusal::Closed(why) => signin::closed(&why),
        };
        let mut response = html_page(StatusCode::UNAUTHORIZED, body);
        response
            .headers_mut()
            .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        Box::new(response)
    })
}

/// `?done=` after an action's redirect.
#[derive(Debug, Default, Deserialize)]
struct Done {
    done: Option<String>,
}

async fn fleet_page(
    State(state): State<AdminState>,
    headers: HeaderMap,
    Query(query): Query<FleetQuery>,
) -> Response {
    let viewer = match viewer_of(&state, &headers) {
        Ok(viewer) => viewer,
        Err(refused) => return *refused,
    };
    let now = SystemTime::now();
    let body = state
        .board
        .read_with(|board| fleet::render(board, &query, &viewer, now));
    html_page(StatusCode::OK, body)
}

async fn hub_page(
    State(state): State<AdminState>,
    headers: HeaderMap,
    Query(done): Query<Done>,
) -> Response {
    let viewer = match viewer_of(&state, &headers) {
        Ok(viewer) => viewer,
        Err(refused) => return *refused,
    };
    let now = SystemTime::now();
    let body = state.board.read_with(|board| {
        hub_view::render(board, &state.info, &viewer, done.done.as_deref(), now)
    });
    html_page(StatusCode::OK, body)
}

fn unknown_tenant(state: &AdminState, id: &str) -> String {
    let (replica, replicas) = state
        .board
        .read_with(|board| (board.replica, board.replicas));
    format!(
        "no tenant `{id}` on this hub (replica {replica} of {replicas}): check the id, or look on the replica that serves it"
    )
}

async fn tenant_page(
    State(state): State<AdminState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Query(done): Query<Done>,
) -> Response {
    let viewer = match viewer_of(&state, &headers) {
        Ok(viewer) => viewer,
        Err(refused) => return *refused,
    };
    let now = SystemTime::now();
    match state.board.read_with(|board| TenantPage::of(board, &id)) {
        Some(page) => html_page(
            StatusCode::OK,
            tenant::render(&page, &viewer, done.done.as_deref(), now),
        ),
        None => html_page(
            StatusCode::NOT_FOUND,
            signin::refused("No such tenant", &unknown_tenant(&state, &id), "/"),
        ),
    }
}

async fn tenant_api(
    State(state): State<AdminState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    match state.access.console_viewer(&headers) {
        Ok(_) => {}
        Err(Refusal::SignIn) => {
            return super::access::refusal(
                "this route needs `Authorization: Bearer <hub.admin_token>`".to_owned(),
            );
        }
        Err(Refusal::Closed(why)) => return super::access::refusal(why),
    }
    match state.board.read_with(|board| TenantPage::of(board, &id)) {
        Some(page) => axum::Json(page).into_response(),
        None => (
            StatusCode::NOT_FOUND,
            axum::Json(serde_json::json!({ "error": unknown_tenant(&state, &id) })),
        )
            .into_response(),
    }
}

#[cfg(test)]
mod tests;
