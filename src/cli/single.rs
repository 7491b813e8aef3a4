//! One instance from the reference connector's interface: the flags of
//! `baton-confluence-datacenter`, each also read from its `BATON_*`
//! variable, so our image runs in the reference's Deployment unchanged. As
//! the reference does: with a client id, service mode until SIGTERM; without,
//! one sync into `--file` and exit.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::ExitCode;

use super::LogFormat;
use hub::actors::runtime::{ConfigSource, serve};
use hub::config::baton::{
    self, ACCESS_TOKEN, BatonSettings, C1_API_HOST, CLIENT_ID, CLIENT_SECRET, HOST_ID, HOSTNAME,
    PASSWORD, PROVISIONING, SKIP_FULL_SYNC, TASK_CONCURRENCY, USERNAME, present,
};
use hub::telemetry::TelemetryOptions;

/// Secrets are read from their variables but never shown: `hide_env_values`
/// keeps them out of `--help`.
#[derive(Clone, Debug, clap::Args)]
#[command(
    next_help_heading = "Single connector (the reference connector's flags; each also read from its BATON_* variable)"
)]
pub struct SingleArgs {
    /// The base URL of the Confluence Data Center instance.
    #[arg(long, env = "BATON_HOSTNAME")]
    pub hostname: Option<String>,
    /// A personal access token of a Confluence administrator.
    #[arg(long, env = "BATON_ACCESS_TOKEN", hide_env_values = true)]
    pub access_token: Option<String>,
    /// A Confluence administrator's username (with --password, instead of a token).
    #[arg(long, env = "BATON_USERNAME")]
    pub username: Option<String>,
    /// That administrator's password.
    #[arg(long, env = "BATON_PASSWORD", hide_env_values = true)]
    pub password: Option<String>,
    /// The ConductorOne client id; when set, runs in service mode.
    #[arg(long, env = "BATON_CLIENT_ID")]
    pub client_id: Option<String>,
    /// The ConductorOne client secret.
    #[arg(long, env = "BATON_CLIENT_SECRET", hide_env_values = true)]
    pub client_secret: Option<String>,
    /// Carry out provisioning tasks (grant, revoke, create account).
    #[arg(
        short = 'p',
        long,
        env = "BATON_PROVISIONING",
        num_args = 0..=1,
        require_equals = true,
        default_missing_value = "true",
        value_name = "BOOL"
    )]
    pub provisioning: Option<String>,
    /// Answer sync tasks with an empty full sync.
    #[arg(
        long,
        env = "BATON_SKIP_FULL_SYNC",
        num_args = 0..=1,
        require_equals = true,
        default_missing_value = "true",
        value_name = "BOOL"
    )]
    pub skip_full_sync: Option<String>,
    /// ConductorOne tasks run at once (1 to 100) [default: 3].
    #[arg(long, env = "BATON_TASK_CONCURRENCY", value_name = "N")]
    pub task_concurrency: Option<String>,
    /// Where a one-shot sync (no client id) writes its c1z file.
    #[arg(short = 'f', long, env = "BATON_FILE", default_value = "sync.c1z")]
    pub file: PathBuf,
    /// Working files of service mode [default: <temp dir>/confluence-hub-<instance>].
    #[arg(long, env = "CONFLUENCE_HUB_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
    /// The admin endpoint (/healthz, /readyz, /status, /metrics) in service mode.
    #[arg(
        long,
        env = "CONFLUENCE_HUB_ADMIN_LISTEN",
        default_value = hub::config::defaults::ADMIN_LISTEN
    )]
    pub admin_listen: String,
}

impl SingleArgs {
    /// Whether any connector setting is given at all.
    pub fn is_set(&self) -> bool {
        [
            &self.hostname,
            &self.access_token,
            &self.username,
            &self.password,
            &self.client_id,
            &self.client_secret,
        ]
        .into_iter()
        .any(|value| present(value.clone()).is_some())
    }

    /// The settings as the reference reads them, through the same reader as
    /// an env file: clap has already let each flag override its variable.
    /// `BATON_HOST_ID` and `BATON_C1_API_HOST` have no flags there either;
    /// without the first, the host id is the hostname, as there.
    fn settings(&self) -> Result<BatonSettings, Vec<String>> {
        let given = [
            (HOSTNAME, &self.hostname),
            (ACCESS_TOKEN, &self.access_token),
            (USERNAME, &self.username),
            (PASSWORD, &self.password),
            (CLIENT_ID, &self.client_id),
            (CLIENT_SECRET, &self.client_secret),
            (PROVISIONING, &self.provisioning),
            (SKIP_FULL_SYNC, &self.skip_full_sync),
            (TASK_CONCURRENCY, &self.task_concurrency),
        ];
        let mut vars: BTreeMap<String, String> = given
            .into_iter()
            .filter_map(|(setting, value)| Some((setting.var.to_owned(), value.clone()?)))
            .collect();
        for setting in [HOST_ID, C1_API_HOST] {
            if let Ok(value) = std::env::var(setting.var) {
                vars.insert(setting.var.to_owned(), value);
            }
        }
        let (mut settings, _) = BatonSettings::from_vars(&vars)?;
        settings.host_id.get_or_insert_with(hub::config::hostname);
        let problems = settings.problems();
        if problems.is_empty() {
            Ok(settings)
        } else {
            Err(problems)
        }
    }
}

pub fn run(args: SingleArgs, log_format: LogFormat, log_level: &str) -> anyhow::Result<ExitCode> {
    if !args.is_set() {
        anyhow::bail!(
            "nothing to run: pass --config FILE (or set CONFLUENCE_HUB_CONFIG) to run the hub, \
             or give one Confluence instance the reference connector's way \
             (--hostname and --access-token, or BATON_HOSTNAME and BATON_ACCESS_TOKEN); see --help"
        );
    }
    let settings = args.settings().map_err(refuse)?;
    for note in settings.notes() {
        eprintln!("warning: {note}");
    }
    for var in baton::unknown_vars_in_env() {
        eprintln!("warning: {var} is set but not read: {}", baton::UNKNOWN_VAR);
    }
    let id = settings.default_tenant_id();
    let data_dir = match &args.data_dir {
        Some(dir) => dir.clone(),
        None => {
            let dir = std::env::temp_dir().join(format!("confluence-hub-{id}"));
            super::state_dir::claim_private_dir(&dir)?;
            dir
        }
    };
    let hub = baton::GeneratedHub {
        data_dir,
        admin_listen: args.admin_listen.clone(),
    };
    let config = settings.hub_config(&id, Some(hub)).map_err(refuse)?;

    if settings.service_mode() {
        let why_no_reload = format!(
            "this hub runs one instance from {}; restart it to change its settings; to serve many instances from one process, move to a config file (`confluence-hub config from-env`)",
            baton::SOURCE
        );
        serve(
            config,
            ConfigSource::Fixed { why_no_reload },
            TelemetryOptions::new(log_format, log_level),
            std::future::pending(),
        )
    } else {
        let tenant = config
            .tenants
            .into_iter()
            .next()
            .ok_or_else(|| anyhow::anyhow!("the instance from {} is missing", baton::SOURCE))?;
        super::sync::sync_to_file(tenant, &args.file, log_format, log_level)
    }
}

/// Prints each problem on its own line and returns the error that ends the run.
fn refuse(problems: Vec<String>) -> anyhow::Error {
    for problem in &problems {
        eprintln!("config error: {problem}");
    }
    anyhow::anyhow!(
        "the connector settings are not valid ({} problem{}); nothing was started",
        problems.len(),
        if problems.len() == 1 { "" } else { "s" }
    )
}
