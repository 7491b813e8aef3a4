//! The error bodies Confluence sends, each in its own format: the JSON
//! `RestError`, the XML `<status>` of some endpoints, the HTML of Seraph's
//! login denials (docs/confluence-api-notes.md §10).

use axum::body::Body;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct RestError<'a> {
    status_code: u16,
    data: RestErrorData,
    message: &'a str,
    reason: &'a str,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct RestErrorData {
    authorized: bool,
    valid: bool,
    allowed_in_read_only_mode: bool,
    errors: [(); 0],
    successful: bool,
}

fn status_code(status: u16) -> StatusCode {
    StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
}

/// A JSON body with the right content type.
pub(crate) fn json_response<T: Serialize + ?Sized>(status: u16, body: &T) -> Response {
    match serde_json::to_vec(body) {
        Ok(bytes) => (
            status_code(status),
            [(header::CONTENT_TYPE, "application/json")],
            bytes,
        )
            .into_response(),
        Err(error) => plain(500, &format!("cannot encode response: {error}")),
    }
}

/// The JSON `RestError` most REST endpoints answer with.
pub(crate) fn rest_error(status: u16, message: &str) -> Response {
    let code = status_code(status);
    json_response(
        code.as_u16(),
        &RestError {
            status_code: code.as_u16(),
            data: RestErrorData {
                authorized: !matches!(code.as_u16(), 401 | 403),
                valid: code.as_u16() != 400,
                allowed_in_read_only_mode: true,
                errors: [],
                successful: false,
            },
            message,
            reason: code.canonical_reason().unwrap_or("Error"),
        },
    )
}

/// The XML `<status>` body (e.g. CONFSERVER-98582's 401 on member reads).
pub(crate) fn xml_status(status: u16, message: &str) -> Response {
    let body = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"yes\"?><status><status-code>{status}</status-code><message>{}</message></status>",
        escape_xml(message)
    );
    (
        status_code(status),
        [(header::CONTENT_TYPE, "application/xml")],
        body,
    )
        .into_response()
}

/// A `404` for a path no resource matches (Jersey answers in XML).
pub(crate) fn no_resource(path: &str) -> Response {
    xml_status(404, &format!("No resource at {path}"))
}

/// Seraph's basic-auth refusal: `401`, an HTML page, `X-Seraph-LoginReason`.
pub(crate) fn login_denied(reason: &'static str, base_url: &str) -> Response {
    let mut response = (
        StatusCode::UNAUTHORIZED,
        [(header::CONTENT_TYPE, "text/html;charset=UTF-8")],
        format!(
            "<!doctype html><html lang=\"en\"><head><title>HTTP Status 401 – Unauthorized</title></head>\
             <body><h1>HTTP Status 401 – Unauthorized</h1><p>Basic Authentication Failure - Reason : \
             {reason}</p></body></html>"
        ),
    )
        .into_response();
    let headers = response.headers_mut();
    headers.insert("x-seraph-loginreason", HeaderValue::from_static(reason));
    let realm = format!("OAuth realm=\"{}\"", utf8_encode_realm(base_url));
    if let Ok(value) = HeaderValue::from_str(&realm) {
        headers.insert(header::WWW_AUTHENTICATE, value);
    }
    response
}

/// A bare status with a short text body.
pub(crate) fn plain(status: u16, text: &str) -> Response {
    (
        status_code(status),
        [(header::CONTENT_TYPE, "text/plain;charset=UTF-8")],
        text.to_owned(),
    )
        .into_response()
}

/// A bodiless success such as `204`.
pub(crate) fn empty(status: u16) -> Response {
    let mut response = Response::new(Body::empty());
    *response.status_mut() = status_code(status);
    response
}

fn escape_xml(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

fn utf8_encode_realm(base_url: &str) -> String {
    percent_encoding::utf8_percent_encode(base_url, percent_encoding::NON_ALPHANUMERIC).to_string()
}
