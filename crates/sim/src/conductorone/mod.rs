//! A ConductorOne simulator: token endpoint and BatonService over TLS, task
//! queues driven by a control API, upload verification and decoding. Runs on its own
//! thread and tokio runtime, in process ([`ConductorOneSim`]) or as
//! `confluence-hub sim conductorone`.

mod control;
mod credentials;
mod decode;
mod server;
mod service;
mod state;
mod tasks;
mod tls;
mod token;

use std::io::{self, Write};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use tokio::sync::watch;

pub use credentials::{PublicJwk, SimTenant, TenantsFile, gen_credentials};
pub use decode::UploadContents;
pub use state::{
    FinishRecord, HelloRecord, StateError, TaskRecord, TaskState, TenantFaults, TenantStats,
    UploadRecord,
};
pub use tasks::{EntitlementRef, RandomPasswordRequest, ResourceRef, SimTask, SyncOptions};

use state::{Pacing, SimState};

/// How the simulator is set up.
#[derive(Clone, Debug)]
pub struct SimOptions {
    pub tenants: Vec<SimTenant>,
    /// HTTPS port; 0 picks a free one.
    pub port: u16,
    /// Control API port; 0 picks a free one.
    pub control_port: u16,
    /// `next_poll` sent with every GetTask answer.
    pub next_poll: Duration,
    /// `next_heartbeat` sent with GetTask and Heartbeat answers.
    pub next_heartbeat: Duration,
    /// Lifetime of issued access tokens (per tenant: [`TenantFaults::token_lifetime_secs`]).
    pub token_lifetime: Duration,
    /// Also write every verified upload here.
    pub upload_dir: Option<PathBuf>,
}

impl Default for SimOptions {
    fn default() -> Self {
        Self {
            tenants: Vec::new(),
            port: 0,
            control_port: 0,
            next_poll: Duration::from_secs(1),
            next_heartbeat: Duration::from_secs(1),
            token_lifetime: Duration::from_secs(3600),
            upload_dir: None,
        }
    }
}

/// A running simulator. Stops on [`ConductorOneSim::shutdown`] or drop.
pub struct ConductorOneSim {
    addr: SocketAddr,
    control_addr: SocketAddr,
    ca_pem: String,
    state: Arc<SimState>,
    open_connections: Arc<AtomicUsize>,
    stop: watch::Sender<bool>,
    thread: Option<JoinHandle<()>>,
}

impl ConductorOneSim {
    /// Starts on 127.0.0.1 and returns once both ports accept connections.
    pub fn start(options: SimOptions) -> io::Result<Self> {
        let certificate = tls::generate().map_err(io::Error::other)?;
        let pacing = Pacing {
            next_poll: options.next_poll,
            next_heartbeat: options.next_heartbeat,
            token_lifetime: options.token_lifetime,
        };
        let state = Arc::new(
            SimState::new(options.tenants, pacing)
                .map_err(|err| io::Error::new(io::ErrorKind::InvalidInput, err))?,
        );
        let (stop, stop_rx) = watch::channel(false);
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let open_connections = Arc::new(AtomicUsize::new(0));
        let ports = server::Ports {
            https: options.port,
            control: options.control_port,
            open: open_connections.clone(),
        };
        let server_state = state.clone();
        let server_config = certificate.server_config;
        let upload_dir = options.upload_dir;
        let thread = std::thread::Builder::new()
            .name("c1-sim".into())
            .spawn(move || {
                let runtime = tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(2)
                    .thread_name("c1-sim-worker")
                    .enable_all()
                    .build();
                match runtime {
                    Ok(runtime) => runtime.block_on(server::serve(
                        server_state,
                        server_config,
                        upload_dir,
                        ports,
                        ready_tx,
                        stop_rx,
                    )),
                    Err(err) => {
                        let _ = ready_tx.send(Err(err));
                    }
                }
            })?;
        let (addr, control_addr) = ready_rx
            .recv()
            .map_err(|_| io::Error::other("the simulator thread stopped before it was ready"))??;
        Ok(Self {
            addr,
            control_addr,
            ca_pem: certificate.ca_pem,
            state,
            open_connections,
            stop,
            thread: Some(thread),
        })
    }

