//! [`C1zWriter`]: one sync into one c1z file, blocking (run it off async threads).
//!
//! Objects go into a working SQLite database beside the final file, in
//! batched transactions through cached prepared statements, appended in rowid
//! order (see `known_ids`). `finish` expands grants when the sync asked for
//! it (see `expand`), builds the indexes, ends the sync run, switches the
//! database to `journal_mode=DELETE`, closes it,
//! streams it through zstd into a temporary file, fsyncs, renames it over the
//! final path and fsyncs the directory. Until that rename the final path keeps
//! whatever it held before; on error, `abort` or drop, the temporary files go.

use std::io::{self, Write};
use std::path::{Path, PathBuf};

use rusqlite::{Connection, params};

use super::expand::{self, ExpandError, ExpansionCounts};
use super::known_ids::KnownIds;
use super::rows::{self, Rejected};
use super::temp::{self, TempFile};
use super::upsert::{self, Row};
use super::{C1zError, DecoderLimits, format, ksuid, schema, timestamp};
use crate::pb::c1::connector::v2::{Entitlement, Grant, Resource, ResourceType};

/// Rows per transaction: big enough that commits cost nothing measurable,
/// small enough that a commit never has much to write at once.
const COMMIT_EVERY_ROWS: usize = 50_000;
/// SQLite page cache while rows arrive (KiB): appending needs few pages,
/// and the rest wait in the file (the OS page cache), not in the heap.
const LOAD_CACHE_KIB: i64 = 2 * 1024;
/// SQLite page cache while the indexes are built (KiB); the sorter spills to
/// the file past about as much again. Bigger caches bought no speed and cost
/// memory in every concurrent sync: a million grants take 7.5 s and peak at
/// 78 MiB with these sizes, 8.0 s and 189 MiB with 8 and 64 MiB
/// (benches/c1z_write.rs).
const INDEX_CACHE_KIB: i64 = 8 * 1024;
/// Grant expansion stops past this database size: 10 GiB is the most the
/// newest Baton SDK decodes (docs/data-model.md, Envelope), so a bigger file
/// would be refused anyway.
const MAX_EXPANDED_DATABASE_BYTES: u64 = 10 * 1024 * 1024 * 1024;
/// How much of the compressed output an injected compression failure lets through.
const INJECTED_FAILURE_AFTER_BYTES: u64 = 4096;
const MAX_SYNC_ID_LEN: usize = 64;

/// The `sync_type` of the run the file records.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum SyncType {
    /// Resource types, resources, entitlements and grants.
    #[default]
    Full,
    /// Entitlements and grants were skipped; the writer refuses them.
    ResourcesOnly,
}

impl SyncType {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Full => "full",
            Self::ResourcesOnly => "resources_only",
        }
    }
}

/// Makes a writer fail at one point as if the disk had filled up, so tests
/// (ours and the hub's) can prove that a failure there leaves no partial file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InjectedFailure {
    /// The next `put_*` call fails inside SQLite.
    Insert,
    /// `finish` fails after writing part of the compressed file.
    Compress,
    /// `finish` fails after the compressed file is complete, before the rename.
    Publish,
}

#[derive(Clone, Debug)]
pub struct WriterOptions {
    /// Recorded in every row and in the sync run; also part of the temporary
    /// file names, so it must be 1 to 64 ASCII letters and digits.
    pub sync_id: String,
    pub sync_type: SyncType,
    /// Expand grants before finishing (a task with `skip_expand_grants =
    /// false`); otherwise the file only records what to expand.
    pub expand_grants: bool,
    pub inject_failure: Option<InjectedFailure>,
}

impl Default for WriterOptions {
    /// A full sync under a fresh KSUID, grants recorded but not expanded.
    fn default() -> Self {
        Self {
            sync_id: ksuid::new_sync_id(),
            sync_type: SyncType::Full,
            expand_grants: false,
            inject_failure: None,
        }
    }
}

/// Rows per table.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counts {
    pub resource_types: u64,
    pub resources: u64,
    pub entitlements: u64,
    pub grants: u64,
}

/// A complete c1z at its final path.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FinishedC1z {
    pub path: PathBuf,
    /// Bytes of the whole file, header included.
    pub size: u64,
    /// SHA-256 of the whole file, as ConductorOne's upload checks it.
    pub sha256: [u8; 32],
    /// Bytes of the SQLite database inside (the zstd content size).
    pub database_size: u64,
    pub counts: Counts,
    /// What grant expansion did; all zero when it was not asked for.
    pub expansion: ExpansionCounts,
    pub sync_id: String,
}

