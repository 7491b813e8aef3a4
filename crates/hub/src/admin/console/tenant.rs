//! The tenant page and `/api/tenants/{id}`: one struct, rendered as HTML
//! for people and as JSON for scripts, so both read the same thing.

use std::time::SystemTime;

use serde::Serialize;

use super::format::{self, moment, state_badge};
use super::html::Html;
use super::layout::{Section, csrf_field, notice, page};
use crate::actors::status::{
    Activity, Board, C1Status, Health, NextSyncReason, TenantState, rfc3339_option,
};
use crate::actors::supervisor::CONDUCTORONE_SCHEDULES;
use crate::admin::access::Viewer;
use crate::config::Setting;
use crate::history::HistoryEntry;
use confluence::Pacing;

/// Why "sync now" is or is not offered for a tenant.
#[derive(Clone, Debug, Serialize)]
pub struct SyncNow {
    pub offered: bool,
    pub why_not: Option<&'static str>,
}

#[derive(Clone, Debug, Serialize)]
pub struct TenantPage {
    pub id: String,
    pub state: TenantState,
    pub health: Health,
    pub activity: Activity,
    pub mode: &'static str,
    pub confluence_version: Option<String>,
    /// This hub's replica ordinal, which serves the tenant, and the replica count.
    pub replica: u32,
    pub replicas: u32,
    pub generation: u64,
    pub consecutive_failures: u32,
    /// When the current run of failed syncs began (as far as the history reaches).
    #[serde(with = "rfc3339_option")]
    pub failing_since: Option<SystemTime>,
    pub restarts: u32,
    pub last_error: Option<String>,
    #[serde(with = "rfc3339_option")]
    pub next_sync_at: Option<SystemTime>,
    pub next_sync_reason: Option<NextSyncReason>,
    pub pacing: Option<Pacing>,
    pub conductorone: Option<C1Status>,
    pub sync_now: SyncNow,
    /// The last syncs and provisioning tasks, newest first.
    pub history: Vec<HistoryEntry>,
    pub settings: Vec<Setting>,
}

impl TenantPage {
    pub fn of(board: &Board, id: &str) -> Option<Self> {
        let tenant = board.tenants.get(id)?;
        let conductorone_mode = tenant.mode == "conductorone";
        Some(Self {
            id: tenant.id.clone(),
            state: tenant.state,
            health: tenant.health,
            activity: tenant.activity,
            mode: tenant.mode,
            confluence_version: tenant.confluence_version.clone(),
            replica: board.replica,
            replicas: board.replicas,
            generation: tenant.generation,
            consecutive_failures: tenant.consecutive_failures,
            failing_since: tenant.failing_since(),
            restarts: tenant.restarts,
            last_error: tenant.last_error.clone(),
            next_sync_at: tenant.next_sync_at,
            next_sync_reason: tenant.next_sync_reason,
            pacing: tenant.pacing_source.as_ref().map(|client| client.pacing()),
            conductorone: tenant.conductorone.clone(),
            sync_now: SyncNow {
                offered: !conductorone_mode,
                why_not: conductorone_mode.then_some(CONDUCTORONE_SCHEDULES),
            },
            history: tenant.history.iter().rev().cloned().collect(),
            settings: tenant.settings.to_vec(),
        })
    }
}

pub fn render(
    page_data: &TenantPage,
    viewer: &Viewer,
    done: Option<&str>,
    now: SystemTime,
) -> String {
    let tenant = page_data;
    page(&tenant.id, Section::Tenant, Some(viewer), |html| {
        html.raw("<p class=\"crumbs\"><a href=\"/\">Fleet</a> › tenant</p><h1>")
            .text(&tenant.id)
            .raw(" ");
        state_badge(html, tenant.state, tenant.health, tenant.activity);
        html.raw("</h1>");
        notice(html, done);
        actions(html, tenant, viewer);
        now_section(html, tenant, now);
        if let Some(c1) = &tenant.conductorone {
            conductorone(html, c1, now);
        }
        history(html, &tenant.history, now);
        settings(html, &tenant.settings);
    })
}

