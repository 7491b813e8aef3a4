//! A Confluence Data Center simulator (8.5, 9.2, 10.2) with the real server's
//! quirks, rate limiting and fault injection, for tests, benchmarks and the
//! demo. It is an independent implementation of what docs/confluence-api-notes.md records, and
//! shares no code with the hub's Confluence client.
//!
//! Layout: `dataset` and `generator` make the data, `state` indexes it and
//! checks permissions, `routes/` are the endpoints per API area, `gateway`
//! wraps them with faults, auth and rate limiting, `server` runs it all on
//! its own thread, `cli` is `confluence-hub sim confluence`.

mod app;
mod auth;
mod cli;
mod dataset;
mod errors;
mod faults;
mod gateway;
mod generator;
mod hostile;
mod listener;
mod mutation;
mod options;
mod pagination;
mod params;
mod ratelimit;
mod render;
mod routes;
mod server;
mod state;
mod version;

pub use cli::{CliArgs, run_cli};
pub use dataset::{
    ADMINISTRATORS_GROUP, Dataset, DatasetError, SimGroup, SimPermission, SimSpace, SimUser,
    USERS_GROUP, UnknownUser,
};
pub use faults::Faults;
pub use generator::{GENERATED_ADMIN_PASSWORD, GenerateOptions};
pub use hostile::{Hostile, HostileAnswer};
pub use mutation::{Api, Mutation, MutationAction, Subject, SubjectPermissions};
pub use options::{
    DEFAULT_ADMIN_TOKEN, DEFAULT_ADMIN_USERNAME, Quirks, RateLimit, RpcEntityOrder, SimOptions,
    SpaceOverpaging, SpaceVisibility, UnknownUserLookup, UnknownUserRpcName, UserStatusStyle,
};
pub use server::ConfluenceSim;
pub use version::{SimVersion, UnsupportedVersion};
