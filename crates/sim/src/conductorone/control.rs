//! The control API on its own plain-HTTP port, for scripts and the demo:
//!
//! - `POST /tenants/{tenant}/tasks` with a task (`{"type": "sync_full"}`, see
//!   [`SimTask`]) → `{"task_id": ...}`
//! - `POST /tasks/{id}/cancel` → the next heartbeat answers `cancelled`
//! - `PUT /tenants/{tenant}/faults` with [`TenantFaults`]
//! - `GET /tasks/{id}`, `GET /tenants/{tenant}` (tasks, hellos, uploads, stats)

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::{Json, Router};

use super::state::{SimState, StateError, TenantFaults};
use super::tasks::SimTask;

pub fn router(state: Arc<SimState>) -> Router {
    Router::new()
        .route("/tenants/{tenant}/tasks", post(enqueue))
        .route("/tenants/{tenant}/faults", put(set_faults))
        .route("/tenants/{tenant}", get(tenant_record))
        .route("/tasks/{id}/cancel", post(cancel))
        .route("/tasks/{id}", get(task))
        .with_state(state)
}

async fn enqueue(
    State(state): State<Arc<SimState>>,
    Path(tenant): Path<String>,
    Json(task): Json<SimTask>,
) -> Response {
    match state.enqueue(&tenant, task.to_task_type(), task.type_name()) {
        Ok(task_id) => (
            StatusCode::CREATED,
            Json(serde_json::json!({ "task_id": task_id })),
        )
            .into_response(),
        Err(err) => not_found(err),
    }
}

async fn set_faults(
    State(state): State<Arc<SimState>>,
    Path(tenant): Path<String>,
    Json(faults): Json<TenantFaults>,
) -> Response {
    match state.set_faults(&tenant, faults) {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(err) => not_found(err),
    }
}

async fn cancel(State(state): State<Arc<SimState>>, Path(id): Path<String>) -> Response {
    match state.cancel(&id) {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(err) => not_found(err),
    }
}

async fn task(State(state): State<Arc<SimState>>, Path(id): Path<String>) -> Response {
    match state.task(&id) {
        Some(record) => Json(record).into_response(),
        None => not_found(StateError::UnknownTask(id)),
    }
}

async fn tenant_record(State(state): State<Arc<SimState>>, Path(tenant): Path<String>) -> Response {
    match state.stats(&tenant) {
        Ok(stats) => Json(serde_json::json!({
            "tenant": tenant,
            "stats": stats,
            "tasks": state.tasks(&tenant),
            "hellos": state.hellos(&tenant),
            "uploads": state.uploads(&tenant),
        }))
        .into_response(),
        Err(err) => not_found(err),
    }
}

fn not_found(err: StateError) -> Response {
    (
        StatusCode::NOT_FOUND,
        Json(serde_json::json!({ "error": err.to_string() })),
    )
        .into_response()
}
