//! The data a simulated instance serves — users, groups, spaces, space
//! permissions and deleted-but-referenced users — in the JSON shape of
//! `fixtures/dataset-small.json`, with loading and consistency checks.

use std::collections::HashSet;
use std::io;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use baton::model::SpacePermission;

/// A whole instance's identity data. `meta` in files is ignored.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Dataset {
    #[serde(default)]
    pub users: Vec<SimUser>,
    #[serde(default)]
    pub groups: Vec<SimGroup>,
    #[serde(default)]
    pub spaces: Vec<SimSpace>,
    #[serde(default)]
    pub permissions: Vec<SimPermission>,
    /// Deleted users whose keys still appear in permissions (an orphan `user_mapping` row).
    #[serde(default)]
    pub unknown_users: Vec<UnknownUser>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SimUser {
    pub user_key: String,
    pub username: String,
    pub display_name: String,
    pub email: String,
    /// `false` = deactivated (still listed, cannot log in).
    pub active: bool,
    /// Basic-auth password; users without one can only use a PAT.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SimGroup {
    pub name: String,
    /// Member user keys, in listing order.
    #[serde(default)]
    pub members: Vec<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SimSpace {
    pub id: u64,
    pub key: String,
    pub name: String,
    /// `global` or `personal`.
    pub r#type: String,
    /// `current` or `archived`.
    pub status: String,
    #[serde(default)]
    pub description: String,
}

/// One space-permission row: a legacy key held by a user (by key), a group,
/// or — both `None` — anonymous users.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SimPermission {
    pub space_key: String,
    /// Legacy key, e.g. `VIEWSPACE`.
    pub r#type: String,
    pub user_key: Option<String>,
    pub group_name: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UnknownUser {
    pub user_key: String,
    /// The name the orphan `user_mapping` row still holds.
    pub username: String,
}

/// Why a dataset could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum DatasetError {
    #[error("cannot read dataset file {path}: {source}")]
    Read { path: PathBuf, source: io::Error },
    #[error("dataset file {path} is not a valid dataset: {source}")]
    Parse {
        path: PathBuf,
        source: serde_json::Error,
    },
    #[error("inconsistent dataset: {0}")]
    Inconsistent(String),
}

/// The group whose members are Confluence administrators.
pub const ADMINISTRATORS_GROUP: &str = "confluence-administrators";
/// The default group of licensed users.
pub const USERS_GROUP: &str = "confluence-users";

impl Dataset {
    /// Reads a dataset in the fixture format and checks it is consistent.
    pub fn from_json_file(path: &Path) -> Result<Dataset, DatasetError> {
        let text = std::fs::read_to_string(path).map_err(|source| DatasetError::Read {
            path: path.to_owned(),
            source,
        })?;
        let dataset: Dataset =
            serde_json::from_str(&text).map_err(|source| DatasetError::Parse {
                path: path.to_owned(),
                source,
            })?;
        dataset.validate()?;
        Ok(dataset)
    }

