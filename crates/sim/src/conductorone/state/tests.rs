use super::*;
use crate::conductorone::credentials::gen_credentials;

fn state() -> SimState {
    let tenants = ["acme", "globex"]
        .into_iter()
        .map(|name| {
            let (client_id, _, public_jwk) = gen_credentials(name, "c1.example");
            SimTenant {
                name: name.into(),
                client_id,
                public_jwk,
            }
        })
        .collect();
    let pacing = Pacing {
        next_poll: Duration::from_secs(1),
        next_heartbeat: Duration::from_secs(1),
        token_lifetime: Duration::from_secs(60),
    };
    SimState::new(tenants, pacing).unwrap()
}

#[test]
fn missing_unknown_and_expired_tokens_are_refused() {
    let state = state();
    let (token, _) = state.issue_token("acme");
    assert_eq!(state.authenticate(Some(&token)), Ok("acme".to_owned()));
    assert_eq!(state.authenticate(None), Err("missing bearer token"));
    assert_eq!(
        state.authenticate(Some("forged")),
        Err("unknown access token")
    );

    let faults = TenantFaults {
        token_lifetime_secs: Some(0),
        ..Default::default()
    };
    state.set_faults("acme", faults).unwrap();
    let (expired, lifetime) = state.issue_token("acme");
    assert_eq!(lifetime, Duration::ZERO);
    assert_eq!(
        state.authenticate(Some(&expired)),
        Err("access token expired")
    );
    assert_eq!(
        state.stats("acme").unwrap().calls_rejected_unauthenticated,
        1
    );
}

#[test]
fn faults_count_down_and_touch_only_their_tenant() {
    let state = state();
    let faults = TenantFaults {
        get_task_unavailable: 1,
        ..Default::default()
    };
    state.set_faults("acme", faults).unwrap();
    let task = state.enqueue("acme", None, "unsupported").unwrap();
    assert_eq!(state.next_task("globex"), Ok(None));
    assert_eq!(state.next_task("acme"), Err(()));
    assert_eq!(
        state.next_task("acme").unwrap().map(|task| task.id),
        Some(task)
    );
}

#[test]
fn a_withdrawn_task_is_never_handed_out() {
    let state = state();
    let task = state.enqueue("acme", None, "unsupported").unwrap();
    state.cancel(&task).unwrap();
    assert_eq!(state.next_task("acme"), Ok(None));
    assert_eq!(state.task(&task).unwrap().state, TaskState::Withdrawn);
}
