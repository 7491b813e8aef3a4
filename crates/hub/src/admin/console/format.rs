//! How times, durations, states and pacing read on the console's pages.

use std::time::{Duration, SystemTime};

use super::html::Html;
use crate::actors::status::{
    Activity, Health, ObjectCounts, SyncOutcome, TenantState, format_rfc3339,
};
use confluence::Pacing;

/// `3m 12s`: the two largest units, enough to tell how long ago.
pub fn span(duration: Duration) -> String {
    let seconds = duration.as_secs();
    let (days, hours, minutes) = (seconds / 86_400, seconds / 3_600 % 24, seconds / 60 % 60);
    match (days, hours, minutes) {
        (0, 0, 0) => format!("{seconds}s"),
        (0, 0, m) => format!("{m}m {}s", seconds % 60),
        (0, h, m) => format!("{h}h {m}m"),
        (d, h, _) => format!("{d}d {h}h"),
    }
}

/// A duration in milliseconds as a person reads it.
pub fn millis(ms: u64) -> String {
    if ms < 1_000 {
        format!("{ms} ms")
    } else if ms < 60_000 {
        format!("{:.1} s", ms as f64 / 1_000.0)
    } else {
        span(Duration::from_millis(ms))
    }
}

/// `<time>` with the exact moment as its machine value and title, and how
/// long ago (or how soon) as its text.
pub fn moment(html: &mut Html, at: SystemTime, now: SystemTime) {
    let exact = format_rfc3339(at);
    html.raw("<time datetime=\"")
        .text(&exact)
        .raw("\" title=\"")
        .text(&exact)
        .raw("\">");
    match now.duration_since(at) {
        Ok(ago) => html.text(&span(ago)).raw(" ago"),
        Err(ahead) => html.raw("in ").text(&span(ahead.duration())),
    };
    html.raw("</time>");
}

/// The state as colour and words; a tenant that needs attention but is
/// busy says what it is doing too (`failing`, `syncing`).
pub fn state_badge(html: &mut Html, state: TenantState, health: Health, activity: Activity) {
    html.raw("<span class=\"badge state-")
        .raw(state.as_str())
        .raw("\">")
        .raw(state.as_str())
        .raw("</span>");
    if health != Health::Healthy && activity != Activity::Idle {
        html.raw(" <span class=\"sub\">")
            .raw(activity.as_str())
            .raw("</span>");
    }
}

/// `ok`, `error` or `cancelled`, in its colour.
pub fn outcome_badge(html: &mut Html, outcome: SyncOutcome) {
    html.raw("<span class=\"outcome outcome-")
        .raw(outcome.as_str())
        .raw("\">")
        .raw(outcome.as_str())
        .raw("</span>");
}

/// What a sync wrote, kind by kind.
pub fn counts(html: &mut Html, counts: &ObjectCounts) {
    html.number(counts.user)
        .raw(" users, ")
        .number(counts.group)
        .raw(" groups, ")
        .number(counts.space)
        .raw(" spaces, ")
        .number(counts.entitlement)
        .raw(" entitlements, ")
        .number(counts.grant)
        .raw(" grants");
}

pub fn pacing(pacing: &Pacing) -> String {
    match pacing {
        Pacing::Learned {
            capacity,
            fill_rate_per_second,
            concurrency_limit,
        } => format!(
            "server's limit: {fill_rate_per_second}/s, burst {capacity}, {concurrency_limit} in flight"
        ),
        Pacing::Adaptive { concurrency_limit } => {
            format!("adaptive: {concurrency_limit} in flight")
        }
        Pacing::Ceiling {
            requests_per_second,
            burst,
            concurrency_limit,
        } => format!(
            "operator's ceiling: {requests_per_second}/s, burst {burst}, {concurrency_limit} in flight"
        ),
    }
}

/// The first line of an error, for a table cell; the full text is its title.
pub fn one_line(error: &str) -> &str {
    error.lines().next().unwrap_or_default()
}
