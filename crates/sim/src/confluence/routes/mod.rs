//! The HTTP surface: which endpoints exist for the simulated version, and the
//! helpers every route shares (access checks, failures, the mutation log).

mod admin;
mod groups;
mod introspection;
mod permissions;
mod rpc;
mod spaces;
mod system;
mod users;

use std::sync::Arc;

use axum::Router;
use axum::extract::{FromRequestParts, MatchedPath};
use axum::http::Uri;
use axum::http::request::Parts;
use axum::middleware;
use axum::response::Response;
use axum::routing::{delete, get, post, put};

use super::app::App;
use super::auth::Caller;
use super::errors::rest_error;
use super::gateway;
use super::mutation::{Api, Mutation, MutationAction};
use super::pagination::{LinkContext, PageRequest};
use super::params::Params;
use super::state::State;

/// The JSON-RPC endpoint; light mode appends `/<method>`.
const RPC_PATH: &str = "/rpc/json-rpc/confluenceservice-v2";

/// The router of one simulated instance: version-gated Confluence endpoints
/// behind the gateway, plus the simulator's own `/__sim/` endpoints.
pub(crate) fn router(app: Arc<App>) -> Router {
    let version = app.version;
    let mut api = Router::new()
        .route("/rest/api/user/current", get(users::current))
        .route("/rest/api/user/anonymous", get(users::anonymous))
        .route("/rest/api/user", get(users::single))
        .route("/rest/api/user/memberof", get(users::member_of))
        .route(
            "/rest/api/user/{username}/group/{group}",
            put(groups::add_member).delete(groups::remove_member),
        )
        .route("/rest/api/group", get(groups::list))
        .route("/rest/api/group/{group}", get(groups::single_by_path))
        .route(
            "/rest/api/group/{group}/member",
            get(groups::members_by_path),
        )
        .route("/rest/api/space", get(spaces::list))
        .route("/rest/api/space/{key}", get(spaces::single))
        .route("/rest/api/admin/user", post(admin::create_user))
        .route(
            "/rest/api/admin/user/{username}",
            put(admin::update_user).delete(admin::delete_user),
        )
        .route(
            "/rest/api/admin/user/{username}/disable",
            put(admin::disable_user),
        )
        .route(
            "/rest/api/admin/user/{username}/enable",
            put(admin::enable_user),
        )
        .route(
            "/rest/api/admin/user/{username}/password",
            post(admin::change_password),
        )
        .route("/rest/api/admin/group", post(admin::create_group))
        .route("/rest/api/admin/group/{group}", delete(admin::delete_group))
        .route("/rest/api/longtask/{id}", get(admin::long_task))
        .route("/rest/api/instance-metrics", get(system::instance_metrics))
        .route(RPC_PATH, post(rpc::full_mode))
        .route(&format!("{RPC_PATH}/{{method}}"), post(rpc::light_mode));
    if app.quirks.user_list_enabled {
        api = api.route("/rest/api/user/list", get(users::list));
    }
    if version.has_active_users_list() {
        api = api.route("/rest/api/admin/users/list/active", get(users::active_list));
    }
    if version.has_server_information() {
        api = api.route(
            "/rest/api/server-information",
            get(system::server_information),
        );
    }
    if version.has_group_query_endpoints() {
        api = api
            .route("/rest/api/group/member", get(groups::members_by_query))
            .route("/rest/api/group/info", get(groups::single_by_query));
    }
    if version.has_nested_group_endpoints() {
        for relation in ["groupmember", "groupparent", "groupancestor"] {
            api = api
                .route(
                    &format!("/rest/api/group/{{group}}/{relation}"),
                    get(groups::nested_by_path),
                )
                .route(
                    &format!("/rest/api/group/{relation}"),
                    get(groups::nested_by_query),
                );
        }
    }
    if version.has_rest_space_permissions() {
        let base = "/rest/api/space/{key}/permissions";
        api = api
            .route(base, get(permissions::list).post(permissions::replace))
            .route(
                &format!("{base}/anonymous"),
                get(permissions::list_anonymous),
            )
            .route(
                &format!("{base}/anonymous/{{action}}"),
                put(permissions::change_anonymous),
            )
            .route(
                &format!("{base}/group/{{group}}"),
                get(permissions::list_group),
            )
            .route(
                &format!("{base}/group/{{group}}/{{action}}"),
                put(permissions::change_group),
            )
            .route(
                &format!("{base}/user/{{user_key}}"),
                get(permissions::list_user),
            )
            .route(
                &format!("{base}/user/{{user_key}}/{{action}}"),
                put(permissions::change_user),
            );
    }
    api.fallback(gateway::fallback)
        .layer(middleware::from_fn_with_state(
            Arc::clone(&app),
            gateway::gateway,
        ))
        .with_state(Arc::clone(&app))
        .merge(introspection::router(app))
}

