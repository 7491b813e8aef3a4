//! The one table from a Confluence error kind to what ConductorOne hears: the
//! gRPC code and whether the task may be handed out again. Sync tasks and
//! provisioning tasks both finish through it, so they never disagree.

use tonic::Code;

use conductorone::TaskError;
use confluence::{ConfluenceError, ErrorKind};

/// Whether trying the same task again may succeed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Retry {
    /// The server or the network may answer next time (already retried by
    /// the client within its budget).
    Transient,
    /// Holds until someone changes the tenant, its credentials or Confluence.
    Permanent,
}

pub fn classify(kind: &ErrorKind) -> (Code, Retry) {
    use Retry::{Permanent, Transient};
    match kind {
        ErrorKind::BadCredentials { .. } | ErrorKind::Unauthorized { .. } => {
            (Code::Unauthenticated, Permanent)
        }
        ErrorKind::Forbidden { .. } => (Code::PermissionDenied, Permanent),
        ErrorKind::NotFound { .. } => (Code::NotFound, Permanent),
        ErrorKind::Conflict { .. } => (Code::AlreadyExists, Permanent),
        ErrorKind::Rejected { status: 400, .. } => (Code::InvalidArgument, Permanent),
        ErrorKind::Rejected { .. }
        | ErrorKind::RemoteApiDisabled { .. }
        | ErrorKind::NameNotAddressable { .. }
        | ErrorKind::Redirected { .. }
        | ErrorKind::Setup { .. } => (Code::FailedPrecondition, Permanent),
        ErrorKind::Unsupported { .. } => (Code::Unimplemented, Permanent),
        ErrorKind::JsonRpc { .. } | ErrorKind::Refused { .. } => (Code::Unknown, Permanent),
        ErrorKind::RateLimited { .. }
        | ErrorKind::WaitBeyondBudget { .. }
        | ErrorKind::Server { .. }
        | ErrorKind::Transport { .. }
        | ErrorKind::Timeout { .. } => (Code::Unavailable, Transient),
        // A garbled answer was already retried; it may come through later.
        // One that decodes the same wrong way every time will not.
        ErrorKind::Undecodable { garbled: true, .. } => (Code::Unknown, Transient),
        ErrorKind::Undecodable { .. } => (Code::Unknown, Permanent),
        ErrorKind::ResponseTooLarge { .. } | ErrorKind::TooManyPages { .. } => {
            (Code::ResourceExhausted, Permanent)
        }
    }
}

/// A Confluence failure as a task error; its message already names the
/// tenant and the fix.
pub fn task_error(err: &ConfluenceError) -> TaskError {
    let (code, retry) = classify(err.kind());
    let error = TaskError::new(code, err.to_string());
    match retry {
        Retry::Transient => error,
        Retry::Permanent => error.non_retryable(),
    }
}

#[cfg(test)]
mod tests;
