//! `confluence-hub run --config FILE`: the long-running hub.

use std::process::ExitCode;

use super::LogFormat;
use crate::telemetry::TelemetryOptions;

#[derive(Debug, clap::Args)]
pub struct RunArgs {
    #[command(flatten)]
    pub config: super::ConfigArg,
}

pub fn run(args: RunArgs, log_format: LogFormat, log_level: &str) -> anyhow::Result<ExitCode> {
    crate::hub::runtime::run(
        &args.config.config,
        TelemetryOptions::new(log_format, log_level),
    )
}
