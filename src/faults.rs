//! Fault injection for the integration tests, compiled only with the
//! default `sim` feature (the container image, built without it, has none
//! of this), through the hub's [`hub::actors::fault`] seam.
//!
//! `CONFLUENCE_HUB_INJECT_PANICS="<tenant>=<count>[,...]"` makes the first
//! `count` fetches of that tenant panic inside their fetcher actor, the way
//! a bug would: the actor dies, its sync fails, and the Instance's
//! supervision restarts it. Tests use it to drive a tenant into `degraded`
//! through the real binary.

use std::collections::HashMap;
use std::sync::{LazyLock, Mutex};

const INJECT_PANICS: &str = "CONFLUENCE_HUB_INJECT_PANICS";

/// Panics left to inject, per tenant.
static PANICS_LEFT: LazyLock<Mutex<HashMap<String, u32>>> =
    LazyLock::new(|| Mutex::new(parse(&std::env::var(INJECT_PANICS).unwrap_or_default())));

fn parse(spec: &str) -> HashMap<String, u32> {
    spec.split(',')
        .filter_map(|entry| {
            let (tenant, count) = entry.trim().split_once('=')?;
            Some((tenant.trim().to_owned(), count.trim().parse().ok()?))
        })
        .collect()
}

/// Installs the hook when the variable is set.
pub fn install() {
    if std::env::var_os(INJECT_PANICS).is_some() {
        hub::actors::fault::install_fetch_hook(fetch_started);
    }
}

fn fetch_started(tenant: &str, fetcher: &str) {
    let inject = {
        let mut left = PANICS_LEFT
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        left.get_mut(tenant).is_some_and(|count| {
            let inject = *count > 0;
            *count = count.saturating_sub(1);
            inject
        })
    };
    if inject {
        panic!("injected by {INJECT_PANICS}: the {fetcher} fetcher of tenant {tenant} panics");
    }
}

#[cfg(test)]
mod tests {
    use super::parse;

    #[test]
    fn the_spec_names_tenants_and_counts_and_skips_nonsense() {
        let parsed = parse("acme=3, beta = 1,broken,gamma=x");
        assert_eq!(parsed.len(), 2, "{parsed:?}");
        assert_eq!(parsed["acme"], 3);
        assert_eq!(parsed["beta"], 1);
    }
}
