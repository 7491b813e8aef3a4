//! A Confluence Data Center simulator (8.5, 9.2, 10.2) with the real server's
//! quirks, rate limiting and fault injection.

/// `confluence-hub sim confluence` arguments.
#[derive(Debug, clap::Args)]
pub struct CliArgs {}

pub fn run_cli(_args: CliArgs) -> anyhow::Result<()> {
    anyhow::bail!("the Confluence simulator is not built yet")
}
