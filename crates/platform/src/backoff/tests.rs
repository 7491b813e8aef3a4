use super::*;

const SECOND: Duration = Duration::from_secs(1);

#[test]
fn ceilings_double_from_the_initial_delay_up_to_the_cap() {
    let policy = BackoffPolicy::new(SECOND, 10 * SECOND);
    let ceilings: Vec<u64> = (1..=6).map(|n| policy.ceiling(n).as_secs()).collect();
    assert_eq!(ceilings, [1, 2, 4, 8, 10, 10]);
    assert_eq!(policy.ceiling(u32::MAX), 10 * SECOND);
    assert_eq!(policy.ceiling(0), SECOND);
}

#[test]
fn full_jitter_stays_in_zero_to_the_ceiling_and_spreads() {
    let policy = BackoffPolicy::new(SECOND, 60 * SECOND);
    let delays: Vec<Duration> = (0..200).map(|_| policy.delay(3)).collect();
    assert!(delays.iter().all(|delay| *delay <= 4 * SECOND));
    assert!(delays.iter().any(|delay| *delay < SECOND));
    assert!(delays.iter().any(|delay| *delay > 3 * SECOND));
}

#[test]
fn equal_jitter_stays_in_the_upper_half_and_none_is_exact() {
    let equal = BackoffPolicy::new(SECOND, 60 * SECOND).with_jitter(Jitter::Equal);
    for _ in 0..200 {
        let delay = equal.delay(2);
        assert!((SECOND..=2 * SECOND).contains(&delay), "{delay:?}");
    }
    let exact = equal.with_jitter(Jitter::None);
    assert_eq!(exact.delay(4), 8 * SECOND);
}

#[test]
fn a_run_gives_up_when_its_budget_is_spent_and_reset_starts_over() {
    let policy = BackoffPolicy::new(SECOND, 60 * SECOND)
        .with_jitter(Jitter::None)
        .with_max_elapsed(10 * SECOND);
    let mut backoff = policy.start();
    let start = Instant::now();
    assert_eq!(backoff.next_delay_at(start), Some(SECOND));
    assert_eq!(backoff.next_delay_at(start + SECOND), Some(2 * SECOND));
    assert_eq!(backoff.next_delay_at(start + 3 * SECOND), Some(4 * SECOND));
    // 7 s spent and 8 s more would pass the 10 s budget.
    assert_eq!(backoff.next_delay_at(start + 7 * SECOND), None);
    assert_eq!(backoff.failures(), 4);
    backoff.reset();
    assert_eq!(backoff.failures(), 0);
    assert_eq!(backoff.next_delay_at(start + 20 * SECOND), Some(SECOND));
}

#[test]
fn without_a_budget_a_run_never_gives_up() {
    let mut backoff = BackoffPolicy::new(SECOND, 2 * SECOND)
        .with_jitter(Jitter::None)
        .start();
    let start = Instant::now();
    for hour in 0..48 {
        let now = start + Duration::from_secs(3600 * hour);
        assert!(backoff.next_delay_at(now).unwrap() <= 2 * SECOND);
    }
}