    /// The HTTPS (token + BatonService) address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn control_addr(&self) -> SocketAddr {
        self.control_addr
    }

    /// `127.0.0.1:PORT`, for `C1Settings.api_host`.
    pub fn api_host(&self) -> String {
        self.addr.to_string()
    }

    /// The CA certificate (PEM) clients must trust.
    pub fn ca_pem(&self) -> &str {
        &self.ca_pem
    }

    /// HTTPS connections (token and BatonService, every tenant) open now.
    pub fn open_connections(&self) -> usize {
        self.open_connections.load(Ordering::Relaxed)
    }

    pub fn enqueue(&self, tenant: &str, task: &SimTask) -> Result<String, StateError> {
        self.state
            .enqueue(tenant, task.to_task_type(), task.type_name())
    }

    /// Queues `task` under `id` instead of a generated one, to test how a
    /// connector treats ids it must not trust.
    pub fn enqueue_with_id(
        &self,
        tenant: &str,
        id: &str,
        task: &SimTask,
    ) -> Result<String, StateError> {
        self.state
            .enqueue_with_id(tenant, id.to_owned(), task.to_task_type(), task.type_name())
    }

    pub fn enqueue_sync(&self, tenant: &str, options: SyncOptions) -> Result<String, StateError> {
        self.enqueue(tenant, &SimTask::SyncFull(options))
    }

    pub fn enqueue_grant(
        &self,
        tenant: &str,
        entitlement: EntitlementRef,
        principal: ResourceRef,
    ) -> Result<String, StateError> {
        self.enqueue(
            tenant,
            &SimTask::Grant {
                entitlement,
                principal,
            },
        )
    }

    pub fn enqueue_revoke(
        &self,
        tenant: &str,
        entitlement: EntitlementRef,
        principal: ResourceRef,
    ) -> Result<String, StateError> {
        self.enqueue(
            tenant,
            &SimTask::Revoke {
                entitlement,
                principal,
            },
        )
    }

    pub fn enqueue_create_account(
        &self,
        tenant: &str,
        login: &str,
        email: &str,
    ) -> Result<String, StateError> {
        let task = SimTask::CreateAccount {
            login: login.into(),
            email: email.into(),
            profile: Default::default(),
            resource_type_id: String::new(),
            random_password: None,
        };
        self.enqueue(tenant, &task)
    }

    pub fn enqueue_delete_resource(
        &self,
        tenant: &str,
        resource: ResourceRef,
    ) -> Result<String, StateError> {
        self.enqueue(tenant, &SimTask::DeleteResource { resource })
    }

    /// A queued task is withdrawn; a running one hears `cancelled` at its next heartbeat.
    pub fn cancel(&self, task_id: &str) -> Result<(), StateError> {
        self.state.cancel(task_id)
    }

    /// Replaces the tenant's injected faults.
    pub fn set_faults(&self, tenant: &str, faults: TenantFaults) -> Result<(), StateError> {
        self.state.set_faults(tenant, faults)
    }

    pub fn task(&self, task_id: &str) -> Option<TaskRecord> {
        self.state.task(task_id)
    }

    pub fn tasks(&self, tenant: &str) -> Vec<TaskRecord> {
        self.state.tasks(tenant)
    }

    pub fn hellos(&self, tenant: &str) -> Vec<HelloRecord> {
        self.state.hellos(tenant)
    }

    pub fn uploads(&self, tenant: &str) -> Vec<UploadRecord> {
        self.state.uploads(tenant)
    }

    pub fn stats(&self, tenant: &str) -> Result<TenantStats, StateError> {
        self.state.stats(tenant)
    }

    /// Every access token issued to `tenant` and every client assertion it
    /// sent: what must never appear in a client's logs.
    pub fn credentials_seen(&self, tenant: &str) -> Vec<String> {
        self.state.credentials_seen(tenant)
    }

    /// Waits until the task satisfies `condition`; `None` on timeout.
    pub async fn wait_for_task(
        &self,
        task_id: &str,
        timeout: Duration,
        condition: impl Fn(&TaskRecord) -> bool,
    ) -> Option<TaskRecord> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let changed = self.state.change_notifier();
            if let Some(record) = self.state.task(task_id).filter(|record| condition(record)) {
                return Some(record);
            }
            tokio::time::timeout_at(deadline, changed).await.ok()?;
        }
    }

    /// Waits until the task is finished (or answered, for a hello task).
    pub async fn wait_for_finish(&self, task_id: &str, timeout: Duration) -> Option<TaskRecord> {
        self.wait_for_task(task_id, timeout, |record| {
            record.state == TaskState::Finished
        })
        .await
    }

    /// Stops serving and joins the simulator thread.
    pub fn shutdown(mut self) {
        self.stop_and_join();
    }

    fn stop_and_join(&mut self) {
        // The receiver lives as long as the thread; sending to a finished thread is fine to ignore.
        let _ = self.stop.send(true);
        if let Some(thread) = self.thread.take()
            && thread.join().is_err()
        {
            tracing::error!("the ConductorOne simulator thread panicked");
        }
    }
}

