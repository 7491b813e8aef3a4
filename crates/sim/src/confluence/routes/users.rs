//! User reads: the caller (`/user/current`, known or anonymous), single users
//! by key or username (deleted keys answer as `unknown`), the full list with
//! `expand=status`, a user's groups (`/user/memberof`) and the admin list of
//! active users.

use std::sync::Arc;

use axum::Extension;
use axum::extract::State;
use axum::http::Uri;
use axum::response::Response;

use super::{Failure, admin_caller, capped_page, licensed_caller, link_context};
use crate::confluence::app::App;
use crate::confluence::auth::Caller;
use crate::confluence::errors::json_response;
use crate::confluence::options::UnknownUserLookup;
use crate::confluence::pagination::Page;
use crate::confluence::params::Params;
use crate::confluence::state::State as SimState;

pub(super) async fn current(
    State(app): State<Arc<App>>,
    Extension(caller): Extension<Caller>,
    params: Params,
) -> Response {
    let state = app.read();
    match caller.index(&state) {
        Some(user) => json_response(
            200,
            &app.render
                .user(state.user(user), params.expands("status"), true),
        ),
        None => json_response(200, &app.render.anonymous()),
    }
}

pub(super) async fn anonymous(State(app): State<Arc<App>>) -> Response {
    json_response(200, &app.render.anonymous())
}

/// `GET /rest/api/user?key=` or `?username=`.
pub(super) async fn single(
    State(app): State<Arc<App>>,
    Extension(caller): Extension<Caller>,
    params: Params,
) -> Response {
    let state = app.read();
    if let Err(failure) = licensed_caller(&state, &caller) {
        return failure.response();
    }
    let expand_status = params.expands("status");
    let (user, unknown) = match (params.get("key"), params.get("username")) {
        (Some(key), _) => (state.user_by_key(key), state.unknown_by_key(key)),
        (None, Some(username)) => (
            state.user_by_name(username),
            state.unknown_by_name(username),
        ),
        (None, None) => return Failure::new(400, "Either key or username is required").response(),
    };
    match (user, unknown) {
        (Some(user), _) => {
            json_response(200, &app.render.user(state.user(user), expand_status, true))
        }
        (None, Some(unknown))
            if app.quirks.unknown_user_lookup == UnknownUserLookup::UnknownType =>
        {
            json_response(200, &app.render.unknown_user(unknown, true))
        }
        _ => Failure::new(404, "No user found").response(),
    }
}

/// `GET /rest/api/user/list`: every user, deactivated ones included.
pub(super) async fn list(
    State(app): State<Arc<App>>,
    Extension(caller): Extension<Caller>,
    params: Params,
    uri: Uri,
) -> Response {
    let state = app.read();
    if let Err(failure) = licensed_caller(&state, &caller) {
        return failure.response();
    }
    let request = match capped_page(&app, &params) {
        Ok(request) => request,
        Err(failure) => return failure.response(),
    };
    let expand_status = params.expands("status");
    let users = state.users();
    let results = users[request.range(users.len())]
        .iter()
        .map(|record| app.render.user(&record.user, expand_status, false))
        .collect();
    let links = link_context(&app, &uri, &params);
    json_response(
        200,
        &Page::of_listing(results, &request, users.len(), &links),
    )
}

/// `GET /rest/api/user/memberof?key=|username=`: the user's groups.
pub(super) async fn member_of(
    State(app): State<Arc<App>>,
    Extension(caller): Extension<Caller>,
    params: Params,
    uri: Uri,
) -> Response {
    let state = app.read();
    if let Err(failure) = licensed_caller(&state, &caller) {
        return failure.response();
    }
    let user = match (params.get("key"), params.get("username")) {
        (Some(key), _) => state.user_by_key(key),
        (None, Some(username)) => state.user_by_name(username),
        (None, None) => return Failure::new(400, "Either key or username is required").response(),
    };
    let Some(user) = user else {
        return Failure::new(404, "No user found").response();
    };
    let request = match capped_page(&app, &params) {
        Ok(request) => request,
        Err(failure) => return failure.response(),
    };
    let groups = &state.user_record(user).groups;
    let range = request.range(groups.len());
    let results = groups
        .iter()
        .skip(range.start)
        .take(range.len())
        .map(|&group| app.render.group(&state.group(group).name, false))
        .collect();
    let links = link_context(&app, &uri, &params);
    json_response(
        200,
        &Page::of_listing(results, &request, groups.len(), &links),
    )
}

/// `GET /rest/api/admin/users/list/active`: licensed, active users, with
/// email whatever the visibility setting, and `totalCount`.
pub(super) async fn active_list(
    State(app): State<Arc<App>>,
    Extension(caller): Extension<Caller>,
    params: Params,
    uri: Uri,
) -> Response {
    let state = app.read();
    if let Err(failure) = admin_caller(&state, &caller) {
        return failure.response();
    }
    let request = match capped_page(&app, &params) {
        Ok(request) => request,
        Err(failure) => return failure.response(),
    };
    let active: Vec<usize> = active_licensed(&state);
    let results = active[request.range(active.len())]
        .iter()
        .map(|&user| app.render.active_user(state.user(user)))
        .collect();
    let links = link_context(&app, &uri, &params);
    let mut page = Page::of_listing(results, &request, active.len(), &links);
    page.total_count = Some(active.len());
    json_response(200, &page)
}

fn active_licensed(state: &SimState) -> Vec<usize> {
    (0..state.users().len())
        .filter(|&user| state.user(user).active && state.is_licensed(user))
        .collect()
}
