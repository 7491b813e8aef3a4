//! What can go wrong writing or reading a c1z. Every error names the file and
//! the operation, and the common causes say what to do about them.

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};

use rusqlite::ErrorCode;

#[derive(Debug, thiserror::Error)]
pub enum C1zError {
    // The cause is part of the message (not a `source`), so a log line of
    // the error alone says everything and chain printers do not repeat it.
    #[error("c1z: {operation} {} failed: {error}{advice}", path.display())]
    Io {
        operation: &'static str,
        path: PathBuf,
        error: io::Error,
        advice: Advice,
    },

    #[error("c1z: {operation} {} failed: SQLite: {error}{advice}", path.display())]
    Sqlite {
        operation: &'static str,
        path: PathBuf,
        // Boxed: rusqlite's error is large and every Result here carries it.
        error: Box<rusqlite::Error>,
        advice: Advice,
    },

    #[error("c1z: {} is not a c1z file: {problem}", path.display())]
    NotC1z { path: PathBuf, problem: String },

    #[error(
        "c1z: {} needs a zstd window of {window} bytes, more than the {limit} bytes Baton's decoder \
         accepts (BATON_DECODER_MAX_MEMORY_MB); ConductorOne would reject it, so re-create the file \
         with a window of at most 128 MiB",
        path.display()
    )]
    WindowTooLarge {
        path: PathBuf,
        window: u64,
        limit: u64,
    },

    #[error(
        "c1z: {} decompresses to more than {limit} bytes, Baton's decoded-size cap \
         (BATON_DECODER_MAX_DECODED_SIZE_MB); raise the reader's limit if you trust the file",
        path.display()
    )]
    DecodedTooLarge { path: PathBuf, limit: u64 },

    #[error("c1z: {} is damaged: {problem}", path.display())]
    Corrupt { path: PathBuf, problem: String },

    #[error("c1z: cannot store {object} in {}: {problem}; fix the object before writing it", path.display())]
    InvalidObject {
        path: PathBuf,
        object: String,
        problem: String,
    },

    #[error(
        "c1z: {} was started as a `resources_only` sync, which holds no {table}; start the writer \
         with SyncType::Full to store them",
        path.display()
    )]
    SkippedTable { path: PathBuf, table: &'static str },

    #[error(
        "c1z: cannot expand the grants of {}: {problem}; the connector wrote grant expansion \
         data Baton cannot expand, so report it as a bug",
        path.display()
    )]
    Expansion { path: PathBuf, problem: String },

    #[error(
        "c1z: expanding the grants of {} would make its database larger than {limit} bytes, more \
         than any Baton reader decodes (BATON_DECODER_MAX_DECODED_SIZE_MB); let ConductorOne \
         expand them (sync tasks with skip_expand_grants = true)",
        path.display()
    )]
    ExpansionTooLarge { path: PathBuf, limit: u64 },

    #[error(
        "c1z: an earlier write to {} failed ({cause}); nothing more can be written: abort this \
         writer and start a new sync",
        path.display()
    )]
    WriterFailed { path: PathBuf, cause: String },
}

impl C1zError {
    pub(crate) fn io(operation: &'static str, path: &Path, error: io::Error) -> Self {
        let advice = Advice::io(&error, path);
        Self::Io {
            operation,
            path: path.to_owned(),
            error,
            advice,
        }
    }

    pub(crate) fn sqlite(operation: &'static str, path: &Path, error: rusqlite::Error) -> Self {
        let advice = Advice::sqlite(&error, path);
        Self::Sqlite {
            operation,
            path: path.to_owned(),
            error: Box::new(error),
            advice,
        }
    }

    pub(crate) fn corrupt(path: &Path, problem: impl Into<String>) -> Self {
        Self::Corrupt {
            path: path.to_owned(),
            problem: problem.into(),
        }
    }
}

/// The "what to do" tail of an I/O or SQLite error message, decided when the
/// error happens (it may look at the file system); empty when there is none.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Advice(String);

impl Advice {
    fn io(error: &io::Error, path: &Path) -> Self {
        let directory = directory_of(path);
        Self(match error.kind() {
            io::ErrorKind::StorageFull | io::ErrorKind::QuotaExceeded => disk_full(&directory),
            io::ErrorKind::PermissionDenied => permission_denied(&directory),
            io::ErrorKind::NotFound | io::ErrorKind::NotADirectory if !directory.is_dir() => {
                format!(
                    "; the directory {} does not exist: create it first",
                    directory.display()
                )
            }
            io::ErrorKind::NotFound => "; check the path".to_owned(),
            io::ErrorKind::ReadOnlyFilesystem => read_only(&directory),
            _ => String::new(),
        })
    }

    fn sqlite(error: &rusqlite::Error, path: &Path) -> Self {
        let directory = directory_of(path);
        Self(match error.sqlite_error_code() {
            Some(ErrorCode::DiskFull) => disk_full(&directory),
            Some(ErrorCode::PermissionDenied | ErrorCode::CannotOpen) => {
                permission_denied(&directory)
            }
            Some(ErrorCode::ReadOnly) => read_only(&directory),
            Some(ErrorCode::NotADatabase | ErrorCode::DatabaseCorrupt) => {
                "; the database inside is damaged or not SQLite".to_owned()
            }
            _ => String::new(),
        })
    }
}

impl fmt::Display for Advice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

fn directory_of(path: &Path) -> PathBuf {
    match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent.to_owned(),
        _ => PathBuf::from("."),
    }
}

fn disk_full(directory: &Path) -> String {
    format!(
        "; the disk holding {} is full: free space there or move the data directory to a larger \
         volume",
        directory.display()
    )
}

fn permission_denied(directory: &Path) -> String {
    format!(
        "; permission denied: let this process's user create and write files in {}",
        directory.display()
    )
}

fn read_only(directory: &Path) -> String {
    format!(
        "; {} is on a read-only file system: mount it writable",
        directory.display()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn disk_full_names_the_file_the_operation_and_the_remedy() {
        let error = C1zError::io(
            "compressing the database into",
            Path::new("/data/acme/latest.c1z.tmp"),
            io::Error::from(io::ErrorKind::StorageFull),
        );
        let message = error.to_string();
        assert!(message.contains("compressing the database into /data/acme/latest.c1z.tmp"));
        assert!(
            message.contains("the disk holding /data/acme is full"),
            "{message}"
        );
    }

    #[test]
    fn permission_denied_says_which_directory_to_fix() {
        let error = C1zError::io(
            "creating",
            Path::new("/data/acme/x.sqlite.tmp"),
            io::Error::from(io::ErrorKind::PermissionDenied),
        );
        assert!(
            error
                .to_string()
                .contains("create and write files in /data/acme"),
            "{error}"
        );
    }

    #[test]
    fn missing_directory_and_missing_file_get_different_advice() {
        let not_found = || io::Error::from(io::ErrorKind::NotFound);
        let error = C1zError::io("creating", Path::new("/no/such/dir/x.c1z"), not_found());
        assert!(
            error
                .to_string()
                .contains("the directory /no/such/dir does not exist"),
            "{error}"
        );
        let error = C1zError::io(
            "reading",
            &std::env::temp_dir().join("absent.c1z"),
            not_found(),
        );
        assert!(error.to_string().ends_with("; check the path"), "{error}");
    }
}
