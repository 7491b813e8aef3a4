//! Helpers shared by the integration test modules.

use std::path::{Path, PathBuf};

/// A file of `tests/fixtures/` (the reference c1z, its listing and schema,
/// the small dataset).
pub fn fixture(name: &str) -> PathBuf {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name);
    assert!(path.exists(), "fixture {} is missing", path.display());
    path
}
