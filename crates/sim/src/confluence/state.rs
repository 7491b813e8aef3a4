//! The live, indexed state of a simulated instance: what the routes read and
//! change, the permission checks Confluence would make, and the log of
//! mutating calls. Built from a [`Dataset`] and turned back into one.

use std::collections::{BTreeSet, HashMap, HashSet};

use baton::model::SpacePermission;

use super::dataset::{
    ADMINISTRATORS_GROUP, Dataset, SimGroup, SimPermission, SimSpace, SimUser, USERS_GROUP,
    UnknownUser,
};
use super::mutation::Mutation;

mod changes;

/// Who holds a space permission.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) enum Holder {
    /// By user key, which may be a deleted user's.
    User(String),
    /// By the group's name as stored.
    Group(String),
    Anonymous,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Grant {
    pub permission: SpacePermission,
    pub holder: Holder,
    /// When it was granted, so the dataset lists rows in their original order.
    order: u64,
}

pub(crate) struct UserRecord {
    pub user: SimUser,
    /// Indexes of the user's groups, in group listing order.
    pub groups: BTreeSet<usize>,
}

pub(crate) struct GroupRecord {
    pub name: String,
    /// Member user indexes, in listing order.
    pub members: Vec<usize>,
    member_set: HashSet<usize>,
}

pub(crate) struct SpaceRecord {
    pub space: SimSpace,
    pub grants: Vec<Grant>,
    /// Derived from `grants` so visibility checks do not scan every row.
    viewer_keys: HashSet<String>,
    viewer_groups: HashSet<usize>,
}

/// Everything a request can read or change. Indexes are positions in the
/// listing vectors; deleting a user or group rebuilds them (a rare call).
pub(crate) struct State {
    users: Vec<UserRecord>,
    user_by_key: HashMap<String, usize>,
    user_by_name: HashMap<String, usize>,
    unknown_users: Vec<UnknownUser>,
    unknown_by_key: HashMap<String, usize>,
    groups: Vec<GroupRecord>,
    group_by_name: HashMap<String, usize>,
    spaces: Vec<SpaceRecord>,
    space_by_key: HashMap<String, usize>,
    mutations: Vec<Mutation>,
    granted: u64,
    created_users: u64,
    long_tasks: u64,
}

/// Names and keys are compared the way Confluence stores them: lower-cased.
fn fold(text: &str) -> String {
    text.to_lowercase()
}

impl State {
    /// Builds the indexes of a validated dataset.
    pub fn new(dataset: Dataset) -> State {
        let mut state = State {
            users: Vec::new(),
            user_by_key: HashMap::new(),
            user_by_name: HashMap::new(),
            unknown_users: Vec::new(),
            unknown_by_key: HashMap::new(),
            groups: Vec::new(),
            group_by_name: HashMap::new(),
            spaces: Vec::new(),
            space_by_key: HashMap::new(),
            mutations: Vec::new(),
            granted: 0,
            created_users: 0,
            long_tasks: 0,
        };
        state.load(dataset);
        state
    }