impl FinishedC1z {
    pub fn sha256_hex(&self) -> String {
        hex::encode(self.sha256)
    }
}

#[derive(Debug)]
pub struct C1zWriter {
    final_path: PathBuf,
    sync_id: String,
    sync_type: SyncType,
    expand_grants: bool,
    inject_failure: Option<InjectedFailure>,
    // Declared before `database` so it closes before the file is removed.
    connection: Connection,
    database: TempFile,
    known: KnownTables,
    rows_since_commit: usize,
    /// Set when a write failed part-way; the database is then unusable.
    failure: Option<String>,
}

impl C1zWriter {
    /// Starts a sync that will end up at `final_path`. Its directory must
    /// exist; the file itself is not touched until [`C1zWriter::finish`].
    pub fn create(final_path: &Path, options: WriterOptions) -> Result<Self, C1zError> {
        check_sync_id(final_path, &options.sync_id)?;
        if final_path.is_dir() {
            return Err(C1zError::io(
                "preparing",
                final_path,
                io::Error::new(io::ErrorKind::IsADirectory, "the c1z path is a directory"),
            ));
        }
        let (database, file) = TempFile::create(temp::database_path(final_path, &options.sync_id))?;
        drop(file);
        let sqlite = |operation| sqlite_error(operation, database.path());
        let connection = Connection::open(database.path()).map_err(sqlite("opening"))?;
        // The working database is thrown away on any failure, so it needs no
        // journal and no fsync; `finish` makes the shipped file self-contained.
        connection
            .execute_batch(&format!(
                "pragma journal_mode = off;
                 pragma synchronous = off;
                 pragma locking_mode = exclusive;
                 pragma cache_size = -{LOAD_CACHE_KIB};"
            ))
            .map_err(sqlite("configuring"))?;
        connection
            .execute_batch(schema::TABLES)
            .map_err(sqlite("creating the tables in"))?;
        connection
            .execute_batch("begin")
            .map_err(sqlite("starting a transaction in"))?;
        connection
            .execute(
                schema::START_SYNC_RUN,
                params![
                    options.sync_id,
                    timestamp::now(),
                    options.sync_type.as_str()
                ],
            )
            .map_err(sqlite("recording the sync run in"))?;
        Ok(Self {
            final_path: final_path.to_owned(),
            sync_id: options.sync_id,
            sync_type: options.sync_type,
            expand_grants: options.expand_grants,
            inject_failure: options.inject_failure,
            connection,
            database,
            known: KnownTables::default(),
            rows_since_commit: 0,
            failure: None,
        })
    }

    pub fn sync_id(&self) -> &str {
        &self.sync_id
    }

    pub fn final_path(&self) -> &Path {
        &self.final_path
    }

    /// Rows stored so far, per table (an upsert of a known id adds none).
    pub fn counts(&self) -> Counts {
        self.known.counts()
    }

    pub fn put_resource_types(&mut self, items: &[ResourceType]) -> Result<(), C1zError> {
        self.check_usable()?;
        let rows = self.convert(items, rows::resource_type_row)?;
        self.store("inserting resource types into", &rows, |known| {
            &mut known.resource_types
        })
    }

    pub fn put_resources(&mut self, items: &[Resource]) -> Result<(), C1zError> {
        self.check_usable()?;
        let rows = self.convert(items, rows::resource_row)?;
        self.store("inserting resources into", &rows, |known| {
            &mut known.resources
        })
    }

    pub fn put_entitlements(&mut self, items: &[Entitlement]) -> Result<(), C1zError> {
        self.check_usable()?;
        self.check_not_skipped("entitlements")?;
        let rows = self.convert(items, rows::entitlement_row)?;
        self.store("inserting entitlements into", &rows, |known| {
            &mut known.entitlements
        })
    }

    /// Stores grants; a `GrantExpandable` annotation moves into the
    /// `expansion` column (docs/data-model.md, Grant expansion in the file).
    pub fn put_grants(&mut self, items: &[Grant]) -> Result<(), C1zError> {
        self.check_usable()?;
        self.check_not_skipped("grants")?;
        let rows = self.convert(items, rows::grant_row)?;
        self.store("inserting grants into", &rows, |known| &mut known.grants)
    }

