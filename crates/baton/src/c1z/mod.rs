//! The Baton `.c1z` file (docs/data-model.md, What a c1z holds): a `C1ZF\0` header and one
//! zstd frame of a SQLite database with the `v1_*` tables. [`C1zWriter`]
//! builds one sync into such a file, crash-safe; [`C1zReader`] opens one
//! (ours or the reference connector's) for tests and `confluence-hub inspect`.

mod error;
mod expand;
pub mod format;
mod known_ids;
mod ksuid;
mod listing;
mod reader;
mod rows;
mod schema;
mod temp;
mod timestamp;
mod upsert;
mod writer;

pub use error::{Advice, C1zError};
pub use expand::ExpansionCounts;
pub use format::{DecoderLimits, FrameHeader};
pub use ksuid::new_sync_id;
pub use listing::{
    ListedEntitlement, ListedExpansion, ListedGrant, ListedResource, ListedResourceId,
    ListedResourceType, Listing,
};
pub use reader::{C1zReader, ReaderOptions, StoredGrant, Summary, SyncRun, TypeCounts};
pub use temp::remove_stale_temp_files;
pub use writer::{C1zWriter, Counts, FinishedC1z, InjectedFailure, SyncType, WriterOptions};
