//! `confluence-hub run`.

use std::process::ExitCode;

use super::LogFormat;

#[derive(Debug, clap::Args)]
pub struct RunArgs {
    #[command(flatten)]
    pub config: super::ConfigArg,
}

pub fn run(_args: RunArgs, _log_format: LogFormat, _log_level: &str) -> anyhow::Result<ExitCode> {
    anyhow::bail!("`run` is not built yet")
}
