//! The c1z writer and reader against the reference connector's file
//! (fixtures/reference.c1z) and against themselves: schema, listing, round
//! trip, envelope bytes, crash safety, decoder limits, and `inspect`.

use crate::support::{assert_reference_schema, decompress_copy, fixture, strings};
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use baton::c1z::{
    C1zError, C1zReader, C1zWriter, DecoderLimits, FinishedC1z, FrameHeader, InjectedFailure,
    ReaderOptions, SyncType, WriterOptions, new_sync_id, remove_stale_temp_files,
};
use baton::model::{self, Principal, SpacePermission, UserRecord};
use baton::pb::c1::connector::v2::{Entitlement, Grant, GrantExpandable, Resource, ResourceType};
use prost::Name;
use rusqlite::Connection;
use sha2::{Digest, Sha256};

/// A fresh directory, removed with everything in it on drop.
struct TestDir(PathBuf);

impl TestDir {
    fn new() -> Self {
        let path = std::env::temp_dir().join(format!("c1z-test-{}", new_sync_id()));
        fs::create_dir(&path).unwrap();
        Self(path)
    }

    fn join(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }

    fn names(&self) -> Vec<String> {
        let mut names: Vec<String> = fs::read_dir(&self.0)
            .unwrap()
            .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }
}

impl Drop for TestDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

/// A small tenant built with the data model: users, groups, spaces, group
/// memberships, and space permissions held by users and by groups.
struct Dataset {
    resource_types: Vec<ResourceType>,
    resources: Vec<Resource>,
    entitlements: Vec<Entitlement>,
    grants: Vec<Grant>,
}

fn dataset() -> Dataset {
    let user = |key: &str, name: &str, display: &str, email: Option<&str>, enabled| {
        model::user_resource(&UserRecord {
            user_key: key.into(),
            username: name.into(),
            display_name: display.into(),
            email: email.map(Into::into),
            enabled,
            account_type: "known".into(),
        })
    };
    let users = vec![
        user(
            "8a7f808a1",
            "jdoe",
            "Jane Doe",
            Some("jdoe@example.test"),
            true,
        ),
        user("8a7f808a2", "zoe", "Zoë Núñez", None, true),
        user(
            "8a7f808a3",
            "gone",
            "Former Staff",
            Some("gone@example.test"),
            false,
        ),
    ];
    let groups = vec![
        model::group_resource("confluence-users"),
        model::group_resource("a/b team"),
    ];
    let spaces = vec![
        model::space_resource("ENG", "Engineering", "Engineering docs"),
        model::space_resource("~jdoe", "Jane Doe", ""),
    ];
    let mut entitlements: Vec<Entitlement> =
        groups.iter().map(model::group_member_entitlement).collect();
    for space in &spaces {
        entitlements.extend(model::space_entitlements(space));
    }
    let mut grants = vec![
        model::group_membership_grant("confluence-users", "8a7f808a1"),
        model::group_membership_grant("confluence-users", "8a7f808a2"),
        model::group_membership_grant("a/b team", "8a7f808a2"),
    ];
    let by_user = |key: &str| Principal::User {
        user_key: key.into(),
    };
    let by_group = |name: &str| Principal::Group { name: name.into() };
    grants.push(model::space_grant(
        "ENG",
        SpacePermission::View,
        &by_group("confluence-users"),
    ));
    grants.push(model::space_grant(
        "ENG",
        SpacePermission::EditSpace,
        &by_group("a/b team"),
    ));
    grants.push(model::space_grant(
        "ENG",
        SpacePermission::View,
        &by_user("8a7f808a3"),
    ));
    grants.push(model::space_grant(
        "~jdoe",
        SpacePermission::SetSpacePermissions,
        &by_user("8a7f808a1"),
    ));
    grants.push(model::space_grant(
        "~jdoe",
        SpacePermission::View,
        &by_group("confluence-users"),
    ));
    let mut resources = users;
    resources.extend(groups);
    resources.extend(spaces);
    Dataset {
        resource_types: model::resource_types(),
        resources,
        entitlements,
        grants,
    }
}