fn actions(html: &mut Html, tenant: &TenantPage, viewer: &Viewer) {
    html.raw("<section class=\"actions\" aria-labelledby=\"actions-title\"><h2 id=\"actions-title\">Actions</h2>");
    match (tenant.sync_now.why_not, viewer.may_act()) {
        (Some(why), _) => {
            html.raw("<p id=\"sync-now-explained\">")
                .text(why)
                .raw("</p>");
        }
        (None, false) => {
            html.raw("<p>\"Sync now\" needs hub.admin_token; see the note above.</p>");
        }
        (None, true) => {
            html.raw("<form method=\"post\" id=\"sync-now\" action=\"/tenants/")
                .text(&tenant.id)
                .raw("/sync\">");
            csrf_field(html, viewer);
            html.raw("<button type=\"submit\">Sync now</button> <span class=\"sub\">Runs a full sync into this tenant's latest.c1z; the schedule stays as it is.</span></form>");
        }
    }
    html.raw("</section>");
}

fn now_section(html: &mut Html, tenant: &TenantPage, now: SystemTime) {
    html.raw(
        "<section aria-labelledby=\"now-title\"><h2 id=\"now-title\">Now</h2><dl class=\"facts\">",
    )
    .raw("<dt>Health</dt><dd>")
    .raw(tenant.health.as_str())
    .raw("</dd><dt>Activity</dt><dd>")
    .raw(tenant.activity.as_str())
    .raw("</dd><dt>Mode</dt><dd>")
    .text(tenant.mode)
    .raw("</dd><dt>Confluence</dt><dd>")
    .text(
        tenant
            .confluence_version
            .as_deref()
            .unwrap_or("not yet known"),
    )
    .raw("</dd><dt>Replica</dt><dd>")
    .number(tenant.replica)
    .raw(" of ")
    .number(tenant.replicas)
    .raw(" (ordinals from 0)</dd><dt>Generation</dt><dd>")
    .number(tenant.generation)
    .raw("</dd><dt>Failures in a row</dt><dd>")
    .number(tenant.consecutive_failures);
    if let Some(since) = tenant.failing_since {
        html.raw(", failing since ");
        moment(html, since, now);
    }
    html.raw("</dd><dt>Restarts</dt><dd>")
        .number(tenant.restarts)
        .raw("</dd><dt>Next sync</dt><dd>");
    match tenant.next_sync_at {
        Some(at) => {
            moment(html, at, now);
            if tenant.next_sync_reason == Some(NextSyncReason::RetryAfterFailure) {
                html.raw(" (retry after failure)");
            }
        }
        None if tenant.sync_now.why_not.is_some() => {
            html.raw("when ConductorOne asks");
        }
        None => {
            html.raw("none scheduled");
        }
    }
    html.raw("</dd><dt>Pacing</dt><dd>");
    match &tenant.pacing {
        Some(pacing) => html.text(&format::pacing(pacing)),
        None => html.raw("no client"),
    };
    html.raw("</dd><dt>Last error</dt><dd class=\"error\" id=\"last-error\">")
        .text(tenant.last_error.as_deref().unwrap_or("none"))
        .raw("</dd></dl></section>");
}

fn conductorone(html: &mut Html, c1: &C1Status, now: SystemTime) {
    html.raw("<section aria-labelledby=\"c1-title\"><h2 id=\"c1-title\">ConductorOne session</h2><dl class=\"facts\">")
        .raw("<dt>Session</dt><dd id=\"c1-session\">")
        .text(c1.session)
        .raw("</dd><dt>Tasks finished</dt><dd>")
        .number(c1.tasks_finished)
        .raw("</dd><dt>Poll failures in a row</dt><dd>")
        .number(c1.consecutive_poll_failures)
        .raw("</dd><dt>Last error</dt><dd class=\"error\">")
        .text(c1.last_error.as_deref().unwrap_or("none"))
        .raw("</dd><dt>Running tasks</dt><dd>");
    if c1.running_tasks.is_empty() {
        html.raw("none");
    }
    for task in &c1.running_tasks {
        html.text(task.task_type)
            .raw(" ")
            .text(&task.id)
            .raw(", started ");
        moment(html, task.started_at, now);
        html.raw("<br>");
    }
    html.raw("</dd></dl></section>");
}

