//! The live, indexed state of a simulated instance: what the routes read and
//! change, the permission checks Confluence would make, and the log of
//! mutating calls. Built from a [`Dataset`] and turned back into one.

use std::collections::{BTreeSet, HashMap, HashSet};

use crate::baton::model::SpacePermission;

use super::dataset::{
    ADMINISTRATORS_GROUP, Dataset, SimGroup, SimPermission, SimSpace, SimUser, USERS_GROUP,
    UnknownUser,
};
use super::mutation::Mutation;

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

    // ---- changes; each returns whether anything changed ----

    fn insert_user(&mut self, user: SimUser) -> usize {
        let index = self.users.len();
        self.user_by_key.insert(user.user_key.clone(), index);
        self.user_by_name.insert(fold(&user.username), index);
        self.users.push(UserRecord {
            user,
            groups: BTreeSet::new(),
        });
        index
    }

    fn insert_group(&mut self, name: String) -> usize {
        let index = self.groups.len();
        self.group_by_name.insert(fold(&name), index);
        self.groups.push(GroupRecord {
            name,
            members: Vec::new(),
            member_set: HashSet::new(),
        });
        index
    }

    pub fn add_member(&mut self, user: usize, group: usize) -> bool {
        if !self.groups[group].member_set.insert(user) {
            return false;
        }
        self.groups[group].members.push(user);
        self.users[user].groups.insert(group);
        true
    }

    pub fn remove_member(&mut self, user: usize, group: usize) -> bool {
        if !self.groups[group].member_set.remove(&user) {
            return false;
        }
        self.groups[group].members.retain(|&member| member != user);
        self.users[user].groups.remove(&group);
        true
    }

    pub fn grant(
        &mut self,
        space: usize,
        holder: &Holder,
        permissions: &[SpacePermission],
    ) -> bool {
        let record = &mut self.spaces[space];
        let mut changed = false;
        for &permission in permissions {
            if !record
                .grants
                .iter()
                .any(|grant| grant.permission == permission && grant.holder == *holder)
            {
                self.granted += 1;
                record.grants.push(Grant {
                    permission,
                    holder: holder.clone(),
                    order: self.granted,
                });
                changed = true;
            }
        }
        if changed {
            self.refresh_viewers(space);
        }
        changed
    }

    pub fn revoke(
        &mut self,
        space: usize,
        holder: &Holder,
        permissions: &[SpacePermission],
    ) -> bool {
        let grants = &mut self.spaces[space].grants;
        let before = grants.len();
        grants
            .retain(|grant| !(grant.holder == *holder && permissions.contains(&grant.permission)));
        let changed = grants.len() != before;
        if changed {
            self.refresh_viewers(space);
        }
        changed
    }

    /// Makes `holder`'s permissions on the space exactly `permissions`.
    pub fn replace(
        &mut self,
        space: usize,
        holder: &Holder,
        permissions: &[SpacePermission],
    ) -> bool {
        let current: BTreeSet<SpacePermission> = self.spaces[space]
            .grants
            .iter()
            .filter(|grant| grant.holder == *holder)
            .map(|grant| grant.permission)
            .collect();
        let wanted: BTreeSet<SpacePermission> = permissions.iter().copied().collect();
        if current == wanted {
            return false;
        }
        let removed: Vec<SpacePermission> = current.difference(&wanted).copied().collect();
        self.revoke(space, holder, &removed);
        self.grant(space, holder, permissions);
        true
    }

    /// Removes every permission the group holds, in every space.
    pub fn remove_group_permissions(&mut self, group: usize) -> bool {
        let holder = Holder::Group(self.groups[group].name.clone());
        let mut changed = false;
        for space in 0..self.spaces.len() {
            changed |= self.revoke(space, &holder, &SpacePermission::all().collect::<Vec<_>>());
        }
        changed
    }

    fn refresh_viewers(&mut self, space: usize) {
        let mut viewer_keys = HashSet::new();
        let mut viewer_groups = HashSet::new();
        for grant in &self.spaces[space].grants {
            if grant.permission != SpacePermission::View {
                continue;
            }
            match &grant.holder {
                Holder::User(key) => {
                    viewer_keys.insert(key.clone());
                }
                Holder::Group(name) => {
                    if let Some(group) = self.group_index(name) {
                        viewer_groups.insert(group);
                    }
                }
                Holder::Anonymous => {}
            }
        }
        let record = &mut self.spaces[space];
        record.viewer_keys = viewer_keys;
        record.viewer_groups = viewer_groups;
    }

    /// Adds a user to the directory and the default group; returns its new key.
    pub fn create_user(
        &mut self,
        username: &str,
        display_name: &str,
        email: &str,
        password: Option<&str>,
    ) -> String {
        let user_key = loop {
            self.created_users += 1;
            // Same 32-hex shape as real keys; the `5157` prefix marks simulator-made users.
            let candidate = format!("5157{:028x}", self.created_users);
            if !self.user_by_key.contains_key(&candidate)
                && !self.unknown_by_key.contains_key(&candidate)
            {
                break candidate;
            }
        };
        let user = self.insert_user(SimUser {
            user_key: user_key.clone(),
            username: username.to_owned(),
            display_name: display_name.to_owned(),
            email: email.to_owned(),
            active: true,
            password: password.map(str::to_owned),
        });
        if let Some(group) = self.group_index(USERS_GROUP) {
            self.add_member(user, group);
        }
        user_key
    }

    pub fn set_active(&mut self, user: usize, active: bool) -> bool {
        let record = &mut self.users[user].user;
        let changed = record.active != active;
        record.active = active;
        changed
    }

    pub fn update_user(
        &mut self,
        user: usize,
        display_name: Option<&str>,
        email: Option<&str>,
    ) -> bool {
        let record = &mut self.users[user].user;
        let mut changed = false;
        if let Some(name) = display_name.filter(|name| *name != record.display_name) {
            record.display_name = name.to_owned();
            changed = true;
        }
        if let Some(email) = email.filter(|email| *email != record.email) {
            record.email = email.to_owned();
            changed = true;
        }
        changed
    }

    pub fn set_password(&mut self, user: usize, password: &str) {
        self.users[user].user.password = Some(password.to_owned());
    }

    pub fn password(&self, user: usize) -> Option<&str> {
        self.users[user].user.password.as_deref()
    }

    /// Deletes a user: its memberships go, its key stays mapped to its name
    /// (an unknown user), so permission rows naming it remain.
    pub fn delete_user(&mut self, user: usize) {
        let SimUser {
            user_key, username, ..
        } = self.users[user].user.clone();
        let mut dataset = self.to_dataset();
        dataset
            .users
            .retain(|candidate| candidate.user_key != user_key);
        for group in &mut dataset.groups {
            group.members.retain(|member| *member != user_key);
        }
        dataset
            .unknown_users
            .push(UnknownUser { user_key, username });
        self.load(dataset);
    }

    pub fn create_group(&mut self, name: &str) -> usize {
        self.insert_group(name.to_owned())
    }

    /// Deletes a group with its memberships and space permissions.
    pub fn delete_group(&mut self, group: usize) {
        let name = self.groups[group].name.clone();
        for record in &mut self.spaces {
            record
                .grants
                .retain(|grant| grant.holder != Holder::Group(name.clone()));
        }
        let mut dataset = self.to_dataset();
        dataset.groups.retain(|candidate| candidate.name != name);
        self.load(dataset);
    }

    /// A new long-task id for an asynchronous delete.
    pub fn next_long_task(&mut self) -> u64 {
        self.long_tasks += 1;
        self.long_tasks
    }

    pub fn long_task_exists(&self, id: u64) -> bool {
        id >= 1 && id <= self.long_tasks
    }

    /// Appends a call to the log, numbering it.
    pub fn record(&mut self, mut mutation: Mutation) {
        mutation.sequence = self.mutations.len() as u64;
        self.mutations.push(mutation);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::confluence::generator::GenerateOptions;

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
}
