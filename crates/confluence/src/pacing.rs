//! The pieces of a tenant's request pacing that hold numbers: a token bucket
//! that can be resized while requests wait on it, the server's limiter as
//! read from its `X-RateLimit-*` headers, and the snapshot `/status` shows.

use std::time::{Duration, Instant};

use reqwest::header::HeaderMap;
use serde::Serialize;

const LIMIT: &str = "x-ratelimit-limit";
const REMAINING: &str = "x-ratelimit-remaining";
const FILL_RATE: &str = "x-ratelimit-fillrate";
const INTERVAL_SECONDS: &str = "x-ratelimit-interval-seconds";

/// Bigger buckets or fill rates than this are not a real limiter's settings;
/// they are clamped so the arithmetic stays sane.
const MAX_SERVER_TOKENS: u32 = 1_000_000;
/// A refill interval longer than a day is clamped to a day.
const MAX_INTERVAL_SECONDS: u32 = 86_400;

/// How a tenant's requests are paced right now.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "mode", rename_all = "snake_case")]
pub enum Pacing {
    /// The server's limiter, learned from its headers.
    Learned {
        capacity: u32,
        fill_rate_per_second: f64,
        concurrency_limit: usize,
    },
    /// No server limit: concurrency adjusted from latency and errors.
    Adaptive { concurrency_limit: usize },
    /// The operator's `requests_per_second` is lower than anything the server allows.
    Ceiling {
        requests_per_second: f64,
        burst: u32,
        concurrency_limit: usize,
    },
}

impl Pacing {
    pub fn concurrency_limit(&self) -> usize {
        match self {
            Self::Learned {
                concurrency_limit, ..
            }
            | Self::Adaptive { concurrency_limit }
            | Self::Ceiling {
                concurrency_limit, ..
            } => *concurrency_limit,
        }
    }

    /// The server's rate, when it is the one pacing the tenant.
    pub fn learned_rate(&self) -> Option<f64> {
        match self {
            Self::Learned {
                fill_rate_per_second,
                ..
            } => Some(*fill_rate_per_second),
            Self::Ceiling { .. } | Self::Adaptive { .. } => None,
        }
    }
}

/// The server's token bucket, as its headers describe it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct ServerLimit {
    pub capacity: u32,
    pub fill_rate: u32,
    pub interval_seconds: u32,
    /// Tokens left after this request, when the header was readable.
    pub remaining: Option<u32>,
}

impl ServerLimit {
    /// Reads the limiter headers; `None` when they are absent or unusable
    /// (garbage, zero or negative). Absurdly large values are clamped.
    pub fn from_headers(headers: &HeaderMap) -> Option<Self> {
        let number = |name: &str| {
            let value = headers
                .get(name)?
                .to_str()
                .ok()?
                .trim()
                .parse::<f64>()
                .ok()?;
            (value.is_finite() && value >= 0.0)
                .then(|| value.min(f64::from(MAX_SERVER_TOKENS)) as u32)
        };
        let capacity = number(LIMIT).filter(|capacity| *capacity > 0)?;
        let fill_rate = number(FILL_RATE).filter(|rate| *rate > 0)?;
        let interval_seconds = number(INTERVAL_SECONDS)
            .filter(|seconds| *seconds > 0)
            .unwrap_or(1)
            .min(MAX_INTERVAL_SECONDS);
        Some(Self {
            capacity,
            fill_rate,
            interval_seconds,
            remaining: number(REMAINING).map(|remaining| remaining.min(capacity)),
        })
    }

    pub fn per_second(&self) -> f64 {
        f64::from(self.fill_rate) / f64::from(self.interval_seconds)
    }

    pub fn same_bucket(&self, other: &ServerLimit) -> bool {
        self.capacity == other.capacity
            && self.fill_rate == other.fill_rate
            && self.interval_seconds == other.interval_seconds
    }
}

/// A token bucket where each request reserves a token, going into debt if
/// none is left, and waits until its token would have been refilled: the
/// waiting requests leave at the fill rate, in order.
#[derive(Debug)]
pub(crate) struct TokenBucket {
    capacity: f64,
    per_second: f64,
    tokens: f64,
    updated: Instant,
}

impl TokenBucket {
    /// A bucket holding `tokens` of `capacity`, refilled at `per_second`.
    pub fn new(capacity: f64, per_second: f64, tokens: f64, now: Instant) -> Self {
        let capacity = capacity.max(1.0);
        Self {
            capacity,
            per_second: per_second.max(f64::MIN_POSITIVE),
            tokens: tokens.min(capacity),
            updated: now,
        }
    }