fn history(html: &mut Html, entries: &[HistoryEntry], now: SystemTime) {
    html.raw("<section aria-labelledby=\"history-title\"><h2 id=\"history-title\">History</h2>")
        .raw("<div class=\"scroll\"><table id=\"history\" class=\"history\"><caption>The last ")
        .number(entries.len() as u64)
        .raw(" syncs and provisioning tasks, newest first (kept across restarts).</caption>")
        .raw("<thead><tr><th scope=\"col\">Started</th><th scope=\"col\">Work</th>")
        .raw("<th scope=\"col\">Trigger or type</th><th scope=\"col\">Outcome</th>")
        .raw("<th scope=\"col\">Duration</th><th scope=\"col\">Objects</th>")
        .raw("<th scope=\"col\">Requests</th><th scope=\"col\">Retries</th>")
        .raw("<th scope=\"col\">Rate-limit waits</th><th scope=\"col\">Error</th></tr></thead><tbody>");
    for entry in entries {
        let (work, label, outcome, duration_ms, error) = match entry {
            HistoryEntry::Sync(sync) => (
                "sync",
                sync.trigger.label(),
                sync.outcome,
                sync.duration_ms,
                &sync.error,
            ),
            HistoryEntry::Task(task) => (
                "task",
                task.task_type.as_str(),
                task.outcome,
                task.duration_ms,
                &task.error,
            ),
        };
        html.raw("<tr><td>");
        moment(html, entry.started_at(), now);
        html.raw("</td><td>")
            .raw(work)
            .raw("</td><td class=\"trigger\">")
            .text(label)
            .raw("</td><td>");
        format::outcome_badge(html, outcome);
        html.raw("</td><td>").text(&format::millis(duration_ms));
        match entry {
            HistoryEntry::Sync(sync) => {
                html.raw("</td><td>");
                format::counts(html, &sync.counts);
                html.raw("</td><td class=\"num\">")
                    .number(sync.requests)
                    .raw("</td><td class=\"num\">")
                    .number(sync.retries)
                    .raw("</td><td>")
                    .number(sync.rate_limited)
                    .raw(" × 429, ")
                    .text(&format::millis(sync.rate_limit_wait_ms))
                    .raw(" waiting");
            }
            HistoryEntry::Task(_) => {
                html.raw("</td><td>—</td><td>—</td><td>—</td><td>—");
            }
        }
        html.raw("</td><td class=\"error\">")
            .text(error.as_deref().unwrap_or_default())
            .raw("</td></tr>");
    }
    if entries.is_empty() {
        html.raw("<tr class=\"empty\"><td colspan=\"10\">Nothing has finished yet.</td></tr>");
    }
    html.raw("</tbody></table></div></section>");
}

fn settings(html: &mut Html, settings: &[Setting]) {
    html.raw("<section aria-labelledby=\"settings-title\"><h2 id=\"settings-title\">Effective settings</h2>")
        .raw("<table class=\"settings\"><caption>From the config in force (credentials by kind only).</caption>")
        .raw("<thead><tr><th scope=\"col\">Setting</th><th scope=\"col\">Value</th></tr></thead><tbody>");
    for setting in settings {
        html.raw("<tr><th scope=\"row\"><code>")
            .text(setting.key)
            .raw("</code></th><td>")
            .text(&setting.value)
            .raw("</td></tr>");
    }
    html.raw("</tbody></table></section>");
}
