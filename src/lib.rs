//! confluence-hub: one process that syncs many Confluence Data Center
//! instances into ConductorOne and carries out its provisioning tasks.
//!
//! This crate is the binary's command line (`cli`) and, with the default
//! `sim` feature, the `demo` and the integration tests' `faults`. The work is done by the workspace's crates,
//! read along the data path: `baton` (protobuf, data model, c1z) →
//! `confluence` (the tenant's Confluence client) → `conductorone` (service
//! mode) → `hub` (config, actors, sync, provisioning, admin, telemetry);
//! `platform` holds what they all share and `sim` the simulators.

pub mod cli;
#[cfg(feature = "sim")]
pub mod demo;
#[cfg(feature = "sim")]
pub mod faults;
