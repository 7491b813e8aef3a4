//! `confluence-hub check`: validates the config, then checks every tenant at
//! once — its Confluence credentials, version, and the Remote API where the
//! version needs it; and, in service mode, that ConductorOne accepts its
//! client credentials. One line per tenant on stdout; exit 1 if any fails.

use std::process::ExitCode;
use std::time::Duration;

use super::LogFormat;
use conductorone::client::BatonClient;
use confluence::settings::RetryPolicy;
use confluence::{ConfluenceClient, ConfluenceError};
use hub::config::{HubConfig, TenantConfig};

/// A check answers in seconds, not after a sync's patient retry budget.
const CHECK_RETRY: RetryPolicy = RetryPolicy {
    max_attempts: 3,
    max_elapsed: Duration::from_secs(30),
    initial_backoff: Duration::from_millis(250),
    max_backoff: Duration::from_secs(2),
};

#[derive(Debug, clap::Args)]
pub struct CheckArgs {
    #[command(flatten)]
    pub config: super::ConfigArg,
}

pub fn run(args: CheckArgs, log_format: LogFormat, log_level: &str) -> anyhow::Result<ExitCode> {
    // Logs go to stderr, so the per-tenant lines on stdout stay parseable.
    hub::telemetry::init_cli_logging(log_format, log_level)?;
    let config = match HubConfig::load(&args.config.config) {
        Ok(config) => config,
        Err(err) => {
            for problem in err.problems() {
                eprintln!("{}: {problem}", args.config.config.display());
            }
            return Ok(ExitCode::FAILURE);
        }
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let results = runtime.block_on(futures::future::join_all(
        config.tenants.iter().map(check_tenant),
    ));
    let mut all_ok = true;
    for (tenant, result) in config.tenants.iter().zip(results) {
        match result {
            Ok(summary) => println!("{} ok {summary}", tenant.id),
            Err(problem) => {
                all_ok = false;
                println!("{} FAILED {problem}", tenant.id);
            }
        }
    }
    Ok(if all_ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// `confluence 9.2.0 as admin[, conductorone credentials accepted]`, or the first failure.
async fn check_tenant(tenant: &TenantConfig) -> Result<String, String> {
    let confluence = check_confluence(tenant)
        .await
        .map_err(|err| err.kind().to_string())?;
    let Some(c1) = &tenant.conductorone else {
        return Ok(confluence);
    };
    let client = BatonClient::connect(c1).map_err(|err| format!("conductorone: {err}"))?;
    client
        .check_credentials()
        .await
        .map_err(|err| format!("conductorone: {err}"))?;
    Ok(format!("{confluence}, conductorone credentials accepted"))
}

async fn check_confluence(tenant: &TenantConfig) -> Result<String, ConfluenceError> {
    let mut settings = tenant.confluence.clone();
    settings.retry = CHECK_RETRY;
    let client = ConfluenceClient::new(&settings)?;
    let user = client.current_user().await?;
    let version = client.server_version().await?;
    if !version.version.has_rest_space_permissions() {
        client.probe_remote_api().await?;
    }
    Ok(format!("confluence {version} as {}", user.username))
}
