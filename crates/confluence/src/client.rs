//! The tenant's Confluence client: a cheap clone shared inside one tenant.
//! Credentials, version detection (cached), and the reads a sync needs —
//! users, groups, members, spaces, single users. Space permissions live in
//! `permissions.rs`, provisioning writes in `writes.rs`.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::pin::Pin;
use std::sync::Arc;

use futures::{StreamExt as _, TryStreamExt as _};
use tokio::sync::OnceCell;

use super::decode;
use super::detect::{self, ServerVersion, VersionSource};
use super::error::{ConfluenceError, ErrorKind};
use super::models::{CurrentUser, Group, Space, User, UserRef};
use super::pacing::Pacing;
use super::pagination::{self, OnMissing, Pager, Walk, WalkKind};
use super::route::{Route, is_path_addressable};
use super::rpc::{self, RpcMethod};
use super::settings::ClientSettings;
use super::stats::ClientStats;
use super::transport::{Request, Transport};
use super::version::ConfluenceVersion;
use super::wire::UserWire;

pub(crate) type WalksFuture =
    Pin<Box<dyn Future<Output = Result<Vec<Walk>, ConfluenceError>> + Send>>;

const CURRENT_USER: &str = "/rest/api/user/current";
const USER: &str = "/rest/api/user";
const SERAPH_LOGIN_REASON: &str = "x-seraph-loginreason";

/// One tenant's Confluence. Clones share the connection pool, the rate
/// limiter, the counters and the detected version.
#[derive(Clone)]
pub struct ConfluenceClient {
    inner: Arc<Inner>,
}

struct Inner {
    transport: Transport,
    page_size: u32,
    max_pages: u64,
    /// Requests offered at once by fan-outs; the tenant's limiter decides
    /// how many of them are in flight.
    fan_out: usize,
    configured_version: Option<ConfluenceVersion>,
    version: OnceCell<ServerVersion>,
    /// Whether `/rest/api/group/member?name=` exists (probed once before 10.0).
    group_query: OnceCell<bool>,
}

impl fmt::Debug for ConfluenceClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConfluenceClient")
            .field("tenant", &self.tenant())
            .finish_non_exhaustive()
    }
}

impl ConfluenceClient {
    /// Builds the client (TLS, CA, credentials, limiter). Sends nothing.
    pub fn new(settings: &ClientSettings) -> Result<Self, ConfluenceError> {
        Ok(Self {
            inner: Arc::new(Inner {
                transport: Transport::new(settings)?,
                page_size: settings.page_size,
                max_pages: settings.max_pages,
                fan_out: settings.concurrency_ceiling(),
                configured_version: settings.version,
                version: OnceCell::new(),
                group_query: OnceCell::new(),
            }),
        })
    }

    pub fn tenant(&self) -> &str {
        &self.inner.transport.tenant
    }

    /// Requests, 429s, retries and rate-limit waiting so far.
    pub fn stats(&self) -> ClientStats {
        self.inner.transport.stats()
    }

    /// The most pages one listing may take (the tenant's `max_pages`).
    pub(crate) fn max_pages(&self) -> u64 {
        self.inner.max_pages
    }

    /// Closes the tenant's idle connections now rather than at their idle
    /// timeout: call it when a sync is over. The pacing it learned stays.
    pub fn release_idle_connections(&self) {
        self.inner.transport.release_idle_connections();
    }

    /// How the tenant's requests are paced right now.
    pub fn pacing(&self) -> Pacing {
        self.inner.transport.pacing()
    }

    pub(crate) fn transport(&self) -> &Transport {
        &self.inner.transport
    }

    pub(crate) fn error(&self, kind: ErrorKind) -> ConfluenceError {
        self.inner.transport.error(kind)
    }

