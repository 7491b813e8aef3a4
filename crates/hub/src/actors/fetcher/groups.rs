//! The groups fetcher: pages groups into group resources with their `member`
//! entitlement, then reads every group's members into membership grants for
//! the users of this sync, up to the tenant's concurrency at once. The actor
//! owns the walk: the group names seen, then the queue of groups whose
//! members are still to read. Groups whose names no endpoint of this version
//! can address (a `/` before 10.x) are resolved beside those reads by asking
//! every user for its groups; the tenant's limiter paces both together.

use std::sync::Arc;

use actix::{Actor, Context};

use super::{ReadQueue, Run, Runs, Walker, spawn_step};
use crate::sync::groups::memberships;
use crate::sync::{
    Batch, GroupSet, SkipReason, SyncContext, SyncError, UserDirectory, cancellable,
};
use baton::model::{self, ResourceKind};
use confluence::{Group, Pager};

#[derive(Default)]
pub struct GroupsFetcher {
    runs: Runs,
    walk: Option<Walk>,
}

struct Walk {
    run: Run,
    names: GroupSet,
    groups: Vec<String>,
    /// Filled once the listing ends and the users are known.
    members: Option<Members>,
}

/// The member reads of one sync.
struct Members {
    users: Arc<UserDirectory>,
    reads: ReadQueue<String>,
    /// The groups no endpoint can address are still being read, user by user.
    reading_via_users: bool,
}

impl Actor for GroupsFetcher {
    type Context = Context<Self>;
}

impl Walker for GroupsFetcher {
    const PHASE: &'static str = "group";
    type Record = Group;

    fn runs(&mut self) -> &mut Runs {
        &mut self.runs
    }

    fn pager(sync: &SyncContext) -> Pager<Group> {
        sync.client.groups()
    }

    fn begin(&mut self, run: Run) {
        self.walk = Some(Walk {
            run,
            names: GroupSet::default(),
            groups: Vec::new(),
            members: None,
        });
    }

    fn is_busy(&self) -> bool {
        self.walk.is_some()
    }

    fn serving(&self, run_id: u64) -> Option<Arc<SyncContext>> {
        self.walk.as_ref()?.run.serving(run_id)
    }

    fn absorb(&mut self, groups: Vec<Group>) -> Vec<Batch> {
        let Some(walk) = &mut self.walk else {
            return Vec::new();
        };
        let scope = &walk.run.sync.scope;
        let write = scope.includes(ResourceKind::Group);
        let mut resources = Vec::with_capacity(groups.len());
        let mut entitlements = Vec::with_capacity(groups.len());
        for group in groups {
            walk.names.insert(&group.name);
            if write {
                let resource = model::group_resource(&group.name);
                if scope.wants_entitlements() {
                    entitlements.push(model::group_member_entitlement(&resource));
                }
                resources.push(resource);
            }
            walk.groups.push(group.name);
        }
        vec![
            Batch::Resources(resources),
            Batch::Entitlements(entitlements),
        ]
    }

    /// Publishes the names, then (when grants are wanted) waits for the
    /// users and sorts the groups by how their members can be read.
    fn listed(&mut self, run_id: u64, ctx: &mut Context<Self>) {
        let Some(walk) = &mut self.walk else {
            return;
        };
        let sync = walk.run.sync.clone();
        let groups = std::mem::take(&mut walk.groups);
        sync.progress.set_groups_total(groups.len() as u64);
        sync.directories
            .publish_groups(std::mem::take(&mut walk.names));
        if !sync.scope.includes(ResourceKind::Group) || !sync.scope.wants_grants() {
            return self.finish(Ok(()));
        }
        let sort = async move {
            let users = sync.directories.users(&sync.cancel).await?;
            let (mut addressable, mut unaddressable) = (Vec::new(), Vec::new());
            for group in groups {
                if cancellable(&sync, sync.client.can_list_group_members(&group)).await? {
                    addressable.push(group);
                } else {
                    unaddressable.push(group);
                }
            }
            let members = Members {
                users,
                reads: ReadQueue::new(addressable),
                reading_via_users: !unaddressable.is_empty(),
            };
            Ok((members, unaddressable))
        };
        spawn_step(
            self,
            ctx,
            run_id,
            sort,
            move |fetcher, (members, unaddressable), ctx| {
                let users = members.users.clone();
                if let Some(walk) = &mut fetcher.walk {
                    walk.members = Some(members);
                }
                fetcher.read_unaddressable(run_id, unaddressable, users, ctx);
                fetcher.read_members(run_id, ctx);
            },
        );
    }

