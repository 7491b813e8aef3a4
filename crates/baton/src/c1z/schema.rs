//! The SQLite schema of a v1 c1z, exactly as the newest Baton SDK creates it
//! (docs/data-model.md, Tables and keys):
//! the newest columns and indexes (migration-added and HEAD-only ones
//! included) written from the start, index names as Baton spells them
//! (including the two swapped `v1_resources` names), tables created in
//! Baton's order. Also the statements the writer stores rows with.

pub const RESOURCE_TYPES: &str = "v1_resource_types";
pub const RESOURCES: &str = "v1_resources";
pub const ENTITLEMENTS: &str = "v1_entitlements";
pub const SYNC_RUNS: &str = "v1_sync_runs";
pub const GRANTS: &str = "v1_grants";

/// The tables, in Baton's order.
pub const TABLES: &str = "
create table if not exists v1_resource_types (
    id integer primary key,
    external_id text not null,
    data blob not null,
    sync_id text not null,
    discovered_at datetime not null
);
create table if not exists v1_resources (
    id integer primary key,
    resource_type_id text not null,
    external_id text not null,
    parent_resource_type_id text,
    parent_resource_id text,
    data blob not null,
    sync_id text not null,
    discovered_at datetime not null
);
create table if not exists v1_entitlements (
    id integer primary key,
    resource_type_id text not null,
    resource_id text not null,
    external_id text not null,
    data blob not null,
    sync_id text not null,
    discovered_at datetime not null
);
create table if not exists v1_sync_runs (
    id integer primary key,
    sync_id text not null,
    started_at datetime not null,
    ended_at datetime,
    sync_token text not null,
    sync_type text not null default 'full',
    parent_sync_id text not null default '',
    linked_sync_id text not null default '',
    supports_diff integer not null default 0,
    grants_backfilled integer not null default 0,
    stats text,
    ingest_invariant_generation text not null default '',
    ingest_invariant_coverage text not null default '',
    ingest_invariant_mode text not null default ''
);
create table if not exists v1_grants (
    id integer primary key,
    resource_type_id text not null,
    resource_id text not null,
    entitlement_id text not null,
    principal_resource_type_id text not null,
    principal_resource_id text not null,
    external_id text not null,
    expansion blob,
    needs_expansion integer not null default 0,
    data blob not null,
    sync_id text not null,
    discovered_at datetime not null
);
create table if not exists v1_assets (
    id integer primary key,
    external_id text not null,
    content_type text not null,
    data blob not null,
    sync_id text not null,
    discovered_at datetime not null
);
create table if not exists v1_connector_sessions (
    id integer primary key,
    sync_id text not null,
    key text not null,
    value blob not null
);
";

/// Every index, in Baton's order. The writer creates them once the rows are
/// in (see `known_ids`); the statements use the reference file's spelling, so
/// `sqlite_master.sql` matches it text for text. A duplicate key that got
/// past the writer would fail the unique ones and with them the file.
pub const INDEXES: &str = "
create unique index if not exists idx_resource_types_external_sync_v1 on v1_resource_types (external_id, sync_id);
create index if not exists idx_resources_resource_type_id_v1 on v1_resources (resource_type_id);
create index if not exists idx_resources_external_sync_v1 on v1_resources (parent_resource_type_id, parent_resource_id);
create unique index if not exists idx_resources_parent_resource_id_v1 on v1_resources (external_id, sync_id);
create index if not exists idx_entitlements_resource_id_v1 on v1_entitlements (resource_type_id, resource_id);
create unique index if not exists idx_entitlements_external_sync_v1 on v1_entitlements (external_id, sync_id);
create unique index if not exists idx_sync_runs_sync_id_v1 on v1_sync_runs (sync_id);
create index if not exists idx_grants_resource_type_id_resource_id_v1 on v1_grants (resource_type_id, resource_id);
create index if not exists idx_grants_principal_id_v1 on v1_grants (principal_resource_type_id, principal_resource_id);
create index if not exists idx_grants_entitlement_id_principal_id_v1 on v1_grants (entitlement_id, principal_resource_type_id, principal_resource_id);
create unique index if not exists idx_grants_external_sync_v1 on v1_grants (external_id, sync_id);
create index if not exists idx_grants_sync_expansion_v1 on v1_grants (sync_id) where expansion is not null;
create index if not exists idx_grants_sync_needs_expansion_v1 on v1_grants (sync_id) where needs_expansion = 1;
create index if not exists idx_grants_entitlement_sync_grant_v1 on v1_grants (entitlement_id, sync_id, id);
create unique index if not exists idx_assets_external_sync_v1 on v1_assets (external_id, sync_id);
create unique index if not exists idx_session_store_sync_key_v1 on v1_connector_sessions (sync_id, key);
";

