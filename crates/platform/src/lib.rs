//! What every crate of the hub builds on, and nothing else: secret values
//! that can never be printed by accident, the one retry schedule, the
//! process's TLS crypto provider, and the metric instruments every layer
//! records into.

pub mod backoff;
pub mod fs;
pub mod metrics;
pub mod secret;
pub mod tls;
