//! One logical Confluence request: paced by the tenant's limiter, retried on
//! transient failures, traced (a span with method, route template, status and
//! retry count) and counted. Answers that are not transient go to the caller's
//! decoder; a read whose body the decoder finds garbled (cut, or replaced by a
//! proxy's page) is sent again under the same retry budget.

use std::error::Error as _;
use std::fmt;
use std::io;
use std::sync::{PoisonError, RwLock};
use std::time::{Duration, Instant};

use bytes::Bytes;
use reqwest::header::{CONTENT_TYPE, HeaderMap, HeaderName, HeaderValue};
use reqwest::{Method, Url};
use tracing::Instrument as _;
use zeroize::Zeroizing;

use super::concurrency::Outcome;
use super::error::{ConfluenceError, ErrorKind};
use super::http;
use super::pacing::Pacing;
use super::ratelimit::{Admission, TenantLimiter, outcome_of_status};
use super::retry::{RetryBudget, RetryReason};
use super::route::Route;
use super::settings::ClientSettings;
use super::stats::{ClientStats, Counters};
use platform::metrics;

/// Confluence's XSRF check passes REST writes carrying this header.
const ATLASSIAN_TOKEN: HeaderName = HeaderName::from_static("x-atlassian-token");

/// A request to send: method, route, query, optional JSON body. Its
/// `Debug` leaves the body out: a new account's password travels in it.
/// Each attempt hands the HTTP client another reference to the same body
/// buffer, never a copy.
pub(crate) struct Request {
    method: Method,
    pub route: Route,
    query: Vec<(&'static str, String)>,
    body: Option<Bytes>,
    idempotent: bool,
    /// Changes nothing on the server, so a garbled answer may be asked again.
    read: bool,
}

impl Request {
    fn new(method: Method, route: Route) -> Self {
        Self {
            read: method == Method::GET,
            method,
            route,
            query: Vec::new(),
            body: None,
            idempotent: true,
        }
    }

    pub fn get(route: Route) -> Self {
        Self::new(Method::GET, route)
    }

    pub fn put(route: Route) -> Self {
        Self::new(Method::PUT, route)
    }

    pub fn delete(route: Route) -> Self {
        Self::new(Method::DELETE, route)
    }

    /// A POST that may safely be repeated (JSON-RPC reads and idempotent writes).
    pub fn post(route: Route) -> Self {
        Self::new(Method::POST, route)
    }

    /// Marks a POST that only reads (a JSON-RPC read method): a garbled
    /// answer to it is asked again, as for a GET.
    pub fn read_only(mut self) -> Self {
        self.read = true;
        self
    }

    pub fn query(mut self, name: &'static str, value: impl Into<String>) -> Self {
        self.query.push((name, value.into()));
        self
    }

    pub fn json(mut self, body: &serde_json::Value) -> Self {
        self.body = Some(Bytes::from(body.to_string().into_bytes()));
        self
    }

    /// A JSON body that carries a secret (a new account's password). It is
    /// written straight into one buffer of exactly its size (a growing buffer
    /// would leave unwiped copies behind) and that buffer is zeroed once the
    /// last attempt and the request are done with it.
    pub fn sensitive_json(mut self, body: &impl serde::Serialize) -> serde_json::Result<Self> {
        self.body = Some(Bytes::from_owner(serialize_exactly(body)?));
        Ok(self)
    }

    /// Creates something: repeating it after the server may have acted
    /// (a 502/503/504 or a timeout) could act twice, so only a 429 or a
    /// failure to connect is retried.
    pub fn not_idempotent(mut self) -> Self {
        self.idempotent = false;
        self
    }

    pub fn method_name(&self) -> &'static str {
        method_name(&self.method)
    }

    fn is_write(&self) -> bool {
        self.method != Method::GET
    }
}

impl fmt::Debug for Request {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Request")
            .field("method", &self.method)
            .field("route", &self.route.template)
            .field("body_bytes", &self.body.as_ref().map_or(0, Bytes::len))
            .field("idempotent", &self.idempotent)
            .field("read", &self.read)
            .finish_non_exhaustive()
    }
}

fn method_name(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::PUT => "PUT",
        Method::POST => "POST",
        Method::DELETE => "DELETE",
        _ => "OTHER",
    }
}

/// A final (non-transient) answer.
#[derive(Debug)]
pub(crate) struct Reply {
    pub method: &'static str,
    pub route: &'static str,
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
    pub attempts: u32,
}

