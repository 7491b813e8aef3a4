use std::time::Duration;

use super::*;

const M: &str = "GET";
const R: &str = "/rest/api/group";

#[test]
fn the_error_kind_table_is_pinned() {
    use Retry::{Permanent, Transient};
    let rows: Vec<(ErrorKind, Code, Retry)> = vec![
        (
            ErrorKind::BadCredentials { reason: "x".into() },
            Code::Unauthenticated,
            Permanent,
        ),
        (
            ErrorKind::Forbidden {
                method: M,
                route: R,
                status: 403,
                message: String::new(),
            },
            Code::PermissionDenied,
            Permanent,
        ),
        (
            ErrorKind::Conflict {
                method: M,
                route: R,
                message: String::new(),
            },
            Code::AlreadyExists,
            Permanent,
        ),
        (
            ErrorKind::Rejected {
                method: M,
                route: R,
                status: 400,
                message: String::new(),
                advice: "",
            },
            Code::InvalidArgument,
            Permanent,
        ),
        (
            ErrorKind::Rejected {
                method: M,
                route: R,
                status: 422,
                message: String::new(),
                advice: "",
            },
            Code::FailedPrecondition,
            Permanent,
        ),
        (
            ErrorKind::RateLimited {
                method: M,
                route: R,
                attempts: 3,
                wait: Duration::from_secs(1),
            },
            Code::Unavailable,
            Transient,
        ),
        (
            ErrorKind::Server {
                method: M,
                route: R,
                status: 503,
                attempts: 3,
                hint: "",
            },
            Code::Unavailable,
            Transient,
        ),
        (
            ErrorKind::Timeout {
                method: M,
                route: R,
                attempts: 3,
                timeout: Duration::from_secs(1),
            },
            Code::Unavailable,
            Transient,
        ),
        (
            ErrorKind::WaitBeyondBudget {
                method: M,
                route: R,
                wait: Duration::from_secs(99_999_999),
                budget: Duration::from_secs(300),
            },
            Code::Unavailable,
            Transient,
        ),
        (undecodable(true), Code::Unknown, Transient),
        (undecodable(false), Code::Unknown, Permanent),
        (
            ErrorKind::Setup { detail: "x".into() },
            Code::FailedPrecondition,
            Permanent,
        ),
        (
            ErrorKind::TooManyPages { route: R, cap: 5 },
            Code::ResourceExhausted,
            Permanent,
        ),
    ];
    for (kind, code, retry) in rows {
        assert_eq!(classify(&kind), (code, retry), "{kind:?}");
    }
}

/// A 200 that did not decode: garbled (a cut body, an HTML page) or not.
fn undecodable(garbled: bool) -> ErrorKind {
    ErrorKind::Undecodable {
        method: M,
        route: R,
        status: 200,
        what: "x".into(),
        advice: "",
        garbled,
    }
}
