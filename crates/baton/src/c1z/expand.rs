//! Grant expansion (docs/data-model.md, Grants), for syncs whose task asks the
//! connector to expand (`skip_expand_grants = false`): every principal holding
//! a grant's source entitlement (named in its `expansion` column) also gets
//! the grant's entitlement. It runs inside the writer as SQL over the stored
//! grants, before the file's indexes are built (new rows then cost an append,
//! not seven index updates each) and with two temporary indexes of its own:
//! memory holds the expansion graph and the holders of one entitlement at a
//! time, never the grants.

use std::collections::{BTreeMap, HashMap, HashSet};

use prost::Message;
use rusqlite::{Connection, OptionalExtension, params};

use super::rows;
use super::schema;
use super::upsert::Row;
use crate::model::{self, annotation};
use crate::pb::c1::connector::v2::{
    Entitlement, Grant, GrantExpandable, GrantImmutable, GrantSources, Resource, ResourceId,
    grant_sources::GrantSource,
};

/// What expansion looks rows up by, dropped again before the file's own
/// indexes are built.
const TEMPORARY_INDEXES: &str = "
create index expand_grants_by_entitlement on v1_grants (entitlement_id, sync_id);
create index expand_entitlements_by_id on v1_entitlements (external_id, sync_id);";
const DROP_TEMPORARY_INDEXES: &str = "
drop index expand_grants_by_entitlement;
drop index expand_entitlements_by_id;";

/// Baton's default `BATON_GRAPH_EXPAND_MAX_DEPTH`: levels of the expansion
/// graph. Confluence groups do not nest, so our files need one.
const MAX_DEPTH: usize = 20;

/// What one expansion pass did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ExpansionCounts {
    /// Distinct (source entitlement → entitlement) edges expanded.
    pub edges: u64,
    /// Grants the expansion added.
    pub created: u64,
    /// Existing grants that gained a source.
    pub updated: u64,
    /// Source entitlements no entitlement of this sync has (Baton skips them).
    pub unknown_sources: u64,
}

