//! The groups fetcher: pages groups into group resources with their `member`
//! entitlement, then reads every group's members into membership grants for
//! the users of this sync, up to the tenant's concurrency at once. The actor
//! owns the walk: the pager between pages, the group names seen, the queue
//! of groups whose members are still to read and how many reads are in
//! flight. Groups whose names no endpoint of this version can address (a `/`
//! before 10.x) are resolved at the end by asking every user for its groups.

use std::collections::VecDeque;
use std::sync::Arc;

use actix::{Actor, ActorFutureExt, AsyncContext, Context, Handler, ResponseFuture, WrapFuture};
use tracing::Instrument;

use super::{Fetch, Run, Runs, answered, busy};
use crate::sync::groups::memberships;
use crate::sync::{Batch, GroupSet, SyncContext, SyncError, UserDirectory, cancellable};
use baton::model::{self, ResourceKind};
use confluence::{Group, Pager};

const PHASE: &str = "group";

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
    queue: VecDeque<String>,
    in_flight: usize,
    unaddressable: Vec<String>,
}

impl Actor for GroupsFetcher {
    type Context = Context<Self>;
}

impl Handler<Fetch> for GroupsFetcher {
    type Result = ResponseFuture<Result<(), SyncError>>;

    fn handle(&mut self, Fetch(sync): Fetch, ctx: &mut Context<Self>) -> Self::Result {
        if self.walk.is_some() {
            return Box::pin(async { Err(busy(PHASE)) });
        }
        let pager = sync.client.groups();
        let (run, answer) = self.runs.start(sync);
        let run_id = run.id;
        self.walk = Some(Walk {
            run,
            names: GroupSet::default(),
            groups: Vec::new(),
            members: None,
        });
        self.read(run_id, pager, Vec::new(), ctx);
        Box::pin(answered(PHASE, answer))
    }
}

impl GroupsFetcher {
    fn sync(&self, run_id: u64) -> Option<Arc<SyncContext>> {
        let walk = self.walk.as_ref().filter(|walk| walk.run.id == run_id)?;
        Some(walk.run.sync.clone())
    }

    /// Writes the previous page's batches while the next page is read.
    fn read(
        &mut self,
        run_id: u64,
        mut pager: Pager<Group>,
        batches: Vec<Batch>,
        ctx: &mut Context<Self>,
    ) {
        let Some(sync) = self.sync(run_id) else {
            return;
        };
        let span = fetch_span(&sync);
        let work = async move {
            let write = async {
                for batch in batches {
                    sync.put(batch).await?;
                }
                Ok(())
            };
            let (written, page) = futures::join!(write, cancellable(&sync, pager.next_page()));
            (pager, written.and(page))
        };
        ctx.spawn(
            work.instrument(span)
                .into_actor(self)
                .map(move |(pager, page), fetcher, ctx| fetcher.absorb(run_id, pager, page, ctx)),
        );
    }

    fn absorb(
        &mut self,
        run_id: u64,
        pager: Pager<Group>,
        page: Result<Option<Vec<Group>>, SyncError>,
        ctx: &mut Context<Self>,
    ) {
        let Some(sync) = self.sync(run_id) else {
            return;
        };
        let groups = match page {
            Ok(Some(groups)) => groups,
            Ok(None) => return self.listed(run_id, ctx),
            Err(err) => return self.finish(Err(err)),
        };
        let Some(walk) = &mut self.walk else { return };
        let write = sync.scope.includes(ResourceKind::Group);
        let mut resources = Vec::with_capacity(groups.len());
        let mut entitlements = Vec::with_capacity(groups.len());
        for group in groups {
            walk.names.insert(&group.name);
            if write {
                let resource = model::group_resource(&group.name);
                if sync.scope.wants_entitlements() {
                    entitlements.push(model::group_member_entitlement(&resource));
                }
                resources.push(resource);
            }
            walk.groups.push(group.name);
        }
        let batches = vec![
            Batch::Resources(resources),
            Batch::Entitlements(entitlements),
        ];
        self.read(run_id, pager, batches, ctx);
    }

