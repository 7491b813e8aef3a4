//! The multi-tenant hub as an operator runs it: the real `confluence-hub run`
//! binary against in-process Confluence simulators, observed through its
//! admin endpoint and its files, driven with signals.

use std::time::{Duration, Instant};

use sim::confluence::{
    ConfluenceSim, Dataset, Faults, GenerateOptions, Hostile, HostileAnswer, SimOptions, SimVersion,
};

use crate::support::{HubProcess, TempDir, temp_files, tenant};

fn dataset(seed: u64, users: usize, groups: usize, spaces: usize) -> Dataset {
    Dataset::generate(&GenerateOptions {
        seed,
        users,
        groups,
        spaces,
    })
}

fn sim(version: SimVersion, dataset: Dataset) -> ConfluenceSim {
    ConfluenceSim::start(SimOptions::new(version, dataset)).expect("start a Confluence simulator")
}

fn slow_sim(dataset: Dataset, latency: Duration) -> ConfluenceSim {
    let mut options = SimOptions::new(SimVersion::V9_2, dataset);
    options.faults = Faults {
        latency,
        ..Faults::default()
    };
    ConfluenceSim::start(options).expect("start a slow Confluence simulator")
}

fn instance(id: &str, sim: &ConfluenceSim, token_env: &str, extra: &str) -> String {
    format!(
        "[[instance]]\nid = \"{id}\"\nbase_url = \"{}\"\ntoken = {{ env = \"{token_env}\" }}\n{extra}\n",
        sim.base_url()
    )
}

const HUB: &str = "[hub]\ndata_dir = \"{data_dir}\"\nadmin_listen = \"{admin}\"\nworkers = 2\nshutdown_grace = \"2s\"\nreload_grace = \"30s\"\n";
const ADMIN_TOKEN: (&str, &str) = ("HUB_IT_TOKEN", "sim-admin-token");

