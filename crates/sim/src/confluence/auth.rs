//! Who is calling, decided the way Confluence's Seraph filter decides it: a
//! known PAT or a correct basic-auth password gives that user; an unknown PAT
//! or no credentials give the anonymous user (not an error); a wrong password
//! is refused with `401` and an HTML page (docs/confluence-api-notes.md §1).

use std::collections::HashMap;
use std::sync::Mutex;

use axum::http::{HeaderMap, header};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;

use super::state::State;

/// The caller of one request. Holds identifiers, not indexes: the user may be
/// deleted while the request is in flight.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Caller {
    Known { username: String, user_key: String },
    Anonymous,
}

impl Caller {
    pub fn username(&self) -> Option<&str> {
        match self {
            Caller::Known { username, .. } => Some(username),
            Caller::Anonymous => None,
        }
    }

    /// The caller's index in `state`, if it is still a user.
    pub fn index(&self, state: &State) -> Option<usize> {
        match self {
            Caller::Known { user_key, .. } => state.user_by_key(user_key),
            Caller::Anonymous => None,
        }
    }
}

/// Why a basic-auth login was refused; the value is `X-Seraph-LoginReason`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum LoginDenied {
    /// Wrong password, unknown or deactivated user.
    Failed,
    /// Too many failures: a CAPTCHA must be solved in the browser first.
    Captcha,
}

impl LoginDenied {
    pub fn reason(self) -> &'static str {
        match self {
            LoginDenied::Failed => "AUTHENTICATED_FAILED",
            LoginDenied::Captcha => "AUTHENTICATION_DENIED",
        }
    }
}

pub(crate) struct Authenticator {
    /// PAT → username.
    tokens: HashMap<String, String>,
    /// Consecutive failed logins per lower-cased username.
    failures: Mutex<HashMap<String, u32>>,
    captcha_after: Option<u32>,
}

impl Authenticator {
    pub fn new(tokens: HashMap<String, String>, captcha_after: Option<u32>) -> Self {
        Self {
            tokens,
            failures: Mutex::new(HashMap::new()),
            captcha_after,
        }
    }

    pub fn authenticate(&self, headers: &HeaderMap, state: &State) -> Result<Caller, LoginDenied> {
        let Some(value) = headers
            .get(header::AUTHORIZATION)
            .and_then(|value| value.to_str().ok())
        else {
            return Ok(Caller::Anonymous);
        };
        let (scheme, credentials) = value.trim().split_once(' ').unwrap_or((value, ""));
        if scheme.eq_ignore_ascii_case("bearer") {
            Ok(self.bearer(credentials.trim(), state))
        } else if scheme.eq_ignore_ascii_case("basic") {
            self.basic(credentials.trim(), state)
        } else {
            Ok(Caller::Anonymous)
        }
    }

    /// An unknown, expired or revoked token is treated as no token at all.
    fn bearer(&self, token: &str, state: &State) -> Caller {
        self.tokens
            .get(token)
            .and_then(|username| state.user_by_name(username))
            .map(|index| state.user(index))
            .filter(|user| user.active)
            .map_or(Caller::Anonymous, |user| Caller::Known {
                username: user.username.clone(),
                user_key: user.user_key.clone(),
            })
    }

    fn basic(&self, credentials: &str, state: &State) -> Result<Caller, LoginDenied> {
        let decoded = STANDARD
            .decode(credentials)
            .ok()
            .and_then(|bytes| String::from_utf8(bytes).ok());
        let Some((username, password)) = decoded.as_deref().and_then(|text| text.split_once(':'))
        else {
            return Err(LoginDenied::Failed);
        };
        let folded = username.to_lowercase();
        let mut failures = self
            .failures
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let failed_before = failures.get(&folded).copied().unwrap_or(0);
        if self
            .captcha_after
            .is_some_and(|limit| failed_before >= limit)
        {
            return Err(LoginDenied::Captcha);
        }
        let user = state
            .user_by_name(username)
            .filter(|&index| state.user(index).active && state.password(index) == Some(password))
            .map(|index| state.user(index));
        match user {
            Some(user) => {
                failures.remove(&folded);
                Ok(Caller::Known {
                    username: user.username.clone(),
                    user_key: user.user_key.clone(),
                })
            }
            None => {
                failures.insert(folded, failed_before + 1);
                Err(LoginDenied::Failed)
            }
        }
    }
}
