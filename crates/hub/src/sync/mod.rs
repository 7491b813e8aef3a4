//! One sync of one tenant: fetch users, groups and spaces from Confluence and
//! stream them, as Baton objects, into a sink (the c1z writer). The three
//! fetch phases run concurrently; grants wait only for the directories they
//! need (users for memberships, users and groups for space permissions), so
//! every grant's principal is a resource of the same sync.
//!
//! This module knows nothing of actors: the hub's fetcher actors
//! (`actors::fetcher`) own each phase's listing and call the conversions
//! here ([`users::record`], [`groups::memberships`], [`spaces::grants`]), and
//! the sink is a trait the sync's writer thread implements.

mod directory;
pub mod groups;
mod progress;
pub mod spaces;
pub mod users;

use std::collections::BTreeSet;
use std::sync::Arc;

use futures::future::BoxFuture;
use tokio_util::sync::CancellationToken;

use crate::config::SyncSettings;
use baton::model::ResourceKind;
use baton::pb::c1::connector::v2::{Entitlement, Grant, Resource, ResourceType};
use confluence::ConfluenceClient;

pub use self::directory::{Directories, GroupSet, UserDirectory};
pub use self::progress::{Progress, ProgressSnapshot, SkipReason, Skipped};

/// Objects on their way to the c1z file, in batches.
#[derive(Debug)]
pub enum Batch {
    ResourceTypes(Vec<ResourceType>),
    Resources(Vec<Resource>),
    Entitlements(Vec<Entitlement>),
    Grants(Vec<Grant>),
}

impl Batch {
    pub fn len(&self) -> usize {
        match self {
            Self::ResourceTypes(items) => items.len(),
            Self::Resources(items) => items.len(),
            Self::Entitlements(items) => items.len(),
            Self::Grants(items) => items.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Objects per batch: large enough to amortise a transaction, small enough
/// that a sync never holds much in memory.
pub const BATCH_SIZE: usize = 500;

/// Where a sync's batches go. Awaiting `put` is the backpressure: a fetcher
/// never runs ahead of the writer by more than one batch.
pub trait BatchSink: Send + Sync {
    fn put(&self, batch: Batch) -> BoxFuture<'_, Result<(), SyncError>>;
}

/// What a sync covers, from the tenant's config and the C1 task.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SyncScope {
    pub resource_types: BTreeSet<ResourceKind>,
    pub skip_entitlements_and_grants: bool,
    pub skip_grants: bool,
    /// Expand group-held grants to the groups' members in the file
    /// (`SyncFullTask.skip_expand_grants = false`). Off by default: the file
    /// records what to expand and ConductorOne expands it.
    pub expand_grants: bool,
}

impl Default for SyncScope {
    fn default() -> Self {
        Self {
            resource_types: ResourceKind::ALL.into_iter().collect(),
            skip_entitlements_and_grants: false,
            skip_grants: false,
            expand_grants: false,
        }
    }
}

impl SyncScope {
    pub fn includes(&self, kind: ResourceKind) -> bool {
        self.resource_types.contains(&kind)
    }

    pub fn wants_entitlements(&self) -> bool {
        !self.skip_entitlements_and_grants
    }

    pub fn wants_grants(&self) -> bool {
        !self.skip_entitlements_and_grants && !self.skip_grants
    }
}

/// Everything one running sync shares between its three fetch phases.
pub struct SyncContext {
    pub tenant: String,
    pub sync_id: String,
    pub client: ConfluenceClient,
    pub settings: SyncSettings,
    pub scope: SyncScope,
    pub sink: Arc<dyn BatchSink>,
    pub directories: Directories,
    pub progress: Arc<Progress>,
    pub cancel: CancellationToken,
    /// Concurrent member/permission reads within the tenant's bounds.
    pub concurrency: usize,
}

impl SyncContext {
    /// Sends a batch unless it is empty, counting what was written.
    pub async fn put(&self, batch: Batch) -> Result<(), SyncError> {
        if batch.is_empty() {
            return Ok(());
        }
        let (kind, count) = match &batch {
            Batch::ResourceTypes(_) => (None, 0),
            Batch::Resources(items) => (items.first().and_then(resource_kind), items.len()),
            Batch::Entitlements(items) => (Some(progress::Counted::Entitlement), items.len()),
            Batch::Grants(items) => (Some(progress::Counted::Grant), items.len()),
        };
        self.cancelled()?;
        self.sink.put(batch).await?;
        if let Some(kind) = kind {
            self.progress.add(kind, count as u64);
        }
        Ok(())
    }

    /// `Err(Cancelled)` once the sync has been cancelled.
    pub fn cancelled(&self) -> Result<(), SyncError> {
        if self.cancel.is_cancelled() {
            Err(SyncError::Cancelled)
        } else {
            Ok(())
        }
    }
}

/// Awaits `work` unless the sync is cancelled first (dropping the request).
pub(crate) async fn cancellable<T, E>(
    context: &SyncContext,
    work: impl std::future::Future<Output = Result<T, E>>,
) -> Result<T, SyncError>
where
    SyncError: From<E>,
{
    tokio::select! {
        result = work => result.map_err(SyncError::from),
        () = context.cancel.cancelled() => Err(SyncError::Cancelled),
    }
}

fn resource_kind(resource: &Resource) -> Option<progress::Counted> {
    let id = resource.id.as_ref()?;
    match ResourceKind::parse(&id.resource_type)? {
        ResourceKind::User => Some(progress::Counted::User),
        ResourceKind::Group => Some(progress::Counted::Group),
        ResourceKind::Space => Some(progress::Counted::Space),
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    #[error(transparent)]
    Confluence(#[from] confluence::ConfluenceError),
    #[error(transparent)]
    C1z(#[from] baton::c1z::C1zError),
    #[error("the sync was cancelled")]
    Cancelled,
    #[error(
        "a sync of this tenant is already running (started {started_ago:?} ago); wait for it to finish"
    )]
    AlreadyRunning { started_ago: std::time::Duration },
    #[error("the tenant is stopping; no new sync starts")]
    Stopping,
    #[error(
        "the {phase} fetcher stopped unexpectedly ({detail}); it is being restarted, retry the sync"
    )]
    FetcherLost { phase: &'static str, detail: String },
    #[error("the c1z writer pool is unavailable ({0}); the hub is shutting down or overloaded")]
    WriterLost(String),
    #[error("{0}")]
    Internal(String),
}

impl SyncError {
    /// A short stable label for metrics and status (`error` variants double as labels).
    pub fn label(&self) -> &'static str {
        match self {
            Self::Confluence(err) => err.label(),
            Self::C1z(_) => "c1z",
            Self::Cancelled => "cancelled",
            Self::AlreadyRunning { .. } => "already_running",
            Self::Stopping => "stopping",
            Self::FetcherLost { .. } => "fetcher_lost",
            Self::WriterLost(_) => "writer_lost",
            Self::Internal(_) => "internal",
        }
    }
}
