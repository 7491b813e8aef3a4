//! One sync, from the writer's work file to the renamed c1z. It runs in the
//! Instance's context but holds no actor state: it asks the three fetchers
//! for their phases and gives them the writer's sink, and the writer thread
//! owns the file.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use actix::{Addr, Message};
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;

use super::fetcher::{Fetch, GroupsFetcher, SpacesFetcher, UsersFetcher};
use super::instance::SyncReport;
use super::status::{ObjectCounts, StatusBoard};
use super::writer;
use crate::config::TenantConfig;
use crate::sync::{Batch, Directories, Progress, SyncContext, SyncError, SyncScope};
use baton::c1z::{SyncType, WriterOptions};
use baton::model::{self, ResourceKind};
use confluence::ConfluenceClient;

/// The live addresses of the three fetchers, for one sync.
pub struct Fetchers {
    pub users: Addr<UsersFetcher>,
    pub groups: Addr<GroupsFetcher>,
    pub spaces: Addr<SpacesFetcher>,
}

pub struct SyncJob {
    pub tenant: TenantConfig,
    pub client: ConfluenceClient,
    pub final_path: PathBuf,
    pub scope: SyncScope,
    pub progress: Arc<Progress>,
    pub cancel: CancellationToken,
    pub sync_slots: Arc<Semaphore>,
    pub fetchers: Fetchers,
    pub board: StatusBoard,
}

impl SyncJob {
    pub async fn run(self) -> Result<SyncReport, SyncError> {
        let started = Instant::now();
        let _slot = tokio::select! {
            slot = self.sync_slots.clone().acquire_owned() => slot.map_err(|_| SyncError::Stopping)?,
            () = self.cancel.cancelled() => return Err(SyncError::Cancelled),
        };
        let stats_before = self.client.stats();
        // A bad token is answered as the anonymous user, not with a 401:
        // check who we are first, so it fails as bad credentials. Both may
        // sit in retry backoff against a failing server: stopping cancels them.
        let checks = async {
            self.client.current_user().await?;
            self.client.version().await
        };
        let version = tokio::select! {
            version = checks => version?,
            () = self.cancel.cancelled() => return Err(SyncError::Cancelled),
        };
        self.board.update(self.tenant.id.as_str(), |status| {
            status.confluence_version = Some(version.to_string());
        });

        let sync_type = if self.scope.skip_entitlements_and_grants {
            SyncType::ResourcesOnly
        } else {
            SyncType::Full
        };
        let options = WriterOptions {
            sync_type,
            expand_grants: self.scope.expand_grants,
            ..WriterOptions::default()
        };
        let sync_id = options.sync_id.clone();
        if let Some(dir) = self.final_path.parent() {
            // Tenant and task directories are private to this user (0700).
            let mut private = tokio::fs::DirBuilder::new();
            private.recursive(true).mode(0o700);
            private.create(dir).await.map_err(|err| {
                SyncError::Internal(format!(
                    "cannot create {}: {err}; check that the data dir is writable",
                    dir.display()
                ))
            })?;
        }
        tracing::Span::current().record("sync_id", sync_id.as_str());
        let (sink, writer) =
            writer::start(self.tenant.id.as_str(), self.final_path.clone(), options).await?;

        let context = Arc::new(SyncContext {
            tenant: self.tenant.id.to_string(),
            sync_id: sync_id.clone(),
            client: self.client.clone(),
            settings: self.tenant.sync.clone(),
            scope: self.scope.clone(),
            sink: Arc::new(sink),
            directories: Directories::default(),
            progress: self.progress.clone(),
            cancel: self.cancel.clone(),
            concurrency: self.tenant.confluence.concurrency_ceiling(),
        });

        let fetched = self.fetch_all(&context).await;
        // The fetchers hold clones of the context; make sure nothing writes
        // after this point, whatever happened.
        self.cancel.cancel();
        if let Err(err) = fetched {
            // A fetcher that lost the writer reports that; the writer knows why.
            let stopped = writer.abort().await;
            return Err(match err {
                SyncError::WriterLost(_) if !matches!(stopped, SyncError::Cancelled) => stopped,
                err => err,
            });
        }
        let finished = writer.finish().await?;
        let snapshot = self.progress.snapshot();
        Ok(SyncReport {
            sync_id,
            path: finished.path,
            file_size: finished.size,
            sha256: finished.sha256,
            counts: ObjectCounts {
                user: snapshot.users,
                group: snapshot.groups,
                space: snapshot.spaces,
                entitlement: snapshot.entitlements,
                // The file's count: grant expansion adds grants no fetcher sent.
                grant: finished.counts.grants,
            },
            skipped: snapshot.skipped,
            client: self.client.stats().since(&stats_before),
            duration: started.elapsed(),
        })
    }

    /// Runs the three phases at once; the first failure cancels the others,
    /// and all three have returned before this does.
    async fn fetch_all(&self, context: &Arc<SyncContext>) -> Result<(), SyncError> {
        if self.tenant.sync.skip_full_sync {
            // Baton's `--skip-full-sync`: a sync run that starts and ends with no data.
            tracing::info!(
                tenant = self.tenant.id.as_str(),
                "skip_full_sync is set: writing an empty full sync"
            );
            return Ok(());
        }
        let types: Vec<_> = ResourceKind::ALL
            .into_iter()
            .filter(|kind| self.scope.includes(*kind))
            .map(model::resource_type)
            .collect();
        context.put(Batch::ResourceTypes(types)).await?;

        let Fetchers {
            users,
            groups,
            spaces,
        } = &self.fetchers;
        let results = futures::join!(
            self.phase("user", users, context),
            self.phase("group", groups, context),
            self.phase("space", spaces, context),
        );
        // Report the failure that caused the others to be cancelled, not
        // the cancellations themselves.
        let mut cancelled = false;
        for result in [results.0, results.1, results.2] {
            match result {
                Ok(()) => {}
                Err(SyncError::Cancelled) => cancelled = true,
                Err(err) => return Err(err),
            }
        }
        if cancelled {
            Err(SyncError::Cancelled)
        } else {
            Ok(())
        }
    }

    async fn phase<A>(
        &self,
        name: &'static str,
        fetcher: &Addr<A>,
        context: &Arc<SyncContext>,
    ) -> Result<(), SyncError>
    where
        A: actix::Actor<Context = actix::Context<A>> + actix::Handler<Fetch>,
        <Fetch as Message>::Result: Send,
    {
        let result = match fetcher.send(Fetch(context.clone())).await {
            Ok(result) => result,
            Err(err) => Err(SyncError::FetcherLost {
                phase: name,
                detail: err.to_string(),
            }),
        };
        if result.is_err() {
            self.cancel.cancel();
        }
        result
    }
}
