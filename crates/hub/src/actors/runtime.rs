//! `confluence-hub run`: builds the control-plane runtime (admin HTTP,
//! signals, config watching, telemetry export) and the actix system with the
//! Supervisor, and ties them together. Reload and shutdown requests cross
//! from the control plane to the Supervisor as messages.

use std::future::Future;
use std::os::unix::fs::{DirBuilderExt, MetadataExt};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use actix::Addr;
use sha2::{Digest, Sha256};
use tokio::sync::watch;

use super::instance::LifecycleSettings;
use super::shard;
use super::status::StatusBoard;
use super::supervisor::{ApplyConfig, RejectConfig, Shutdown, Supervisor, SyncNow, SyncNowError};
use crate::admin::{self, AdminAccess, AdminState, HubInfo};
use crate::config::HubConfig;
use crate::history::HistoryWriter;
use crate::telemetry::{self, TelemetryOptions};

/// Runs the hub until SIGTERM or SIGINT; exit code 0 after a graceful stop.
pub fn run(config_path: &Path, logging: TelemetryOptions) -> anyhow::Result<ExitCode> {
    run_until(config_path, logging, std::future::pending())
}

/// Like [`run`], but also stops gracefully when `stop` completes (the demo
/// runs the hub in its own process this way).
pub fn run_until(
    config_path: &Path,
    logging: TelemetryOptions,
    stop: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<ExitCode> {
    let config = match HubConfig::load(config_path) {
        Ok(config) => config,
        Err(err) => {
            for problem in err.problems() {
                eprintln!("config error: {problem}");
            }
            anyhow::bail!(
                "{} is not a valid config; nothing was started",
                config_path.display()
            );
        }
    };
    serve(
        config,
        ConfigSource::File(config_path.to_owned()),
        logging,
        stop,
    )
}

/// Where the running config came from, which decides how it reloads.
#[derive(Clone, Debug)]
pub enum ConfigSource {
    /// A TOML file: SIGHUP, `POST /reload` and the file watch re-read it.
    File(PathBuf),
    /// Built once at start (from `BATON_*` variables); a reload explains
    /// why it cannot happen.
    Fixed { why_no_reload: String },
}

/// Runs the hub on an already validated config until SIGTERM, SIGINT or `stop`.
pub fn serve(
    config: HubConfig,
    source: ConfigSource,
    logging: TelemetryOptions,
    stop: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<ExitCode> {
    let telemetry = telemetry::init(logging.with_settings(&config.telemetry))?;
    // The control plane (admin HTTP, signals, config watching) shares the
    // telemetry runtime: never an actix arbiter.
    let control = telemetry.runtime();
    let ordinal = shard::current_ordinal(config.sharding.replicas)?;
    let board = StatusBoard::new(ordinal, config.sharding.replicas);
    let listener = control.block_on(admin::bind(config.hub.admin_listen))?;
    create_data_dir(&config.hub.data_dir)?;
    super::supervisor::remove_temp_files(&config.hub.data_dir);
    super::supervisor::remove_leftover_task_files(&config.hub.data_dir);
    tracing::info!(
        admin = %config.hub.admin_listen,
        data_dir = %config.hub.data_dir.display(),
        "starting confluence-hub"
    );
    if let ConfigSource::Fixed { why_no_reload } = &source {
        tracing::info!("{why_no_reload}");
    }
    let admin_access = AdminAccess::new(config.hub.admin_token.clone(), config.hub.admin_listen);
    if admin_access.guarded_routes_closed() {
        tracing::warn!(
            admin = %config.hub.admin_listen,
            "the admin endpoint is reachable from other hosts and hub.admin_token is not set: \
             it serves only /healthz, /readyz and /metrics; set hub.admin_token to use /status and /reload"
        );
    }

    let started_at = SystemTime::now();
    let history = HistoryWriter::spawn()
        .map_err(|err| anyhow::anyhow!("cannot start the history writer thread: {err}"))?;
    let live = Arc::new(watch::Sender::new(LiveSettings::of(&config)));
    let watches_file = matches!(source, ConfigSource::File(_));
    let system = actix::System::new();
    let (supervisor, system_handle) = system.block_on(async {
        let lifecycle = LifecycleSettings::from_env();
        let supervisor = Supervisor::new(config, ordinal, board.clone(), lifecycle, history.log());
        let supervisor = actix::Actor::start(supervisor);
        (supervisor, actix::System::current())
    });

    let reloader = Reloader {
        source,
        supervisor: supervisor.clone(),
        admin: admin_access.clone(),
        live: live.clone(),
        loaded: Arc::new(watch::Sender::new(None)),
    };
    let (stop_admin, admin_stopped) = tokio::sync::oneshot::channel::<()>();
    let admin_state = AdminState {
        board,
        metrics: {
            let metrics = telemetry.metrics();
            Arc::new(move || metrics.render())
        },
        reload: Arc::new({
            let reloader = reloader.clone();
            move || {
                let reloader = reloader.clone();
                Box::pin(async move { reloader.reload().await })
            }
        }),
        sync_now: Arc::new({
            let supervisor = supervisor.clone();
            move |tenant| {
                let supervisor = supervisor.clone();
                Box::pin(async move {
                    supervisor.send(SyncNow(tenant)).await.unwrap_or_else(|_| {
                        Err(SyncNowError::Refused(
                            "the hub is stopping; its supervisor no longer takes requests".into(),
                        ))
                    })
                })
            }
        }),
        access: admin_access,
        info: HubInfo {
            version: env!("CARGO_PKG_VERSION"),
            started_at,
        },
    };
    control.spawn(async move {
        let shutdown = async {
            let _ = admin_stopped.await;
        };
        if let Err(err) = admin::serve(listener, admin_state, shutdown).await {
            tracing::error!(error = %err, "admin endpoint failed");
        }
    });
    control.spawn(signals(
        reloader.clone(),
        supervisor.clone(),
        system_handle,
        live.subscribe(),
        stop,
    ));
    if watches_file {
        control.spawn(watch_config(reloader, live.subscribe()));
    }

    system.run()?;
    let _ = stop_admin.send(());
    if !history.flush(HISTORY_FLUSH_TIMEOUT) {
        tracing::warn!("the last history records may not have reached the tenants' files");
    }
    if let Err(err) = telemetry.shutdown(telemetry::DEFAULT_SHUTDOWN_TIMEOUT) {
        eprintln!("warning: telemetry did not flush cleanly: {err}");
    }
    Ok(ExitCode::SUCCESS)
}

/// Hub settings the control plane applies on reload.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct LiveSettings {
    shutdown_grace: Duration,
    /// How often to look at the config file; `None` or zero: never.
    watch_config: Option<Duration>,
}

impl LiveSettings {
    fn of(config: &HubConfig) -> Self {
        Self {
            shutdown_grace: config.hub.shutdown_grace,
            watch_config: config.hub.watch_config.filter(|every| !every.is_zero()),
        }
    }
}

/// Loads the config off the actor threads and hands it to the Supervisor.
#[derive(Clone)]
struct Reloader {
    source: ConfigSource,
    supervisor: Addr<Supervisor>,
    admin: AdminAccess,
    live: Arc<watch::Sender<LiveSettings>>,
    /// The digest of the file content the last applied config came from.
    loaded: Arc<watch::Sender<Option<FileDigest>>>,
}

type FileDigest = [u8; 32];

fn file_digest(path: &Path) -> Option<FileDigest> {
    std::fs::read(path)
        .ok()
        .map(|bytes| Sha256::digest(bytes).into())
}

impl Reloader {
    async fn reload(&self) -> Result<serde_json::Value, String> {
        let path = match &self.source {
            ConfigSource::File(path) => path.clone(),
            ConfigSource::Fixed { why_no_reload } => {
                tracing::warn!("{why_no_reload}");
                return Err(why_no_reload.clone());
            }
        };
        let (digest, loaded) =
            tokio::task::spawn_blocking(move || (file_digest(&path), HubConfig::load(&path)))
                .await
                .map_err(|err| format!("config loader failed: {err}"))?;
        match loaded {
            Ok(config) => {
                self.loaded.send_replace(digest);
                let admin_token = config.hub.admin_token.clone();
                let live = LiveSettings::of(&config);
                let report = self
                    .supervisor
                    .send(ApplyConfig(Box::new(config)))
                    .await
                    .map_err(|err| format!("the supervisor is not running: {err}"))??;
                self.admin.set_token(admin_token);
                self.live.send_if_modified(|current| {
                    let changed = *current != live;
                    if changed {
                        tracing::info!(?live.shutdown_grace, ?live.watch_config, "shutdown grace and config watching follow the new config");
                    }
                    *current = live;
                    changed
                });
                serde_json::to_value(report).map_err(|err| err.to_string())
            }
            Err(err) => {
                let message = err.to_string();
                self.supervisor.do_send(RejectConfig(err));
                Err(message)
            }
        }
    }
}

/// How long the exit waits for history records still queued.
const HISTORY_FLUSH_TIMEOUT: Duration = Duration::from_secs(5);

/// Time allowed after the grace period for cancelled syncs to clean up.
const CLEANUP_MARGIN: Duration = Duration::from_secs(15);

/// SIGHUP reloads; SIGTERM, SIGINT or `stop` stop gracefully (a second
/// signal stops now).
async fn signals(
    reloader: Reloader,
    supervisor: Addr<Supervisor>,
    system: actix::System,
    live: watch::Receiver<LiveSettings>,
    stop: impl Future<Output = ()> + Send + 'static,
) {
    use tokio::signal::unix::{SignalKind, signal};
    let mut stop = std::pin::pin!(stop);
    let (Ok(mut hangup), Ok(mut terminate), Ok(mut interrupt)) = (
        signal(SignalKind::hangup()),
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) else {
        tracing::error!("cannot install signal handlers; stop the hub with SIGKILL");
        return;
    };
    loop {
        tokio::select! {
            _ = hangup.recv() => {
                tracing::info!("SIGHUP: reloading config");
                let _ = reloader.reload().await;
            }
            _ = terminate.recv() => break,
            _ = interrupt.recv() => break,
            () = &mut stop => break,
        }
    }
    let grace = live.borrow().shutdown_grace;
    tracing::info!(
        ?grace,
        "stopping: in-flight syncs that make progress get the grace period"
    );
    let stopped = supervisor.send(Shutdown { grace });
    tokio::select! {
        _ = stopped => {}
        () = tokio::time::sleep(grace + CLEANUP_MARGIN) => {
            tracing::error!("tenants did not stop within the grace period; exiting anyway");
        }
        _ = terminate.recv() => tracing::warn!("second signal: stopping now"),
        _ = interrupt.recv() => tracing::warn!("second signal: stopping now"),
    }
    system.stop();
}

/// Reloads when the config file's content changes: Kubernetes rewrites a
/// mounted ConfigMap but sends no SIGHUP. The period follows reloads.
async fn watch_config(reloader: Reloader, mut live: watch::Receiver<LiveSettings>) {
    let ConfigSource::File(watched) = reloader.source.clone() else {
        return;
    };
    let digest = |path: PathBuf| async move {
        tokio::task::spawn_blocking(move || file_digest(&path))
            .await
            .ok()
            .flatten()
    };
    let mut loaded = reloader.loaded.subscribe();
    let mut last = digest(watched.clone()).await;
    loop {
        let every = live.borrow_and_update().watch_config;
        let tick = async {
            match every {
                Some(every) => tokio::time::sleep(every).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            () = tick => {}
            changed = live.changed() => {
                if changed.is_err() {
                    return;
                }
                continue;
            }
            changed = loaded.changed() => {
                if changed.is_err() {
                    return;
                }
                // A reload applied the file as it was when it was read, not
                // as it is now: a change written since is still to be seen.
                if let Some(applied) = *loaded.borrow_and_update() {
                    last = Some(applied);
                }
                continue;
            }
        }
        let current = digest(watched.clone()).await;
        if current.is_some() && current != last {
            tracing::info!(path = %watched.display(), "config file changed: reloading");
            last = current;
            let _ = reloader.reload().await;
        }
    }
}

/// Creates the data dir (and missing parents) with mode 0700; warns when an
/// existing one lets other users in, since it holds every tenant's data.
fn create_data_dir(data_dir: &Path) -> anyhow::Result<()> {
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(data_dir)
        .map_err(|err| {
            anyhow::anyhow!(
                "cannot create data_dir {}: {err}; point hub.data_dir at a writable directory",
                data_dir.display()
            )
        })?;
    let mode = std::fs::metadata(data_dir).map_or(0, |metadata| metadata.mode());
    if mode & 0o077 != 0 {
        tracing::warn!(
            data_dir = %data_dir.display(),
            mode = format!("{:o}", mode & 0o777),
            "the data dir lets other users read it; run chmod 700 on it"
        );
    }
    Ok(())
}
