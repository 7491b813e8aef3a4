//! The multi-tenant actor runtime: supervisor, per-tenant instance trees,
//! scheduling, reload and shutdown.

pub mod backoff;
pub mod shard;
pub mod status;