    /// Ends the sync run and publishes the file at its final path.
    pub fn finish(self) -> Result<FinishedC1z, C1zError> {
        let Self {
            final_path,
            sync_id,
            expand_grants,
            inject_failure,
            connection,
            database,
            known,
            failure,
            ..
        } = self;
        if let Some(cause) = failure {
            return Err(C1zError::WriterFailed {
                path: final_path,
                cause,
            });
        }
        let sqlite = |operation| sqlite_error(operation, database.path());
        connection
            .execute_batch(&format!("pragma cache_size = -{INDEX_CACHE_KIB};"))
            .map_err(sqlite("configuring"))?;
        // Expansion appends rows, so it runs before the indexes are built.
        let expansion = if expand_grants {
            let counts = expand::expand(
                &connection,
                &sync_id,
                &timestamp::now(),
                MAX_EXPANDED_DATABASE_BYTES,
            )
            .map_err(|err| match err {
                ExpandError::Sqlite(err) => sqlite("expanding the grants in")(err),
                ExpandError::Invalid(problem) => C1zError::Expansion {
                    path: final_path.clone(),
                    problem,
                },
                ExpandError::TooLarge { limit } => C1zError::ExpansionTooLarge {
                    path: final_path.clone(),
                    limit,
                },
            })?;
            tracing::info!(
                edges = counts.edges,
                created = counts.created,
                updated = counts.updated,
                unknown_sources = counts.unknown_sources,
                "c1z: grants expanded"
            );
            counts
        } else {
            ExpansionCounts::default()
        };
        connection
            .execute_batch(schema::INDEXES)
            .map_err(sqlite("creating the indexes in"))?;
        // Expansion is part of the sync, as in Baton: the run ends after it.
        connection
            .execute(schema::END_SYNC_RUN, params![timestamp::now(), sync_id])
            .map_err(sqlite("ending the sync run in"))?;
        connection
            .execute_batch("commit")
            .map_err(sqlite("committing"))?;
        // The shipped file must be a plain rollback-journal database with
        // every page in the main file and no side file.
        let mode: String = connection
            .query_row("pragma journal_mode = delete", [], |row| row.get(0))
            .map_err(sqlite("switching the journal mode of"))?;
        if !mode.eq_ignore_ascii_case("delete") {
            return Err(C1zError::corrupt(
                database.path(),
                format!("SQLite kept journal_mode={mode} instead of delete"),
            ));
        }
        connection
            .close()
            .map_err(|(_, err)| sqlite("closing")(err))?;

        let (output, file) = TempFile::create(temp::output_path(&final_path, &sync_id))?;
        let budget = (inject_failure == Some(InjectedFailure::Compress))
            .then_some(INJECTED_FAILURE_AFTER_BYTES);
        let sink = BudgetedFile { file, budget };
        let (sink, written) = format::compress(database.path(), sink, output.path())?;
        sink.file
            .sync_all()
            .map_err(|err| C1zError::io("syncing", output.path(), err))?;
        if inject_failure == Some(InjectedFailure::Publish) {
            return Err(C1zError::io(
                "renaming the finished file to",
                &final_path,
                io::Error::new(io::ErrorKind::StorageFull, "injected failure"),
            ));
        }
        output.publish(&final_path)?;
        let reader_cap = DecoderLimits::default().max_decoded_size;
        if written.database_size > reader_cap {
            tracing::warn!(
                path = %final_path.display(),
                database_size = written.database_size,
                "c1z: the database is larger than the {reader_cap} bytes the Feb-2026 baton CLI \
                 decodes (newer SDKs accept 10 GiB)"
            );
        }
        if let Err(err) = database.remove() {
            // The c1z is complete and in place; a leftover working file is
            // only disk space, and remove_stale_temp_files finds it later.
            tracing::warn!(error = %err, "c1z: could not remove the working database");
        }
        let mut counts = known.counts();
        counts.grants += expansion.created;
        Ok(FinishedC1z {
            path: final_path,
            size: written.size,
            sha256: written.sha256,
            database_size: written.database_size,
            counts,
            expansion,
            sync_id,
        })
    }

    /// Gives up the sync: closes and removes the temporary files. The final
    /// path keeps whatever it held.
    pub fn abort(self) {
        drop(self);
    }

