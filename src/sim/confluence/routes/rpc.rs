//! The JSON-RPC remote API (`/rpc/json-rpc/confluenceservice-v2`) in both
//! modes: light (method in the path, JSON array of positional arguments, bare
//! result) and JSON-RPC 2.0. It needs `Content-Type: application/json` and
//! the Remote API switch; errors come back inside the body, usually with 200.
//! Space permissions here speak usernames, not keys (docs/confluence-api-notes.md §6.2).

use std::sync::Arc;

use axum::Extension;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, header};
use axum::response::Response;
use serde_json::{Value, json};

use super::admin::{NewUser, validate_new_user};
use crate::baton::model::SpacePermission;
use crate::sim::confluence::app::App;
use crate::sim::confluence::auth::Caller;
use crate::sim::confluence::errors::{json_response, plain};
use crate::sim::confluence::mutation::{Api, Mutation, MutationAction, Subject};
use crate::sim::confluence::options::{RpcEntityOrder, UnknownUserRpcName};
use crate::sim::confluence::render::{PermissionSetJson, RpcPermissionJson};
use crate::sim::confluence::state::{Holder, State as SimState};

/// JSON-RPC 2.0 error codes, plus one for exceptions thrown by Confluence.
const PARSE_ERROR: i64 = -32700;
const INVALID_REQUEST: i64 = -32600;
const METHOD_NOT_FOUND: i64 = -32601;
const INVALID_PARAMS: i64 = -32602;
const SERVER_EXCEPTION: i64 = -32000;

#[derive(Debug)]
struct RpcError {
    code: i64,
    message: String,
}

impl RpcError {
    fn invalid_params(message: impl Into<String>) -> RpcError {
        RpcError {
            code: INVALID_PARAMS,
            message: message.into(),
        }
    }

    /// The message carries the Java exception, as Confluence's does.
    fn remote(message: impl AsRef<str>) -> RpcError {
        RpcError {
            code: SERVER_EXCEPTION,
            message: format!(
                "com.atlassian.confluence.rpc.RemoteException: {}",
                message.as_ref()
            ),
        }
    }

    fn not_permitted(message: impl AsRef<str>) -> RpcError {
        RpcError {
            code: SERVER_EXCEPTION,
            message: format!(
                "com.atlassian.confluence.rpc.NotPermittedException: {}",
                message.as_ref()
            ),
        }
    }

    fn to_json(&self) -> Value {
        json!({"code": self.code, "message": self.message})
    }
}

/// Refusals that happen before any method runs.
fn gate(app: &App, headers: &HeaderMap) -> Option<Response> {
    if !app.remote_api_enabled {
        return Some(plain(
            app.quirks.remote_api_disabled_status,
            "The Remote API is disabled",
        ));
    }
    let json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.split(';').next())
        .is_some_and(|media| media.trim().eq_ignore_ascii_case("application/json"));
    (!json).then(|| plain(415, "JSON-RPC requests need Content-Type: application/json"))
}

/// `POST /rpc/json-rpc/confluenceservice-v2/<method>` with a JSON array body.
pub(super) async fn light_mode(
    State(app): State<Arc<App>>,
    Extension(caller): Extension<Caller>,
    Path(method): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Some(refusal) = gate(&app, &headers) {
        return refusal;
    }
    let error_status = app.quirks.rpc_light_error_status;
    let params = if body.iter().all(u8::is_ascii_whitespace) {
        Ok(Vec::new())
    } else {
        match serde_json::from_slice::<Value>(&body) {
            Ok(Value::Array(params)) => Ok(params),
            Ok(_) => Err(RpcError {
                code: INVALID_REQUEST,
                message: "The body must be a JSON array".into(),
            }),
            Err(error) => Err(RpcError {
                code: PARSE_ERROR,
                message: error.to_string(),
            }),
        }
    };
    match params.and_then(|params| call(&app, &caller, &method, &params, error_status)) {
        Ok(result) => json_response(200, &result),
        Err(error) => json_response(error_status, &json!({"error": error.to_json()})),
    }
}

