//! Writes a c1z of 1,000,000 grants (plus the users, groups, spaces and
//! entitlements they refer to) the way a sync does — batches handed to one
//! `C1zWriter`, then `finish` — and prints the seconds and the peak RSS.
//!
//! `cargo bench --bench c1z_write` (release). Environment: `C1Z_BENCH_GRANTS`
//! (default 1000000), `C1Z_BENCH_BATCH` (grants per `put_grants`, default
//! 1000), `C1Z_BENCH_DIR` (default: the system temp dir), `C1Z_BENCH_KEEP=1`
//! to keep the file for a look with `zstd` or `sqlite3`.

use std::time::Instant;

use baton::c1z::{C1zWriter, WriterOptions, new_sync_id};
use baton::model::{self, Principal, SpacePermission, UserRecord};
use baton::pb::c1::connector::v2::Grant;

const USERS: usize = 20_000;
const GROUPS: usize = 1_000;
const SPACES: usize = 5_000;
/// A quarter of the grants are group memberships, the rest space permissions.
const MEMBERSHIP_SHARE: usize = 4;

fn env_number(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|value| value.parse().ok())
        .unwrap_or(default)
}

fn user_key(index: usize) -> String {
    format!("8a7f808a{index:024x}")
}

fn group_name(index: usize) -> String {
    format!("team-{index:04}-confluence")
}

fn space_key(index: usize) -> String {
    format!("SP{index:05}")
}

/// The `index`-th grant; distinct indexes give distinct grant ids.
fn grant(index: usize) -> Grant {
    let permissions: Vec<SpacePermission> = SpacePermission::all().collect();
    if index.is_multiple_of(MEMBERSHIP_SHARE) {
        let membership = index / MEMBERSHIP_SHARE;
        return model::group_membership_grant(
            &group_name(membership % GROUPS),
            &user_key(membership / GROUPS),
        );
    }
    let slot = index - index / MEMBERSHIP_SHARE - 1;
    let space = slot % SPACES;
    let permission = permissions[(slot / SPACES) % permissions.len()];
    let holder = slot / (SPACES * permissions.len());
    // Every third holder is a group: its grant carries GrantExpandable.
    let principal = if holder % 3 == 2 {
        Principal::Group {
            name: group_name(holder),
        }
    } else {
        Principal::User {
            user_key: user_key(holder),
        }
    };
    model::space_grant(&space_key(space), permission, &principal)
}

fn peak_rss_mib() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|line| line.starts_with("VmHWM:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let grants = env_number("C1Z_BENCH_GRANTS", 1_000_000);
    let batch = env_number("C1Z_BENCH_BATCH", 1_000).max(1);
    let directory = std::env::var_os("C1Z_BENCH_DIR").map_or_else(std::env::temp_dir, Into::into);
    let path = directory.join(format!("bench-{}.c1z", new_sync_id()));

    let started = Instant::now();
    let mut writer = C1zWriter::create(&path, WriterOptions::default())?;
    writer.put_resource_types(&model::resource_types())?;
    let users: Vec<_> = (0..USERS)
        .map(|index| {
            model::user_resource(&UserRecord {
                user_key: user_key(index),
                username: format!("user{index}"),
                display_name: format!("User {index}"),
                email: Some(format!("user{index}@example.test")),
                enabled: true,
                account_type: "known".into(),
            })
        })
        .collect();
    writer.put_resources(&users)?;
    drop(users);
    let groups: Vec<_> = (0..GROUPS)
        .map(|index| model::group_resource(&group_name(index)))
        .collect();
    writer.put_resources(&groups)?;
    writer.put_entitlements(
        &groups
            .iter()
            .map(model::group_member_entitlement)
            .collect::<Vec<_>>(),
    )?;
    drop(groups);
    for first in (0..SPACES).step_by(500) {
        let spaces: Vec<_> = (first..(first + 500).min(SPACES))
            .map(|index| model::space_resource(&space_key(index), &format!("Space {index}"), ""))
            .collect();
        writer.put_resources(&spaces)?;
        let entitlements: Vec<_> = spaces.iter().flat_map(model::space_entitlements).collect();
        writer.put_entitlements(&entitlements)?;
    }
    let objects_done = started.elapsed();

    let mut next = 0;
    while next < grants {
        let end = (next + batch).min(grants);
        let items: Vec<Grant> = (next..end).map(grant).collect();
        writer.put_grants(&items)?;
        next = end;
    }
    let grants_done = started.elapsed();
    let counts = writer.counts();
    let finished = writer.finish()?;
    let total = started.elapsed();

    println!("c1z_write: {grants} grants in batches of {batch}");
    println!(
        "  rows: {} resource types, {} resources, {} entitlements, {} grants",
        counts.resource_types, counts.resources, counts.entitlements, counts.grants
    );
    println!(
        "  resources + entitlements: {:.2} s",
        objects_done.as_secs_f64()
    );
    println!(
        "  grants:                   {:.2} s",
        (grants_done - objects_done).as_secs_f64()
    );
    println!(
        "  finish (compress, fsync): {:.2} s",
        (total - grants_done).as_secs_f64()
    );
    println!("  total:                    {:.2} s", total.as_secs_f64());
    println!(
        "  file: {} bytes, sha256 {}",
        finished.size,
        finished.sha256_hex()
    );
    println!("  SQLite database: {} bytes", finished.database_size);
    match peak_rss_mib() {
        Some(peak) => println!("  peak RSS: {peak:.1} MiB"),
        None => println!("  peak RSS: unavailable (no /proc/self/status)"),
    }
    if std::env::var_os("C1Z_BENCH_KEEP").is_some() {
        println!("  kept {}", finished.path.display());
    } else {
        std::fs::remove_file(&finished.path)?;
    }
    Ok(())
}
