//! `confluence-hub check`.

use std::process::ExitCode;

use super::LogFormat;

#[derive(Debug, clap::Args)]
pub struct CheckArgs {
    #[command(flatten)]
    pub config: super::ConfigArg,
}

pub fn run(_args: CheckArgs, _log_format: LogFormat, _log_level: &str) -> anyhow::Result<ExitCode> {
    anyhow::bail!("`check` is not built yet")
}
