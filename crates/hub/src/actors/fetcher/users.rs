//! The users fetcher: pages every Confluence user into user resources and
//! publishes the userKey ↔ username directory the grant phases resolve with.
//! While a page is read the pager travels with the read; between pages the
//! actor holds it, with the directory built so far.

use actix::{Actor, ActorFutureExt, AsyncContext, Context, Handler, ResponseFuture, WrapFuture};
use tracing::Instrument;

use super::{Fetch, Run, Runs, answered, busy};
use crate::sync::{Batch, SyncError, UserDirectory, cancellable, users::record};
use baton::model::{self, ResourceKind};
use confluence::{Pager, User};

const PHASE: &str = "user";

#[derive(Default)]
pub struct UsersFetcher {
    runs: Runs,
    listing: Option<Listing>,
}

struct Listing {
    run: Run,
    directory: UserDirectory,
}

impl Actor for UsersFetcher {
    type Context = Context<Self>;
}

impl Handler<Fetch> for UsersFetcher {
    type Result = ResponseFuture<Result<(), SyncError>>;

    fn handle(&mut self, Fetch(sync): Fetch, ctx: &mut Context<Self>) -> Self::Result {
        if self.listing.is_some() {
            return Box::pin(async { Err(busy(PHASE)) });
        }
        let pager = sync.client.users();
        let (run, answer) = self.runs.start(sync);
        let run_id = run.id;
        self.listing = Some(Listing {
            run,
            directory: UserDirectory::default(),
        });
        self.read(run_id, pager, None, ctx);
        Box::pin(answered(PHASE, answer))
    }
}

impl UsersFetcher {
    /// Writes the previous page's batch while the next page is read.
    fn read(
        &mut self,
        run_id: u64,
        mut pager: Pager<User>,
        batch: Option<Batch>,
        ctx: &mut Context<Self>,
    ) {
        let Some(listing) = &self.listing else { return };
        let sync = listing.run.sync.clone();
        let span = tracing::info_span!("fetch", tenant = %sync.tenant, sync_id = %sync.sync_id, resource_type = PHASE);
        let work = async move {
            let write = async {
                match batch {
                    Some(batch) => sync.put(batch).await,
                    None => Ok(()),
                }
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
        pager: Pager<User>,
        page: Result<Option<Vec<User>>, SyncError>,
        ctx: &mut Context<Self>,
    ) {
        if self
            .listing
            .as_ref()
            .is_none_or(|listing| listing.run.id != run_id)
        {
            return;
        }
        let users = match page {
            Ok(Some(users)) => users,
            Ok(None) => return self.finish(Ok(())),
            Err(err) => return self.finish(Err(err)),
        };
        let Some(listing) = &mut self.listing else {
            return;
        };
        let write = listing.run.sync.scope.includes(ResourceKind::User);
        let mut resources = Vec::with_capacity(users.len());
        for user in users {
            let Some(record) = record(&user) else {
                tracing::debug!(user_key = %user.user_key, "user without a username skipped");
                continue;
            };
            listing.directory.insert(&record.user_key, &record.username);
            if write {
                resources.push(model::user_resource(&record));
            }
        }
        self.read(run_id, pager, Some(Batch::Resources(resources)), ctx);
    }

    fn finish(&mut self, result: Result<(), SyncError>) {
        let Some(Listing { run, directory }) = self.listing.take() else {
            return;
        };
        if result.is_ok() {
            tracing::debug!(tenant = %run.sync.tenant, users = directory.len(), "users listed");
            run.sync.directories.publish_users(directory);
        }
        run.finish(result);
    }
}
