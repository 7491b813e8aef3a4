//! The hub: the validated `config`, the per-tenant `actors` (supervisor,
//! Instance, fetchers, writer, scheduler, task loop), the `sync` job that
//! turns one tenant into one c1z, `provision` (grant, revoke, create
//! account), the `admin` HTTP plane and `telemetry`; `error_kind` is the one
//! table from a Confluence failure to what ConductorOne hears.

pub mod actors;
pub mod admin;
pub mod config;
pub mod error_kind;
pub mod history;
pub mod provision;
pub mod sync;
pub mod telemetry;