// Rows are upserted on (external_id, sync_id) as Baton does it: a new id is
// inserted; a known one (found through `KnownIds`) gets its `data` replaced,
// and, unlike Baton, the columns derived from `data` too, so a row never
// disagrees with its blob. `discovered_at` and the rowid keep the first sighting.

pub const INSERT_RESOURCE_TYPE: &str = "
insert into v1_resource_types (external_id, data, sync_id, discovered_at) values (?1, ?2, ?3, ?4)";
pub const UPDATE_RESOURCE_TYPE: &str = "update v1_resource_types set data = ?1 where id = ?2";
pub const SELECT_RESOURCE_TYPE_ID: &str = "select external_id from v1_resource_types where id = ?1";

pub const INSERT_RESOURCE: &str = "
insert into v1_resources
    (resource_type_id, external_id, parent_resource_type_id, parent_resource_id, data, sync_id, discovered_at)
values (?1, ?2, ?3, ?4, ?5, ?6, ?7)";
pub const UPDATE_RESOURCE: &str = "
update v1_resources
set resource_type_id = ?1, parent_resource_type_id = ?2, parent_resource_id = ?3, data = ?4
where id = ?5";
pub const SELECT_RESOURCE_ID: &str = "select external_id from v1_resources where id = ?1";

pub const INSERT_ENTITLEMENT: &str = "
insert into v1_entitlements (resource_type_id, resource_id, external_id, data, sync_id, discovered_at)
values (?1, ?2, ?3, ?4, ?5, ?6)";
pub const UPDATE_ENTITLEMENT: &str = "
update v1_entitlements set resource_type_id = ?1, resource_id = ?2, data = ?3 where id = ?4";
pub const SELECT_ENTITLEMENT_ID: &str = "select external_id from v1_entitlements where id = ?1";

pub const INSERT_GRANT: &str = "
insert into v1_grants
    (resource_type_id, resource_id, entitlement_id, principal_resource_type_id, principal_resource_id,
     external_id, expansion, needs_expansion, data, sync_id, discovered_at)
values (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)";
pub const UPDATE_GRANT: &str = "
update v1_grants
set resource_type_id = ?1, resource_id = ?2, entitlement_id = ?3, principal_resource_type_id = ?4,
    principal_resource_id = ?5, expansion = ?6, needs_expansion = ?7, data = ?8
where id = ?9";
pub const SELECT_GRANT_ID: &str = "select external_id from v1_grants where id = ?1";
/// Grant expansion fills in `sources`, which lives only in `data`.
pub const UPDATE_GRANT_DATA: &str = "update v1_grants set data = ?1 where id = ?2";

/// A new run: unfinished, empty checkpoint token, `supports_diff = 1` and
/// `grants_backfilled = 1` because the `expansion` column is authoritative.
pub const START_SYNC_RUN: &str = "
insert into v1_sync_runs
    (sync_id, started_at, ended_at, sync_token, sync_type, parent_sync_id, linked_sync_id,
     supports_diff, grants_backfilled)
values (?1, ?2, null, '', ?3, '', '', 1, 1)";

pub const END_SYNC_RUN: &str =
    "update v1_sync_runs set ended_at = ?1 where sync_id = ?2 and ended_at is null";