fn write(path: &Path, data: &Dataset, options: WriterOptions) -> Result<FinishedC1z, C1zError> {
    let mut writer = C1zWriter::create(path, options)?;
    writer.put_resource_types(&data.resource_types)?;
    writer.put_resources(&data.resources)?;
    writer.put_entitlements(&data.entitlements)?;
    writer.put_grants(&data.grants)?;
    writer.finish()
}

fn expandable_of(grant: &Grant) -> Option<GrantExpandable> {
    grant
        .annotations
        .iter()
        .find(|any| any.type_url == GrantExpandable::type_url())
        .map(|any| any.to_msg().unwrap())
}

// ---------------------------------------------------------------- schema

#[test]
fn written_file_has_the_reference_schema_after_batons_migrations() {
    let dir = TestDir::new();
    let ours = dir.join("ours.c1z");
    write(&ours, &dataset(), WriterOptions::default()).unwrap();
    let ours = assert_reference_schema(&ours, &dir.0);
    // The swapped index names survive exactly as Baton spells them.
    let resources = &ours["v1_resources"].indexes;
    assert_eq!(
        resources["idx_resources_external_sync_v1"].columns,
        ["parent_resource_type_id", "parent_resource_id"]
    );
    assert_eq!(
        resources["idx_resources_parent_resource_id_v1"].columns,
        ["external_id", "sync_id"]
    );
}

#[test]
fn written_columns_follow_the_documented_order() {
    let dir = TestDir::new();
    let path = dir.join("ours.c1z");
    write(&path, &dataset(), WriterOptions::default()).unwrap();
    decompress_copy(&path, &dir.join("ours.db"));
    let connection = Connection::open(dir.join("ours.db")).unwrap();
    let columns = |table: &str| {
        strings(
            &connection,
            "select name from pragma_table_info(?1) order by cid",
            table,
        )
        .join(",")
    };
    assert_eq!(
        columns("v1_grants"),
        "id,resource_type_id,resource_id,entitlement_id,principal_resource_type_id,\
         principal_resource_id,external_id,expansion,needs_expansion,data,sync_id,discovered_at"
    );
    assert_eq!(
        columns("v1_sync_runs"),
        "id,sync_id,started_at,ended_at,sync_token,sync_type,parent_sync_id,linked_sync_id,\
         supports_diff,grants_backfilled,stats,ingest_invariant_generation,\
         ingest_invariant_coverage,ingest_invariant_mode"
    );
    let tables = strings(
        &connection,
        "select name from sqlite_master where type = ?1 order by rowid",
        "table",
    );
    assert_eq!(
        tables,
        [
            "v1_resource_types",
            "v1_resources",
            "v1_entitlements",
            "v1_sync_runs",
            "v1_grants",
            "v1_assets",
            "v1_connector_sessions"
        ]
    );
}

// ---------------------------------------------------------------- reference

#[test]
fn reference_file_reads_as_its_baton_listing() {
    let reader = C1zReader::open(&fixture("reference.c1z")).unwrap();
    let listing = reader.listing().unwrap();
    assert_eq!(
        (
            listing.resource_types.len(),
            listing.resources.len(),
            listing.entitlements.len(),
            listing.grants.len()
        ),
        (3, 81, 138, 408)
    );
    let expected: serde_json::Value =
        serde_json::from_slice(&fs::read(fixture("reference.listing.json")).unwrap()).unwrap();
    let ids = |value: &serde_json::Value, key: &str, id: fn(&serde_json::Value) -> String| {
        value[key]
            .as_array()
            .unwrap()
            .iter()
            .map(id)
            .collect::<Vec<_>>()
    };
    let ours = serde_json::to_value(&listing).unwrap();
    let plain_id = |item: &serde_json::Value| item["id"].as_str().unwrap().to_owned();
    let resource_id = |item: &serde_json::Value| {
        format!(
            "{}:{}",
            item["type"].as_str().unwrap(),
            item["id"].as_str().unwrap()
        )
    };
    for key in ["resource_types", "entitlements", "grants"] {
        assert_eq!(
            ids(&ours, key, plain_id),
            ids(&expected, key, plain_id),
            "{key}"
        );
    }
    assert_eq!(
        ids(&ours, "resources", resource_id),
        ids(&expected, "resources", resource_id)
    );
    // Not only the ids: every field of the listing matches the baton CLI's.
    assert_eq!(ours, expected);

    let summary = reader.summary().unwrap();
    assert_eq!(
        (
            summary.resource_types,
            summary.resources,
            summary.entitlements,
            summary.grants
        ),
        (3, 81, 138, 408)
    );
    assert_eq!(summary.sync_runs.len(), 1);
    let run = &summary.sync_runs[0];
    assert_eq!(
        (run.sync_id.as_str(), run.sync_type.as_str()),
        ("3MfAGF9fnNJvxma8YLu5wbNVBcT", "full")
    );
    assert!(
        !run.supports_diff && !run.grants_backfilled,
        "an SDK v0.2.18 file predates both flags"
    );
    assert_eq!(
        reader.selected_sync_id(),
        Some("3MfAGF9fnNJvxma8YLu5wbNVBcT")
    );
}

