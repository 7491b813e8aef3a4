//! What the console may show of a tenant's effective config: every setting
//! that shapes its syncs, and for credentials only their kind (a username,
//! a client id), never a token, password, secret or key.

use serde::Serialize;

use super::{Deprovisioning, TenantConfig};
use confluence::settings::Auth;

/// One line of a tenant's settings table.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Setting {
    pub key: &'static str,
    pub value: String,
}

pub fn effective_settings(tenant: &TenantConfig) -> Vec<Setting> {
    let confluence = &tenant.confluence;
    let mut base_url = confluence.base_url.clone();
    // A URL's user-info could hold a password; the client never sends one.
    let _ = base_url.set_username("");
    let _ = base_url.set_password(None);
    let mut settings = vec![
        ("base_url", base_url.to_string()),
        (
            "credentials",
            match &confluence.auth {
                Auth::Token(_) => "personal access token".to_owned(),
                Auth::Basic { username, .. } => format!("username {username} and password"),
            },
        ),
        ("sync_interval", humanize(tenant.sync.interval)),
        (
            "requests_per_second",
            confluence.rate_ceiling.map_or_else(
                || "no ceiling (the server's limiter paces)".to_owned(),
                |ceiling| ceiling.requests_per_second.to_string(),
            ),
        ),
        (
            "burst",
            confluence.rate_ceiling.map_or_else(
                || "no ceiling".to_owned(),
                |ceiling| ceiling.burst.to_string(),
            ),
        ),
        ("max_in_flight", confluence.max_in_flight.to_string()),
        (
            "max_in_flight_ceiling",
            confluence.max_in_flight_ceiling.to_string(),
        ),
        ("page_size", confluence.page_size.to_string()),
        ("request_timeout", humanize(confluence.request_timeout)),
        ("retry_attempts", confluence.retry.max_attempts.to_string()),
        ("retry_max_elapsed", humanize(confluence.retry.max_elapsed)),
        (
            "confluence_version",
            confluence
                .version
                .map_or_else(|| "detected".to_owned(), |version| version.to_string()),
        ),
        ("ca_file", yes_no(confluence.ca.is_some()).to_owned()),
        (
            "include_archived_spaces",
            tenant.sync.include_archived_spaces.to_string(),
        ),
        (
            "include_personal_spaces",
            tenant.sync.include_personal_spaces.to_string(),
        ),
        ("skip_full_sync", tenant.sync.skip_full_sync.to_string()),
        ("provisioning", tenant.provisioning.to_string()),
        (
            "deprovisioning",
            match tenant.deprovisioning {
                Deprovisioning::Off => "off",
                Deprovisioning::Disable => "disable",
            }
            .to_owned(),
        ),
    ];
    if let Some(c1) = &tenant.conductorone {
        settings.push((
            "conductorone.client_id",
            c1.credentials.client_id().as_str().to_owned(),
        ));
        settings.push((
            "conductorone.api_host",
            c1.api_host
                .clone()
                .unwrap_or_else(|| "from the client id".to_owned()),
        ));
        settings.push((
            "conductorone.task_concurrency",
            c1.task_concurrency.to_string(),
        ));
    }
    settings
        .into_iter()
        .map(|(key, value)| Setting { key, value })
        .collect()
}

fn humanize(duration: std::time::Duration) -> String {
    humantime::format_duration(duration).to_string()
}

fn yes_no(value: bool) -> &'static str {
    if value { "yes" } else { "no" }
}