    /// Verifies the credentials: valid only when Confluence names a known
    /// user with a user key. A bad token is answered as the anonymous user
    /// (HTTP 200), which is reported as bad credentials.
    pub async fn current_user(&self) -> Result<CurrentUser, ConfluenceError> {
        let request = Request::get(Route::fixed(CURRENT_USER));
        let wire: UserWire = self
            .transport()
            .fetch(&request, |transport, reply| {
                if reply.status == 401 {
                    let reason = match reply
                        .headers
                        .get(SERAPH_LOGIN_REASON)
                        .and_then(|v| v.to_str().ok())
                    {
                        Some(login_reason) => format!("Confluence answered 401 ({login_reason})"),
                        None => "Confluence answered 401".to_owned(),
                    };
                    return Err(transport.error(ErrorKind::BadCredentials { reason }));
                }
                decode::json(transport, reply)
            })
            .await?;
        wire.into_current_user()
            .map_err(|reason| self.error(ErrorKind::BadCredentials { reason }))
    }

    /// The tenant's version and where it came from; detected once per client.
    pub async fn server_version(&self) -> Result<ServerVersion, ConfluenceError> {
        let version = self
            .inner
            .version
            .get_or_try_init(|| async {
                match self.inner.configured_version {
                    Some(version) => Ok(ServerVersion {
                        version,
                        source: VersionSource::Configured,
                    }),
                    None => detect::detect(self.transport()).await,
                }
            })
            .await?;
        Ok(*version)
    }

    pub async fn version(&self) -> Result<ConfluenceVersion, ConfluenceError> {
        Ok(self.server_version().await?.version)
    }

    /// Checks that the JSON-RPC remote API answers (needed for space
    /// permissions before 9.1 and for names containing `/`).
    pub async fn probe_remote_api(&self) -> Result<(), ConfluenceError> {
        let _: Vec<String> = rpc::call(
            self.transport(),
            RpcMethod::GetSpaceLevelPermissions,
            serde_json::json!([]),
            "space permissions before Confluence 9.1 and names containing `/`",
        )
        .await?;
        Ok(())
    }

    /// Every user, deactivated ones included, with `status` expanded. Where
    /// `/rest/api/user/list` is missing, the members of every group instead
    /// (which misses users in no group; a warning says so).
    pub fn users(&self) -> Pager<User> {
        let walk = Walk::new(Route::fixed("/rest/api/user/list"))
            .query("expand", "status")
            .on_missing(OnMissing::ListGroupMembers);
        Pager::new(
            self.clone(),
            pagination::USERS,
            vec![walk],
            self.inner.page_size,
        )
    }

    pub fn groups(&self) -> Pager<Group> {
        Pager::new(
            self.clone(),
            pagination::GROUPS,
            vec![Walk::new(Route::fixed("/rest/api/group"))],
            self.inner.page_size,
        )
    }

    /// The walks that list users as group members, for servers without
    /// `/rest/api/user/list`. Boxed: it runs inside a user pager's
    /// `next_page` and pages groups itself, a cycle only a named `Send`
    /// future type can close.
    pub(crate) fn member_walks_of_every_group(&self) -> WalksFuture {
        let client = self.clone();
        Box::pin(async move {
            tracing::warn!(
                tenant = %client.tenant(),
                "/rest/api/user/list is missing; listing users as the members of every group, \
                 which misses users who belong to no group"
            );
            let query_endpoints = client.version().await?.has_group_query_endpoints();
            let mut walks = Vec::new();
            let mut unreachable = 0usize;
            for group in client.groups().collect_all().await? {
                let walk = if is_path_addressable(&group.name) {
                    Walk::new(Route::new("/rest/api/group/{name}/member", &[&group.name]))
                } else if query_endpoints {
                    Walk::new(Route::fixed("/rest/api/group/member")).query("name", group.name)
                } else {
                    unreachable += 1;
                    continue;
                };
                walks.push(walk.query("expand", "status"));
            }
            if unreachable > 0 {
                tracing::warn!(
                    tenant = %client.tenant(),
                    groups = unreachable,
                    "groups whose names contain `/` cannot be listed on this version; \
                     their members are missed unless they belong to another group"
                );
            }
            Ok(walks)
        })
    }

    /// Whether [`Self::group_members`] can list this group on this tenant:
    /// its name fits in a URL path, or the tenant has the `?name=` endpoint.
    /// When it cannot, use [`Self::group_members_via_users`].
    pub async fn can_list_group_members(&self, group: &str) -> Result<bool, ConfluenceError> {
        Ok(is_path_addressable(group) || self.group_query_endpoints(group).await?)
    }

