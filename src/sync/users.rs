//! The users phase: pages every Confluence user into user resources and
//! publishes the userKey ↔ username directory the grant phases resolve with.

use crate::baton::model::{self, ResourceKind, UserRecord};
use crate::confluence::User;

use super::{Batch, SyncContext, SyncError, UserDirectory, cancellable};

pub async fn fetch(context: &SyncContext) -> Result<(), SyncError> {
    let write = context.scope.includes(ResourceKind::User);
    let mut directory = UserDirectory::default();
    let mut pager = context.client.users();
    while let Some(page) = cancellable(context, pager.next_page()).await? {
        let mut resources = Vec::with_capacity(page.len());
        for user in page {
            let Some(record) = record(&user) else {
                tracing::debug!(user_key = %user.user_key, "user without a username skipped");
                continue;
            };
            directory.insert(&record.user_key, &record.username);
            if write {
                resources.push(model::user_resource(&record));
            }
        }
        context.put(Batch::Resources(resources)).await?;
    }
    tracing::debug!(users = directory.len(), "users listed");
    context.directories.publish_users(directory);
    Ok(())
}

/// The user resource record of a Confluence user (provisioning returns the
/// same for a created account). Every listed user has a username; one without
/// (a `type: unknown` key that leaked into the listing) cannot log in and is
/// not an account.
pub fn record(user: &User) -> Option<UserRecord> {
    let username = user.username.clone().filter(|name| !name.is_empty())?;
    Some(UserRecord {
        user_key: user.user_key.clone(),
        username,
        display_name: user.display_name.clone(),
        email: user.email.clone().filter(|email| !email.is_empty()),
        enabled: user.is_enabled(),
        account_type: user.account_type.clone(),
    })
}
