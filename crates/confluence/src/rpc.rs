//! Confluence's JSON-RPC remote API in "light" mode: `POST
//! /rpc/json-rpc/confluenceservice-v2/<method>` with the positional arguments
//! as a JSON array. Needed for space permissions before 9.1 and for names
//! that cannot travel in a URL path. Errors may arrive inside a 200 answer,
//! and a disabled Remote API shows as 401, 404 or 405.

use serde::de::DeserializeOwned;
use serde_json::Value;

use super::decode::{self, BodyKind};
use super::error::{ConfluenceError, ErrorKind};
use super::route::Route;
use super::transport::{Reply, Request, Transport};

/// The remote-API methods this client calls.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum RpcMethod {
    GetSpacePermissionSets,
    GetSpaceLevelPermissions,
    AddPermissionsToSpace,
    RemovePermissionFromSpace,
    AddAnonymousPermissionsToSpace,
    RemoveAnonymousPermissionFromSpace,
    AddUserToGroup,
    RemoveUserFromGroup,
    DeactivateUser,
    ReactivateUser,
}

impl RpcMethod {
    pub fn name(self) -> &'static str {
        self.route().rsplit('/').next().unwrap_or_default()
    }

    /// Methods that only read: the allow-list of calls whose garbled answer
    /// is asked again. A write is never repeated blindly (provisioning reads
    /// the state again before it writes).
    pub fn is_read(self) -> bool {
        match self {
            Self::GetSpacePermissionSets | Self::GetSpaceLevelPermissions => true,
            Self::AddPermissionsToSpace
            | Self::RemovePermissionFromSpace
            | Self::AddAnonymousPermissionsToSpace
            | Self::RemoveAnonymousPermissionFromSpace
            | Self::AddUserToGroup
            | Self::RemoveUserFromGroup
            | Self::DeactivateUser
            | Self::ReactivateUser => false,
        }
    }

    /// The path, also used as the route template: it names no data.
    fn route(self) -> &'static str {
        match self {
            Self::GetSpacePermissionSets => {
                "/rpc/json-rpc/confluenceservice-v2/getSpacePermissionSets"
            }
            Self::GetSpaceLevelPermissions => {
                "/rpc/json-rpc/confluenceservice-v2/getSpaceLevelPermissions"
            }
            Self::AddPermissionsToSpace => {
                "/rpc/json-rpc/confluenceservice-v2/addPermissionsToSpace"
            }
            Self::RemovePermissionFromSpace => {
                "/rpc/json-rpc/confluenceservice-v2/removePermissionFromSpace"
            }
            Self::AddAnonymousPermissionsToSpace => {
                "/rpc/json-rpc/confluenceservice-v2/addAnonymousPermissionsToSpace"
            }
            Self::RemoveAnonymousPermissionFromSpace => {
                "/rpc/json-rpc/confluenceservice-v2/removeAnonymousPermissionFromSpace"
            }
            Self::AddUserToGroup => "/rpc/json-rpc/confluenceservice-v2/addUserToGroup",
            Self::RemoveUserFromGroup => "/rpc/json-rpc/confluenceservice-v2/removeUserFromGroup",
            Self::DeactivateUser => "/rpc/json-rpc/confluenceservice-v2/deactivateUser",
            Self::ReactivateUser => "/rpc/json-rpc/confluenceservice-v2/reactivateUser",
        }
    }
}

/// Calls `method` with positional `params` and decodes its result.
/// `needed_for` completes "this tenant needs the Remote API for ...".
pub(crate) async fn call<T: DeserializeOwned>(
    transport: &Transport,
    method: RpcMethod,
    params: Value,
    needed_for: &'static str,
) -> Result<T, ConfluenceError> {
    let mut request = Request::post(Route::fixed(method.route())).json(&params);
    if method.is_read() {
        request = request.read_only();
    }
    transport
        .fetch(&request, |transport, reply| {
            decode_answer(transport, method, needed_for, reply)
        })
        .await
}

