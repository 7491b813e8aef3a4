//! A ConductorOne simulator: token endpoint and BatonService over TLS, task
//! queues driven by a control API, upload verification.

/// `confluence-hub sim conductorone` arguments.
#[derive(Debug, clap::Args)]
pub struct CliArgs {}

pub fn run_cli(_args: CliArgs) -> anyhow::Result<()> {
    anyhow::bail!("the ConductorOne simulator is not built yet")
}
