//! One sync of one tenant through the same actor tree the hub runs (an
//! on-demand Instance with its fetchers and the writer pool), for the
//! `sync` command. Ctrl-C cancels the sync and removes its temp files.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use actix::Actor;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;

use super::instance::{
    Instance, InstanceSpec, LifecycleSettings, Mode, RunSync, Stop, SyncReport, SyncTarget, Trigger,
};
use super::status::StatusBoard;
use crate::config::TenantConfig;
use crate::sync::{Progress, SyncError, SyncScope};

/// Runs the sync to completion on a fresh actix system; blocks the caller.
pub fn sync_once(
    tenant: TenantConfig,
    out: PathBuf,
    progress: Arc<Progress>,
) -> Result<SyncReport, SyncError> {
    sync_once_scoped(tenant, out, SyncScope::default(), progress)
}

/// [`sync_once`] of part of the tenant, or with grants expanded.
pub fn sync_once_scoped(
    tenant: TenantConfig,
    out: PathBuf,
    scope: SyncScope,
    progress: Arc<Progress>,
) -> Result<SyncReport, SyncError> {
    let system = actix::System::new();
    system.block_on(async move {
        let tenant_dir = out.parent().map(PathBuf::from).unwrap_or_default();
        let spec = InstanceSpec {
            tenant,
            generation: 1,
            mode: Mode::OnDemand,
            tenant_dir,
            board: StatusBoard::new(0, 1),
            sync_slots: Arc::new(Semaphore::new(1)),
            lifecycle: LifecycleSettings::default(),
            restarted: false,
            history: None,
        };
        let instance = Instance::new(spec).start();
        let cancel = CancellationToken::new();
        let mut request = RunSync::new(Trigger::OneShot, SyncTarget::Path(out));
        request.cancel = cancel.clone();
        request.progress = progress;
        request.scope = scope;
        let interrupt = cancel.clone();
        actix::spawn(async move {
            if tokio::signal::ctrl_c().await.is_ok() {
                eprintln!("interrupted: cancelling the sync");
                interrupt.cancel();
            }
        });
        let result = instance.send(request).await.unwrap_or_else(|err| {
            Err(SyncError::Internal(format!(
                "the tenant actor stopped: {err}"
            )))
        });
        let _ = instance
            .send(Stop {
                grace: Duration::ZERO,
            })
            .await;
        result
    })
}
