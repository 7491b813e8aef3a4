//! The users fetcher: pages every Confluence user into user resources and
//! publishes the userKey ↔ username directory the grant phases resolve with.
//! Between pages the actor holds the directory built so far.

use std::sync::Arc;

use actix::{Actor, Context};

use super::{Run, Runs, Walker};
use crate::sync::{Batch, SyncContext, SyncError, UserDirectory, users::record};
use baton::model::{self, ResourceKind};
use confluence::{Pager, User};

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

impl Walker for UsersFetcher {
    const PHASE: &'static str = "user";
    type Record = User;

    fn runs(&mut self) -> &mut Runs {
        &mut self.runs
    }

    fn pager(sync: &SyncContext) -> Pager<User> {
        sync.client.users()
    }

    fn begin(&mut self, run: Run) {
        self.listing = Some(Listing {
            run,
            directory: UserDirectory::default(),
        });
    }

    fn is_busy(&self) -> bool {
        self.listing.is_some()
    }

    fn serving(&self, run_id: u64) -> Option<Arc<SyncContext>> {
        self.listing.as_ref()?.run.serving(run_id)
    }

    fn absorb(&mut self, users: Vec<User>) -> Vec<Batch> {
        let Some(listing) = &mut self.listing else {
            return Vec::new();
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
        vec![Batch::Resources(resources)]
    }

    fn listed(&mut self, _: u64, _: &mut Context<Self>) {
        self.finish(Ok(()));
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