    fn finish(&mut self, result: Result<(), SyncError>) {
        if let Some(walk) = self.walk.take() {
            walk.run.finish(result);
        }
    }
}

impl GroupsFetcher {
    /// Ends the phase once both kinds of member reads are back.
    fn finish_when_read(&mut self) {
        let done = self
            .walk
            .as_ref()
            .and_then(|walk| walk.members.as_ref())
            .is_some_and(|members| members.reads.is_drained() && !members.reading_via_users);
        if done {
            self.finish(Ok(()));
        }
    }

    /// Keeps up to the tenant's concurrency of member reads in flight; when
    /// the last is back (and the groups read user by user are too), ends the
    /// phase.
    fn read_members(&mut self, run_id: u64, ctx: &mut Context<Self>) {
        let Some(sync) = self.serving(run_id) else {
            return;
        };
        let Some(members) = self.walk.as_mut().and_then(|walk| walk.members.as_mut()) else {
            return;
        };
        if members.reads.is_drained() {
            return self.finish_when_read();
        }
        let users = members.users.clone();
        for group in members.reads.start(sync.concurrency) {
            let (sync, users) = (sync.clone(), users.clone());
            let read = async move {
                let mut pager = cancellable(&sync, sync.client.group_members(&group)).await?;
                while let Some(page) = cancellable(&sync, pager.next_page()).await? {
                    let keys = page.into_iter().map(|user| user.user_key);
                    write_memberships(&sync, &users, &group, keys).await?;
                }
                sync.progress.group_done();
                Ok(())
            };
            spawn_step(self, ctx, run_id, read, move |fetcher, (), ctx| {
                if let Some(members) = fetcher.walk.as_mut().and_then(|walk| walk.members.as_mut())
                {
                    members.reads.finished_one();
                }
                fetcher.read_members(run_id, ctx);
            });
        }
    }

    fn read_unaddressable(
        &mut self,
        run_id: u64,
        groups: Vec<String>,
        users: Arc<UserDirectory>,
        ctx: &mut Context<Self>,
    ) {
        let Some(sync) = self.serving(run_id) else {
            return;
        };
        if groups.is_empty() {
            return;
        }
        tracing::info!(
            tenant = %sync.tenant,
            groups = groups.len(),
            users = users.len(),
            "group names with `/` cannot be addressed on this version; reading their members user by user"
        );
        let read = async move {
            let keys = users.keys();
            let members =
                cancellable(&sync, sync.client.group_members_via_users(&groups, &keys)).await?;
            for (group, keys) in members {
                write_memberships(&sync, &users, &group, keys.into_iter()).await?;
                sync.progress.group_done();
            }
            Ok(())
        };
        spawn_step(self, ctx, run_id, read, |fetcher, (), _| {
            if let Some(members) = fetcher.walk.as_mut().and_then(|walk| walk.members.as_mut()) {
                members.reading_via_users = false;
            }
            fetcher.finish_when_read();
        });
    }
}

/// Membership grants for the members that are users of this sync; the rest
/// (deleted users still in a group) are counted as skipped.
async fn write_memberships(
    sync: &SyncContext,
    users: &UserDirectory,
    group: &str,
    member_keys: impl Iterator<Item = String>,
) -> Result<(), SyncError> {
    let (grants, unknown) = memberships(users, group, member_keys);
    sync.progress.skip(SkipReason::UnknownUser, unknown);
    sync.put(Batch::Grants(grants)).await
}
