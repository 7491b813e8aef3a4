//! The Baton data model of a Confluence tenant: resource types, ids,
//! entitlement slugs and the space-permission table. This is a compatibility
//! contract (ConductorOne configuration is keyed on these ids), and the only
//! place any of it is spelled out; everything else calls in here.

use std::collections::BTreeMap;

use prost::Name;
use prost_types::{Any, Struct, Value, value::Kind};

use super::pb::c1::connector::v2::{
    Entitlement, ExternalLink, Grant, GrantExpandable, GroupTrait, Resource, ResourceId,
    ResourceType, SkipEntitlementsAndGrants, UserTrait, entitlement::PurposeValue,
    resource_type::Trait, user_trait,
};

/// The three resource types a Confluence tenant has.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ResourceKind {
    User,
    Group,
    Space,
}

impl ResourceKind {
    pub const ALL: [ResourceKind; 3] = [Self::User, Self::Group, Self::Space];

    pub const fn as_str(self) -> &'static str {
        match self {
            Self::User => "user",
            Self::Group => "group",
            Self::Space => "space",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|kind| kind.as_str() == text)
    }

    pub fn display_name(self) -> &'static str {
        match self {
            Self::User => "User",
            Self::Group => "Group",
            Self::Space => "Space",
        }
    }
}

/// The slug of the one group entitlement.
pub const MEMBER_SLUG: &str = "member";

/// The 14 space permissions, each with its Baton slug, its legacy key
/// (JSON-RPC and the database) and its REST `targetType`/`operationKey` pair.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum SpacePermission {
    View,
    EditSpace,
    ExportSpace,
    SetSpacePermissions,
    SetPagePermissions,
    RemovePage,
    EditBlog,
    RemoveBlog,
    AddComment,
    RemoveComment,
    AddAttachment,
    RemoveAttachment,
    RemoveMail,
    RemoveOwnContent,
}

struct PermissionRow {
    permission: SpacePermission,
    slug: &'static str,
    legacy_key: &'static str,
    target_type: &'static str,
    operation_key: &'static str,
    /// Completes "Can ... <space name>".
    phrase: &'static str,
}

const fn row(
    permission: SpacePermission,
    slug: &'static str,
    legacy_key: &'static str,
    (target_type, operation_key): (&'static str, &'static str),
    phrase: &'static str,
) -> PermissionRow {
    PermissionRow {
        permission,
        slug,
        legacy_key,
        target_type,
        operation_key,
        phrase,
    }
}

/// The slug ↔ legacy key ↔ REST operation table (docs/data-model.md, Entitlements).
const PERMISSIONS: [PermissionRow; 14] = {
    use SpacePermission::*;
    [
        row(View, "view", "VIEWSPACE", ("space", "read"), "view"),
        row(
            EditSpace,
            "edit-space",
            "EDITSPACE",
            ("page", "create"),
            "add pages to",
        ),
        row(
            ExportSpace,
            "export-space",
            "EXPORTSPACE",
            ("space", "export"),
            "export",
        ),
        row(
            SetSpacePermissions,
            "set-space-permissions",
            "SETSPACEPERMISSIONS",
            ("space", "administer"),
            "administer",
        ),
        row(
            SetPagePermissions,
            "set-page-permissions",
            "SETPAGEPERMISSIONS",
            ("space", "restrict"),
            "restrict pages in",
        ),
        row(
            RemovePage,
            "remove-page",
            "REMOVEPAGE",
            ("page", "delete"),
            "delete pages in",
        ),
        row(
            EditBlog,
            "edit-blog",
            "EDITBLOG",
            ("blogpost", "create"),
            "add blog posts to",
        ),
        row(
            RemoveBlog,
            "remove-blog",
            "REMOVEBLOG",
            ("blogpost", "delete"),
            "delete blog posts in",
        ),
        row(
            AddComment,
            "add-comment",
            "COMMENT",
            ("comment", "create"),
            "comment in",
        ),
        row(
            RemoveComment,
            "remove-comment",
            "REMOVECOMMENT",
            ("comment", "delete"),
            "delete comments in",
        ),
        row(
            AddAttachment,
            "add-attachment",
            "CREATEATTACHMENT",
            ("attachment", "create"),
            "add attachments to",
        ),
        row(
            RemoveAttachment,
            "remove-attachment",
            "REMOVEATTACHMENT",
            ("attachment", "delete"),
            "delete attachments in",
        ),
        row(
            RemoveMail,
            "remove-mail",
            "REMOVEMAIL",
            ("space", "delete_mail"),
            "delete mail in",
        ),
        row(
            RemoveOwnContent,
            "remove-own-content",
            "REMOVEOWNCONTENT",
            ("space", "delete_own"),
            "delete their own content in",
        ),
    ]
};

impl SpacePermission {
    pub fn all() -> impl Iterator<Item = SpacePermission> {
        PERMISSIONS.iter().map(|row| row.permission)
    }

