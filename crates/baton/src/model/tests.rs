use std::collections::HashSet;

use super::*;

#[test]
fn permission_table_is_a_bijection() {
    let all: Vec<_> = SpacePermission::all().collect();
    assert_eq!(all.len(), 14);
    let slugs: HashSet<_> = all.iter().map(|p| p.slug()).collect();
    let keys: HashSet<_> = all.iter().map(|p| p.legacy_key()).collect();
    let ops: HashSet<_> = all.iter().map(|p| p.rest_operation()).collect();
    assert_eq!((slugs.len(), keys.len(), ops.len()), (14, 14, 14));
    for permission in all {
        assert_eq!(
            SpacePermission::from_slug(permission.slug()),
            Some(permission)
        );
        assert_eq!(
            SpacePermission::from_legacy_key(permission.legacy_key()),
            Some(permission)
        );
        let (target, op) = permission.rest_operation();
        assert_eq!(
            SpacePermission::from_rest_operation(target, op),
            Some(permission)
        );
    }
    assert_eq!(
        SpacePermission::from_legacy_key("comment"),
        Some(SpacePermission::AddComment)
    );
    assert_eq!(SpacePermission::from_legacy_key("EXPORTPAGE"), None);
}

#[test]
fn ids_are_plain_colon_joins() {
    let grant = space_grant(
        "~jdoe",
        SpacePermission::RemovePage,
        &Principal::Group {
            name: "a/b c".into(),
        },
    );
    assert_eq!(grant.id, "space:~jdoe:remove-page:group:a/b c");
    let expandable: GrantExpandable = grant.annotations[0].to_msg().unwrap();
    assert_eq!(expandable.entitlement_ids, ["group:a/b c:member"]);
    assert_eq!(
        grant.annotations[0].type_url,
        "type.googleapis.com/c1.connector.v2.GrantExpandable"
    );
    let member = group_membership_grant("devs", "0a52e6b4f2a7");
    assert_eq!(member.id, "group:devs:member:user:0a52e6b4f2a7");
}

#[test]
fn slug_falls_back_to_the_id() {
    let bare = Entitlement {
        id: "space:TEST:remove-page".into(),
        ..Default::default()
    };
    assert_eq!(entitlement_slug(&bare), "remove-page");
}

#[test]
fn space_entitlements_are_grantable_to_users_and_groups() {
    let space = space_resource("ds", "Demonstration Space", "");
    let entitlements = space_entitlements(&space);
    assert_eq!(entitlements.len(), 14);
    let grantable: Vec<_> = entitlements[0]
        .grantable_to
        .iter()
        .map(|rt| rt.id.as_str())
        .collect();
    assert_eq!(grantable, ["user", "group"]);
    assert_eq!(entitlements[0].id, "space:ds:view");
}
