//! What the Instance does with a finished sync: the log line, the metrics
//! and the tenant's entry on the status board.

use std::time::SystemTime;

use super::Instance;
use super::messages::{SyncReport, Trigger};
use crate::actors::status::{LastSync, ObjectCounts, SyncOutcome, duration_ms};
use crate::sync::SyncError;
use crate::telemetry::metrics;
use confluence::ClientStats;

impl Instance {
    pub(super) fn record(
        &self,
        trigger: &Trigger,
        started_at: SystemTime,
        result: &Result<SyncReport, SyncError>,
    ) {
        let tenant = self.tenant();
        let ended_at = SystemTime::now();
        let took = ended_at.duration_since(started_at).unwrap_or_default();
        let (outcome, error) = match result {
            Ok(_) => (SyncOutcome::Ok, None),
            Err(SyncError::Cancelled) => (SyncOutcome::Cancelled, None),
            Err(err) => (SyncOutcome::Error, Some(err.to_string())),
        };
        let (counts, client, file_size) = match result {
            Ok(report) => (report.counts.clone(), report.client, report.file_size),
            Err(_) => (ObjectCounts::default(), ClientStats::default(), 0),
        };
        metrics::sync_finished(tenant, trigger.label(), outcome.as_str(), took);
        match result {
            Ok(report) => {
                for (kind, count) in [
                    ("user", report.counts.user),
                    ("group", report.counts.group),
                    ("space", report.counts.space),
                    ("entitlement", report.counts.entitlement),
                    ("grant", report.counts.grant),
                ] {
                    metrics::objects_synced(tenant, kind, count);
                }
                for (reason, count) in &report.skipped.0 {
                    metrics::rows_skipped(tenant, reason.label(), *count);
                }
                tracing::info!(
                    tenant,
                    sync_id = %report.sync_id,
                    trigger = trigger.label(),
                    users = report.counts.user,
                    groups = report.counts.group,
                    spaces = report.counts.space,
                    entitlements = report.counts.entitlement,
                    grants = report.counts.grant,
                    skipped = report.skipped.total(),
                    requests = report.client.requests,
                    rate_limited = report.client.rate_limited,
                    retries = report.client.retries,
                    bytes = report.file_size,
                    duration_ms = duration_ms(report.duration),
                    path = %report.path.display(),
                    "sync finished",
                );
            }
            Err(SyncError::Cancelled) => {
                tracing::warn!(tenant, trigger = trigger.label(), "sync cancelled")
            }
            Err(err) => {
                tracing::error!(tenant, trigger = trigger.label(), error = %err, "sync failed")
            }
        }
        self.spec.board.record_sync(
            tenant,
            LastSync {
                started_at,
                ended_at,
                outcome,
                duration_ms: duration_ms(took),
                counts,
                requests: client.requests,
                rate_limited: client.rate_limited,
                retries: client.retries,
                rate_limit_wait_ms: duration_ms(client.rate_limit_wait),
                file_size,
                trigger: trigger.label().to_owned(),
                error,
            },
        );
    }
}
