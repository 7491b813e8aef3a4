//! The admin REST API of 8.4+: create users (with the licence, duplicate and
//! username checks of docs/confluence-api-notes.md §2.6 and §8.2), update, change
//! password, disable and enable (idempotent), delete (an asynchronous long
//! task), and create or delete groups.

use std::sync::Arc;

use axum::Extension;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::response::Response;
use serde::Deserialize;
use serde_json::json;

use super::{Done, Failure, RouteName, admin_caller, finish};
use crate::confluence::app::App;
use crate::confluence::auth::Caller;
use crate::confluence::dataset::ADMINISTRATORS_GROUP;
use crate::confluence::errors::{empty, json_response};
use crate::confluence::mutation::MutationAction;
use crate::confluence::state::State as SimState;

/// Characters Confluence refuses in usernames, besides whitespace and upper case.
const FORBIDDEN_USERNAME_CHARACTERS: [char; 7] = ['\\', ',', '+', '<', '>', '\'', '"'];

/// The body of `POST /rest/api/admin/user`.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct NewUser {
    #[serde(rename = "userName", default)]
    pub username: String,
    #[serde(default)]
    pub full_name: String,
    #[serde(default)]
    pub email: String,
    pub password: Option<String>,
    #[serde(default)]
    pub notify_via_email: bool,
}

fn validate_username(username: &str) -> Result<(), String> {
    if username.is_empty() {
        return Err("userName is required".into());
    }
    if username.chars().any(char::is_whitespace) {
        return Err("Usernames cannot contain whitespace".into());
    }
    if username.chars().any(char::is_uppercase) {
        return Err("Usernames cannot contain uppercase letters".into());
    }
    if let Some(bad) = username
        .chars()
        .find(|letter| FORBIDDEN_USERNAME_CHARACTERS.contains(letter))
    {
        return Err(format!("Usernames cannot contain {bad:?}"));
    }
    if username == "anonymous" {
        return Err("The username anonymous is reserved".into());
    }
    Ok(())
}

/// `400` for invalid fields, `409` for a taken username, `402` when every
/// licence seat is used.
pub(super) fn validate_new_user(
    app: &App,
    state: &SimState,
    user: &NewUser,
) -> Result<(), Failure> {
    validate_username(&user.username).map_err(|message| Failure::new(400, message))?;
    if user.full_name.trim().is_empty() {
        return Err(Failure::new(400, "fullName is required"));
    }
    if !user.email.contains('@') {
        return Err(Failure::new(400, "A valid email is required"));
    }
    match (&user.password, user.notify_via_email) {
        (Some(_), true) => {
            return Err(Failure::new(
                400,
                "password must be absent when notifyViaEmail is true",
            ));
        }
        (None, false) => {
            return Err(Failure::new(
                400,
                "password is required unless notifyViaEmail is true",
            ));
        }
        (Some(password), false) if password.is_empty() => {
            return Err(Failure::new(400, "password is empty"));
        }
        _ => {}
    }
    if state.user_by_name(&user.username).is_some() {
        return Err(Failure::new(
            409,
            format!("A user with the username {} already exists", user.username),
        ));
    }
    if app
        .licensed_seats
        .is_some_and(|seats| state.licensed_user_count() >= seats)
    {
        return Err(Failure::new(402, "No licence seats left"));
    }
    Ok(())
}

fn parse<T: for<'de> Deserialize<'de>>(body: &[u8]) -> Result<T, Failure> {
    serde_json::from_slice(body)
        .map_err(|error| Failure::new(400, format!("Invalid request body: {error}")))
}

fn user_named(state: &SimState, username: &str) -> Result<usize, Failure> {
    state
        .user_by_name(username)
        .ok_or_else(|| Failure::new(404, format!("No user found with username {username}")))
}

