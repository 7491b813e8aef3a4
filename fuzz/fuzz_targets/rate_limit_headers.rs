//! The rate-limit headers of an answer (Confluence's limiter headers and
//! `Retry-After`), as the tenant's limiter reads them. Input: lines of
//! `name: value`; the first byte picks the status. Whatever the headers say,
//! the tenant is never held back longer than its retry budget, and a
//! `Retry-After` is never read as more than the client's cap.
#![no_main]

use std::time::Duration;

use libfuzzer_sys::fuzz_target;

const STATUSES: [u16; 4] = [200, 429, 503, 500];
const BUDGET: Duration = Duration::from_secs(300);
/// The longest wait the client ever takes from a server's word.
const MAX_SERVER_WAIT: Duration = Duration::from_secs(3600);

fuzz_target!(|data: &[u8]| {
    let Some((&selector, rest)) = data.split_first() else {
        return;
    };
    let headers: Vec<(&[u8], &[u8])> = rest
        .split(|&byte| byte == b'\n')
        .filter_map(|line| {
            let colon = line.iter().position(|&byte| byte == b':')?;
            Some((&line[..colon], line[colon + 1..].trim_ascii()))
        })
        .collect();
    let status = STATUSES[usize::from(selector & 3)];
    let observed = confluence::fuzzing::observe_headers(status, &headers, BUDGET);
    assert!(
        observed.paused <= BUDGET,
        "the tenant is held back {:?}, beyond the retry budget {BUDGET:?}",
        observed.paused
    );
    if let Some(asked) = observed.asked {
        assert!(asked <= MAX_SERVER_WAIT, "a Retry-After read as {asked:?}");
    }
    if let Ok(text) = std::str::from_utf8(rest) {
        let _ = confluence::fuzzing::retry_after(text);
    }
});
