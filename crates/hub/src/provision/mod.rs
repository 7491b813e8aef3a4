//! Provisioning against one tenant's Confluence, as ConductorOne asks for it:
//! grant and revoke group membership and space permissions, create accounts
//! (a generated password goes back only sealed), and, opt-in, deprovision
//! users by disabling them. Plain async; the hub wraps [`Provisioner`].
//!
//! Every write is preceded by a read, so a repeated grant or revoke sends no
//! mutating call and answers `GrantAlreadyExists` / `GrantAlreadyRevoked`.
//! Retries of transient failures happen once, in the Confluence client.

mod account;
pub mod age;
mod deprovision;
mod encrypt;
mod entitlement;
mod error;
mod gate;
mod membership;
mod metadata;
mod outcome;
mod password;
mod principal;
mod space_permission;
mod user;
mod username;

use rand::SeedableRng;
use rand::rngs::StdRng;

use self::entitlement::{Target, TargetError};
use self::error::{internal, invalid_argument, unimplemented};
use self::gate::Gate;
pub use self::metadata::{connector_capabilities, connector_metadata};
use self::outcome::{Call, Done, Operation};
use self::principal::PrincipalError;
use crate::config::TenantConfig;
use baton::model::{Principal, annotation};
use baton::pb::c1::connector::v2::{
    CreateAccountResponse, DeleteResourceResponse, Entitlement, GrantAlreadyExists,
    GrantAlreadyRevoked, GrantManagerServiceGrantResponse, GrantManagerServiceRevokeResponse,
    ResourceDoesNotExist,
};
use conductorone::TaskError;
use conductorone::task::{CreateAccountTask, DeleteResourceTask, GrantTask, RevokeTask};
use confluence::ConfluenceClient;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Change {
    Grant,
    Revoke,
}

/// Carries out one tenant's provisioning tasks. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Provisioner {
    client: ConfluenceClient,
    tenant: String,
    gate: Gate,
}

impl Provisioner {
    /// `client` is the tenant's own Confluence client; the tenant's config
    /// decides what may run (`provisioning`, `deprovisioning`).
    pub fn new(client: ConfluenceClient, tenant: &TenantConfig) -> Self {
        Self {
            client,
            tenant: tenant.id.as_str().to_owned(),
            gate: Gate::new(tenant),
        }
    }

    /// Grants an entitlement (`group:<name>:member`, `space:<KEY>:<slug>`) to
    /// a principal; `GrantAlreadyExists` when it was already held.
    pub async fn grant(
        &self,
        task_id: &str,
        task: GrantTask,
    ) -> Result<GrantManagerServiceGrantResponse, TaskError> {
        let call = self.call(
            task_id,
            Operation::Grant,
            task.entitlement.as_ref(),
            describe_resource(task.principal.as_ref()),
        );
        if let Err(refusal) = self.gate.provisioning() {
            return Err(call.refused(refusal));
        }
        let result = async {
            let target = self.target(task.entitlement.as_ref())?;
            let principal = principal::parse(task.principal.as_ref())
                .map_err(|err| self.principal_error(err))?;
            let done = self.apply(Change::Grant, &target, &principal).await?;
            let annotations = match done {
                Done::Changed => Vec::new(),
                Done::AlreadyDone => vec![annotation(&GrantAlreadyExists {})],
            };
            Ok((
                GrantManagerServiceGrantResponse {
                    annotations,
                    grants: Vec::new(),
                },
                done,
            ))
        }
        .await;
        call.record(result)
    }

    /// Revokes a grant; `GrantAlreadyRevoked` when it was not held.
    pub async fn revoke(
        &self,
        task_id: &str,
        task: RevokeTask,
    ) -> Result<GrantManagerServiceRevokeResponse, TaskError> {
        let grant = task.grant.unwrap_or_default();
        let principal = match describe_resource(grant.principal.as_ref()) {
            described if described.is_empty() => format!("grant:{}", grant.id),
            described => described,
        };
        let call = self.call(
            task_id,
            Operation::Revoke,
            grant.entitlement.as_ref(),
            principal,
        );
        if let Err(refusal) = self.gate.provisioning() {
            return Err(call.refused(refusal));
        }
        let result = async {
            let target = self.target(grant.entitlement.as_ref())?;
            let entitlement_id = grant
                .entitlement
                .as_ref()
                .map(|entitlement| entitlement.id.as_str())
                .unwrap_or_default();
            let principal = principal::of_grant(&grant, entitlement_id)
                .map_err(|err| self.principal_error(err))?;
            let done = self.apply(Change::Revoke, &target, &principal).await?;
            let annotations = match done {
                Done::Changed => Vec::new(),
                Done::AlreadyDone => vec![annotation(&GrantAlreadyRevoked {})],
            };
            Ok((GrantManagerServiceRevokeResponse { annotations }, done))
        }
        .await;
        call.record(result)
    }

