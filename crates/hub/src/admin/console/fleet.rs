//! The fleet view: one row per tenant, failing first, with totals per state
//! and a filter that works as a plain GET form (the script only makes it live).

use std::time::SystemTime;

use serde::Deserialize;

use super::format::{self, moment, state_badge};
use super::html::Html;
use super::layout::{Section, page};
use crate::actors::status::{Board, TenantState, TenantStatus};
use crate::admin::access::Viewer;

/// `/?q=&state=`: text anywhere in the row, and one state or any.
#[derive(Clone, Debug, Default, Deserialize)]
pub struct FleetQuery {
    #[serde(default)]
    pub q: String,
    #[serde(default)]
    pub state: String,
}

impl FleetQuery {
    fn state(&self) -> Option<TenantState> {
        TenantState::ALL
            .into_iter()
            .find(|state| state.as_str() == self.state)
    }
}

/// Attention first: what is broken, then what is not running, then work
/// in progress, then the quiet ones.
fn urgency(state: TenantState) -> u8 {
    match state {
        TenantState::Failing => 0,
        TenantState::Degraded => 1,
        TenantState::Stopped => 2,
        TenantState::Starting => 3,
        TenantState::Syncing => 4,
        TenantState::Provisioning => 5,
        TenantState::Idle => 6,
    }
}

/// What the text filter searches, lower-cased; the script filters on it too.
fn search_text(tenant: &TenantStatus) -> String {
    let mut text = format!(
        "{} {} {} {}",
        tenant.id,
        tenant.mode,
        tenant.state.as_str(),
        tenant.confluence_version.as_deref().unwrap_or_default()
    );
    if let Some(error) = &tenant.last_error {
        text.push(' ');
        text.push_str(error);
    }
    text.to_lowercase()
}

/// The rows `query` selects, in display order.
pub fn select<'a>(board: &'a Board, query: &FleetQuery) -> Vec<&'a TenantStatus> {
    let wanted_state = query.state();
    let needle = query.q.trim().to_lowercase();
    let mut rows: Vec<&TenantStatus> = board
        .tenants
        .values()
        .filter(|tenant| wanted_state.is_none_or(|state| tenant.state == state))
        .filter(|tenant| needle.is_empty() || search_text(tenant).contains(&needle))
        .collect();
    rows.sort_by(|a, b| {
        urgency(a.state)
            .cmp(&urgency(b.state))
            .then_with(|| a.id.cmp(&b.id))
    });
    rows
}

pub fn render(board: &Board, query: &FleetQuery, viewer: &Viewer, now: SystemTime) -> String {
    page("Fleet", Section::Fleet, Some(viewer), |html| {
        html.raw("<h1>Fleet</h1>");
        totals(html, board);
        filter_form(html, query);
        let rows = select(board, query);
        html.raw("<div class=\"scroll\"><table id=\"fleet\" class=\"fleet\"><caption>")
            .number(rows.len() as u64)
            .raw(" of ")
            .number(board.tenants.len() as u64)
            .raw(" tenants, those needing attention first. Reload the page for fresh data.</caption>")
            .raw("<thead><tr><th scope=\"col\">Tenant <span class=\"sub\">mode · Confluence</span></th>")
            .raw("<th scope=\"col\">State</th>")
            .raw("<th scope=\"col\">Last sync</th><th scope=\"col\">Age</th>")
            .raw("<th scope=\"col\">Duration</th><th scope=\"col\">Objects</th>")
            .raw("<th scope=\"col\">Next sync</th><th scope=\"col\">Failures</th>")
            .raw("<th scope=\"col\">Pacing</th><th scope=\"col\">Last error</th></tr></thead><tbody>");
        for tenant in &rows {
            row(html, tenant, now);
        }
        if rows.is_empty() {
            html.raw(
                "<tr class=\"empty\"><td colspan=\"10\">No tenant matches this filter.</td></tr>",
            );
        }
        html.raw("</tbody></table></div>");
    })
}

