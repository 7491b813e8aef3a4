//! The c1z writer of one running sync: a thread of its own owns the sync's
//! [`C1zWriter`] (SQLite and zstd block, so they never run on an arbiter)
//! and takes batches from a bounded channel. The channel is the
//! backpressure: a fetcher that gets [`QUEUED_BATCHES`] ahead of the disk
//! waits. Nothing is shared behind a lock: the thread is the file's only
//! owner, and it ends with the sync (finished, aborted, or dropped).

use std::path::PathBuf;

use futures::future::BoxFuture;
use tokio::sync::{mpsc, oneshot};

use crate::sync::{Batch, BatchSink, SyncError};
use baton::c1z::{C1zError, C1zWriter, FinishedC1z, WriterOptions};

/// Batches waiting for the writer thread: enough to keep it busy while the
/// fetchers wait on Confluence, few enough to bound a sync's memory.
pub const QUEUED_BATCHES: usize = 8;

enum Command {
    Put(Batch),
    Finish,
    Abort,
}

/// The fetchers' side: clone it freely, every clone feeds the same thread.
#[derive(Clone)]
pub struct WriterSink {
    commands: mpsc::Sender<Command>,
}

/// The sync job's side: ends the file one way or the other.
pub struct WriterControl {
    commands: mpsc::Sender<Command>,
    outcome: oneshot::Receiver<Result<FinishedC1z, SyncError>>,
}

/// Starts the writer thread for a sync that will end in `final_path`.
/// Returns once the work file exists, so a bad data dir fails here.
pub async fn start(
    tenant: &str,
    final_path: PathBuf,
    options: WriterOptions,
) -> Result<(WriterSink, WriterControl), SyncError> {
    let (commands, receiver) = mpsc::channel(QUEUED_BATCHES);
    let (created_tx, created) = oneshot::channel();
    let (outcome_tx, outcome) = oneshot::channel();
    std::thread::Builder::new()
        .name(format!("c1z-writer-{tenant}"))
        .spawn(move || match C1zWriter::create(&final_path, options) {
            Ok(writer) => {
                let _ = created_tx.send(Ok(()));
                let _ = outcome_tx.send(drain(writer, receiver));
            }
            Err(err) => {
                let _ = created_tx.send(Err(err));
            }
        })
        .map_err(|err| SyncError::WriterLost(format!("cannot start a writer thread: {err}")))?;
    created
        .await
        .map_err(|_| SyncError::WriterLost("the writer thread ended while starting".into()))??;
    let sink = WriterSink {
        commands: commands.clone(),
    };
    Ok((sink, WriterControl { commands, outcome }))
}

/// The thread's loop: write each batch in order until told to finish or
/// abort. A failed write aborts the file at once (its temp files go) and
/// closes the channel, so the fetchers stop instead of listing on.
fn drain(
    mut writer: C1zWriter,
    mut commands: mpsc::Receiver<Command>,
) -> Result<FinishedC1z, SyncError> {
    while let Some(command) = commands.blocking_recv() {
        match command {
            Command::Put(batch) => {
                if let Err(err) = write(&mut writer, batch) {
                    writer.abort();
                    return Err(err.into());
                }
            }
            Command::Finish => return Ok(writer.finish()?),
            Command::Abort => break,
        }
    }
    // Aborted, or every sender dropped without finishing (the sync's task
    // was dropped): the previous complete file stays, the work file goes.
    writer.abort();
    Err(SyncError::Cancelled)
}

fn write(writer: &mut C1zWriter, batch: Batch) -> Result<(), C1zError> {
    match batch {
        Batch::ResourceTypes(items) => writer.put_resource_types(&items),
        Batch::Resources(items) => writer.put_resources(&items),
        Batch::Entitlements(items) => writer.put_entitlements(&items),
        Batch::Grants(items) => writer.put_grants(&items),
    }
}

impl BatchSink for WriterSink {
    fn put(&self, batch: Batch) -> BoxFuture<'_, Result<(), SyncError>> {
        Box::pin(async move {
            self.commands
                .send(Command::Put(batch))
                .await
                .map_err(|_| SyncError::WriterLost("the c1z writer stopped after an error".into()))
        })
    }
}

impl WriterControl {
    /// Ends the sync run, compresses, fsyncs and renames into place.
    pub async fn finish(self) -> Result<FinishedC1z, SyncError> {
        // A closed channel means the thread already ended; its outcome says why.
        let _ = self.commands.send(Command::Finish).await;
        self.outcome.await.unwrap_or_else(|_| Err(lost()))
    }

    /// Drops the work file; the previous complete file stays. Returns what
    /// ended the writer: `Cancelled` when this abort did, or the write error
    /// that had already stopped it (which explains a fetcher's `WriterLost`).
    pub async fn abort(self) -> SyncError {
        let _ = self.commands.send(Command::Abort).await;
        match self.outcome.await {
            Ok(Err(err)) => err,
            Ok(Ok(_)) | Err(_) => SyncError::Cancelled,
        }
    }
}

fn lost() -> SyncError {
    SyncError::WriterLost("the writer thread ended without a result".into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use baton::model::{self, ResourceKind};

    fn options() -> WriterOptions {
        WriterOptions::default()
    }

    #[tokio::test]
    async fn batches_reach_the_file_in_order_and_finish_renames_it() {
        let dir = tempdir();
        let path = dir.join("latest.c1z");
        let (sink, control) = start("t", path.clone(), options()).await.unwrap();
        let types = ResourceKind::ALL
            .into_iter()
            .map(model::resource_type)
            .collect();
        sink.put(Batch::ResourceTypes(types)).await.unwrap();
        sink.put(Batch::Resources(vec![model::group_resource("g")]))
            .await
            .unwrap();
        let finished = control.finish().await.unwrap();
        assert_eq!(finished.path, path);
        assert!(path.exists());
        assert!(!has_temp_files(&dir));
    }

    #[tokio::test]
    async fn abort_leaves_no_file_and_closes_the_sink() {
        let dir = tempdir();
        let path = dir.join("latest.c1z");
        let (sink, control) = start("t", path.clone(), options()).await.unwrap();
        assert!(matches!(control.abort().await, SyncError::Cancelled));
        assert!(!path.exists());
        assert!(!has_temp_files(&dir));
        let refused = sink.put(Batch::Resources(Vec::new())).await;
        assert!(matches!(refused, Err(SyncError::WriterLost(_))));
    }

    #[tokio::test]
    async fn an_unwritable_directory_fails_at_start() {
        let dir = tempdir();
        let blocker = dir.join("file");
        std::fs::write(&blocker, b"x").unwrap();
        let result = start("t", blocker.join("latest.c1z"), options()).await;
        assert!(matches!(result, Err(SyncError::C1z(_))));
    }

    fn tempdir() -> PathBuf {
        let dir = std::env::temp_dir().join(format!(
            "writer-test-{}-{}",
            std::process::id(),
            rand::random::<u64>()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    fn has_temp_files(dir: &std::path::Path) -> bool {
        std::fs::read_dir(dir).unwrap().any(|entry| {
            let name = entry.unwrap().file_name();
            name.to_string_lossy().ends_with(".tmp")
        })
    }
}
