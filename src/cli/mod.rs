//! The command line. `main.rs` only parses arguments and calls [`run`]; every
//! command lives in its own file here and calls into the library.

mod capabilities;
mod check;
mod config_from_env;
#[cfg(feature = "sim")]
mod demo;
mod inspect;
mod run;
mod shard_plan;
mod single;
mod state_dir;
mod sync;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use hub::config::CONFIG_ENV;

#[derive(Debug, Parser)]
#[command(
    name = "confluence-hub",
    version,
    about = "Sync many Confluence Data Center instances into ConductorOne from one process",
    long_about = "Sync many Confluence Data Center instances into ConductorOne from one process.\n\n\
        With no command, runs like the reference connector (baton-confluence-datacenter): one \
        instance from the flags below or their BATON_* variables, in service mode when a client \
        id is set, else one sync into --file. `run --config FILE` runs the hub."
)]
pub struct Cli {
    /// Log format: JSON lines (for collectors) or human-readable console output
    /// [default: json; BATON_LOG_FORMAT is read when CONFLUENCE_HUB_LOG_FORMAT is unset].
    #[arg(long, global = true, value_enum, env = "CONFLUENCE_HUB_LOG_FORMAT")]
    pub log_format: Option<LogFormat>,
    /// Log level or tracing filter directive (e.g. `info`, `confluence_hub=debug`)
    /// [default: info; BATON_LOG_LEVEL is read when CONFLUENCE_HUB_LOG_LEVEL is unset].
    #[arg(long, global = true, env = "CONFLUENCE_HUB_LOG_LEVEL")]
    pub log_level: Option<String>,
    #[command(flatten)]
    pub single: single::SingleArgs,
    #[command(subcommand)]
    pub command: Option<Command>,
}

impl Cli {
    /// Parses this process's arguments. The reference connector's flags
    /// belong to the form without a command and to `run`; given before a
    /// command they would be silently ignored, so they are refused.
    pub fn parse_args() -> Self {
        use clap::{CommandFactory as _, FromArgMatches as _};
        let mut command = Self::command();
        let matches = command.get_matches_mut();
        if let Some(name) = matches.subcommand_name() {
            let misplaced: Vec<String> = command
                .get_arguments()
                .filter(|arg| !arg.is_global_set())
                .filter(|arg| {
                    matches.value_source(arg.get_id().as_str())
                        == Some(clap::parser::ValueSource::CommandLine)
                })
                .map(|arg| format!("--{}", arg.get_long().unwrap_or(arg.get_id().as_str())))
                .collect();
            if !misplaced.is_empty() {
                let flags = misplaced.join(", ");
                let message = if name == "run" {
                    format!("{flags} must come after `run`, as in `confluence-hub run {flags} …`")
                } else {
                    format!(
                        "{flags} configure the single-connector form (no command, or `run`); \
                         `{name}` does not read them: drop them, or give `{name}` its own options"
                    )
                };
                command
                    .error(clap::error::ErrorKind::ArgumentConflict, message)
                    .exit();
            }
        }
        Self::from_arg_matches(&matches).unwrap_or_else(|err| err.format(&mut command).exit())
    }
}

pub use hub::telemetry::LogFormat;

/// `--config FILE`, or the file named by `CONFLUENCE_HUB_CONFIG`.
#[derive(Debug, clap::Args)]
pub struct ConfigArg {
    /// The hub's TOML config file.
    #[arg(long, env = CONFIG_ENV)]
    pub config: PathBuf,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the hub: every tenant of this replica, until SIGTERM. Without a
    /// config file, one instance from the reference connector's flags.
    Run(run::RunArgs),
    /// Sync one tenant once into a c1z file, with progress and a summary.
    Sync(sync::SyncArgs),
    /// Validate the config and every tenant's Confluence (and ConductorOne) credentials.
    Check(check::CheckArgs),
    /// Show what a c1z file holds.
    Inspect(inspect::InspectArgs),
    /// Show which replica serves which tenant.
    ShardPlan(shard_plan::ShardPlanArgs),
    /// Run simulated tenants, a simulated ConductorOne and the hub end to end.
    #[cfg(feature = "sim")]
    Demo(demo::DemoArgs),
    /// Print the connector capabilities as JSON, as the reference connector's
    /// `capabilities` command does.
    Capabilities(capabilities::CapabilitiesArgs),
    /// Write or convert hub configs.
    #[command(subcommand)]
    Config(ConfigCommand),
    /// Run a simulator.
    #[cfg(feature = "sim")]
    #[command(subcommand)]
    Sim(SimCommand),
}

