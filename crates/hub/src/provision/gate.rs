//! Whether a tenant lets provisioning tasks through: `provisioning = true` for
//! every task (Baton's `--provisioning` switch), and `deprovisioning =
//! "disable"` as well for deleting (disabling) users. Capabilities are
//! advertised either way; only execution is gated.

use super::error::failed_precondition;
use crate::config::{Deprovisioning, TenantConfig};
use conductorone::TaskError;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Gate {
    provisioning: bool,
    deprovisioning: Deprovisioning,
}

impl Gate {
    pub(super) fn new(tenant: &TenantConfig) -> Self {
        Self {
            provisioning: tenant.provisioning,
            deprovisioning: tenant.deprovisioning,
        }
    }

    /// Grant, revoke and create account.
    pub(super) fn provisioning(&self) -> Result<(), TaskError> {
        if self.provisioning {
            Ok(())
        } else {
            Err(TaskError::provisioning_disabled())
        }
    }

    /// Delete resource: provisioning, and deprovisioning by disabling.
    pub(super) fn deprovisioning(&self, tenant: &str) -> Result<(), TaskError> {
        self.provisioning()?;
        match self.deprovisioning {
            Deprovisioning::Disable => Ok(()),
            Deprovisioning::Off => Err(failed_precondition(
                tenant,
                "deprovisioning is not enabled; set deprovisioning = \"disable\" for this \
                 instance to let ConductorOne disable Confluence accounts",
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gate(provisioning: bool, deprovisioning: Deprovisioning) -> Gate {
        Gate {
            provisioning,
            deprovisioning,
        }
    }

    #[test]
    fn provisioning_off_refuses_everything_as_baton_does() {
        let closed = gate(false, Deprovisioning::Disable);
        let err = closed.provisioning().unwrap_err();
        assert_eq!(err.code(), tonic::Code::FailedPrecondition);
        assert_eq!(err.message(), "provisioning is not enabled");
        assert!(err.is_non_retryable());
        assert_eq!(closed.deprovisioning("acme").unwrap_err(), err);
    }

    #[test]
    fn deprovisioning_needs_its_own_switch() {
        assert!(gate(true, Deprovisioning::Off).provisioning().is_ok());
        let err = gate(true, Deprovisioning::Off)
            .deprovisioning("acme")
            .unwrap_err();
        assert_eq!(err.code(), tonic::Code::FailedPrecondition);
        assert!(
            err.message().contains("deprovisioning = \"disable\""),
            "{err}"
        );
        assert!(
            gate(true, Deprovisioning::Disable)
                .deprovisioning("acme")
                .is_ok()
        );
    }
}
