//! The writes provisioning carries out: group membership, space permission
//! grants and revokes, account creation, disable and enable. REST where the
//! version and the names allow it; JSON-RPC where a name contains `/` or the
//! version predates the REST endpoint. Every call is idempotent except
//! account creation.

use serde::Serialize;
use serde_json::json;

use super::client::ConfluenceClient;
use super::decode;
use super::error::{ConfluenceError, ErrorKind};
use super::models::{NewUser, PermissionSubject, UserRef};
use super::permissions::NEEDED_FOR_PERMISSIONS;
use super::route::{Route, is_path_addressable};
use super::rpc::{self, RpcMethod};
use super::transport::Request;
use super::wire::CreatedUser;
use baton::model::SpacePermission;

const NEEDED_FOR_SLASH_NAMES: &str = "names containing `/`";
const CREATE_USER: &str = "/rest/api/admin/user";

/// The body of `POST /rest/api/admin/user`. It borrows the password from
/// its zeroizing secret, so the only copy made is the request's own buffer.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct CreateUserBody<'a> {
    user_name: &'a str,
    full_name: &'a str,
    email: &'a str,
    notify_via_email: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    password: Option<&'a str>,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Change {
    Add,
    Remove,
}

impl ConfluenceClient {
    /// Adds `user` to `group` (idempotent).
    pub async fn add_group_member(
        &self,
        user: &UserRef,
        group: &str,
    ) -> Result<(), ConfluenceError> {
        self.change_membership(user, group, Change::Add).await
    }

    /// Removes `user` from `group` (idempotent).
    pub async fn remove_group_member(
        &self,
        user: &UserRef,
        group: &str,
    ) -> Result<(), ConfluenceError> {
        self.change_membership(user, group, Change::Remove).await
    }

    async fn change_membership(
        &self,
        user: &UserRef,
        group: &str,
        change: Change,
    ) -> Result<(), ConfluenceError> {
        let username = self.resolve_username(user).await?;
        if is_path_addressable(&username) && is_path_addressable(group) {
            let route = Route::new(
                "/rest/api/user/{username}/group/{name}",
                &[&username, group],
            );
            let request = match change {
                Change::Add => Request::put(route),
                Change::Remove => Request::delete(route),
            };
            let transport = self.transport();
            decode::success(transport, transport.send(&request).await?)?;
            return Ok(());
        }
        let method = match change {
            Change::Add => RpcMethod::AddUserToGroup,
            Change::Remove => RpcMethod::RemoveUserFromGroup,
        };
        rpc::call_write(
            self.transport(),
            method,
            json!([username, group]),
            NEEDED_FOR_SLASH_NAMES,
        )
        .await
    }

    /// Grants `permission` on a space to a user, a group or anonymous
    /// (idempotent: granting a held permission succeeds).
    pub async fn grant_space_permission(
        &self,
        space_key: &str,
        permission: SpacePermission,
        subject: &PermissionSubject,
    ) -> Result<(), ConfluenceError> {
        self.change_space_permission(space_key, permission, subject, Change::Add)
            .await
    }

    /// Revokes `permission` on a space (idempotent: revoking an absent
    /// permission succeeds).
    pub async fn revoke_space_permission(
        &self,
        space_key: &str,
        permission: SpacePermission,
        subject: &PermissionSubject,
    ) -> Result<(), ConfluenceError> {
        self.change_space_permission(space_key, permission, subject, Change::Remove)
            .await
    }

    async fn change_space_permission(
        &self,
        space_key: &str,
        permission: SpacePermission,
        subject: &PermissionSubject,
        change: Change,
    ) -> Result<(), ConfluenceError> {
        let group_needs_rpc =
            matches!(subject, PermissionSubject::Group { name } if !is_path_addressable(name));
        if self.uses_rest_permissions(space_key).await? && !group_needs_rpc {
            return self
                .change_space_permission_rest(space_key, permission, subject, change)
                .await;
        }
        let key = permission.legacy_key();
        let (method, params) = match (subject, change) {
            (PermissionSubject::Anonymous, Change::Add) => (
                RpcMethod::AddAnonymousPermissionsToSpace,
                json!([[key], space_key]),
            ),
            (PermissionSubject::Anonymous, Change::Remove) => (
                RpcMethod::RemoveAnonymousPermissionFromSpace,
                json!([key, space_key]),
            ),
            (PermissionSubject::User(_) | PermissionSubject::Group { .. }, _) => {
                let entity = match subject {
                    PermissionSubject::User(user) => self.resolve_username(user).await?,
                    PermissionSubject::Group { name } => name.clone(),
                    PermissionSubject::Anonymous => String::new(),
                };
                match change {
                    Change::Add => (
                        RpcMethod::AddPermissionsToSpace,
                        json!([[key], entity, space_key]),
                    ),
                    Change::Remove => (
                        RpcMethod::RemovePermissionFromSpace,
                        json!([key, entity, space_key]),
                    ),
                }
            }
        };
        let needed_for = if group_needs_rpc {
            NEEDED_FOR_SLASH_NAMES
        } else {
            NEEDED_FOR_PERMISSIONS
        };
        rpc::call_write(self.transport(), method, params, needed_for).await
    }

