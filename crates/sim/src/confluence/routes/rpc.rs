//! The JSON-RPC remote API (`/rpc/json-rpc/confluenceservice-v2`) in both
//! modes: light (method in the path, JSON array of positional arguments, bare
//! result) and JSON-RPC 2.0. It needs `Content-Type: application/json` and
//! the Remote API switch; errors come back inside the body, usually with 200.
//! Space permissions here speak usernames, not keys (docs/confluence-api-notes.md §6.2).

mod methods;

use self::methods::{read_method, write_method};

use std::sync::Arc;

use axum::Extension;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, header};
use axum::response::Response;
use serde_json::{Value, json};

use crate::confluence::app::App;
use crate::confluence::auth::Caller;
use crate::confluence::errors::{json_response, plain};
use crate::confluence::mutation::{Api, Mutation};

/// JSON-RPC 2.0 error codes, plus one for exceptions thrown by Confluence.
const PARSE_ERROR: i64 = -32700;
const INVALID_REQUEST: i64 = -32600;
const METHOD_NOT_FOUND: i64 = -32601;
const INVALID_PARAMS: i64 = -32602;
const SERVER_EXCEPTION: i64 = -32000;

#[derive(Debug)]
pub(super) struct RpcError {
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