    /// Whether `/rest/api/group/member?name=` answers on this tenant. It is
    /// documented for 10.x, but the first release that has it is not, so an
    /// older tenant is probed once, with `group` (a group that exists): a page
    /// of users means yes; anything else means no — a 404, or the group named
    /// `member` that the path means where the endpoint is missing.
    async fn group_query_endpoints(&self, group: &str) -> Result<bool, ConfluenceError> {
        if self.version().await?.has_group_query_endpoints() {
            return Ok(true);
        }
        let probe = async {
            let request = Request::get(Route::fixed("/rest/api/group/member"))
                .query("name", group)
                .query("limit", "1");
            let answered = self
                .transport()
                .fetch(&request, |transport, reply| {
                    if reply.status != 200 {
                        return Ok(false);
                    }
                    let value: serde_json::Value = decode::json(transport, reply)?;
                    Ok(value
                        .get("results")
                        .is_some_and(serde_json::Value::is_array))
                })
                .await;
            let answered = match answered {
                Ok(answered) => answered,
                // A body that is not JSON: not something this endpoint offers.
                Err(err) if err.status().is_some() && !err.is_garbled() => false,
                Err(err) => return Err(err),
            };
            tracing::debug!(tenant = %self.tenant(), answered, "probed /rest/api/group/member?name=");
            Ok(answered)
        };
        self.inner
            .group_query
            .get_or_try_init(|| probe)
            .await
            .copied()
    }

    /// The direct members of a group: `/rest/api/group/{name}/member`, or
    /// `/rest/api/group/member?name=` (10.x) for a name containing `/`.
    /// Fails with `NameNotAddressable` when neither is possible.
    pub async fn group_members(&self, group: &str) -> Result<Pager<User>, ConfluenceError> {
        let walk = if is_path_addressable(group) {
            Walk::new(Route::new("/rest/api/group/{name}/member", &[group]))
        } else {
            if !self.group_query_endpoints(group).await? {
                return Err(self.error(ErrorKind::NameNotAddressable {
                    name: group.to_owned(),
                    version: self.version().await?,
                }));
            }
            Walk::new(Route::fixed("/rest/api/group/member")).query("name", group)
        };
        Ok(Pager::new(
            self.clone(),
            pagination::USERS,
            vec![walk],
            self.inner.page_size,
        ))
    }

    /// The groups a user belongs to (`/rest/api/user/memberof`).
    pub fn user_groups(&self, user: &UserRef) -> Pager<Group> {
        let walk = Walk::new(Route::fixed("/rest/api/user/memberof"));
        let walk = match (&user.user_key, &user.username) {
            (Some(key), _) => walk.query("key", key.clone()),
            (None, Some(username)) => walk.query("username", username.clone()),
            (None, None) => walk.query("key", ""),
        };
        Pager::new(
            self.clone(),
            pagination::GROUPS,
            vec![walk],
            self.inner.page_size,
        )
    }

    /// Members of `groups` found by asking each user (by key) which groups it
    /// belongs to: the fallback for group names no endpoint can address.
    /// Every requested group is in the answer, with its members' user keys
    /// sorted. Costs one or more requests per user.
    pub async fn group_members_via_users(
        &self,
        groups: &[String],
        user_keys: &[String],
    ) -> Result<BTreeMap<String, Vec<String>>, ConfluenceError> {
        let wanted: BTreeSet<&str> = groups.iter().map(String::as_str).collect();
        let mut members: BTreeMap<String, Vec<String>> = groups
            .iter()
            .map(|group| (group.clone(), Vec::new()))
            .collect();
        if wanted.is_empty() {
            return Ok(members);
        }
        let memberships: Vec<(String, Vec<Group>)> =
            futures::stream::iter(user_keys.iter().cloned())
                .map(|user_key| {
                    let client = self.clone();
                    async move {
                        let groups = client
                            .user_groups(&UserRef::by_key(user_key.clone()))
                            .collect_all()
                            .await?;
                        Ok::<_, ConfluenceError>((user_key, groups))
                    }
                })
                .buffer_unordered(self.inner.fan_out)
                .try_collect()
                .await?;
        for (user_key, groups) in memberships {
            for group in groups {
                if wanted.contains(group.name.as_str())
                    && let Some(keys) = members.get_mut(&group.name)
                {
                    keys.push(user_key.clone());
                }
            }
        }
        for keys in members.values_mut() {
            keys.sort();
            keys.dedup();
        }
        Ok(members)
    }