impl Reply {
    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }

    pub fn content_type(&self) -> &str {
        self.headers
            .get(CONTENT_TYPE)
            .and_then(|value| value.to_str().ok())
            .unwrap_or_default()
    }
}

/// Why one attempt got no answer.
enum Failure {
    Status {
        status: u16,
        server_wait: Option<Duration>,
    },
    Timeout,
    Connection {
        detail: String,
        before_sending: bool,
    },
    /// A read answered, but its decoder found the body cut or replaced.
    Garbled(ConfluenceError),
}

#[derive(Debug)]
pub(crate) struct Transport {
    pub tenant: String,
    /// The tenant's settings; a new HTTP client is built from them.
    settings: ClientSettings,
    /// Built on the first request, dropped (pool and all) by
    /// [`Transport::release_idle_connections`]: a tenant between syncs holds
    /// no client.
    http: RwLock<Option<reqwest::Client>>,
    /// The base URL as text, without a trailing slash.
    base: String,
    limiter: TenantLimiter,
    counters: Counters,
}

impl Transport {
    /// The tenant's limiter, with settings proven to make an HTTP client
    /// (TLS, CA, credentials): a bad one fails here, when the tenant starts.
    pub fn new(settings: &ClientSettings) -> Result<Self, ConfluenceError> {
        http::build_client(settings)?;
        Ok(Self {
            tenant: settings.tenant.clone(),
            http: RwLock::new(None),
            settings: settings.clone(),
            base: settings.base_url.as_str().trim_end_matches('/').to_owned(),
            limiter: TenantLimiter::new(
                settings.rate_ceiling,
                settings.max_in_flight,
                settings.concurrency_ceiling(),
                settings.retry.max_elapsed,
            ),
            counters: Counters::default(),
        })
    }

    pub fn stats(&self) -> ClientStats {
        self.counters.snapshot()
    }

    /// Closes the connections nobody is using now: the next request builds
    /// a new client, and the old pool closes its connections once the
    /// requests still using them (a provisioning task's, say) are done.
    pub fn release_idle_connections(&self) {
        *self.http.write().unwrap_or_else(PoisonError::into_inner) = None;
    }

    /// The client requests go through, built when there is none.
    fn client(&self) -> Result<reqwest::Client, ConfluenceError> {
        if let Some(http) = &*self.http.read().unwrap_or_else(PoisonError::into_inner) {
            return Ok(http.clone());
        }
        let mut slot = self.http.write().unwrap_or_else(PoisonError::into_inner);
        if let Some(http) = &*slot {
            return Ok(http.clone());
        }
        let http = http::build_client(&self.settings)?;
        *slot = Some(http.clone());
        Ok(http)
    }

    pub fn pacing(&self) -> Pacing {
        self.limiter.pacing()
    }

    /// Feeds a finished attempt to the limiter and publishes the pacing.
    fn finish(&self, admission: Admission<'_>, latency: Duration, outcome: Outcome) {
        self.limiter.finish(admission, latency, outcome);
        let pacing = self.limiter.pacing();
        metrics::confluence_pacing(
            &self.tenant,
            pacing.concurrency_limit(),
            pacing.learned_rate(),
        );
    }

    pub fn error(&self, kind: ErrorKind) -> ConfluenceError {
        ConfluenceError::new(&self.tenant, kind)
    }

    /// Sends `request`, retrying transient failures within the retry policy.
    pub async fn send(&self, request: &Request) -> Result<Reply, ConfluenceError> {
        self.fetch(request, |_, reply| Ok(reply)).await
    }

    /// Sends `request` and hands its final answer to `decode`. When the
    /// request is a read and `decode` finds the body garbled, the request is
    /// sent again within the same retry budget; once the budget is spent, the
    /// decoder's error is returned.
    pub async fn fetch<T>(
        &self,
        request: &Request,
        decode: impl Fn(&Transport, Reply) -> Result<T, ConfluenceError>,
    ) -> Result<T, ConfluenceError> {
        let span = tracing::info_span!(
            "confluence.request",
            tenant = %self.tenant,
            http.request.method = request.method_name(),
            url.template = request.route.template,
            http.response.status_code = tracing::field::Empty,
            retries = tracing::field::Empty,
        );
        self.send_with_retries(request, decode)
            .instrument(span)
            .await
    }

