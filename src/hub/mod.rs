//! The multi-tenant actor runtime: supervisor, per-tenant instance trees,
//! scheduling, reload and shutdown.

pub mod shard;
