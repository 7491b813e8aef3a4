//! How provisioning failures reach ConductorOne: the gRPC code Baton would use
//! and a message that names the tenant, what failed and what to do. Requests
//! that can never succeed are non-retryable; transient Confluence trouble
//! (already retried by the client) is left retryable.

use tonic::Code;

use conductorone::TaskError;
use confluence::ConfluenceError;

/// A request this connector cannot act on as sent (bad ids, unknown slugs,
/// values Confluence would refuse).
pub(super) fn invalid_argument(tenant: &str, message: impl AsRef<str>) -> TaskError {
    TaskError::new(
        Code::InvalidArgument,
        format!("tenant `{tenant}`: {}", message.as_ref()),
    )
    .non_retryable()
}

/// Something this connector does not offer.
pub(super) fn unimplemented(tenant: &str, message: impl AsRef<str>) -> TaskError {
    TaskError::new(
        Code::Unimplemented,
        format!("tenant `{tenant}`: {}", message.as_ref()),
    )
    .non_retryable()
}

/// A refusal that holds until someone changes the tenant or its Confluence.
pub(super) fn failed_precondition(tenant: &str, message: impl AsRef<str>) -> TaskError {
    TaskError::new(
        Code::FailedPrecondition,
        format!("tenant `{tenant}`: {}", message.as_ref()),
    )
    .non_retryable()
}

/// A principal Confluence has no live account for.
pub(super) fn unknown_user(tenant: &str, user_key: &str) -> TaskError {
    TaskError::new(
        Code::NotFound,
        format!(
            "tenant `{tenant}`: Confluence has no account with user key `{user_key}` (deleted, \
             or never on this instance); run a sync so ConductorOne sees the current users"
        ),
    )
    .non_retryable()
}

/// An unexpected local failure (the random number generator, sealing a password).
pub(super) fn internal(tenant: &str, message: impl AsRef<str>) -> TaskError {
    TaskError::new(
        Code::Internal,
        format!("tenant `{tenant}`: {}", message.as_ref()),
    )
}

/// A Confluence failure; its message already names the tenant and the fix.
pub(super) fn from_confluence(err: &ConfluenceError) -> TaskError {
    crate::error_kind::task_error(err)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_helper_names_the_tenant_and_refuses_retries_for_permanent_failures() {
        for error in [
            invalid_argument("acme", "bad id"),
            unimplemented("acme", "no"),
            failed_precondition("acme", "off"),
        ] {
            assert!(error.message().starts_with("tenant `acme`: "), "{error}");
            assert!(error.is_non_retryable(), "{error}");
        }
        assert!(!internal("acme", "rng").is_non_retryable());
    }
}
