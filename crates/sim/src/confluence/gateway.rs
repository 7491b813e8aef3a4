//! What happens to every request before and after its route, in the order a
//! real deployment applies it: the proxy's faults, Tomcat's refusal of encoded
//! slashes, Seraph's authentication, the rate limiter, then the response
//! headers Confluence adds (`X-AUSERNAME`, `X-Seraph-LoginReason`, `X-RateLimit-*`).

use std::sync::Arc;
use std::sync::atomic::Ordering;

use axum::extract::{ConnectInfo, MatchedPath, Request, State};
use axum::http::{HeaderValue, Uri};
use axum::middleware::Next;
use axum::response::Response;

use super::app::App;
use super::auth::Caller;
use super::errors::{empty, login_denied, no_resource};
use super::faults::{self, Fault};
use super::listener::ConnectionHandle;

pub(crate) async fn gateway(
    State(app): State<Arc<App>>,
    ConnectInfo(connection): ConnectInfo<ConnectionHandle>,
    mut request: Request,
    next: Next,
) -> Response {
    let route = match request.extensions().get::<MatchedPath>() {
        Some(matched) => format!("{} {}", request.method(), matched.as_str()),
        None => format!("{} (unmatched)", request.method()),
    };
    app.counters.count(&route);

    let _in_flight = InFlight::enter(&app);
    let (latency, fault) = app.faults.next(
        request.uri().path().starts_with("/rpc/"),
        app.in_flight.load(Ordering::Relaxed),
    );
    if !latency.is_zero() {
        tokio::time::sleep(latency).await;
    }
    match fault {
        Some(Fault::Reset) => {
            connection.reset();
            // Never written: the connection fails on its first write.
            return empty(500);
        }
        Some(Fault::Unavailable { retry_after_secs }) => {
            return faults::unavailable(retry_after_secs, app.quirks.retry_after_http_date);
        }
        Some(Fault::HtmlRpcPage) => return faults::websudo_page(),
        Some(Fault::HtmlErrorPage) => return faults::proxy_error_page(),
        Some(Fault::Truncate { .. }) | None => {}
    }

    // Tomcat rejects an encoded slash in the path before Confluence sees it,
    // which is why group names with `/` cannot be used in path endpoints.
    if has_encoded_slash(request.uri()) {
        return no_resource(request.uri().path());
    }

    let authenticated = app.auth.authenticate(request.headers(), &app.read());
    let caller = match authenticated {
        Ok(caller) => caller,
        Err(denied) => return login_denied(denied.reason(), &app.render.base_url),
    };
    let rate = caller
        .username()
        .and_then(|username| app.limiter.take(username));
    if let Some(decision) = &rate
        && !decision.allowed
    {
        return app.limiter.rejection(decision);
    }

    let hostile = app.faults.hostile_for(request.uri().path());
    if let Some(answer) = hostile
        .as_ref()
        .and_then(|hostile| hostile.answer(request.uri()))
    {
        return answer;
    }

    let username = caller.username().unwrap_or("anonymous").to_owned();
    let known = matches!(caller, Caller::Known { .. });
    request.extensions_mut().insert(caller);
    let mut response = next.run(request).await;

    let headers = response.headers_mut();
    if let Ok(value) = HeaderValue::from_str(&username) {
        headers.insert("x-ausername", value);
    }
    if known {
        headers.insert("x-seraph-loginreason", HeaderValue::from_static("OK"));
    }
    if let Some(decision) = &rate {
        app.limiter.apply_headers(decision, headers);
    }
    if let Some(hostile) = &hostile {
        hostile.decorate(headers);
    }
    if let Some(Fault::Truncate { keep }) = fault {
        response = faults::truncate(response, keep).await;
    }
    response
}

/// Counts a request as in flight until it is answered.
struct InFlight<'a>(&'a App);

impl<'a> InFlight<'a> {
    fn enter(app: &'a App) -> Self {
        app.in_flight.fetch_add(1, Ordering::Relaxed);
        Self(app)
    }
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::Relaxed);
    }
}

fn has_encoded_slash(uri: &Uri) -> bool {
    let path = uri.path().as_bytes();
    path.windows(3).any(|window| {
        window[0] == b'%' && window[1] == b'2' && window[2].eq_ignore_ascii_case(&b'f')
    })
}

/// Paths no route matches.
pub(crate) async fn fallback(uri: Uri) -> Response {
    no_resource(uri.path())
}
