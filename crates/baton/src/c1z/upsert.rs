//! Storing rows in the working database, upserted on (`external_id`,
//! `sync_id`): each row type binds itself to its insert and update
//! statements, and [`KnownIds`] says which of the two a row needs.

use rusqlite::{CachedStatement, Connection, params};

use super::known_ids::KnownIds;
use super::rows::{EntitlementRow, GrantRow, ResourceRow, ResourceTypeRow};
use super::schema;

pub trait Row {
    const INSERT: &'static str;
    const UPDATE: &'static str;
    const SELECT_ID: &'static str;
    fn external_id(&self) -> &str;
    fn insert(
        &self,
        statement: &mut CachedStatement<'_>,
        sync_id: &str,
        now: &str,
    ) -> rusqlite::Result<usize>;
    fn update(&self, statement: &mut CachedStatement<'_>, rowid: i64) -> rusqlite::Result<usize>;
}

/// Inserts the new rows and updates the known ones, in order, so the last
/// put of an id wins.
pub fn upsert<R: Row>(
    connection: &Connection,
    known: &mut KnownIds,
    rows: &[R],
    sync_id: &str,
    now: &str,
) -> rusqlite::Result<()> {
    let mut insert = connection.prepare_cached(R::INSERT)?;
    let mut update = connection.prepare_cached(R::UPDATE)?;
    for row in rows {
        match known.find(connection, R::SELECT_ID, row.external_id())? {
            Some(rowid) => {
                row.update(&mut update, rowid)?;
            }
            None => {
                row.insert(&mut insert, sync_id, now)?;
                known.add(row.external_id(), connection.last_insert_rowid());
            }
        }
    }
    Ok(())
}

impl Row for ResourceTypeRow<'_> {
    const INSERT: &'static str = schema::INSERT_RESOURCE_TYPE;
    const UPDATE: &'static str = schema::UPDATE_RESOURCE_TYPE;
    const SELECT_ID: &'static str = schema::SELECT_RESOURCE_TYPE_ID;

    fn external_id(&self) -> &str {
        self.external_id
    }

    fn insert(
        &self,
        statement: &mut CachedStatement<'_>,
        sync_id: &str,
        now: &str,
    ) -> rusqlite::Result<usize> {
        statement.execute(params![self.external_id, self.data, sync_id, now])
    }

    fn update(&self, statement: &mut CachedStatement<'_>, rowid: i64) -> rusqlite::Result<usize> {
        statement.execute(params![self.data, rowid])
    }
}

impl Row for ResourceRow<'_> {
    const INSERT: &'static str = schema::INSERT_RESOURCE;
    const UPDATE: &'static str = schema::UPDATE_RESOURCE;
    const SELECT_ID: &'static str = schema::SELECT_RESOURCE_ID;

    fn external_id(&self) -> &str {
        &self.external_id
    }

    fn insert(
        &self,
        statement: &mut CachedStatement<'_>,
        sync_id: &str,
        now: &str,
    ) -> rusqlite::Result<usize> {
        statement.execute(params![
            self.resource_type_id,
            self.external_id,
            self.parent_resource_type_id,
            self.parent_resource_id,
            self.data,
            sync_id,
            now
        ])
    }

    fn update(&self, statement: &mut CachedStatement<'_>, rowid: i64) -> rusqlite::Result<usize> {
        statement.execute(params![
            self.resource_type_id,
            self.parent_resource_type_id,
            self.parent_resource_id,
            self.data,
            rowid
        ])
    }
}

impl Row for EntitlementRow<'_> {
    const INSERT: &'static str = schema::INSERT_ENTITLEMENT;
    const UPDATE: &'static str = schema::UPDATE_ENTITLEMENT;
    const SELECT_ID: &'static str = schema::SELECT_ENTITLEMENT_ID;

    fn external_id(&self) -> &str {
        self.external_id
    }

    fn insert(
        &self,
        statement: &mut CachedStatement<'_>,
        sync_id: &str,
        now: &str,
    ) -> rusqlite::Result<usize> {
        statement.execute(params![
            self.resource_type_id,
            self.resource_id,
            self.external_id,
            self.data,
            sync_id,
            now
        ])
    }

    fn update(&self, statement: &mut CachedStatement<'_>, rowid: i64) -> rusqlite::Result<usize> {
        statement.execute(params![
            self.resource_type_id,
            self.resource_id,
            self.data,
            rowid
        ])
    }
}

impl Row for GrantRow<'_> {
    const INSERT: &'static str = schema::INSERT_GRANT;
    const UPDATE: &'static str = schema::UPDATE_GRANT;
    const SELECT_ID: &'static str = schema::SELECT_GRANT_ID;

    fn external_id(&self) -> &str {
        self.external_id
    }

    fn insert(
        &self,
        statement: &mut CachedStatement<'_>,
        sync_id: &str,
        now: &str,
    ) -> rusqlite::Result<usize> {
        statement.execute(params![
            self.resource_type_id,
            self.resource_id,
            self.entitlement_id,
            self.principal_resource_type_id,
            self.principal_resource_id,
            self.external_id,
            self.expansion,
            self.needs_expansion(),
            self.data,
            sync_id,
            now
        ])
    }

    fn update(&self, statement: &mut CachedStatement<'_>, rowid: i64) -> rusqlite::Result<usize> {
        statement.execute(params![
            self.resource_type_id,
            self.resource_id,
            self.entitlement_id,
            self.principal_resource_type_id,
            self.principal_resource_id,
            self.expansion,
            self.needs_expansion(),
            self.data,
            rowid
        ])
    }
}