fn totals(html: &mut Html, board: &Board) {
    html.raw("<section aria-labelledby=\"totals-title\"><h2 id=\"totals-title\" class=\"visually-hidden\">Tenants per state</h2><ul class=\"totals\">");
    for state in TenantState::ALL {
        let count = board
            .tenants
            .values()
            .filter(|tenant| tenant.state == state)
            .count();
        html.raw("<li><a class=\"total state-")
            .raw(state.as_str())
            .raw("\" data-state=\"")
            .raw(state.as_str())
            .raw("\" href=\"/?state=")
            .raw(state.as_str())
            .raw("\"><strong>")
            .number(count as u64)
            .raw("</strong> ")
            .raw(state.as_str())
            .raw("</a></li>");
    }
    html.raw("</ul></section>");
}

fn filter_form(html: &mut Html, query: &FleetQuery) {
    html.raw("<form class=\"filter\" id=\"filter\" method=\"get\" action=\"/\" role=\"search\">")
        .raw("<label for=\"q\">Text</label>")
        .raw("<input id=\"q\" name=\"q\" type=\"search\" placeholder=\"tenant, version or error\" value=\"")
        .text(&query.q)
        .raw("\"><label for=\"state\">State</label><select id=\"state\" name=\"state\"><option value=\"\">any</option>");
    let selected = query.state();
    for state in TenantState::ALL {
        html.raw("<option value=\"").raw(state.as_str()).raw("\"");
        if selected == Some(state) {
            html.raw(" selected");
        }
        html.raw(">").raw(state.as_str()).raw("</option>");
    }
    html.raw("</select><button type=\"submit\">Filter</button> <a href=\"/\">Clear</a>")
        .raw("<label class=\"auto\"><input type=\"checkbox\" id=\"auto-refresh\"> refresh every 10 s</label></form>");
}

fn row(html: &mut Html, tenant: &TenantStatus, now: SystemTime) {
    html.raw("<tr data-tenant=\"")
        .text(&tenant.id)
        .raw("\" data-state=\"")
        .raw(tenant.state.as_str())
        .raw("\" data-search=\"")
        .text(&search_text(tenant))
        .raw("\"><th scope=\"row\"><a href=\"/tenants/")
        .text(&tenant.id)
        .raw("\">")
        .text(&tenant.id)
        .raw("</a><br><span class=\"sub\">")
        .text(tenant.mode)
        .raw(" · ")
        .text(
            tenant
                .confluence_version
                .as_deref()
                .unwrap_or("version unknown"),
        )
        .raw("</span></th><td class=\"state\" title=\"health ")
        .raw(tenant.health.as_str())
        .raw(", ")
        .raw(tenant.activity.as_str())
        .raw("\">");
    state_badge(html, tenant.state, tenant.health, tenant.activity);
    html.raw("</td>");
    match &tenant.last_sync {
        Some(sync) => {
            html.raw("<td>");
            format::outcome_badge(html, sync.outcome);
            html.raw(" <span class=\"sub\">")
                .raw(sync.trigger.label())
                .raw("</span></td><td>");
            moment(html, sync.ended_at, now);
            let counts = &sync.counts;
            html.raw("</td><td>")
                .text(&format::millis(sync.duration_ms))
                .raw("</td><td title=\"");
            format::counts(html, counts);
            html.raw("\">")
                .number(
                    counts.user + counts.group + counts.space + counts.entitlement + counts.grant,
                )
                .raw("</td>");
        }
        None => {
            html.raw("<td>never</td><td>—</td><td>—</td><td>—</td>");
        }
    }
    html.raw("<td>");
    match (tenant.next_sync_at, tenant.mode) {
        (Some(at), _) => moment(html, at, now),
        (None, "conductorone") => {
            html.raw("ConductorOne");
        }
        (None, _) => {
            html.raw("—");
        }
    }
    html.raw("</td><td class=\"num\">")
        .number(tenant.consecutive_failures);
    if let Some(since) = tenant.failing_since() {
        html.raw("<br><span class=\"sub\">since ");
        moment(html, since, now);
        html.raw("</span>");
    }
    html.raw("</td><td class=\"pacing\">");
    match tenant.pacing_source.as_ref().map(|client| client.pacing()) {
        Some(pacing) => html.text(&format::pacing(&pacing)),
        None => html.raw("—"),
    };
    html.raw("</td><td class=\"error\">");
    if let Some(error) = &tenant.last_error {
        html.raw("<span class=\"clamp\" title=\"")
            .text(error)
            .raw("\">")
            .text(format::one_line(error))
            .raw("</span>");
    }
    html.raw("</td></tr>");
}
