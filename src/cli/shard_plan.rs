//! `confluence-hub shard-plan --config FILE [--replicas N]`: one line per
//! tenant, `<tenant-id> <replica-ordinal>` (a contract scripts rely on).

use std::process::ExitCode;

use hub::actors::shard::replica_for;
use hub::config::HubConfig;

#[derive(Debug, clap::Args)]
pub struct ShardPlanArgs {
    #[command(flatten)]
    pub config: super::ConfigArg,
    /// Plan for this many replicas instead of `sharding.replicas`.
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..))]
    pub replicas: Option<u32>,
}

pub fn run(args: ShardPlanArgs) -> anyhow::Result<ExitCode> {
    let config = HubConfig::load_without_secrets(&args.config.config)?;
    let replicas = args.replicas.unwrap_or(config.sharding.replicas);
    for tenant in &config.tenants {
        println!(
            "{} {}",
            tenant.id,
            replica_for(tenant.id.as_str(), replicas)
        );
    }
    Ok(ExitCode::SUCCESS)
}