    async fn send_with_retries<T>(
        &self,
        request: &Request,
        decode: impl Fn(&Transport, Reply) -> Result<T, ConfluenceError>,
    ) -> Result<T, ConfluenceError> {
        let method = request.method_name();
        let route = request.route.template;
        let url = Url::parse(&format!("{}{}", self.base, request.route.path)).map_err(|err| {
            self.error(ErrorKind::Setup {
                detail: format!("cannot form a URL for {route}: {err}"),
            })
        })?;
        let http = self.client()?;
        let mut budget = RetryBudget::start(&self.settings.retry);
        loop {
            let attempt = budget.begin_attempt();
            let (admission, waited) = self.limiter.acquire().await;
            if !waited.is_zero() {
                self.counters.waited(waited);
                metrics::rate_limit_wait(&self.tenant, waited);
            }
            let started = Instant::now();
            let outcome = self.attempt(&http, request, url.clone()).await;
            self.counters.request_sent();
            let latency = started.elapsed();
            let span = tracing::Span::current();
            span.record("retries", attempt - 1);

            let failure = match outcome {
                Ok((status, headers, body)) => {
                    span.record("http.response.status_code", status);
                    metrics::confluence_request(&self.tenant, method, route, status, latency);
                    let server_wait = self.limiter.observe(status, &headers);
                    self.finish(admission, latency, outcome_of_status(status));
                    if status == 429 {
                        self.counters.rate_limited();
                    }
                    let retryable = RetryReason::for_status(status).is_some()
                        && (request.idempotent || status == 429);
                    if retryable {
                        Failure::Status {
                            status,
                            server_wait,
                        }
                    } else {
                        let reply = Reply {
                            method,
                            route,
                            status,
                            headers,
                            body,
                            attempts: attempt,
                        };
                        match decode(self, reply) {
                            Err(err) if request.read && err.is_garbled() => Failure::Garbled(err),
                            decoded => return decoded,
                        }
                    }
                }
                Err(AttemptError::TooLarge) => {
                    let cap = self.settings.max_response_bytes;
                    return Err(self.error(ErrorKind::ResponseTooLarge { method, route, cap }));
                }
                Err(AttemptError::Http(err)) => {
                    // Status 0: no answer at all (refused, reset, timed out).
                    metrics::confluence_request(&self.tenant, method, route, 0, latency);
                    self.finish(admission, latency, Outcome::Overloaded);
                    let failure = if err.is_timeout() {
                        Failure::Timeout
                    } else {
                        Failure::Connection {
                            detail: describe(&err),
                            before_sending: err.is_connect(),
                        }
                    };
                    let repeatable = request.idempotent
                        || matches!(
                            failure,
                            Failure::Connection {
                                before_sending: true,
                                ..
                            }
                        );
                    if !repeatable {
                        return Err(self.exhausted(method, route, attempt, failure));
                    }
                    failure
                }
            };

            let (reason, server_wait) = match &failure {
                Failure::Status {
                    status,
                    server_wait,
                } => (
                    RetryReason::for_status(*status).unwrap_or(RetryReason::ServerBusy),
                    *server_wait,
                ),
                Failure::Timeout => (RetryReason::Timeout, None),
                Failure::Connection { .. } => (RetryReason::Connection, None),
                Failure::Garbled(_) => (RetryReason::Garbled, None),
            };
            // A 429 asking for more than the whole budget: say so, rather
            // than blame a client sharing the account's limit.
            if let Failure::Status { status: 429, .. } = failure
                && let Some(wait) =
                    server_wait.filter(|wait| *wait > self.settings.retry.max_elapsed)
            {
                let budget = self.settings.retry.max_elapsed;
                return Err(self.error(ErrorKind::WaitBeyondBudget {
                    method,
                    route,
                    wait,
                    budget,
                }));
            }
            let Some(delay) = budget.next_delay(server_wait, &mut rand::rng()) else {
                return Err(self.exhausted(method, route, budget.attempts(), failure));
            };
            self.counters.retried(reason);
            metrics::confluence_retry(&self.tenant, reason.label());
            tracing::debug!(
                attempt,
                reason = reason.label(),
                delay_ms = delay.as_millis() as u64,
                "retrying"
            );
            if reason == RetryReason::RateLimited || server_wait.is_some() {
                // The server said wait (a 429, or a Retry-After): the whole
                // tenant waits, and the next `acquire` spends and counts it.
                self.limiter.pause(delay);
            } else {
                tokio::time::sleep(delay).await;
            }
        }
    }