    /// Every space the account can see: current and archived (listed
    /// separately, de-duplicated by key), global and personal.
    pub fn spaces(&self) -> Pager<Space> {
        let route = Route::fixed("/rest/api/space");
        let current = Walk::new(route.clone()).query("expand", "description.plain");
        let archived = Walk::new(route)
            .query("expand", "description.plain")
            .query("status", "archived")
            .kind(WalkKind::ArchivedSpaces);
        Pager::new(
            self.clone(),
            pagination::SPACES,
            vec![current, archived],
            self.inner.page_size,
        )
    }

    /// One user by user key; `None` when Confluence does not know it.
    pub async fn user_by_key(&self, user_key: &str) -> Result<Option<User>, ConfluenceError> {
        self.user_lookup("key", user_key).await
    }

    /// One user by username; `None` when Confluence does not know it.
    pub async fn user_by_username(&self, username: &str) -> Result<Option<User>, ConfluenceError> {
        self.user_lookup("username", username).await
    }

    async fn user_lookup(
        &self,
        by: &'static str,
        value: &str,
    ) -> Result<Option<User>, ConfluenceError> {
        let request = Request::get(Route::fixed(USER))
            .query(by, value)
            .query("expand", "status");
        let wire: Option<UserWire> = self
            .transport()
            .fetch(&request, |transport, reply| {
                if reply.status == 404 {
                    return Ok(None);
                }
                decode::json(transport, reply).map(Some)
            })
            .await?;
        Ok(wire.and_then(UserWire::into_user))
    }

    /// The username of `user`, looked up by key when not given.
    pub(crate) async fn resolve_username(&self, user: &UserRef) -> Result<String, ConfluenceError> {
        if let Some(username) = &user.username {
            return Ok(username.clone());
        }
        let key = user.user_key.as_deref().unwrap_or_default();
        self.user_by_key(key)
            .await?
            .and_then(|user| user.username)
            .ok_or_else(|| self.unknown_user(user))
    }

    /// The user key of `user`, looked up by username when not given.
    pub(crate) async fn resolve_user_key(&self, user: &UserRef) -> Result<String, ConfluenceError> {
        if let Some(key) = &user.user_key {
            return Ok(key.clone());
        }
        let username = user.username.as_deref().unwrap_or_default();
        self.user_by_username(username)
            .await?
            .map(|user| user.user_key)
            .ok_or_else(|| self.unknown_user(user))
    }

    fn unknown_user(&self, user: &UserRef) -> ConfluenceError {
        self.error(ErrorKind::NotFound {
            method: "GET",
            route: USER,
            message: format!(": Confluence knows no user {user}"),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::settings::Auth;
    use platform::secret::Secret;

    fn assert_send<T: Send>(_: T) {}

    #[test]
    fn client_futures_can_move_between_threads() {
        let settings = ClientSettings::new(
            "acme",
            "http://127.0.0.1:9".parse().unwrap(),
            Auth::Token(Secret::new("t".into())),
        );
        let client = ConfluenceClient::new(&settings).unwrap();
        let mut users = client.users();
        assert_send(users.next_page());
        assert_send(client.current_user());
        assert_send(client.space_permissions("TEST"));
        assert_send(client.group_members_via_users(&[], &[]));
        assert_send(client.grant_space_permission(
            "TEST",
            baton::model::SpacePermission::View,
            &crate::PermissionSubject::Anonymous,
        ));
        assert_send(client.create_user(&crate::NewUser {
            username: "u".into(),
            full_name: "U".into(),
            email: "u@example.com".into(),
            password: None,
        }));
    }
}
