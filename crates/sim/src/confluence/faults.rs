//! Seeded, reproducible fault injection: latency, 503s with `Retry-After`,
//! connection resets, bodies cut at a random point, a proxy's HTML error page
//! with status 200 on any route, and websudo HTML pages on JSON-RPC.
//! Request number n since the faults were set always gets the same fault for
//! the same seed, so a failing test replays exactly.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime};

use arc_swap::ArcSwap;
use axum::body::{Body, to_bytes};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};

use super::hostile::Hostile;

/// What to inject; every rate is a probability per request in `0.0..=1.0`.
/// The default injects nothing.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct Faults {
    pub seed: u64,
    /// Added to every request before it is handled.
    #[serde(with = "humantime_serde")]
    pub latency: Duration,
    /// `503 Service Unavailable` with `Retry-After`, as a proxy in front of an overloaded node answers.
    pub status_503_rate: f64,
    /// The connection is reset (TCP RST) without a response.
    pub reset_rate: f64,
    /// A response body is cut at a random point (status and headers kept:
    /// still `200`, still `application/json`), as a proxy that drops the
    /// upstream connection mid-body delivers it.
    #[serde(alias = "truncateRate")]
    pub truncated_rate: f64,
    /// Any request answers `200` with a proxy's `text/html` error page
    /// instead of reaching Confluence.
    pub html_rate: f64,
    /// A JSON-RPC call answers `200` with a `text/html` websudo page.
    pub html_rpc_rate: f64,
    /// `Retry-After` of injected 503s, in seconds.
    pub retry_after_secs: u64,
    /// A hostile answer to some requests (not keyed on the seed: every one).
    pub hostile: Option<Hostile>,
    /// Requests the node serves at once; with more in flight, `latency`
    /// grows in proportion, as an overloaded node queues them. 0: no knee.
    pub knee: usize,
}

impl Default for Faults {
    fn default() -> Self {
        Self {
            seed: 0,
            latency: Duration::ZERO,
            status_503_rate: 0.0,
            reset_rate: 0.0,
            truncated_rate: 0.0,
            html_rate: 0.0,
            html_rpc_rate: 0.0,
            retry_after_secs: 1,
            hostile: None,
            knee: 0,
        }
    }
}

impl Faults {
    fn is_active(&self) -> bool {
        !self.latency.is_zero()
            || self.status_503_rate > 0.0
            || self.reset_rate > 0.0
            || self.truncated_rate > 0.0
            || self.html_rate > 0.0
            || self.html_rpc_rate > 0.0
    }
}

/// The fault chosen for one request.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum Fault {
    Unavailable {
        retry_after_secs: u64,
    },
    Reset,
    HtmlRpcPage,
    HtmlErrorPage,
    /// Keep this share (`0.0..1.0`) of the body.
    Truncate {
        keep: f64,
    },
}

struct FaultPlan {
    faults: Faults,
    next_sequence: AtomicU64,
    /// Every latency added since the faults were set, for benchmarks.
    added_latencies: Mutex<Vec<Duration>>,
}

/// The faults in force and the request counter they are keyed on. Swapping
/// faults restarts the counter, so a test that sets faults and then sends a
/// sequence of requests sees the same faults on every run.
pub(crate) struct FaultInjector {
    plan: ArcSwap<FaultPlan>,
}

impl FaultInjector {
    pub fn new(faults: Faults) -> Self {
        Self {
            plan: ArcSwap::from_pointee(FaultPlan {
                faults,
                next_sequence: AtomicU64::new(0),
                added_latencies: Mutex::new(Vec::new()),
            }),
        }
    }

    pub fn set(&self, faults: Faults) {
        self.plan.store(Arc::new(FaultPlan {
            faults,
            next_sequence: AtomicU64::new(0),
            added_latencies: Mutex::new(Vec::new()),
        }));
    }

    pub fn current(&self) -> Faults {
        self.plan.load().faults.clone()
    }

    /// The hostile answer for a request to `path`, if one applies.
    pub fn hostile_for(&self, path: &str) -> Option<Hostile> {
        let plan = self.plan.load();
        plan.faults
            .hostile
            .as_ref()
            .filter(|hostile| hostile.applies_to(path))
            .cloned()
    }

    /// The latencies added to requests since the faults were last set.
    pub fn added_latencies(&self) -> Vec<Duration> {
        let plan = self.plan.load();
        let added = plan
            .added_latencies
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        added.clone()
    }

