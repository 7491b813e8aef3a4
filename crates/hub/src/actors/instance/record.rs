//! How the Instance reports: a finished sync's log line and metrics, the
//! tenant's history (on the board and in its file), and the tenant's state,
//! which only the Instance publishes to the status board.

use std::time::{Instant, SystemTime};

use actix::{ActorFutureExt, AsyncContext, Context, WrapFuture};

use super::Instance;
use super::lifecycle::{Resumed, SyncEnd};
use super::messages::{SyncReport, Trigger};
use crate::actors::status::{LastSync, ObjectCounts, SyncOutcome, TenantState, duration_ms};
use crate::history::{self, HistoryEntry, TaskRecord};
use crate::sync::SyncError;
use crate::telemetry::metrics;
use conductorone::task::TaskError;
use confluence::ClientStats;

impl Instance {
    /// Publishes the tenant's state machine to its entry on the board.
    pub(super) fn publish(&self) {
        let lifecycle = &self.lifecycle;
        let (health, activity) = (lifecycle.health(), lifecycle.activity());
        self.spec.board.update(self.tenant(), |status| {
            status.health = health;
            status.activity = activity;
            status.state = TenantState::of(health, activity);
            status.consecutive_failures = lifecycle.consecutive_failures();
            status.last_error = lifecycle.last_error();
            status.restarts = lifecycle.restarts();
            status.restarts_in_a_row = lifecycle.restarts_in_a_row();
        });
    }

    /// Picks up what a predecessor (an Instance that died) left on the
    /// board, then publishes the started tenant.
    pub(super) fn resume_lifecycle(&mut self, client_error: Option<String>) {
        if let Some(previous) = self.spec.board.tenant(self.tenant()) {
            self.lifecycle.resume(Resumed {
                consecutive_failures: previous.consecutive_failures,
                last_error: previous.last_sync.and_then(|sync| sync.error),
                restarts: previous.restarts,
                restarts_in_a_row: previous.restarts_in_a_row,
            });
        }
        if self.spec.restarted {
            self.lifecycle.restarted(1, Instant::now());
        }
        self.lifecycle.started(client_error);
        self.publish();
    }

    pub(super) fn record(
        &mut self,
        trigger: Trigger,
        started_at: SystemTime,
        result: &Result<SyncReport, SyncError>,
    ) {
        let tenant = self.spec.tenant.id.as_str();
        let ended_at = SystemTime::now();
        let took = ended_at.duration_since(started_at).unwrap_or_default();
        let (outcome, end, error) = match result {
            Ok(_) => (SyncOutcome::Ok, SyncEnd::Succeeded, None),
            Err(SyncError::Cancelled) => (SyncOutcome::Cancelled, SyncEnd::Cancelled, None),
            Err(err) => (SyncOutcome::Error, SyncEnd::Failed, Some(err.to_string())),
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
        self.lifecycle.sync_finished(end, error.clone());
        let last_sync = LastSync {
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
            trigger,
            error,
        };
        self.spec
            .board
            .update(tenant, |status| status.last_sync = Some(last_sync.clone()));
        self.remember(HistoryEntry::Sync(last_sync));
        self.publish();
    }

    pub(super) fn record_task(
        &mut self,
        task_type: &'static str,
        started_at: SystemTime,
        error: Option<&TaskError>,
    ) {
        let ended_at = SystemTime::now();
        let took = ended_at.duration_since(started_at).unwrap_or_default();
        self.remember(HistoryEntry::Task(TaskRecord {
            task_type: task_type.to_owned(),
            started_at,
            ended_at,
            outcome: if error.is_some() {
                SyncOutcome::Error
            } else {
                SyncOutcome::Ok
            },
            duration_ms: duration_ms(took),
            error: error.map(ToString::to_string),
        }));
    }

    /// Onto the board now, into the tenant's file on the history thread.
    fn remember(&self, entry: HistoryEntry) {
        if let Some(log) = &self.spec.history {
            let file = history::file_of(&self.spec.tenant_dir);
            log.append(self.tenant(), file, entry.clone());
        }
        self.spec
            .board
            .update(self.tenant(), |status| status.remember(entry));
    }

    /// Reads what an earlier run of the hub recorded, off the arbiter, and
    /// puts it before anything this run has recorded since.
    pub(super) fn load_history(&self, ctx: &mut Context<Self>) {
        let Some(log) = self.spec.history.clone() else {
            return;
        };
        let tenant = self.tenant().to_owned();
        let file = history::file_of(&self.spec.tenant_dir);
        let load = async move { log.load(&tenant, file).await };
        ctx.spawn(load.into_actor(self).map(|earlier, instance, _| {
            if !earlier.is_empty() {
                let tenant = instance.tenant().to_owned();
                instance
                    .spec
                    .board
                    .update(&tenant, |status| status.adopt_history(earlier));
            }
        }));
    }
}