    fn row(self) -> &'static PermissionRow {
        // The table lists every variant exactly once (checked by a unit test).
        PERMISSIONS
            .iter()
            .find(|row| row.permission == self)
            .expect("every permission has a row")
    }

    pub fn slug(self) -> &'static str {
        self.row().slug
    }

    pub fn legacy_key(self) -> &'static str {
        self.row().legacy_key
    }

    /// `(targetType, operationKey)` of the REST space-permission API.
    pub fn rest_operation(self) -> (&'static str, &'static str) {
        let row = self.row();
        (row.target_type, row.operation_key)
    }

    pub fn from_slug(slug: &str) -> Option<Self> {
        PERMISSIONS
            .iter()
            .find(|row| row.slug == slug)
            .map(|row| row.permission)
    }

    /// Case-insensitive, as Confluence stores keys in upper case but some
    /// tools echo them lowered.
    pub fn from_legacy_key(key: &str) -> Option<Self> {
        PERMISSIONS
            .iter()
            .find(|row| row.legacy_key.eq_ignore_ascii_case(key))
            .map(|row| row.permission)
    }

    pub fn from_rest_operation(target_type: &str, operation_key: &str) -> Option<Self> {
        PERMISSIONS
            .iter()
            .find(|row| row.target_type == target_type && row.operation_key == operation_key)
            .map(|row| row.permission)
    }

    fn display_name(self, space_name: &str) -> String {
        format!("Can {} {space_name}", self.row().phrase)
    }
}

/// `<type>:<id>:<slug>`, joined without escaping, exactly as Baton does.
pub fn entitlement_id(kind: ResourceKind, resource_id: &str, slug: &str) -> String {
    format!("{}:{resource_id}:{slug}", kind.as_str())
}

/// `<entitlement id>:<principal type>:<principal id>`.
pub fn grant_id(entitlement_id: &str, principal: ResourceKind, principal_id: &str) -> String {
    grant_id_for_type(entitlement_id, principal.as_str(), principal_id)
}

/// [`grant_id`] for a principal type given by name, as grant expansion
/// meets them in a c1z (Baton names expanded grants the same way).
pub fn grant_id_for_type(entitlement_id: &str, principal_type: &str, principal_id: &str) -> String {
    format!("{entitlement_id}:{principal_type}:{principal_id}")
}

/// The slug of an entitlement: its `slug` field, or the last `:`-segment of
/// its id when ConductorOne sent only the id.
pub fn entitlement_slug(entitlement: &Entitlement) -> &str {
    if entitlement.slug.is_empty() {
        entitlement.id.rsplit(':').next().unwrap_or_default()
    } else {
        &entitlement.slug
    }
}

pub fn resource_id(kind: ResourceKind, id: &str) -> ResourceId {
    ResourceId {
        resource_type: kind.as_str().into(),
        resource: id.into(),
        baton_resource: false,
    }
}

/// Packs an annotation the way Go's `anypb.New` does.
pub fn annotation<M: Name>(message: &M) -> Any {
    // Encoding into a Vec cannot fail: it only errors on insufficient capacity.
    Any::from_msg(message).expect("encoding into a Vec never fails")
}

pub fn resource_type(kind: ResourceKind) -> ResourceType {
    let (traits, annotations) = match kind {
        // Users hold grants but offer none: Baton skips their entitlement walk.
        ResourceKind::User => (
            vec![Trait::User as i32],
            vec![annotation(&SkipEntitlementsAndGrants {})],
        ),
        ResourceKind::Group => (vec![Trait::Group as i32], Vec::new()),
        ResourceKind::Space => (Vec::new(), Vec::new()),
    };
    ResourceType {
        id: kind.as_str().into(),
        display_name: kind.display_name().into(),
        traits,
        annotations,
        ..Default::default()
    }
}

pub fn resource_types() -> Vec<ResourceType> {
    ResourceKind::ALL.into_iter().map(resource_type).collect()
}

/// What the sync knows about one Confluence user.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UserRecord {
    pub user_key: String,
    pub username: String,
    pub display_name: String,
    /// Absent when the instance hides email addresses.
    pub email: Option<String>,
    pub enabled: bool,
    /// The API's `type` (`known`, `unknown`, ...), kept in the profile.
    pub account_type: String,
}

fn string_value(text: &str) -> Value {
    Value {
        kind: Some(Kind::StringValue(text.into())),
    }
}

fn profile<'a>(fields: impl IntoIterator<Item = (&'a str, &'a str)>) -> Struct {
    Struct {
        fields: fields
            .into_iter()
            .map(|(key, value)| (key.to_owned(), string_value(value)))
            .collect::<BTreeMap<_, _>>(),
    }
}

pub fn user_resource(user: &UserRecord) -> Resource {
    let mut fields = vec![
        ("user_name", user.username.as_str()),
        ("account_type", user.account_type.as_str()),
        ("id", user.user_key.as_str()),
    ];
    if let Some(email) = &user.email {
        fields.push(("email", email.as_str()));
    }
    let status = if user.enabled {
        user_trait::status::Status::Enabled
    } else {
        user_trait::status::Status::Disabled
    };
    let trait_ = UserTrait {
        emails: user
            .email
            .iter()
            .map(|address| user_trait::Email {
                address: address.clone(),
                is_primary: true,
            })
            .collect(),
        status: Some(user_trait::Status {
            status: status as i32,
            details: String::new(),
        }),
        profile: Some(profile(fields)),
        account_type: user_trait::AccountType::Human as i32,
        login: user.username.clone(),
        ..Default::default()
    };
    Resource {
        id: Some(resource_id(ResourceKind::User, &user.user_key)),
        display_name: user.display_name.clone(),
        annotations: vec![annotation(&trait_)],
        ..Default::default()
    }
}