/// `POST /rpc/json-rpc/confluenceservice-v2` with a JSON-RPC 2.0 request.
pub(super) async fn full_mode(
    State(app): State<Arc<App>>,
    Extension(caller): Extension<Caller>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Some(refusal) = gate(&app, &headers) {
        return refusal;
    }
    let request = match serde_json::from_slice::<Value>(&body) {
        Ok(request) => request,
        Err(error) => {
            let error = RpcError {
                code: PARSE_ERROR,
                message: error.to_string(),
            };
            return json_response(
                200,
                &json!({"jsonrpc": "2.0", "id": null, "error": error.to_json()}),
            );
        }
    };
    let id = request.get("id").cloned().unwrap_or(Value::Null);
    let outcome = match (
        request.get("jsonrpc").and_then(Value::as_str),
        request.get("method").and_then(Value::as_str),
    ) {
        (Some("2.0"), Some(method)) => match request.get("params") {
            None => call(&app, &caller, method, &[], 200),
            Some(Value::Array(params)) => call(&app, &caller, method, params, 200),
            Some(_) => Err(RpcError::invalid_params(
                "params must be an array of positional arguments",
            )),
        },
        _ => Err(RpcError {
            code: INVALID_REQUEST,
            message: "Not a JSON-RPC 2.0 request".into(),
        }),
    };
    match outcome {
        Ok(result) => json_response(200, &json!({"jsonrpc": "2.0", "id": id, "result": result})),
        Err(error) => json_response(
            200,
            &json!({"jsonrpc": "2.0", "id": id, "error": error.to_json()}),
        ),
    }
}

fn call(
    app: &App,
    caller: &Caller,
    method: &str,
    params: &[Value],
    error_status: u16,
) -> Result<Value, RpcError> {
    if let Some(result) = read_method(app, &app.read(), caller, method, params) {
        return result;
    }
    let mut state = app.write();
    let Some((action, outcome)) = write_method(app, &mut state, caller, method, params) else {
        return Err(RpcError {
            code: METHOD_NOT_FOUND,
            message: format!("No such method: {method}"),
        });
    };
    let (status, error, changed) = match &outcome {
        Ok((_, changed)) => (200, None, *changed),
        Err(error) => (error_status, Some(error.message.clone()), false),
    };
    state.record(Mutation {
        sequence: 0,
        api: Api::JsonRpc,
        route: method.to_owned(),
        caller: caller.username().map(str::to_owned),
        action,
        status,
        error,
        changed,
    });
    outcome.map(|(value, _)| value)
}

// ---- parameters ----

fn string_at<'a>(params: &'a [Value], index: usize, name: &str) -> Result<&'a str, RpcError> {
    params.get(index).and_then(Value::as_str).ok_or_else(|| {
        RpcError::invalid_params(format!("argument {index} ({name}) must be a string"))
    })
}

fn strings_at<'a>(params: &'a [Value], index: usize, name: &str) -> Result<Vec<&'a str>, RpcError> {
    params
        .get(index)
        .and_then(Value::as_array)
        .and_then(|items| items.iter().map(Value::as_str).collect::<Option<Vec<_>>>())
        .ok_or_else(|| {
            RpcError::invalid_params(format!(
                "argument {index} ({name}) must be an array of strings"
            ))
        })
}

/// For the log: the argument as sent, or empty.
fn text_at(params: &[Value], index: usize) -> String {
    params
        .get(index)
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned()
}

fn texts_at(params: &[Value], index: usize) -> Vec<String> {
    match params.get(index) {
        Some(Value::Array(items)) => items
            .iter()
            .filter_map(Value::as_str)
            .map(str::to_owned)
            .collect(),
        Some(Value::String(single)) => vec![single.clone()],
        _ => Vec::new(),
    }
}

fn legacy_permissions(keys: &[&str]) -> Result<Vec<SpacePermission>, RpcError> {
    keys.iter()
        .map(|key| {
            SpacePermission::from_legacy_key(key)
                .ok_or_else(|| RpcError::remote(format!("Unknown permission type: {key}")))
        })
        .collect()
}

// ---- callers and names ----

fn known_caller(state: &SimState, caller: &Caller) -> Result<usize, RpcError> {
    caller
        .index(state)
        .ok_or_else(|| RpcError::not_permitted("Anonymous users are not permitted to do this"))
}

fn admin_caller(state: &SimState, caller: &Caller) -> Result<usize, RpcError> {
    let user = known_caller(state, caller)?;
    if state.is_admin(user) {
        Ok(user)
    } else {
        Err(RpcError::not_permitted(
            "You are not a Confluence administrator",
        ))
    }
}

