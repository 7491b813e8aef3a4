//! [`C1zReader`]: opens a v1 c1z — ours or any Baton connector's — for tests
//! and `confluence-hub inspect`. The database is decompressed within Baton's
//! decoder limits into a temporary file, opened read-only, and removed when
//! the reader drops. Files written by older SDKs lack newer columns; those
//! read as the defaults Baton's migrations would give them.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use prost::Message;
use rusqlite::{Connection, OpenFlags, OptionalExtension, params};

use super::format::{self, DecoderLimits, FrameHeader};
use super::listing::{self, Listing};
use super::temp::{self, TempFile};
use super::{C1zError, ksuid, schema};
use crate::pb::c1::connector::v2::{Entitlement, Grant, GrantExpandable, Resource, ResourceType};

/// The tables every v1 c1z has had since the format began.
const REQUIRED_TABLES: [&str; 5] = [
    schema::RESOURCE_TYPES,
    schema::RESOURCES,
    schema::ENTITLEMENTS,
    schema::SYNC_RUNS,
    schema::GRANTS,
];

#[derive(Clone, Debug)]
pub struct ReaderOptions {
    pub limits: DecoderLimits,
    /// Where the decompressed database lives while the reader is open.
    pub temp_dir: PathBuf,
}

impl Default for ReaderOptions {
    fn default() -> Self {
        Self {
            limits: DecoderLimits::default(),
            temp_dir: std::env::temp_dir(),
        }
    }
}

/// One row of `v1_sync_runs`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SyncRun {
    pub sync_id: String,
    pub sync_type: String,
    pub started_at: String,
    /// `None` while the sync is unfinished.
    pub ended_at: Option<String>,
    pub parent_sync_id: String,
    pub linked_sync_id: String,
    pub supports_diff: bool,
    pub grants_backfilled: bool,
}

/// A grant row: the grant as stored in `data`, and its expansion columns.
#[derive(Clone, Debug, PartialEq)]
pub struct StoredGrant {
    pub grant: Grant,
    pub expansion: Option<GrantExpandable>,
    pub needs_expansion: bool,
}

/// Rows of one resource type in the selected sync. `grants` counts grants of
/// entitlements on resources of this type.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TypeCounts {
    pub resource_type: String,
    pub resources: u64,
    pub entitlements: u64,
    pub grants: u64,
}

/// What a c1z holds, in numbers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Summary {
    pub path: PathBuf,
    pub compressed_size: u64,
    pub decoded_size: u64,
    pub frame: FrameHeader,
    pub sync_runs: Vec<SyncRun>,
    /// The sync the counts describe (see [`C1zReader::selected_sync_id`]).
    pub selected_sync_id: Option<String>,
    pub per_type: Vec<TypeCounts>,
    pub resource_types: u64,
    pub resources: u64,
    pub entitlements: u64,
    pub grants: u64,
    pub grants_needing_expansion: u64,
}

#[derive(Debug)]
pub struct C1zReader {
    path: PathBuf,
    frame: FrameHeader,
    compressed_size: u64,
    decoded_size: u64,
    selected_sync_id: Option<String>,
    // Declared before `database` so it closes before the file is removed.
    connection: Connection,
    database: TempFile,
}

impl C1zReader {
    /// Opens `path` with Baton's default decoder limits, decompressing into
    /// the system temporary directory.
    pub fn open(path: &Path) -> Result<Self, C1zError> {
        Self::open_with(path, &ReaderOptions::default())
    }