pub fn group_resource(name: &str) -> Resource {
    let trait_ = GroupTrait {
        icon: None,
        profile: Some(profile([("group_name", name), ("group_type", "group")])),
    };
    Resource {
        id: Some(resource_id(ResourceKind::Group, name)),
        display_name: name.into(),
        annotations: vec![annotation(&trait_)],
        ..Default::default()
    }
}

pub fn space_resource(key: &str, name: &str, description: &str) -> Resource {
    Resource {
        id: Some(resource_id(ResourceKind::Space, key)),
        display_name: name.into(),
        description: description.into(),
        ..Default::default()
    }
}

pub fn group_member_entitlement(group: &Resource) -> Entitlement {
    let name = &group.display_name;
    Entitlement {
        resource: Some(group.clone()),
        id: entitlement_id(ResourceKind::Group, resource_key(group), MEMBER_SLUG),
        display_name: format!("{name} group member"),
        description: format!("Member of the Confluence group {name}"),
        grantable_to: vec![resource_type(ResourceKind::User)],
        purpose: PurposeValue::Assignment as i32,
        slug: MEMBER_SLUG.into(),
        annotations: Vec::new(),
    }
}

pub fn space_entitlement(space: &Resource, permission: SpacePermission) -> Entitlement {
    Entitlement {
        resource: Some(space.clone()),
        id: entitlement_id(ResourceKind::Space, resource_key(space), permission.slug()),
        display_name: permission.display_name(&space.display_name),
        description: format!(
            "Confluence space permission {} on {}",
            permission.legacy_key(),
            space.display_name
        ),
        grantable_to: vec![
            resource_type(ResourceKind::User),
            resource_type(ResourceKind::Group),
        ],
        purpose: PurposeValue::Permission as i32,
        slug: permission.slug().into(),
        annotations: Vec::new(),
    }
}

pub fn space_entitlements(space: &Resource) -> Vec<Entitlement> {
    SpacePermission::all()
        .map(|permission| space_entitlement(space, permission))
        .collect()
}

/// A minimal entitlement as Baton's `NewGrant` embeds it: id and resource.
fn entitlement_ref(kind: ResourceKind, resource_id_: &str, slug: &str) -> Entitlement {
    Entitlement {
        resource: Some(Resource {
            id: Some(resource_id(kind, resource_id_)),
            ..Default::default()
        }),
        id: entitlement_id(kind, resource_id_, slug),
        ..Default::default()
    }
}

fn principal_ref(kind: ResourceKind, id: &str) -> Resource {
    Resource {
        id: Some(resource_id(kind, id)),
        ..Default::default()
    }
}

/// `group:<name>:member` held by a user.
pub fn group_membership_grant(group_name: &str, user_key: &str) -> Grant {
    let entitlement = entitlement_ref(ResourceKind::Group, group_name, MEMBER_SLUG);
    Grant {
        id: grant_id(&entitlement.id, ResourceKind::User, user_key),
        entitlement: Some(entitlement),
        principal: Some(principal_ref(ResourceKind::User, user_key)),
        annotations: Vec::new(),
        sources: None,
    }
}

/// Who holds a space permission.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Principal {
    User { user_key: String },
    Group { name: String },
}

/// `space:<KEY>:<slug>` held by a user or a group. A group-held grant carries
/// `GrantExpandable{group:<name>:member}` so ConductorOne can expand it to the
/// group's members.
pub fn space_grant(space_key: &str, permission: SpacePermission, principal: &Principal) -> Grant {
    let entitlement = entitlement_ref(ResourceKind::Space, space_key, permission.slug());
    let (kind, id, annotations) = match principal {
        Principal::User { user_key } => (ResourceKind::User, user_key.as_str(), Vec::new()),
        Principal::Group { name } => {
            let expandable = GrantExpandable {
                entitlement_ids: vec![entitlement_id(ResourceKind::Group, name, MEMBER_SLUG)],
                shallow: false,
                resource_type_ids: Vec::new(),
            };
            (
                ResourceKind::Group,
                name.as_str(),
                vec![annotation(&expandable)],
            )
        }
    };
    Grant {
        id: grant_id(&entitlement.id, kind, id),
        entitlement: Some(entitlement),
        principal: Some(principal_ref(kind, id)),
        annotations,
        sources: None,
    }
}

/// The ExternalLink annotation pointing ConductorOne at the Confluence instance.
pub fn external_link(url: &str) -> Any {
    annotation(&ExternalLink { url: url.into() })
}

fn resource_key(resource: &Resource) -> &str {
    resource
        .id
        .as_ref()
        .map(|id| id.resource.as_str())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests;