fn space_for_admin(state: &SimState, caller: &Caller, key: &str) -> Result<usize, RpcError> {
    let user = known_caller(state, caller)?;
    let space = state
        .space_index(key)
        .ok_or_else(|| RpcError::remote(format!("No space found for space key: {key}")))?;
    if state.can_administer_space(user, space) {
        Ok(space)
    } else {
        Err(RpcError::not_permitted(format!(
            "You do not have permission to administer space {key}"
        )))
    }
}

/// A `remoteEntityName`: a username or a group name, tried in the configured order.
fn resolve_entity(app: &App, state: &SimState, name: &str) -> Option<(Holder, Subject)> {
    let as_user = || {
        state.user_by_name(name).map(|user| {
            let user = state.user(user);
            (
                Holder::User(user.user_key.clone()),
                Subject::user(&user.user_key, &user.username),
            )
        })
    };
    let as_group = || {
        state.group_index(name).map(|group| {
            let name = &state.group(group).name;
            (Holder::Group(name.clone()), Subject::group(name))
        })
    };
    match app.quirks.rpc_entity_order {
        RpcEntityOrder::UserFirst => as_user().or_else(as_group),
        RpcEntityOrder::GroupFirst => as_group().or_else(as_user),
    }
}

/// The `userName` JSON-RPC reports for a stored user key.
fn rpc_username<'a>(app: &App, state: &'a SimState, key: &'a str) -> Option<&'a str> {
    if let Some(user) = state.user_by_key(key) {
        return Some(&state.user(user).username);
    }
    match app.quirks.unknown_user_rpc_name {
        UnknownUserRpcName::Username => state
            .unknown_by_key(key)
            .map(|unknown| unknown.username.as_str()),
        UnknownUserRpcName::Null => None,
        UnknownUserRpcName::UserKey => Some(key),
    }
}

fn permission_set<'a>(
    app: &App,
    state: &'a SimState,
    space: usize,
    permission: SpacePermission,
) -> PermissionSetJson<'a> {
    let kind = permission.legacy_key();
    let space_permissions = state
        .space(space)
        .grants
        .iter()
        .filter(|grant| grant.permission == permission)
        .map(|grant| match &grant.holder {
            Holder::User(key) => RpcPermissionJson {
                group_name: None,
                kind,
                user_name: rpc_username(app, state, key),
            },
            Holder::Group(name) => RpcPermissionJson {
                group_name: Some(name),
                kind,
                user_name: None,
            },
            Holder::Anonymous => RpcPermissionJson {
                group_name: None,
                kind,
                user_name: None,
            },
        })
        .collect();
    PermissionSetJson {
        kind,
        space_permissions,
    }
}

fn to_value<T: serde::Serialize>(value: T) -> Result<Value, RpcError> {
    serde_json::to_value(value).map_err(|error| RpcError::remote(error.to_string()))
}

fn legacy_keys(permissions: impl IntoIterator<Item = SpacePermission>) -> Value {
    Value::from(
        permissions
            .into_iter()
            .map(SpacePermission::legacy_key)
            .collect::<Vec<_>>(),
    )
}

// ---- methods ----

