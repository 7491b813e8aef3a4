use super::*;

fn generate(seed: u64) -> Dataset {
    Dataset::generate(&GenerateOptions {
        seed,
        users: 500,
        groups: 40,
        spaces: 30,
    })
}

#[test]
fn the_same_seed_gives_the_same_dataset() {
    assert_eq!(generate(42), generate(42));
    assert_ne!(generate(42), generate(43));
}

#[test]
fn generated_datasets_are_consistent_and_sized_as_asked() {
    let dataset = generate(7);
    dataset.validate().expect("generated dataset is consistent");
    assert_eq!(dataset.users.len(), 500);
    assert_eq!(dataset.groups.len(), 40);
    assert_eq!(dataset.spaces.len(), 30);
}

#[test]
fn admin_is_in_both_builtin_groups() {
    let dataset = generate(7);
    let admin = &dataset.users[0];
    assert_eq!(admin.username, "admin");
    for name in [ADMINISTRATORS_GROUP, USERS_GROUP] {
        let group = dataset
            .groups
            .iter()
            .find(|group| group.name == name)
            .expect("built-in");
        assert!(group.members.contains(&admin.user_key), "admin in {name}");
    }
}

#[test]
fn datasets_hold_every_awkward_case() {
    let dataset = generate(7);
    assert!(dataset.users.iter().any(|user| !user.active));
    for needle in ['/', ' ', '&', '+'] {
        assert!(
            dataset
                .groups
                .iter()
                .any(|group| group.name.contains(needle)),
            "{needle:?}"
        );
    }
    assert!(dataset.groups.iter().any(|group| !group.name.is_ascii()));
    assert!(
        dataset
            .spaces
            .iter()
            .any(|space| space.status == "archived")
    );
    assert!(
        dataset
            .spaces
            .iter()
            .any(|space| space.r#type == "personal")
    );
    assert!(
        dataset
            .permissions
            .iter()
            .any(|row| row.user_key.is_none() && row.group_name.is_none())
    );
    let unknown: HashSet<&str> = dataset
        .unknown_users
        .iter()
        .map(|user| user.user_key.as_str())
        .collect();
    assert!(dataset.permissions.iter().any(|row| {
        row.user_key
            .as_deref()
            .is_some_and(|key| unknown.contains(key))
    }));
}

#[test]
fn group_sizes_follow_a_power_law() {
    let dataset = Dataset::generate(&GenerateOptions {
        seed: 3,
        users: 5000,
        groups: 300,
        spaces: 0,
    });
    let mut sizes: Vec<usize> = dataset
        .groups
        .iter()
        .skip(2)
        .map(|group| group.members.len())
        .collect();
    sizes.sort_unstable();
    let median = sizes[sizes.len() / 2];
    let largest = sizes[sizes.len() - 1];
    assert!(largest > 1000, "a few big groups: {largest}");
    assert!(median < 50, "most groups small: {median}");
}

#[test]
fn tiny_datasets_still_have_an_admin_and_builtin_groups() {
    let dataset = Dataset::generate(&GenerateOptions {
        seed: 1,
        users: 0,
        groups: 0,
        spaces: 1,
    });
    dataset.validate().expect("consistent");
    assert_eq!(dataset.users.len(), 1);
    assert_eq!(dataset.groups.len(), 2);
    assert_eq!(dataset.spaces[0].key, "ds");
}
