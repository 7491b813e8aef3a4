//! The demo's closing table: per tenant, what was synced, what it cost, and
//! what provisioning did.

use super::scenario::{DemoTenant, Provisioning};
use sim::conductorone::UploadRecord;

pub struct Row {
    tenant: String,
    version: String,
    users: u64,
    groups: u64,
    spaces: u64,
    grants: u64,
    requests: u64,
    rate_limited: u64,
    retries: u64,
    sync_ms: u64,
    c1z_bytes: u64,
    provisioning: Vec<String>,
}

impl Row {
    pub fn new(
        tenant: &DemoTenant,
        status: &serde_json::Value,
        uploads: &[UploadRecord],
        provisioning: &[&Provisioning],
    ) -> Self {
        let entry = status["tenants"]
            .as_array()
            .and_then(|tenants| tenants.iter().find(|t| t["id"] == tenant.id.as_str()))
            .cloned()
            .unwrap_or_default();
        let sync = &entry["last_sync"];
        let count = |key: &str| sync["counts"][key].as_u64().unwrap_or(0);
        let number = |key: &str| sync[key].as_u64().unwrap_or(0);
        let limited = if tenant.rate_limited {
            " (rate limited)"
        } else {
            ""
        };
        Self {
            tenant: tenant.id.clone(),
            version: format!(
                "{}{limited}",
                entry["confluence_version"]
                    .as_str()
                    .unwrap_or(tenant.version)
            ),
            users: count("user"),
            groups: count("group"),
            spaces: count("space"),
            grants: count("grant"),
            requests: number("requests"),
            rate_limited: number("rate_limited"),
            retries: number("retries"),
            sync_ms: number("duration_ms"),
            c1z_bytes: uploads
                .last()
                .map_or(number("file_size"), |upload| upload.size),
            provisioning: provisioning
                .iter()
                .map(|p| format!("{}: {}", p.what, p.outcome))
                .collect(),
        }
    }
}

pub fn print_summary(rows: &[Row]) {
    println!();
    println!(
        "{:<9} {:<22} {:>6} {:>6} {:>6} {:>7} {:>8} {:>5} {:>7} {:>8} {:>9}",
        "TENANT",
        "CONFLUENCE",
        "USERS",
        "GROUPS",
        "SPACES",
        "GRANTS",
        "REQUESTS",
        "429S",
        "RETRIES",
        "SYNC",
        "C1Z"
    );
    for row in rows {
        println!(
            "{:<9} {:<22} {:>6} {:>6} {:>6} {:>7} {:>8} {:>5} {:>7} {:>7.1}s {:>8}K",
            row.tenant,
            row.version,
            row.users,
            row.groups,
            row.spaces,
            row.grants,
            row.requests,
            row.rate_limited,
            row.retries,
            row.sync_ms as f64 / 1000.0,
            row.c1z_bytes.div_ceil(1024),
        );
    }
    println!();
    println!("provisioning through ConductorOne:");
    for row in rows {
        for line in &row.provisioning {
            println!("  {:<9} {line}", row.tenant);
        }
    }
}
