//! The integration tests: one binary (so CI links once), one module per area.
//! Every test starts real simulators on 127.0.0.1 and talks over real sockets.

mod browser;
mod c1z;
mod conductorone;
mod config_errors;
mod confluence_client;
mod console;
mod example_config;
mod hub;
mod pacing;
mod provisioning;
mod service_mode;
mod sim_confluence;
mod single_connector;
mod support;
mod sync_contract;
mod telemetry;
