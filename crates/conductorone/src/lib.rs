//! ConductorOne service mode for one tenant: client-credential auth, the
//! BatonService client, the c1z uploader, and the task runner that ties them
//! together behind the [`TaskHandler`] the hub implements.

mod assertion;
pub mod auth;
pub mod channel;
pub mod client;
pub mod credentials;
mod execute;
mod heartbeat;
mod hello;
pub mod metadata;
pub mod runner;
pub mod settings;
pub mod status;
pub mod task;
pub mod upload;

pub use credentials::{ClientCredentials, CredentialError};
pub use runner::{SessionError, TaskRunner};
pub use status::{RunnerStatus, RunningTask, SessionState};
pub use task::{
    BoxFuture, CancelReason, CancellationSignal, SyncRequest, SyncedFile, TaskError, TaskHandler,
};
