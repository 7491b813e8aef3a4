//! The spaces fetcher: pages spaces (current and archived, global and
//! personal, as the tenant's config allows) into space resources with their
//! 14 entitlements, then reads every space's permissions into grants, up to
//! the tenant's concurrency at once. The actor owns the walk: the keys of
//! the spaces kept, then the queue of permission reads still to do.

use std::sync::Arc;

use actix::{Actor, Context};

use super::{ReadQueue, Run, Runs, Walker, spawn_step};
use crate::sync::spaces::{grants, wanted};
use crate::sync::{
    BATCH_SIZE, Batch, GroupSet, SkipReason, SyncContext, SyncError, UserDirectory, cancellable,
};
use baton::model::{self, ResourceKind};
use confluence::{Pager, Space};

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
    reads: ReadQueue<String>,
}

impl Actor for SpacesFetcher {
    type Context = Context<Self>;
}

impl Walker for SpacesFetcher {
    const PHASE: &'static str = "space";
    type Record = Space;

    fn runs(&mut self) -> &mut Runs {
        &mut self.runs
    }

    fn pager(sync: &SyncContext) -> Pager<Space> {
        sync.client.spaces()
    }

    fn begin(&mut self, run: Run) {
        self.walk = Some(Walk {
            run,
            spaces: Vec::new(),
            permissions: None,
        });
    }

    fn is_busy(&self) -> bool {
        self.walk.is_some()
    }

    fn serving(&self, run_id: u64) -> Option<Arc<SyncContext>> {
        self.walk.as_ref()?.run.serving(run_id)
    }

    fn absorb(&mut self, spaces: Vec<Space>) -> Vec<Batch> {
        let Some(walk) = &mut self.walk else {
            return Vec::new();
        };
        let sync = &walk.run.sync;
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
        batches
    }

    /// When grants are wanted, waits for both directories, then reads the
    /// permissions space by space.
    fn listed(&mut self, run_id: u64, ctx: &mut Context<Self>) {
        let Some(walk) = &mut self.walk else {
            return;
        };
        let sync = walk.run.sync.clone();
        let spaces = std::mem::take(&mut walk.spaces);
        sync.progress.set_spaces_total(spaces.len() as u64);
        if !sync.scope.includes(ResourceKind::Space) || !sync.scope.wants_grants() {
            return self.finish(Ok(()));
        }
        let directories = async move {
            let users = sync.directories.users(&sync.cancel).await?;
            let groups = sync.directories.groups(&sync.cancel).await?;
            Ok(Permissions {
                users,
                groups,
                reads: ReadQueue::new(spaces),
            })
        };
        spawn_step(
            self,
            ctx,
            run_id,
            directories,
            move |fetcher, permissions, ctx| {
                if let Some(walk) = &mut fetcher.walk {
                    walk.permissions = Some(permissions);
                }
                fetcher.read_permissions(run_id, ctx);
            },
        );
    }

    fn finish(&mut self, result: Result<(), SyncError>) {
        if let Some(walk) = self.walk.take() {
            walk.run.finish(result);
        }
    }
}

impl SpacesFetcher {
    /// Keeps up to the tenant's concurrency of permission reads in flight;
    /// ends the phase when the last is back.
    fn read_permissions(&mut self, run_id: u64, ctx: &mut Context<Self>) {
        let Some(sync) = self.serving(run_id) else {
            return;
        };
        let Some(permissions) = self
            .walk
            .as_mut()
            .and_then(|walk| walk.permissions.as_mut())
        else {
            return;
        };
        if permissions.reads.is_drained() {
            return self.finish(Ok(()));
        }
        let (users, groups) = (permissions.users.clone(), permissions.groups.clone());
        for space_key in permissions.reads.start(sync.concurrency) {
            let (sync, users, groups) = (sync.clone(), users.clone(), groups.clone());
            let read = async move {
                let rows = cancellable(&sync, sync.client.space_permissions(&space_key)).await?;
                let grants = grants(&sync.progress, &space_key, rows, &users, &groups);
                sync.progress.space_done();
                sync.put(Batch::Grants(grants)).await
            };
            spawn_step(self, ctx, run_id, read, move |fetcher, (), ctx| {
                if let Some(permissions) = fetcher
                    .walk
                    .as_mut()
                    .and_then(|walk| walk.permissions.as_mut())
                {
                    permissions.reads.finished_one();
                }
                fetcher.read_permissions(run_id, ctx);
            });
        }
    }
}