    /// The latency and fault for the next request, with `in_flight` requests
    /// (itself included) being handled. Each kind has its own roll, so
    /// changing one rate does not move the others' faults.
    pub fn next(&self, is_rpc: bool, in_flight: usize) -> (Duration, Option<Fault>) {
        let plan = self.plan.load();
        let faults = &plan.faults;
        if !faults.is_active() {
            return (Duration::ZERO, None);
        }
        let sequence = plan.next_sequence.fetch_add(1, Ordering::Relaxed);
        let hits = |salt: u64, rate: f64| rate > 0.0 && roll(faults.seed, sequence, salt) < rate;
        let fault = if hits(1, faults.reset_rate) {
            Some(Fault::Reset)
        } else if hits(2, faults.status_503_rate) {
            Some(Fault::Unavailable {
                retry_after_secs: faults.retry_after_secs,
            })
        } else if is_rpc && hits(3, faults.html_rpc_rate) {
            Some(Fault::HtmlRpcPage)
        } else if hits(5, faults.html_rate) {
            Some(Fault::HtmlErrorPage)
        } else if hits(4, faults.truncated_rate) {
            Some(Fault::Truncate {
                keep: roll(faults.seed, sequence, 6),
            })
        } else {
            None
        };
        let latency = loaded_latency(faults.latency, faults.knee, in_flight);
        if !latency.is_zero() {
            plan.added_latencies
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .push(latency);
        }
        (latency, fault)
    }
}

/// `base` up to `knee` requests in flight, then in proportion to them.
fn loaded_latency(base: Duration, knee: usize, in_flight: usize) -> Duration {
    if knee == 0 || in_flight <= knee {
        return base;
    }
    base.mul_f64(in_flight as f64 / knee as f64)
}

/// A uniform number in `[0, 1)` from seed, request number and fault kind
/// (SplitMix64: fast, stateless, well mixed).
fn roll(seed: u64, sequence: u64, salt: u64) -> f64 {
    let mut value = seed
        ^ sequence.wrapping_mul(0x9E37_79B9_7F4A_7C15)
        ^ salt.wrapping_mul(0xD1B5_4A32_D192_ED03);
    value = value.wrapping_add(0x9E37_79B9_7F4A_7C15);
    value = (value ^ (value >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    value = (value ^ (value >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    value ^= value >> 31;
    (value >> 11) as f64 / (1u64 << 53) as f64
}

/// The page a load balancer serves when the node behind it is unavailable.
pub(crate) fn unavailable(retry_after_secs: u64, as_http_date: bool) -> Response {
    let retry_after = if as_http_date {
        httpdate::fmt_http_date(SystemTime::now() + Duration::from_secs(retry_after_secs))
    } else {
        retry_after_secs.to_string()
    };
    let mut response = (
        StatusCode::SERVICE_UNAVAILABLE,
        [(header::CONTENT_TYPE, "text/html;charset=UTF-8")],
        "<html><head><title>503 Service Unavailable</title></head><body><h1>Service Unavailable</h1></body></html>",
    )
        .into_response();
    if let Ok(value) = HeaderValue::from_str(&retry_after) {
        response.headers_mut().insert(header::RETRY_AFTER, value);
    }
    response
}

/// What JSON-RPC answers when a secure administrator session is required
/// (observed on 10.2.10: `200`, `text/html`).
pub(crate) fn websudo_page() -> Response {
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "text/html;charset=UTF-8")],
        "<!DOCTYPE html><html><head><title>Administrator Access - Confluence</title></head>\
         <body><div class=\"aui-message error\">com.atlassian.confluence.security.websudo.\
         WebSudoRequiredException: Secure administrator session required</div></body></html>",
    )
        .into_response()
}

/// What a reverse proxy serves, with status 200, when its upstream failed
/// in a way it does not map to a 5xx.
pub(crate) fn proxy_error_page() -> Response {
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "text/html;charset=UTF-8")],
        "<!DOCTYPE html><html><head><title>Error</title></head><body><h1>An error occurred.\
         </h1><p>Sorry, the page you are looking for is currently unavailable. Please try again \
         later.</p></body></html>",
    )
        .into_response()
}