// ---------------------------------------------------------------- round trip

#[test]
fn round_trip_gives_back_equal_objects_with_group_expansion_in_its_column() {
    let dir = TestDir::new();
    let path = dir.join("tenant.c1z");
    let data = dataset();
    let finished = write(&path, &data, WriterOptions::default()).unwrap();
    assert_eq!(finished.path, path);
    assert_eq!(finished.counts.resource_types, 3);
    assert_eq!(finished.counts.resources, 7);
    assert_eq!(finished.counts.entitlements, 2 + 28);
    assert_eq!(finished.counts.grants, 8);
    assert_eq!(finished.sync_id.len(), 27);

    let reader = C1zReader::open(&path).unwrap();
    assert_eq!(reader.resource_types().unwrap(), data.resource_types);
    assert_eq!(reader.resources().unwrap(), data.resources);
    assert_eq!(reader.entitlements().unwrap(), data.entitlements);
    let stored = reader.grants().unwrap();
    assert_eq!(stored.len(), data.grants.len());
    let mut group_held = 0;
    for (original, stored) in data.grants.iter().zip(&stored) {
        match expandable_of(original) {
            Some(expandable) => {
                group_held += 1;
                assert_eq!(
                    original
                        .principal
                        .as_ref()
                        .unwrap()
                        .id
                        .as_ref()
                        .unwrap()
                        .resource_type,
                    "group"
                );
                assert_eq!(
                    stored.expansion.as_ref(),
                    Some(&expandable),
                    "{}",
                    original.id
                );
                assert!(stored.needs_expansion);
                assert_eq!(
                    expandable_of(&stored.grant),
                    None,
                    "GrantExpandable left in data"
                );
                let without = Grant {
                    annotations: Vec::new(),
                    ..original.clone()
                };
                assert_eq!(stored.grant, without);
            }
            None => {
                assert_eq!(&stored.grant, original);
                assert_eq!(
                    (stored.expansion.as_ref(), stored.needs_expansion),
                    (None, false)
                );
            }
        }
    }
    assert_eq!(group_held, 3);
    let listing = reader.listing().unwrap();
    let listed = listing
        .grants
        .iter()
        .find(|grant| grant.id == "space:ENG:edit-space:group:a/b team")
        .unwrap();
    assert_eq!(
        listed.expansion.as_ref().unwrap().entitlement_ids,
        ["group:a/b team:member"]
    );
    assert!(listed.needs_expansion);

    let runs = reader.sync_runs().unwrap();
    assert_eq!(runs.len(), 1);
    let run = &runs[0];
    assert_eq!(run.sync_id, finished.sync_id);
    assert_eq!(run.sync_type, "full");
    assert!(run.supports_diff && run.grants_backfilled);
    assert_eq!(
        (run.parent_sync_id.as_str(), run.linked_sync_id.as_str()),
        ("", "")
    );
    let ended = run.ended_at.as_deref().unwrap();
    assert!(
        is_go_layout(&run.started_at) && is_go_layout(ended),
        "{} / {ended}",
        run.started_at
    );
    assert!(run.started_at.as_str() <= ended);

    let connection = Connection::open(reader.database_path()).unwrap();
    let (token, discovered, sync_ids): (String, String, i64) = connection
        .query_row(
            "select (select sync_token from v1_sync_runs), (select max(discovered_at) from v1_grants),
                    (select count(distinct sync_id) from v1_grants)",
            [],
            |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)),
        )
        .unwrap();
    assert_eq!((token.as_str(), sync_ids), ("", 1));
    assert!(is_go_layout(&discovered), "{discovered}");
    let expandable_rows: i64 = connection
        .query_row(
            "select count(*) from v1_grants where expansion is not null and needs_expansion = 1",
            [],
            |row| row.get(0),
        )
        .unwrap();
    assert_eq!(expandable_rows, 3);
}

