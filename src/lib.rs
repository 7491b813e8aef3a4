//! confluence-hub: one process that syncs many Confluence Data Center
//! instances into ConductorOne and carries out its provisioning tasks.
//!
//! Read top-down: `config` (validated settings) → `confluence` (the tenant's
//! Confluence client) → `baton` (protobuf and the data model contract) → `c1z`
//! (the file format) → `sync` (one tenant into one c1z) → `conductorone`
//! (service mode) → `provision` (grant, revoke, create account) → `hub` (the
//! actor runtime that runs it all per tenant) → `admin` (HTTP) and
//! `telemetry`. `sim` holds the Confluence and ConductorOne simulators; `cli`
//! the commands.

pub mod admin;
pub mod baton;
pub mod c1z;
pub mod cli;
pub mod conductorone;
pub mod config;
pub mod confluence;
pub mod demo;
pub mod hub;
pub mod provision;
pub mod secret;
pub mod sim;
pub mod sync;
pub mod telemetry;
pub mod tls;