fn sync_starts(status: &serde_json::Value, id: &str) -> Option<String> {
    tenant(status, id)?["last_sync"]["started_at"]
        .as_str()
        .map(str::to_owned)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_tenant_never_delays_a_healthy_ones_schedule() {
    let healthy = sim(SimVersion::V9_2, dataset(21, 40, 6, 4));
    let locked_out = sim(SimVersion::V8_5, dataset(22, 10, 3, 2));
    let mut down_options = SimOptions::new(SimVersion::V10_2, dataset(23, 10, 3, 2));
    down_options.faults = Faults {
        status_503_rate: 1.0,
        retry_after_secs: 0,
        ..Faults::default()
    };
    let down = ConfluenceSim::start(down_options).unwrap();

    let interval = "sync_interval = \"2s\"\nrequests_per_second = 200\nburst = 50\nretry_attempts = 3\nretry_max_elapsed = \"2s\"";
    let config = format!(
        "{HUB}{}{}{}",
        instance("healthy", &healthy, "HUB_IT_TOKEN", interval),
        instance("locked-out", &locked_out, "HUB_IT_WRONG_TOKEN", interval),
        instance("down", &down, "HUB_IT_TOKEN", interval),
    );
    let dir = TempDir::new("isolation");
    let mut hub = HubProcess::start(
        dir.path(),
        &config,
        &[ADMIN_TOKEN, ("HUB_IT_WRONG_TOKEN", "expired-pat")],
    );
    hub.wait_for_tenants(&["healthy", "locked-out", "down"])
        .await;

    // Record every healthy sync start while the other two keep failing; once
    // a tenant has failed, every look at it reads `failing`, retries included.
    let started = Instant::now();
    let mut starts: Vec<String> = Vec::new();
    let mut last = serde_json::Value::Null;
    let mut failed_once = [false; 2];
    let mut seen_retrying = [false; 2];
    while started.elapsed() < Duration::from_secs(11) {
        if let Some(status) = hub.status().await {
            if let Some(start) = sync_starts(&status, "healthy")
                && starts.last() != Some(&start)
            {
                assert_eq!(
                    tenant(&status, "healthy").unwrap()["last_sync"]["outcome"],
                    "ok",
                    "{status:#}"
                );
                starts.push(start);
            }
            for (index, id) in ["locked-out", "down"].into_iter().enumerate() {
                let entry = tenant(&status, id).unwrap();
                if failed_once[index] {
                    assert_eq!(entry["state"], "failing", "{id}: {entry:#}");
                    assert_eq!(entry["health"], "failing", "{id}: {entry:#}");
                    seen_retrying[index] |= entry["activity"] == "syncing";
                }
                failed_once[index] |= entry["consecutive_failures"].as_u64() > Some(0);
            }
            last = status;
        }
        tokio::time::sleep(Duration::from_millis(40)).await;
    }
    assert_eq!(failed_once, [true, true], "{last:#}");
    assert!(
        seen_retrying[1],
        "never saw the 503 tenant retrying: {last:#}"
    );
    assert!(
        starts.len() >= 4,
        "healthy synced only {} times: {last:#}",
        starts.len()
    );
    let times: Vec<time::OffsetDateTime> = starts
        .iter()
        .map(|text| {
            time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339)
                .unwrap()
        })
        .collect();
    for pair in times.windows(2) {
        let gap = (pair[1] - pair[0]).as_seconds_f64();
        assert!(
            (1.9..=2.2).contains(&gap),
            "healthy syncs started {gap:.3}s apart; the schedule is every 2s (+10% at most)"
        );
    }

    for (id, reason) in [("locked-out", "bad credentials"), ("down", "503")] {
        let status = hub
            .wait_for(
                Duration::from_secs(10),
                &format!("{id} to show as failing"),
                |status| tenant(status, id).is_some_and(|t| t["state"] == "failing"),
            )
            .await;
        let failing = tenant(&status, id).unwrap();
        let error = failing["last_error"].as_str().unwrap_or_default();
        assert!(error.contains(reason), "{id}: {failing:#}");
        assert!(
            failing["consecutive_failures"].as_u64().unwrap() >= 2,
            "{id}: {failing:#}"
        );
    }
    assert_eq!(tenant(&last, "healthy").unwrap()["consecutive_failures"], 0);
    assert!(dir.path().join("data/healthy/latest.c1z").exists());
    assert!(!dir.path().join("data/locked-out/latest.c1z").exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reload_touches_only_what_changed_and_rejects_bad_files_whole() {
    // `steady` syncs slowly, so its first sync is in flight during the reload.
    // It reads one request at a time: with adaptive pacing a sync of this
    // size would otherwise be over before the other tenants' first syncs.
    let slow = slow_sim(dataset(31, 60, 8, 6), Duration::from_millis(150));
    let one_at_a_time = "sync_interval = \"1h\"\nmax_in_flight = 1\nmax_in_flight_ceiling = 1";
    let fast = sim(SimVersion::V10_2, dataset(32, 20, 4, 3));
    let hourly = "sync_interval = \"1h\"";
    let v1 = format!(
        "{HUB}{}{}{}",
        instance("steady", &slow, "HUB_IT_TOKEN", one_at_a_time),
        instance("leaving", &fast, "HUB_IT_TOKEN", hourly),
        instance(
            "retuned",
            &fast,
            "HUB_IT_TOKEN",
            &format!("{hourly}\nrequests_per_second = 10")
        ),
    );
    let dir = TempDir::new("reload");
    let mut hub = HubProcess::start(dir.path(), &v1, &[ADMIN_TOKEN]);
    let before = hub
        .wait_for(
            Duration::from_secs(20),
            "steady to be syncing and the rest idle",
            |status| {
                tenant(status, "steady").is_some_and(|t| t["state"] == "syncing")
                    && ["leaving", "retuned"].iter().all(|id| {
                        tenant(status, id).is_some_and(|t| t["last_sync"]["outcome"] == "ok")
                    })
            },
        )
        .await;
    let generation =
        |status: &serde_json::Value, id: &str| tenant(status, id).map(|t| t["generation"].clone());

    let v2 = format!(
        "{HUB}{}{}{}",
        instance("steady", &slow, "HUB_IT_TOKEN", one_at_a_time),
        instance(
            "retuned",
            &fast,
            "HUB_IT_TOKEN",
            &format!("{hourly}\nrequests_per_second = 25")
        ),
        instance("joining", &fast, "HUB_IT_TOKEN", hourly),
    );
    hub.rewrite_config(&v2);
    let reloaded_at = time::OffsetDateTime::now_utc();
    hub.signal("HUP");
    let after = hub
        .wait_for(Duration::from_secs(20), "the reload to apply", |status| {
            status["config_generation"] == 2
                && tenant(status, "joining").is_some()
                && tenant(status, "leaving").is_none()
                && tenant(status, "retuned")
                    .is_some_and(|t| t["generation"] != before_generation(&before))
        })
        .await;
    fn before_generation(status: &serde_json::Value) -> serde_json::Value {
        tenant(status, "retuned")
            .map(|t| t["generation"].clone())
            .unwrap_or_default()
    }
    assert_eq!(after["last_reload"]["ok"], true);
    assert_eq!(
        generation(&after, "steady"),
        generation(&before, "steady"),
        "the untouched tenant was restarted"
    );

    // The untouched tenant's in-flight sync, started before the reload, completes.
    let done = hub
        .wait_for(
            Duration::from_secs(30),
            "steady's first sync to finish",
            |status| tenant(status, "steady").is_some_and(|t| t["last_sync"]["outcome"] == "ok"),
        )
        .await;
    let steady = tenant(&done, "steady").unwrap();
    let started = time::OffsetDateTime::parse(
        steady["last_sync"]["started_at"].as_str().unwrap(),
        &time::format_description::well_known::Rfc3339,
    )
    .unwrap();
    assert!(
        started < reloaded_at,
        "steady's sync restarted after the reload: {steady:#}"
    );
    assert_eq!(steady["generation"], generation(&before, "steady").unwrap());

    // Invalid files change nothing and say why, whichever way reload is asked for.
    let generations: Vec<_> = ["steady", "retuned", "joining"]
        .iter()
        .map(|id| generation(&done, id))
        .collect();
    let broken = [
        ("a TOML syntax error", format!("{v2}\n[[instance]\nid = ")),
        ("an unknown key", v2.replace("workers = 2", "workers = 2\nfrobnicate = true")),
        ("a duplicate id", format!("{v2}{}", instance("steady", &fast, "HUB_IT_TOKEN", hourly))),
        (
            "a missing secret file",
            v2.replace("token = { env = \"HUB_IT_TOKEN\" }\nsync_interval = \"1h\"\nrequests_per_second = 25", "token = { file = \"/nonexistent/hub-it-secret\" }\nsync_interval = \"1h\"\nrequests_per_second = 25"),
        ),
    ];
    let mut config_generation = done["config_generation"].clone();
    for (index, (what, text)) in broken.iter().enumerate() {
        assert_ne!(text, &v2, "{what}: the test did not break the file");
        hub.rewrite_config(text);
        if index % 2 == 0 {
            hub.signal("HUP");
        } else {
            let response = reqwest::Client::new()
                .post(format!("{}/reload", hub.admin))
                .send()
                .await
                .unwrap();
            assert_eq!(
                response.status(),
                422,
                "{what}: POST /reload accepted a bad file"
            );
        }
        let status = hub
            .wait_for(Duration::from_secs(10), what, |status| {
                status["last_reload"]["ok"] == false
            })
            .await;
        let error = status["last_reload"]["error"].as_str().unwrap();
        assert!(!error.is_empty(), "{what}: no error shown");
        assert_eq!(
            status["config_generation"], config_generation,
            "{what}: the bad file was applied"
        );
        let now: Vec<_> = ["steady", "retuned", "joining"]
            .iter()
            .map(|id| generation(&status, id))
            .collect();
        assert_eq!(now, generations, "{what}: a tenant was restarted");
        // Reset the marker for the next case with a valid reload of v2.
        hub.rewrite_config(&v2);
        hub.signal("HUP");
        let clean = hub
            .wait_for(Duration::from_secs(10), "a clean reload", |status| {
                status["last_reload"]["ok"] == true
            })
            .await;
        config_generation = clean["config_generation"].clone();
    }
    let log = hub.log_text();
    assert!(
        log.contains("frobnicate"),
        "the unknown key is not named in the log"
    );
    assert!(
        log.contains("/nonexistent/hub-it-secret"),
        "the missing secret file is not named in the log"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_mid_sync_exits_within_the_grace_period_leaving_no_partial_files() {
    let slow = slow_sim(dataset(41, 200, 20, 10), Duration::from_millis(200));
    let config = format!(
        "{HUB}{}",
        instance("busy", &slow, "HUB_IT_TOKEN", "sync_interval = \"1h\"")
    );
    let dir = TempDir::new("sigterm");
    let mut hub = HubProcess::start(dir.path(), &config, &[ADMIN_TOKEN]);
    hub.wait_for(Duration::from_secs(20), "a sync to be writing", |status| {
        tenant(status, "busy").is_some_and(|t| t["state"] == "syncing")
    })
    .await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(
        !temp_files(&dir.path().join("data")).is_empty(),
        "the sync has no temp files yet; the test proves nothing"
    );

    let signalled = Instant::now();
    hub.signal("TERM");
    let exit = hub
        .wait_exit(Duration::from_secs(10))
        .expect("the hub did not exit after SIGTERM");
    let took = signalled.elapsed();
    assert!(exit.success(), "exit status {exit}\n{}", hub.log_tail());
    assert!(
        took < Duration::from_secs(5),
        "took {took:?} with a 2s grace period"
    );
    assert_eq!(
        temp_files(&dir.path().join("data")),
        Vec::<std::path::PathBuf>::new()
    );
    assert!(
        !dir.path().join("data/busy/latest.c1z").exists(),
        "a cancelled sync left a file"
    );
    assert!(
        hub.log_text().contains("cancelling it"),
        "{}",
        hub.log_tail()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_replica_runs_exactly_its_shard_of_the_tenants() {
    let fast = sim(SimVersion::V9_2, dataset(51, 5, 2, 1));
    let ids: Vec<String> = (0..9).map(|n| format!("tenant-{n}")).collect();
    let mut config = format!("{HUB}[sharding]\nreplicas = 3\n");
    for id in &ids {
        config.push_str(&instance(
            id,
            &fast,
            "HUB_IT_TOKEN",
            "sync_interval = \"1h\"",
        ));
    }
    let dir = TempDir::new("shards");
    let config_path = dir.path().join("plan.toml");
    let plannable = config
        .replace("{admin}", "127.0.0.1:9090")
        .replace("{data_dir}", "data");
    std::fs::write(&config_path, plannable).unwrap();
    let plan = std::process::Command::new(env!("CARGO_BIN_EXE_confluence-hub"))
        .args(["shard-plan", "--config"])
        .arg(&config_path)
        .output()
        .unwrap();
    assert!(plan.status.success());
    let plan = String::from_utf8(plan.stdout).unwrap();
    let lines: Vec<(String, u32)> = plan
        .lines()
        .map(|line| {
            let (id, ordinal) = line
                .split_once(' ')
                .expect("`<tenant-id> <replica-ordinal>`");
            (id.to_owned(), ordinal.parse().unwrap())
        })
        .collect();
    assert_eq!(lines.len(), ids.len());
    for (id, ordinal) in &lines {
        assert_eq!(*ordinal, hub::actors::shard::replica_for(id, 3));
    }

    let replica_dir = TempDir::new("replica-1");
    let mut hub = HubProcess::start(
        replica_dir.path(),
        &config,
        &[ADMIN_TOKEN, ("HUB_ORDINAL", "1")],
    );
    let status = hub
        .wait_for(Duration::from_secs(15), "readiness", |status| {
            status["replica"] == 1
        })
        .await;
    let mut served: Vec<String> = status["tenants"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["id"].as_str().unwrap().to_owned())
        .collect();
    served.sort();
    let mut expected: Vec<String> = lines
        .iter()
        .filter(|(_, o)| *o == 1)
        .map(|(id, _)| id.clone())
        .collect();
    expected.sort();
    assert_eq!(served, expected);
    let deadline = Instant::now() + Duration::from_secs(10);
    while hub.get("/readyz").await.is_none_or(|r| r.status() != 200) {
        assert!(Instant::now() < deadline, "never ready: {}", hub.log_tail());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(hub.get("/healthz").await.is_some_and(|r| r.status() == 200));
}

/// Every file and directory under `dir` with its permission bits and
/// whether it is a directory.
fn modes_under(dir: &std::path::Path) -> Vec<(std::path::PathBuf, (u32, bool))> {
    use std::os::unix::fs::MetadataExt;
    let mut found = Vec::new();
    let mut pending = vec![dir.to_owned()];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
            let path = entry.path();
            // A file may vanish between listing and stat: it is simply not seen.
            let Ok(metadata) = std::fs::symlink_metadata(&path) else {
                continue;
            };
            if metadata.is_dir() {
                pending.push(path.clone());
            }
            found.push((path, (metadata.mode() & 0o777, metadata.is_dir())));
        }
    }
    found
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn under_umask_022_every_directory_is_0700_and_every_file_0600() {
    use std::os::unix::fs::MetadataExt;
    let slow = slow_sim(dataset(45, 80, 10, 5), Duration::from_millis(15));
    let config = format!(
        "{HUB}{}",
        instance("private", &slow, "HUB_IT_TOKEN", "sync_interval = \"1h\"")
    );
    let dir = TempDir::new("umask");
    let data = dir.path().join("data");
    let hub = HubProcess::start_with_umask(dir.path(), &config, &[ADMIN_TOKEN], Some("022"));

    // Watch the files as the sync writes them: temp files and SQLite's own
    // side files exist only while it runs.
    let mut seen = std::collections::BTreeMap::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    while !data.join("private/latest.c1z").exists() {
        assert!(Instant::now() < deadline, "no sync\n{}", hub.log_tail());
        seen.extend(modes_under(&data));
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    seen.extend(modes_under(&data));
    let data_mode = std::fs::metadata(&data).unwrap().mode() & 0o777;

    assert_eq!(data_mode, 0o700, "data_dir");
    assert!(
        seen.keys()
            .any(|path| path.to_string_lossy().ends_with(".sqlite.tmp")),
        "the sync's working database was never seen; the test proves nothing: {seen:?}"
    );
    let loose: Vec<String> = seen
        .iter()
        .filter(|(_, (mode, is_dir))| *mode != if *is_dir { 0o700 } else { 0o600 })
        .map(|(path, (mode, _))| format!("{} {mode:o}", path.display()))
        .collect();
    assert!(loose.is_empty(), "readable by others: {loose:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_start_up_sweep_removes_leftovers_but_never_follows_a_link_out_of_the_data_dir() {
    let confluence = sim(SimVersion::V9_2, dataset(46, 10, 3, 2));
    let config = format!(
        "{HUB}{}",
        instance(
            "acme",
            &confluence,
            "HUB_IT_TOKEN",
            "sync_interval = \"1h\""
        )
    );
    let dir = TempDir::new("sweep");
    let outside = dir.path().join("outside");
    let tenant_dir = dir.path().join("data/acme");
    std::fs::create_dir_all(&outside).unwrap();
    std::fs::create_dir_all(tenant_dir.join("tasks")).unwrap();
    std::fs::write(outside.join("victim.tmp"), "not the hub's").unwrap();
    std::fs::write(outside.join("target.tmp"), "not the hub's either").unwrap();
    let stale = tenant_dir.join("latest.c1z.2VQ8pMFm1uSsSRNlFqKjAjzTDNt.sqlite.tmp");
    std::fs::write(&stale, "crashed sync").unwrap();
    let crashed_task = tenant_dir.join("tasks/2VQ8pMFm1uSsSRNlFqKjAjzTDNt.c1z");
    std::fs::write(&crashed_task, "crashed task").unwrap();
    let link = tenant_dir.join("link.tmp");
    std::os::unix::fs::symlink(outside.join("target.tmp"), &link).unwrap();
    std::os::unix::fs::symlink(&outside, tenant_dir.join("escape")).unwrap();
    std::os::unix::fs::symlink(&outside, dir.path().join("data/elsewhere")).unwrap();

    let mut hub = HubProcess::start(dir.path(), &config, &[ADMIN_TOKEN]);
    hub.wait_for(Duration::from_secs(20), "the hub to serve", |_| true)
        .await;

    assert!(!stale.exists(), "a stale temp file survived");
    assert!(!crashed_task.exists(), "a crashed task's file survived");
    assert!(
        std::fs::symlink_metadata(&link).is_err(),
        "a link with a temp name survived"
    );
    assert_eq!(
        std::fs::read_to_string(outside.join("victim.tmp")).unwrap(),
        "not the hub's"
    );
    assert_eq!(
        std::fs::read_to_string(outside.join("target.tmp")).unwrap(),
        "not the hub's either"
    );
}

fn hostile_sim(seed: u64, path_prefix: &str, answer: HostileAnswer) -> ConfluenceSim {
    let mut options = SimOptions::new(SimVersion::V9_2, dataset(seed, 10, 3, 2));
    options.faults = Faults {
        hostile: Some(Hostile {
            path_prefix: path_prefix.to_owned(),
            answer,
        }),
        ..Faults::default()
    };
    ConfluenceSim::start(options).expect("start a hostile Confluence simulator")
}

/// The peak resident memory of process `pid`, in KiB (Linux).
fn peak_memory_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmHWM:"))
        .and_then(|value| value.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmHWM in /proc/<pid>/status")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hostile_confluence_hits_a_cap_while_another_tenant_syncs_normally() {
    let healthy = sim(SimVersion::V9_2, dataset(47, 40, 6, 4));
    let endless_pages = hostile_sim(48, "/rest/api/group", HostileAnswer::EndlessPages);
    let huge_body = hostile_sim(
        49,
        "/rest/api/space",
        HostileAnswer::HugeBody {
            bytes: 200 * 1024 * 1024,
        },
    );
    let endless_body = hostile_sim(50, "/rest/api/group", HostileAnswer::EndlessBody);
    let once = "sync_interval = \"1h\"\nrequests_per_second = 1000\nburst = 100";
    let capped = format!("{once}\nmax_response_bytes = 1048576\nmax_pages = 50");
    let config = format!(
        "{HUB}{}{}{}{}",
        instance("healthy", &healthy, "HUB_IT_TOKEN", once),
        instance("endless-pages", &endless_pages, "HUB_IT_TOKEN", &capped),
        instance("huge-body", &huge_body, "HUB_IT_TOKEN", &capped),
        instance("endless-body", &endless_body, "HUB_IT_TOKEN", &capped),
    );
    let dir = TempDir::new("hostile");
    let mut hub = HubProcess::start(dir.path(), &config, &[ADMIN_TOKEN]);

    let expectations = [
        ("endless-pages", "/rest/api/group", "50 pages", "max_pages"),
        (
            "huge-body",
            "/rest/api/space",
            "1048576 bytes",
            "max_response_bytes",
        ),
        (
            "endless-body",
            "/rest/api/group",
            "1048576 bytes",
            "max_response_bytes",
        ),
    ];
    for (id, route, cap, key) in expectations {
        let error = wait_for_failure(&mut hub, id).await;
        for part in [id, route, cap, key] {
            assert!(error.contains(part), "{id}: `{part}` missing from: {error}");
        }
    }
    let healthy = wait_for_sync(&mut hub, "healthy").await;
    assert_eq!(healthy["consecutive_failures"], 0, "{healthy:#}");
    assert!(dir.path().join("data/healthy/latest.c1z").exists());
    let peak = peak_memory_kib(hub.pid());
    assert!(
        peak < 150 * 1024,
        "the hub peaked at {peak} KiB while refusing a 200 MiB body"
    );
}

/// The error `/status` shows for tenant `id` once it is failing.
async fn wait_for_failure(hub: &mut HubProcess, id: &str) -> String {
    let status = hub
        .wait_for(
            Duration::from_secs(60),
            &format!("{id} to fail"),
            |status| tenant(status, id).is_some_and(|t| t["state"] == "failing"),
        )
        .await;
    tenant(&status, id).unwrap()["last_error"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

/// Waits for tenant `id`'s first successful sync and returns its status entry.
async fn wait_for_sync(hub: &mut HubProcess, id: &str) -> serde_json::Value {
    let status = hub
        .wait_for(
            Duration::from_secs(60),
            &format!("{id} to sync"),
            |status| tenant(status, id).is_some_and(|t| t["last_sync"]["outcome"] == "ok"),
        )
        .await;
    tenant(&status, id).unwrap().clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_absurd_retry_after_or_deep_json_fails_only_its_tenant_with_a_clear_error() {
    let healthy = sim(SimVersion::V9_2, dataset(52, 40, 6, 4));
    let retry_after = hostile_sim(
        53,
        "/rest/api/group",
        HostileAnswer::RetryAfter {
            value: "99999999".into(),
        },
    );
    let nested = hostile_sim(
        54,
        "/rest/api/user/list",
        HostileAnswer::NestedArrays { depth: 100_000 },
    );
    let once = "sync_interval = \"1h\"";
    let config = format!(
        "{HUB}{}{}{}",
        instance("healthy", &healthy, "HUB_IT_TOKEN", once),
        instance("retry-after", &retry_after, "HUB_IT_TOKEN", once),
        instance("nested", &nested, "HUB_IT_TOKEN", once),
    );
    let dir = TempDir::new("hostile-answers");
    let mut hub = HubProcess::start(dir.path(), &config, &[ADMIN_TOKEN]);

    let error = wait_for_failure(&mut hub, "retry-after").await;
    for part in [
        "retry-after",
        "/rest/api/group",
        "Retry-After",
        "retry_max_elapsed",
    ] {
        assert!(error.contains(part), "`{part}` missing from: {error}");
    }
    let error = wait_for_failure(&mut hub, "nested").await;
    for part in ["nested", "/rest/api/user/list", "nested deeper than", "128"] {
        assert!(error.contains(part), "`{part}` missing from: {error}");
    }
    let healthy = wait_for_sync(&mut hub, "healthy").await;
    assert_eq!(healthy["consecutive_failures"], 0, "{healthy:#}");
    assert!(dir.path().join("data/healthy/latest.c1z").exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nonsense_rate_limit_headers_are_ignored_and_every_sync_completes() {
    let healthy = sim(SimVersion::V9_2, dataset(55, 40, 6, 4));
    let once = "sync_interval = \"1h\"";
    let mut config = format!(
        "{HUB}{}",
        instance("healthy", &healthy, "HUB_IT_TOKEN", once)
    );
    let spoiled: Vec<_> = [
        ("negative", "-5"),
        ("infinite", "1e400"),
        ("not-a-number", "lots"),
        ("nan", "NaN"),
    ]
    .into_iter()
    .enumerate()
    .map(|(index, (id, value))| {
        let sim = hostile_sim(
            56 + index as u64,
            "/rest/api",
            HostileAnswer::RateLimitHeaders {
                value: value.into(),
            },
        );
        config.push_str(&instance(id, &sim, "HUB_IT_TOKEN", once));
        (id, sim)
    })
    .collect();
    let dir = TempDir::new("hostile-headers");
    let mut hub = HubProcess::start(dir.path(), &config, &[ADMIN_TOKEN]);

    for (id, _) in &spoiled {
        let tenant = wait_for_sync(&mut hub, id).await;
        assert_eq!(tenant["pacing"]["mode"], "adaptive", "{id}: {tenant:#}");
        assert!(dir.path().join(format!("data/{id}/latest.c1z")).exists());
    }
    let healthy = wait_for_sync(&mut hub, "healthy").await;
    assert_eq!(healthy["consecutive_failures"], 0, "{healthy:#}");
}

/// The status code and body of `method path` with an optional bearer token.
async fn admin_call(
    hub: &HubProcess,
    method: reqwest::Method,
    path: &str,
    bearer: Option<&str>,
) -> (u16, String) {
    let mut request = crate::support::http_client().request(method, format!("{}{path}", hub.admin));
    if let Some(token) = bearer {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.expect("the admin endpoint answers");
    let status = response.status().as_u16();
    (status, response.text().await.unwrap_or_default())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_an_admin_token_status_and_reload_demand_it_and_a_reload_rotates_it() {
    use reqwest::Method;
    let confluence = sim(SimVersion::V9_2, dataset(51, 10, 3, 2));
    let dir = TempDir::new("admin-token");
    let token_file = dir.path().join("admin-token");
    std::fs::write(&token_file, "first-admin-token\n").unwrap();
    let config = format!(
        "{HUB}admin_token = {{ file = \"{}\" }}\n{}",
        token_file.display(),
        instance(
            "acme",
            &confluence,
            "HUB_IT_TOKEN",
            "sync_interval = \"1h\""
        )
    );
    let mut hub = HubProcess::start(dir.path(), &config, &[ADMIN_TOKEN]);
    hub.bearer = Some("first-admin-token".into());
    hub.wait_for(Duration::from_secs(20), "the hub to serve", |_| true)
        .await;

    for path in ["/healthz", "/readyz", "/metrics"] {
        let (code, body) = admin_call(&hub, Method::GET, path, None).await;
        assert!(
            code == 200 || (path == "/readyz" && code == 503),
            "{path}: {code} {body}"
        );
    }
    for (method, path) in [(Method::GET, "/status"), (Method::POST, "/reload")] {
        for bearer in [None, Some("wrong-admin-token"), Some("first-admin-toke")] {
            let (code, body) = admin_call(&hub, method.clone(), path, bearer).await;
            assert_eq!(code, 401, "{path} with {bearer:?}: {body}");
            assert!(!body.contains("first-admin-token"), "{body}");
        }
    }
    let (code, body) = admin_call(&hub, Method::GET, "/status", Some("first-admin-token")).await;
    assert_eq!(code, 200, "{body}");
    assert!(body.contains("acme"), "{body}");

    std::fs::write(&token_file, "second-admin-token\n").unwrap();
    let (code, body) = admin_call(&hub, Method::POST, "/reload", Some("first-admin-token")).await;
    assert_eq!(code, 200, "{body}");
    let (code, _) = admin_call(&hub, Method::GET, "/status", Some("first-admin-token")).await;
    assert_eq!(code, 401, "the old token still works after the reload");
    let (code, body) = admin_call(&hub, Method::GET, "/status", Some("second-admin-token")).await;
    assert_eq!(code, 200, "{body}");
    let log = hub.log_text();
    for token in ["first-admin-token", "second-admin-token"] {
        assert!(!log.contains(token), "{token} reached the log");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_an_admin_token_a_listener_open_to_other_hosts_serves_only_the_open_routes() {
    use reqwest::Method;
    let confluence = sim(SimVersion::V9_2, dataset(52, 10, 3, 2));
    let dir = TempDir::new("admin-open");
    let config = format!(
        "[hub]\ndata_dir = \"{{data_dir}}\"\nadmin_listen = \"0.0.0.0:{{admin_port}}\"\nshutdown_grace = \"2s\"\n{}",
        instance(
            "acme",
            &confluence,
            "HUB_IT_TOKEN",
            "sync_interval = \"1h\""
        )
    );
    let hub = HubProcess::start(dir.path(), &config, &[ADMIN_TOKEN]);
    let deadline = Instant::now() + Duration::from_secs(20);
    while hub.get("/healthz").await.is_none() {
        assert!(Instant::now() < deadline, "{}", hub.log_tail());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    for path in ["/healthz", "/metrics"] {
        let (code, body) = admin_call(&hub, Method::GET, path, None).await;
        assert_eq!(code, 200, "{path}: {body}");
    }
    for (method, path) in [
        (Method::GET, "/status"),
        (Method::POST, "/reload"),
        (Method::GET, "/"),
        (Method::GET, "/tenants/acme"),
        (Method::GET, "/api/tenants/acme"),
        (Method::POST, "/tenants/acme/sync"),
        (Method::POST, "/hub/reload"),
    ] {
        let (code, body) = admin_call(&hub, method, path, None).await;
        assert_eq!(code, 401, "{path}: {body}");
        assert!(body.contains("hub.admin_token"), "{path}: {body}");
    }
    assert!(
        hub.log_text().contains("hub.admin_token is not set"),
        "{}",
        hub.log_tail()
    );
}

/// The config's `[hub]` with a long grace period, so only prompt cancellation
/// of waiting work can make the hub exit quickly.
fn hub_with_long_grace() -> String {
    HUB.replace("shutdown_grace = \"2s\"", "shutdown_grace = \"30s\"")
}

fn always_503(seed: u64) -> ConfluenceSim {
    let mut options = SimOptions::new(SimVersion::V10_2, dataset(seed, 10, 3, 2));
    options.faults = Faults {
        status_503_rate: 1.0,
        retry_after_secs: 0,
        ..Faults::default()
    };
    ConfluenceSim::start(options).unwrap()
}

fn seconds_between(earlier: &str, later: &str) -> f64 {
    let parse = |text: &str| {
        time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339).unwrap()
    };
    (parse(later) - parse(earlier)).as_seconds_f64()
}

// The retry base is shortened from 30 s to 1 s through the hub's internal
// HUB_FAILURE_RETRY_BASE_MS knob, so four attempts fit in a few seconds.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_scheduled_sync_is_retried_soon_with_growing_gaps_and_the_reason_shown() {
    let healthy = sim(SimVersion::V9_2, dataset(31, 20, 4, 3));
    let down = always_503(32);
    let hourly = "sync_interval = \"1h\"\nrequests_per_second = 200\nburst = 50";
    let one_attempt = format!("{hourly}\nretry_attempts = 1");
    let config = format!(
        "{HUB}{}{}",
        instance("healthy", &healthy, "HUB_IT_TOKEN", hourly),
        instance("down", &down, "HUB_IT_TOKEN", &one_attempt),
    );
    let dir = TempDir::new("retry-after-failure");
    let mut hub = HubProcess::start(
        dir.path(),
        &config,
        &[ADMIN_TOKEN, ("HUB_FAILURE_RETRY_BASE_MS", "1000")],
    );
    hub.wait_for_tenants(&["healthy", "down"]).await;

    let started = Instant::now();
    let mut attempts: Vec<String> = Vec::new();
    let mut last = serde_json::Value::Null;
    while attempts.len() < 5 && started.elapsed() < Duration::from_secs(40) {
        if let Some(status) = hub.status().await {
            let entry = tenant(&status, "down").unwrap().clone();
            if let Some(start) = entry["last_sync"]["started_at"].as_str()
                && attempts.last().map(String::as_str) != Some(start)
            {
                assert_eq!(entry["last_sync"]["outcome"], "error", "{entry:#}");
                attempts.push(start.to_owned());
            }
            if !attempts.is_empty() && entry["next_sync_at"].is_string() {
                assert_eq!(
                    entry["next_sync_reason"], "retry after failure",
                    "{entry:#}"
                );
            }
            let healthy = tenant(&status, "healthy").unwrap();
            if healthy["last_sync"]["outcome"] == "ok" {
                assert_eq!(healthy["next_sync_reason"], "schedule", "{healthy:#}");
                assert_eq!(healthy["state"], "idle", "{healthy:#}");
            }
            last = status;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert!(
        attempts.len() >= 5,
        "only {} attempts in 40 s: {last:#}",
        attempts.len()
    );
    let gaps: Vec<f64> = attempts
        .windows(2)
        .map(|pair| seconds_between(&pair[0], &pair[1]))
        .collect();
    // Delays are drawn from [½, 1] × 1 s, 2 s, 4 s, 8 s: each at least the
    // one before, and the first retry well within a minute of a 1 h interval.
    assert!(gaps[0] < 60.0, "{gaps:?}");
    for pair in gaps.windows(2) {
        assert!(pair[1] >= pair[0] - 0.1, "the gaps shrank: {gaps:?}");
    }
    assert!(gaps[3] > 2.0 * gaps[0], "the gaps do not grow: {gaps:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_with_one_tenant_mid_retry_and_one_idle_exits_at_once() {
    let healthy = sim(SimVersion::V9_2, dataset(33, 20, 4, 3));
    let down = always_503(34);
    let hourly = "sync_interval = \"1h\"\nrequests_per_second = 200\nburst = 50";
    let patient = format!("{hourly}\nretry_attempts = 50\nretry_max_elapsed = \"5m\"");
    let config = format!(
        "{}{}{}",
        hub_with_long_grace(),
        instance("healthy", &healthy, "HUB_IT_TOKEN", hourly),
        instance("down", &down, "HUB_IT_TOKEN", &patient),
    );
    let dir = TempDir::new("sigterm-waiting");
    let mut hub = HubProcess::start(dir.path(), &config, &[ADMIN_TOKEN]);
    hub.wait_for(
        Duration::from_secs(20),
        "healthy idle after a sync, down retrying",
        |status| {
            tenant(status, "healthy")
                .is_some_and(|t| t["last_sync"]["outcome"] == "ok" && t["activity"] == "idle")
                && tenant(status, "down").is_some_and(|t| t["activity"] == "syncing")
        },
    )
    .await;
    // Its retries are spaced by growing backoff: wait until it has asked
    // again a few times, however slowly a busy machine runs them.
    let retrying = tokio::time::timeout(Duration::from_secs(20), async {
        while down.request_count() <= 3 {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    })
    .await;
    assert!(
        retrying.is_ok(),
        "the 503 tenant is not retrying; the test proves nothing"
    );

    let signalled = Instant::now();
    hub.signal("TERM");
    let Some(exit) = hub.wait_exit(Duration::from_secs(10)) else {
        panic!("the hub did not exit after SIGTERM\n{}", hub.log_tail());
    };
    let took = signalled.elapsed();
    assert!(exit.success(), "exit status {exit}\n{}", hub.log_tail());
    assert!(
        took < Duration::from_secs(5),
        "took {took:?} with a 30 s grace period and nothing making progress"
    );
    assert_eq!(
        temp_files(&dir.path().join("data")),
        Vec::<std::path::PathBuf>::new()
    );
    assert!(
        hub.log_text().contains("is only waiting"),
        "{}",
        hub.log_tail()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn turning_on_watch_config_by_reload_makes_later_file_changes_apply_by_themselves() {
    let fast = sim(SimVersion::V10_2, dataset(35, 10, 2, 2));
    let hourly = "sync_interval = \"1h\"";
    let first = instance("first", &fast, "HUB_IT_TOKEN", hourly);
    let dir = TempDir::new("watch-by-reload");
    let mut hub = HubProcess::start(dir.path(), &format!("{HUB}{first}"), &[ADMIN_TOKEN]);
    hub.wait_for(Duration::from_secs(20), "the first sync", |status| {
        tenant(status, "first").is_some_and(|t| t["last_sync"]["outcome"] == "ok")
    })
    .await;

    let watching = format!("{HUB}watch_config = \"200ms\"\n");
    hub.rewrite_config(&format!("{watching}{first}"));
    hub.signal("HUP");
    hub.wait_for(Duration::from_secs(10), "the reload", |status| {
        status["config_generation"] == 2
    })
    .await;
    // No signal this time: the watcher the reload turned on must see it.
    let second = instance("second", &fast, "HUB_IT_TOKEN", hourly);
    hub.rewrite_config(&format!("{watching}{first}{second}"));
    let status = hub
        .wait_for(Duration::from_secs(10), "the watched change", |status| {
            tenant(status, "second").is_some()
        })
        .await;
    assert_eq!(status["config_generation"], 3, "{status:#}");
    hub.signal("TERM");
    let exit = hub.wait_exit(Duration::from_secs(10));
    assert!(
        exit.is_some_and(|exit| exit.success()),
        "{}",
        hub.log_tail()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reloaded_shutdown_grace_lets_a_progressing_sync_finish_on_sigterm() {
    let slow = slow_sim(dataset(36, 60, 8, 6), Duration::from_millis(100));
    let one_at_a_time = "sync_interval = \"1h\"\nmax_in_flight = 1\nmax_in_flight_ceiling = 1";
    let busy = instance("busy", &slow, "HUB_IT_TOKEN", one_at_a_time);
    let dir = TempDir::new("grace-by-reload");
    let mut hub = HubProcess::start(dir.path(), &format!("{HUB}{busy}"), &[ADMIN_TOKEN]);
    hub.wait_for(Duration::from_secs(20), "the sync to start", |status| {
        tenant(status, "busy").is_some_and(|t| t["activity"] == "syncing")
    })
    .await;
    // The 2 s grace of the start-up config would cancel this sync.
    hub.rewrite_config(&format!("{}{busy}", hub_with_long_grace()));
    hub.signal("HUP");
    hub.wait_for(Duration::from_secs(10), "the reload", |status| {
        status["config_generation"] == 2
            && tenant(status, "busy").is_some_and(|t| t["activity"] == "syncing")
    })
    .await;

    hub.signal("TERM");
    let Some(exit) = hub.wait_exit(Duration::from_secs(40)) else {
        panic!("the hub did not exit after SIGTERM\n{}", hub.log_tail());
    };
    assert!(exit.success(), "exit status {exit}\n{}", hub.log_tail());
    let log = hub.log_text();
    assert!(!log.contains("cancelling it"), "{}", hub.log_tail());
    assert!(
        dir.path().join("data/busy/latest.c1z").exists(),
        "the sync did not finish: {}",
        hub.log_tail()
    );
    assert_eq!(
        temp_files(&dir.path().join("data")),
        Vec::<std::path::PathBuf>::new()
    );
}

// Panics are injected through the test build's CONFLUENCE_HUB_INJECT_PANICS
// (the image's build has no such hook); the failure retry base and the
// stable period are shortened through the hub's internal knobs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tenant_whose_fetchers_keep_panicking_is_degraded_then_healthy_after_a_stable_period() {
    let steady = sim(SimVersion::V9_2, dataset(35, 20, 4, 3));
    let shaky = sim(SimVersion::V9_2, dataset(36, 20, 4, 3));
    let hourly = "sync_interval = \"1h\"";
    let config = format!(
        "{HUB}{}{}",
        instance("steady", &steady, "HUB_IT_TOKEN", hourly),
        instance("shaky", &shaky, "HUB_IT_TOKEN", hourly),
    );
    let dir = TempDir::new("degraded");
    let mut hub = HubProcess::start(
        dir.path(),
        &config,
        &[
            ADMIN_TOKEN,
            ("CONFLUENCE_HUB_INJECT_PANICS", "shaky=7"),
            ("HUB_FAILURE_RETRY_BASE_MS", "300"),
            ("HUB_STABLE_PERIOD_MS", "3000"),
        ],
    );

    let degraded = hub
        .wait_for(Duration::from_secs(40), "shaky to be degraded", |status| {
            tenant(status, "shaky").is_some_and(|t| t["state"] == "degraded")
        })
        .await;
    let shaky_status = tenant(&degraded, "shaky").unwrap();
    assert!(
        shaky_status["restarts"].as_u64().unwrap() >= 5,
        "{shaky_status:#}"
    );
    assert!(
        shaky_status["last_error"]
            .as_str()
            .is_some_and(|error| error.contains("restarted")),
        "{shaky_status:#}"
    );
    assert_eq!(tenant(&degraded, "steady").unwrap()["health"], "healthy");

    let recovered = hub
        .wait_for(
            Duration::from_secs(60),
            "shaky to sync cleanly and recover after the stable period",
            |status| {
                tenant(status, "shaky")
                    .is_some_and(|t| t["health"] == "healthy" && t["last_sync"]["outcome"] == "ok")
            },
        )
        .await;
    let shaky_status = tenant(&recovered, "shaky").unwrap();
    assert_eq!(shaky_status["state"], "idle", "{shaky_status:#}");
    assert!(dir.path().join("data/shaky/latest.c1z").exists());
    assert!(
        hub.log_text().contains("fetcher of tenant shaky panics"),
        "no injected panic in the log\n{}",
        hub.log_tail()
    );
}
