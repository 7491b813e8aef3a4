//! Group membership (`group:<name>:member` held by a user). The user's groups
//! are read first (`/rest/api/user/memberof`, which serves every group name on
//! every version), and the write is sent only when it changes something. The
//! client writes over REST, or over JSON-RPC when a name cannot travel in a
//! URL path (a `/`); without the Remote API that fails with its reason.

use super::error::{from_confluence, unknown_user};
use super::outcome::Done;
use super::user::{self, Account};
use conductorone::TaskError;
use confluence::{ConfluenceClient, UserRef};

pub(super) async fn grant(
    client: &ConfluenceClient,
    group: &str,
    user_key: &str,
) -> Result<Done, TaskError> {
    let account = user::find(client, user_key)
        .await
        .map_err(|err| from_confluence(&err))?
        .ok_or_else(|| unknown_user(client.tenant(), user_key))?;
    if is_member(client, &account, group).await? {
        return Ok(Done::AlreadyDone);
    }
    client
        .add_group_member(&account.user_ref(), group)
        .await
        .map_err(|err| from_confluence(&err))?;
    Ok(Done::Changed)
}

/// A user Confluence no longer has is in no group: already revoked.
pub(super) async fn revoke(
    client: &ConfluenceClient,
    group: &str,
    user_key: &str,
) -> Result<Done, TaskError> {
    let Some(account) = user::find(client, user_key)
        .await
        .map_err(|err| from_confluence(&err))?
    else {
        return Ok(Done::AlreadyDone);
    };
    if !is_member(client, &account, group).await? {
        return Ok(Done::AlreadyDone);
    }
    client
        .remove_group_member(&account.user_ref(), group)
        .await
        .map_err(|err| from_confluence(&err))?;
    Ok(Done::Changed)
}

/// Direct membership; Confluence compares group names without case.
async fn is_member(
    client: &ConfluenceClient,
    account: &Account,
    group: &str,
) -> Result<bool, TaskError> {
    let groups = client
        .user_groups(&UserRef::by_key(account.user.user_key.clone()))
        .collect_all()
        .await
        .map_err(|err| from_confluence(&err))?;
    Ok(groups
        .iter()
        .any(|held| held.name.eq_ignore_ascii_case(group)))
}
