//! The spaces fetcher: pages spaces (current and archived, global and
//! personal, as the tenant's config allows) into space resources with their
//! 14 entitlements, then reads every space's permissions into grants, up to
//! the tenant's concurrency at once. The actor owns the walk: the pager
//! between pages, the keys of the spaces kept, the queue of permission reads
//! still to do and how many are in flight.

use std::collections::VecDeque;
use std::sync::Arc;

use actix::{Actor, ActorFutureExt, AsyncContext, Context, Handler, ResponseFuture, WrapFuture};
use tracing::Instrument;

use super::{Fetch, Run, Runs, answered, busy};
use crate::sync::spaces::{grants, wanted};
use crate::sync::{
    BATCH_SIZE, Batch, GroupSet, SkipReason, SyncContext, SyncError, UserDirectory, cancellable,
};
use baton::model::{self, ResourceKind};
use confluence::{Pager, Space};

const PHASE: &str = "space";

#[derive(Default)]
pub struct SpacesFetcher {
    runs: Runs,
    walk: Option<Walk>,
}

struct Walk {
    run: Run,
    spaces: Vec<String>,
    /// Filled once the listing ends and both directories are known.
    permissions: Option<Permissions>,
}

/// The permission reads of one sync.
struct Permissions {
    users: Arc<UserDirectory>,
    groups: Arc<GroupSet>,
    queue: VecDeque<String>,
    in_flight: usize,
}

impl Actor for SpacesFetcher {
    type Context = Context<Self>;
}

impl Handler<Fetch> for SpacesFetcher {
    type Result = ResponseFuture<Result<(), SyncError>>;

    fn handle(&mut self, Fetch(sync): Fetch, ctx: &mut Context<Self>) -> Self::Result {
        if self.walk.is_some() {
            return Box::pin(async { Err(busy(PHASE)) });
        }
        let pager = sync.client.spaces();
        let (run, answer) = self.runs.start(sync);
        let run_id = run.id;
        self.walk = Some(Walk {
            run,
            spaces: Vec::new(),
            permissions: None,
        });
        self.read(run_id, pager, Vec::new(), ctx);
        Box::pin(answered(PHASE, answer))
    }
}

impl SpacesFetcher {
    fn sync(&self, run_id: u64) -> Option<Arc<SyncContext>> {
        let walk = self.walk.as_ref().filter(|walk| walk.run.id == run_id)?;
        Some(walk.run.sync.clone())
    }

    /// Writes the previous page's batches while the next page is read.
    fn read(
        &mut self,
        run_id: u64,
        mut pager: Pager<Space>,
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
        pager: Pager<Space>,
        page: Result<Option<Vec<Space>>, SyncError>,
        ctx: &mut Context<Self>,
    ) {
        let Some(sync) = self.sync(run_id) else {
            return;
        };
        let spaces = match page {
            Ok(Some(spaces)) => spaces,
            Ok(None) => return self.listed(run_id, ctx),
            Err(err) => return self.finish(Err(err)),
        };
        let Some(walk) = &mut self.walk else { return };
        let write = sync.scope.includes(ResourceKind::Space);
        let mut resources = Vec::with_capacity(spaces.len());
        let mut entitlements = Vec::new();
        for space in spaces {
            if !wanted(&sync.settings, &space) {
                sync.progress.skip(SkipReason::ExcludedSpace, 1);
                continue;
            }
            if write {
                let description = space.description.as_deref().unwrap_or_default();
                let resource = model::space_resource(&space.key, &space.name, description);
                if sync.scope.wants_entitlements() {
                    entitlements.extend(model::space_entitlements(&resource));
                }
                resources.push(resource);
            }
            walk.spaces.push(space.key);
        }
        let mut batches = vec![Batch::Resources(resources)];
        batches.extend(
            entitlements
                .chunks(BATCH_SIZE)
                .map(|chunk| Batch::Entitlements(chunk.to_vec())),
        );
        self.read(run_id, pager, batches, ctx);
    }

    /// The listing is over: when grants are wanted, wait for both
    /// directories, then read the permissions space by space.
    fn listed(&mut self, run_id: u64, ctx: &mut Context<Self>) {
        let Some(walk) = &mut self.walk else { return };
        let sync = walk.run.sync.clone();
        let spaces = std::mem::take(&mut walk.spaces);
        sync.progress.set_spaces_total(spaces.len() as u64);
        if !sync.scope.includes(ResourceKind::Space) || !sync.scope.wants_grants() {
            return self.finish(Ok(()));
        }
        let span = fetch_span(&sync);
        let work = async move {
            let users = sync.directories.users(&sync.cancel).await?;
            let groups = sync.directories.groups(&sync.cancel).await?;
            Ok(Permissions {
                users,
                groups,
                queue: spaces.into(),
                in_flight: 0,
            })
        };
        ctx.spawn(work.instrument(span).into_actor(self).map(
            move |permissions: Result<Permissions, SyncError>, fetcher, ctx| {
                if fetcher.sync(run_id).is_none() {
                    return;
                }
                match permissions {
                    Ok(permissions) => {
                        if let Some(walk) = &mut fetcher.walk {
                            walk.permissions = Some(permissions);
                        }
                        fetcher.read_permissions(run_id, ctx);
                    }
                    Err(err) => fetcher.finish(Err(err)),
                }
            },
        ));
    }

    /// Keeps up to the tenant's concurrency of permission reads in flight;
    /// ends the phase when the queue is empty and the last read is back.
    fn read_permissions(&mut self, run_id: u64, ctx: &mut Context<Self>) {
        let Some(sync) = self.sync(run_id) else {
            return;
        };
        let Some(permissions) = self
            .walk
            .as_mut()
            .and_then(|walk| walk.permissions.as_mut())
        else {
            return;
        };
        let mut reads = Vec::new();
        while permissions.in_flight < sync.concurrency.max(1) {
            let Some(space_key) = permissions.queue.pop_front() else {
                break;
            };
            permissions.in_flight += 1;
            reads.push((
                space_key,
                permissions.users.clone(),
                permissions.groups.clone(),
            ));
        }
        if reads.is_empty() && permissions.in_flight == 0 {
            return self.finish(Ok(()));
        }
        for (space_key, users, groups) in reads {
            let sync = sync.clone();
            let span = fetch_span(&sync);
            let work = async move {
                let rows = cancellable(&sync, sync.client.space_permissions(&space_key)).await?;
                let grants = grants(&sync.progress, &space_key, rows, &users, &groups);
                sync.progress.space_done();
                sync.put(Batch::Grants(grants)).await
            };
            ctx.spawn(work.instrument(span).into_actor(self).map(
                move |read: Result<(), SyncError>, fetcher, ctx| {
                    if fetcher.sync(run_id).is_none() {
                        return;
                    }
                    if let Err(err) = read {
                        return fetcher.finish(Err(err));
                    }
                    if let Some(permissions) = fetcher
                        .walk
                        .as_mut()
                        .and_then(|walk| walk.permissions.as_mut())
                    {
                        permissions.in_flight -= 1;
                    }
                    fetcher.read_permissions(run_id, ctx);
                },
            ));
        }
    }

    fn finish(&mut self, result: Result<(), SyncError>) {
        if let Some(walk) = self.walk.take() {
            walk.run.finish(result);
        }
    }
}

fn fetch_span(sync: &SyncContext) -> tracing::Span {
    tracing::info_span!("fetch", tenant = %sync.tenant, sync_id = %sync.sync_id, resource_type = PHASE)
}
