//! The one thread that touches history files: appends, rotations and the
//! read-back at start happen here, in the order they were asked for, so an
//! actor arbiter never waits on the disk and a tenant's load always comes
//! before its next append.

use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::Duration;

use tokio::sync::oneshot;

use super::{HistoryEntry, ROTATE_AT_BYTES, load, previous_of};

enum Command {
    Append {
        tenant: String,
        file: PathBuf,
        entry: HistoryEntry,
    },
    Load {
        tenant: String,
        file: PathBuf,
        reply: oneshot::Sender<Vec<HistoryEntry>>,
    },
    Flush(mpsc::Sender<()>),
}

/// Where Instances send their records; cheap to clone, never blocks.
#[derive(Clone)]
pub struct HistoryLog {
    commands: mpsc::Sender<Command>,
}

impl HistoryLog {
    pub fn append(&self, tenant: &str, file: PathBuf, entry: HistoryEntry) {
        let command = Command::Append {
            tenant: tenant.to_owned(),
            file,
            entry,
        };
        if self.commands.send(command).is_err() {
            tracing::warn!(
                tenant,
                "the history writer has stopped; this record is kept in memory only"
            );
        }
    }

    /// The tenant's last records, read on the writer thread; an empty list
    /// when the writer has stopped.
    pub async fn load(&self, tenant: &str, file: PathBuf) -> Vec<HistoryEntry> {
        let (reply, answer) = oneshot::channel();
        let command = Command::Load {
            tenant: tenant.to_owned(),
            file,
            reply,
        };
        if self.commands.send(command).is_err() {
            return Vec::new();
        }
        answer.await.unwrap_or_default()
    }
}

/// Owns the writer thread.
pub struct HistoryWriter {
    log: HistoryLog,
}

impl HistoryWriter {
    pub fn spawn() -> std::io::Result<Self> {
        let (commands, inbox) = mpsc::channel();
        std::thread::Builder::new()
            .name("history-writer".into())
            .spawn(move || run(&inbox))?;
        Ok(Self {
            log: HistoryLog { commands },
        })
    }

    pub fn log(&self) -> HistoryLog {
        self.log.clone()
    }

    /// Waits (up to `timeout`) until every record sent so far is written.
    pub fn flush(&self, timeout: Duration) -> bool {
        let (done, finished) = mpsc::channel();
        self.log.commands.send(Command::Flush(done)).is_ok()
            && finished.recv_timeout(timeout).is_ok()
    }
}

fn run(inbox: &mpsc::Receiver<Command>) {
    while let Ok(command) = inbox.recv() {
        match command {
            Command::Append {
                tenant,
                file,
                entry,
            } => {
                if let Err(err) = append(&file, &entry) {
                    tracing::warn!(
                        tenant,
                        file = %file.display(),
                        error = %err,
                        "cannot append to the tenant's history file; the console keeps the record until the hub stops. Check that the data dir is writable and not full"
                    );
                }
            }
            Command::Load {
                tenant,
                file,
                reply,
            } => {
                let _ = reply.send(load(&tenant, &file).entries);
            }
            Command::Flush(done) => {
                let _ = done.send(());
            }
        }
    }
}

/// Appends one line (files 0600, directories 0700: the data dir's modes);
/// a full file becomes the previous generation.
fn append(file: &Path, entry: &HistoryEntry) -> std::io::Result<()> {
    if let Some(dir) = file.parent() {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)?;
    }
    let mut line = serde_json::to_vec(entry).map_err(std::io::Error::other)?;
    line.push(b'\n');
    let mut open = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o600)
        .open(file)?;
    open.write_all(&line)?;
    if open.metadata()?.len() >= ROTATE_AT_BYTES {
        std::fs::rename(file, previous_of(file))?;
    }
    Ok(())
}
