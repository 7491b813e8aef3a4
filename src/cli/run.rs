//! `confluence-hub run [--config FILE]`: the long-running hub. Without a
//! config file it runs one instance from the reference connector's flags
//! and `BATON_*` variables (see `single`).

use std::path::PathBuf;
use std::process::ExitCode;

use super::LogFormat;
use super::single::SingleArgs;
use hub::config::CONFIG_ENV;
use hub::telemetry::TelemetryOptions;

#[derive(Debug, clap::Args)]
pub struct RunArgs {
    /// The hub's TOML config file. Without one, the reference connector's
    /// flags and BATON_* variables describe a single instance.
    #[arg(long, env = CONFIG_ENV)]
    pub config: Option<PathBuf>,
    #[command(flatten)]
    pub single: SingleArgs,
}

pub fn run(args: RunArgs, log_format: LogFormat, log_level: &str) -> anyhow::Result<ExitCode> {
    let Some(config) = args.config else {
        return super::single::run(args.single, log_format, log_level);
    };
    if args.single.is_set() {
        eprintln!(
            "warning: {} is given, so the single-connector settings (BATON_* variables or their flags) are ignored",
            config.display()
        );
    }
    hub::actors::runtime::run(&config, TelemetryOptions::new(log_format, log_level))
}