    /// Creates a Confluence account (8.4+). Success carries the new user;
    /// a taken username answers AlreadyExists with the existing one.
    pub async fn create_account(
        &self,
        task_id: &str,
        task: CreateAccountTask,
    ) -> Result<CreateAccountResponse, TaskError> {
        let call = Call {
            tenant: &self.tenant,
            task_id,
            operation: Operation::CreateAccount,
            entitlement: String::new(),
            principal: format!("login:{}", account::login_of(&task)),
        };
        if let Err(refusal) = self.gate.provisioning() {
            return Err(call.refused(refusal));
        }
        let result = async {
            let mut rng = StdRng::try_from_os_rng().map_err(|err| {
                internal(
                    &self.tenant,
                    format!("the operating system's random generator failed: {err}"),
                )
            })?;
            let request = account::parse(&self.tenant, &task, &mut rng)?;
            account::create(&self.client, request).await
        }
        .await;
        call.record(result)
    }

    /// Disables a user (`deprovisioning = "disable"` only): idempotent;
    /// `ResourceDoesNotExist` when Confluence has no such account.
    pub async fn delete_resource(
        &self,
        task_id: &str,
        task: DeleteResourceTask,
    ) -> Result<DeleteResourceResponse, TaskError> {
        let call = Call {
            tenant: &self.tenant,
            task_id,
            operation: Operation::DeleteResource,
            entitlement: String::new(),
            principal: task
                .resource_id
                .as_ref()
                .map(|id| format!("{}:{}", id.resource_type, id.resource))
                .unwrap_or_default(),
        };
        if let Err(refusal) = self.gate.deprovisioning(&self.tenant) {
            return Err(call.refused(refusal));
        }
        let result = async {
            let user_key = deprovision::user_key(&self.tenant, task.resource_id.as_ref())?;
            let deleted = deprovision::disable(&self.client, user_key).await?;
            let annotations = match deleted {
                deprovision::Deleted::DoesNotExist => vec![annotation(&ResourceDoesNotExist {})],
                deprovision::Deleted::Disabled | deprovision::Deleted::AlreadyDisabled => {
                    Vec::new()
                }
            };
            Ok((DeleteResourceResponse { annotations }, deleted.done()))
        }
        .await;
        call.record(result)
    }

    /// Grants or revokes `target` for `principal`, whichever API it takes.
    async fn apply(
        &self,
        change: Change,
        target: &Target,
        principal: &Principal,
    ) -> Result<Done, TaskError> {
        match (target, principal) {
            (Target::GroupMembership { group }, Principal::User { user_key }) => match change {
                Change::Grant => membership::grant(&self.client, group, user_key).await,
                Change::Revoke => membership::revoke(&self.client, group, user_key).await,
            },
            (Target::GroupMembership { group }, Principal::Group { name }) => {
                Err(self.group_member_must_be_user(group, name))
            }
            (
                Target::SpacePermission {
                    space_key,
                    permission,
                },
                principal,
            ) => match change {
                Change::Grant => {
                    space_permission::grant(&self.client, space_key, *permission, principal).await
                }
                Change::Revoke => {
                    space_permission::revoke(&self.client, space_key, *permission, principal).await
                }
            },
        }
    }

    fn call<'a>(
        &'a self,
        task_id: &'a str,
        operation: Operation,
        entitlement: Option<&Entitlement>,
        principal: String,
    ) -> Call<'a> {
        Call {
            tenant: &self.tenant,
            task_id,
            operation,
            entitlement: entitlement
                .map(|entitlement| entitlement.id.clone())
                .unwrap_or_default(),
            principal,
        }
    }

    fn target(&self, entitlement: Option<&Entitlement>) -> Result<Target, TaskError> {
        entitlement::parse(entitlement).map_err(|err| match err {
            TargetError::UnsupportedType(_) => unimplemented(&self.tenant, err.to_string()),
            TargetError::Malformed(_) | TargetError::UnknownSlug { .. } => {
                invalid_argument(&self.tenant, err.to_string())
            }
        })
    }

    fn principal_error(&self, err: PrincipalError) -> TaskError {
        invalid_argument(&self.tenant, err.to_string())
    }

    fn group_member_must_be_user(&self, group: &str, member: &str) -> TaskError {
        invalid_argument(
            &self.tenant,
            format!(
                "group:{group}:member is granted to users only, not to group `{member}`; \
                 Confluence group nesting comes from the directory, not from this connector"
            ),
        )
    }
}

/// `<type>:<id>` of a principal as sent, for logs (before it is validated).
fn describe_resource(resource: Option<&baton::pb::c1::connector::v2::Resource>) -> String {
    resource
        .and_then(|resource| resource.id.as_ref())
        .map(|id| format!("{}:{}", id.resource_type, id.resource))
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Deprovisioning, TenantId};
    use confluence::settings::{Auth, ClientSettings};
    use platform::secret::Secret;

    fn assert_send<T: Send>(_: T) {}

    #[test]
    fn provisioning_futures_can_move_between_threads() {
        let settings = ClientSettings::new(
            "acme",
            "http://127.0.0.1:9".parse().unwrap(),
            Auth::Token(Secret::new("t".into())),
        );
        let tenant = TenantConfig {
            provisioning: true,
            deprovisioning: Deprovisioning::Disable,
            ..TenantConfig::new(TenantId::parse("acme").unwrap(), settings.clone())
        };
        let provisioner = Provisioner::new(ConfluenceClient::new(&settings).unwrap(), &tenant);
        assert_send(provisioner.grant("t1", GrantTask::default()));
        assert_send(provisioner.revoke("t2", RevokeTask::default()));
        assert_send(provisioner.create_account("t3", CreateAccountTask::default()));
        assert_send(provisioner.delete_resource("t4", DeleteResourceTask::default()));
    }
}