/// Why the stored grants cannot be expanded.
#[derive(Debug, thiserror::Error)]
pub enum ExpandError {
    #[error(transparent)]
    Sqlite(#[from] rusqlite::Error),
    #[error("{0}")]
    Invalid(String),
    /// The database outgrew `limit` bytes part-way.
    #[error("the expanded database would be larger than {limit} bytes")]
    TooLarge { limit: u64 },
}

/// A grant's principal: (resource type, resource id).
type Principal = (String, String);

/// One edge of the graph: holders of `source` get `descendant`.
#[derive(Debug)]
struct Edge {
    source: String,
    descendant: String,
    /// The resource the descendant entitlement belongs to.
    descendant_resource: Principal,
    /// Only holders whose own grant is direct pass the entitlement on.
    shallow: bool,
    /// Only holders of these principal types; empty = every type.
    principal_types: Vec<String>,
}

/// Expands every grant of `sync_id` that has an `expansion`. New grants are
/// only counted, not added to the writer's id map: no more puts follow, and
/// tens of millions of them would make the map the biggest thing in memory.
/// Gives up once
/// the database is larger than `max_database_size` bytes: expansion
/// multiplies grants (members × permissions), and a file no reader accepts
/// is not worth filling a disk for.
pub fn expand(
    connection: &Connection,
    sync_id: &str,
    now: &str,
    max_database_size: u64,
) -> Result<ExpansionCounts, ExpandError> {
    connection.execute_batch(TEMPORARY_INDEXES)?;
    let counts = expand_graph(connection, sync_id, now, max_database_size)?;
    connection.execute_batch(DROP_TEMPORARY_INDEXES)?;
    Ok(counts)
}

fn expand_graph(
    connection: &Connection,
    sync_id: &str,
    now: &str,
    max_database_size: u64,
) -> Result<ExpansionCounts, ExpandError> {
    let mut counts = ExpansionCounts::default();
    let mut pending = load_edges(connection, sync_id, &mut counts)?;
    let mut depth = 0;
    while !pending.is_empty() {
        depth += 1;
        // An edge is ready once no pending edge still adds holders to its source.
        let receiving: HashSet<String> = pending.iter().map(|e| e.descendant.clone()).collect();
        let (ready, blocked): (Vec<Edge>, Vec<Edge>) = pending
            .into_iter()
            .partition(|edge| !receiving.contains(&edge.source));
        if ready.is_empty() {
            let through: Vec<&str> = blocked.iter().map(|e| e.source.as_str()).collect();
            return Err(ExpandError::Invalid(format!(
                "the expansion graph has a cycle: expanding from {} waits on itself",
                through.join(", ")
            )));
        }
        if depth > MAX_DEPTH {
            return Err(ExpandError::Invalid(format!(
                "the expansion graph is deeper than {MAX_DEPTH} levels"
            )));
        }
        for edge in &ready {
            apply(connection, sync_id, now, edge, &mut counts)?;
            counts.edges += 1;
            if database_size(connection)? > max_database_size {
                return Err(ExpandError::TooLarge {
                    limit: max_database_size,
                });
            }
        }
        pending = blocked;
    }
    Ok(counts)
}

/// The distinct edges of the stored `expansion` columns. A source must be an
/// entitlement of the grant's own principal (Baton fails the sync otherwise);
/// sources no entitlement of the sync has are skipped and counted.
fn load_edges(
    connection: &Connection,
    sync_id: &str,
    counts: &mut ExpansionCounts,
) -> Result<Vec<Edge>, ExpandError> {
    let mut statement = connection.prepare(
        "select external_id, entitlement_id, resource_type_id, resource_id,
                principal_resource_type_id, principal_resource_id, expansion
         from v1_grants where sync_id = ?1 and expansion is not null order by id",
    )?;
    let mut resource_of = connection.prepare(
        "select resource_type_id, resource_id from v1_entitlements
         where external_id = ?1 and sync_id = ?2",
    )?;
    let mut edges: BTreeMap<(String, String), Edge> = BTreeMap::new();
    let mut rows = statement.query([sync_id])?;
    while let Some(row) = rows.next()? {
        let grant_id: String = row.get(0)?;
        let descendant: String = row.get(1)?;
        let descendant_resource: Principal = (row.get(2)?, row.get(3)?);
        let principal: Principal = (row.get(4)?, row.get(5)?);
        let bytes: Vec<u8> = row.get(6)?;
        let expandable = GrantExpandable::decode(bytes.as_slice()).map_err(|err| {
            ExpandError::Invalid(format!(
                "the expansion of grant {grant_id} does not decode: {err}"
            ))
        })?;
        for source in expandable.entitlement_ids.iter().map(|id| id.trim()) {
            if source.is_empty() {
                continue;
            }
            let owner: Option<Principal> = resource_of
                .query_row(params![source, sync_id], |row| {
                    Ok((row.get(0)?, row.get(1)?))
                })
                .optional()?;
            let Some(owner) = owner else {
                counts.unknown_sources += 1;
                continue;
            };
            if owner != principal {
                return Err(ExpandError::Invalid(format!(
                    "grant {grant_id} expands from {source}, an entitlement of {}:{}, not of \
                     its principal {}:{}",
                    owner.0, owner.1, principal.0, principal.1
                )));
            }
            let key = (source.to_owned(), descendant.clone());
            match edges.get_mut(&key) {
                Some(edge) => {
                    // The same edge twice: the broader reading wins.
                    edge.shallow &= expandable.shallow;
                    if expandable.resource_type_ids.is_empty() {
                        edge.principal_types.clear();
                    } else if !edge.principal_types.is_empty() {
                        edge.principal_types
                            .extend(expandable.resource_type_ids.iter().cloned());
                    }
                }
                None => {
                    let edge = Edge {
                        source: source.to_owned(),
                        descendant: descendant.clone(),
                        descendant_resource: descendant_resource.clone(),
                        shallow: expandable.shallow,
                        principal_types: expandable.resource_type_ids.clone(),
                    };
                    edges.insert(key, edge);
                }
            }
        }
    }
    Ok(edges.into_values().collect())
}

/// Gives `edge.descendant` to every holder of `edge.source`.
fn apply(
    connection: &Connection,
    sync_id: &str,
    now: &str,
    edge: &Edge,
    counts: &mut ExpansionCounts,
) -> Result<(), ExpandError> {
    // Read the holders first: the writes below must not run under an open
    // cursor on the same table.
    let holders: Vec<(Principal, Option<Vec<u8>>)> = connection
        .prepare_cached(
            "select principal_resource_type_id, principal_resource_id,
                    case when ?3 then data end
             from v1_grants where entitlement_id = ?1 and sync_id = ?2 order by id",
        )?
        .query_map(params![edge.source, sync_id, edge.shallow], |row| {
            Ok(((row.get(0)?, row.get(1)?), row.get(2)?))
        })?
        .collect::<Result<_, _>>()?;
    // Who already holds the descendant (directly, or from an earlier edge).
    let existing: HashMap<Principal, i64> = connection
        .prepare_cached(
            "select principal_resource_type_id, principal_resource_id, id
             from v1_grants where entitlement_id = ?1 and sync_id = ?2",
        )?
        .query_map(params![edge.descendant, sync_id], |row| {
            Ok(((row.get(0)?, row.get(1)?), row.get(2)?))
        })?
        .collect::<Result<_, _>>()?;
    let mut data_of = connection.prepare_cached("select data from v1_grants where id = ?1")?;
    let mut update = connection.prepare_cached(schema::UPDATE_GRANT_DATA)?;
    let mut insert = connection.prepare_cached(schema::INSERT_GRANT)?;
    for (principal, data) in holders {
        let (principal_type, principal_id) = &principal;
        let type_wanted =
            edge.principal_types.is_empty() || edge.principal_types.contains(principal_type);
        if !type_wanted || (edge.shallow && !is_direct(data.as_deref(), &edge.source)?) {
            continue;
        }
        let id = model::grant_id_for_type(&edge.descendant, principal_type, principal_id);
        match existing.get(&principal) {
            Some(&rowid) => {
                let data: Vec<u8> = data_of.query_row([rowid], |row| row.get(0))?;
                let mut grant = decode(&id, &data)?;
                if add_source(&mut grant, &edge.descendant, &edge.source) {
                    update.execute(params![grant.encode_to_vec(), rowid])?;
                    counts.updated += 1;
                }
            }
            None => {
                let grant = expanded_grant(edge, id, principal_type, principal_id);
                let row = rows::grant_row(&grant).map_err(|rejected| {
                    ExpandError::Invalid(format!("{}: {}", rejected.object, rejected.problem))
                })?;
                row.insert(&mut insert, sync_id, now)?;
                counts.created += 1;
            }
        }
    }
    Ok(())
}

fn database_size(connection: &Connection) -> rusqlite::Result<u64> {
    let pages: i64 = connection.query_row("pragma page_count", [], |row| row.get(0))?;
    let page_size: i64 = connection.query_row("pragma page_size", [], |row| row.get(0))?;
    Ok(u64::try_from(pages.saturating_mul(page_size)).unwrap_or_default())
}

/// `what` names the grant in the error: its id, or what it holds.
fn decode(what: &str, data: &[u8]) -> Result<Grant, ExpandError> {
    Grant::decode(data)
        .map_err(|err| ExpandError::Invalid(format!("a grant {what} does not decode: {err}")))
}

/// A holder passes a shallow edge on only if it holds the source directly:
/// its grant has no sources (a connector's grant) or names the source itself
/// as direct.
fn is_direct(data: Option<&[u8]>, source: &str) -> Result<bool, ExpandError> {
    let Some(data) = data else {
        return Ok(true);
    };
    let grant = decode(&format!("holding {source}"), data)?;
    Ok(match grant.sources {
        None => true,
        Some(sources) if sources.sources.is_empty() => true,
        Some(sources) => sources.sources.get(source).is_some_and(|s| s.is_direct),
    })
}

/// An existing grant also flows from `source`: a grant without sources first
/// records itself as direct. Returns whether anything changed.
fn add_source(grant: &mut Grant, own_entitlement: &str, source: &str) -> bool {
    let sources = &mut grant
        .sources
        .get_or_insert_with(GrantSources::default)
        .sources;
    let mut changed = false;
    if sources.is_empty() {
        sources.insert(own_entitlement.to_owned(), GrantSource { is_direct: true });
        changed = true;
    }
    if !sources.contains_key(source) {
        sources.insert(source.to_owned(), GrantSource { is_direct: false });
        changed = true;
    }
    changed
}

/// A grant only expansion gives: immutable (it is revoked by leaving the
/// source, not directly), its one source not direct.
fn expanded_grant(edge: &Edge, id: String, principal_type: &str, principal_id: &str) -> Grant {
    let resource_id = |resource_type: &str, resource: &str| ResourceId {
        resource_type: resource_type.to_owned(),
        resource: resource.to_owned(),
        baton_resource: false,
    };
    let (resource_type, resource) = &edge.descendant_resource;
    Grant {
        id,
        entitlement: Some(Entitlement {
            id: edge.descendant.clone(),
            resource: Some(Resource {
                id: Some(resource_id(resource_type, resource)),
                ..Default::default()
            }),
            ..Default::default()
        }),
        principal: Some(Resource {
            id: Some(resource_id(principal_type, principal_id)),
            ..Default::default()
        }),
        annotations: vec![annotation(&GrantImmutable::default())],
        sources: Some(GrantSources {
            sources: [(edge.source.clone(), GrantSource { is_direct: false })]
                .into_iter()
                .collect(),
        }),
    }
}

#[cfg(test)]
mod tests;
