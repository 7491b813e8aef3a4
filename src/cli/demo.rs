//! `confluence-hub demo [--keep-running]`: the embedded default.

use std::path::PathBuf;
use std::process::ExitCode;

use super::LogFormat;
use crate::demo::{DemoOptions, run as run_demo};

#[derive(Debug, clap::Args)]
pub struct DemoArgs {
    /// Leave the hub and the simulators running after the summary (Ctrl-C stops them),
    /// so /status and /metrics can be opened.
    #[arg(long)]
    pub keep_running: bool,
    /// Working directory for the demo's config, secrets, logs and c1z files
    /// (cleared first). Default: confluence-hub-demo under the system temp dir.
    #[arg(long)]
    pub dir: Option<PathBuf>,
}

pub fn run(args: DemoArgs, _log_format: LogFormat, log_level: &str) -> anyhow::Result<ExitCode> {
    run_demo(DemoOptions {
        keep_running: args.keep_running,
        dir: args
            .dir
            .unwrap_or_else(|| std::env::temp_dir().join("confluence-hub-demo")),
        log_level: log_level.to_owned(),
    })
}
