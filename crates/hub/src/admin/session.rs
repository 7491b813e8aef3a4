//! Browser sessions of the console: a random id in an `HttpOnly` cookie,
//! kept in memory with an expiry and a CSRF token of its own. Signing in
//! needs the admin token; rotating the token ends every session.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use subtle::ConstantTimeEq;

pub const COOKIE: &str = "hub_session";

/// A signed-in browser stays signed in this long (an on-call shift).
pub const LIFETIME: Duration = Duration::from_secs(12 * 3600);

/// Signing in again past this many live sessions drops the oldest: only
/// holders of the admin token create sessions, but memory stays bounded.
const MOST_SESSIONS: usize = 256;

struct Session {
    csrf: String,
    expires: Instant,
}

#[derive(Default)]
pub struct Sessions(Mutex<HashMap<String, Session>>);

/// 32 bytes from the thread-local CSPRNG (ChaCha, seeded from the OS), hex.
fn random_token() -> String {
    hex::encode(rand::random::<[u8; 32]>())
}

impl Sessions {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Session>> {
        // Plain data: a panic while holding the lock leaves it consistent.
        self.0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// A new session: its id (for the cookie) and its CSRF token.
    pub fn create(&self) -> (String, String) {
        let (id, csrf) = (random_token(), random_token());
        let now = Instant::now();
        let mut sessions = self.lock();
        sessions.retain(|_, session| session.expires > now);
        if sessions.len() >= MOST_SESSIONS
            && let Some(oldest) = sessions
                .iter()
                .min_by_key(|(_, session)| session.expires)
                .map(|(id, _)| id.clone())
        {
            sessions.remove(&oldest);
        }
        sessions.insert(
            id.clone(),
            Session {
                csrf: csrf.clone(),
                expires: now + LIFETIME,
            },
        );
        (id, csrf)
    }

    /// The CSRF token of a live session.
    pub fn csrf_of(&self, id: &str) -> Option<String> {
        let mut sessions = self.lock();
        let live = sessions
            .get(id)
            .is_some_and(|session| session.expires > Instant::now());
        if !live {
            sessions.remove(id);
            return None;
        }
        sessions.get(id).map(|session| session.csrf.clone())
    }

    pub fn end(&self, id: &str) {
        self.lock().remove(id);
    }

    pub fn end_all(&self) {
        self.lock().clear();
    }
}

/// Compares a submitted CSRF token with the session's in constant time.
pub fn csrf_matches(expected: &str, submitted: &str) -> bool {
    !expected.is_empty() && bool::from(expected.as_bytes().ct_eq(submitted.as_bytes()))
}

/// The session id in a request's `Cookie` headers.
pub fn cookie_value(headers: &axum::http::HeaderMap) -> Option<String> {
    headers
        .get_all(axum::http::header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == COOKIE)
        .map(|(_, value)| value.to_owned())
}

pub fn set_cookie(id: &str) -> String {
    format!(
        "{COOKIE}={id}; HttpOnly; SameSite=Strict; Path=/; Max-Age={}",
        LIFETIME.as_secs()
    )
}

pub fn clear_cookie() -> String {
    format!("{COOKIE}=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0")
}
