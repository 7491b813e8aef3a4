//! Temporary files of a c1z in the making, and publishing the finished file.
//!
//! A writer keeps its working database and its compressed output under names
//! `<final name>.<sync id>.sqlite.tmp` and `<final name>.<sync id>.c1z.tmp`
//! beside the final file, so concurrent writers never share one, a rename
//! stays on one file system, and [`remove_stale_temp_files`] can find what a
//! crash left behind. A guard removes its file unless the file was published.

use std::ffi::OsStr;
use std::fs::{self, File};
use std::io;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use super::C1zError;

const DATABASE_SUFFIX: &str = ".sqlite.tmp";
const OUTPUT_SUFFIX: &str = ".c1z.tmp";
/// SQLite's own side files of a working database (`-journal`, `-wal`, `-shm`).
const SIDE_FILE_SUFFIXES: [&str; 3] = ["-journal", "-wal", "-shm"];
const SYNC_ID_LEN: usize = 27;

pub fn database_path(final_path: &Path, sync_id: &str) -> PathBuf {
    sibling(final_path, sync_id, DATABASE_SUFFIX)
}

pub fn output_path(final_path: &Path, sync_id: &str) -> PathBuf {
    sibling(final_path, sync_id, OUTPUT_SUFFIX)
}

fn sibling(final_path: &Path, sync_id: &str, suffix: &str) -> PathBuf {
    let mut name = final_path
        .file_name()
        .unwrap_or(OsStr::new("c1z"))
        .to_owned();
    name.push(format!(".{sync_id}{suffix}"));
    final_path.with_file_name(name)
}

/// A file removed on drop (with SQLite's side files) unless [`TempFile::keep`] ran.
#[derive(Debug)]
pub struct TempFile {
    path: PathBuf,
    armed: bool,
}

impl TempFile {
    /// Takes charge of `path`, which must not exist yet: it is created empty,
    /// so a stale file of the same name is never reused.
    pub fn create(path: PathBuf) -> Result<(Self, File), C1zError> {
        // 0600 from the start: a sync's data is for this user alone, and
        // SQLite gives its journal and WAL files the database's mode.
        let file = File::options()
            .read(true)
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&path)
            .map_err(|err| C1zError::io("creating", &path, err))?;
        Ok((Self { path, armed: true }, file))
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Renames the file to `target` (atomically replacing it) and makes the
    /// rename durable; from then on the guard removes nothing.
    pub fn publish(mut self, target: &Path) -> Result<(), C1zError> {
        fs::rename(&self.path, target)
            .map_err(|err| C1zError::io("renaming the finished file to", target, err))?;
        self.armed = false;
        sync_directory(target)
    }

    /// Removes the file now, reporting failure instead of ignoring it.
    pub fn remove(mut self) -> Result<(), C1zError> {
        self.armed = false;
        remove_with_side_files(&self.path)
            .map_err(|err| C1zError::io("removing the temporary file", &self.path, err))
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        if self.armed {
            // Best effort: a leftover is found later by remove_stale_temp_files.
            let _ = remove_with_side_files(&self.path);
        }
    }
}

fn remove_with_side_files(path: &Path) -> io::Result<()> {
    for suffix in SIDE_FILE_SUFFIXES {
        let mut side = path.as_os_str().to_owned();
        side.push(suffix);
        remove_if_present(Path::new(&side))?;
    }
    remove_if_present(path)
}

fn remove_if_present(path: &Path) -> io::Result<()> {
    match fs::remove_file(path) {
        Err(err) if err.kind() == io::ErrorKind::NotFound => Ok(()),
        other => other,
    }
}

/// fsyncs the directory holding `path`, so a rename into it survives a crash.
fn sync_directory(path: &Path) -> Result<(), C1zError> {
    let directory = match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    };
    File::open(directory)
        .and_then(|handle| handle.sync_all())
        .map_err(|err| C1zError::io("syncing the directory", directory, err))
}

/// Whether `name` is one of a writer's temporary files (or a SQLite side
/// file of one): `<anything>.<27 alphanumerics>.sqlite.tmp[-journal|-wal|-shm]`
/// or `<anything>.<27 alphanumerics>.c1z.tmp`.
fn is_temp_name(name: &str) -> bool {
    let name = SIDE_FILE_SUFFIXES
        .iter()
        .find_map(|suffix| {
            name.strip_suffix(suffix)
                .filter(|rest| rest.ends_with(DATABASE_SUFFIX))
        })
        .unwrap_or(name);
    let Some(stem) = name
        .strip_suffix(DATABASE_SUFFIX)
        .or_else(|| name.strip_suffix(OUTPUT_SUFFIX))
    else {
        return false;
    };
    match stem.rsplit_once('.') {
        Some((before, sync_id)) => {
            !before.is_empty()
                && sync_id.len() == SYNC_ID_LEN
                && sync_id.bytes().all(|byte| byte.is_ascii_alphanumeric())
        }
        None => false,
    }
}

/// Removes what crashed writers left in `directory` and returns the removed
/// paths. Run it when no writer is working in that directory (at start-up):
/// it cannot tell a live writer's files from a dead one's.
pub fn remove_stale_temp_files(directory: &Path) -> Result<Vec<PathBuf>, C1zError> {
    let entries = fs::read_dir(directory)
        .map_err(|err| C1zError::io("listing temporary files in", directory, err))?;
    let mut removed = Vec::new();
    for entry in entries {
        let entry =
            entry.map_err(|err| C1zError::io("listing temporary files in", directory, err))?;
        let is_ours = entry.file_name().to_str().is_some_and(is_temp_name);
        if is_ours && entry.file_type().is_ok_and(|kind| kind.is_file()) {
            let path = entry.path();
            remove_if_present(&path)
                .map_err(|err| C1zError::io("removing the stale temporary file", &path, err))?;
            removed.push(path);
        }
    }
    removed.sort();
    Ok(removed)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SYNC: &str = "2VQ8pMFm1uSsSRNlFqKjAjzTDNt";

    #[test]
    fn temp_names_carry_the_final_name_and_the_sync_id() {
        let final_path = Path::new("/data/acme/latest.c1z");
        assert_eq!(
            database_path(final_path, SYNC),
            Path::new("/data/acme/latest.c1z.2VQ8pMFm1uSsSRNlFqKjAjzTDNt.sqlite.tmp")
        );
        assert_eq!(
            output_path(final_path, SYNC),
            Path::new("/data/acme/latest.c1z.2VQ8pMFm1uSsSRNlFqKjAjzTDNt.c1z.tmp")
        );
    }

    #[test]
    fn only_writer_temp_names_are_recognised() {
        for ours in [
            format!("latest.c1z.{SYNC}.sqlite.tmp"),
            format!("latest.c1z.{SYNC}.c1z.tmp"),
            format!("x.{SYNC}.sqlite.tmp-journal"),
            format!("x.{SYNC}.sqlite.tmp-wal"),
        ] {
            assert!(is_temp_name(&ours), "{ours}");
        }
        for foreign in [
            "latest.c1z".to_owned(),
            "notes.tmp".to_owned(),
            format!("{SYNC}.c1z.tmp"),
            format!("x.{SYNC}.c1z.tmp-journal"),
            "x.short.sqlite.tmp".to_owned(),
        ] {
            assert!(!is_temp_name(&foreign), "{foreign}");
        }
    }
}
