//! The hub view: config generation and the last reload, this replica and
//! its shard, the build, and how long the process has run.

use std::time::SystemTime;

use super::format::{moment, span};
use super::html::Html;
use super::layout::{Section, csrf_field, notice, page};
use crate::actors::status::Board;
use crate::admin::access::Viewer;

/// What the hub knows about itself, fixed at start.
#[derive(Clone, Debug)]
pub struct HubInfo {
    pub version: &'static str,
    pub started_at: SystemTime,
}

pub fn render(
    board: &Board,
    info: &HubInfo,
    viewer: &Viewer,
    done: Option<&str>,
    now: SystemTime,
) -> String {
    page("Hub", Section::Hub, Some(viewer), |html| {
        html.raw("<h1>Hub</h1>");
        notice(html, done);
        let reload = &board.last_reload;
        html.raw("<section aria-labelledby=\"config-title\"><h2 id=\"config-title\">Config</h2><dl class=\"facts\">")
            .raw("<dt>Generation</dt><dd id=\"config-generation\">")
            .number(board.config_generation)
            .raw("</dd><dt>Last reload</dt><dd id=\"last-reload\">");
        if reload.ok {
            html.raw("<span class=\"outcome outcome-ok\">applied</span> ");
        } else {
            html.raw("<span class=\"outcome outcome-error\">rejected</span> ");
        }
        moment(html, reload.at, now);
        if let Some(error) = &reload.error {
            html.raw("<pre class=\"error\">").text(error).raw("</pre>");
        }
        if !reload.needs_restart.is_empty() {
            html.raw("<br>Waiting for a restart: ");
            for (index, key) in reload.needs_restart.iter().enumerate() {
                if index > 0 {
                    html.raw(", ");
                }
                html.element("<code>", key, "</code>");
            }
        }
        html.raw("</dd></dl>");
        reload_form(html, viewer);
        html.raw("</section><section aria-labelledby=\"process-title\"><h2 id=\"process-title\">This process</h2><dl class=\"facts\">")
            .raw("<dt>Replica</dt><dd>")
            .number(board.replica)
            .raw(" of ")
            .number(board.replicas)
            .raw(" (ordinals from 0)</dd><dt>Shard</dt><dd>")
            .number(board.tenants.len() as u64)
            .raw(" tenants assigned to this replica</dd><dt>Build</dt><dd>confluence-hub ")
            .text(info.version)
            .raw("</dd><dt>Uptime</dt><dd>")
            .text(&span(now.duration_since(info.started_at).unwrap_or_default()))
            .raw(", since ");
        moment(html, info.started_at, now);
        html.raw("</dd></dl></section>");
    })
}

fn reload_form(html: &mut Html, viewer: &Viewer) {
    if !viewer.may_act() {
        html.raw("<p>\"Reload config\" needs hub.admin_token; see the note above.</p>");
        return;
    }
    html.raw("<form method=\"post\" id=\"reload\" action=\"/hub/reload\">");
    csrf_field(html, viewer);
    html.raw("<button type=\"submit\">Reload config</button> <span class=\"sub\">Re-reads the config file, as SIGHUP does; a file that does not validate changes nothing.</span></form>");
}