pub(super) async fn create_user(
    State(app): State<Arc<App>>,
    Extension(caller): Extension<Caller>,
    route: RouteName,
    body: Bytes,
) -> Response {
    let request = parse::<NewUser>(&body);
    let mut state = app.write();
    let outcome = admin_caller(&state, &caller).and_then(|_| {
        let user = request
            .as_ref()
            .map_err(|failure| Failure::new(failure.status, failure.message.clone()))?;
        validate_new_user(&app, &state, user)?;
        let user_key = state.create_user(
            &user.username,
            &user.full_name,
            &user.email,
            user.password.as_deref(),
        );
        Ok(Done {
            changed: true,
            response: json_response(201, &json!({"userKey": user_key})),
        })
    });
    let request = request.unwrap_or_default();
    let user_key = outcome
        .as_ref()
        .ok()
        .and_then(|_| state.user_by_name(&request.username))
        .map(|user| state.user(user).user_key.clone());
    let action = MutationAction::CreateUser {
        username: request.username,
        full_name: request.full_name,
        email: request.email,
        notify_via_email: request.notify_via_email,
        user_key,
    };
    finish(&mut state, route, &caller, action, outcome)
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct UserUpdate {
    full_name: Option<String>,
    email: Option<String>,
}

pub(super) async fn update_user(
    State(app): State<Arc<App>>,
    Extension(caller): Extension<Caller>,
    route: RouteName,
    Path(username): Path<String>,
    body: Bytes,
) -> Response {
    let update = parse::<UserUpdate>(&body);
    let mut state = app.write();
    let outcome = admin_caller(&state, &caller).and_then(|_| {
        let user = user_named(&state, &username)?;
        let update = update
            .as_ref()
            .map_err(|failure| Failure::new(failure.status, failure.message.clone()))?;
        if update
            .email
            .as_deref()
            .is_some_and(|email| !email.contains('@'))
        {
            return Err(Failure::new(400, "A valid email is required"));
        }
        let changed = state.update_user(user, update.full_name.as_deref(), update.email.as_deref());
        Ok(Done {
            changed,
            response: empty(204),
        })
    });
    let (full_name, email) = update
        .map(|update| (update.full_name, update.email))
        .unwrap_or_default();
    finish(
        &mut state,
        route,
        &caller,
        MutationAction::UpdateUser {
            username,
            full_name,
            email,
        },
        outcome,
    )
}

#[derive(Deserialize)]
struct PasswordChange {
    password: String,
}

pub(super) async fn change_password(
    State(app): State<Arc<App>>,
    Extension(caller): Extension<Caller>,
    route: RouteName,
    Path(username): Path<String>,
    body: Bytes,
) -> Response {
    let change = parse::<PasswordChange>(&body);
    let mut state = app.write();
    let outcome = admin_caller(&state, &caller).and_then(|_| {
        let user = user_named(&state, &username)?;
        let change = change?;
        if change.password.is_empty() {
            return Err(Failure::new(400, "password is empty"));
        }
        state.set_password(user, &change.password);
        Ok(Done {
            changed: true,
            response: empty(204),
        })
    });
    finish(
        &mut state,
        route,
        &caller,
        MutationAction::ChangePassword { username },
        outcome,
    )
}

pub(super) async fn disable_user(
    State(app): State<Arc<App>>,
    Extension(caller): Extension<Caller>,
    route: RouteName,
    Path(username): Path<String>,
) -> Response {
    set_active(&app, &caller, route, username, false)
}

pub(super) async fn enable_user(
    State(app): State<Arc<App>>,
    Extension(caller): Extension<Caller>,
    route: RouteName,
    Path(username): Path<String>,
) -> Response {
    set_active(&app, &caller, route, username, true)
}

/// `204` also when the user already was in that state.
fn set_active(
    app: &App,
    caller: &Caller,
    route: RouteName,
    username: String,
    active: bool,
) -> Response {
    let mut state = app.write();
    let outcome = admin_caller(&state, caller).and_then(|_| {
        let user = user_named(&state, &username)?;
        Ok(Done {
            changed: state.set_active(user, active),
            response: empty(204),
        })
    });
    let action = if active {
        MutationAction::EnableUser { username }
    } else {
        MutationAction::DisableUser { username }
    };
    finish(&mut state, route, caller, action, outcome)
}

/// `202` with a long-task submission; the deletion itself is immediate. The
/// user's key stays mapped to its name, so it turns into an unknown user.
pub(super) async fn delete_user(
    State(app): State<Arc<App>>,
    Extension(caller): Extension<Caller>,
    route: RouteName,
    Path(username): Path<String>,
) -> Response {
    let mut state = app.write();
    let outcome = admin_caller(&state, &caller).and_then(|_| {
        let user = user_named(&state, &username)?;
        state.delete_user(user);
        let task = state.next_long_task();
        let path = format!("/rest/api/longtask/{task}");
        let link = format!("{}{path}", app.render.base_url);
        let body = json!({
            "id": task.to_string(),
            "links": {"result": link, "status": link},
            "resultPath": path,
            "statusPath": path,
        });
        Ok(Done {
            changed: true,
            response: json_response(202, &body),
        })
    });
    finish(
        &mut state,
        route,
        &caller,
        MutationAction::DeleteUser { username },
        outcome,
    )
}

/// A finished long task. The doc does not describe this body; the simulator
/// answers the minimum a poller needs.
pub(super) async fn long_task(
    State(app): State<Arc<App>>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> Response {
    let state = app.read();
    if caller.index(&state).is_none() {
        return Failure::new(401, "Authentication required").response();
    }
    match id.parse::<u64>() {
        Ok(task) if state.long_task_exists(task) => json_response(
            200,
            &json!({
                "id": id, "percentageComplete": 100, "successful": true,
                "finished": true, "messages": []
            }),
        ),
        _ => Failure::new(404, format!("No long task {id}")).response(),
    }
}

#[derive(Deserialize)]
struct NewGroup {
    #[serde(default)]
    name: String,
}

pub(super) async fn create_group(
    State(app): State<Arc<App>>,
    Extension(caller): Extension<Caller>,
    route: RouteName,
    body: Bytes,
) -> Response {
    let request = parse::<NewGroup>(&body);
    let mut state = app.write();
    let outcome = admin_caller(&state, &caller).and_then(|_| {
        let name = request
            .as_ref()
            .map_err(|failure| Failure::new(failure.status, failure.message.clone()))?;
        let name = name.name.trim();
        if name.is_empty() {
            return Err(Failure::new(400, "name is required"));
        }
        if state.group_index(name).is_some() {
            return Err(Failure::new(
                409,
                format!("A group named {name} already exists"),
            ));
        }
        let group = state.create_group(name);
        let response = json_response(201, &app.render.group(&state.group(group).name, true));
        Ok(Done {
            changed: true,
            response,
        })
    });
    let name = request.map(|request| request.name).unwrap_or_default();
    finish(
        &mut state,
        route,
        &caller,
        MutationAction::CreateGroup { name },
        outcome,
    )
}

pub(super) async fn delete_group(
    State(app): State<Arc<App>>,
    Extension(caller): Extension<Caller>,
    route: RouteName,
    Path(name): Path<String>,
) -> Response {
    let mut state = app.write();
    let outcome = admin_caller(&state, &caller).and_then(|_| {
        let group = state
            .group_index(&name)
            .ok_or_else(|| Failure::new(404, format!("No group found with name {name}")))?;
        if state.group(group).name == ADMINISTRATORS_GROUP {
            return Err(Failure::new(
                400,
                "Cannot delete the last administrators group",
            ));
        }
        state.delete_group(group);
        Ok(Done {
            changed: true,
            response: empty(204),
        })
    });
    finish(
        &mut state,
        route,
        &caller,
        MutationAction::DeleteGroup { name },
        outcome,
    )
}

#[cfg(test)]
mod tests {
    use super::validate_username;

    #[test]
    fn usernames_follow_confluence_rules() {
        for good in ["jdoe", "j.doe-2", "jdoe@example.com", "ødegaard"] {
            assert!(validate_username(good).is_ok(), "{good}");
        }
        for bad in [
            "",
            "j doe",
            "JDoe",
            "a,b",
            "a+b",
            "a<b",
            "a>b",
            "o'brien",
            "a\"b",
            "a\\b",
            "anonymous",
        ] {
            assert!(validate_username(bad).is_err(), "{bad:?}");
        }
    }
}
