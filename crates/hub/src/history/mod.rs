//! Each tenant's history of finished syncs and provisioning tasks, so the
//! console and `/status` are not blank after a restart: one JSON line per
//! record appended to `<data_dir>/<tenant>/history.jsonl`, rotated to
//! `history.jsonl.1` past [`ROTATE_AT_BYTES`], read back when the tenant
//! starts. A file that does not parse is set aside, never fatal.

mod writer;

pub use writer::{HistoryLog, HistoryWriter};

use std::path::{Path, PathBuf};
use std::time::SystemTime;

use serde::{Deserialize, Serialize};

use crate::actors::status::{LastSync, SyncOutcome, rfc3339};

/// Records the console shows per tenant (and reads back at start).
pub const HISTORY_KEPT: usize = 50;

/// The current file moves to `.1` (replacing the one before) once it
/// reaches this size: a few hundred records, so two generations always
/// hold the last [`HISTORY_KEPT`], and a tenant's history never outgrows
/// a quarter of a megabyte.
pub const ROTATE_AT_BYTES: u64 = 128 * 1024;

pub const FILE_NAME: &str = "history.jsonl";
const PREVIOUS_SUFFIX: &str = ".1";

/// One finished piece of work.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum HistoryEntry {
    Sync(LastSync),
    Task(TaskRecord),
}

impl HistoryEntry {
    pub fn started_at(&self) -> SystemTime {
        match self {
            Self::Sync(sync) => sync.started_at,
            Self::Task(task) => task.started_at,
        }
    }
}

/// A finished provisioning task (ConductorOne's syncs are syncs).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct TaskRecord {
    /// `grant`, `revoke`, `create_account` or `delete_resource`.
    pub task_type: String,
    #[serde(with = "rfc3339")]
    pub started_at: SystemTime,
    #[serde(with = "rfc3339")]
    pub ended_at: SystemTime,
    pub outcome: SyncOutcome,
    pub duration_ms: u64,
    pub error: Option<String>,
}

/// The history file of the tenant whose directory is `tenant_dir`.
pub fn file_of(tenant_dir: &Path) -> PathBuf {
    tenant_dir.join(FILE_NAME)
}

fn previous_of(file: &Path) -> PathBuf {
    let mut name = file.as_os_str().to_owned();
    name.push(PREVIOUS_SUFFIX);
    PathBuf::from(name)
}

/// What [`load`] found: the last records, and the files it set aside.
#[derive(Debug, Default)]
pub struct Loaded {
    pub entries: Vec<HistoryEntry>,
    pub set_aside: Vec<PathBuf>,
}

/// Reads the tenant's last [`HISTORY_KEPT`] records (previous generation,
/// then current). A file with a line that does not parse (a crash cut it,
/// or someone edited it) keeps the records before that line and is renamed
/// to `<name>.corrupt-<unix seconds>` with a warning, so the next append
/// starts a clean file.
pub fn load(tenant: &str, file: &Path) -> Loaded {
    let mut loaded = Loaded::default();
    for path in [previous_of(file), file.to_owned()] {
        let Ok(text) = std::fs::read_to_string(&path) else {
            if path.exists() {
                set_aside(tenant, &path, "it is not UTF-8 text", &mut loaded);
            }
            continue;
        };
        for (number, line) in text.lines().enumerate() {
            if line.trim().is_empty() {
                continue;
            }
            match serde_json::from_str::<HistoryEntry>(line) {
                Ok(entry) => loaded.entries.push(entry),
                Err(err) => {
                    let why = format!("line {} does not parse: {err}", number + 1);
                    set_aside(tenant, &path, &why, &mut loaded);
                    break;
                }
            }
        }
    }
    let excess = loaded.entries.len().saturating_sub(HISTORY_KEPT);
    loaded.entries.drain(..excess);
    loaded
}

fn set_aside(tenant: &str, path: &Path, why: &str, loaded: &mut Loaded) {
    let seconds = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs();
    let mut name = path.as_os_str().to_owned();
    name.push(format!(".corrupt-{seconds}"));
    let aside = PathBuf::from(name);
    match std::fs::rename(path, &aside) {
        Ok(()) => {
            tracing::warn!(
                tenant,
                file = %path.display(),
                moved_to = %aside.display(),
                "the tenant's history file is damaged ({why}); it was set aside and a new one is started. The console shows the records before the damage; delete the set-aside file once you no longer need it"
            );
            loaded.set_aside.push(aside);
        }
        Err(err) => tracing::warn!(
            tenant,
            file = %path.display(),
            error = %err,
            "the tenant's history file is damaged ({why}) and cannot be set aside; move or delete it so new records are kept"
        ),
    }
}

#[cfg(test)]
mod tests;