    fn refill(&mut self, now: Instant) {
        let elapsed = now.saturating_duration_since(self.updated).as_secs_f64();
        self.tokens = (self.tokens + elapsed * self.per_second).min(self.capacity);
        self.updated = self.updated.max(now);
    }

    /// Takes one token and returns how long to wait before using it.
    pub fn reserve(&mut self, now: Instant) -> Duration {
        self.refill(now);
        self.tokens -= 1.0;
        if self.tokens >= 0.0 {
            return Duration::ZERO;
        }
        Duration::try_from_secs_f64(-self.tokens / self.per_second).unwrap_or(Duration::MAX)
    }

    /// Lowers the tokens to at most `tokens` (what the server says it has left).
    pub fn at_most(&mut self, tokens: f64, now: Instant) {
        self.refill(now);
        self.tokens = self.tokens.min(tokens);
    }

    /// New size and rate, keeping the tokens (and any debt) already counted.
    pub fn resize(&mut self, capacity: f64, per_second: f64, now: Instant) {
        self.refill(now);
        self.capacity = capacity.max(1.0);
        self.per_second = per_second.max(f64::MIN_POSITIVE);
        self.tokens = self.tokens.min(self.capacity);
    }
}

#[cfg(test)]
mod tests {
    use reqwest::header::HeaderValue;

    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for (name, value) in pairs {
            headers.insert(*name, HeaderValue::from_static(value));
        }
        headers
    }

    #[test]
    fn the_servers_bucket_is_read_from_its_headers() {
        let limit = ServerLimit::from_headers(&headers(&[
            (LIMIT, "50"),
            (REMAINING, "49"),
            (FILL_RATE, "10"),
            (INTERVAL_SECONDS, "2"),
        ]))
        .expect("a limit");
        assert_eq!(
            limit,
            ServerLimit {
                capacity: 50,
                fill_rate: 10,
                interval_seconds: 2,
                remaining: Some(49)
            }
        );
        assert_eq!(limit.per_second(), 5.0);
    }

    #[test]
    fn garbage_and_absurd_limit_headers_are_ignored_or_clamped() {
        assert_eq!(ServerLimit::from_headers(&HeaderMap::new()), None);
        for bad in ["soon", "-5", "0", "NaN", "inf", ""] {
            let parsed = ServerLimit::from_headers(&headers(&[(LIMIT, bad), (FILL_RATE, "10")]));
            assert_eq!(parsed, None, "{bad}");
        }
        let huge = ServerLimit::from_headers(&headers(&[
            (LIMIT, "99999999999999999999"),
            (FILL_RATE, "1e300"),
            (INTERVAL_SECONDS, "garbage"),
            (REMAINING, "-1"),
        ]))
        .expect("clamped, not refused");
        assert_eq!(huge.capacity, MAX_SERVER_TOKENS);
        assert_eq!(huge.fill_rate, MAX_SERVER_TOKENS);
        assert_eq!(huge.interval_seconds, 1);
        assert_eq!(huge.remaining, None);
        let slow = ServerLimit::from_headers(&headers(&[
            (LIMIT, "5"),
            (FILL_RATE, "1"),
            (INTERVAL_SECONDS, "31536000"),
            (REMAINING, "900"),
        ]))
        .expect("a limit");
        assert_eq!(slow.interval_seconds, MAX_INTERVAL_SECONDS);
        assert_eq!(slow.remaining, Some(5));
    }

    #[test]
    fn a_bucket_spends_its_tokens_then_spaces_requests_at_the_fill_rate() {
        let start = Instant::now();
        let mut bucket = TokenBucket::new(3.0, 10.0, 3.0, start);
        let waits: Vec<Duration> = (0..5).map(|_| bucket.reserve(start)).collect();
        assert_eq!(waits[..3], [Duration::ZERO; 3]);
        assert!((waits[3].as_secs_f64() - 0.1).abs() < 1e-9, "{waits:?}");
        assert!((waits[4].as_secs_f64() - 0.2).abs() < 1e-9, "{waits:?}");
        // Half a second later the debt is paid and three tokens are back.
        let later = start + Duration::from_millis(500);
        assert_eq!(bucket.reserve(later), Duration::ZERO);
    }

    #[test]
    fn the_server_remaining_count_lowers_the_bucket() {
        let start = Instant::now();
        let mut bucket = TokenBucket::new(50.0, 10.0, 50.0, start);
        bucket.at_most(0.0, start);
        assert!(bucket.reserve(start) > Duration::ZERO);
        // Resized to 1 per second, a second debt token waits behind the first.
        bucket.resize(5.0, 1.0, start);
        let wait = bucket.reserve(start + Duration::from_millis(100));
        assert!((wait.as_secs_f64() - 1.9).abs() < 1e-9, "{wait:?}");
    }
}