/// One JSON-RPC answer: its result, or the error it carries or stands for.
pub(crate) fn decode_answer<T: DeserializeOwned>(
    transport: &Transport,
    method: RpcMethod,
    needed_for: &'static str,
    reply: Reply,
) -> Result<T, ConfluenceError> {
    if matches!(reply.status, 401 | 404 | 405) {
        return Err(transport.error(ErrorKind::RemoteApiDisabled {
            status: reply.status,
            needed_for,
        }));
    }
    let kind = decode::body_kind(&reply);
    if kind != BodyKind::Json {
        return Err(if reply.is_success() {
            decode::unexpected_body(transport, &reply, kind)
        } else {
            decode::status_error(transport, &reply)
        });
    }
    let value: Value = match serde_json::from_slice(&reply.body) {
        Ok(value) => value,
        Err(_) if !reply.is_success() => return Err(decode::status_error(transport, &reply)),
        // Let `json` produce the "malformed or truncated JSON" error.
        Err(_) => return decode::json(transport, reply),
    };
    if let Some(message) = rpc_error(&value) {
        return Err(transport.error(ErrorKind::JsonRpc {
            method: method.name(),
            message,
        }));
    }
    if !reply.is_success() {
        return Err(decode::status_error(transport, &reply));
    }
    let result = match value {
        // Full JSON-RPC 2.0 framing, should a server answer with it.
        Value::Object(mut fields)
            if fields.contains_key("jsonrpc") && fields.contains_key("result") =>
        {
            fields.remove("result").unwrap_or(Value::Null)
        }
        other => other,
    };
    serde_json::from_value(result).map_err(|err| {
        transport.error(ErrorKind::Undecodable {
            method: "POST",
            route: method.route(),
            status: reply.status,
            what: format!("a JSON-RPC result of an unexpected shape ({err})"),
            advice: "check the Confluence version detected for this tenant",
            garbled: false,
        })
    })
}

/// Calls a method that answers `true` on success.
pub(crate) async fn call_write(
    transport: &Transport,
    method: RpcMethod,
    params: Value,
    needed_for: &'static str,
) -> Result<(), ConfluenceError> {
    let done: bool = call(transport, method, params, needed_for).await?;
    if done {
        Ok(())
    } else {
        Err(transport.error(ErrorKind::Refused {
            method: method.name(),
        }))
    }
}

/// The message of an `error` member, in either framing.
fn rpc_error(value: &Value) -> Option<String> {
    let error = value
        .as_object()?
        .get("error")
        .filter(|error| !error.is_null())?;
    let message = match error {
        Value::String(text) => text.clone(),
        Value::Object(fields) => fields
            .get("message")
            .and_then(Value::as_str)
            .map(str::to_owned)
            .unwrap_or_else(|| error.to_string()),
        other => other.to_string(),
    };
    Some(message.chars().take(300).collect())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn errors_are_found_in_both_framings() {
        let light = json!({"error": {"code": 500, "message": "RemoteException: no space TEST"}});
        assert_eq!(
            rpc_error(&light).as_deref(),
            Some("RemoteException: no space TEST")
        );
        let full =
            json!({"jsonrpc": "2.0", "id": 7, "error": {"code": -32601, "message": "no method"}});
        assert_eq!(rpc_error(&full).as_deref(), Some("no method"));
        assert_eq!(
            rpc_error(&json!({"jsonrpc": "2.0", "result": true, "error": null})),
            None
        );
        assert_eq!(rpc_error(&json!([{"type": "VIEWSPACE"}])), None);
    }

    #[test]
    fn method_names_come_from_their_paths() {
        assert_eq!(
            RpcMethod::GetSpacePermissionSets.name(),
            "getSpacePermissionSets"
        );
        assert_eq!(RpcMethod::RemoveUserFromGroup.name(), "removeUserFromGroup");
    }
}
