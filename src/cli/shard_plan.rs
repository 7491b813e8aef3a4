//! `confluence-hub shard-plan --config FILE [--replicas N]`.

use std::process::ExitCode;

#[derive(Debug, clap::Args)]
pub struct ShardPlanArgs {
    #[command(flatten)]
    pub config: super::ConfigArg,
    /// Plan for this many replicas instead of `sharding.replicas`.
    #[arg(long)]
    pub replicas: Option<u32>,
}

pub fn run(_args: ShardPlanArgs) -> anyhow::Result<ExitCode> {
    anyhow::bail!("`shard-plan` is not built yet")
}
