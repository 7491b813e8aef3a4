//! Offset pagination exactly as Confluence pages: a silent cap on `limit`
//! (echoed back), `size` = results on the page, and `_links.next` computed
//! from the *requested* limit, so a client that follows it after a cap skips
//! records (docs/confluence-api-notes.md §3).

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use serde::Serialize;

use super::params::Params;

/// Characters escaped in query components of generated links.
const QUERY_COMPONENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct PageRequest {
    pub start: usize,
    /// What the client asked for.
    pub requested: usize,
    /// What the server applies: `requested` capped.
    pub limit: usize,
}

impl PageRequest {
    /// Reads `start` and `limit`; a bad number is a `400` message.
    pub fn parse(params: &Params, default_limit: usize, cap: usize) -> Result<PageRequest, String> {
        let number = |name: &str, default: usize| match params.get(name) {
            None | Some("") => Ok(default),
            Some(text) => text
                .trim()
                .parse::<usize>()
                .map_err(|_| format!("Invalid {name}: {text}")),
        };
        let start = number("start", 0)?;
        let requested = number("limit", default_limit)?;
        Ok(PageRequest {
            start,
            requested,
            limit: requested.min(cap),
        })
    }

    /// The slice of a listing of `total` items this page covers.
    pub fn range(&self, total: usize) -> std::ops::Range<usize> {
        let start = self.start.min(total);
        start..self.start.saturating_add(self.limit).min(total)
    }
}

/// Where the page's links point and how `next` is computed.
pub(crate) struct LinkContext<'a> {
    pub base_url: &'a str,
    pub path: &'a str,
    pub params: &'a Params,
    pub next_from_requested_limit: bool,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Page<T> {
    pub results: Vec<T>,
    pub start: usize,
    pub limit: usize,
    pub size: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub total_count: Option<usize>,
    #[serde(rename = "_links")]
    pub links: PageLinks,
}

#[derive(Serialize)]
pub(crate) struct PageLinks {
    #[serde(rename = "self")]
    pub self_link: String,
    pub base: String,
    pub context: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub prev: Option<String>,
}

impl<T> Page<T> {
    /// A page of `results`; `has_more` says whether a `next` link is due.
    pub fn new(
        results: Vec<T>,
        request: &PageRequest,
        has_more: bool,
        links: &LinkContext<'_>,
    ) -> Page<T> {
        let size = results.len();
        let next = has_more.then(|| {
            let step = if links.next_from_requested_limit {
                request.requested
            } else {
                size
            };
            relative_link(links, request.requested, request.start.saturating_add(step))
        });
        let prev = (request.start > 0).then(|| {
            relative_link(
                links,
                request.requested,
                request.start.saturating_sub(request.requested),
            )
        });
        Page {
            results,
            start: request.start,
            limit: request.limit,
            size,
            total_count: None,
            links: PageLinks {
                self_link: format!("{}{}", links.base_url, links.path),
                base: links.base_url.to_owned(),
                context: "",
                next,
                prev,
            },
        }
    }

    /// The standard case: a window of a listing of `total` items.
    pub fn of_listing(
        results: Vec<T>,
        request: &PageRequest,
        total: usize,
        links: &LinkContext<'_>,
    ) -> Page<T> {
        let has_more = request.start.saturating_add(results.len()) < total && !results.is_empty();
        Page::new(results, request, has_more, links)
    }
}

/// `path?<other params>&limit=L&start=S`, relative as Confluence writes it.
fn relative_link(links: &LinkContext<'_>, limit: usize, start: usize) -> String {
    let mut query: Vec<String> = links
        .params
        .pairs()
        .iter()
        .filter(|(key, _)| key != "start" && key != "limit")
        .map(|(key, value)| {
            format!(
                "{}={}",
                utf8_percent_encode(key, QUERY_COMPONENT),
                utf8_percent_encode(value, QUERY_COMPONENT)
            )
        })
        .collect();
    query.push(format!("limit={limit}"));
    query.push(format!("start={start}"));
    format!("{}?{}", links.path, query.join("&"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(pairs: &[(&str, &str)]) -> Params {
        Params::from_pairs(
            pairs
                .iter()
                .map(|(key, value)| (key.to_string(), value.to_string()))
                .collect(),
        )
    }

    fn context(params: &Params) -> LinkContext<'_> {
        LinkContext {
            base_url: "http://127.0.0.1:1",
            path: "/rest/api/user/list",
            params,
            next_from_requested_limit: true,
        }
    }

    #[test]
    fn limit_is_capped_silently_and_echoed() {
        let params = params(&[("limit", "500")]);
        let request = PageRequest::parse(&params, 200, 200).expect("valid");
        assert_eq!(
            request,
            PageRequest {
                start: 0,
                requested: 500,
                limit: 200
            }
        );
        let page = Page::of_listing(vec![0; 200], &request, 1000, &context(&params));
        assert_eq!(page.limit, 200);
        assert_eq!(page.size, 200);
        // The real server's bug: next starts at start + requested limit.
        assert_eq!(
            page.links.next.as_deref(),
            Some("/rest/api/user/list?limit=500&start=500")
        );
    }

    #[test]
    fn next_can_be_computed_from_the_returned_count() {
        let params = params(&[("limit", "500"), ("expand", "status")]);
        let request = PageRequest::parse(&params, 200, 200).expect("valid");
        let mut links = context(&params);
        links.next_from_requested_limit = false;
        let page = Page::of_listing(vec![0; 200], &request, 1000, &links);
        assert_eq!(
            page.links.next.as_deref(),
            Some("/rest/api/user/list?expand=status&limit=500&start=200")
        );
    }

    #[test]
    fn the_last_page_has_no_next_link() {
        let params = params(&[("start", "900"), ("limit", "100")]);
        let request = PageRequest::parse(&params, 200, 200).expect("valid");
        let page = Page::of_listing(vec![0; 100], &request, 1000, &context(&params));
        assert!(page.links.next.is_none());
        assert_eq!(
            page.links.prev.as_deref(),
            Some("/rest/api/user/list?limit=100&start=800")
        );
    }

    #[test]
    fn bad_numbers_are_rejected() {
        assert!(PageRequest::parse(&params(&[("limit", "ten")]), 25, 100).is_err());
        assert!(PageRequest::parse(&params(&[("start", "-1")]), 25, 100).is_err());
    }

    #[test]
    fn ranges_stay_inside_the_listing() {
        let request = PageRequest {
            start: 95,
            requested: 25,
            limit: 25,
        };
        assert_eq!(request.range(100), 95..100);
        assert_eq!(
            PageRequest {
                start: 150,
                requested: 25,
                limit: 25
            }
            .range(100),
            100..100
        );
    }
}
