//! The JSON shapes of users, groups, spaces and permissions as Confluence
//! writes them, borrowed from the state so a page serialises without copying
//! the dataset.

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use serde::Serialize;

use baton::model::SpacePermission;

use super::dataset::{SimSpace, SimUser, UnknownUser};
use super::options::UserStatusStyle;
use super::state::Holder;

/// Escapes everything but unreserved characters, `/` included.
const PATH_SEGMENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

pub(crate) fn encode_segment(text: &str) -> String {
    utf8_percent_encode(text, PATH_SEGMENT).to_string()
}

/// Instance-wide settings that shape every object.
pub(crate) struct Renderer {
    pub base_url: String,
    pub email_visible: bool,
    pub status_style: UserStatusStyle,
    pub space_has_status: bool,
}

#[derive(Serialize)]
pub(crate) struct ProfilePicture {
    path: &'static str,
    width: u32,
    height: u32,
    #[serde(rename = "isDefault")]
    is_default: bool,
}

const DEFAULT_PICTURE: ProfilePicture = ProfilePicture {
    path: "/images/icons/profilepics/default.svg",
    width: 48,
    height: 48,
    is_default: true,
};
const ANONYMOUS_PICTURE: ProfilePicture = ProfilePicture {
    path: "/images/icons/profilepics/anonymous.svg",
    width: 48,
    height: 48,
    is_default: true,
};

/// `_links`: list items carry `self`; a top-level object adds `base` and `context`.
#[derive(Serialize)]
pub(crate) struct Links {
    #[serde(rename = "self")]
    self_link: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    base: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    context: Option<&'static str>,
}

#[derive(Serialize)]
pub(crate) struct UserExpandable {
    #[serde(skip_serializing_if = "Option::is_none")]
    status: Option<&'static str>,
    #[serde(rename = "lastLogin", skip_serializing_if = "Option::is_none")]
    last_login: Option<&'static str>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct UserJson<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    username: Option<&'a str>,
    user_key: &'a str,
    profile_picture: ProfilePicture,
    display_name: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    email: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    status: Option<&'static str>,
    #[serde(rename = "_links")]
    links: Links,
    #[serde(rename = "_expandable")]
    expandable: UserExpandable,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct AnonymousJson {
    #[serde(rename = "type")]
    kind: &'static str,
    profile_picture: ProfilePicture,
    display_name: &'static str,
    #[serde(rename = "_links")]
    links: Links,
}

#[derive(Serialize)]
pub(crate) struct GroupJson<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    name: &'a str,
    #[serde(rename = "_links")]
    links: Links,
}

#[derive(Serialize)]
pub(crate) struct PlainText<'a> {
    value: &'a str,
    representation: &'static str,
}

#[derive(Serialize)]
pub(crate) struct Description<'a> {
    plain: PlainText<'a>,
}

#[derive(Serialize)]
pub(crate) struct SpaceLinks {
    webui: String,
    #[serde(rename = "self")]
    self_link: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    base: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    context: Option<&'static str>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct SpaceExpandable {
    metadata: &'static str,
    icon: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    description: Option<&'static str>,
    retention_policy: &'static str,
    homepage: &'static str,
}

#[derive(Serialize)]
pub(crate) struct SpaceJson<'a> {
    id: u64,
    key: &'a str,
    name: &'a str,
    #[serde(rename = "type")]
    kind: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    status: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    description: Option<Description<'a>>,
    #[serde(rename = "_links")]
    links: SpaceLinks,
    #[serde(rename = "_expandable")]
    expandable: SpaceExpandable,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Operation {
    target_type: &'static str,
    operation_key: &'static str,
}

impl Operation {
    pub fn of(permission: SpacePermission) -> Operation {
        let (target_type, operation_key) = permission.rest_operation();
        Operation {
            target_type,
            operation_key,
        }
    }
}

#[derive(Serialize)]
#[serde(tag = "type", rename_all = "camelCase")]
pub(crate) enum SubjectJson<'a> {
    User {
        #[serde(rename = "userKey")]
        user_key: &'a str,
    },
    Group {
        name: &'a str,
    },
    Anonymous,
}

impl<'a> SubjectJson<'a> {
    pub fn of(holder: &'a Holder) -> SubjectJson<'a> {
        match holder {
            Holder::User(key) => SubjectJson::User { user_key: key },
            Holder::Group(name) => SubjectJson::Group { name },
            Holder::Anonymous => SubjectJson::Anonymous,
        }
    }
}

/// One row of `GET /rest/api/space/{key}/permissions`.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct SpacePermissionJson<'a> {
    pub operation: Operation,
    pub subject: SubjectJson<'a>,
    pub space_key: &'a str,
    pub space_id: u64,
}

/// JSON-RPC `SpacePermissionSet`.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct PermissionSetJson<'a> {
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub space_permissions: Vec<RpcPermissionJson<'a>>,
}

/// JSON-RPC `SpacePermission`: usernames, not keys; all-null = anonymous.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct RpcPermissionJson<'a> {
    pub group_name: Option<&'a str>,
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub user_name: Option<&'a str>,
}

impl Renderer {
    fn user_link(&self, key: &str) -> String {
        format!("{}/rest/api/user?key={key}", self.base_url)
    }

    fn links(&self, self_link: String, top_level: bool) -> Links {
        Links {
            self_link,
            base: top_level.then(|| self.base_url.clone()),
            context: top_level.then_some(""),
        }
    }

