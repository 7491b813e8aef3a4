//! What the client hands to the sync and provisioning layers: normalised
//! records that look the same whichever Confluence version or API answered.

use std::fmt;

use baton::model::SpacePermission;
use platform::secret::Secret;

/// The account the client authenticates as (`/rest/api/user/current`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CurrentUser {
    pub username: String,
    pub user_key: String,
    pub display_name: String,
}

/// A Confluence user. `user_key` is the stable identity; usernames can be
/// renamed and are absent on `type: "unknown"` users.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct User {
    pub user_key: String,
    pub username: Option<String>,
    pub display_name: String,
    /// Absent when the instance hides email addresses.
    pub email: Option<String>,
    /// From `expand=status`; absent when the server did not expand it.
    pub status: Option<UserStatus>,
    /// The API's `type`: `known`, `unknown`, ...
    pub account_type: String,
}

impl User {
    /// Disabled only on evidence: a status that says the account cannot log in.
    pub fn is_enabled(&self) -> bool {
        self.status.as_ref().is_none_or(UserStatus::is_enabled)
    }
}

/// `expand=status`. Servers spell it `CURRENT` or `Active`, `DEACTIVATED` or
/// `Deactivated`; it is compared case-insensitively.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum UserStatus {
    Current,
    Deactivated,
    ExternallyDeleted,
    Unlicensed,
    Other(String),
}

impl UserStatus {
    pub fn parse(text: &str) -> Self {
        let normalised = text.trim().to_ascii_lowercase().replace([' ', '-'], "_");
        match normalised.as_str() {
            "current" | "active" | "enabled" => Self::Current,
            "deactivated" | "disabled" | "inactive" => Self::Deactivated,
            "externally_deleted" | "externallydeleted" | "deleted" => Self::ExternallyDeleted,
            "unlicensed" => Self::Unlicensed,
            _ => Self::Other(text.trim().to_owned()),
        }
    }

    /// An unknown spelling counts as enabled: never disable on a guess.
    pub fn is_enabled(&self) -> bool {
        matches!(self, Self::Current | Self::Other(_))
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Group {
    pub name: String,
}

/// A space, from the listing of current and of archived spaces.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Space {
    pub id: Option<u64>,
    /// Exactly as returned (personal spaces start with `~`).
    pub key: String,
    pub name: String,
    /// `global` or `personal`, as returned.
    pub space_type: String,
    pub personal: bool,
    pub archived: bool,
    pub description: Option<String>,
}

/// A user as the caller knows it: by key, by username, or both. Calls that
/// need the other identifier look it up.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct UserRef {
    pub user_key: Option<String>,
    pub username: Option<String>,
}

impl UserRef {
    pub fn by_key(user_key: impl Into<String>) -> Self {
        Self {
            user_key: Some(user_key.into()),
            username: None,
        }
    }

    pub fn by_username(username: impl Into<String>) -> Self {
        Self {
            user_key: None,
            username: Some(username.into()),
        }
    }
}

impl fmt::Display for UserRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (&self.username, &self.user_key) {
            (Some(username), _) => f.write_str(username),
            (None, Some(key)) => write!(f, "key {key}"),
            (None, None) => f.write_str("(no user)"),
        }
    }
}

/// Who holds a space permission. JSON-RPC (< 9.1) names users by username,
/// REST (9.1+) by user key; the row keeps whichever the server gave.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum PermissionSubject {
    User(UserRef),
    Group { name: String },
    Anonymous,
}

/// A space permission: one of the 14 known ones, or a key this hub does not
/// model (`EXPORTPAGE`, or a REST pair such as `space/unknown`), kept raw.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum PermissionKey {
    Known(SpacePermission),
    Unknown(String),
}

impl PermissionKey {
    pub fn from_legacy_key(key: &str) -> Self {
        SpacePermission::from_legacy_key(key)
            .map_or_else(|| Self::Unknown(key.to_owned()), Self::Known)
    }

    pub fn from_rest_operation(target_type: &str, operation_key: &str) -> Self {
        SpacePermission::from_rest_operation(target_type, operation_key).map_or_else(
            || Self::Unknown(format!("{target_type}/{operation_key}")),
            Self::Known,
        )
    }
}

/// One permission held on one space by one subject.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SpacePermissionRow {
    pub space_key: String,
    pub permission: PermissionKey,
    pub subject: PermissionSubject,
}

/// A new account (`POST /rest/api/admin/user`). Without a password,
/// Confluence emails the user a link to set one.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewUser {
    pub username: String,
    pub full_name: String,
    pub email: String,
    pub password: Option<Secret>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_is_compared_case_insensitively() {
        assert_eq!(UserStatus::parse("CURRENT"), UserStatus::Current);
        assert_eq!(UserStatus::parse("Active"), UserStatus::Current);
        assert_eq!(UserStatus::parse("Deactivated"), UserStatus::Deactivated);
        assert_eq!(UserStatus::parse("DEACTIVATED"), UserStatus::Deactivated);
        assert_eq!(
            UserStatus::parse("Externally Deleted"),
            UserStatus::ExternallyDeleted
        );
        assert_eq!(UserStatus::parse("unlicensed"), UserStatus::Unlicensed);
        assert!(UserStatus::parse("Mystery").is_enabled());
        assert!(!UserStatus::parse("deactivated").is_enabled());
    }

    #[test]
    fn unknown_permission_keys_are_kept_raw() {
        assert_eq!(
            PermissionKey::from_legacy_key("EXPORTPAGE"),
            PermissionKey::Unknown("EXPORTPAGE".into())
        );
        assert_eq!(
            PermissionKey::from_rest_operation("page", "delete"),
            PermissionKey::Known(SpacePermission::RemovePage)
        );
        assert_eq!(
            PermissionKey::from_rest_operation("space", "fly"),
            PermissionKey::Unknown("space/fly".into())
        );
    }

    #[test]
    fn new_user_debug_redacts_the_password() {
        let user = NewUser {
            username: "jdoe".into(),
            full_name: "J Doe".into(),
            email: "j@example.com".into(),
            password: Some(Secret::new("hunter2".into())),
        };
        assert!(!format!("{user:?}").contains("hunter2"));
    }
}
