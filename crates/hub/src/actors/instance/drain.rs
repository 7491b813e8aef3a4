//! Stopping a tenant's in-flight sync: one that is making progress gets the
//! grace period; one that is only waiting (retry backoff, a rate-limit pause,
//! a free sync slot) is cancelled at once, so shutdown is not held up by a
//! Confluence that answers nothing but errors.

use std::time::{Duration, Instant};

use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use confluence::ConfluenceClient;

/// How often a stopping Instance looks at its sync.
const PROBE_EVERY: Duration = Duration::from_millis(100);
/// A sync that got no answer for this long is only waiting: a page of a
/// healthy Confluence takes well under a second.
const STALLED_AFTER: Duration = Duration::from_secs(1);

/// The sync being stopped.
pub struct InFlight {
    pub cancel: CancellationToken,
    /// `true` while the sync runs.
    pub busy: watch::Receiver<bool>,
    /// The tenant's client, whose counters show answered requests.
    pub client: ConfluenceClient,
}

/// Requests that got an answer the sync can use: sent minus retried. An
/// attempt in flight counts until it is retried, so the figure dips back;
/// only a new high is progress.
fn answered(client: &ConfluenceClient) -> u64 {
    let stats = client.stats();
    stats.requests.saturating_sub(stats.retries)
}

/// Returns once the sync has ended, cancelling it when it is only waiting or
/// when `grace` has passed.
pub async fn drain(tenant: &str, grace: Duration, mut sync: InFlight) {
    let deadline = Instant::now() + grace;
    let mut last_answered = answered(&sync.client);
    let mut last_progress = Instant::now();
    let why = loop {
        let now = Instant::now();
        if now >= deadline {
            break "did not finish within the grace period";
        }
        let probe = PROBE_EVERY.min(deadline - now);
        if tokio::time::timeout(probe, sync.busy.wait_for(|busy| !busy))
            .await
            .is_ok()
        {
            return;
        }
        let answered = answered(&sync.client);
        if answered > last_answered {
            last_answered = answered;
            last_progress = Instant::now();
        } else if last_progress.elapsed() >= STALLED_AFTER {
            break "is only waiting (retry backoff, a rate-limit pause or a free sync slot)";
        }
    };
    tracing::warn!(tenant, ?grace, "in-flight sync {why}; cancelling it");
    sync.cancel.cancel();
    // Cancellation aborts the writer and removes its temp files; wait for
    // that so nothing partial is left behind.
    let _ = sync.busy.wait_for(|busy| !busy).await;
}
