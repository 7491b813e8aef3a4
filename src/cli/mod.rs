//! The command line. `main.rs` only parses arguments and calls [`run`]; every
//! command lives in its own file here and calls into the library.

mod check;
mod demo;
mod inspect;
mod run;
mod shard_plan;
mod sync;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::config::CONFIG_ENV;

#[derive(Debug, Parser)]
#[command(
    name = "confluence-hub",
    version,
    about = "Sync many Confluence Data Center instances into ConductorOne from one process"
)]
pub struct Cli {
    /// Log format: JSON lines (for collectors) or human-readable console output.
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Json, env = "CONFLUENCE_HUB_LOG_FORMAT")]
    pub log_format: LogFormat,
    /// Log level or tracing filter directive (e.g. `info`, `confluence_hub=debug`).
    #[arg(
        long,
        global = true,
        default_value = "info",
        env = "CONFLUENCE_HUB_LOG_LEVEL"
    )]
    pub log_level: String,
    #[command(subcommand)]
    pub command: Command,
}

pub use crate::telemetry::LogFormat;

/// `--config FILE`, or the file named by `CONFLUENCE_HUB_CONFIG`.
#[derive(Debug, clap::Args)]
pub struct ConfigArg {
    /// The hub's TOML config file.
    #[arg(long, env = CONFIG_ENV)]
    pub config: PathBuf,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the hub: every tenant of this replica, until SIGTERM.
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
    Demo(demo::DemoArgs),
    /// Run a simulator.
    #[command(subcommand)]
    Sim(SimCommand),
}

#[derive(Debug, Subcommand)]
pub enum SimCommand {
    /// A Confluence Data Center simulator.
    Confluence(crate::sim::confluence::CliArgs),
    /// A ConductorOne simulator (token endpoint + BatonService over TLS).
    Conductorone(crate::sim::conductorone::CliArgs),
}

/// Loads and validates the config; on failure prints every problem on its
/// own line (file, line, tenant, key) and returns an error naming the file.
pub(crate) fn load_config(path: &std::path::Path) -> anyhow::Result<crate::config::HubConfig> {
    crate::config::HubConfig::load(path).map_err(|err| {
        for problem in err.problems() {
            eprintln!("config error: {problem}");
        }
        anyhow::anyhow!("{} is not a valid config", path.display())
    })
}

/// Runs the parsed command line and maps the outcome to a process exit code.
pub fn run(cli: Cli) -> ExitCode {
    let log_format = cli.log_format;
    let result = match cli.command {
        Command::Run(args) => run::run(args, log_format, &cli.log_level),
        Command::Sync(args) => sync::run(args, log_format, &cli.log_level),
        Command::Check(args) => check::run(args, log_format, &cli.log_level),
        Command::Inspect(args) => inspect::run(args),
        Command::ShardPlan(args) => shard_plan::run(args),
        Command::Demo(args) => demo::run(args, log_format, &cli.log_level),
        Command::Sim(SimCommand::Confluence(args)) => {
            crate::sim::confluence::run_cli(args).map(|()| ExitCode::SUCCESS)
        }
        Command::Sim(SimCommand::Conductorone(args)) => {
            crate::sim::conductorone::run_cli(args).map(|()| ExitCode::SUCCESS)
        }
    };
    match result {
        Ok(code) => code,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}
