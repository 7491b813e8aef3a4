//! The tenant's Confluence Data Center client: authentication, version
//! detection, pagination with the server's quirks, rate limiting and retries,
//! typed errors. [`ConfluenceClient`] is the entry point; everything it
//! returns is a normalised record from [`models`].

mod client;
mod concurrency;
mod decode;
mod detect;
pub mod error;
#[cfg(feature = "fuzzing")]
pub mod fuzzing;
pub mod http;
pub mod models;
mod pacing;
mod pagination;
mod permissions;
mod ratelimit;
mod retry;
mod route;
mod rpc;
pub mod settings;
mod stats;
#[cfg(test)]
mod tests;
mod transport;
pub mod version;
mod wire;
mod writes;

pub use self::client::ConfluenceClient;
pub use self::detect::{BEFORE_9_BASELINE, ServerVersion, VersionSource};
pub use self::error::{ConfluenceError, ErrorKind};
pub use self::models::{
    CurrentUser, Group, NewUser, PermissionKey, PermissionSubject, Space, SpacePermissionRow, User,
    UserRef, UserStatus,
};
pub use self::pacing::Pacing;
pub use self::pagination::Pager;
pub use self::ratelimit::RateCeiling;
pub use self::route::is_path_addressable;
pub use self::stats::ClientStats;
