//! `confluence-hub capabilities`: the connector capabilities as JSON, in the
//! shape of the reference connector's `capabilities` command (a
//! `c1.connector.v2.ConnectorCapabilities` in protobuf's JSON mapping, with
//! `@type`). They are what a tenant advertises in Hello; only
//! `deprovisioning` changes them, so a config file and instance may be named.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;

use hub::config::Deprovisioning;

#[derive(Debug, clap::Args)]
pub struct CapabilitiesArgs {
    /// A hub config whose instance's capabilities to print (the defaults otherwise).
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// The instance of --config; may be left out when the config has one.
    #[arg(long, requires = "config")]
    pub instance: Option<String>,
}

pub fn run(args: CapabilitiesArgs) -> anyhow::Result<ExitCode> {
    let deprovisioning = match &args.config {
        None => Deprovisioning::Off,
        Some(path) => {
            let config = hub::config::HubConfig::load_without_secrets(path)
                .map_err(|err| super::invalid_config(path, &err))?;
            let ids: Vec<_> = config.tenants.iter().map(|t| t.id.as_str()).collect();
            let tenant =
                match (&args.instance, config.tenants.as_slice()) {
                    (Some(id), tenants) => tenants
                        .iter()
                        .find(|t| t.id.as_str() == id)
                        .with_context(|| {
                            format!(
                                "no instance `{id}` in {}; known: {}",
                                path.display(),
                                ids.join(", ")
                            )
                        })?,
                    (None, [only]) => only,
                    (None, _) => anyhow::bail!(
                        "{} has {} instances; name one with --instance ({})",
                        path.display(),
                        ids.len(),
                        ids.join(", ")
                    ),
                };
            tenant.deprovisioning
        }
    };
    let capabilities = hub::provision::connector_capabilities(deprovisioning);
    let json = baton::protojson::connector_capabilities(&capabilities)
        .map_err(|message| anyhow::anyhow!(message))?;
    println!("{}", serde_json::to_string_pretty(&json)?);
    Ok(ExitCode::SUCCESS)
}