/// Methods that only read; `None` if `method` is not one of them.
fn read_method(
    app: &App,
    state: &SimState,
    caller: &Caller,
    method: &str,
    params: &[Value],
) -> Option<Result<Value, RpcError>> {
    let result = match method {
        "getSpacePermissionSets" => string_at(params, 0, "spaceKey").and_then(|key| {
            let space = space_for_admin(state, caller, key)?;
            to_value(
                SpacePermission::all()
                    .map(|permission| permission_set(app, state, space, permission))
                    .collect::<Vec<_>>(),
            )
        }),
        "getSpacePermissionSet" => string_at(params, 0, "spaceKey").and_then(|key| {
            let kind = string_at(params, 1, "permissionType")?;
            let space = space_for_admin(state, caller, key)?;
            let permission = legacy_permissions(&[kind])?[0];
            to_value(permission_set(app, state, space, permission))
        }),
        "getPermissions" => string_at(params, 0, "spaceKey").and_then(|key| {
            let user = known_caller(state, caller)?;
            let space = state
                .space_index(key)
                .ok_or_else(|| RpcError::remote(format!("No space found for space key: {key}")))?;
            Ok(legacy_keys(state.effective_permissions(user, space)))
        }),
        "getPermissionsForUser" => string_at(params, 0, "spaceKey").and_then(|key| {
            let username = string_at(params, 1, "userName")?;
            let space = space_for_admin(state, caller, key)?;
            let user = state
                .user_by_name(username)
                .ok_or_else(|| RpcError::remote(format!("No user {username}")))?;
            Ok(legacy_keys(state.effective_permissions(user, space)))
        }),
        "getSpaceLevelPermissions" => Ok(legacy_keys(SpacePermission::all())),
        "hasUser" => string_at(params, 0, "username").and_then(|username| {
            known_caller(state, caller)?;
            Ok(Value::Bool(state.user_by_name(username).is_some()))
        }),
        "hasGroup" => string_at(params, 0, "groupname").and_then(|name| {
            known_caller(state, caller)?;
            Ok(Value::Bool(state.group_index(name).is_some()))
        }),
        "isActiveUser" => string_at(params, 0, "username").and_then(|username| {
            known_caller(state, caller)?;
            Ok(Value::Bool(
                state
                    .user_by_name(username)
                    .is_some_and(|user| state.user(user).active),
            ))
        }),
        "getActiveUsers" => known_caller(state, caller).map(|_| {
            let active: Vec<&str> = state
                .users()
                .iter()
                .filter(|record| record.user.active)
                .map(|record| record.user.username.as_str())
                .collect();
            Value::from(active)
        }),
        _ => return None,
    };
    Some(result)
}

type WriteOutcome = Result<(Value, bool), RpcError>;

/// Methods that change state: what they asked for (for the log) and the
/// outcome with whether anything changed; `None` if `method` is unknown.
fn write_method(
    app: &App,
    state: &mut SimState,
    caller: &Caller,
    method: &str,
    params: &[Value],
) -> Option<(MutationAction, WriteOutcome)> {
    let written = match method {
        "addPermissionToSpace" | "addPermissionsToSpace" | "removePermissionFromSpace" => {
            let grant = method != "removePermissionFromSpace";
            let entity = text_at(params, 1);
            let space_key = text_at(params, 2);
            let subject = resolve_entity(app, state, &entity).map_or_else(
                || Subject::Unresolved {
                    name: entity.clone(),
                },
                |(_, subject)| subject,
            );
            let permissions = texts_at(params, 0);
            let outcome = change_permissions(app, state, caller, method, params, grant);
            let action = if grant {
                MutationAction::GrantSpacePermissions {
                    space_key,
                    subject,
                    permissions,
                }
            } else {
                MutationAction::RevokeSpacePermissions {
                    space_key,
                    subject,
                    permissions,
                }
            };
            (action, outcome)
        }
        "addAnonymousPermissionToSpace"
        | "addAnonymousPermissionsToSpace"
        | "removeAnonymousPermissionFromSpace" => {
            let grant = method != "removeAnonymousPermissionFromSpace";
            let space_key = text_at(params, 1);
            let permissions = texts_at(params, 0);
            let outcome = change_permissions(app, state, caller, method, params, grant);
            let action = if grant {
                MutationAction::GrantSpacePermissions {
                    space_key,
                    subject: Subject::Anonymous,
                    permissions,
                }
            } else {
                MutationAction::RevokeSpacePermissions {
                    space_key,
                    subject: Subject::Anonymous,
                    permissions,
                }
            };
            (action, outcome)
        }
        "removeAllPermissionsForGroup" => {
            let group = text_at(params, 0);
            let outcome = string_at(params, 0, "groupname").and_then(|name| {
                admin_caller(state, caller)?;
                let group = state
                    .group_index(name)
                    .ok_or_else(|| RpcError::remote(format!("No group {name}")))?;
                Ok((Value::Bool(true), state.remove_group_permissions(group)))
            });
            (MutationAction::RemoveAllGroupPermissions { group }, outcome)
        }
        "addUserToGroup" | "removeUserFromGroup" => {
            let add = method == "addUserToGroup";
            let (username, group) = (text_at(params, 0), text_at(params, 1));
            let outcome = string_at(params, 0, "username").and_then(|username| {
                let name = string_at(params, 1, "groupname")?;
                admin_caller(state, caller)?;
                let user = state
                    .user_by_name(username)
                    .ok_or_else(|| RpcError::remote(format!("No user {username}")))?;
                let group = state
                    .group_index(name)
                    .ok_or_else(|| RpcError::remote(format!("No group {name}")))?;
                let changed = if add {
                    state.add_member(user, group)
                } else {
                    state.remove_member(user, group)
                };
                Ok((Value::Bool(true), changed))
            });
            let action = if add {
                MutationAction::AddGroupMember { username, group }
            } else {
                MutationAction::RemoveGroupMember { username, group }
            };
            (action, outcome)
        }
        "addGroup" => {
            let name = text_at(params, 0);
            let outcome = string_at(params, 0, "groupname").and_then(|name| {
                admin_caller(state, caller)?;
                if state.group_index(name).is_some() {
                    return Err(RpcError::remote(format!("Group {name} already exists")));
                }
                state.create_group(name);
                Ok((Value::Bool(true), true))
            });
            (MutationAction::CreateGroup { name }, outcome)
        }
        "addUser" => add_user(app, state, caller, params),
        "deactivateUser" | "reactivateUser" => {
            let activate = method == "reactivateUser";
            let username = text_at(params, 0);
            let outcome = string_at(params, 0, "username").and_then(|username| {
                admin_caller(state, caller)?;
                let user = state
                    .user_by_name(username)
                    .ok_or_else(|| RpcError::remote(format!("No user {username}")))?;
                Ok((Value::Bool(true), state.set_active(user, activate)))
            });
            let action = if activate {
                MutationAction::EnableUser { username }
            } else {
                MutationAction::DisableUser { username }
            };
            (action, outcome)
        }
        _ => return None,
    };
    Some(written)
}

