//! The log of mutating calls the simulator received, typed so tests can
//! assert exactly what the hub changed, through which API, and with what result.

use serde::{Deserialize, Serialize};

/// One mutating call, in the order the simulator applied it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Mutation {
    /// Position in the log, from 0.
    pub sequence: u64,
    pub api: Api,
    /// REST: `"<METHOD> <route template>"`, e.g. `PUT /rest/api/user/{username}/group/{groupName}`;
    /// JSON-RPC: the method name, e.g. `addPermissionsToSpace`.
    pub route: String,
    /// Username of the caller; `None` when anonymous.
    pub caller: Option<String>,
    pub action: MutationAction,
    /// HTTP status of the response (JSON-RPC errors usually arrive with 200).
    pub status: u16,
    /// The error message returned, if the call failed.
    pub error: Option<String>,
    /// Whether the call changed the simulator's state (idempotent repeats do not).
    pub changed: bool,
}

impl Mutation {
    /// True when the call succeeded, whether or not it changed anything.
    pub fn succeeded(&self) -> bool {
        self.error.is_none()
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Api {
    Rest,
    JsonRpc,
}

/// What a mutating call asked for, as far as the request could be understood.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(
    tag = "kind",
    rename_all = "camelCase",
    rename_all_fields = "camelCase"
)]
pub enum MutationAction {
    AddGroupMember {
        username: String,
        group: String,
    },
    RemoveGroupMember {
        username: String,
        group: String,
    },
    /// Permissions as legacy keys (`VIEWSPACE`); an unmappable REST pair is kept
    /// as `targetType/operationKey`.
    GrantSpacePermissions {
        space_key: String,
        subject: Subject,
        permissions: Vec<String>,
    },
    RevokeSpacePermissions {
        space_key: String,
        subject: Subject,
        permissions: Vec<String>,
    },
    /// `POST /rest/api/space/{key}/permissions`: each listed subject's permissions replaced.
    ReplaceSpacePermissions {
        space_key: String,
        subjects: Vec<SubjectPermissions>,
    },
    /// JSON-RPC `removeAllPermissionsForGroup`.
    RemoveAllGroupPermissions {
        group: String,
    },
    CreateUser {
        username: String,
        full_name: String,
        email: String,
        notify_via_email: bool,
        user_key: Option<String>,
    },
    UpdateUser {
        username: String,
        full_name: Option<String>,
        email: Option<String>,
    },
    ChangePassword {
        username: String,
    },
    DisableUser {
        username: String,
    },
    EnableUser {
        username: String,
    },
    DeleteUser {
        username: String,
    },
    CreateGroup {
        name: String,
    },
    DeleteGroup {
        name: String,
    },
}

/// Who a space permission is for. User subjects carry both identifiers when
/// the simulator could resolve them (REST sends keys, JSON-RPC usernames).
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(
    tag = "type",
    rename_all = "camelCase",
    rename_all_fields = "camelCase"
)]
pub enum Subject {
    User {
        user_key: Option<String>,
        username: Option<String>,
    },
    Group {
        name: String,
    },
    Anonymous,
    /// A JSON-RPC `remoteEntityName` that named neither a user nor a group.
    Unresolved {
        name: String,
    },
}

impl Subject {
    /// A resolved user subject.
    pub fn user(user_key: &str, username: &str) -> Subject {
        Subject::User {
            user_key: Some(user_key.to_owned()),
            username: Some(username.to_owned()),
        }
    }

    pub fn group(name: &str) -> Subject {
        Subject::Group {
            name: name.to_owned(),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SubjectPermissions {
    pub subject: Subject,
    pub permissions: Vec<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mutations_serialise_with_tagged_actions() {
        let mutation = Mutation {
            sequence: 0,
            api: Api::JsonRpc,
            route: "addPermissionsToSpace".into(),
            caller: Some("admin".into()),
            action: MutationAction::GrantSpacePermissions {
                space_key: "TEST".into(),
                subject: Subject::user("k1", "jdoe"),
                permissions: vec!["VIEWSPACE".into()],
            },
            status: 200,
            error: None,
            changed: true,
        };
        let json = serde_json::to_value(&mutation).expect("serialisable");
        assert_eq!(json["api"], "jsonRpc");
        assert_eq!(json["action"]["kind"], "grantSpacePermissions");
        assert_eq!(json["action"]["subject"]["type"], "user");
        assert_eq!(json["action"]["subject"]["userKey"], "k1");
        let back: Mutation = serde_json::from_value(json).expect("round trip");
        assert_eq!(back, mutation);
    }
}
