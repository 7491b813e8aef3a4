//! Turning a final answer into data or a typed error. The body's kind is
//! checked before any JSON decoding (Confluence, its proxies and its login
//! filters answer with HTML, XML or nothing), and a body that does not decode
//! is an error that says so, never a panic or a silently shorter result. A
//! success whose body looks cut or replaced on the way (malformed JSON, an
//! HTML page, nothing) is marked garbled, so the transport may ask again.

use serde::de::DeserializeOwned;

use super::error::{ConfluenceError, ErrorKind, message_suffix};
use super::transport::{Reply, Transport};

/// Server messages are quoted in errors; keep them to a readable line.
const MAX_MESSAGE_CHARS: usize = 300;

#[derive(Debug, PartialEq, Eq)]
pub(crate) enum BodyKind {
    Empty,
    Json,
    Html,
    Xml,
    Other,
}

pub(crate) fn body_kind(reply: &Reply) -> BodyKind {
    let content_type = reply.content_type().to_ascii_lowercase();
    let text =
        String::from_utf8_lossy(&reply.body[..reply.body.len().min(256)]).to_ascii_lowercase();
    let text = text.trim_start();
    if reply.body.iter().all(u8::is_ascii_whitespace) {
        BodyKind::Empty
    } else if content_type.contains("json") {
        BodyKind::Json
    } else if content_type.contains("html")
        || text.starts_with("<!doctype html")
        || text.starts_with("<html")
    {
        BodyKind::Html
    } else if content_type.contains("xml") || text.starts_with('<') {
        BodyKind::Xml
    } else if content_type.is_empty() && (text.starts_with('{') || text.starts_with('[')) {
        BodyKind::Json
    } else {
        BodyKind::Other
    }
}

/// A successful JSON answer decoded into `T`; anything else is an error.
pub(crate) fn json<T: DeserializeOwned>(
    transport: &Transport,
    reply: Reply,
) -> Result<T, ConfluenceError> {
    if !reply.is_success() {
        return Err(status_error(transport, &reply));
    }
    match body_kind(&reply) {
        // serde_json's default depth limit (128) stays on: a body nested
        // deeper fails here instead of recursing off the end of the stack.
        BodyKind::Json => serde_json::from_slice(&reply.body).map_err(|err| {
            if err.to_string().starts_with("recursion limit exceeded") {
                // The same answer comes back however often it is asked for.
                undecodable(
                    transport,
                    &reply,
                    format!("JSON nested deeper than the decoder's limit of 128 levels ({err})"),
                    "no Confluence answer nests that deep, so the node or something in front of \
                     it is broken or hostile; check what answers at this tenant's base_url",
                    false,
                )
            } else {
                undecodable(
                    transport,
                    &reply,
                    format!("malformed or truncated JSON ({err})"),
                    "a proxy or the Confluence node cut or garbled the response; retry, and \
                     check proxy buffering and timeouts",
                    true,
                )
            }
        }),
        kind => Err(unexpected_body(transport, &reply, kind)),
    }
}

/// A successful answer whose body, if any, does not matter (writes answer
/// 200, 201 or 204, with or without a body).
pub(crate) fn success(transport: &Transport, reply: Reply) -> Result<Reply, ConfluenceError> {
    if reply.is_success() {
        Ok(reply)
    } else {
        Err(status_error(transport, &reply))
    }
}

/// The error for a body that is not the JSON we asked for.
pub(crate) fn unexpected_body(
    transport: &Transport,
    reply: &Reply,
    kind: BodyKind,
) -> ConfluenceError {
    let (what, advice) = match kind {
        BodyKind::Html => (
            "an HTML page (a login, CAPTCHA or websudo page, or a proxy's error page)".to_owned(),
            "check that base_url points at Confluence itself and that the account can log in; \
             JSON-RPC calls also need no secure administrator session prompt in the way",
        ),
        BodyKind::Xml => (
            format!("an XML body{}", message_suffix(server_message(reply))),
            "check the account's permissions for this endpoint",
        ),
        BodyKind::Empty => (
            "an empty body".to_owned(),
            "a proxy may be cutting responses; retry and check the proxy in front of Confluence",
        ),
        BodyKind::Json | BodyKind::Other => (
            format!("a `{}` body", reply.content_type()),
            "check that base_url points at Confluence itself, not a proxy or another service",
        ),
    };
    // A proxy's error page or a cut connection; XML and other types are
    // deliberate answers that would come back the same.
    let garbled = reply.is_success() && matches!(kind, BodyKind::Html | BodyKind::Empty);
    undecodable(transport, reply, what, advice, garbled)
}

fn undecodable(
    transport: &Transport,
    reply: &Reply,
    what: String,
    advice: &'static str,
    garbled: bool,
) -> ConfluenceError {
    transport.error(ErrorKind::Undecodable {
        method: reply.method,
        route: reply.route,
        status: reply.status,
        what,
        advice,
        garbled,
    })
}

