//! Space permissions as Baton grants. The spaces fetcher (`actors::fetcher`)
//! lists the spaces and reads their permissions. Rows that name no synced
//! principal, the anonymous user, or an unknown permission produce no grant
//! and are counted.

use std::collections::HashSet;

use baton::model::{self, Principal};
use confluence::{PermissionKey, PermissionSubject, Space, SpacePermissionRow};

use super::{GroupSet, Progress, SkipReason, UserDirectory};
use crate::config::SyncSettings;

/// Whether the tenant's config keeps this space.
pub fn wanted(settings: &SyncSettings, space: &Space) -> bool {
    (settings.include_archived_spaces || !space.archived)
        && (settings.include_personal_spaces || !space.personal)
}

/// The grants of one space's permission rows, each grant once.
pub fn grants(
    progress: &Progress,
    space_key: &str,
    rows: Vec<SpacePermissionRow>,
    users: &UserDirectory,
    groups: &GroupSet,
) -> Vec<baton::pb::c1::connector::v2::Grant> {
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
                progress.skip(SkipReason::UnknownPermission, 1);
                continue;
            }
        };
        let principal = match resolve(&row.subject, users, groups) {
            Ok(principal) => principal,
            Err(reason) => {
                progress.skip(reason, 1);
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
