use super::*;
use crate::confluence::generator::GenerateOptions;

fn state() -> State {
    State::new(Dataset::generate(&GenerateOptions {
        seed: 4,
        users: 120,
        groups: 12,
        spaces: 10,
    }))
}

#[test]
fn a_dataset_round_trips_through_the_state() {
    let dataset = Dataset::generate(&GenerateOptions {
        seed: 4,
        users: 120,
        groups: 12,
        spaces: 10,
    });
    assert_eq!(State::new(dataset.clone()).to_dataset(), dataset);
}

#[test]
fn grants_and_revokes_report_whether_they_changed_anything() {
    let mut state = state();
    let space = state
        .space_index("DS")
        .expect("ds, looked up case-insensitively");
    let holder = Holder::Group("all-staff".into());
    let permissions = [SpacePermission::ExportSpace, SpacePermission::RemoveMail];
    state.revoke(space, &holder, &permissions);
    assert!(state.grant(space, &holder, &permissions));
    assert!(!state.grant(space, &holder, &permissions));
    assert!(state.revoke(space, &holder, &permissions[..1]));
    assert!(!state.revoke(space, &holder, &permissions[..1]));
    assert!(state.replace(space, &holder, &[SpacePermission::View]));
    assert!(!state.replace(space, &holder, &[SpacePermission::View]));
}

#[test]
fn viewing_follows_direct_and_group_grants() {
    let mut state = state();
    let space = (0..state.spaces().len())
        .find(|&space| state.space(space).space.r#type == "personal")
        .expect("a personal space");
    let outsider = (0..state.users().len())
        .find(|&user| !state.can_view_space(user, space))
        .expect("somebody cannot view a personal space");
    let group = state.create_group("viewers");
    state.add_member(outsider, group);
    assert!(!state.can_view_space(outsider, space));
    state.grant(
        space,
        &Holder::Group("viewers".into()),
        &[SpacePermission::View],
    );
    assert!(state.can_view_space(outsider, space));
    state.remove_member(outsider, group);
    assert!(!state.can_view_space(outsider, space));
    let key = state.user(outsider).user_key.clone();
    state.grant(space, &Holder::User(key), &[SpacePermission::View]);
    assert!(state.can_view_space(outsider, space));
}

#[test]
fn deleted_users_become_unknown_but_keep_their_permission_rows() {
    let mut state = state();
    let space = state.space_index("ds").expect("ds");
    let user = state.user_by_name("admin").expect("admin") + 5;
    let key = state.user(user).user_key.clone();
    state.grant(space, &Holder::User(key.clone()), &[SpacePermission::View]);
    state.delete_user(user);
    assert_eq!(state.user_by_key(&key), None);
    assert!(state.unknown_by_key(&key).is_some());
    let dataset = state.to_dataset();
    dataset.validate().expect("still consistent");
    assert!(
        dataset
            .permissions
            .iter()
            .any(|row| row.user_key.as_deref() == Some(&key))
    );
    assert!(
        dataset
            .groups
            .iter()
            .all(|group| !group.members.contains(&key))
    );
}

#[test]
fn deleted_groups_take_their_permissions_with_them() {
    let mut state = state();
    let group = state.group_index("all-staff").expect("all-staff");
    let space = state.space_index("ds").expect("ds");
    state.grant(
        space,
        &Holder::Group("all-staff".into()),
        &[SpacePermission::View],
    );
    state.delete_group(group);
    let dataset = state.to_dataset();
    dataset.validate().expect("still consistent");
    assert!(
        dataset
            .permissions
            .iter()
            .all(|row| row.group_name.as_deref() != Some("all-staff"))
    );
    assert_eq!(state.group_index("all-staff"), None);
}
