use std::time::{Duration, SystemTime};

use super::*;
use crate::actors::instance::Trigger;
use crate::actors::status::ObjectCounts;

fn temp_dir(label: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("hub-history-{label}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn sync(n: u64) -> HistoryEntry {
    let at = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000 + n);
    HistoryEntry::Sync(LastSync {
        started_at: at,
        ended_at: at + Duration::from_millis(n),
        outcome: SyncOutcome::Ok,
        duration_ms: n,
        counts: ObjectCounts {
            user: n,
            ..ObjectCounts::default()
        },
        requests: n,
        rate_limited: 0,
        retries: 0,
        rate_limit_wait_ms: 0,
        file_size: 10,
        trigger: Trigger::Manual,
        error: None,
    })
}

fn users(entries: &[HistoryEntry]) -> Vec<u64> {
    entries
        .iter()
        .map(|entry| match entry {
            HistoryEntry::Sync(sync) => sync.counts.user,
            HistoryEntry::Task(_) => u64::MAX,
        })
        .collect()
}

#[test]
fn records_survive_rotation_and_the_last_fifty_come_back_in_order() {
    let dir = temp_dir("rotation");
    let file = file_of(&dir);
    let writer = HistoryWriter::spawn().unwrap();
    for n in 0..1_000 {
        writer.log().append("acme", file.clone(), sync(n));
    }
    assert!(writer.flush(Duration::from_secs(10)));
    assert!(previous_of(&file).exists(), "the file never rotated");
    let size = |path: &Path| std::fs::metadata(path).map_or(0, |m| m.len());
    assert!(size(&file) < ROTATE_AT_BYTES && size(&previous_of(&file)) <= ROTATE_AT_BYTES + 1024);
    let loaded = load("acme", &file);
    assert_eq!(users(&loaded.entries), (950..1_000).collect::<Vec<_>>());
    assert!(loaded.set_aside.is_empty());
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn a_truncated_file_is_set_aside_keeping_the_records_before_the_cut() {
    let dir = temp_dir("truncated");
    let file = file_of(&dir);
    let mut text = String::new();
    for n in 0..3 {
        text.push_str(&serde_json::to_string(&sync(n)).unwrap());
        text.push('\n');
    }
    let cut = serde_json::to_string(&sync(3)).unwrap();
    text.push_str(&cut[..cut.len() / 2]);
    std::fs::write(&file, text).unwrap();

    let loaded = load("acme", &file);
    assert_eq!(users(&loaded.entries), vec![0, 1, 2]);
    assert_eq!(loaded.set_aside.len(), 1);
    assert!(!file.exists(), "the damaged file is still in place");
    let aside = loaded.set_aside[0]
        .file_name()
        .unwrap()
        .to_string_lossy()
        .into_owned();
    assert!(aside.starts_with("history.jsonl.corrupt-"), "{aside}");
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn a_task_and_a_sync_read_back_as_they_were_written() {
    let at = SystemTime::UNIX_EPOCH + Duration::from_millis(1_700_000_000_123);
    let task = HistoryEntry::Task(TaskRecord {
        task_type: "grant".into(),
        started_at: at,
        ended_at: at,
        outcome: SyncOutcome::Error,
        duration_ms: 7,
        error: Some("acme: permission denied".into()),
    });
    let line = serde_json::to_string(&task).unwrap();
    assert!(line.contains("\"kind\":\"task\""), "{line}");
    let back: HistoryEntry = serde_json::from_str(&line).unwrap();
    assert_eq!(back.started_at(), at);
    let HistoryEntry::Task(back) = back else {
        panic!("{line}")
    };
    assert_eq!(back.error.as_deref(), Some("acme: permission denied"));
    let line = serde_json::to_string(&sync(5)).unwrap();
    let HistoryEntry::Sync(back) = serde_json::from_str(&line).unwrap() else {
        panic!("{line}")
    };
    assert_eq!(back.trigger, Trigger::Manual);
}
