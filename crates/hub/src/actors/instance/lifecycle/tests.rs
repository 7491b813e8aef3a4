use super::*;

fn started() -> Lifecycle {
    let mut lifecycle = Lifecycle::new(LifecycleSettings {
        stable_period: Duration::from_secs(60),
        ..LifecycleSettings::default()
    });
    lifecycle.started(None);
    lifecycle
}

#[test]
fn a_new_tenant_starts_then_is_healthy_and_idle() {
    let mut lifecycle = Lifecycle::new(LifecycleSettings::default());
    assert_eq!(lifecycle.health(), Health::Starting);
    lifecycle.started(None);
    assert_eq!(
        (lifecycle.health(), lifecycle.activity()),
        (Health::Healthy, Activity::Idle)
    );
}

#[test]
fn a_failing_tenant_stays_failing_while_its_retry_syncs_until_one_succeeds() {
    let mut lifecycle = started();
    lifecycle.sync_started();
    assert_eq!(
        (lifecycle.health(), lifecycle.activity()),
        (Health::Healthy, Activity::Syncing)
    );
    lifecycle.sync_finished(SyncEnd::Failed, Some("503".into()));
    assert_eq!(lifecycle.health(), Health::Failing);
    lifecycle.sync_started();
    assert_eq!(
        (lifecycle.health(), lifecycle.activity()),
        (Health::Failing, Activity::Syncing)
    );
    lifecycle.sync_finished(SyncEnd::Cancelled, None);
    assert_eq!(
        (lifecycle.health(), lifecycle.consecutive_failures()),
        (Health::Failing, 1)
    );
    lifecycle.sync_started();
    lifecycle.sync_finished(SyncEnd::Failed, Some("503 again".into()));
    assert_eq!(lifecycle.consecutive_failures(), 2);
    assert_eq!(lifecycle.last_error().as_deref(), Some("503 again"));
    lifecycle.sync_started();
    lifecycle.sync_finished(SyncEnd::Succeeded, None);
    assert_eq!(
        (lifecycle.health(), lifecycle.consecutive_failures()),
        (Health::Healthy, 0)
    );
    assert_eq!(lifecycle.last_error(), None);
}

#[test]
fn a_missing_client_or_refused_session_keeps_the_tenant_failing() {
    let mut lifecycle = Lifecycle::new(LifecycleSettings::default());
    lifecycle.started(Some("no client".into()));
    assert_eq!(lifecycle.health(), Health::Failing);
    let mut lifecycle = started();
    lifecycle.session_refused("bad client secret".into());
    lifecycle.sync_started();
    lifecycle.sync_finished(SyncEnd::Succeeded, None);
    assert_eq!(lifecycle.health(), Health::Failing);
    assert_eq!(lifecycle.last_error().as_deref(), Some("bad client secret"));
    lifecycle.session_connected();
    assert_eq!(lifecycle.health(), Health::Healthy);
}

#[test]
fn provisioning_is_an_activity_and_a_sync_takes_precedence() {
    let mut lifecycle = started();
    lifecycle.provisioning_started();
    lifecycle.provisioning_started();
    assert_eq!(lifecycle.activity(), Activity::Provisioning);
    lifecycle.sync_started();
    assert_eq!(lifecycle.activity(), Activity::Syncing);
    lifecycle.sync_finished(SyncEnd::Succeeded, None);
    lifecycle.provisioning_finished();
    assert_eq!(lifecycle.activity(), Activity::Provisioning);
    lifecycle.provisioning_finished();
    assert_eq!(lifecycle.activity(), Activity::Idle);
}

#[test]
fn repeated_restarts_degrade_the_tenant_until_a_stable_period_passes() {
    let mut lifecycle = started();
    let now = Instant::now();
    for restart in 0..DEGRADED_AFTER_RESTARTS - 1 {
        lifecycle.restarted(1, now + Duration::from_secs(u64::from(restart)));
    }
    assert_eq!(lifecycle.health(), Health::Healthy);
    let last = now + Duration::from_secs(10);
    lifecycle.restarted(1, last);
    assert_eq!(lifecycle.health(), Health::Degraded);
    assert!(
        lifecycle
            .last_error()
            .unwrap()
            .contains("restarted 5 times")
    );
    // A clean sync does not clear it; time without a restart does.
    lifecycle.sync_started();
    lifecycle.sync_finished(SyncEnd::Succeeded, None);
    assert_eq!(lifecycle.health(), Health::Degraded);
    assert!(!lifecycle.tick(last + Duration::from_secs(59)));
    assert_eq!(lifecycle.health(), Health::Degraded);
    assert!(lifecycle.tick(last + Duration::from_secs(60)));
    assert_eq!(lifecycle.health(), Health::Healthy);
    assert_eq!(lifecycle.restarts(), 5);
    // One more restart after recovering is not enough to degrade again.
    lifecycle.restarted(1, last + Duration::from_secs(61));
    assert_eq!(lifecycle.health(), Health::Healthy);
}

#[test]
fn a_degraded_tenant_that_recovers_still_reports_its_failed_syncs() {
    let mut lifecycle = started();
    let now = Instant::now();
    lifecycle.restarted(DEGRADED_AFTER_RESTARTS, now);
    lifecycle.sync_finished(SyncEnd::Failed, Some("403".into()));
    assert_eq!(lifecycle.health(), Health::Degraded);
    assert!(lifecycle.tick(now + Duration::from_secs(60)));
    assert_eq!(lifecycle.health(), Health::Failing);
}

#[test]
fn a_stopped_tenant_is_stopped_and_idle() {
    let mut lifecycle = started();
    lifecycle.sync_started();
    lifecycle.stopped();
    assert_eq!(
        (lifecycle.health(), lifecycle.activity()),
        (Health::Stopped, Activity::Idle)
    );
}

#[test]
fn a_restarted_instance_keeps_counting_toward_degraded() {
    let mut successor = started();
    successor.resume(Resumed {
        consecutive_failures: 2,
        last_error: Some("503".into()),
        restarts: 9,
        restarts_in_a_row: DEGRADED_AFTER_RESTARTS - 1,
    });
    assert_eq!(successor.health(), Health::Failing);
    successor.restarted(1, Instant::now());
    assert_eq!(successor.health(), Health::Degraded);
    assert_eq!(
        (successor.restarts(), successor.consecutive_failures()),
        (10, 2)
    );
}
