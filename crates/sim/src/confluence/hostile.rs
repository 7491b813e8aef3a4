//! Answers of a hostile or broken Confluence, for testing that a client
//! stays bounded and its tenant alone suffers: a listing that never ends, a
//! body far larger than any real page, a body that never ends, a 429 asking
//! for an absurd wait, nonsense rate-limit headers on real answers, JSON
//! nested deeper than any parser's stack allows; and a proxy's HTML error
//! page that keeps coming, for testing that a client gives up. Each applies
//! to the requests whose path starts with a given prefix, after
//! authentication, so a client gets as far as the listing before it meets
//! one.

use std::convert::Infallible;

use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};

use super::faults::proxy_error_page;

/// Streamed bodies go out in chunks of this size.
const CHUNK: usize = 64 * 1024;

/// Where and how the simulator misbehaves.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Hostile {
    /// Requests whose path starts with this (e.g. `/rest/api/group`).
    pub path_prefix: String,
    pub answer: HostileAnswer,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", tag = "kind")]
pub enum HostileAnswer {
    /// Every page holds one group never seen before and offers a next page.
    EndlessPages,
    /// A `200` JSON body of this many bytes, streamed without a length.
    HugeBody { bytes: u64 },
    /// A `200` JSON body that streams until the client hangs up.
    EndlessBody,
    /// A `200` HTML error page from a proxy, every time.
    ProxyPage,
    /// `429 Too Many Requests` with this `Retry-After` text, every time.
    RetryAfter { value: String },
    /// The real answer, with every `X-RateLimit-*` header set to this text.
    RateLimitHeaders { value: String },
    /// A `200` page of one user whose `status` is arrays nested this deep.
    NestedArrays { depth: usize },
}

impl Hostile {
    pub(crate) fn applies_to(&self, path: &str) -> bool {
        path.starts_with(&self.path_prefix)
    }

    /// The answer in place of the real one, or `None` when the real one goes
    /// out (see [`Hostile::decorate`]).
    pub(crate) fn answer(&self, uri: &Uri) -> Option<Response> {
        Some(match &self.answer {
            HostileAnswer::EndlessPages => endless_page(uri),
            HostileAnswer::HugeBody { bytes } => streamed_json(Some(*bytes)),
            HostileAnswer::EndlessBody => streamed_json(None),
            HostileAnswer::ProxyPage => proxy_error_page(),
            HostileAnswer::RetryAfter { value } => too_many_requests(value),
            HostileAnswer::NestedArrays { depth } => nested_arrays(*depth),
            HostileAnswer::RateLimitHeaders { .. } => return None,
        })
    }

    /// Spoils the headers of a real answer.
    pub(crate) fn decorate(&self, headers: &mut HeaderMap) {
        if let HostileAnswer::RateLimitHeaders { value } = &self.answer
            && let Ok(value) = HeaderValue::from_str(value)
        {
            for name in RATE_LIMIT_HEADERS {
                headers.insert(HeaderName::from_static(name), value.clone());
            }
        }
    }
}

const RATE_LIMIT_HEADERS: [&str; 4] = [
    "x-ratelimit-limit",
    "x-ratelimit-remaining",
    "x-ratelimit-interval-seconds",
    "x-ratelimit-fillrate",
];

fn too_many_requests(retry_after: &str) -> Response {
    let mut response = (
        StatusCode::TOO_MANY_REQUESTS,
        [(header::CONTENT_TYPE, "application/json")],
        r#"{"message":"Rate limit exceeded."}"#,
    )
        .into_response();
    if let Ok(value) = HeaderValue::from_str(retry_after) {
        response.headers_mut().insert(header::RETRY_AFTER, value);
    }
    response
}

/// One user whose `status` (which clients read as free-form JSON, since
/// versions disagree on its shape) is well-formed arrays nested `depth` deep:
/// only a parser without a depth limit recurses all the way down.
fn nested_arrays(depth: usize) -> Response {
    let mut body = String::with_capacity(2 * depth + 128);
    body.push_str(r#"{"results":[{"type":"known","username":"deep","userKey":"deep","status":"#);
    body.push_str(&"[".repeat(depth));
    body.push_str(&"]".repeat(depth));
    body.push_str(r#"}],"start":0,"limit":25,"size":1}"#);
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "application/json")],
        body,
    )
        .into_response()
}

fn endless_page(uri: &Uri) -> Response {
    let start: u64 = uri
        .query()
        .unwrap_or_default()
        .split('&')
        .find_map(|pair| pair.strip_prefix("start="))
        .and_then(|value| value.parse().ok())
        .unwrap_or(0);
    let next = start + 1;
    let page = serde_json::json!({
        "results": [{ "type": "group", "name": format!("endless-{start}") }],
        "start": start,
        "limit": 1,
        "size": 1,
        "_links": { "next": format!("{}?start={next}&limit=1", uri.path()) },
    });
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "application/json")],
        page.to_string(),
    )
        .into_response()
}

/// `{"results":[` and then spaces: valid JSON so far, never complete.
fn streamed_json(bytes: Option<u64>) -> Response {
    let opening = Bytes::from_static(b"{\"results\":[");
    let filler = Bytes::from(vec![b' '; CHUNK]);
    let chunks = std::iter::once(opening).chain(std::iter::repeat(filler));
    let body = match bytes {
        Some(total) => {
            let count = usize::try_from(total.div_ceil(CHUNK as u64)).unwrap_or(usize::MAX);
            Body::from_stream(futures::stream::iter(
                chunks.take(count).map(Ok::<_, Infallible>),
            ))
        }
        None => Body::from_stream(futures::stream::iter(chunks.map(Ok::<_, Infallible>))),
    };
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "application/json")],
        body,
    )
        .into_response()
}
