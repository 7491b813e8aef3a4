//! One log line and one metric per provisioning call: tenant, task id,
//! operation, entitlement and principal (ids only, never secrets), and how it
//! ended. Outcomes, spelled as in the other metrics: `ok`, `no_op` (already as
//! asked), `refused` (the tenant's gate) and `error`.

use crate::telemetry::metrics;
use conductorone::TaskError;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Operation {
    Grant,
    Revoke,
    CreateAccount,
    DeleteResource,
}

impl Operation {
    fn label(self) -> &'static str {
        match self {
            Self::Grant => "grant",
            Self::Revoke => "revoke",
            Self::CreateAccount => "create_account",
            Self::DeleteResource => "delete_resource",
        }
    }
}

/// How a call that did not fail ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Done {
    /// Confluence was changed.
    Changed,
    /// Confluence already was as asked (already granted, revoked, existing,
    /// disabled or gone); nothing was sent that changes it.
    AlreadyDone,
}

/// What a call is about, for its log line.
pub(super) struct Call<'a> {
    pub tenant: &'a str,
    pub task_id: &'a str,
    pub operation: Operation,
    /// The entitlement id (grant, revoke); empty otherwise.
    pub entitlement: String,
    /// `user:<key>`, `group:<name>`, or the login of an account to create.
    pub principal: String,
}

impl Call<'_> {
    /// Logs and counts the result, and hands it back.
    pub(super) fn record<T>(&self, result: Result<(T, Done), TaskError>) -> Result<T, TaskError> {
        let (tenant, task_id, operation) = (self.tenant, self.task_id, self.operation.label());
        let (entitlement, principal) = (&self.entitlement, &self.principal);
        match &result {
            Ok((_, done)) => {
                let outcome = match done {
                    Done::Changed => "ok",
                    Done::AlreadyDone => "no_op",
                };
                tracing::info!(%tenant, %task_id, operation, %entitlement, %principal, outcome, "provisioning done");
                metrics::provisioning(tenant, operation, outcome);
            }
            Err(error) => {
                tracing::warn!(
                    %tenant, %task_id, operation, %entitlement, %principal, outcome = "error",
                    code = ?error.code(), error = %error.message(), "provisioning failed"
                );
                metrics::provisioning(tenant, operation, "error");
            }
        }
        result.map(|(value, _)| value)
    }

    /// Logs and counts a refusal by the tenant's gate, and hands it back.
    pub(super) fn refused(&self, refusal: TaskError) -> TaskError {
        let (tenant, task_id, operation) = (self.tenant, self.task_id, self.operation.label());
        let (entitlement, principal) = (&self.entitlement, &self.principal);
        tracing::info!(
            %tenant, %task_id, operation, %entitlement, %principal, outcome = "refused",
            reason = %refusal.message(), "provisioning refused by the tenant's configuration"
        );
        metrics::provisioning(tenant, operation, "refused");
        refusal
    }
}
