//! A seam for the integration tests' faults. The binary built with its
//! simulators (the default `sim` feature) may install a hook here; the
//! image's build has no code that does, and then these calls do nothing.

use std::sync::OnceLock;

/// Called with the tenant and the fetcher's phase as a fetcher actor takes
/// a fetch; it may panic, as a bug in the fetcher would.
pub type FetchHook = fn(tenant: &str, fetcher: &str);

static FETCH_HOOK: OnceLock<FetchHook> = OnceLock::new();

/// Installs the hook; only the first installation counts.
pub fn install_fetch_hook(hook: FetchHook) {
    let _ = FETCH_HOOK.set(hook);
}

pub(crate) fn fetch_started(tenant: &str, fetcher: &str) {
    if let Some(hook) = FETCH_HOOK.get() {
        hook(tenant, fetcher);
    }
}
