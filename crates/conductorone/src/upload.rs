//! Uploads a finished c1z with `UploadAsset`: metadata, the file in 512 KiB
//! chunks, then EOF with the SHA-256 of the whole file; up to three attempts.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::stream::{self, Stream, StreamExt};
use sha2::{Digest, Sha256};
use tokio::io::AsyncReadExt;
use tracing::Instrument;

use super::client::{BatonClient, RpcError};
use baton::pb::c1::connectorapi::baton::v1::BatonServiceUploadAssetRequest;
use baton::pb::c1::connectorapi::baton::v1::baton_service_upload_asset_request::{
    Msg, UploadData, UploadEof, UploadMetadata,
};
use platform::backoff::{BackoffPolicy, Jitter};
use platform::metrics;

/// ConductorOne accepts at most 1 MiB per message; half of that leaves room.
pub(crate) const CHUNK_SIZE: usize = 512 * 1024;
/// Three attempts: a dropped stream is usually answered by the next one.
const UPLOAD_ATTEMPTS: usize = 3;
/// Waits before the second and third attempt: about ½ s, then 1 s.
const UPLOAD_RETRY: BackoffPolicy =
    BackoffPolicy::new(Duration::from_millis(500), Duration::from_secs(2))
        .with_jitter(Jitter::Equal);

#[derive(Debug, thiserror::Error)]
pub enum UploadError {
    #[error("cannot read the c1z {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("upload failed after {attempts} attempts: {source}")]
    Rejected { attempts: usize, source: RpcError },
}

impl UploadError {
    pub fn code(&self) -> tonic::Code {
        match self {
            Self::Read { .. } => tonic::Code::Internal,
            Self::Rejected { source, .. } => source.code(),
        }
    }
}

/// Uploads `path` for `task_id` and returns the bytes sent.
pub async fn upload_c1z(
    client: &BatonClient,
    tenant: &str,
    task_id: &str,
    path: &Path,
) -> Result<u64, UploadError> {
    let span = tracing::info_span!("c1.upload", tenant, task_id, bytes = tracing::field::Empty);
    upload_with_retries(client, tenant, task_id, path)
        .instrument(span)
        .await
}

async fn upload_with_retries(
    client: &BatonClient,
    tenant: &str,
    task_id: &str,
    path: &Path,
) -> Result<u64, UploadError> {
    let read_error = |source| UploadError::Read {
        path: path.to_owned(),
        source,
    };
    let (size, checksum) = file_digest(path.to_owned()).await.map_err(read_error)?;
    tracing::Span::current().record("bytes", size);
    let mut attempt = 0;
    let mut backoff = UPLOAD_RETRY.start();
    loop {
        attempt += 1;
        let failed_read = Arc::new(Mutex::new(None));
        let messages = upload_messages(
            client.host_id(),
            task_id,
            path,
            checksum,
            failed_read.clone(),
        )
        .await
        .map_err(read_error)?;
        let result = client.upload_asset(messages).await;
        if let Some(source) = failed_read.lock().ok().and_then(|mut slot| slot.take()) {
            return Err(read_error(source));
        }
        match result {
            Ok(()) => {
                metrics::upload_bytes(tenant, size);
                tracing::info!(attempt, "c1z uploaded");
                return Ok(size);
            }
            Err(source) if attempt >= UPLOAD_ATTEMPTS => {
                return Err(UploadError::Rejected {
                    attempts: attempt,
                    source,
                });
            }
            Err(err) => {
                tracing::warn!(attempt, error = %err, "upload attempt failed");
                // UPLOAD_RETRY has no elapsed budget, so there is always a delay.
                let delay = backoff.next_delay().unwrap_or(UPLOAD_RETRY.max);
                tokio::time::sleep(delay).await;
            }
        }
    }
}

/// Size and SHA-256 of the whole file, off the async threads: a c1z can be gigabytes.
async fn file_digest(path: PathBuf) -> std::io::Result<(u64, [u8; 32])> {
    tokio::task::spawn_blocking(move || {
        let mut file = std::fs::File::open(path)?;
        let mut hasher = Sha256::new();
        let mut buffer = vec![0; CHUNK_SIZE];
        let mut size = 0u64;
        loop {
            let read = file.read(&mut buffer)?;
            if read == 0 {
                break;
            }
            size += read as u64;
            hasher.update(&buffer[..read]);
        }
        Ok((size, hasher.finalize().into()))
    })
    .await
    .map_err(std::io::Error::other)?
}

