//! The JSON shapes Confluence sends (docs/confluence-api-notes.md §1-§6), read
//! leniently: every field the server may omit is optional, and conversion
//! into the public records drops entries that carry no identity.

use serde::Deserialize;
use serde_json::Value;

use super::models::{
    CurrentUser, Group, PermissionKey, PermissionSubject, Space, SpacePermissionRow, User, UserRef,
    UserStatus,
};

/// The envelope of every paged list.
#[derive(Debug, Deserialize)]
pub(crate) struct Page<T> {
    #[serde(default = "Vec::new")]
    pub results: Vec<T>,
    #[serde(default, rename = "_links")]
    pub links: PageLinks,
}

#[derive(Debug, Default, Deserialize)]
pub(crate) struct PageLinks {
    pub next: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct UserWire {
    #[serde(rename = "type")]
    pub kind: Option<String>,
    pub username: Option<String>,
    pub user_key: Option<String>,
    pub display_name: Option<String>,
    pub email: Option<String>,
    pub status: Option<Value>,
}

impl UserWire {
    /// A user without a key (the anonymous user) is nobody to sync.
    pub fn into_user(self) -> Option<User> {
        let user_key = self.user_key.filter(|key| !key.is_empty())?;
        let username = self.username.filter(|name| !name.is_empty());
        Some(User {
            display_name: self
                .display_name
                .or_else(|| username.clone())
                .unwrap_or_else(|| user_key.clone()),
            status: self
                .status
                .as_ref()
                .and_then(status_text)
                .map(UserStatus::parse),
            email: self.email.filter(|email| !email.trim().is_empty()),
            account_type: self.kind.unwrap_or_else(|| "known".to_owned()),
            username,
            user_key,
        })
    }

