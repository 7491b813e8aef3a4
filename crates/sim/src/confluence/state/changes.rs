//! The changes the routes make to a simulated instance. Each returns
//! whether anything changed, so the mutation log can say so.

use std::collections::{BTreeSet, HashSet};

use baton::model::SpacePermission;

use super::{Grant, GroupRecord, Holder, State, UserRecord, fold};
use crate::confluence::dataset::{SimUser, USERS_GROUP, UnknownUser};
use crate::confluence::mutation::Mutation;

impl State {
    pub(super) fn insert_user(&mut self, user: SimUser) -> usize {
        let index = self.users.len();
        self.user_by_key.insert(user.user_key.clone(), index);
        self.user_by_name.insert(fold(&user.username), index);
        self.users.push(UserRecord {
            user,
            groups: BTreeSet::new(),
        });
        index
    }

    pub(super) fn insert_group(&mut self, name: String) -> usize {
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

    pub(super) fn refresh_viewers(&mut self, space: usize) {
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
