use std::process::ExitCode;

/// jemalloc for every allocation, SQLite's and zstd's included: it hands
/// freed memory back to the system on its own (glibc's malloc keeps it), and
/// costs less CPU per sync. Why, measured: docs/decisions.md.
#[cfg(not(feature = "system-allocator"))]
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// Read by jemalloc when it starts: a background thread returns pages left
/// unused for a second, so the peak of a burst of syncs does not stay.
#[cfg(not(feature = "system-allocator"))]
#[unsafe(export_name = "malloc_conf")]
static MALLOC_CONF: &[u8] = b"background_thread:true,dirty_decay_ms:1000,muzzy_decay_ms:0\0";

fn main() -> ExitCode {
    confluence_hub::cli::run(confluence_hub::cli::Cli::parse_args())
}
