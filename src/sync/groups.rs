//! The groups phase: pages groups into group resources with their `member`
//! entitlement, then reads every group's members (concurrently, within the
//! tenant's bounds) into membership grants for the users of this sync.
//! Groups whose names no endpoint of this version can address (a `/` before
//! 10.x) are resolved by asking every user which groups it belongs to.

use futures::{StreamExt, TryStreamExt};

use crate::baton::model::{self, ResourceKind};

use super::{Batch, GroupSet, SkipReason, SyncContext, SyncError, UserDirectory, cancellable};

pub async fn fetch(context: &SyncContext) -> Result<(), SyncError> {
    let write = context.scope.includes(ResourceKind::Group);
    let mut names = GroupSet::default();
    let mut groups: Vec<String> = Vec::new();
    let mut pager = context.client.groups();
    while let Some(page) = cancellable(context, pager.next_page()).await? {
        let mut resources = Vec::with_capacity(page.len());
        let mut entitlements = Vec::with_capacity(page.len());
        for group in page {
            names.insert(&group.name);
            if write {
                let resource = model::group_resource(&group.name);
                if context.scope.wants_entitlements() {
                    entitlements.push(model::group_member_entitlement(&resource));
                }
                resources.push(resource);
            }
            groups.push(group.name);
        }
        context.put(Batch::Resources(resources)).await?;
        context.put(Batch::Entitlements(entitlements)).await?;
    }
    context.progress.set_groups_total(groups.len() as u64);
    context.directories.publish_groups(names);
    if !write || !context.scope.wants_grants() {
        return Ok(());
    }

    let users = context.directories.users(&context.cancel).await?;
    let mut unaddressable = Vec::new();
    let mut addressable = Vec::new();
    for group in groups {
        if cancellable(context, context.client.can_list_group_members(&group)).await? {
            addressable.push(group);
        } else {
            unaddressable.push(group);
        }
    }

    futures::stream::iter(addressable)
        .map(Ok::<_, SyncError>)
        .try_for_each_concurrent(context.concurrency.max(1), |group| {
            let users = users.clone();
            async move {
                let mut pager = cancellable(context, context.client.group_members(&group)).await?;
                while let Some(page) = cancellable(context, pager.next_page()).await? {
                    let keys = page.into_iter().map(|user| user.user_key);
                    write_memberships(context, &users, &group, keys).await?;
                }
                context.progress.group_done();
                Ok(())
            }
        })
        .await?;

    if !unaddressable.is_empty() {
        tracing::info!(
            groups = unaddressable.len(),
            users = users.len(),
            "group names with `/` cannot be addressed on this version; reading their members user by user"
        );
        let keys = users.keys();
        let members = cancellable(
            context,
            context
                .client
                .group_members_via_users(&unaddressable, &keys),
        )
        .await?;
        for (group, keys) in members {
            write_memberships(context, &users, &group, keys.into_iter()).await?;
            context.progress.group_done();
        }
    }
    Ok(())
}

/// Membership grants for the members that are users of this sync; the rest
/// (deleted users still in a group) are counted as skipped.
async fn write_memberships(
    context: &SyncContext,
    users: &UserDirectory,
    group: &str,
    member_keys: impl Iterator<Item = String>,
) -> Result<(), SyncError> {
    let mut grants = Vec::new();
    let mut unknown = 0;
    for user_key in member_keys {
        if users.contains_key(&user_key) {
            grants.push(model::group_membership_grant(group, &user_key));
        } else {
            unknown += 1;
        }
    }
    context.progress.skip(SkipReason::UnknownUser, unknown);
    context.put(Batch::Grants(grants)).await
}