/// The typed error for a non-success answer.
pub(crate) fn status_error(transport: &Transport, reply: &Reply) -> ConfluenceError {
    let method = reply.method;
    let route = reply.route;
    let message = || message_suffix(server_message(reply));
    let kind = match reply.status {
        300..=399 => ErrorKind::Redirected {
            method,
            route,
            status: reply.status,
            location: redirect_target(reply),
        },
        401 => ErrorKind::Unauthorized {
            method,
            route,
            message: message(),
        },
        403 => ErrorKind::Forbidden {
            method,
            route,
            status: 403,
            message: message(),
        },
        404 => ErrorKind::NotFound {
            method,
            route,
            message: message(),
        },
        409 => ErrorKind::Conflict {
            method,
            route,
            message: message(),
        },
        402 => ErrorKind::Rejected {
            method,
            route,
            status: 402,
            message: message(),
            advice: "the Confluence license has no free seats; free or buy seats",
        },
        400 => ErrorKind::Rejected {
            method,
            route,
            status: 400,
            message: message(),
            advice: "check the values sent (usernames: lowercase, no whitespace, none of \\ , + < > ' \")",
        },
        status @ 400..=499 => ErrorKind::Rejected {
            method,
            route,
            status,
            message: message(),
            advice: "check the Confluence version detected for this tenant and the account's rights",
        },
        status => ErrorKind::Server {
            method,
            route,
            status,
            attempts: reply.attempts,
            hint: if route.starts_with("/rest/api/space/{key}/permissions") && status == 500 {
                " (Confluence 9.x answers 500 instead of 403 when the account is not an admin \
                 of the space, CONFSERVER-99908)"
            } else {
                ""
            },
        },
    };
    transport.error(kind)
}

/// Where a redirect points, as scheme, host and path only (no query).
fn redirect_target(reply: &Reply) -> String {
    let location = reply
        .headers
        .get(reqwest::header::LOCATION)
        .and_then(|value| value.to_str().ok())
        .unwrap_or_default();
    match reqwest::Url::parse(location) {
        Ok(url) => format!(
            " to {}://{}{}",
            url.scheme(),
            url.host_str().unwrap_or_default(),
            url.path()
        ),
        Err(_) if location.starts_with('/') => {
            format!(" to {}", location.split('?').next().unwrap_or_default())
        }
        Err(_) => String::new(),
    }
}

/// The human-readable message of an error body: a REST error's `message`, a
/// JSON-RPC `error.message`, or the XML `<message>` element.
pub(crate) fn server_message(reply: &Reply) -> Option<String> {
    let message = match body_kind(reply) {
        BodyKind::Json => {
            let value: serde_json::Value = serde_json::from_slice(&reply.body).ok()?;
            value
                .get("message")
                .or_else(|| value.get("error").and_then(|error| error.get("message")))
                .or_else(|| value.get("error"))
                .and_then(serde_json::Value::as_str)
                .map(str::to_owned)?
        }
        BodyKind::Xml => {
            let text = String::from_utf8_lossy(&reply.body);
            let start = text.find("<message>")? + "<message>".len();
            let end = text[start..].find("</message>")? + start;
            text[start..end].to_owned()
        }
        BodyKind::Empty | BodyKind::Html | BodyKind::Other => return None,
    };
    Some(message.chars().take(MAX_MESSAGE_CHARS).collect())
}

#[cfg(test)]
mod tests {
    use reqwest::header::{CONTENT_TYPE, HeaderMap, HeaderValue};

    use super::*;

    fn reply(status: u16, content_type: &str, body: &str) -> Reply {
        let mut headers = HeaderMap::new();
        if !content_type.is_empty() {
            headers.insert(CONTENT_TYPE, HeaderValue::from_str(content_type).unwrap());
        }
        Reply {
            method: "GET",
            route: "/rest/api/group/{name}/member",
            status,
            headers,
            body: body.as_bytes().to_vec(),
            attempts: 1,
        }
    }

    #[test]
    fn body_kind_trusts_content_type_then_sniffs() {
        assert_eq!(
            body_kind(&reply(200, "application/json;charset=UTF-8", "[]")),
            BodyKind::Json
        );
        assert_eq!(
            body_kind(&reply(200, "text/html", "<html>")),
            BodyKind::Html
        );
        assert_eq!(
            body_kind(&reply(200, "", "<!DOCTYPE html><html>")),
            BodyKind::Html
        );
        assert_eq!(
            body_kind(&reply(401, "application/xml", "<status/>")),
            BodyKind::Xml
        );
        assert_eq!(
            body_kind(&reply(204, "application/json", "")),
            BodyKind::Empty
        );
        assert_eq!(body_kind(&reply(200, "", "{\"a\":1}")), BodyKind::Json);
        assert_eq!(body_kind(&reply(200, "text/plain", "ok")), BodyKind::Other);
    }

    #[test]
    fn xml_status_message_is_extracted() {
        let body = "<status><status-code>401</status-code><message>Client must be authenticated \
                    to access this resource.</message></status>";
        let message = server_message(&reply(401, "application/xml", body));
        assert_eq!(
            message.as_deref(),
            Some("Client must be authenticated to access this resource.")
        );
    }

    #[test]
    fn rest_error_message_is_extracted() {
        let body =
            r#"{"statusCode":404,"message":"No group found with name: x","reason":"Not Found"}"#;
        let message = server_message(&reply(404, "application/json", body));
        assert_eq!(message.as_deref(), Some("No group found with name: x"));
    }
}
