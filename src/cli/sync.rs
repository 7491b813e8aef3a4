//! `confluence-hub sync`.

use std::process::ExitCode;

use super::LogFormat;

#[derive(Debug, clap::Args)]
pub struct SyncArgs {
    #[command(flatten)]
    pub config: super::ConfigArg,
}

pub fn run(_args: SyncArgs, _log_format: LogFormat, _log_level: &str) -> anyhow::Result<ExitCode> {
    anyhow::bail!("`sync` is not built yet")
}