    fn check_usable(&self) -> Result<(), C1zError> {
        match &self.failure {
            Some(cause) => Err(C1zError::WriterFailed {
                path: self.final_path.clone(),
                cause: cause.clone(),
            }),
            None => Ok(()),
        }
    }

    fn check_not_skipped(&self, table: &'static str) -> Result<(), C1zError> {
        match self.sync_type {
            SyncType::Full => Ok(()),
            SyncType::ResourcesOnly => Err(C1zError::SkippedTable {
                path: self.final_path.clone(),
                table,
            }),
        }
    }

    /// Turns every item into its row before anything is written, so a bad
    /// object rejects the whole batch and leaves the writer usable.
    fn convert<'a, T, R>(
        &self,
        items: &'a [T],
        row: impl Fn(&'a T) -> Result<R, Rejected>,
    ) -> Result<Vec<R>, C1zError> {
        items
            .iter()
            .map(row)
            .collect::<Result<_, _>>()
            .map_err(|rejected| C1zError::InvalidObject {
                path: self.final_path.clone(),
                object: rejected.object,
                problem: rejected.problem,
            })
    }

    /// Upserts `rows` inside the open transaction, committing every
    /// [`COMMIT_EVERY_ROWS`]. A failure here leaves part of a batch behind, so
    /// it marks the writer failed.
    fn store<R: Row>(
        &mut self,
        operation: &'static str,
        rows: &[R],
        table: fn(&mut KnownTables) -> &mut KnownIds,
    ) -> Result<(), C1zError> {
        let now = timestamp::now();
        let result = (|| {
            if self.inject_failure == Some(InjectedFailure::Insert) {
                return Err(injected_sqlite_failure());
            }
            upsert::upsert(
                &self.connection,
                table(&mut self.known),
                rows,
                &self.sync_id,
                &now,
            )?;
            self.rows_since_commit += rows.len();
            if self.rows_since_commit >= COMMIT_EVERY_ROWS {
                self.connection.execute_batch("commit; begin")?;
                self.rows_since_commit = 0;
            }
            Ok(())
        })();
        result.map_err(|err| {
            self.failure = Some(err.to_string());
            C1zError::sqlite(operation, self.database.path(), err)
        })
    }
}

/// The ids each object table holds.
#[derive(Debug, Default)]
struct KnownTables {
    resource_types: KnownIds,
    resources: KnownIds,
    entitlements: KnownIds,
    grants: KnownIds,
}

impl KnownTables {
    fn counts(&self) -> Counts {
        Counts {
            resource_types: self.resource_types.len(),
            resources: self.resources.len(),
            entitlements: self.entitlements.len(),
            grants: self.grants.len(),
        }
    }
}

fn sqlite_error<'a>(
    operation: &'static str,
    path: &'a Path,
) -> impl FnOnce(rusqlite::Error) -> C1zError + 'a {
    move |err| C1zError::sqlite(operation, path, err)
}

fn check_sync_id(final_path: &Path, sync_id: &str) -> Result<(), C1zError> {
    let fits = !sync_id.is_empty()
        && sync_id.len() <= MAX_SYNC_ID_LEN
        && sync_id.bytes().all(|byte| byte.is_ascii_alphanumeric());
    if fits {
        Ok(())
    } else {
        Err(C1zError::InvalidObject {
            path: final_path.to_owned(),
            object: format!("sync id {sync_id:?}"),
            problem: format!("a sync id is 1 to {MAX_SYNC_ID_LEN} ASCII letters and digits"),
        })
    }
}

/// What SQLite reports when the disk fills up mid-transaction.
fn injected_sqlite_failure() -> rusqlite::Error {
    rusqlite::Error::SqliteFailure(
        rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_FULL),
        Some("injected failure".to_owned()),
    )
}

/// The compressed output file; with a budget it fails like a full disk once
/// the budget is spent.
struct BudgetedFile {
    file: std::fs::File,
    budget: Option<u64>,
}

impl Write for BudgetedFile {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        let allowed = match self.budget {
            None => bytes.len(),
            Some(0) => {
                return Err(io::Error::new(
                    io::ErrorKind::StorageFull,
                    "injected failure",
                ));
            }
            Some(left) => bytes.len().min(usize::try_from(left).unwrap_or(usize::MAX)),
        };
        let written = self.file.write(&bytes[..allowed])?;
        if let Some(left) = &mut self.budget {
            *left -= written as u64;
        }
        Ok(written)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.file.flush()
    }
}