impl Drop for ConductorOneSim {
    fn drop(&mut self) {
        self.stop_and_join();
    }
}

/// `confluence-hub sim conductorone` arguments.
#[derive(Debug, clap::Args)]
#[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
pub struct CliArgs {
    #[command(subcommand)]
    command: Option<SimCommand>,
    /// HTTPS port (token endpoint + BatonService); 0 picks a free port.
    #[arg(long, default_value_t = 0)]
    port: u16,
    /// JSON file listing the tenants: {"tenants": [{"name", "client_id", "public_jwk"}]}.
    #[arg(long, required = true)]
    tenants: Option<PathBuf>,
    /// Where to write the CA certificate (PEM) clients must trust.
    #[arg(long, required = true)]
    cert_out: Option<PathBuf>,
    /// Control API port; 0 picks a free port.
    #[arg(long, default_value_t = 0)]
    control_port: u16,
    /// `next_poll` sent to connectors.
    #[arg(long, default_value = "1s", value_parser = humantime::parse_duration)]
    next_poll: Duration,
    /// `next_heartbeat` sent to connectors.
    #[arg(long, default_value = "1s", value_parser = humantime::parse_duration)]
    next_heartbeat: Duration,
    /// Lifetime of issued access tokens.
    #[arg(long, default_value = "1h", value_parser = humantime::parse_duration)]
    token_lifetime: Duration,
    /// Also store every verified upload in this directory.
    #[arg(long)]
    upload_dir: Option<PathBuf>,
}

#[derive(Debug, clap::Subcommand)]
enum SimCommand {
    /// Write client id/secret pairs for the hub and the tenants file for the simulator.
    GenCredentials(GenCredentialsArgs),
}

#[derive(Debug, clap::Args)]
struct GenCredentialsArgs {
    /// A tenant name; repeat for several.
    #[arg(long = "tenant", required = true)]
    tenants: Vec<String>,
    /// The host named in the client ids.
    #[arg(long, default_value = "localhost")]
    host: String,
    /// Directory for `<tenant>.client-id`, `<tenant>.client-secret` and `tenants.json`.
    #[arg(long)]
    out_dir: PathBuf,
}

pub fn run_cli(args: CliArgs) -> anyhow::Result<()> {
    if let Some(SimCommand::GenCredentials(gen_args)) = args.command {
        return write_credentials(&gen_args);
    }
    let (Some(tenants_path), Some(cert_out)) = (args.tenants, args.cert_out) else {
        anyhow::bail!("--tenants and --cert-out are required");
    };
    let tenants = TenantsFile::read(&tenants_path)
        .map_err(anyhow::Error::msg)?
        .tenants;
    let sim = ConductorOneSim::start(SimOptions {
        tenants,
        port: args.port,
        control_port: args.control_port,
        next_poll: args.next_poll,
        next_heartbeat: args.next_heartbeat,
        token_lifetime: args.token_lifetime,
        upload_dir: args.upload_dir,
    })?;
    std::fs::write(&cert_out, sim.ca_pem())
        .map_err(|err| anyhow::anyhow!("cannot write {}: {err}", cert_out.display()))?;
    let mut stdout = io::stdout().lock();
    writeln!(
        stdout,
        "listening on https://{} control=http://{}",
        sim.addr(),
        sim.control_addr()
    )?;
    stdout.flush()?;
    drop(stdout);
    crate::serve_until_terminated()?;
    sim.shutdown();
    Ok(())
}

fn write_credentials(args: &GenCredentialsArgs) -> anyhow::Result<()> {
    std::fs::create_dir_all(&args.out_dir)?;
    let mut file = TenantsFile::default();
    for name in &args.tenants {
        let (client_id, secret, public_jwk) = gen_credentials(name, &args.host);
        let id_path = args.out_dir.join(format!("{name}.client-id"));
        let secret_path = args.out_dir.join(format!("{name}.client-secret"));
        std::fs::write(&id_path, format!("{client_id}\n"))?;
        write_private(&secret_path, secret.expose())?;
        println!(
            "{name} client_id={} secret_file={}",
            id_path.display(),
            secret_path.display()
        );
        file.tenants.push(SimTenant {
            name: name.clone(),
            client_id,
            public_jwk,
        });
    }
    let tenants_path = args.out_dir.join("tenants.json");
    std::fs::write(&tenants_path, serde_json::to_string_pretty(&file)?)?;
    println!("tenants_file={}", tenants_path.display());
    Ok(())
}

/// Writes a secret readable by its owner only.
fn write_private(path: &std::path::Path, content: &str) -> io::Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)?;
    file.write_all(content.as_bytes())?;
    file.write_all(b"\n")
}