    /// The listing is over: publish the names, then (when grants are
    /// wanted) wait for the users and sort the groups by how their members
    /// can be read.
    fn listed(&mut self, run_id: u64, ctx: &mut Context<Self>) {
        let Some(walk) = &mut self.walk else { return };
        let sync = walk.run.sync.clone();
        let groups = std::mem::take(&mut walk.groups);
        sync.progress.set_groups_total(groups.len() as u64);
        sync.directories
            .publish_groups(std::mem::take(&mut walk.names));
        if !sync.scope.includes(ResourceKind::Group) || !sync.scope.wants_grants() {
            return self.finish(Ok(()));
        }
        let span = fetch_span(&sync);
        let work = async move {
            let users = sync.directories.users(&sync.cancel).await?;
            let (mut addressable, mut unaddressable) = (VecDeque::new(), Vec::new());
            for group in groups {
                if cancellable(&sync, sync.client.can_list_group_members(&group)).await? {
                    addressable.push_back(group);
                } else {
                    unaddressable.push(group);
                }
            }
            Ok(Members {
                users,
                queue: addressable,
                in_flight: 0,
                unaddressable,
            })
        };
        ctx.spawn(work.instrument(span).into_actor(self).map(
            move |members: Result<Members, SyncError>, fetcher, ctx| {
                if fetcher.sync(run_id).is_none() {
                    return;
                }
                match members {
                    Ok(members) => {
                        if let Some(walk) = &mut fetcher.walk {
                            walk.members = Some(members);
                        }
                        fetcher.read_members(run_id, ctx);
                    }
                    Err(err) => fetcher.finish(Err(err)),
                }
            },
        ));
    }

    /// Keeps up to the tenant's concurrency of member reads in flight; when
    /// the queue is empty and the last read is back, reads the groups no
    /// endpoint can address, then ends the phase.
    fn read_members(&mut self, run_id: u64, ctx: &mut Context<Self>) {
        let Some(sync) = self.sync(run_id) else {
            return;
        };
        let Some(members) = self.walk.as_mut().and_then(|walk| walk.members.as_mut()) else {
            return;
        };
        let mut reads = Vec::new();
        while members.in_flight < sync.concurrency.max(1) {
            let Some(group) = members.queue.pop_front() else {
                break;
            };
            members.in_flight += 1;
            reads.push((group, members.users.clone()));
        }
        if reads.is_empty() && members.in_flight == 0 {
            let unaddressable = std::mem::take(&mut members.unaddressable);
            let users = members.users.clone();
            return self.read_unaddressable(run_id, unaddressable, users, ctx);
        }
        for (group, users) in reads {
            let sync = sync.clone();
            let span = fetch_span(&sync);
            let work = async move {
                let mut pager = cancellable(&sync, sync.client.group_members(&group)).await?;
                while let Some(page) = cancellable(&sync, pager.next_page()).await? {
                    let keys = page.into_iter().map(|user| user.user_key);
                    write_memberships(&sync, &users, &group, keys).await?;
                }
                sync.progress.group_done();
                Ok(())
            };
            ctx.spawn(work.instrument(span).into_actor(self).map(
                move |read: Result<(), SyncError>, fetcher, ctx| {
                    if fetcher.sync(run_id).is_none() {
                        return;
                    }
                    if let Err(err) = read {
                        return fetcher.finish(Err(err));
                    }
                    if let Some(members) =
                        fetcher.walk.as_mut().and_then(|walk| walk.members.as_mut())
                    {
                        members.in_flight -= 1;
                    }
                    fetcher.read_members(run_id, ctx);
                },
            ));
        }
    }

    fn read_unaddressable(
        &mut self,
        run_id: u64,
        groups: Vec<String>,
        users: Arc<UserDirectory>,
        ctx: &mut Context<Self>,
    ) {
        let Some(sync) = self.sync(run_id) else {
            return;
        };
        if groups.is_empty() {
            return self.finish(Ok(()));
        }
        tracing::info!(
            tenant = %sync.tenant,
            groups = groups.len(),
            users = users.len(),
            "group names with `/` cannot be addressed on this version; reading their members user by user"
        );
        let span = fetch_span(&sync);
        let work = async move {
            let keys = users.keys();
            let members =
                cancellable(&sync, sync.client.group_members_via_users(&groups, &keys)).await?;
            for (group, keys) in members {
                write_memberships(&sync, &users, &group, keys.into_iter()).await?;
                sync.progress.group_done();
            }
            Ok(())
        };
        ctx.spawn(work.instrument(span).into_actor(self).map(
            move |read: Result<(), SyncError>, fetcher, _| {
                if fetcher.sync(run_id).is_some() {
                    fetcher.finish(read);
                }
            },
        ));
    }

    fn finish(&mut self, result: Result<(), SyncError>) {
        if let Some(walk) = self.walk.take() {
            walk.run.finish(result);
        }
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
    sync.progress
        .skip(crate::sync::SkipReason::UnknownUser, unknown);
    sync.put(Batch::Grants(grants)).await
}

fn fetch_span(sync: &SyncContext) -> tracing::Span {
    tracing::info_span!("fetch", tenant = %sync.tenant, sync_id = %sync.sync_id, resource_type = PHASE)
}
