use super::*;

fn sync(outcome: SyncOutcome, error: Option<&str>) -> LastSync {
    let now = SystemTime::now();
    LastSync {
        started_at: now,
        ended_at: now,
        outcome,
        duration_ms: 5,
        counts: ObjectCounts::default(),
        requests: 3,
        rate_limited: 0,
        retries: 0,
        rate_limit_wait_ms: 0,
        file_size: 0,
        trigger: Trigger::Schedule,
        error: error.map(str::to_owned),
    }
}

#[test]
fn status_json_has_the_documented_shape() {
    let board = StatusBoard::new(0, 1);
    board.insert(TenantStatus::new("acme", 1, "scheduler"));
    board.update("acme", |status| {
        status.health = Health::Healthy;
        status.activity = Activity::Idle;
        status.state = TenantState::of(status.health, status.activity);
        status.last_sync = Some(sync(SyncOutcome::Ok, None));
    });
    board.record_reload(3, Vec::new());
    let json = board.to_json();
    assert_eq!(json["config_generation"], 3);
    assert_eq!(json["last_reload"]["ok"], true);
    let tenant = &json["tenants"][0];
    assert_eq!(tenant["id"], "acme");
    assert_eq!(tenant["state"], "idle");
    assert_eq!(tenant["health"], "healthy");
    assert_eq!(tenant["activity"], "idle");
    assert_eq!(tenant["last_sync"]["outcome"], "ok");
    assert_eq!(tenant["last_sync"]["trigger"], "schedule");
    assert_eq!(tenant["last_sync"]["counts"]["grant"], 0);
    assert!(tenant["next_sync_at"].is_null());
    assert!(tenant["next_sync_reason"].is_null());
    assert!(
        tenant["last_sync"]["started_at"]
            .as_str()
            .unwrap()
            .ends_with('Z')
    );
}

#[test]
fn state_reads_the_health_when_it_needs_attention_else_the_activity() {
    use Activity::*;
    for activity in [Idle, Syncing, Provisioning] {
        for (health, state) in [
            (Health::Starting, TenantState::Starting),
            (Health::Failing, TenantState::Failing),
            (Health::Degraded, TenantState::Degraded),
            (Health::Stopped, TenantState::Stopped),
        ] {
            assert_eq!(TenantState::of(health, activity), state);
        }
    }
    assert_eq!(TenantState::of(Health::Healthy, Idle), TenantState::Idle);
    assert_eq!(
        TenantState::of(Health::Healthy, Syncing),
        TenantState::Syncing
    );
    assert_eq!(
        TenantState::of(Health::Healthy, Provisioning),
        TenantState::Provisioning
    );
    assert_eq!(
        serde_json::to_value(NextSyncReason::RetryAfterFailure).unwrap(),
        "retry after failure"
    );
}

#[test]
fn status_shows_the_tenants_live_pacing() {
    use confluence::settings::{Auth, ClientSettings};
    use platform::secret::Secret;

    let url = reqwest::Url::parse("http://127.0.0.1:9").unwrap();
    let settings = ClientSettings::new("acme", url, Auth::Token(Secret::new("t".into())));
    let client = ConfluenceClient::new(&settings).unwrap();
    let board = StatusBoard::new(0, 1);
    board.insert(TenantStatus::new("acme", 1, "scheduler"));
    assert!(board.to_json()["tenants"][0]["pacing"].is_null());
    board.update("acme", |status| status.pacing_source = Some(client));
    let pacing = &board.to_json()["tenants"][0]["pacing"];
    assert_eq!(pacing["mode"], "adaptive", "{pacing}");
    assert_eq!(pacing["concurrency_limit"], 4, "{pacing}");
}

#[test]
fn readiness_waits_for_every_tenant_to_start() {
    let board = StatusBoard::new(0, 1);
    board.insert(TenantStatus::new("gamma", 1, "scheduler"));
    board.set_ready(true);
    assert!(!board.is_ready());
    board.update("gamma", |status| status.state = TenantState::Idle);
    assert!(board.is_ready());
}

#[test]
fn failing_since_is_the_start_of_the_oldest_failure_after_the_last_success() {
    use crate::history::HistoryEntry;
    let at = |seconds: u64, outcome: SyncOutcome| {
        let mut entry = sync(outcome, None);
        entry.started_at = SystemTime::UNIX_EPOCH + Duration::from_secs(seconds);
        HistoryEntry::Sync(entry)
    };
    let mut status = TenantStatus::new("acme", 1, "scheduler");
    status.remember(at(10, SyncOutcome::Error));
    status.remember(at(20, SyncOutcome::Ok));
    status.remember(at(30, SyncOutcome::Error));
    status.remember(at(40, SyncOutcome::Cancelled));
    status.remember(at(50, SyncOutcome::Error));
    assert_eq!(
        status.failing_since(),
        None,
        "no failure counted: not failing"
    );
    status.consecutive_failures = 3;
    assert_eq!(
        status.failing_since(),
        Some(SystemTime::UNIX_EPOCH + Duration::from_secs(30))
    );
}
