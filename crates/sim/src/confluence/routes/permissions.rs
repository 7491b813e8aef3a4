//! The REST space-permission API of 9.1+: reads of all rows or one subject's
//! (users by key only), grant/revoke per subject with a body of operations,
//! and the replace-all `POST` for up to 40 subjects. Callers who are not
//! space admins get CONFSERVER-99908's `500` by default.

use std::sync::Arc;

use axum::Extension;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::Uri;
use axum::response::Response;
use serde::Deserialize;

use super::{Done, Failure, RouteName, finish};
use crate::confluence::app::App;
use crate::confluence::auth::Caller;
use crate::confluence::errors::{empty, json_response, no_resource};
use crate::confluence::mutation::{MutationAction, Subject, SubjectPermissions};
use crate::confluence::render::{Operation, SpacePermissionJson, SubjectJson};
use crate::confluence::state::{Holder, State as SimState};
use baton::model::SpacePermission;

/// The replace-all endpoint takes at most this many subjects per call.
const MAX_SUBJECTS_PER_REPLACE: usize = 40;

/// The subject named by the path.
enum PathSubject {
    Anonymous,
    Group(String),
    /// A user key.
    User(String),
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct OperationBody {
    target_type: String,
    operation_key: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct SubjectBody {
    user_key: Option<String>,
    group_name: Option<String>,
    #[serde(default)]
    operations: Vec<OperationBody>,
}

pub(super) async fn list(
    State(app): State<Arc<App>>,
    Extension(caller): Extension<Caller>,
    Path(key): Path<String>,
) -> Response {
    read(&app, &caller, &key, None)
}

pub(super) async fn list_anonymous(
    State(app): State<Arc<App>>,
    Extension(caller): Extension<Caller>,
    Path(key): Path<String>,
    uri: Uri,
) -> Response {
    if app.quirks.anonymous_permission_endpoint_missing {
        return no_resource(uri.path());
    }
    read(&app, &caller, &key, Some(PathSubject::Anonymous))
}

pub(super) async fn list_group(
    State(app): State<Arc<App>>,
    Extension(caller): Extension<Caller>,
    Path((key, group)): Path<(String, String)>,
) -> Response {
    read(&app, &caller, &key, Some(PathSubject::Group(group)))
}

pub(super) async fn list_user(
    State(app): State<Arc<App>>,
    Extension(caller): Extension<Caller>,
    Path((key, user_key)): Path<(String, String)>,
) -> Response {
    read(&app, &caller, &key, Some(PathSubject::User(user_key)))
}

/// Anonymous: `401`; unknown space: `404`; not a space admin: the configured status.
fn space_for_admin(
    app: &App,
    state: &SimState,
    caller: &Caller,
    key: &str,
) -> Result<usize, Failure> {
    let user = caller
        .index(state)
        .ok_or_else(|| Failure::new(401, "Authentication required"))?;
    let space = state
        .space_index(key)
        .ok_or_else(|| Failure::new(404, format!("No space with key : {key}")))?;
    if state.can_administer_space(user, space) {
        Ok(space)
    } else {
        Err(Failure::new(
            app.quirks.rest_permission_denied_status,
            format!("User is not permitted to manage permissions of space {key}"),
        ))
    }
}

/// The holder a path subject names. Reads accept a deleted user's key (its
/// rows still exist); writes answer `404` for it, as for any unknown user.
fn holder(state: &SimState, subject: &PathSubject, for_write: bool) -> Result<Holder, Failure> {
    match subject {
        PathSubject::Anonymous => Ok(Holder::Anonymous),
        PathSubject::Group(name) => state
            .group_index(name)
            .map(|group| Holder::Group(state.group(group).name.clone()))
            .ok_or_else(|| Failure::new(404, format!("No group found with name {name}"))),
        PathSubject::User(key) => {
            let known = state.user_by_key(key).is_some()
                || (!for_write && state.unknown_by_key(key).is_some());
            if known {
                Ok(Holder::User(key.clone()))
            } else {
                Err(Failure::new(404, format!("No user found with key {key}")))
            }
        }
    }
}

fn read(app: &App, caller: &Caller, key: &str, subject: Option<PathSubject>) -> Response {
    let state = app.read();
    let rows = space_for_admin(app, &state, caller, key).and_then(|space| {
        let wanted = subject
            .as_ref()
            .map(|subject| holder(&state, subject, false))
            .transpose()?;
        let record = state.space(space);
        Ok(record
            .grants
            .iter()
            .filter(|grant| wanted.as_ref().is_none_or(|holder| grant.holder == *holder))
            .map(|grant| SpacePermissionJson {
                operation: Operation::of(grant.permission),
                subject: SubjectJson::of(&grant.holder),
                space_key: &record.space.key,
                space_id: record.space.id,
            })
            .collect::<Vec<_>>())
    });
    match rows {
        Ok(rows) => json_response(200, &rows),
        Err(failure) => failure.response(),
    }
}

pub(super) async fn change_anonymous(
    State(app): State<Arc<App>>,
    Extension(caller): Extension<Caller>,
    route: RouteName,
    Path((key, action)): Path<(String, String)>,
    uri: Uri,
    body: Bytes,
) -> Response {
    if app.quirks.anonymous_permission_endpoint_missing {
        return no_resource(uri.path());
    }
    let request = ChangeRequest {
        route,
        uri,
        space_key: key,
        subject: PathSubject::Anonymous,
        action,
        body,
    };
    change(&app, &caller, request)
}

pub(super) async fn change_group(
    State(app): State<Arc<App>>,
    Extension(caller): Extension<Caller>,
    route: RouteName,
    Path((key, group, action)): Path<(String, String, String)>,
    uri: Uri,
    body: Bytes,
) -> Response {
    let request = ChangeRequest {
        route,
        uri,
        space_key: key,
        subject: PathSubject::Group(group),
        action,
        body,
    };
    change(&app, &caller, request)
}

pub(super) async fn change_user(
    State(app): State<Arc<App>>,
    Extension(caller): Extension<Caller>,
    route: RouteName,
    Path((key, user_key, action)): Path<(String, String, String)>,
    uri: Uri,
    body: Bytes,
) -> Response {
    let request = ChangeRequest {
        route,
        uri,
        space_key: key,
        subject: PathSubject::User(user_key),
        action,
        body,
    };
    change(&app, &caller, request)
}

/// Legacy keys of the operations, or `targetType/operationKey` for pairs that map to none.
fn labels(operations: &[OperationBody]) -> Vec<String> {
    operations
        .iter()
        .map(|operation| {
            SpacePermission::from_rest_operation(&operation.target_type, &operation.operation_key)
                .map_or_else(
                    || format!("{}/{}", operation.target_type, operation.operation_key),
                    |permission| permission.legacy_key().to_owned(),
                )
        })
        .collect()
}

fn permissions(operations: &[OperationBody]) -> Result<Vec<SpacePermission>, Failure> {
    operations
        .iter()
        .map(|operation| {
            SpacePermission::from_rest_operation(&operation.target_type, &operation.operation_key)
                .ok_or_else(|| {
                    Failure::new(
                        400,
                        format!(
                            "Invalid operation: {} on {}",
                            operation.operation_key, operation.target_type
                        ),
                    )
                })
        })
        .collect()
}

/// How the log names a path subject, both identifiers resolved where possible.
fn logged_subject(state: &SimState, subject: &PathSubject) -> Subject {
    match subject {
        PathSubject::Anonymous => Subject::Anonymous,
        PathSubject::Group(name) => Subject::group(
            state
                .group_index(name)
                .map_or(name.as_str(), |group| state.group(group).name.as_str()),
        ),
        PathSubject::User(key) => Subject::User {
            user_key: Some(key.clone()),
            username: state
                .user_by_key(key)
                .map(|user| state.user(user).username.clone())
                .or_else(|| {
                    state
                        .unknown_by_key(key)
                        .map(|unknown| unknown.username.clone())
                }),
        },
    }
}

/// A grant or revoke as the path and body gave it.
struct ChangeRequest {
    route: RouteName,
    uri: Uri,
    space_key: String,
    subject: PathSubject,
    /// `grant` or `revoke`; anything else matches no resource.
    action: String,
    body: Bytes,
}

fn change(app: &App, caller: &Caller, request: ChangeRequest) -> Response {
    let ChangeRequest {
        route,
        uri,
        space_key,
        subject,
        action,
        body,
    } = request;
    let grant = match action.as_str() {
        "grant" => true,
        "revoke" => false,
        _ => return no_resource(uri.path()),
    };
    let operations = serde_json::from_slice::<Vec<OperationBody>>(&body)
        .map_err(|error| Failure::new(400, format!("Invalid request body: {error}")));
    let mut state = app.write();
    let logged = logged_subject(&state, &subject);
    let permission_labels = operations.as_deref().map(labels).unwrap_or_default();
    let outcome = apply_change(
        app, &mut state, caller, &space_key, &subject, operations, grant,
    );
    let action = if grant {
        MutationAction::GrantSpacePermissions {
            space_key,
            subject: logged,
            permissions: permission_labels,
        }
    } else {
        MutationAction::RevokeSpacePermissions {
            space_key,
            subject: logged,
            permissions: permission_labels,
        }
    };
    finish(&mut state, route, caller, action, outcome)
}

/// Grant adds only; revoke silently ignores permissions the subject lacks.
fn apply_change(
    app: &App,
    state: &mut SimState,
    caller: &Caller,
    key: &str,
    subject: &PathSubject,
    operations: Result<Vec<OperationBody>, Failure>,
    grant: bool,
) -> Result<Done, Failure> {
    let space = space_for_admin(app, state, caller, key)?;
    let holder = holder(state, subject, true)?;
    let permissions = permissions(&operations?)?;
    let changed = if grant {
        state.grant(space, &holder, &permissions)
    } else {
        state.revoke(space, &holder, &permissions)
    };
    Ok(Done {
        changed,
        response: empty(app.quirks.rest_permission_write_status),
    })
}

/// `POST /rest/api/space/{key}/permissions`: each listed subject ends up with
/// exactly the listed operations; nothing changes unless every entry is valid.
pub(super) async fn replace(
    State(app): State<Arc<App>>,
    Extension(caller): Extension<Caller>,
    route: RouteName,
    Path(key): Path<String>,
    body: Bytes,
) -> Response {
    let entries = serde_json::from_slice::<Vec<SubjectBody>>(&body)
        .map_err(|error| Failure::new(400, format!("Invalid request body: {error}")));
    let mut state = app.write();
    let subjects = entries
        .as_deref()
        .unwrap_or_default()
        .iter()
        .map(|entry| SubjectPermissions {
            subject: logged_subject(&state, &entry_subject(entry)),
            permissions: labels(&entry.operations),
        })
        .collect();
    let outcome = apply_replace(&app, &mut state, &caller, &key, entries);
    finish(
        &mut state,
        route,
        &caller,
        MutationAction::ReplaceSpacePermissions {
            space_key: key,
            subjects,
        },
        outcome,
    )
}

/// Neither a user key nor a group name means anonymous.
fn entry_subject(entry: &SubjectBody) -> PathSubject {
    match (&entry.user_key, &entry.group_name) {
        (Some(key), _) => PathSubject::User(key.clone()),
        (None, Some(name)) => PathSubject::Group(name.clone()),
        (None, None) => PathSubject::Anonymous,
    }
}

fn apply_replace(
    app: &App,
    state: &mut SimState,
    caller: &Caller,
    key: &str,
    entries: Result<Vec<SubjectBody>, Failure>,
) -> Result<Done, Failure> {
    let space = space_for_admin(app, state, caller, key)?;
    let entries = entries?;
    if entries.len() > MAX_SUBJECTS_PER_REPLACE {
        return Err(Failure::new(
            400,
            format!("At most {MAX_SUBJECTS_PER_REPLACE} subjects per request"),
        ));
    }
    let mut resolved = Vec::with_capacity(entries.len());
    for entry in &entries {
        if entry.user_key.is_some() && entry.group_name.is_some() {
            return Err(Failure::new(
                400,
                "A subject has both a userKey and a groupName",
            ));
        }
        resolved.push((
            holder(state, &entry_subject(entry), true)?,
            permissions(&entry.operations)?,
        ));
    }
    let mut changed = false;
    for (holder, permissions) in resolved {
        changed |= state.replace(space, &holder, &permissions);
    }
    Ok(Done {
        changed,
        response: empty(app.quirks.rest_permission_write_status),
    })
}