/// `2006-01-02 15:04:05.999999999`: fraction without trailing zeros.
fn is_go_layout(text: &str) -> bool {
    let (whole, fraction) = text.split_once('.').unwrap_or((text, "1"));
    let shape_ok = whole.len() == 19
        && whole.char_indices().all(|(at, c)| match at {
            4 | 7 => c == '-',
            10 => c == ' ',
            13 | 16 => c == ':',
            _ => c.is_ascii_digit(),
        });
    shape_ok
        && (1..=9).contains(&fraction.len())
        && fraction.bytes().all(|b| b.is_ascii_digit())
        && !fraction.ends_with('0')
}

#[test]
fn envelope_is_the_magic_and_one_checksummed_zstd_frame_with_its_size() {
    let dir = TestDir::new();
    let path = dir.join("tenant.c1z");
    let finished = write(&path, &dataset(), WriterOptions::default()).unwrap();
    let bytes = fs::read(&path).unwrap();
    assert_eq!(
        bytes[..9],
        [0x43, 0x31, 0x5A, 0x46, 0x00, 0x28, 0xB5, 0x2F, 0xFD]
    );
    assert_eq!(finished.size, bytes.len() as u64);
    assert_eq!(finished.sha256, <[u8; 32]>::from(Sha256::digest(&bytes)));
    assert_eq!(finished.sha256_hex().len(), 64);

    let header = FrameHeader::parse(&bytes[5..]).unwrap();
    assert!(header.has_checksum);
    let database = zstd::stream::decode_all(&bytes[5..]).unwrap();
    assert_eq!(header.content_size, Some(database.len() as u64));
    assert_eq!(finished.database_size, database.len() as u64);
    assert!(header.window_size <= 128 * 1024 * 1024);
    assert_eq!(&database[..16], b"SQLite format 3\0");
    // File format bytes 18/19 = 1: a rollback-journal (journal_mode=DELETE)
    // database, not WAL, so the file is complete on its own.
    assert_eq!((database[18], database[19]), (1, 1));
    // Only the finished file is left: no working database, no journal.
    assert_eq!(dir.names(), ["tenant.c1z"]);
}

#[test]
fn resources_only_sync_is_recorded_as_such_and_refuses_grants() {
    let dir = TestDir::new();
    let path = dir.join("resources.c1z");
    let data = dataset();
    let options = WriterOptions {
        sync_type: SyncType::ResourcesOnly,
        ..WriterOptions::default()
    };
    let mut writer = C1zWriter::create(&path, options).unwrap();
    writer.put_resource_types(&data.resource_types).unwrap();
    writer.put_resources(&data.resources).unwrap();
    let refused = writer.put_grants(&data.grants).unwrap_err();
    assert!(
        matches!(
            refused,
            C1zError::SkippedTable {
                table: "grants",
                ..
            }
        ),
        "{refused}"
    );
    assert!(writer.put_entitlements(&data.entitlements).is_err());
    writer.finish().unwrap();
    let reader = C1zReader::open(&path).unwrap();
    assert_eq!(reader.sync_runs().unwrap()[0].sync_type, "resources_only");
    // Baton's readers show the latest finished *full* sync; with none, the latest one.
    assert_eq!(reader.resources().unwrap().len(), data.resources.len());
}

#[test]
fn putting_an_id_again_updates_its_row_instead_of_adding_one() {
    let dir = TestDir::new();
    let path = dir.join("upsert.c1z");
    let mut writer = C1zWriter::create(&path, WriterOptions::default()).unwrap();
    let mut space = model::space_resource("ENG", "Engineering", "old");
    writer.put_resources(std::slice::from_ref(&space)).unwrap();
    space.description = "new".into();
    writer.put_resources(&[space.clone()]).unwrap();
    assert_eq!(writer.counts().resources, 1);
    writer.finish().unwrap();
    assert_eq!(
        C1zReader::open(&path).unwrap().resources().unwrap(),
        [space]
    );
}