    async fn attempt(
        &self,
        http: &reqwest::Client,
        request: &Request,
        url: Url,
    ) -> Result<(u16, HeaderMap, Vec<u8>), AttemptError> {
        let mut builder = http.request(request.method.clone(), url);
        if !request.query.is_empty() {
            builder = builder.query(&request.query);
        }
        if request.is_write() {
            builder = builder
                .header(CONTENT_TYPE, HeaderValue::from_static("application/json"))
                .header(ATLASSIAN_TOKEN, HeaderValue::from_static("no-check"));
        }
        if let Some(body) = &request.body {
            // A new reference to the shared buffer, not a copy of the bytes.
            builder = builder.body(body.clone());
        }
        let response = builder.send().await?;
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let body = read_body_capped(response, self.settings.max_response_bytes).await?;
        Ok((status, headers, body))
    }

    fn exhausted(
        &self,
        method: &'static str,
        route: &'static str,
        attempts: u32,
        failure: Failure,
    ) -> ConfluenceError {
        let kind = match failure {
            Failure::Status {
                status: 429,
                server_wait,
            } => ErrorKind::RateLimited {
                method,
                route,
                attempts,
                wait: server_wait.unwrap_or_default(),
            },
            Failure::Status { status, .. } => ErrorKind::Server {
                method,
                route,
                status,
                attempts,
                hint: "",
            },
            Failure::Timeout => ErrorKind::Timeout {
                method,
                route,
                attempts,
                timeout: self.settings.request_timeout,
            },
            Failure::Connection { detail, .. } => ErrorKind::Transport {
                method,
                route,
                attempts,
                detail,
            },
            // The decoder's own error says what the body was and what to do.
            Failure::Garbled(err) => return err,
        };
        self.error(kind)
    }
}

/// Why one attempt's answer could not be read.
enum AttemptError {
    Http(reqwest::Error),
    /// The body passed the tenant's `max_response_bytes`.
    TooLarge,
}

impl From<reqwest::Error> for AttemptError {
    fn from(err: reqwest::Error) -> Self {
        Self::Http(err)
    }
}

/// Reads the body chunk by chunk and gives up as soon as it passes `cap`
/// bytes, so a huge or endless body costs at most `cap` of memory. A
/// declared length over the cap is refused before reading anything.
async fn read_body_capped(
    mut response: reqwest::Response,
    cap: u64,
) -> Result<Vec<u8>, AttemptError> {
    if response.content_length().is_some_and(|length| length > cap) {
        return Err(AttemptError::TooLarge);
    }
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await? {
        if (body.len() + chunk.len()) as u64 > cap {
            return Err(AttemptError::TooLarge);
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// `body` as JSON in a zeroizing buffer allocated once at its exact length
/// (a first pass only counts the bytes).
fn serialize_exactly(body: &impl serde::Serialize) -> serde_json::Result<Zeroizing<Vec<u8>>> {
    struct ByteCount(usize);
    impl io::Write for ByteCount {
        fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
            self.0 += bytes.len();
            Ok(bytes.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }
    let mut count = ByteCount(0);
    serde_json::to_writer(&mut count, body)?;
    // A slice cannot grow: a wrong count fails here instead of reallocating.
    let mut buffer = Zeroizing::new(vec![0; count.0]);
    serde_json::to_writer(&mut buffer[..], body)?;
    Ok(buffer)
}

/// A transport error with its causes, but without the URL (which may carry
/// names; the route template identifies the request instead).
fn describe(err: &reqwest::Error) -> String {
    let mut text = String::new();
    let mut source = err.source();
    while let Some(cause) = source {
        if !text.is_empty() {
            text.push_str(": ");
        }
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    if text.is_empty() {
        "the connection failed".to_owned()
    } else {
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_debug_leaves_the_body_out() {
        let body = serde_json::json!({"userName": "jdoe", "password": "hunter2"});
        let request = Request::post(Route::fixed("/rest/api/admin/user")).json(&body);
        let text = format!("{request:?}");
        assert!(
            !text.contains("hunter2") && !text.contains("jdoe"),
            "{text}"
        );
        assert!(text.contains("/rest/api/admin/user"), "{text}");
    }

    #[test]
    fn a_sensitive_body_is_written_into_one_buffer_of_its_exact_size() {
        // Escapes make the JSON longer than the text: the buffer must still
        // never grow, since a grown buffer leaves its old bytes unwiped.
        let body = serde_json::json!({"password": "p\u{1}\"ß\\\n", "name": "jdoe"});
        let buffer = serialize_exactly(&body).expect("serializes");
        assert_eq!(buffer.as_slice(), body.to_string().as_bytes());
        assert_eq!(buffer.capacity(), buffer.len());

        let request = Request::post(Route::fixed("/rest/api/admin/user"))
            .sensitive_json(&body)
            .expect("serializes");
        assert_eq!(request.body.as_deref(), Some(body.to_string().as_bytes()));
    }
}
