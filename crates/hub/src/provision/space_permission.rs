//! Space permissions (`space:<KEY>:<slug>` held by a user or a group). What
//! the subject holds is read first, and the write is sent only when it changes
//! something. The client speaks JSON-RPC before 9.1 (users by username) and
//! REST from 9.1 (users by user key); the slug ↔ legacy key ↔ REST operation
//! table is `baton::model::SpacePermission`.

use super::error::{from_confluence, unknown_user};
use super::outcome::Done;
use super::user;
use baton::model::{Principal, SpacePermission};
use conductorone::TaskError;
use confluence::{ConfluenceClient, PermissionKey, PermissionSubject};

pub(super) async fn grant(
    client: &ConfluenceClient,
    space_key: &str,
    permission: SpacePermission,
    principal: &Principal,
) -> Result<Done, TaskError> {
    let Some(subject) = subject(client, principal).await? else {
        return Err(unknown_user(client.tenant(), missing_user_key(principal)));
    };
    if holds(client, space_key, permission, &subject).await? {
        return Ok(Done::AlreadyDone);
    }
    client
        .grant_space_permission(space_key, permission, &subject)
        .await
        .map_err(|err| from_confluence(&err))?;
    Ok(Done::Changed)
}

/// A user Confluence no longer has holds nothing: already revoked.
pub(super) async fn revoke(
    client: &ConfluenceClient,
    space_key: &str,
    permission: SpacePermission,
    principal: &Principal,
) -> Result<Done, TaskError> {
    let Some(subject) = subject(client, principal).await? else {
        return Ok(Done::AlreadyDone);
    };
    if !holds(client, space_key, permission, &subject).await? {
        return Ok(Done::AlreadyDone);
    }
    client
        .revoke_space_permission(space_key, permission, &subject)
        .await
        .map_err(|err| from_confluence(&err))?;
    Ok(Done::Changed)
}

/// The permission subject, with both user identifiers so neither API has to
/// look one up again; `None` for a user key Confluence has no account for.
async fn subject(
    client: &ConfluenceClient,
    principal: &Principal,
) -> Result<Option<PermissionSubject>, TaskError> {
    match principal {
        Principal::User { user_key } => Ok(user::find(client, user_key)
            .await
            .map_err(|err| from_confluence(&err))?
            .map(|account| PermissionSubject::User(account.user_ref()))),
        Principal::Group { name } => Ok(Some(PermissionSubject::Group { name: name.clone() })),
    }
}

/// Only a user principal can be missing: its key, for the error.
fn missing_user_key(principal: &Principal) -> &str {
    match principal {
        Principal::User { user_key } => user_key,
        Principal::Group { name } => name,
    }
}

async fn holds(
    client: &ConfluenceClient,
    space_key: &str,
    permission: SpacePermission,
    subject: &PermissionSubject,
) -> Result<bool, TaskError> {
    let held = client
        .subject_space_permissions(space_key, subject)
        .await
        .map_err(|err| from_confluence(&err))?;
    Ok(held.contains(&PermissionKey::Known(permission)))
}