    fn load(&mut self, dataset: Dataset) {
        self.users.clear();
        self.user_by_key.clear();
        self.user_by_name.clear();
        self.unknown_users = dataset.unknown_users;
        self.unknown_by_key.clear();
        self.groups.clear();
        self.group_by_name.clear();
        self.spaces.clear();
        self.space_by_key.clear();
        for user in dataset.users {
            self.insert_user(user);
        }
        for (index, unknown) in self.unknown_users.iter().enumerate() {
            self.unknown_by_key.insert(unknown.user_key.clone(), index);
        }
        for group in dataset.groups {
            let index = self.insert_group(group.name);
            for key in group.members {
                if let Some(&user) = self.user_by_key.get(&key) {
                    self.add_member(user, index);
                }
            }
        }
        for space in dataset.spaces {
            self.space_by_key
                .insert(fold(&space.key), self.spaces.len());
            self.spaces.push(SpaceRecord {
                space,
                grants: Vec::new(),
                viewer_keys: HashSet::new(),
                viewer_groups: HashSet::new(),
            });
        }
        // Rows go in as they come (duplicates dropped), viewers are derived
        // once per space: spaces can hold thousands of rows.
        let mut seen = HashSet::new();
        for row in dataset.permissions {
            let (Some(space), Some(permission)) = (
                self.space_index(&row.space_key),
                SpacePermission::from_legacy_key(&row.r#type),
            ) else {
                continue;
            };
            let holder = match (row.user_key, row.group_name) {
                (Some(key), _) => Holder::User(key),
                (None, Some(name)) => match self.group_index(&name) {
                    Some(group) => Holder::Group(self.groups[group].name.clone()),
                    None => continue,
                },
                (None, None) => Holder::Anonymous,
            };
            if seen.insert((space, permission, holder.clone())) {
                self.granted += 1;
                self.spaces[space].grants.push(Grant {
                    permission,
                    holder,
                    order: self.granted,
                });
            }
        }
        for space in 0..self.spaces.len() {
            self.refresh_viewers(space);
        }
    }

    /// The current data, in the fixture format.
    pub fn to_dataset(&self) -> Dataset {
        let users = self
            .users
            .iter()
            .map(|record| record.user.clone())
            .collect();
        let groups = self
            .groups
            .iter()
            .map(|group| SimGroup {
                name: group.name.clone(),
                members: group
                    .members
                    .iter()
                    .map(|&user| self.users[user].user.user_key.clone())
                    .collect(),
            })
            .collect();
        let spaces = self
            .spaces
            .iter()
            .map(|record| record.space.clone())
            .collect();
        let mut rows: Vec<(u64, SimPermission)> = self
            .spaces
            .iter()
            .flat_map(|record| {
                record.grants.iter().map(|grant| {
                    let row = SimPermission {
                        space_key: record.space.key.clone(),
                        r#type: grant.permission.legacy_key().to_owned(),
                        user_key: match &grant.holder {
                            Holder::User(key) => Some(key.clone()),
                            _ => None,
                        },
                        group_name: match &grant.holder {
                            Holder::Group(name) => Some(name.clone()),
                            _ => None,
                        },
                    };
                    (grant.order, row)
                })
            })
            .collect();
        rows.sort_unstable_by_key(|(order, _)| *order);
        let permissions = rows.into_iter().map(|(_, row)| row).collect();
        Dataset {
            users,
            groups,
            spaces,
            permissions,
            unknown_users: self.unknown_users.clone(),
        }
    }

    // ---- lookups ----

    pub fn users(&self) -> &[UserRecord] {
        &self.users
    }

    pub fn user(&self, index: usize) -> &SimUser {
        &self.users[index].user
    }

    pub fn user_record(&self, index: usize) -> &UserRecord {
        &self.users[index]
    }

    pub fn user_by_key(&self, key: &str) -> Option<usize> {
        self.user_by_key.get(key).copied()
    }

    pub fn user_by_name(&self, username: &str) -> Option<usize> {
        self.user_by_name.get(&fold(username)).copied()
    }

    pub fn unknown_by_key(&self, key: &str) -> Option<&UnknownUser> {
        self.unknown_by_key
            .get(key)
            .map(|&index| &self.unknown_users[index])
    }

    pub fn unknown_by_name(&self, username: &str) -> Option<&UnknownUser> {
        self.unknown_users
            .iter()
            .find(|unknown| unknown.username.eq_ignore_ascii_case(username))
    }

    pub fn groups(&self) -> &[GroupRecord] {
        &self.groups
    }

    pub fn group(&self, index: usize) -> &GroupRecord {
        &self.groups[index]
    }

    pub fn group_index(&self, name: &str) -> Option<usize> {
        self.group_by_name.get(&fold(name)).copied()
    }

    pub fn spaces(&self) -> &[SpaceRecord] {
        &self.spaces
    }

    pub fn space(&self, index: usize) -> &SpaceRecord {
        &self.spaces[index]
    }

    pub fn space_index(&self, key: &str) -> Option<usize> {
        self.space_by_key.get(&fold(key)).copied()
    }

    pub fn mutations(&self) -> &[Mutation] {
        &self.mutations
    }

    // ---- Confluence's permission checks ----

    /// `folded_name` must already be lower-case (the built-in group names are).
    fn in_group(&self, user: usize, folded_name: &str) -> bool {
        self.group_by_name
            .get(folded_name)
            .is_some_and(|&group| self.groups[group].member_set.contains(&user))
    }

    /// Confluence administrator: a member of `confluence-administrators`.
    pub fn is_admin(&self, user: usize) -> bool {
        self.in_group(user, ADMINISTRATORS_GROUP)
    }

    /// Holds USECONFLUENCE through one of the built-in groups.
    pub fn is_licensed(&self, user: usize) -> bool {
        self.in_group(user, USERS_GROUP) || self.is_admin(user)
    }

    /// The permissions `user` holds on a space, directly or through a group.
    pub fn effective_permissions(&self, user: usize, space: usize) -> BTreeSet<SpacePermission> {
        let record = &self.users[user];
        self.spaces[space]
            .grants
            .iter()
            .filter(|grant| match &grant.holder {
                Holder::User(key) => *key == record.user.user_key,
                Holder::Group(name) => self
                    .group_index(name)
                    .is_some_and(|group| record.groups.contains(&group)),
                Holder::Anonymous => false,
            })
            .map(|grant| grant.permission)
            .collect()
    }

    pub fn can_view_space(&self, user: usize, space: usize) -> bool {
        let record = &self.spaces[space];
        record.viewer_keys.contains(&self.users[user].user.user_key)
            || self.users[user]
                .groups
                .iter()
                .any(|group| record.viewer_groups.contains(group))
    }

    /// Space admin (SETSPACEPERMISSIONS) or Confluence admin.
    pub fn can_administer_space(&self, user: usize, space: usize) -> bool {
        self.is_admin(user)
            || self
                .effective_permissions(user, space)
                .contains(&SpacePermission::SetSpacePermissions)
    }

    /// Users who count against the licence: active and licensed.
    pub fn licensed_user_count(&self) -> usize {
        (0..self.users.len())
            .filter(|&user| self.users[user].user.active && self.is_licensed(user))
            .count()
    }
}

#[cfg(test)]
mod tests;
