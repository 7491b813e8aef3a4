//! The tenant's Confluence Data Center client: authentication, version
//! detection, pagination with the server's quirks, rate limiting and retries,
//! typed errors.

pub mod settings;
pub mod version;