#[test]
fn an_invalid_object_rejects_its_batch_and_the_writer_stays_usable() {
    let dir = TestDir::new();
    let path = dir.join("invalid.c1z");
    let mut writer = C1zWriter::create(&path, WriterOptions::default()).unwrap();
    let good = model::group_membership_grant("g", "u");
    let bad = Grant {
        entitlement: None,
        ..model::group_membership_grant("g", "v")
    };
    let error = writer.put_grants(&[good.clone(), bad]).unwrap_err();
    let message = error.to_string();
    assert!(
        message.contains("cannot store grant group:g:member:user:v in"),
        "{message}"
    );
    assert!(message.contains(": entitlement is missing;"), "{message}");
    assert_eq!(
        writer.counts().grants,
        0,
        "nothing of the rejected batch is stored"
    );
    writer.put_grants(&[good]).unwrap();
    assert_eq!(writer.finish().unwrap().counts.grants, 1);
}

// ---------------------------------------------------------------- crash safety

fn previous_file(dir: &TestDir) -> (PathBuf, Vec<u8>, String) {
    let path = dir.join("latest.c1z");
    let finished = write(&path, &dataset(), WriterOptions::default()).unwrap();
    (path.clone(), fs::read(&path).unwrap(), finished.sync_id)
}

#[test]
fn failed_insert_leaves_no_file_and_no_temp_files() {
    let dir = TestDir::new();
    let path = dir.join("latest.c1z");
    let data = dataset();
    let options = WriterOptions {
        inject_failure: Some(InjectedFailure::Insert),
        ..WriterOptions::default()
    };
    let mut writer = C1zWriter::create(&path, options).unwrap();
    let error = writer.put_resources(&data.resources).unwrap_err();
    let message = error.to_string();
    assert!(
        message.contains("inserting resources into") && message.contains("is full"),
        "{message}"
    );
    let again = writer.put_grants(&data.grants).unwrap_err();
    assert!(matches!(again, C1zError::WriterFailed { .. }), "{again}");
    assert!(matches!(
        writer.finish().unwrap_err(),
        C1zError::WriterFailed { .. }
    ));
    assert_eq!(dir.names(), Vec::<String>::new());
}

#[test]
fn failure_while_compressing_keeps_the_previous_file_and_removes_temp_files() {
    let dir = TestDir::new();
    let (path, previous, _) = previous_file(&dir);
    let options = WriterOptions {
        inject_failure: Some(InjectedFailure::Compress),
        ..WriterOptions::default()
    };
    let error = write(&path, &dataset(), options).unwrap_err();
    assert!(
        error.to_string().contains("compressing the database into"),
        "{error}"
    );
    assert_eq!(fs::read(&path).unwrap(), previous);
    assert_eq!(dir.names(), ["latest.c1z"]);
}

#[test]
fn previous_file_is_untouched_until_the_new_one_is_complete() {
    let dir = TestDir::new();
    let (path, previous, previous_sync) = previous_file(&dir);
    let data = dataset();

    let options = WriterOptions {
        inject_failure: Some(InjectedFailure::Publish),
        ..WriterOptions::default()
    };
    let mut writer = C1zWriter::create(&path, options).unwrap();
    writer.put_resource_types(&data.resource_types).unwrap();
    writer.put_resources(&data.resources).unwrap();
    assert_eq!(
        fs::read(&path).unwrap(),
        previous,
        "a running writer touches the final path"
    );
    assert_eq!(
        dir.names().len(),
        2,
        "the working database sits beside it: {:?}",
        dir.names()
    );
    assert!(writer.finish().is_err());
    assert_eq!(fs::read(&path).unwrap(), previous);
    assert_eq!(dir.names(), ["latest.c1z"]);

    let finished = write(&path, &data, WriterOptions::default()).unwrap();
    assert_ne!(finished.sync_id, previous_sync);
    assert_eq!(
        C1zReader::open(&path).unwrap().selected_sync_id(),
        Some(finished.sync_id.as_str())
    );
    assert_eq!(dir.names(), ["latest.c1z"]);
}