/// `"<METHOD> <route template>"`, the name a mutation is logged under.
pub(crate) struct RouteName(String);

impl<S: Send + Sync> FromRequestParts<S> for RouteName {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        let template = parts
            .extensions
            .get::<MatchedPath>()
            .map_or(parts.uri.path(), MatchedPath::as_str);
        Ok(RouteName(format!("{} {template}", parts.method)))
    }
}

/// A refused or failed call: a status and the message of its `RestError`.
#[derive(Debug)]
pub(crate) struct Failure {
    pub status: u16,
    pub message: String,
}

impl Failure {
    pub fn new(status: u16, message: impl Into<String>) -> Failure {
        Failure {
            status,
            message: message.into(),
        }
    }

    pub fn response(&self) -> Response {
        rest_error(self.status, &self.message)
    }
}

/// The outcome of a mutating call that succeeded.
pub(crate) struct Done {
    pub changed: bool,
    pub response: Response,
}

/// Reads of users and groups need a licensed user (docs/confluence-api-notes.md §1: anonymous and
/// unlicensed callers get `403`).
pub(crate) fn licensed_caller(state: &State, caller: &Caller) -> Result<usize, Failure> {
    caller
        .index(state)
        .filter(|&user| state.is_licensed(user))
        .ok_or_else(|| Failure::new(403, "User not permitted to view users or groups"))
}

/// Admin writes: anonymous callers get `401`, others who are not Confluence
/// administrators `403`.
pub(crate) fn admin_caller(state: &State, caller: &Caller) -> Result<usize, Failure> {
    let user = caller
        .index(state)
        .ok_or_else(|| Failure::new(401, "Authentication required"))?;
    if state.is_admin(user) {
        Ok(user)
    } else {
        Err(Failure::new(
            403,
            "Only Confluence administrators may do this",
        ))
    }
}

/// Logs a REST mutation and returns its response.
pub(crate) fn finish(
    state: &mut State,
    route: RouteName,
    caller: &Caller,
    action: MutationAction,
    outcome: Result<Done, Failure>,
) -> Response {
    let (status, error, changed, response) = match outcome {
        Ok(done) => (
            done.response.status().as_u16(),
            None,
            done.changed,
            done.response,
        ),
        Err(failure) => {
            let response = failure.response();
            (failure.status, Some(failure.message), false, response)
        }
    };
    state.record(Mutation {
        sequence: 0,
        api: Api::Rest,
        route: route.0,
        caller: caller.username().map(str::to_owned),
        action,
        status,
        error,
        changed,
    });
    response
}

/// The page a user, group or member listing asks for: the limit defaults to
/// the server's cap and is silently cut to it, as on the real server.
pub(crate) fn capped_page(app: &App, params: &Params) -> Result<PageRequest, Failure> {
    PageRequest::parse(params, app.quirks.page_cap, app.quirks.page_cap)
        .map_err(|message| Failure::new(400, message))
}

/// Links of a page served at `uri`.
pub(crate) fn link_context<'a>(app: &'a App, uri: &'a Uri, params: &'a Params) -> LinkContext<'a> {
    LinkContext {
        base_url: &app.render.base_url,
        path: uri.path(),
        params,
        next_from_requested_limit: app.quirks.next_link_from_requested_limit,
    }
}