enum Phase {
    Data(tokio::fs::File),
    Eof,
    Done,
}

/// The request stream of one attempt. A read error ends the stream without
/// EOF (the server then refuses the upload) and is left in `failed_read`.
async fn upload_messages(
    host_id: &str,
    task_id: &str,
    path: &Path,
    checksum: [u8; 32],
    failed_read: Arc<Mutex<Option<std::io::Error>>>,
) -> std::io::Result<impl Stream<Item = BatonServiceUploadAssetRequest> + Send + 'static> {
    let file = tokio::fs::File::open(path).await?;
    let metadata = request(Msg::Metadata(UploadMetadata {
        host_id: host_id.to_owned(),
        task_id: task_id.to_owned(),
        annotations: Vec::new(),
    }));
    let body = stream::unfold(Phase::Data(file), move |phase| {
        let failed_read = failed_read.clone();
        async move {
            match phase {
                Phase::Data(mut file) => match read_chunk(&mut file).await {
                    Ok(chunk) if chunk.is_empty() => Some((None, Phase::Eof)),
                    Ok(chunk) => Some((
                        Some(request(Msg::Data(UploadData { data: chunk }))),
                        Phase::Data(file),
                    )),
                    Err(err) => {
                        if let Ok(mut slot) = failed_read.lock() {
                            *slot = Some(err);
                        }
                        None
                    }
                },
                Phase::Eof => Some((
                    Some(request(Msg::Eof(UploadEof {
                        sha256_checksum: checksum.to_vec(),
                        annotations: Vec::new(),
                    }))),
                    Phase::Done,
                )),
                Phase::Done => None,
            }
        }
    })
    .filter_map(std::future::ready);
    Ok(stream::once(std::future::ready(metadata)).chain(body))
}

/// Fills one chunk (short only at the end of the file).
async fn read_chunk(file: &mut tokio::fs::File) -> std::io::Result<Vec<u8>> {
    let mut chunk = vec![0; CHUNK_SIZE];
    let mut filled = 0;
    while filled < CHUNK_SIZE {
        let read = file.read(&mut chunk[filled..]).await?;
        if read == 0 {
            break;
        }
        filled += read;
    }
    chunk.truncate(filled);
    Ok(chunk)
}

fn request(msg: Msg) -> BatonServiceUploadAssetRequest {
    BatonServiceUploadAssetRequest { msg: Some(msg) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn stream_is_metadata_then_full_chunks_then_eof_with_the_whole_file_digest() {
        let path = std::env::temp_dir().join(format!("c1-upload-test-{}", std::process::id()));
        let content: Vec<u8> = (0..CHUNK_SIZE * 2 + 10).map(|i| (i % 251) as u8).collect();
        std::fs::write(&path, &content).unwrap();

        let (size, checksum) = file_digest(path.clone()).await.unwrap();
        assert_eq!(size, content.len() as u64);
        let failed = Arc::new(Mutex::new(None));
        let messages: Vec<_> = upload_messages("host", "task", &path, checksum, failed)
            .await
            .unwrap()
            .collect()
            .await;
        std::fs::remove_file(&path).unwrap();

        let kinds: Vec<_> = messages
            .iter()
            .map(|message| match message.msg.as_ref().unwrap() {
                Msg::Metadata(meta) => format!("meta:{}:{}", meta.host_id, meta.task_id),
                Msg::Data(data) => format!("data:{}", data.data.len()),
                Msg::Eof(eof) => format!("eof:{}", hex::encode(&eof.sha256_checksum)),
            })
            .collect();
        let digest = hex::encode(Sha256::digest(&content));
        assert_eq!(
            kinds,
            [
                "meta:host:task".to_owned(),
                format!("data:{CHUNK_SIZE}"),
                format!("data:{CHUNK_SIZE}"),
                "data:10".to_owned(),
                format!("eof:{digest}"),
            ]
        );
    }
}