#[test]
fn dropped_or_aborted_writers_remove_their_temp_files() {
    let dir = TestDir::new();
    let data = dataset();
    let mut dropped = C1zWriter::create(&dir.join("a.c1z"), WriterOptions::default()).unwrap();
    dropped.put_grants(&data.grants).unwrap();
    let mut aborted = C1zWriter::create(&dir.join("b.c1z"), WriterOptions::default()).unwrap();
    aborted.put_resources(&data.resources).unwrap();
    assert_eq!(dir.names().len(), 2);
    drop(dropped);
    aborted.abort();
    assert_eq!(dir.names(), Vec::<String>::new());
}

#[test]
fn a_missing_directory_is_reported_before_anything_is_written() {
    let dir = TestDir::new();
    let path = dir.join("no-such-dir").join("latest.c1z");
    let error = C1zWriter::create(&path, WriterOptions::default()).unwrap_err();
    let message = error.to_string();
    assert!(
        message.contains("does not exist: create it first"),
        "{message}"
    );
    assert!(message.contains("no-such-dir"), "{message}");
    assert_eq!(dir.names(), Vec::<String>::new());
}

#[test]
fn stale_temp_files_of_a_crashed_writer_are_found_and_removed() {
    let dir = TestDir::new();
    let sync = new_sync_id();
    let stale = [
        format!("latest.c1z.{sync}.sqlite.tmp"),
        format!("latest.c1z.{sync}.sqlite.tmp-journal"),
        format!("latest.c1z.{sync}.c1z.tmp"),
    ];
    for name in &stale {
        fs::write(dir.join(name), b"partial").unwrap();
    }
    fs::write(dir.join("latest.c1z"), b"keep").unwrap();
    fs::write(dir.join("notes.tmp"), b"keep").unwrap();
    let removed = remove_stale_temp_files(&dir.0).unwrap();
    assert_eq!(removed.len(), 3);
    assert_eq!(dir.names(), ["latest.c1z", "notes.tmp"]);
}

#[test]
fn sync_ids_must_be_safe_in_file_names() {
    let dir = TestDir::new();
    let options = WriterOptions {
        sync_id: "../escape".into(),
        ..WriterOptions::default()
    };
    let error = C1zWriter::create(&dir.join("x.c1z"), options).unwrap_err();
    assert!(
        error.to_string().contains("ASCII letters and digits"),
        "{error}"
    );
    assert_eq!(dir.names(), Vec::<String>::new());
}

// ---------------------------------------------------------------- reader limits

#[test]
fn reader_rejects_a_wrong_magic_with_a_clear_error() {
    let dir = TestDir::new();
    let sqlite = dir.join("plain.db");
    decompress_copy(&fixture("reference.c1z"), &sqlite);
    let error = C1zReader::open(&sqlite).unwrap_err();
    assert_eq!(
        error.to_string(),
        format!(
            "c1z: {} is not a c1z file: it starts with 53 51 4C 69 74, a c1z starts with 43 31 5A 46 00 (\"C1ZF\\0\")",
            sqlite.display()
        )
    );
    let pebble = dir.join("v3.c1z");
    fs::write(&pebble, b"C1Z3\0\0\0\0\x10").unwrap();
    assert!(
        C1zReader::open(&pebble)
            .unwrap_err()
            .to_string()
            .contains("Pebble (v3) format")
    );
}

