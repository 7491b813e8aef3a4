//! What a grant or revoke is about, read from the Baton entitlement
//! ConductorOne sends: `group:<name>:member` or `space:<KEY>:<slug>`. The
//! resource comes from `entitlement.resource.id`, or from the id when
//! ConductorOne sent only that; the slug from `slug`, or the id's last segment.

use baton::model::{MEMBER_SLUG, ResourceKind, SpacePermission, entitlement_id, entitlement_slug};
use baton::pb::c1::connector::v2::Entitlement;

/// A grantable thing on this tenant.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum Target {
    GroupMembership {
        group: String,
    },
    SpacePermission {
        space_key: String,
        permission: SpacePermission,
    },
}

/// Why an entitlement cannot be acted on.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub(super) enum TargetError {
    /// Baton answers a resource type without provisioning with Unimplemented.
    #[error(
        "resource type `{0}` has no grantable entitlements on a Confluence tenant (only `group` and `space` do)"
    )]
    UnsupportedType(String),
    #[error("the entitlement is malformed: {0}")]
    Malformed(String),
    #[error("unknown entitlement slug `{slug}` on a {kind}; expected {expected}")]
    UnknownSlug {
        kind: &'static str,
        slug: String,
        expected: String,
    },
}

pub(super) fn parse(entitlement: Option<&Entitlement>) -> Result<Target, TargetError> {
    let entitlement = entitlement
        .ok_or_else(|| TargetError::Malformed("the task carries no entitlement".into()))?;
    let (type_id, resource) = resource_of(entitlement)?;
    let slug = entitlement_slug(entitlement);
    let kind = match ResourceKind::parse(type_id) {
        Some(kind @ (ResourceKind::Group | ResourceKind::Space)) => kind,
        Some(ResourceKind::User) | None => {
            return Err(TargetError::UnsupportedType(type_id.to_owned()));
        }
    };
    if slug.is_empty() {
        return Err(TargetError::Malformed(format!(
            "entitlement `{}` has neither a slug nor an id ending in one",
            entitlement.id
        )));
    }
    if !entitlement.id.is_empty() && entitlement.id != entitlement_id(kind, resource, slug) {
        return Err(TargetError::Malformed(format!(
            "entitlement id `{}` does not match its resource {type_id}:{resource} and slug `{slug}`",
            entitlement.id
        )));
    }
    match kind {
        ResourceKind::Group if slug == MEMBER_SLUG => Ok(Target::GroupMembership {
            group: resource.to_owned(),
        }),
        ResourceKind::Group => Err(TargetError::UnknownSlug {
            kind: "group",
            slug: slug.to_owned(),
            expected: format!("`{MEMBER_SLUG}`"),
        }),
        _ => SpacePermission::from_slug(slug)
            .map(|permission| Target::SpacePermission {
                space_key: resource.to_owned(),
                permission,
            })
            .ok_or_else(|| TargetError::UnknownSlug {
                kind: "space",
                slug: slug.to_owned(),
                expected: SpacePermission::all()
                    .map(|permission| format!("`{}`", permission.slug()))
                    .collect::<Vec<_>>()
                    .join(", "),
            }),
    }
}

/// `(resource type, resource id)`: from the embedded resource, else from the
/// id `<type>:<resource>:<slug>` (resource ids may themselves contain `:`).
fn resource_of(entitlement: &Entitlement) -> Result<(&str, &str), TargetError> {
    let embedded = entitlement
        .resource
        .as_ref()
        .and_then(|resource| resource.id.as_ref())
        .filter(|id| !id.resource_type.is_empty() && !id.resource.is_empty());
    if let Some(id) = embedded {
        return Ok((&id.resource_type, &id.resource));
    }
    let malformed = || {
        TargetError::Malformed(format!(
            "entitlement `{}` names no resource and its id is not <type>:<resource>:<slug>",
            entitlement.id
        ))
    };
    let (type_id, rest) = entitlement.id.split_once(':').ok_or_else(malformed)?;
    let (resource, _slug) = rest.rsplit_once(':').ok_or_else(malformed)?;
    if type_id.is_empty() || resource.is_empty() {
        return Err(malformed());
    }
    Ok((type_id, resource))
}

#[cfg(test)]
mod tests {
    use super::*;
    use baton::model::{
        group_member_entitlement, group_resource, space_entitlement, space_resource,
    };

    fn bare(id: &str) -> Entitlement {
        Entitlement {
            id: id.into(),
            ..Default::default()
        }
    }

    #[test]
    fn full_entitlements_from_a_sync_parse() {
        let group = group_member_entitlement(&group_resource("eng/platform"));
        assert_eq!(
            parse(Some(&group)),
            Ok(Target::GroupMembership {
                group: "eng/platform".into()
            })
        );
        for permission in SpacePermission::all() {
            let entitlement = space_entitlement(&space_resource("~jdoe", "Jane", ""), permission);
            assert_eq!(
                parse(Some(&entitlement)),
                Ok(Target::SpacePermission {
                    space_key: "~jdoe".into(),
                    permission
                })
            );
        }
    }

    #[test]
    fn an_id_alone_is_enough_even_when_the_name_contains_colons() {
        assert_eq!(
            parse(Some(&bare("group:team:eng:member"))),
            Ok(Target::GroupMembership {
                group: "team:eng".into()
            })
        );
        assert_eq!(
            parse(Some(&bare("space:DS:remove-own-content"))),
            Ok(Target::SpacePermission {
                space_key: "DS".into(),
                permission: SpacePermission::RemoveOwnContent
            })
        );
    }

    #[test]
    fn a_resource_without_a_slug_takes_it_from_the_id() {
        let mut entitlement =
            space_entitlement(&space_resource("DS", "Demo", ""), SpacePermission::View);
        entitlement.slug.clear();
        assert_eq!(
            parse(Some(&entitlement)),
            Ok(Target::SpacePermission {
                space_key: "DS".into(),
                permission: SpacePermission::View
            })
        );
    }

    #[test]
    fn unknown_types_and_slugs_and_malformed_ids_are_refused() {
        assert_eq!(
            parse(Some(&bare("user:abc:member"))),
            Err(TargetError::UnsupportedType("user".into()))
        );
        assert_eq!(
            parse(Some(&bare("page:1:view"))),
            Err(TargetError::UnsupportedType("page".into()))
        );
        assert!(matches!(
            parse(Some(&bare("space:DS:fly"))),
            Err(TargetError::UnknownSlug { kind: "space", .. })
        ));
        assert!(matches!(
            parse(Some(&bare("group:devs:owner"))),
            Err(TargetError::UnknownSlug { kind: "group", .. })
        ));
        for malformed in ["", "space", "space:DS", ":DS:view", "space::view"] {
            assert!(
                matches!(
                    parse(Some(&bare(malformed))),
                    Err(TargetError::Malformed(_))
                ),
                "{malformed:?}"
            );
        }
        assert!(matches!(parse(None), Err(TargetError::Malformed(_))));
    }

    #[test]
    fn an_id_that_contradicts_its_resource_is_refused() {
        let mut entitlement =
            space_entitlement(&space_resource("DS", "Demo", ""), SpacePermission::View);
        entitlement.id = "space:OTHER:view".into();
        assert!(matches!(
            parse(Some(&entitlement)),
            Err(TargetError::Malformed(_))
        ));
    }
}
