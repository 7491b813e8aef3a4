//! What can go wrong talking to one tenant's Confluence, as a typed error that
//! names the tenant, says what happened and tells the operator what to do.
//! No variant ever holds a secret or a full URL.

use std::time::Duration;

use super::version::ConfluenceVersion;

/// A failed Confluence operation for one tenant.
#[derive(Debug, thiserror::Error)]
#[error("tenant `{tenant}`: {kind}")]
pub struct ConfluenceError {
    tenant: String,
    kind: Box<ErrorKind>,
}

impl ConfluenceError {
    pub(crate) fn new(tenant: &str, kind: ErrorKind) -> Self {
        Self {
            tenant: tenant.to_owned(),
            kind: Box::new(kind),
        }
    }

    pub fn tenant(&self) -> &str {
        &self.tenant
    }

    pub fn kind(&self) -> &ErrorKind {
        &self.kind
    }

    /// A short, stable label for metrics and logs (`bad_credentials`, ...).
    pub fn label(&self) -> &'static str {
        self.kind.label()
    }

    /// Whether the answer was a success whose body came back cut or replaced
    /// on the way: a read that got one is worth asking again.
    pub fn is_garbled(&self) -> bool {
        matches!(*self.kind, ErrorKind::Undecodable { garbled: true, .. })
    }

    /// The HTTP status Confluence answered, when the failure was an answer.
    pub fn status(&self) -> Option<u16> {
        match &*self.kind {
            ErrorKind::Unauthorized { .. } => Some(401),
            ErrorKind::Forbidden { status, .. }
            | ErrorKind::Rejected { status, .. }
            | ErrorKind::Server { status, .. }
            | ErrorKind::Undecodable { status, .. } => Some(*status),
            ErrorKind::NotFound { .. } => Some(404),
            ErrorKind::Conflict { .. } => Some(409),
            ErrorKind::RateLimited { .. } | ErrorKind::WaitBeyondBudget { .. } => Some(429),
            _ => None,
        }
    }
}

/// The failure itself. Each message ends with what to do about it.
#[derive(Debug, thiserror::Error)]
pub enum ErrorKind {
    #[error(
        "bad credentials: {reason}; check the tenant's `token` (a personal access token that is \
         neither expired nor revoked) or `username`/`password`. After repeated failed logins \
         Confluence demands a CAPTCHA and refuses basic auth until someone logs in through the browser"
    )]
    BadCredentials { reason: String },

    #[error(
        "{method} {route} answered 401 (not authenticated){message}; the credentials were \
         rejected, or the account lacks the admin rights this endpoint needs (Confluence 8.5.16+ \
         answers 401 to non-admins reading group members). Run `confluence-hub check`"
    )]
    Unauthorized {
        method: &'static str,
        route: &'static str,
        message: String,
    },

    #[error(
        "{method} {route} was refused ({status}){message}; give the account Confluence \
         administrator rights (space permissions also need space admin on every space)"
    )]
    Forbidden {
        method: &'static str,
        route: &'static str,
        status: u16,
        message: String,
    },

    #[error(
        "{method} {route}: not found{message}; check that the user, group or space exists, and \
         that base_url includes any context path such as /confluence"
    )]
    NotFound {
        method: &'static str,
        route: &'static str,
        message: String,
    },

    #[error("{method} {route}: already exists{message}")]
    Conflict {
        method: &'static str,
        route: &'static str,
        message: String,
    },

    #[error("{method} {route} was rejected ({status}){message}; {advice}")]
    Rejected {
        method: &'static str,
        route: &'static str,
        status: u16,
        message: String,
        advice: &'static str,
    },

    #[error(
        "{method} {route} was still rate limited after {attempts} attempt(s) and its retry budget \
         is spent (the server last asked to wait {wait:?}); another client probably shares the \
         account's limit: set requests_per_second for this tenant below the server's fill rate, \
         raise retry_max_elapsed, or ask the \
         Confluence admin for a rate-limit exemption for the sync account"
    )]
    RateLimited {
        method: &'static str,
        route: &'static str,
        attempts: u32,
        wait: Duration,
    },

    #[error(
        "{method} {route} failed with {status} after {attempts} attempt(s){hint}; check the \
         Confluence node and any proxy in front of it, then retry"
    )]
    Server {
        method: &'static str,
        route: &'static str,
        status: u16,
        attempts: u32,
        hint: &'static str,
    },

    #[error(
        "cannot reach Confluence ({method} {route}) after {attempts} attempt(s): {detail}; check \
         base_url, DNS, firewalls and TLS trust (ca_file for an internal CA)"
    )]
    Transport {
        method: &'static str,
        route: &'static str,
        attempts: u32,
        detail: String,
    },

    #[error(
        "{method} {route} timed out after {attempts} attempt(s) of {timeout:?} each; raise \
         request_timeout or lower page_size for this tenant"
    )]
    Timeout {
        method: &'static str,
        route: &'static str,
        attempts: u32,
        timeout: Duration,
    },

    #[error("{method} {route} answered {status} with {what}; {advice}")]
    Undecodable {
        method: &'static str,
        route: &'static str,
        status: u16,
        what: String,
        advice: &'static str,
        /// The body looks cut or replaced on the way (truncated JSON, an
        /// HTML page, nothing at all), so asking again may answer properly.
        garbled: bool,
    },

    #[error(
        "JSON-RPC {method} failed: {message}; check the account's permissions on that space or \
         group and the Confluence log"
    )]
    JsonRpc {
        method: &'static str,
        message: String,
    },

    #[error("Confluence answered `false` to JSON-RPC {method}; check the Confluence log")]
    Refused { method: &'static str },

    #[error(
        "the Remote API (JSON-RPC) is not available ({status}); this tenant needs it for \
         {needed_for}: enable Administration > General Configuration > Further Configuration > \
         Remote API (XML-RPC & SOAP), or check the credentials"
    )]
    RemoteApiDisabled {
        status: u16,
        needed_for: &'static str,
    },

    #[error(
        "`{name}` contains `/` or `\\`, which Confluence {version} cannot take in a URL path and \
         offers no query-parameter endpoint for; read its members per user \
         (/rest/api/user/memberof), rename it, or upgrade to Confluence 10"
    )]
    NameNotAddressable {
        name: String,
        version: ConfluenceVersion,
    },

    #[error("Confluence {version} has no {what}; upgrade to {needs} or later")]
    Unsupported {
        what: &'static str,
        version: ConfluenceVersion,
        needs: &'static str,
    },

    #[error(
        "{method} {route} answered {status} with a redirect{location}; set base_url to the \
         address Confluence is served from (scheme, host and context path)"
    )]
    Redirected {
        method: &'static str,
        route: &'static str,
        status: u16,
        location: String,
    },

    #[error("cannot build the HTTP client: {detail}")]
    Setup { detail: String },

    #[error(
        "{method} {route} answered with a body of more than {cap} bytes, the tenant's \
         max_response_bytes; the sync stopped reading it. Check the Confluence node and any proxy \
         in front of it, or raise max_response_bytes for this tenant if such a body is expected"
    )]
    ResponseTooLarge {
        method: &'static str,
        route: &'static str,
        cap: u64,
    },

    #[error(
        "{route} still offered a next page after {cap} pages, the tenant's max_pages; the listing \
         was stopped. Check the Confluence node and any proxy in front of it, or raise max_pages \
         for this tenant if the instance really is that large"
    )]
    TooManyPages { route: &'static str, cap: u64 },

    #[error(
        "{method} {route} was refused with 429 and a Retry-After of {wait:?} (longer waits are \
         read as an hour), more than the whole retry budget ({budget:?}), so it was not retried. \
         No sane limiter asks for that: check the Confluence node's rate-limit settings and any \
         proxy in front of it; raise retry_max_elapsed only if the wait is meant"
    )]
    WaitBeyondBudget {
        method: &'static str,
        route: &'static str,
        wait: Duration,
        budget: Duration,
    },
}