    /// Checks what the simulator relies on: unique keys and names (names and
    /// space keys case-insensitively, as Confluence compares them), members
    /// and permission holders that exist, known permission keys.
    pub fn validate(&self) -> Result<(), DatasetError> {
        let fail = |message: String| Err(DatasetError::Inconsistent(message));
        let mut user_keys = HashSet::new();
        let mut usernames = HashSet::new();
        for user in &self.users {
            if user.user_key.is_empty() || user.username.is_empty() {
                return fail(format!(
                    "user {:?} has an empty key or username",
                    user.username
                ));
            }
            if !user_keys.insert(user.user_key.as_str()) {
                return fail(format!("user key {} appears twice", user.user_key));
            }
            if !usernames.insert(user.username.to_lowercase()) {
                return fail(format!("username {} appears twice", user.username));
            }
        }
        let mut unknown_keys = HashSet::new();
        for unknown in &self.unknown_users {
            if user_keys.contains(unknown.user_key.as_str())
                || !unknown_keys.insert(unknown.user_key.as_str())
            {
                return fail(format!(
                    "unknown user key {} is not unique",
                    unknown.user_key
                ));
            }
        }
        let mut group_names = HashSet::new();
        for group in &self.groups {
            if group.name.is_empty() || !group_names.insert(group.name.to_lowercase()) {
                return fail(format!(
                    "group name {:?} is empty or appears twice",
                    group.name
                ));
            }
            let mut members = HashSet::new();
            for member in &group.members {
                if !user_keys.contains(member.as_str()) {
                    return fail(format!("group {} has unknown member {member}", group.name));
                }
                if !members.insert(member.as_str()) {
                    return fail(format!("group {} lists member {member} twice", group.name));
                }
            }
        }
        let mut space_keys = HashSet::new();
        let mut space_ids = HashSet::new();
        for space in &self.spaces {
            if space.key.is_empty() || !space_keys.insert(space.key.to_lowercase()) {
                return fail(format!(
                    "space key {:?} is empty or appears twice",
                    space.key
                ));
            }
            if !space_ids.insert(space.id) {
                return fail(format!("space id {} appears twice", space.id));
            }
            if !matches!(space.r#type.as_str(), "global" | "personal") {
                return fail(format!("space {} has type {:?}", space.key, space.r#type));
            }
            if !matches!(space.status.as_str(), "current" | "archived") {
                return fail(format!("space {} has status {:?}", space.key, space.status));
            }
        }
        for permission in &self.permissions {
            let at = format!(
                "permission {} on {}",
                permission.r#type, permission.space_key
            );
            if !space_keys.contains(&permission.space_key.to_lowercase()) {
                return fail(format!("{at}: no such space"));
            }
            if SpacePermission::from_legacy_key(&permission.r#type).is_none() {
                return fail(format!("{at}: not a space permission key"));
            }
            match (&permission.user_key, &permission.group_name) {
                (Some(_), Some(_)) => return fail(format!("{at}: both a user and a group")),
                (Some(key), None)
                    if !user_keys.contains(key.as_str())
                        && !unknown_keys.contains(key.as_str()) =>
                {
                    return fail(format!(
                        "{at}: user key {key} is neither a user nor an unknown user"
                    ));
                }
                (None, Some(name)) if !group_names.contains(&name.to_lowercase()) => {
                    return fail(format!("{at}: no group {name}"));
                }
                _ => {}
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(key: &str, name: &str) -> SimUser {
        SimUser {
            user_key: key.into(),
            username: name.into(),
            display_name: name.into(),
            email: format!("{name}@example.com"),
            active: true,
            password: None,
        }
    }

    #[test]
    fn usernames_are_unique_ignoring_case() {
        let dataset = Dataset {
            users: vec![user("k1", "jdoe"), user("k2", "JDoe")],
            ..Dataset::default()
        };
        assert!(matches!(
            dataset.validate(),
            Err(DatasetError::Inconsistent(_))
        ));
    }

    #[test]
    fn permission_holders_must_exist() {
        let dataset = Dataset {
            users: vec![user("k1", "jdoe")],
            spaces: vec![SimSpace {
                id: 1,
                key: "TEST".into(),
                name: "Test".into(),
                r#type: "global".into(),
                status: "current".into(),
                description: String::new(),
            }],
            permissions: vec![SimPermission {
                space_key: "TEST".into(),
                r#type: "VIEWSPACE".into(),
                user_key: Some("missing".into()),
                group_name: None,
            }],
            ..Dataset::default()
        };
        assert!(dataset.validate().is_err());
    }

    #[test]
    fn passwords_are_left_out_of_json_when_absent() {
        let json = serde_json::to_value(user("k1", "jdoe")).expect("serialisable");
        assert!(json.get("password").is_none());
        assert_eq!(json["userKey"], "k1");
    }
}