#[test]
fn reader_enforces_the_window_and_decoded_size_limits_and_cleans_up() {
    let dir = TestDir::new();
    let options = |max_window, max_decoded_size| ReaderOptions {
        limits: DecoderLimits {
            max_window,
            max_decoded_size,
        },
        temp_dir: dir.0.clone(),
    };
    let reference = fixture("reference.c1z");
    let defaults = DecoderLimits::default();
    // The reference frame asks for an 8 MiB window.
    let error =
        C1zReader::open_with(&reference, &options(4 << 20, defaults.max_decoded_size)).unwrap_err();
    assert!(
        matches!(error, C1zError::WindowTooLarge { window, .. } if window == 8 << 20),
        "{error}"
    );
    // No content size in its header: caught while decoding.
    let error =
        C1zReader::open_with(&reference, &options(defaults.max_window, 100_000)).unwrap_err();
    assert!(
        matches!(error, C1zError::DecodedTooLarge { limit: 100_000, .. }),
        "{error}"
    );
    assert!(
        error
            .to_string()
            .contains("BATON_DECODER_MAX_DECODED_SIZE_MB")
    );
    // Ours declares its size: refused before decoding.
    let ours = dir.join("ours.c1z");
    write(&ours, &dataset(), WriterOptions::default()).unwrap();
    let error = C1zReader::open_with(&ours, &options(defaults.max_window, 4096)).unwrap_err();
    assert!(matches!(error, C1zError::DecodedTooLarge { .. }), "{error}");
    assert_eq!(
        dir.names(),
        ["ours.c1z"],
        "failed opens leave no temp database"
    );

    let reader = C1zReader::open_with(
        &reference,
        &options(defaults.max_window, defaults.max_decoded_size),
    )
    .unwrap();
    let scratch = reader.database_path().to_owned();
    assert!(scratch.starts_with(&dir.0) && scratch.exists());
    drop(reader);
    assert!(!scratch.exists());
    assert_eq!(dir.names(), ["ours.c1z"]);
}

#[test]
fn a_truncated_file_is_reported_as_damaged() {
    let dir = TestDir::new();
    let bytes = fs::read(fixture("reference.c1z")).unwrap();
    let truncated = dir.join("truncated.c1z");
    fs::write(&truncated, &bytes[..bytes.len() / 2]).unwrap();
    let error = C1zReader::open(&truncated).unwrap_err();
    assert!(matches!(error, C1zError::Corrupt { .. }), "{error}");
}

// ---------------------------------------------------------------- inspect

fn inspect(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_confluence-hub"))
        .arg("inspect")
        .args(args)
        .output()
        .unwrap()
}

#[test]
fn inspect_prints_counts_per_resource_type() {
    let reference = fixture("reference.c1z");
    let output = inspect(&[reference.to_str().unwrap()]);
    assert!(output.status.success());
    let text = String::from_utf8(output.stdout).unwrap();
    for line in [
        "  user                  60             0       0",
        "  group                 12            12     211",
        "  space                  9           126     197",
        "  total                 81           138     408",
        "3MfAGF9fnNJvxma8YLu5wbNVBcT  full",
    ] {
        assert!(text.contains(line), "{line:?} missing from\n{text}");
    }
}

#[test]
fn inspect_json_is_byte_identical_to_the_baton_listing_of_the_reference() {
    let reference = fixture("reference.c1z");
    let output = inspect(&["--json", reference.to_str().unwrap()]);
    assert!(output.status.success());
    let expected = fs::read(fixture("reference.listing.json")).unwrap();
    assert_eq!(
        String::from_utf8(output.stdout).unwrap().trim_end(),
        String::from_utf8(expected).unwrap().trim_end()
    );
}

#[test]
fn inspect_exits_1_with_a_message_on_a_bad_file() {
    let dir = TestDir::new();
    let bad = dir.join("bad.c1z");
    fs::write(&bad, b"not a c1z at all").unwrap();
    let output = inspect(&[bad.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(1));
    let message = String::from_utf8(output.stderr).unwrap();
    assert!(
        message.starts_with("error: c1z: ") && message.contains("is not a c1z file"),
        "{message}"
    );
    assert!(output.stdout.is_empty());
}

#[test]
fn the_readers_decompressed_copy_is_private_to_its_user() {
    use std::os::unix::fs::MetadataExt;
    let dir = TestDir::new();
    let options = ReaderOptions {
        temp_dir: dir.0.clone(),
        ..ReaderOptions::default()
    };
    let reader = C1zReader::open_with(&fixture("reference.c1z"), &options).unwrap();
    reader.summary().unwrap();
    let modes: Vec<(PathBuf, u32)> = fs::read_dir(&dir.0)
        .unwrap()
        .map(|entry| {
            let path = entry.unwrap().path();
            let mode = fs::metadata(&path).unwrap().mode() & 0o777;
            (path, mode)
        })
        .collect();
    assert!(
        !modes.is_empty(),
        "the reader left no working copy to check"
    );
    for (path, mode) in &modes {
        assert_eq!(*mode, 0o600, "{} is {mode:o}", path.display());
    }
    drop(reader);
}