impl ErrorKind {
    pub fn label(&self) -> &'static str {
        match self {
            Self::BadCredentials { .. } => "bad_credentials",
            Self::Unauthorized { .. } => "unauthorized",
            Self::Forbidden { .. } => "forbidden",
            Self::NotFound { .. } => "not_found",
            Self::Conflict { .. } => "conflict",
            Self::Rejected { .. } => "rejected",
            Self::RateLimited { .. } | Self::WaitBeyondBudget { .. } => "rate_limited",
            Self::Server { .. } => "server_error",
            Self::Transport { .. } => "transport",
            Self::Timeout { .. } => "timeout",
            Self::Undecodable { .. } => "undecodable",
            Self::JsonRpc { .. } => "json_rpc",
            Self::Refused { .. } => "refused",
            Self::RemoteApiDisabled { .. } => "remote_api_disabled",
            Self::NameNotAddressable { .. } => "name_not_addressable",
            Self::Unsupported { .. } => "unsupported",
            Self::Redirected { .. } => "redirected",
            Self::Setup { .. } => "setup",
            Self::ResponseTooLarge { .. } => "response_too_large",
            Self::TooManyPages { .. } => "too_many_pages",
        }
    }
}

/// Formats a server-provided message as a `: message` suffix (empty when none).
pub(crate) fn message_suffix(message: Option<String>) -> String {
    match message {
        Some(text) if !text.trim().is_empty() => format!(": {}", text.trim()),
        _ => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn message_names_tenant_and_what_to_do() {
        let err = ConfluenceError::new(
            "beta",
            ErrorKind::BadCredentials {
                reason: "the token authenticates as anonymous".into(),
            },
        );
        let text = err.to_string();
        assert!(
            text.starts_with("tenant `beta`: bad credentials: the token"),
            "{text}"
        );
        assert!(text.contains("check the tenant's `token`"), "{text}");
        assert_eq!(err.label(), "bad_credentials");
    }

    #[test]
    fn error_stays_small_enough_to_return_cheaply() {
        assert!(std::mem::size_of::<ConfluenceError>() <= 32);
    }
}
