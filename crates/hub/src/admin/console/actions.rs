//! The console's POSTs: "sync now", "reload config", sign in and out. An
//! action needs the admin token: a Bearer header, or a signed-in session
//! whose form carries that session's CSRF token.

use axum::Form;
use axum::extract::rejection::FormRejection;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use super::layout::READ_ONLY_WHY;
use super::{Refused, html_page, signin, unknown_tenant};
use crate::admin::access::{Refusal, Viewer};
use crate::admin::session::{self, csrf_matches};
use crate::admin::{AdminState, SyncNowError};

#[derive(Debug, Default, Deserialize)]
pub struct ActionForm {
    #[serde(default)]
    csrf: String,
}

#[derive(Deserialize)]
pub struct SignInForm {
    #[serde(default)]
    token: String,
}

/// A refused action: HTML for a browser, plain text for a script.
fn refuse(
    viewer: Option<&Viewer>,
    status: StatusCode,
    title: &str,
    why: &str,
    back: &str,
) -> Response {
    if viewer == Some(&Viewer::Bearer) {
        return (
            status,
            axum::Json(serde_json::json!({ "ok": false, "error": why })),
        )
            .into_response();
    }
    html_page(status, signin::refused(title, why, back))
}

/// Who may act, or the answer that says why not.
fn actor(
    state: &AdminState,
    headers: &HeaderMap,
    form: Result<Form<ActionForm>, FormRejection>,
    back: &str,
) -> Result<Viewer, Refused> {
    let viewer = match state.access.console_viewer(headers) {
        Ok(viewer) => viewer,
        Err(Refusal::SignIn) => {
            return Err(Box::new(refuse(
                None,
                StatusCode::UNAUTHORIZED,
                "Sign in first",
                "this action needs the admin token: sign in, or send `Authorization: Bearer <hub.admin_token>`",
                "/signin",
            )));
        }
        Err(Refusal::Closed(why)) => {
            return Err(Box::new(refuse(
                None,
                StatusCode::UNAUTHORIZED,
                "Console closed",
                &why,
                "/",
            )));
        }
    };
    match &viewer {
        Viewer::ReadOnly => Err(Box::new(refuse(
            None,
            StatusCode::FORBIDDEN,
            "Read-only",
            READ_ONLY_WHY,
            back,
        ))),
        Viewer::Bearer => Ok(viewer),
        Viewer::SignedIn { csrf, .. } => {
            let submitted = form.map(|Form(form)| form.csrf).unwrap_or_default();
            if csrf_matches(csrf, &submitted) {
                Ok(viewer)
            } else {
                Err(Box::new(refuse(
                    Some(&viewer),
                    StatusCode::FORBIDDEN,
                    "Not done",
                    "the form's CSRF token does not match your session (an old page, or a request from another site): reload the page and try again",
                    back,
                )))
            }
        }
    }
}

pub async fn sync_now(
    State(state): State<AdminState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    form: Result<Form<ActionForm>, FormRejection>,
) -> Response {
    let back = format!("/tenants/{id}");
    let viewer = match actor(&state, &headers, form, &back) {
        Ok(viewer) => viewer,
        Err(refused) => return *refused,
    };
    match (state.sync_now)(id.clone()).await {
        Ok(()) => {
            tracing::info!(tenant = %id, by = viewer_label(&viewer), "sync now: started from the admin endpoint");
            done(
                &viewer,
                &format!("{back}?done=sync-started"),
                "sync started",
            )
        }
        Err(SyncNowError::UnknownTenant) => refuse(
            Some(&viewer),
            StatusCode::NOT_FOUND,
            "No such tenant",
            &unknown_tenant(&state, &id),
            "/",
        ),
        Err(SyncNowError::Refused(why)) => refuse(
            Some(&viewer),
            StatusCode::CONFLICT,
            "Sync not started",
            &why,
            &back,
        ),
    }
}

pub async fn reload(
    State(state): State<AdminState>,
    headers: HeaderMap,
    form: Result<Form<ActionForm>, FormRejection>,
) -> Response {
    let viewer = match actor(&state, &headers, form, "/hub") {
        Ok(viewer) => viewer,
        Err(refused) => return *refused,
    };
    match (state.reload)().await {
        Ok(_) => done(&viewer, "/hub?done=reloaded", "config reloaded"),
        Err(why) => refuse(
            Some(&viewer),
            StatusCode::UNPROCESSABLE_ENTITY,
            "Config not reloaded",
            &why,
            "/hub",
        ),
    }
}

fn viewer_label(viewer: &Viewer) -> &'static str {
    match viewer {
        Viewer::Bearer => "bearer token",
        Viewer::SignedIn { .. } => "console session",
        Viewer::ReadOnly => "read-only viewer",
    }
}

/// A browser goes back to the page with a notice; a script gets JSON.
fn done(viewer: &Viewer, location: &str, message: &str) -> Response {
    if *viewer == Viewer::Bearer {
        return (
            StatusCode::ACCEPTED,
            axum::Json(serde_json::json!({ "ok": true, "message": message })),
        )
            .into_response();
    }
    Redirect::to(location).into_response()
}

pub async fn sign_in_form(State(state): State<AdminState>) -> Response {
    html_page(
        StatusCode::OK,
        signin::render(state.access.has_token(), None),
    )
}

pub async fn sign_in(
    State(state): State<AdminState>,
    form: Result<Form<SignInForm>, FormRejection>,
) -> Response {
    let presented = form.map(|Form(form)| form.token).unwrap_or_default();
    let access = &state.access;
    if !access.has_token() {
        return html_page(StatusCode::NOT_FOUND, signin::render(false, None));
    }
    if !access.is_admin_token(presented.trim()) {
        tracing::warn!("console sign-in refused: the token presented is not hub.admin_token");
        return html_page(
            StatusCode::UNAUTHORIZED,
            signin::render(
                true,
                Some(
                    "That is not this hub's admin token (hub.admin_token). Check for a rotated token.",
                ),
            ),
        );
    }
    let (id, _) = access.sessions().create();
    let mut response = Redirect::to("/").into_response();
    if let Ok(cookie) = HeaderValue::from_str(&session::set_cookie(&id)) {
        response.headers_mut().insert(header::SET_COOKIE, cookie);
    }
    response
}

pub async fn sign_out(
    State(state): State<AdminState>,
    headers: HeaderMap,
    form: Result<Form<ActionForm>, FormRejection>,
) -> Response {
    if let Ok(Viewer::SignedIn { session, csrf }) = state.access.console_viewer(&headers) {
        let submitted = form.map(|Form(form)| form.csrf).unwrap_or_default();
        if !csrf_matches(&csrf, &submitted) {
            return refuse(
                None,
                StatusCode::FORBIDDEN,
                "Not signed out",
                "the form's CSRF token does not match your session: reload the page and try again",
                "/",
            );
        }
        state.access.sessions().end(&session);
    }
    let mut response = Redirect::to("/signin").into_response();
    if let Ok(cookie) = HeaderValue::from_str(&session::clear_cookie()) {
        response.headers_mut().insert(header::SET_COOKIE, cookie);
    }
    response
}
