//! `POST /auth/v1/token`: verifies the client assertion against the tenant's
//! public key and issues an opaque access token for that tenant.

use std::collections::HashMap;
use std::sync::Arc;

use axum::Json;
use axum::extract::{Form, State};
use axum::http::{HeaderMap, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};

use super::credentials::verify_assertion;
use super::state::SimState;

const GRANT_TYPE: &str = "client_credentials";
const ASSERTION_TYPE: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

pub async fn issue_token(
    State(state): State<Arc<SimState>>,
    uri: Uri,
    headers: HeaderMap,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    let field = |name: &str| form.get(name).map(String::as_str).unwrap_or_default();
    let Some((tenant, key)) = state.tenant_for_client(field("client_id")) else {
        return oauth_error(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            "unknown client id",
        );
    };
    if state.take_token_fault(&tenant) {
        return (
            StatusCode::INTERNAL_SERVER_ERROR,
            "injected token endpoint failure",
        )
            .into_response();
    }
    let faults = state.faults(&tenant);
    if let Some(location) = &faults.token_redirect {
        return (StatusCode::FOUND, [(header::LOCATION, location.clone())]).into_response();
    }
    if field("grant_type") != GRANT_TYPE || field("client_assertion_type") != ASSERTION_TYPE {
        state.refuse_token_request(&tenant);
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "unsupported grant or assertion type",
        );
    }
    // The audience is the host the client addressed, without its port.
    let authority = uri
        .authority()
        .map(|authority| authority.host().to_owned())
        .or_else(|| {
            let host = headers.get(header::HOST)?.to_str().ok()?;
            Some(
                host.rsplit_once(':')
                    .map_or(host, |(host, _)| host)
                    .to_owned(),
            )
        })
        .unwrap_or_default();
    state.record_assertion(&tenant, field("client_assertion"));
    if let Err(reason) = verify_assertion(
        field("client_assertion"),
        field("client_id"),
        &key,
        &authority,
    ) {
        state.refuse_token_request(&tenant);
        return oauth_error(StatusCode::UNAUTHORIZED, "invalid_client", reason);
    }
    let (token, lifetime) = state.issue_token(&tenant);
    let mut answer = serde_json::json!({ "access_token": token, "token_type": "Bearer" });
    if !faults.token_omit_expires_in {
        let claimed = faults
            .token_claimed_expires_in
            .unwrap_or(lifetime.as_secs());
        answer["expires_in"] = claimed.into();
    }
    Json(answer).into_response()
}

fn oauth_error(status: StatusCode, error: &str, description: &str) -> Response {
    (
        status,
        Json(serde_json::json!({ "error": error, "error_description": description })),
    )
        .into_response()
}
