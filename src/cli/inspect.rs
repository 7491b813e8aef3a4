//! `confluence-hub inspect FILE.c1z [--json]`.

use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Debug, clap::Args)]
pub struct InspectArgs {
    /// The c1z file.
    pub file: PathBuf,
    /// Print the full listing as JSON.
    #[arg(long)]
    pub json: bool,
}

pub fn run(_args: InspectArgs) -> anyhow::Result<ExitCode> {
    anyhow::bail!("`inspect` is not built yet")
}
