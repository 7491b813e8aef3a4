//! The c1z writer pool: a `SyncArbiter` of threads that do the blocking
//! SQLite and zstd work of every running sync, so no arbiter thread ever
//! blocks. Each running sync has one [`SharedWriter`]; any pool thread may
//! take its next batch, and the writer's mutex keeps them in order.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use actix::{Actor, Addr, Handler, Message, SyncArbiter, SyncContext};
use futures::future::BoxFuture;

use crate::c1z::{C1zError, C1zWriter, FinishedC1z};
use crate::sync::{Batch, BatchSink, SyncError};

/// One sync's writer; `None` once finished or aborted.
pub type SharedWriter = Arc<Mutex<Option<C1zWriter>>>;

pub struct WriterPool;

impl Actor for WriterPool {
    type Context = SyncContext<Self>;
}

impl WriterPool {
    pub fn start(threads: usize) -> Addr<WriterPool> {
        SyncArbiter::start(threads.max(1), || WriterPool)
    }
}

fn lock(writer: &SharedWriter) -> std::sync::MutexGuard<'_, Option<C1zWriter>> {
    // A panic while writing poisons the mutex; the writer inside is then
    // abandoned by its sync (which fails), so recovering the guard is safe.
    writer
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

#[derive(Message)]
#[rtype(result = "Result<(), SyncError>")]
pub struct WriteBatch {
    pub writer: SharedWriter,
    pub batch: Batch,
}

impl Handler<WriteBatch> for WriterPool {
    type Result = Result<(), SyncError>;

    fn handle(&mut self, message: WriteBatch, _: &mut SyncContext<Self>) -> Self::Result {
        let mut guard = lock(&message.writer);
        let writer = guard.as_mut().ok_or_else(closed)?;
        let written = match message.batch {
            Batch::ResourceTypes(items) => writer.put_resource_types(&items),
            Batch::Resources(items) => writer.put_resources(&items),
            Batch::Entitlements(items) => writer.put_entitlements(&items),
            Batch::Grants(items) => writer.put_grants(&items),
        };
        Ok(written?)
    }
}

fn closed() -> SyncError {
    SyncError::Internal("the sync's c1z writer was already finished or aborted".into())
}

/// Ends the sync run, compresses, fsyncs and renames into place.
#[derive(Message)]
#[rtype(result = "Result<FinishedC1z, SyncError>")]
pub struct FinishWriter(pub SharedWriter);

impl Handler<FinishWriter> for WriterPool {
    type Result = Result<FinishedC1z, SyncError>;

    fn handle(&mut self, message: FinishWriter, _: &mut SyncContext<Self>) -> Self::Result {
        let writer = lock(&message.0).take().ok_or_else(closed)?;
        Ok(writer.finish()?)
    }
}

/// Drops the sync's temp files; the previous complete file stays.
#[derive(Message)]
#[rtype(result = "()")]
pub struct AbortWriter(pub SharedWriter);

impl Handler<AbortWriter> for WriterPool {
    type Result = ();

    fn handle(&mut self, message: AbortWriter, _: &mut SyncContext<Self>) {
        if let Some(writer) = lock(&message.0).take() {
            writer.abort();
        }
    }
}

/// Creates the writer on a pool thread (creating the SQLite file blocks).
#[derive(Message)]
#[rtype(result = "Result<SharedWriter, C1zError>")]
pub struct CreateWriter {
    pub final_path: PathBuf,
    pub options: crate::c1z::WriterOptions,
}

impl Handler<CreateWriter> for WriterPool {
    type Result = Result<SharedWriter, C1zError>;

    fn handle(&mut self, message: CreateWriter, _: &mut SyncContext<Self>) -> Self::Result {
        let writer = C1zWriter::create(&message.final_path, message.options)?;
        Ok(Arc::new(Mutex::new(Some(writer))))
    }
}

/// The sync's [`BatchSink`]: batches travel to the pool as messages.
pub struct PoolSink {
    pub pool: Addr<WriterPool>,
    pub writer: SharedWriter,
}

impl BatchSink for PoolSink {
    fn put(&self, batch: Batch) -> BoxFuture<'_, Result<(), SyncError>> {
        Box::pin(async move {
            self.pool
                .send(WriteBatch {
                    writer: self.writer.clone(),
                    batch,
                })
                .await
                .map_err(|err| SyncError::WriterLost(err.to_string()))?
        })
    }
}