    async fn change_space_permission_rest(
        &self,
        space_key: &str,
        permission: SpacePermission,
        subject: &PermissionSubject,
        change: Change,
    ) -> Result<(), ConfluenceError> {
        let route = match (subject, change) {
            (PermissionSubject::User(user), _) => {
                let user_key = self.resolve_user_key(user).await?;
                let template = match change {
                    Change::Add => "/rest/api/space/{key}/permissions/user/{userKey}/grant",
                    Change::Remove => "/rest/api/space/{key}/permissions/user/{userKey}/revoke",
                };
                Route::new(template, &[space_key, &user_key])
            }
            (PermissionSubject::Group { name }, Change::Add) => Route::new(
                "/rest/api/space/{key}/permissions/group/{name}/grant",
                &[space_key, name],
            ),
            (PermissionSubject::Group { name }, Change::Remove) => Route::new(
                "/rest/api/space/{key}/permissions/group/{name}/revoke",
                &[space_key, name],
            ),
            (PermissionSubject::Anonymous, Change::Add) => Route::new(
                "/rest/api/space/{key}/permissions/anonymous/grant",
                &[space_key],
            ),
            (PermissionSubject::Anonymous, Change::Remove) => Route::new(
                "/rest/api/space/{key}/permissions/anonymous/revoke",
                &[space_key],
            ),
        };
        let (target_type, operation_key) = permission.rest_operation();
        let body = json!([{ "targetType": target_type, "operationKey": operation_key }]);
        let transport = self.transport();
        decode::success(
            transport,
            transport.send(&Request::put(route).json(&body)).await?,
        )?;
        Ok(())
    }

    /// Creates an account and returns its user key. Without a password,
    /// Confluence emails the user a link to set one. Not retried once the
    /// server may have acted; a 409 means the username exists.
    pub async fn create_user(&self, user: &NewUser) -> Result<String, ConfluenceError> {
        let version = self.version().await?;
        if !version.has_admin_user_rest() {
            return Err(self.error(ErrorKind::Unsupported {
                what: "account creation over REST",
                version,
                needs: "8.4",
            }));
        }
        let body = CreateUserBody {
            user_name: &user.username,
            full_name: &user.full_name,
            email: &user.email,
            notify_via_email: user.password.is_none(),
            password: user.password.as_ref().map(|password| password.expose()),
        };
        let request = Request::post(Route::fixed(CREATE_USER))
            .sensitive_json(&body)
            .map_err(|err| {
                self.error(ErrorKind::Setup {
                    detail: format!("cannot encode the new account `{}`: {err}", user.username),
                })
            })?
            .not_idempotent();
        let transport = self.transport();
        let reply = decode::success(transport, transport.send(&request).await?)?;
        let created = serde_json::from_slice::<CreatedUser>(&reply.body)
            .ok()
            .and_then(|created| created.user_key);
        match created.filter(|key| !key.is_empty()) {
            Some(user_key) => Ok(user_key),
            // A 201/204 without the documented body: ask who was created.
            None => {
                self.resolve_user_key(&UserRef::by_username(user.username.clone()))
                    .await
            }
        }
    }

    /// Deactivates an account (idempotent); it keeps its groups and grants.
    pub async fn disable_user(&self, user: &UserRef) -> Result<(), ConfluenceError> {
        self.set_user_active(user, false).await
    }

    /// Reactivates an account (idempotent).
    pub async fn enable_user(&self, user: &UserRef) -> Result<(), ConfluenceError> {
        self.set_user_active(user, true).await
    }

    async fn set_user_active(&self, user: &UserRef, active: bool) -> Result<(), ConfluenceError> {
        let username = self.resolve_username(user).await?;
        if self.version().await?.has_admin_user_rest() && is_path_addressable(&username) {
            let template = if active {
                "/rest/api/admin/user/{username}/enable"
            } else {
                "/rest/api/admin/user/{username}/disable"
            };
            let transport = self.transport();
            decode::success(
                transport,
                transport
                    .send(&Request::put(Route::new(template, &[&username])))
                    .await?,
            )?;
            return Ok(());
        }
        let method = if active {
            RpcMethod::ReactivateUser
        } else {
            RpcMethod::DeactivateUser
        };
        rpc::call_write(
            self.transport(),
            method,
            json!([username]),
            NEEDED_FOR_SLASH_NAMES,
        )
        .await
    }
}
