//! Who receives or loses a grant: a Baton principal resource, `user:<userKey>`
//! or `group:<name>`. A revoke's grant may carry only its id
//! (`<entitlement id>:<type>:<id>`), which is enough to find the principal.

use baton::model::{Principal, ResourceKind};
use baton::pb::c1::connector::v2::{Grant, Resource};

/// Why a principal cannot be used.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub(super) enum PrincipalError {
    #[error("the principal is malformed: {0}")]
    Malformed(String),
    #[error(
        "a `{0}` cannot hold Confluence grants; principals are `user` (by user key) or `group` (by name)"
    )]
    WrongType(String),
}

/// The principal of a grant task.
pub(super) fn parse(principal: Option<&Resource>) -> Result<Principal, PrincipalError> {
    let id = principal
        .and_then(|resource| resource.id.as_ref())
        .filter(|id| !id.resource_type.is_empty() && !id.resource.is_empty())
        .ok_or_else(|| PrincipalError::Malformed("it has no resource type or id".into()))?;
    from_parts(&id.resource_type, &id.resource)
}

/// The principal of a revoke task's grant: its resource, else its grant id
/// after the entitlement id.
pub(super) fn of_grant(grant: &Grant, entitlement_id: &str) -> Result<Principal, PrincipalError> {
    if grant
        .principal
        .as_ref()
        .and_then(|resource| resource.id.as_ref())
        .is_some()
    {
        return parse(grant.principal.as_ref());
    }
    let (type_id, id) = grant
        .id
        .strip_prefix(entitlement_id)
        .and_then(|rest| rest.strip_prefix(':'))
        .and_then(|rest| rest.split_once(':'))
        .filter(|(type_id, id)| !type_id.is_empty() && !id.is_empty())
        .ok_or_else(|| {
            PrincipalError::Malformed(format!(
                "grant `{}` has no principal and its id is not <entitlement id>:<type>:<id>",
                grant.id
            ))
        })?;
    from_parts(type_id, id)
}

fn from_parts(type_id: &str, id: &str) -> Result<Principal, PrincipalError> {
    match ResourceKind::parse(type_id) {
        Some(ResourceKind::User) => Ok(Principal::User {
            user_key: id.to_owned(),
        }),
        Some(ResourceKind::Group) => Ok(Principal::Group {
            name: id.to_owned(),
        }),
        Some(ResourceKind::Space) | None => Err(PrincipalError::WrongType(type_id.to_owned())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use baton::model::{group_membership_grant, resource_id};

    fn resource(kind: ResourceKind, id: &str) -> Resource {
        Resource {
            id: Some(resource_id(kind, id)),
            ..Default::default()
        }
    }

    #[test]
    fn users_come_by_key_and_groups_by_name() {
        assert_eq!(
            parse(Some(&resource(ResourceKind::User, "4028a1"))),
            Ok(Principal::User {
                user_key: "4028a1".into()
            })
        );
        assert_eq!(
            parse(Some(&resource(ResourceKind::Group, "a/b:c"))),
            Ok(Principal::Group {
                name: "a/b:c".into()
            })
        );
    }

    #[test]
    fn spaces_unknown_types_and_empty_ids_are_refused() {
        assert_eq!(
            parse(Some(&resource(ResourceKind::Space, "DS"))),
            Err(PrincipalError::WrongType("space".into()))
        );
        let robot = Resource {
            id: Some(baton::pb::c1::connector::v2::ResourceId {
                resource_type: "robot".into(),
                resource: "r2".into(),
                baton_resource: false,
            }),
            ..Default::default()
        };
        assert_eq!(
            parse(Some(&robot)),
            Err(PrincipalError::WrongType("robot".into()))
        );
        assert!(matches!(parse(None), Err(PrincipalError::Malformed(_))));
        assert!(matches!(
            parse(Some(&resource(ResourceKind::User, ""))),
            Err(PrincipalError::Malformed(_))
        ));
    }

    #[test]
    fn a_grant_without_its_principal_falls_back_to_the_grant_id() {
        let mut grant = group_membership_grant("team:eng", "4028a1");
        grant.principal = None;
        assert_eq!(
            of_grant(&grant, "group:team:eng:member"),
            Ok(Principal::User {
                user_key: "4028a1".into()
            })
        );
        grant.id = "something else".into();
        assert!(matches!(
            of_grant(&grant, "group:team:eng:member"),
            Err(PrincipalError::Malformed(_))
        ));
    }
}