/// Keeps the first `keep` share of the body (always less than all of it),
/// with status and headers (Content-Length fixed up).
pub(crate) async fn truncate(response: Response, keep: f64) -> Response {
    let (mut parts, body) = response.into_parts();
    let Ok(bytes) = to_bytes(body, usize::MAX).await else {
        return Response::from_parts(parts, Body::empty());
    };
    let length = ((bytes.len() as f64 * keep) as usize).min(bytes.len().saturating_sub(1));
    let cut = bytes.slice(..length);
    parts
        .headers
        .insert(header::CONTENT_LENGTH, HeaderValue::from(cut.len()));
    Response::from_parts(parts, Body::from(cut))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn faults(seed: u64) -> Faults {
        Faults {
            seed,
            status_503_rate: 0.2,
            reset_rate: 0.1,
            truncated_rate: 0.1,
            html_rate: 0.05,
            html_rpc_rate: 0.3,
            ..Faults::default()
        }
    }

    fn sequence(injector: &FaultInjector) -> Vec<Option<Fault>> {
        (0..200)
            .map(|index| injector.next(index % 2 == 0, 1).1)
            .collect()
    }

    #[test]
    fn the_same_seed_gives_the_same_faults_after_a_reset() {
        let injector = FaultInjector::new(faults(9));
        let first = sequence(&injector);
        injector.set(faults(9));
        assert_eq!(sequence(&injector), first);
        injector.set(faults(10));
        assert_ne!(sequence(&injector), first);
    }

    #[test]
    fn rates_are_roughly_honoured() {
        let injector = FaultInjector::new(Faults {
            seed: 1,
            status_503_rate: 0.25,
            ..Faults::default()
        });
        let hits = (0..10_000)
            .filter(|_| matches!(injector.next(false, 1).1, Some(Fault::Unavailable { .. })))
            .count();
        assert!((2_000..3_000).contains(&hits), "{hits}");
    }

    #[test]
    fn html_pages_only_hit_json_rpc() {
        let injector = FaultInjector::new(Faults {
            seed: 1,
            html_rpc_rate: 1.0,
            ..Faults::default()
        });
        assert_eq!(injector.next(false, 1).1, None);
        assert_eq!(injector.next(true, 1).1, Some(Fault::HtmlRpcPage));
    }

    #[test]
    fn proxy_pages_hit_every_route() {
        let injector = FaultInjector::new(Faults {
            seed: 1,
            html_rate: 1.0,
            ..Faults::default()
        });
        assert_eq!(injector.next(false, 1).1, Some(Fault::HtmlErrorPage));
        assert_eq!(injector.next(true, 1).1, Some(Fault::HtmlErrorPage));
    }

    #[test]
    fn bodies_are_cut_at_spread_out_points() {
        let injector = FaultInjector::new(Faults {
            seed: 4,
            truncated_rate: 1.0,
            ..Faults::default()
        });
        let kept: Vec<f64> = (0..200)
            .map(|_| match injector.next(false, 1).1 {
                Some(Fault::Truncate { keep }) => keep,
                other => panic!("{other:?}"),
            })
            .collect();
        assert!(kept.iter().all(|keep| (0.0..1.0).contains(keep)));
        assert!(kept.iter().any(|keep| *keep < 0.2) && kept.iter().any(|keep| *keep > 0.8));
    }

    #[tokio::test]
    async fn a_truncated_body_is_always_shorter_and_says_so() {
        for keep in [0.0, 0.37, 0.999_999] {
            let response = truncate("[1,2,3,4,5]".into_response(), keep).await;
            let length = response.headers()[header::CONTENT_LENGTH].clone();
            let body = to_bytes(response.into_body(), usize::MAX).await.unwrap();
            assert!(body.len() < 11, "{keep}: {body:?}");
            assert_eq!(length, HeaderValue::from(body.len()));
        }
    }

    #[test]
    fn no_faults_by_default() {
        let injector = FaultInjector::new(Faults::default());
        assert!((0..100).all(|_| injector.next(true, 1) == (Duration::ZERO, None)));
    }

    #[test]
    fn latency_grows_with_load_past_the_knee() {
        let base = Duration::from_millis(20);
        assert_eq!(loaded_latency(base, 0, 50), base);
        assert_eq!(loaded_latency(base, 6, 6), base);
        assert_eq!(loaded_latency(base, 6, 12), Duration::from_millis(40));
        let injector = FaultInjector::new(Faults {
            latency: base,
            knee: 4,
            ..Faults::default()
        });
        assert_eq!(injector.next(false, 8).0, Duration::from_millis(40));
        assert_eq!(injector.next(false, 1).0, base);
        assert_eq!(
            injector.added_latencies(),
            [Duration::from_millis(40), base]
        );
    }
}
