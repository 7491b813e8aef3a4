//! Groups: the list, single groups, members by path (which names with `/`
//! cannot reach) and by query parameter (10.2), nested-group reads (always
//! empty: the simulated directory does not nest), and membership writes
//! `PUT`/`DELETE /rest/api/user/{username}/group/{groupName}`.

use std::sync::Arc;

use axum::Extension;
use axum::extract::{Path, State};
use axum::http::Uri;
use axum::response::Response;

use super::{
    Done, Failure, RouteName, admin_caller, capped_page, finish, licensed_caller, link_context,
};
use crate::confluence::app::App;
use crate::confluence::auth::Caller;
use crate::confluence::errors::{empty, json_response, xml_status};
use crate::confluence::mutation::MutationAction;
use crate::confluence::pagination::Page;
use crate::confluence::params::Params;
use crate::confluence::render::GroupJson;

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
    let groups = state.groups();
    let results: Vec<GroupJson<'_>> = groups[request.range(groups.len())]
        .iter()
        .map(|group| app.render.group(&group.name, false))
        .collect();
    json_response(
        200,
        &Page::of_listing(
            results,
            &request,
            groups.len(),
            &link_context(&app, &uri, &params),
        ),
    )
}

pub(super) async fn single_by_path(
    State(app): State<Arc<App>>,
    Extension(caller): Extension<Caller>,
    Path(group): Path<String>,
) -> Response {
    single(&app, &caller, &group)
}

/// `GET /rest/api/group/info?name=` (10.2).
pub(super) async fn single_by_query(
    State(app): State<Arc<App>>,
    Extension(caller): Extension<Caller>,
    params: Params,
) -> Response {
    match params.get("name") {
        Some(name) => single(&app, &caller, name),
        None => Failure::new(400, "The name parameter is required").response(),
    }
}

fn single(app: &App, caller: &Caller, name: &str) -> Response {
    let state = app.read();
    if let Err(failure) = licensed_caller(&state, caller) {
        return failure.response();
    }
    match state.group_index(name) {
        Some(group) => json_response(200, &app.render.group(&state.group(group).name, true)),
        None => Failure::new(404, format!("No group found with name {name}")).response(),
    }
}

pub(super) async fn members_by_path(
    State(app): State<Arc<App>>,
    Extension(caller): Extension<Caller>,
    Path(group): Path<String>,
    params: Params,
    uri: Uri,
) -> Response {
    members(&app, &caller, &group, &params, &uri)
}

/// `GET /rest/api/group/member?name=` (10.2): reaches names with `/`.
pub(super) async fn members_by_query(
    State(app): State<Arc<App>>,
    Extension(caller): Extension<Caller>,
    params: Params,
    uri: Uri,
) -> Response {
    match params.get("name") {
        Some(name) => members(&app, &caller, name, &params, &uri),
        None => Failure::new(400, "The name parameter is required").response(),
    }
}

fn members(app: &App, caller: &Caller, name: &str, params: &Params, uri: &Uri) -> Response {
    let state = app.read();
    if app.quirks.member_read_requires_admin {
        // CONFSERVER-98582: not 403 JSON but 401 with an XML body.
        if !caller
            .index(&state)
            .is_some_and(|user| state.is_admin(user))
        {
            return xml_status(401, "Client must be authenticated to access this resource.");
        }
    } else if let Err(failure) = licensed_caller(&state, caller) {
        return failure.response();
    }
    let Some(group) = state.group_index(name) else {
        return Failure::new(404, format!("No group found with name {name}")).response();
    };
    let request = match capped_page(app, params) {
        Ok(request) => request,
        Err(failure) => return failure.response(),
    };
    let expand_status = params.expands("status");
    let members = &state.group(group).members;
    let results = members[request.range(members.len())]
        .iter()
        .map(|&user| app.render.user(state.user(user), expand_status, false))
        .collect();
    json_response(
        200,
        &Page::of_listing(
            results,
            &request,
            members.len(),
            &link_context(app, uri, params),
        ),
    )
}

pub(super) async fn nested_by_path(
    State(app): State<Arc<App>>,
    Extension(caller): Extension<Caller>,
    Path(group): Path<String>,
    params: Params,
    uri: Uri,
) -> Response {
    nested(&app, &caller, &group, &params, &uri)
}

pub(super) async fn nested_by_query(
    State(app): State<Arc<App>>,
    Extension(caller): Extension<Caller>,
    params: Params,
    uri: Uri,
) -> Response {
    match params.get("name") {
        Some(name) => nested(&app, &caller, name, &params, &uri),
        None => Failure::new(400, "The name parameter is required").response(),
    }
}

/// Child, parent or ancestor groups: none, since the directory does not nest.
fn nested(app: &App, caller: &Caller, name: &str, params: &Params, uri: &Uri) -> Response {
    let state = app.read();
    if let Err(failure) = licensed_caller(&state, caller) {
        return failure.response();
    }
    if state.group_index(name).is_none() {
        return Failure::new(404, format!("No group found with name {name}")).response();
    }
    let request = match capped_page(app, params) {
        Ok(request) => request,
        Err(failure) => return failure.response(),
    };
    let results: Vec<GroupJson<'_>> = Vec::new();
    json_response(
        200,
        &Page::of_listing(results, &request, 0, &link_context(app, uri, params)),
    )
}

pub(super) async fn add_member(
    State(app): State<Arc<App>>,
    Extension(caller): Extension<Caller>,
    route: RouteName,
    Path((username, group)): Path<(String, String)>,
) -> Response {
    change_membership(&app, &caller, route, username, group, true)
}

pub(super) async fn remove_member(
    State(app): State<Arc<App>>,
    Extension(caller): Extension<Caller>,
    route: RouteName,
    Path((username, group)): Path<(String, String)>,
) -> Response {
    change_membership(&app, &caller, route, username, group, false)
}

/// `204` whether or not the membership already was as asked.
fn change_membership(
    app: &App,
    caller: &Caller,
    route: RouteName,
    username: String,
    group: String,
    add: bool,
) -> Response {
    let mut state = app.write();
    let outcome = admin_caller(&state, caller).and_then(|_| {
        let user = state
            .user_by_name(&username)
            .ok_or_else(|| Failure::new(404, format!("No user found with username {username}")))?;
        let group_index = state
            .group_index(&group)
            .ok_or_else(|| Failure::new(404, format!("No group found with name {group}")))?;
        let changed = if add {
            state.add_member(user, group_index)
        } else {
            state.remove_member(user, group_index)
        };
        Ok(Done {
            changed,
            response: empty(204),
        })
    });
    let action = if add {
        MutationAction::AddGroupMember { username, group }
    } else {
        MutationAction::RemoveGroupMember { username, group }
    };
    finish(&mut state, route, caller, action, outcome)
}
