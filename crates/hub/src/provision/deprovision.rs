//! Deprovisioning, opt-in per tenant (`deprovisioning = "disable"`):
//! `delete_resource` on a user deactivates the Confluence account (admin user
//! REST `disable`), which keeps its content, groups and permissions and frees
//! its licence seat. Nothing is deleted. Idempotent: an account already
//! disabled is left alone; an unknown one answers `ResourceDoesNotExist`.

use super::error::{from_confluence, invalid_argument, unimplemented};
use super::outcome::Done;
use super::user;
use baton::model::ResourceKind;
use baton::pb::c1::connector::v2::ResourceId;
use conductorone::TaskError;
use confluence::ConfluenceClient;

/// How a delete ended when it did not fail.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Deleted {
    Disabled,
    AlreadyDisabled,
    DoesNotExist,
}

impl Deleted {
    pub(super) fn done(self) -> Done {
        match self {
            Self::Disabled => Done::Changed,
            Self::AlreadyDisabled | Self::DoesNotExist => Done::AlreadyDone,
        }
    }
}

/// The user key a delete task names; only users can be deleted.
pub(super) fn user_key<'a>(
    tenant: &str,
    resource: Option<&'a ResourceId>,
) -> Result<&'a str, TaskError> {
    let id = resource
        .filter(|id| !id.resource_type.is_empty() && !id.resource.is_empty())
        .ok_or_else(|| {
            invalid_argument(
                tenant,
                "the delete task's resource id is malformed: it needs a type and an id",
            )
        })?;
    match ResourceKind::parse(&id.resource_type) {
        Some(ResourceKind::User) => Ok(&id.resource),
        _ => Err(unimplemented(
            tenant,
            format!(
                "resources of type `{}` cannot be deleted; only users, which are disabled",
                id.resource_type
            ),
        )),
    }
}

pub(super) async fn disable(
    client: &ConfluenceClient,
    user_key: &str,
) -> Result<Deleted, TaskError> {
    let Some(account) = user::find(client, user_key)
        .await
        .map_err(|err| from_confluence(&err))?
    else {
        return Ok(Deleted::DoesNotExist);
    };
    if !account.user.is_enabled() {
        return Ok(Deleted::AlreadyDisabled);
    }
    client
        .disable_user(&account.user_ref())
        .await
        .map_err(|err| from_confluence(&err))?;
    Ok(Deleted::Disabled)
}
