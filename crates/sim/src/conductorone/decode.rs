//! Decodes a verified upload with our c1z reader, so tests and the control
//! API see what a connector actually sent. A file that does not decode is
//! still accepted (ConductorOne, too, ingests after the upload); the record
//! says why it did not decode.

use std::sync::Arc;

use serde::Serialize;

use baton::c1z::C1zReader;

/// What a decoded upload holds, for the sync the reader selects.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct UploadContents {
    pub sync_id: Option<String>,
    pub resource_types: u64,
    pub resources: u64,
    pub entitlements: u64,
    pub grants: u64,
}

/// Reads `bytes` as a c1z, off the async threads (SQLite and zstd block).
pub async fn decode_c1z(bytes: Arc<Vec<u8>>) -> Result<UploadContents, String> {
    tokio::task::spawn_blocking(move || {
        let path = std::env::temp_dir().join(format!(
            "c1-sim-upload-{}.c1z",
            hex::encode(rand::random::<[u8; 8]>())
        ));
        std::fs::write(&path, bytes.as_slice()).map_err(|err| err.to_string())?;
        let summary = C1zReader::open(&path).and_then(|reader| reader.summary());
        // Best effort: a leftover temporary file is harmless.
        let _ = std::fs::remove_file(&path);
        let summary = summary.map_err(|err| err.to_string())?;
        Ok(UploadContents {
            sync_id: summary.selected_sync_id,
            resource_types: summary.resource_types,
            resources: summary.resources,
            entitlements: summary.entitlements,
            grants: summary.grants,
        })
    })
    .await
    .map_err(|err| format!("the decoder stopped: {err}"))?
}
