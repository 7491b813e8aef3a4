//! The simulator's own endpoints under `/__sim/`, for tests and scripts that
//! run it out of process: current data, the mutation log, request counts, and
//! fault injection and rate-limit settings at run time. They bypass faults, auth and rate limiting,
//! and are not counted.

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::response::Response;
use axum::routing::get;
use serde_json::json;

use crate::confluence::app::App;
use crate::confluence::errors::{empty, json_response, rest_error};
use crate::confluence::faults::Faults;
use crate::confluence::options::RateLimit;

pub(super) fn router(app: Arc<App>) -> Router {
    Router::new()
        .route("/__sim/state", get(state))
        .route("/__sim/mutations", get(mutations))
        .route("/__sim/requests", get(requests))
        .route("/__sim/faults", get(faults).put(set_faults))
        .route("/__sim/rate-limit", get(rate_limit).put(set_rate_limit))
        .with_state(app)
}

async fn state(State(app): State<Arc<App>>) -> Response {
    json_response(200, &app.read().to_dataset())
}

async fn mutations(State(app): State<Arc<App>>) -> Response {
    json_response(200, app.read().mutations())
}

async fn requests(State(app): State<Arc<App>>) -> Response {
    json_response(
        200,
        &json!({"total": app.counters.total(), "byRoute": app.counters.by_route()}),
    )
}

async fn faults(State(app): State<Arc<App>>) -> Response {
    json_response(200, &app.faults.current())
}

/// Replaces the faults (JSON of [`Faults`]; absent fields mean none) and
/// restarts the fault sequence.
async fn set_faults(State(app): State<Arc<App>>, body: Bytes) -> Response {
    match serde_json::from_slice::<Faults>(&body) {
        Ok(faults) => {
            app.faults.set(faults);
            empty(204)
        }
        Err(error) => rest_error(400, &format!("Invalid faults: {error}")),
    }
}

async fn rate_limit(State(app): State<Arc<App>>) -> Response {
    json_response(200, &app.limiter.limit())
}

/// Replaces the rate-limit settings (JSON of [`RateLimit`], or `null` to
/// allow unlimited requests), as an administrator does on the admin page.
async fn set_rate_limit(State(app): State<Arc<App>>, body: Bytes) -> Response {
    match serde_json::from_slice::<Option<RateLimit>>(&body) {
        Ok(limit) => {
            app.limiter.set_limit(limit);
            empty(204)
        }
        Err(error) => rest_error(400, &format!("Invalid rate limit: {error}")),
    }
}