#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Turn single-connector environments (env files, or this process's
    /// BATON_* variables) into one hub config, secrets as references.
    FromEnv(config_from_env::FromEnvArgs),
}

#[cfg(feature = "sim")]
#[derive(Debug, Subcommand)]
pub enum SimCommand {
    /// A Confluence Data Center simulator.
    Confluence(sim::confluence::CliArgs),
    /// A ConductorOne simulator (token endpoint + BatonService over TLS).
    Conductorone(sim::conductorone::CliArgs),
}

/// Loads and validates the config; on failure prints every problem on its
/// own line (file, line, tenant, key) and returns an error naming the file.
pub(crate) fn load_config(path: &std::path::Path) -> anyhow::Result<hub::config::HubConfig> {
    hub::config::HubConfig::load(path).map_err(|err| invalid_config(path, &err))
}

/// Prints every problem of `err` on its own line and returns the error that
/// names the file.
pub(crate) fn invalid_config(
    path: &std::path::Path,
    err: &hub::config::ConfigError,
) -> anyhow::Error {
    for problem in err.problems() {
        eprintln!("config error: {problem}");
    }
    anyhow::anyhow!("{} is not a valid config", path.display())
}

/// Runs the parsed command line and maps the outcome to a process exit code.
pub fn run(cli: Cli) -> ExitCode {
    #[cfg(feature = "sim")]
    crate::faults::install();
    let result = logging(&cli).and_then(|(log_format, log_level)| {
        let log_level = log_level.as_str();
        match cli.command {
            None => single::run(cli.single, log_format, log_level),
            Some(Command::Run(args)) => run::run(args, log_format, log_level),
            Some(Command::Sync(args)) => sync::run(args, log_format, log_level),
            Some(Command::Check(args)) => check::run(args, log_format, log_level),
            Some(Command::Inspect(args)) => inspect::run(args),
            Some(Command::ShardPlan(args)) => shard_plan::run(args),
            #[cfg(feature = "sim")]
            Some(Command::Demo(args)) => demo::run(args, log_format, log_level),
            Some(Command::Capabilities(args)) => capabilities::run(args),
            Some(Command::Config(ConfigCommand::FromEnv(args))) => config_from_env::run(args),
            #[cfg(feature = "sim")]
            Some(Command::Sim(SimCommand::Confluence(args))) => {
                sim::confluence::run_cli(args).map(|()| ExitCode::SUCCESS)
            }
            #[cfg(feature = "sim")]
            Some(Command::Sim(SimCommand::Conductorone(args))) => {
                sim::conductorone::run_cli(args).map(|()| ExitCode::SUCCESS)
            }
        }
    });
    match result {
        Ok(code) => code,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}

/// The log format and level: the flag or `CONFLUENCE_HUB_LOG_*`, else the
/// reference connector's `BATON_LOG_*`, else JSON at `info`.
fn logging(cli: &Cli) -> anyhow::Result<(LogFormat, String)> {
    use hub::config::baton::{LOG_FORMAT, LOG_LEVEL, present};
    let baton = |setting: hub::config::baton::Setting| present(std::env::var(setting.var).ok());
    let log_format = match (cli.log_format, baton(LOG_FORMAT)) {
        (Some(format), _) => format,
        (None, Some(text)) => <LogFormat as clap::ValueEnum>::from_str(&text, true)
            .map_err(|_| anyhow::anyhow!("{LOG_FORMAT}: `{text}` is not one of json, console"))?,
        (None, None) => LogFormat::default(),
    };
    let log_level = cli
        .log_level
        .clone()
        .or_else(|| baton(LOG_LEVEL))
        .unwrap_or_else(|| "info".to_owned());
    Ok((log_format, log_level))
}