    /// The caller, if the server knows it: `type == "known"` and a user key.
    /// A bad token makes Confluence answer as the anonymous user instead.
    pub fn into_current_user(self) -> Result<CurrentUser, String> {
        let kind = self.kind.as_deref().unwrap_or_default();
        match (kind, self.user_key.filter(|key| !key.is_empty())) {
            ("known", Some(user_key)) => Ok(CurrentUser {
                username: self.username.clone().unwrap_or_default(),
                display_name: self.display_name.or(self.username).unwrap_or_default(),
                user_key,
            }),
            ("known", None) => Err("Confluence names a user without a userKey".to_owned()),
            ("", _) => Err("Confluence did not say who the caller is".to_owned()),
            (other, _) => Err(format!(
                "Confluence treats the request as `{other}`: the token or password was not accepted"
            )),
        }
    }
}

/// `status` may be a bare string or an object holding one.
fn status_text(value: &Value) -> Option<&str> {
    match value {
        Value::String(text) => Some(text),
        Value::Object(fields) => ["value", "status", "name", "key"]
            .iter()
            .find_map(|name| fields.get(*name).and_then(Value::as_str)),
        _ => None,
    }
}

#[derive(Debug, Deserialize)]
pub(crate) struct GroupWire {
    pub name: Option<String>,
}

impl GroupWire {
    pub fn into_group(self) -> Option<Group> {
        self.name
            .filter(|name| !name.is_empty())
            .map(|name| Group { name })
    }
}

#[derive(Debug, Deserialize)]
pub(crate) struct SpaceWire {
    pub id: Option<Value>,
    pub key: Option<String>,
    pub name: Option<String>,
    #[serde(rename = "type")]
    pub kind: Option<String>,
    pub status: Option<String>,
    pub description: Option<Value>,
}

impl SpaceWire {
    /// `from_archived_listing`: the space came from the `status=archived` query.
    pub fn into_space(self, from_archived_listing: bool) -> Option<Space> {
        let key = self.key.filter(|key| !key.is_empty())?;
        let space_type = self.kind.unwrap_or_default();
        let archived = match self.status.as_deref() {
            Some(status) => status.eq_ignore_ascii_case("archived"),
            None => from_archived_listing,
        };
        Some(Space {
            id: self.id.as_ref().and_then(|id| match id {
                Value::Number(number) => number.as_u64(),
                Value::String(text) => text.parse().ok(),
                _ => None,
            }),
            personal: space_type.eq_ignore_ascii_case("personal") || key.starts_with('~'),
            name: self.name.unwrap_or_else(|| key.clone()),
            description: self.description.as_ref().and_then(description_text),
            archived,
            space_type,
            key,
        })
    }
}

/// `description` is `{"plain": {"value": "..."}}` when expanded; tolerate a bare string.
fn description_text(value: &Value) -> Option<String> {
    let text = match value {
        Value::String(text) => text.as_str(),
        Value::Object(_) => value.pointer("/plain/value").and_then(Value::as_str)?,
        _ => return None,
    };
    (!text.is_empty()).then(|| text.to_owned())
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ServerInformation {
    pub version: Option<String>,
}

/// One entry of `GET /rest/api/space/{key}/permissions` (9.1+).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct RestPermission {
    pub operation: Option<RestOperation>,
    pub subject: Option<RestSubject>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct RestOperation {
    pub target_type: Option<String>,
    pub operation_key: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct RestSubject {
    #[serde(rename = "type")]
    pub kind: Option<String>,
    pub name: Option<String>,
    pub user_key: Option<String>,
    pub username: Option<String>,
}

impl RestPermission {
    pub fn into_row(self, space_key: &str) -> Option<SpacePermissionRow> {
        let operation = self.operation?;
        let permission = PermissionKey::from_rest_operation(
            operation.target_type.as_deref().unwrap_or_default(),
            operation.operation_key.as_deref().unwrap_or_default(),
        );
        let subject = self.subject?;
        let subject = match subject
            .kind
            .as_deref()
            .map(str::to_ascii_lowercase)
            .as_deref()
        {
            Some("user") => PermissionSubject::User(UserRef {
                user_key: subject.user_key.filter(|key| !key.is_empty()),
                username: subject.username.filter(|name| !name.is_empty()),
            }),
            Some("group") => PermissionSubject::Group {
                name: subject.name.filter(|n| !n.is_empty())?,
            },
            Some("anonymous") => PermissionSubject::Anonymous,
            _ => return None,
        };
        Some(SpacePermissionRow {
            space_key: space_key.to_owned(),
            permission,
            subject,
        })
    }
}

/// One `SpacePermissionSet` of JSON-RPC `getSpacePermissionSets` (< 9.1).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct RpcPermissionSet {
    #[serde(rename = "type")]
    pub kind: Option<String>,
    #[serde(default)]
    pub space_permissions: Vec<RpcPermission>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct RpcPermission {
    #[serde(rename = "type")]
    pub kind: Option<String>,
    pub group_name: Option<String>,
    pub user_name: Option<String>,
}

impl RpcPermissionSet {
    /// JSON-RPC reports usernames; both names null is the anonymous grant.
    pub fn into_rows(self, space_key: &str) -> impl Iterator<Item = SpacePermissionRow> + '_ {
        let set_kind = self.kind.unwrap_or_default();
        self.space_permissions.into_iter().filter_map(move |entry| {
            let key = entry
                .kind
                .filter(|kind| !kind.is_empty())
                .unwrap_or_else(|| set_kind.clone());
            if key.is_empty() {
                return None;
            }
            let subject = match (
                entry.group_name.filter(|g| !g.is_empty()),
                entry.user_name.filter(|u| !u.is_empty()),
            ) {
                (Some(name), _) => PermissionSubject::Group { name },
                (None, Some(username)) => PermissionSubject::User(UserRef::by_username(username)),
                (None, None) => PermissionSubject::Anonymous,
            };
            Some(SpacePermissionRow {
                space_key: space_key.to_owned(),
                permission: PermissionKey::from_legacy_key(&key),
                subject,
            })
        })
    }
}

/// `POST /rest/api/admin/user` answers `{"userKey": "..."}`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct CreatedUser {
    pub user_key: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use baton::model::SpacePermission;

    #[test]
    fn anonymous_current_user_is_not_a_login() {
        let wire: UserWire = serde_json::from_str(
            r#"{"type":"anonymous","displayName":"Anonymous","profilePicture":{}}"#,
        )
        .unwrap();
        let err = wire.into_current_user().unwrap_err();
        assert!(err.contains("anonymous"), "{err}");
    }

    #[test]
    fn known_user_without_key_is_not_a_login() {
        let wire: UserWire =
            serde_json::from_str(r#"{"type":"known","username":"admin","userKey":""}"#).unwrap();
        assert!(wire.into_current_user().is_err());
    }

    #[test]
    fn user_status_may_be_a_string_or_an_object() {
        let plain: UserWire =
            serde_json::from_str(r#"{"userKey":"k1","username":"a","status":"Deactivated"}"#)
                .unwrap();
        assert!(!plain.into_user().unwrap().is_enabled());
        let object: UserWire =
            serde_json::from_str(r#"{"userKey":"k2","status":{"value":"CURRENT"}}"#).unwrap();
        let user = object.into_user().unwrap();
        assert!(user.is_enabled());
        assert_eq!(user.username, None);
        assert_eq!(user.display_name, "k2");
    }

    #[test]
    fn rpc_sets_become_rows_with_usernames_groups_and_anonymous() {
        let sets: Vec<RpcPermissionSet> = serde_json::from_str(
            r#"[{"type":"VIEWSPACE","spacePermissions":[
                {"groupName":"confluence-administrators","type":"VIEWSPACE","userName":null},
                {"groupName":null,"type":"VIEWSPACE","userName":"admin"},
                {"groupName":null,"type":"VIEWSPACE","userName":null}]}]"#,
        )
        .unwrap();
        let rows: Vec<_> = sets
            .into_iter()
            .flat_map(|set| set.into_rows("TEST").collect::<Vec<_>>())
            .collect();
        assert_eq!(rows.len(), 3);
        assert!(
            rows.iter()
                .all(|row| row.permission == PermissionKey::Known(SpacePermission::View))
        );
        assert_eq!(
            rows[1].subject,
            PermissionSubject::User(UserRef::by_username("admin"))
        );
        assert_eq!(rows[2].subject, PermissionSubject::Anonymous);
    }

    #[test]
    fn rest_entries_become_rows_with_user_keys() {
        let entries: Vec<RestPermission> = serde_json::from_str(
            r#"[{"operation":{"targetType":"space","operationKey":"read"},
                 "subject":{"type":"user","userKey":"4028"},"spaceKey":"PROJ"},
                {"operation":{"targetType":"page","operationKey":"create"},
                 "subject":{"type":"group","name":"a/b"},"spaceKey":"PROJ"},
                {"operation":{"targetType":"space","operationKey":"read"},
                 "subject":{"type":"anonymous"},"spaceKey":"PROJ"}]"#,
        )
        .unwrap();
        let rows: Vec<_> = entries
            .into_iter()
            .filter_map(|entry| entry.into_row("PROJ"))
            .collect();
        assert_eq!(
            rows[0].subject,
            PermissionSubject::User(UserRef::by_key("4028"))
        );
        assert_eq!(
            rows[1].permission,
            PermissionKey::Known(SpacePermission::EditSpace)
        );
        assert_eq!(
            rows[1].subject,
            PermissionSubject::Group { name: "a/b".into() }
        );
        assert_eq!(rows[2].subject, PermissionSubject::Anonymous);
    }

    #[test]
    fn archived_and_personal_flags_are_kept() {
        let wire: SpaceWire = serde_json::from_str(
            r#"{"id":98305,"key":"~jdoe","name":"J","type":"personal",
                "description":{"plain":{"value":"hi","representation":"plain"}}}"#,
        )
        .unwrap();
        let space = wire.into_space(true).unwrap();
        assert!(space.personal && space.archived);
        assert_eq!(space.description.as_deref(), Some("hi"));
        assert_eq!(space.id, Some(98305));
        let current: SpaceWire =
            serde_json::from_str(r#"{"key":"DS","type":"global","status":"current"}"#).unwrap();
        let space = current.into_space(true).unwrap();
        assert!(!space.personal && !space.archived);
    }
}
