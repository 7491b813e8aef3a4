//! The SQLite schema of a v1 c1z, exactly as docs/baton-wire.md §1.3 lists it:
//! the newest columns and indexes (migration-added and HEAD-only ones
//! included) written from the start, index names as Baton spells them
//! (including the two swapped `v1_resources` names), tables created in
//! Baton's order.

pub const RESOURCE_TYPES: &str = "v1_resource_types";
pub const RESOURCES: &str = "v1_resources";
pub const ENTITLEMENTS: &str = "v1_entitlements";
pub const SYNC_RUNS: &str = "v1_sync_runs";
pub const GRANTS: &str = "v1_grants";

/// The whole schema, one statement per object. The index statements use the
/// reference file's spelling, so `sqlite_master.sql` matches it text for text.
pub const DDL: &str = "
create table if not exists v1_resource_types (
    id integer primary key,
    external_id text not null,
    data blob not null,
    sync_id text not null,
    discovered_at datetime not null
);
create unique index if not exists idx_resource_types_external_sync_v1 on v1_resource_types (external_id, sync_id);

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
create index if not exists idx_resources_resource_type_id_v1 on v1_resources (resource_type_id);
create index if not exists idx_resources_external_sync_v1 on v1_resources (parent_resource_type_id, parent_resource_id);
create unique index if not exists idx_resources_parent_resource_id_v1 on v1_resources (external_id, sync_id);

create table if not exists v1_entitlements (
    id integer primary key,
    resource_type_id text not null,
    resource_id text not null,
    external_id text not null,
    data blob not null,
    sync_id text not null,
    discovered_at datetime not null
);
create index if not exists idx_entitlements_resource_id_v1 on v1_entitlements (resource_type_id, resource_id);
create unique index if not exists idx_entitlements_external_sync_v1 on v1_entitlements (external_id, sync_id);

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
create unique index if not exists idx_sync_runs_sync_id_v1 on v1_sync_runs (sync_id);

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
create index if not exists idx_grants_resource_type_id_resource_id_v1 on v1_grants (resource_type_id, resource_id);
create index if not exists idx_grants_principal_id_v1 on v1_grants (principal_resource_type_id, principal_resource_id);
create index if not exists idx_grants_entitlement_id_principal_id_v1 on v1_grants (entitlement_id, principal_resource_type_id, principal_resource_id);
create unique index if not exists idx_grants_external_sync_v1 on v1_grants (external_id, sync_id);
create index if not exists idx_grants_sync_expansion_v1 on v1_grants (sync_id) where expansion is not null;
create index if not exists idx_grants_sync_needs_expansion_v1 on v1_grants (sync_id) where needs_expansion = 1;
create index if not exists idx_grants_entitlement_sync_grant_v1 on v1_grants (entitlement_id, sync_id, id);

create table if not exists v1_assets (
    id integer primary key,
    external_id text not null,
    content_type text not null,
    data blob not null,
    sync_id text not null,
    discovered_at datetime not null
);
create unique index if not exists idx_assets_external_sync_v1 on v1_assets (external_id, sync_id);

create table if not exists v1_connector_sessions (
    id integer primary key,
    sync_id text not null,
    key text not null,
    value blob not null
);
create unique index if not exists idx_session_store_sync_key_v1 on v1_connector_sessions (sync_id, key);
";

/// Upserts keyed on (`external_id`, `sync_id`) as Baton's are. Baton updates
/// `data` on conflict; we also refresh the columns derived from it so a row
/// never disagrees with its blob. `discovered_at` keeps the first sighting.
pub const UPSERT_RESOURCE_TYPE: &str = "
insert into v1_resource_types (external_id, data, sync_id, discovered_at)
values (?1, ?2, ?3, ?4)
on conflict (external_id, sync_id) do update set data = excluded.data";

pub const UPSERT_RESOURCE: &str = "
insert into v1_resources
    (resource_type_id, external_id, parent_resource_type_id, parent_resource_id, data, sync_id, discovered_at)
values (?1, ?2, ?3, ?4, ?5, ?6, ?7)
on conflict (external_id, sync_id) do update set
    resource_type_id = excluded.resource_type_id,
    parent_resource_type_id = excluded.parent_resource_type_id,
    parent_resource_id = excluded.parent_resource_id,
    data = excluded.data";

pub const UPSERT_ENTITLEMENT: &str = "
insert into v1_entitlements (resource_type_id, resource_id, external_id, data, sync_id, discovered_at)
values (?1, ?2, ?3, ?4, ?5, ?6)
on conflict (external_id, sync_id) do update set
    resource_type_id = excluded.resource_type_id,
    resource_id = excluded.resource_id,
    data = excluded.data";

pub const UPSERT_GRANT: &str = "
insert into v1_grants
    (resource_type_id, resource_id, entitlement_id, principal_resource_type_id, principal_resource_id,
     external_id, expansion, needs_expansion, data, sync_id, discovered_at)
values (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)
on conflict (external_id, sync_id) do update set
    resource_type_id = excluded.resource_type_id,
    resource_id = excluded.resource_id,
    entitlement_id = excluded.entitlement_id,
    principal_resource_type_id = excluded.principal_resource_type_id,
    principal_resource_id = excluded.principal_resource_id,
    expansion = excluded.expansion,
    needs_expansion = excluded.needs_expansion,
    data = excluded.data";

/// A new run: unfinished, empty checkpoint token, `supports_diff = 1` and
/// `grants_backfilled = 1` because the `expansion` column is authoritative.
pub const START_SYNC_RUN: &str = "
insert into v1_sync_runs
    (sync_id, started_at, ended_at, sync_token, sync_type, parent_sync_id, linked_sync_id,
     supports_diff, grants_backfilled)
values (?1, ?2, null, '', ?3, '', '', 1, 1)";

pub const END_SYNC_RUN: &str =
    "update v1_sync_runs set ended_at = ?1 where sync_id = ?2 and ended_at is null";

/// Rows are never deleted and `id` has no AUTOINCREMENT, so the largest
/// rowid is the row count, found without a scan.
pub fn count_rows_sql(table: &str) -> String {
    format!("select coalesce(max(id), 0) from {table}")
}
