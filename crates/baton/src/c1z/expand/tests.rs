use std::collections::BTreeMap;
use std::path::PathBuf;

use super::*;
use crate::c1z::known_ids::KnownIds;
use crate::c1z::upsert::upsert;
use crate::c1z::{C1zError, C1zReader, C1zWriter, FinishedC1z, StoredGrant, WriterOptions};
use crate::model::{Principal, ResourceKind, SpacePermission};

/// A directory of its own under the system temp dir, removed on drop.
struct Scratch(PathBuf);

impl Scratch {
    fn new() -> Self {
        let path = std::env::temp_dir().join(format!("expand-{}", crate::c1z::new_sync_id()));
        std::fs::create_dir(&path).unwrap();
        Self(path)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn group(name: &str) -> Resource {
    model::group_resource(name)
}

/// `group:<member_of>:member` held by the group `holder`, flowing to the
/// holder's members (what nested groups would look like).
fn group_in_group(member_of: &str, holder: &str) -> Grant {
    let entitlement_id = model::entitlement_id(ResourceKind::Group, member_of, "member");
    Grant {
        id: model::grant_id(&entitlement_id, ResourceKind::Group, holder),
        entitlement: Some(model::group_member_entitlement(&group(member_of))),
        principal: Some(group(holder)),
        annotations: vec![annotation(&GrantExpandable {
            entitlement_ids: vec![model::entitlement_id(ResourceKind::Group, holder, "member")],
            shallow: false,
            resource_type_ids: Vec::new(),
        })],
        sources: None,
    }
}

fn by_group(name: &str) -> Principal {
    Principal::Group { name: name.into() }
}

fn by_user(key: &str) -> Principal {
    Principal::User {
        user_key: key.into(),
    }
}

/// Writes groups `a`, `b`, `c`, space `S` and `grants`, expanding.
fn expand_into(
    scratch: &Scratch,
    grants: &[Grant],
) -> Result<(FinishedC1z, BTreeMap<String, StoredGrant>), C1zError> {
    let path = scratch.0.join("expanded.c1z");
    let options = WriterOptions {
        expand_grants: true,
        ..WriterOptions::default()
    };
    let mut writer = C1zWriter::create(&path, options)?;
    let groups: Vec<Resource> = ["a", "b", "c"].into_iter().map(group).collect();
    let space = model::space_resource("S", "Space", "");
    let mut entitlements: Vec<Entitlement> =
        groups.iter().map(model::group_member_entitlement).collect();
    entitlements.extend(model::space_entitlements(&space));
    writer.put_resources(&groups)?;
    writer.put_resources(&[space])?;
    writer.put_entitlements(&entitlements)?;
    writer.put_grants(grants)?;
    let finished = writer.finish()?;
    let stored = C1zReader::open(&path)?
        .grants()?
        .into_iter()
        .map(|stored| (stored.grant.id.clone(), stored))
        .collect();
    Ok((finished, stored))
}

fn sources(stored: &StoredGrant) -> Vec<(&str, bool)> {
    stored
        .grant
        .sources
        .as_ref()
        .map_or_else(Vec::new, |sources| {
            sources
                .sources
                .iter()
                .map(|(id, source)| (id.as_str(), source.is_direct))
                .collect()
        })
}

fn is_immutable(stored: &StoredGrant) -> bool {
    stored
        .grant
        .annotations
        .iter()
        .any(|any| any.type_url == <GrantImmutable as prost::Name>::type_url())
}

#[test]
fn members_get_the_groups_grant_and_a_direct_holder_gains_the_source() {
    let scratch = Scratch::new();
    let grants = [
        model::group_membership_grant("a", "u1"),
        model::group_membership_grant("a", "u2"),
        model::space_grant("S", SpacePermission::View, &by_user("u1")),
        model::space_grant("S", SpacePermission::View, &by_group("a")),
    ];
    let (finished, stored) = expand_into(&scratch, &grants).unwrap();
    assert_eq!(
        finished.expansion,
        ExpansionCounts {
            edges: 1,
            created: 1,
            updated: 1,
            unknown_sources: 0
        }
    );
    assert_eq!(finished.counts.grants, 5);
    let created = &stored["space:S:view:user:u2"];
    assert_eq!(sources(created), [("group:a:member", false)]);
    assert!(is_immutable(created));
    assert_eq!(
        (created.expansion.as_ref(), created.needs_expansion),
        (None, false)
    );
    let direct = &stored["space:S:view:user:u1"];
    assert_eq!(
        sources(direct),
        [("group:a:member", false), ("space:S:view", true)]
    );
    assert!(!is_immutable(direct));
    let group_held = &stored["space:S:view:group:a"];
    assert_eq!(sources(group_held), []);
    assert!(group_held.needs_expansion);
}

#[test]
fn nested_groups_expand_level_by_level() {
    let scratch = Scratch::new();
    // u is in b; b's members are members of a; a holds view on S. The
    // edge from a sorts first, so only leveling gives u the view.
    let grants = [
        model::group_membership_grant("b", "u"),
        group_in_group("a", "b"),
        model::space_grant("S", SpacePermission::View, &by_group("a")),
    ];
    let (finished, stored) = expand_into(&scratch, &grants).unwrap();
    // b itself holds a's membership, so it gets the view too.
    assert_eq!(
        (finished.expansion.edges, finished.expansion.created),
        (2, 3)
    );
    assert_eq!(
        sources(&stored["space:S:view:group:b"]),
        [("group:a:member", false)]
    );
    assert_eq!(
        sources(&stored["group:a:member:user:u"]),
        [("group:b:member", false)]
    );
    assert_eq!(
        sources(&stored["space:S:view:user:u"]),
        [("group:a:member", false)]
    );
}

#[test]
fn a_shallow_edge_passes_on_only_direct_holders() {
    let scratch = Scratch::new();
    let mut shallow = model::space_grant("S", SpacePermission::View, &by_group("a"));
    shallow.annotations = vec![annotation(&GrantExpandable {
        entitlement_ids: vec!["group:a:member".into()],
        shallow: true,
        resource_type_ids: Vec::new(),
    })];
    let grants = [
        model::group_membership_grant("a", "direct"),
        model::group_membership_grant("b", "indirect"),
        group_in_group("a", "b"),
        shallow,
    ];
    let (_, stored) = expand_into(&scratch, &grants).unwrap();
    assert!(stored.contains_key("group:a:member:user:indirect"));
    assert!(stored.contains_key("space:S:view:user:direct"));
    assert!(!stored.contains_key("space:S:view:user:indirect"));
}

#[test]
fn a_cycle_fails_the_file_with_a_clear_error() {
    let scratch = Scratch::new();
    let grants = [
        model::group_membership_grant("a", "u"),
        group_in_group("a", "b"),
        group_in_group("b", "a"),
    ];
    let error = expand_into(&scratch, &grants).unwrap_err();
    let message = error.to_string();
    assert!(matches!(error, C1zError::Expansion { .. }), "{message}");
    assert!(
        message.contains("has a cycle: expanding from group:a:member, group:b:member waits"),
        "{message}"
    );
    assert_eq!(
        std::fs::read_dir(&scratch.0).unwrap().count(),
        0,
        "files left behind"
    );
}

/// Group `a` of 500 users, holding view on space `S`, stored the way
/// the writer stores rows.
fn populated() -> Connection {
    let connection = Connection::open_in_memory().unwrap();
    connection.execute_batch(schema::TABLES).unwrap();
    let space = model::space_resource("S", "Space", "");
    let entitlements = [
        model::group_member_entitlement(&group("a")),
        model::space_entitlement(&space, SpacePermission::View),
    ];
    let mut grants: Vec<Grant> = (0..500)
        .map(|user| model::group_membership_grant("a", &format!("user-{user}")))
        .collect();
    grants.push(model::space_grant(
        "S",
        SpacePermission::View,
        &by_group("a"),
    ));
    let rows: Vec<_> = entitlements
        .iter()
        .map(|entitlement| rows::entitlement_row(entitlement).unwrap())
        .collect();
    upsert(&connection, &mut KnownIds::default(), &rows, "s1", "t").unwrap();
    let rows: Vec<_> = grants.iter().map(|g| rows::grant_row(g).unwrap()).collect();
    upsert(&connection, &mut KnownIds::default(), &rows, "s1", "t").unwrap();
    connection
}

#[test]
fn expansion_stops_once_the_database_outgrows_its_limit() {
    let connection = populated();
    let before = database_size(&connection).unwrap();
    let counts = expand(&connection, "s1", "t", u64::MAX).unwrap();
    assert_eq!(counts.created, 500);
    let after = database_size(&connection).unwrap();
    assert!(after > before);

    let limit = before + (after - before) / 2;
    let connection = populated();
    let error = expand(&connection, "s1", "t", limit).unwrap_err();
    assert!(
        matches!(error, ExpandError::TooLarge { limit: l } if l == limit),
        "{error}"
    );
}

#[test]
fn a_source_of_another_principal_fails_and_an_unknown_one_is_skipped() {
    let scratch = Scratch::new();
    let mut unknown = model::space_grant("S", SpacePermission::View, &by_group("a"));
    unknown.annotations = vec![annotation(&GrantExpandable {
        entitlement_ids: vec!["group:gone:member".into()],
        shallow: false,
        resource_type_ids: Vec::new(),
    })];
    let (finished, _) = expand_into(&scratch, &[unknown]).unwrap();
    assert_eq!(finished.expansion.unknown_sources, 1);
    assert_eq!(finished.expansion.edges, 0);

    let mut foreign = model::space_grant("S", SpacePermission::View, &by_group("a"));
    foreign.annotations = vec![annotation(&GrantExpandable {
        entitlement_ids: vec!["group:c:member".into()],
        shallow: false,
        resource_type_ids: Vec::new(),
    })];
    let message = expand_into(&scratch, &[foreign]).unwrap_err().to_string();
    assert!(
        message.contains(
            "expands from group:c:member, an entitlement of group:c, not of its principal group:a"
        ),
        "{message}"
    );
}
