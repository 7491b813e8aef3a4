//! The multi-tenant actor runtime (docs/architecture.md, The actor tree): a
//! Supervisor owning one Instance per tenant, each with its fetchers and a
//! Scheduler or ConductorOne task loop; a writer thread per running sync for
//! the blocking c1z work; reload as a diff; graceful shutdown.

pub mod child;
pub mod fault;
pub mod fetcher;
pub mod instance;
pub mod oneshot;
pub mod provisioner;
pub mod runtime;
pub mod scheduler;
pub mod shard;
pub mod status;
pub mod supervisor;
pub mod sync_job;
pub mod task_loop;
pub mod uploader;
pub mod writer;
