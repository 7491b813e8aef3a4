//! The spaces phase: pages spaces (current and archived, global and
//! personal, as the tenant's config allows) into space resources with their
//! 14 entitlements, then reads every space's permissions (concurrently,
//! within the tenant's bounds) into grants. Rows that name no synced
//! principal, the anonymous user, or an unknown permission produce no grant
//! and are counted.

use std::collections::HashSet;

use futures::{StreamExt, TryStreamExt};

use crate::baton::model::{self, Principal, ResourceKind};
use crate::confluence::{PermissionKey, PermissionSubject, Space, SpacePermissionRow};

use super::{Batch, GroupSet, SkipReason, SyncContext, SyncError, UserDirectory, cancellable};

pub async fn fetch(context: &SyncContext) -> Result<(), SyncError> {
    let write = context.scope.includes(ResourceKind::Space);
    let mut spaces: Vec<String> = Vec::new();
    let mut pager = context.client.spaces();
    while let Some(page) = cancellable(context, pager.next_page()).await? {
        let mut resources = Vec::with_capacity(page.len());
        let mut entitlements = Vec::new();
        for space in page {
            if !wanted(context, &space) {
                context.progress.skip(SkipReason::ExcludedSpace, 1);
                continue;
            }
            if write {
                let description = space.description.as_deref().unwrap_or_default();
                let resource = model::space_resource(&space.key, &space.name, description);
                if context.scope.wants_entitlements() {
                    entitlements.extend(model::space_entitlements(&resource));
                }
                resources.push(resource);
            }
            spaces.push(space.key);
        }
        context.put(Batch::Resources(resources)).await?;
        for chunk in entitlements.chunks(super::BATCH_SIZE) {
            context.put(Batch::Entitlements(chunk.to_vec())).await?;
        }
    }
    context.progress.set_spaces_total(spaces.len() as u64);
    if !write || !context.scope.wants_grants() {
        return Ok(());
    }

    let users = context.directories.users(&context.cancel).await?;
    let groups = context.directories.groups(&context.cancel).await?;
    futures::stream::iter(spaces)
        .map(Ok::<_, SyncError>)
        .try_for_each_concurrent(context.concurrency.max(1), |space_key| {
            let (users, groups) = (users.clone(), groups.clone());
            async move {
                let rows =
                    cancellable(context, context.client.space_permissions(&space_key)).await?;
                let grants = grants(context, &space_key, rows, &users, &groups);
                context.progress.space_done();
                context.put(Batch::Grants(grants)).await
            }
        })
        .await
}

fn wanted(context: &SyncContext, space: &Space) -> bool {
    (context.settings.include_archived_spaces || !space.archived)
        && (context.settings.include_personal_spaces || !space.personal)
}

/// The grants of one space's permission rows, each grant once.
fn grants(
    context: &SyncContext,
    space_key: &str,
    rows: Vec<SpacePermissionRow>,
    users: &UserDirectory,
    groups: &GroupSet,
) -> Vec<crate::baton::pb::c1::connector::v2::Grant> {
    let mut seen = HashSet::new();
    let mut grants = Vec::with_capacity(rows.len());
    for row in rows {
        let permission = match row.permission {
            PermissionKey::Known(permission) => permission,
            PermissionKey::Unknown(key) => {
                tracing::debug!(
                    space = space_key,
                    key,
                    "permission outside the 14 space permissions skipped"
                );
                context.progress.skip(SkipReason::UnknownPermission, 1);
                continue;
            }
        };
        let principal = match resolve(&row.subject, users, groups) {
            Ok(principal) => principal,
            Err(reason) => {
                context.progress.skip(reason, 1);
                continue;
            }
        };
        if seen.insert((permission, principal.clone())) {
            grants.push(model::space_grant(space_key, permission, &principal));
        }
    }
    grants
}

/// The synced principal a row names: users by key (REST) or by username
/// (JSON-RPC), groups by name.
fn resolve(
    subject: &PermissionSubject,
    users: &UserDirectory,
    groups: &GroupSet,
) -> Result<Principal, SkipReason> {
    match subject {
        PermissionSubject::Anonymous => Err(SkipReason::AnonymousPermission),
        PermissionSubject::Group { name } if groups.contains(name) => {
            Ok(Principal::Group { name: name.clone() })
        }
        PermissionSubject::Group { .. } => Err(SkipReason::UnknownGroup),
        PermissionSubject::User(user) => {
            let by_key = user
                .user_key
                .as_deref()
                .filter(|key| users.contains_key(key));
            let by_name = || {
                user.username
                    .as_deref()
                    .and_then(|name| users.key_for_username(name))
            };
            by_key
                .or_else(by_name)
                .map(|key| Principal::User {
                    user_key: key.to_owned(),
                })
                .ok_or(SkipReason::UnknownUser)
        }
    }
}