/// The six space-permission writes. Arguments: the permission (or an array
/// of them) first, then the entity name unless anonymous, then the space key.
fn change_permissions(
    app: &App,
    state: &mut SimState,
    caller: &Caller,
    method: &str,
    params: &[Value],
    grant: bool,
) -> WriteOutcome {
    let keys = if method.ends_with("PermissionsToSpace") {
        strings_at(params, 0, "permissions")?
    } else {
        vec![string_at(params, 0, "permission")?]
    };
    let (holder, space_key) = if method.contains("Anonymous") {
        (None, string_at(params, 1, "spaceKey")?)
    } else {
        (
            Some(string_at(params, 1, "remoteEntityName")?),
            string_at(params, 2, "spaceKey")?,
        )
    };
    let space = space_for_admin(state, caller, space_key)?;
    let holder = match holder {
        None => Holder::Anonymous,
        Some(name) => resolve_entity(app, state, name)
            .map(|(holder, _)| holder)
            .ok_or_else(|| RpcError::remote(format!("No user or group with the name '{name}'")))?,
    };
    let permissions = legacy_permissions(&keys)?;
    let changed = if grant {
        state.grant(space, &holder, &permissions)
    } else {
        state.revoke(space, &holder, &permissions)
    };
    Ok((Value::Bool(true), changed))
}

/// `addUser [{"name","fullname","email"}, password, notifyUser?]`: the pre-8.4
/// way to create users; same rules as the REST endpoint.
fn add_user(
    app: &App,
    state: &mut SimState,
    caller: &Caller,
    params: &[Value],
) -> (MutationAction, WriteOutcome) {
    let remote = params.first().cloned().unwrap_or(Value::Null);
    let field = |name: &str| {
        remote
            .get(name)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned()
    };
    let new_user = NewUser {
        username: field("name"),
        full_name: field("fullname"),
        email: field("email"),
        password: params.get(1).and_then(Value::as_str).map(str::to_owned),
        notify_via_email: params.get(2).and_then(Value::as_bool).unwrap_or(false),
    };
    let outcome = admin_caller(state, caller).and_then(|_| {
        validate_new_user(app, state, &new_user)
            .map_err(|failure| RpcError::remote(failure.message))?;
        state.create_user(
            &new_user.username,
            &new_user.full_name,
            &new_user.email,
            new_user.password.as_deref(),
        );
        Ok((Value::Null, true))
    });
    let user_key = outcome
        .as_ref()
        .ok()
        .and_then(|_| state.user_by_name(&new_user.username))
        .map(|user| state.user(user).user_key.clone());
    let action = MutationAction::CreateUser {
        username: new_user.username,
        full_name: new_user.full_name,
        email: new_user.email,
        notify_via_email: new_user.notify_via_email,
        user_key,
    };
    (action, outcome)
}
