//! The Baton `.c1z` file (docs/baton-wire.md §1): a `C1ZF\0` header and one
//! zstd frame of a SQLite database with the `v1_*` tables. [`C1zWriter`]
//! builds one sync into such a file, crash-safe.

mod error;
pub mod format;
mod ksuid;
mod rows;
mod schema;
mod temp;
mod timestamp;
mod writer;

pub use error::C1zError;
pub use format::{DecoderLimits, FrameHeader};
pub use ksuid::new_sync_id;
pub use temp::remove_stale_temp_files;
pub use writer::{C1zWriter, Counts, FinishedC1z, InjectedFailure, SyncType, WriterOptions};
