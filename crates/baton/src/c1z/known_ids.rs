//! The external ids a table of the working database already holds, so the
//! writer can upsert on (`external_id`, `sync_id`) without a unique index:
//! a known id updates its row, a new one appends. Rows then arrive in rowid
//! order only, and every index is built once, by a sort, when the file is
//! finished — several times faster for a million grants than keeping a
//! unique index on random string keys up to date row by row.
//!
//! Memory stays small: a 64-bit hash and a rowid per row (about 32 MiB per
//! million rows). A hash hit is confirmed against the stored id, so a hash
//! collision costs a lookup, never a wrong update.

use std::collections::HashMap;
use std::collections::hash_map::{Entry, RandomState};
use std::hash::BuildHasher;

use rusqlite::{Connection, OptionalExtension};

/// `S` is the id hasher; the default has random keys because ids come from
/// a third party, so collisions must not be predictable.
#[derive(Debug, Default)]
pub struct KnownIds<S = RandomState> {
    hasher: S,
    /// Hash → rowid of the first id stored under that hash.
    owners: HashMap<u64, i64>,
    /// Ids whose hash an earlier, different id owns.
    collided: HashMap<String, i64>,
}

impl<S: BuildHasher> KnownIds<S> {
    /// The rowid already holding `id`. `select_id` is the table's
    /// `select external_id … where id = ?1`, used to confirm a hash hit.
    pub fn find(
        &self,
        connection: &Connection,
        select_id: &str,
        id: &str,
    ) -> rusqlite::Result<Option<i64>> {
        let Some(&rowid) = self.owners.get(&self.hasher.hash_one(id)) else {
            return Ok(None);
        };
        let stored: Option<String> = connection
            .prepare_cached(select_id)?
            .query_row([rowid], |row| row.get(0))
            .optional()?;
        if stored.as_deref() == Some(id) {
            Ok(Some(rowid))
        } else {
            Ok(self.collided.get(id).copied())
        }
    }

    /// Records that `id` was just inserted as `rowid`.
    pub fn add(&mut self, id: &str, rowid: i64) {
        match self.owners.entry(self.hasher.hash_one(id)) {
            Entry::Vacant(slot) => {
                slot.insert(rowid);
            }
            Entry::Occupied(_) => {
                self.collided.insert(id.to_owned(), rowid);
            }
        }
    }

    /// How many distinct ids the table holds.
    pub fn len(&self) -> u64 {
        (self.owners.len() + self.collided.len()) as u64
    }
}

#[cfg(test)]
mod tests {
    use std::hash::Hasher;

    use super::*;

    const SELECT_ID: &str = "select external_id from t where id = ?1";

    fn table() -> Connection {
        let connection = Connection::open_in_memory().unwrap();
        connection
            .execute_batch("create table t (id integer primary key, external_id text)")
            .unwrap();
        connection
    }

    fn insert<S: BuildHasher>(connection: &Connection, known: &mut KnownIds<S>, id: &str) -> i64 {
        connection
            .execute("insert into t (external_id) values (?1)", [id])
            .unwrap();
        let rowid = connection.last_insert_rowid();
        known.add(id, rowid);
        rowid
    }

    /// Hashes every id to 0: every second id collides with the first.
    #[derive(Default)]
    struct Colliding;

    impl BuildHasher for Colliding {
        type Hasher = Zero;
        fn build_hasher(&self) -> Zero {
            Zero
        }
    }

    struct Zero;

    impl Hasher for Zero {
        fn finish(&self) -> u64 {
            0
        }
        fn write(&mut self, _bytes: &[u8]) {}
    }

    #[test]
    fn stored_ids_are_found_and_new_ones_are_not() {
        let connection = table();
        let mut known: KnownIds = KnownIds::default();
        let first = insert(&connection, &mut known, "group:a:member:user:1");
        let second = insert(&connection, &mut known, "group:a:member:user:2");
        let find = |id| known.find(&connection, SELECT_ID, id).unwrap();
        assert_eq!(find("group:a:member:user:1"), Some(first));
        assert_eq!(find("group:a:member:user:2"), Some(second));
        assert_eq!(find("group:a:member:user:3"), None);
        assert_eq!(known.len(), 2);
    }

    #[test]
    fn colliding_hashes_are_told_apart_by_the_stored_id() {
        let connection = table();
        let mut known = KnownIds::<Colliding>::default();
        let ids = [
            "space:A:view:user:1",
            "space:B:view:user:2",
            "space:C:view:group:x",
        ];
        let rows: Vec<i64> = ids
            .iter()
            .map(|id| insert(&connection, &mut known, id))
            .collect();
        for (id, row) in ids.iter().zip(&rows) {
            assert_eq!(
                known.find(&connection, SELECT_ID, id).unwrap(),
                Some(*row),
                "{id}"
            );
        }
        assert_eq!(
            known
                .find(&connection, SELECT_ID, "space:D:view:user:4")
                .unwrap(),
            None
        );
        assert_eq!(known.len(), 3);
    }
}
