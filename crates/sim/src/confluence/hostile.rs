//! Answers of a hostile or broken Confluence, for testing that a client's
//! memory stays bounded: a listing that never ends, a body far larger than
//! any real page, a body that never ends; and a proxy's HTML error page that
//! keeps coming, for testing that a client gives up. Each applies to the requests whose
//! path starts with a given prefix, after authentication, so a client gets
//! as far as the listing before it meets one.

use std::convert::Infallible;

use axum::body::{Body, Bytes};
use axum::http::{StatusCode, Uri, header};
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

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
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
}

impl Hostile {
    pub(crate) fn applies_to(&self, path: &str) -> bool {
        path.starts_with(&self.path_prefix)
    }

    pub(crate) fn answer(&self, uri: &Uri) -> Response {
        match self.answer {
            HostileAnswer::EndlessPages => endless_page(uri),
            HostileAnswer::HugeBody { bytes } => streamed_json(Some(bytes)),
            HostileAnswer::EndlessBody => streamed_json(None),
            HostileAnswer::ProxyPage => proxy_error_page(),
        }
    }
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
