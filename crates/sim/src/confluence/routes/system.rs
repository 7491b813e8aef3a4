//! Instance information: `/rest/api/server-information` (9.x and later) and
//! `/rest/api/instance-metrics` (sizes, handy to plan a sync).

use std::sync::Arc;

use axum::Extension;
use axum::extract::State;
use axum::response::Response;
use serde_json::json;

use super::Failure;
use crate::confluence::app::App;
use crate::confluence::auth::Caller;
use crate::confluence::errors::json_response;

pub(super) async fn server_information(State(app): State<Arc<App>>) -> Response {
    let version = app.version;
    json_response(
        200,
        &json!({
            "baseUrl": app.render.base_url,
            "version": version.full_version(),
            "buildNumber": version.build_number(),
            "marketplaceBuildNumber": version.build_number(),
            "buildDate": "2025-01-01T00:00:00.000Z",
        }),
    )
}

/// Counts of pages, spaces and users; the simulator has no pages.
pub(super) async fn instance_metrics(
    State(app): State<Arc<App>>,
    Extension(caller): Extension<Caller>,
) -> Response {
    let state = app.read();
    if caller.index(&state).is_none() {
        return Failure::new(401, "Authentication required").response();
    }
    json_response(
        200,
        &json!({"pages": 0, "spaces": state.spaces().len(), "users": state.users().len()}),
    )
}