    pub fn open_with(path: &Path, options: &ReaderOptions) -> Result<Self, C1zError> {
        let compressed_size = std::fs::metadata(path)
            .map_err(|err| C1zError::io("reading", path, err))?
            .len();
        let scratch = options.temp_dir.join("confluence-hub-read");
        let (database, file) =
            TempFile::create(temp::database_path(&scratch, &ksuid::new_sync_id()))?;
        let frame = format::decompress(path, file, database.path(), options.limits)?;
        let decoded_size = std::fs::metadata(database.path())
            .map_err(|err| C1zError::io("reading", database.path(), err))?
            .len();
        let connection = Connection::open_with_flags(
            database.path(),
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(|err| C1zError::sqlite("opening the database of", path, err))?;
        let mut reader = Self {
            path: path.to_owned(),
            frame,
            compressed_size,
            decoded_size,
            selected_sync_id: None,
            connection,
            database,
        };
        reader.check_tables()?;
        reader.selected_sync_id = reader.select_sync()?;
        Ok(reader)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The decompressed SQLite file, for ad-hoc queries; it is removed when
    /// the reader drops.
    pub fn database_path(&self) -> &Path {
        self.database.path()
    }

    pub fn frame_header(&self) -> FrameHeader {
        self.frame
    }

    /// The sync whose objects the reader lists, chosen as Baton's readers
    /// choose: the latest finished `full` sync, else the latest started one.
    /// `None` when the file records no sync run; then every row is listed.
    pub fn selected_sync_id(&self) -> Option<&str> {
        self.selected_sync_id.as_deref()
    }

    pub fn sync_runs(&self) -> Result<Vec<SyncRun>, C1zError> {
        let columns = self.columns(schema::SYNC_RUNS)?;
        let column = |name: &str, default: &str| {
            if columns.iter().any(|column| column == name) {
                name.to_owned()
            } else {
                default.to_owned()
            }
        };
        let sql = format!(
            "select sync_id, {}, started_at, ended_at, {}, {}, {}, {} from v1_sync_runs order by id",
            column("sync_type", "'full'"),
            column("parent_sync_id", "''"),
            column("linked_sync_id", "''"),
            column("supports_diff", "0"),
            column("grants_backfilled", "0"),
        );
        self.query(&sql, [], |row| {
            Ok(SyncRun {
                sync_id: row.get(0)?,
                sync_type: row.get(1)?,
                started_at: row.get(2)?,
                ended_at: row.get(3)?,
                parent_sync_id: row.get(4)?,
                linked_sync_id: row.get(5)?,
                supports_diff: row.get(6)?,
                grants_backfilled: row.get(7)?,
            })
        })
    }

    pub fn resource_types(&self) -> Result<Vec<ResourceType>, C1zError> {
        self.objects(schema::RESOURCE_TYPES)
    }

    pub fn resources(&self) -> Result<Vec<Resource>, C1zError> {
        self.objects(schema::RESOURCES)
    }

    pub fn entitlements(&self) -> Result<Vec<Entitlement>, C1zError> {
        self.objects(schema::ENTITLEMENTS)
    }

    pub fn grants(&self) -> Result<Vec<StoredGrant>, C1zError> {
        let has_expansion = self
            .columns(schema::GRANTS)?
            .iter()
            .any(|c| c == "expansion");
        let expansion_columns = if has_expansion {
            "expansion, needs_expansion"
        } else {
            "null, 0"
        };
        let sql = format!(
            "select id, data, {expansion_columns} from v1_grants
             where ?1 is null or sync_id = ?1 order by id"
        );
        let rows = self.query(&sql, params![self.selected_sync_id], |row| {
            Ok((
                row.get::<_, i64>(0)?,
                row.get::<_, Vec<u8>>(1)?,
                row.get::<_, Option<Vec<u8>>>(2)?,
                row.get::<_, bool>(3)?,
            ))
        })?;
        rows.into_iter()
            .map(|(id, data, expansion, needs_expansion)| {
                let grant = self.decode(schema::GRANTS, id, &data)?;
                let expansion = expansion
                    .map(|bytes| self.decode(schema::GRANTS, id, &bytes))
                    .transpose()?;
                Ok(StoredGrant {
                    grant,
                    expansion,
                    needs_expansion,
                })
            })
            .collect()
    }

    /// Everything in the selected sync, shaped like `baton`'s listing.
    pub fn listing(&self) -> Result<Listing, C1zError> {
        listing::build(
            &self.resource_types()?,
            &self.resources()?,
            &self.entitlements()?,
            &self.grants()?,
        )
        .map_err(|problem| C1zError::corrupt(&self.path, problem))
    }

    pub fn summary(&self) -> Result<Summary, C1zError> {
        let resource_types = self.count(schema::RESOURCE_TYPES, "")?;
        let resources = self.count(schema::RESOURCES, "")?;
        let entitlements = self.count(schema::ENTITLEMENTS, "")?;
        let grants = self.count(schema::GRANTS, "")?;
        let grants_needing_expansion = if self
            .columns(schema::GRANTS)?
            .iter()
            .any(|c| c == "needs_expansion")
        {
            self.count(schema::GRANTS, "and needs_expansion = 1")?
        } else {
            0
        };
        Ok(Summary {
            path: self.path.clone(),
            compressed_size: self.compressed_size,
            decoded_size: self.decoded_size,
            frame: self.frame,
            sync_runs: self.sync_runs()?,
            selected_sync_id: self.selected_sync_id.clone(),
            per_type: self.per_type()?,
            resource_types,
            resources,
            entitlements,
            grants,
            grants_needing_expansion,
        })
    }

    fn per_type(&self) -> Result<Vec<TypeCounts>, C1zError> {
        // Declared types first, in file order; then any type only rows name.
        let mut order: Vec<String> = self
            .query(
                "select external_id from v1_resource_types where ?1 is null or sync_id = ?1 order by id",
                params![self.selected_sync_id],
                |row| row.get(0),
            )?;
        let mut counts: BTreeMap<String, TypeCounts> = BTreeMap::new();
        for (table, field) in [
            (schema::RESOURCES, 0),
            (schema::ENTITLEMENTS, 1),
            (schema::GRANTS, 2),
        ] {
            let sql = format!(
                "select resource_type_id, count(*) from {table}
                 where ?1 is null or sync_id = ?1 group by resource_type_id"
            );
            let rows = self.query(&sql, params![self.selected_sync_id], |row| {
                Ok((row.get::<_, String>(0)?, row.get::<_, i64>(1)?))
            })?;
            for (resource_type, count) in rows {
                let entry = counts
                    .entry(resource_type.clone())
                    .or_insert_with(|| TypeCounts {
                        resource_type,
                        ..TypeCounts::default()
                    });
                let count = u64::try_from(count).unwrap_or_default();
                match field {
                    0 => entry.resources = count,
                    1 => entry.entitlements = count,
                    _ => entry.grants = count,
                }
            }
        }
        order.extend(
            counts
                .keys()
                .filter(|key| !order.contains(key))
                .cloned()
                .collect::<Vec<_>>(),
        );
        Ok(order
            .into_iter()
            .map(|resource_type| {
                counts.remove(&resource_type).unwrap_or(TypeCounts {
                    resource_type,
                    ..TypeCounts::default()
                })
            })
            .collect())
    }

    fn check_tables(&self) -> Result<(), C1zError> {
        let tables: Vec<String> = self
            .connection
            .prepare("select name from sqlite_master where type = 'table'")
            .and_then(|mut statement| {
                statement
                    .query_map([], |row| row.get(0))?
                    .collect::<Result<_, _>>()
            })
            .map_err(|err| self.read_error(err))?;
        match REQUIRED_TABLES
            .iter()
            .find(|table| !tables.iter().any(|name| name == *table))
        {
            Some(missing) => Err(C1zError::corrupt(
                &self.path,
                format!("its database has no {missing} table, so it is not a Baton v1 c1z"),
            )),
            None => Ok(()),
        }
    }

    fn select_sync(&self) -> Result<Option<String>, C1zError> {
        let has_type = self
            .columns(schema::SYNC_RUNS)?
            .iter()
            .any(|c| c == "sync_type");
        let full = if has_type {
            "and sync_type = 'full'"
        } else {
            ""
        };
        let finished = format!(
            "select sync_id from v1_sync_runs where ended_at is not null {full}
             order by ended_at desc limit 1"
        );
        let latest = "select sync_id from v1_sync_runs order by started_at desc limit 1";
        for sql in [finished.as_str(), latest] {
            let found = self
                .connection
                .query_row(sql, [], |row| row.get(0))
                .optional()
                .map_err(|err| self.read_error(err))?;
            if found.is_some() {
                return Ok(found);
            }
        }
        Ok(None)
    }

    fn columns(&self, table: &str) -> Result<Vec<String>, C1zError> {
        self.query(
            &format!("select name from pragma_table_info('{table}')"),
            [],
            |row| row.get(0),
        )
    }

    fn count(&self, table: &str, condition: &str) -> Result<u64, C1zError> {
        let sql =
            format!("select count(*) from {table} where (?1 is null or sync_id = ?1) {condition}");
        let count: i64 = self
            .connection
            .query_row(&sql, params![self.selected_sync_id], |row| row.get(0))
            .map_err(|err| self.read_error(err))?;
        Ok(u64::try_from(count).unwrap_or_default())
    }

    fn objects<M: Message + Default>(&self, table: &str) -> Result<Vec<M>, C1zError> {
        let sql =
            format!("select id, data from {table} where ?1 is null or sync_id = ?1 order by id");
        let rows = self.query(&sql, params![self.selected_sync_id], |row| {
            Ok((row.get::<_, i64>(0)?, row.get::<_, Vec<u8>>(1)?))
        })?;
        rows.iter()
            .map(|(id, data)| self.decode(table, *id, data))
            .collect()
    }

    fn decode<M: Message + Default>(
        &self,
        table: &str,
        id: i64,
        bytes: &[u8],
    ) -> Result<M, C1zError> {
        M::decode(bytes).map_err(|err| {
            C1zError::corrupt(
                &self.path,
                format!("{table} row {id} does not decode: {err}"),
            )
        })
    }

    fn query<T>(
        &self,
        sql: &str,
        params: impl rusqlite::Params,
        map: impl FnMut(&rusqlite::Row<'_>) -> rusqlite::Result<T>,
    ) -> Result<Vec<T>, C1zError> {
        self.connection
            .prepare(sql)
            .and_then(|mut statement| statement.query_map(params, map)?.collect())
            .map_err(|err| self.read_error(err))
    }

    fn read_error(&self, err: rusqlite::Error) -> C1zError {
        C1zError::sqlite("reading the database of", &self.path, err)
    }
}
