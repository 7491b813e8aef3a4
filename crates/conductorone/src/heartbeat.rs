//! Heartbeats for a running task: one synchronous beat before any work (its
//! failure aborts the task), then a background loop every `next_heartbeat`
//! that cancels the task when ConductorOne says so or after ten failed beats
//! in a row.

use std::time::Duration;

use prost_types::Duration as ProtoDuration;
use tokio::task::JoinHandle;
use tracing::Instrument;

use super::client::{BatonClient, RpcError};
use super::task::{CancelReason, Canceller};
use platform::metrics;

const DEFAULT_INTERVAL: Duration = Duration::from_secs(30);
const MIN_INTERVAL: Duration = Duration::from_secs(1);
const MAX_INTERVAL: Duration = Duration::from_secs(300);
const MAX_CONSECUTIVE_FAILURES: u32 = 10;

/// ConductorOne's requested interval: absent or zero means the 30 s default;
/// anything else is kept within [1 s, 5 min].
pub(crate) fn heartbeat_interval(requested: Option<&ProtoDuration>) -> Duration {
    let requested = requested.map(proto_duration).unwrap_or_default();
    if requested.is_zero() {
        DEFAULT_INTERVAL
    } else {
        requested.clamp(MIN_INTERVAL, MAX_INTERVAL)
    }
}

pub(crate) fn proto_duration(duration: &ProtoDuration) -> Duration {
    let seconds = u64::try_from(duration.seconds).unwrap_or_default();
    let nanos = u32::try_from(duration.nanos).unwrap_or_default();
    Duration::new(seconds, 0).saturating_add(Duration::from_nanos(u64::from(nanos)))
}

#[derive(Debug, thiserror::Error)]
pub(crate) enum HeartbeatStartError {
    #[error("the first heartbeat failed: {0}")]
    Failed(RpcError),
    #[error("ConductorOne cancelled the task at its first heartbeat")]
    Cancelled,
}

/// The background heartbeat loop of one task; stops when dropped.
pub(crate) struct Heartbeats {
    handle: JoinHandle<()>,
}

impl Heartbeats {
    /// Beats once, then keeps beating in the background until dropped,
    /// cancelling through `canceller` when the task must stop.
    pub(crate) async fn start(
        client: BatonClient,
        tenant: &str,
        task_id: &str,
        interval: Duration,
        canceller: Canceller,
    ) -> Result<Self, HeartbeatStartError> {
        let reply = client.heartbeat(task_id).await.map_err(|err| {
            metrics::heartbeat_failure(tenant);
            HeartbeatStartError::Failed(err)
        })?;
        if reply.cancelled {
            return Err(HeartbeatStartError::Cancelled);
        }
        let interval = match reply.next_heartbeat.as_ref() {
            Some(next) => heartbeat_interval(Some(next)),
            None => interval,
        };
        let beat_loop = beat(
            client,
            tenant.to_owned(),
            task_id.to_owned(),
            interval,
            canceller,
        );
        Ok(Self {
            handle: tokio::spawn(beat_loop.in_current_span()),
        })
    }
}

impl Drop for Heartbeats {
    fn drop(&mut self) {
        self.handle.abort();
    }
}

async fn beat(
    client: BatonClient,
    tenant: String,
    task_id: String,
    mut interval: Duration,
    canceller: Canceller,
) {
    let mut failures = 0;
    loop {
        tokio::time::sleep(interval).await;
        match client.heartbeat(&task_id).await {
            Ok(reply) if reply.cancelled => {
                tracing::info!("ConductorOne cancelled the task");
                canceller.cancel(CancelReason::ByConductorOne);
                return;
            }
            Ok(reply) => {
                failures = 0;
                if let Some(next) = reply.next_heartbeat.as_ref() {
                    interval = heartbeat_interval(Some(next));
                }
            }
            Err(err) => {
                failures += 1;
                metrics::heartbeat_failure(&tenant);
                tracing::warn!(error = %err, failures, "heartbeat failed");
                if failures >= MAX_CONSECUTIVE_FAILURES {
                    canceller.cancel(CancelReason::HeartbeatLost);
                    return;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn proto(seconds: i64, nanos: i32) -> ProtoDuration {
        ProtoDuration { seconds, nanos }
    }

    #[test]
    fn zero_or_absent_interval_means_thirty_seconds() {
        assert_eq!(heartbeat_interval(None), DEFAULT_INTERVAL);
        assert_eq!(heartbeat_interval(Some(&proto(0, 0))), DEFAULT_INTERVAL);
    }

    #[test]
    fn interval_is_clamped_between_one_second_and_five_minutes() {
        assert_eq!(heartbeat_interval(Some(&proto(0, 1_000))), MIN_INTERVAL);
        assert_eq!(heartbeat_interval(Some(&proto(3_600, 0))), MAX_INTERVAL);
        assert_eq!(
            heartbeat_interval(Some(&proto(7, 500_000_000))),
            Duration::from_millis(7_500)
        );
    }

    #[test]
    fn negative_durations_count_as_zero() {
        assert_eq!(proto_duration(&proto(-5, -3)), Duration::ZERO);
    }
}
