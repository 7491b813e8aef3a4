//! Space permissions, read through whichever API the tenant's version offers:
//! JSON-RPC `getSpacePermissionSets` before 9.1 (users by username), REST
//! `/rest/api/space/{key}/permissions` from 9.1 (users by user key). Both
//! become the same [`SpacePermissionRow`]s, so the sync does not care.

use std::collections::HashSet;

use super::client::ConfluenceClient;
use super::decode;
use super::error::ConfluenceError;
use super::models::{PermissionKey, PermissionSubject, SpacePermissionRow, UserRef};
use super::route::{Route, is_path_addressable};
use super::rpc::{self, RpcMethod};
use super::transport::Request;
use super::wire::{RestPermission, RpcPermissionSet};

pub(crate) const NEEDED_FOR_PERMISSIONS: &str = "space permissions before Confluence 9.1";

impl ConfluenceClient {
    /// Every permission row of one space, without duplicates.
    pub async fn space_permissions(
        &self,
        space_key: &str,
    ) -> Result<Vec<SpacePermissionRow>, ConfluenceError> {
        if self.uses_rest_permissions(space_key).await? {
            let route = Route::new("/rest/api/space/{key}/permissions", &[space_key]);
            self.rest_permission_rows(route, space_key).await
        } else {
            self.rpc_permission_rows(space_key).await
        }
    }

    /// The permissions one subject holds directly on one space.
    pub async fn subject_space_permissions(
        &self,
        space_key: &str,
        subject: &PermissionSubject,
    ) -> Result<Vec<PermissionKey>, ConfluenceError> {
        if !self.uses_rest_permissions(space_key).await? {
            let subject = match subject {
                PermissionSubject::User(user) => PermissionSubject::User(UserRef::by_username(
                    self.resolve_username(user).await?,
                )),
                other => other.clone(),
            };
            let rows = self.rpc_permission_rows(space_key).await?;
            return Ok(held_by(rows, &subject));
        }
        let (route, subject) = match subject {
            PermissionSubject::User(user) => {
                let user_key = self.resolve_user_key(user).await?;
                let route = Route::new(
                    "/rest/api/space/{key}/permissions/user/{userKey}",
                    &[space_key, &user_key],
                );
                (
                    Some(route),
                    PermissionSubject::User(UserRef::by_key(user_key)),
                )
            }
            PermissionSubject::Group { name } if is_path_addressable(name) => {
                let route = Route::new(
                    "/rest/api/space/{key}/permissions/group/{name}",
                    &[space_key, name],
                );
                (Some(route), subject.clone())
            }
            PermissionSubject::Group { .. } => (None, subject.clone()),
            PermissionSubject::Anonymous => (
                Some(Route::new(
                    "/rest/api/space/{key}/permissions/anonymous",
                    &[space_key],
                )),
                subject.clone(),
            ),
        };
        let rows = match route {
            Some(route) => match self.rest_permission_rows(route, space_key).await {
                // Some 9.x builds answer 404 on the anonymous endpoint.
                Err(err)
                    if err.status() == Some(404) && subject == PermissionSubject::Anonymous =>
                {
                    self.space_permissions(space_key).await?
                }
                other => other?,
            },
            None => self.space_permissions(space_key).await?,
        };
        Ok(held_by(rows, &subject))
    }

    /// REST from 9.1, unless the key cannot travel in a path.
    pub(crate) async fn uses_rest_permissions(
        &self,
        space_key: &str,
    ) -> Result<bool, ConfluenceError> {
        Ok(self.version().await?.has_rest_space_permissions() && is_path_addressable(space_key))
    }

    async fn rest_permission_rows(
        &self,
        route: Route,
        space_key: &str,
    ) -> Result<Vec<SpacePermissionRow>, ConfluenceError> {
        let entries: Vec<RestPermission> = self
            .transport()
            .fetch(&Request::get(route), decode::json)
            .await?;
        Ok(unique(
            entries
                .into_iter()
                .filter_map(|entry| entry.into_row(space_key)),
        ))
    }

    async fn rpc_permission_rows(
        &self,
        space_key: &str,
    ) -> Result<Vec<SpacePermissionRow>, ConfluenceError> {
        let sets: Vec<RpcPermissionSet> = rpc::call(
            self.transport(),
            RpcMethod::GetSpacePermissionSets,
            serde_json::json!([space_key]),
            NEEDED_FOR_PERMISSIONS,
        )
        .await?;
        Ok(unique(sets.into_iter().flat_map(|set| {
            set.into_rows(space_key).collect::<Vec<_>>()
        })))
    }
}

/// Rows in server order, each once.
fn unique(rows: impl Iterator<Item = SpacePermissionRow>) -> Vec<SpacePermissionRow> {
    let mut seen = HashSet::new();
    rows.filter(|row| seen.insert(row.clone())).collect()
}

/// The permission keys `subject` holds among `rows`. Group names compare
/// case-insensitively, as Confluence matches them.
fn held_by(rows: Vec<SpacePermissionRow>, subject: &PermissionSubject) -> Vec<PermissionKey> {
    let matches = |row: &SpacePermissionRow| match (&row.subject, subject) {
        (PermissionSubject::Group { name: held }, PermissionSubject::Group { name }) => {
            held.eq_ignore_ascii_case(name)
        }
        (PermissionSubject::User(held), PermissionSubject::User(user)) => {
            (user.user_key.is_some() && held.user_key == user.user_key)
                || (user.username.is_some() && held.username == user.username)
        }
        (PermissionSubject::Anonymous, PermissionSubject::Anonymous) => true,
        _ => false,
    };
    let mut keys: Vec<PermissionKey> = rows
        .into_iter()
        .filter(matches)
        .map(|row| row.permission)
        .collect();
    keys.sort();
    keys.dedup();
    keys
}

#[cfg(test)]
mod tests {
    use super::*;
    use baton::model::SpacePermission;

    fn row(permission: SpacePermission, subject: PermissionSubject) -> SpacePermissionRow {
        SpacePermissionRow {
            space_key: "TEST".into(),
            permission: PermissionKey::Known(permission),
            subject,
        }
    }

    #[test]
    fn held_by_picks_one_subject_and_never_mixes_kinds() {
        let rows = vec![
            row(
                SpacePermission::View,
                PermissionSubject::Group {
                    name: "Devs".into(),
                },
            ),
            row(
                SpacePermission::View,
                PermissionSubject::User(UserRef::by_key("k1")),
            ),
            row(
                SpacePermission::RemovePage,
                PermissionSubject::User(UserRef::by_key("k1")),
            ),
            row(SpacePermission::AddComment, PermissionSubject::Anonymous),
        ];
        let user = PermissionSubject::User(UserRef::by_key("k1"));
        assert_eq!(
            held_by(rows.clone(), &user),
            [
                PermissionKey::Known(SpacePermission::View),
                PermissionKey::Known(SpacePermission::RemovePage)
            ]
        );
        let group = PermissionSubject::Group {
            name: "devs".into(),
        };
        assert_eq!(
            held_by(rows.clone(), &group),
            [PermissionKey::Known(SpacePermission::View)]
        );
        assert_eq!(
            held_by(rows, &PermissionSubject::Anonymous),
            [PermissionKey::Known(SpacePermission::AddComment)]
        );
    }

    #[test]
    fn duplicate_rows_collapse() {
        let subject = PermissionSubject::Anonymous;
        let rows = unique(
            vec![
                row(SpacePermission::View, subject.clone()),
                row(SpacePermission::View, subject),
            ]
            .into_iter(),
        );
        assert_eq!(rows.len(), 1);
    }
}
