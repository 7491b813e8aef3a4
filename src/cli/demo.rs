//! `confluence-hub demo`.

use std::process::ExitCode;

use super::LogFormat;

#[derive(Debug, clap::Args)]
pub struct DemoArgs {}

pub fn run(_args: DemoArgs, _log_format: LogFormat, _log_level: &str) -> anyhow::Result<ExitCode> {
    anyhow::bail!("`demo` is not built yet")
}