    fn status(&self, user: &SimUser) -> &'static str {
        match (self.status_style, user.active) {
            (UserStatusStyle::Enum, true) => "CURRENT",
            (UserStatusStyle::Enum, false) => "DEACTIVATED",
            (UserStatusStyle::Words, true) => "Active",
            (UserStatusStyle::Words, false) => "Deactivated",
        }
    }

    /// A `known` user; `email` follows the visibility setting.
    pub fn user<'a>(
        &self,
        user: &'a SimUser,
        expand_status: bool,
        top_level: bool,
    ) -> UserJson<'a> {
        self.user_with_email(user, expand_status, top_level, self.email_visible)
    }

    pub fn user_with_email<'a>(
        &self,
        user: &'a SimUser,
        expand_status: bool,
        top_level: bool,
        show_email: bool,
    ) -> UserJson<'a> {
        UserJson {
            kind: "known",
            username: Some(&user.username),
            user_key: &user.user_key,
            profile_picture: DEFAULT_PICTURE,
            display_name: &user.display_name,
            email: show_email.then_some(user.email.as_str()),
            status: expand_status.then(|| self.status(user)),
            links: self.links(self.user_link(&user.user_key), top_level),
            expandable: UserExpandable {
                status: (!expand_status).then_some(""),
                last_login: None,
            },
        }
    }

    /// A deleted user's key: `type: "unknown"`, no username.
    pub fn unknown_user<'a>(&self, unknown: &'a UnknownUser, top_level: bool) -> UserJson<'a> {
        UserJson {
            kind: "unknown",
            username: None,
            user_key: &unknown.user_key,
            profile_picture: DEFAULT_PICTURE,
            display_name: &unknown.username,
            email: None,
            status: None,
            links: self.links(self.user_link(&unknown.user_key), top_level),
            expandable: UserExpandable {
                status: None,
                last_login: None,
            },
        }
    }

    pub fn anonymous(&self) -> AnonymousJson {
        AnonymousJson {
            kind: "anonymous",
            profile_picture: ANONYMOUS_PICTURE,
            display_name: "Anonymous",
            links: self.links(format!("{}/rest/api/user/anonymous", self.base_url), true),
        }
    }

    /// An item of `/rest/api/admin/users/list/active`: always with email.
    pub fn active_user<'a>(&self, user: &'a SimUser) -> UserJson<'a> {
        let mut json = self.user_with_email(user, false, false, true);
        json.expandable = UserExpandable {
            status: Some(""),
            last_login: Some(""),
        };
        json
    }

    pub fn group<'a>(&self, name: &'a str, top_level: bool) -> GroupJson<'a> {
        GroupJson {
            kind: "group",
            name,
            links: self.links(
                format!("{}/rest/api/group/{}", self.base_url, encode_segment(name)),
                top_level,
            ),
        }
    }

    pub fn space<'a>(
        &self,
        space: &'a SimSpace,
        expand_description: bool,
        top_level: bool,
    ) -> SpaceJson<'a> {
        let encoded = encode_segment(&space.key);
        SpaceJson {
            id: space.id,
            key: &space.key,
            name: &space.name,
            kind: &space.r#type,
            status: self.space_has_status.then_some(space.status.as_str()),
            description: expand_description.then_some(Description {
                plain: PlainText {
                    value: &space.description,
                    representation: "plain",
                },
            }),
            links: SpaceLinks {
                webui: format!("/display/{encoded}"),
                self_link: format!("{}/rest/api/space/{encoded}", self.base_url),
                base: top_level.then(|| self.base_url.clone()),
                context: top_level.then_some(""),
            },
            expandable: SpaceExpandable {
                metadata: "",
                icon: "",
                description: (!expand_description).then_some(""),
                retention_policy: "",
                homepage: "",
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn renderer() -> Renderer {
        Renderer {
            base_url: "http://127.0.0.1:1".into(),
            email_visible: false,
            status_style: UserStatusStyle::Enum,
            space_has_status: true,
        }
    }

    #[test]
    fn subjects_serialise_as_the_rest_api_writes_them() {
        let user = Holder::User("k1".into());
        assert_eq!(
            serde_json::to_value(SubjectJson::of(&user)).expect("json"),
            serde_json::json!({"type": "user", "userKey": "k1"})
        );
        assert_eq!(
            serde_json::to_value(SubjectJson::of(&Holder::Anonymous)).expect("json"),
            serde_json::json!({"type": "anonymous"})
        );
    }

    #[test]
    fn hidden_emails_are_absent_and_status_moves_out_of_expandable() {
        let user = SimUser {
            user_key: "k1".into(),
            username: "jdoe".into(),
            display_name: "J Doe".into(),
            email: "jdoe@example.com".into(),
            active: false,
            password: None,
        };
        let json = serde_json::to_value(renderer().user(&user, true, false)).expect("json");
        assert!(json.get("email").is_none());
        assert_eq!(json["status"], "DEACTIVATED");
        assert!(json["_expandable"].get("status").is_none());
        assert!(json["_links"].get("base").is_none());
    }

    #[test]
    fn group_links_escape_slashes() {
        let json = serde_json::to_value(renderer().group("team/a b", false)).expect("json");
        assert_eq!(
            json["_links"]["self"],
            "http://127.0.0.1:1/rest/api/group/team%2Fa%20b"
        );
    }
}
