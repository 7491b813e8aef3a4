//! Reload as a pure function: which tenants a new config adds, removes,
//! changes or leaves alone, and which hub-level settings only a restart applies.

use std::collections::BTreeMap;

use super::{HubConfig, TenantConfig, TenantId};

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ConfigDiff {
    pub added: Vec<TenantId>,
    pub removed: Vec<TenantId>,
    pub changed: Vec<TenantId>,
    pub unchanged: Vec<TenantId>,
    /// Keys whose new value the running process cannot apply (logged, not fatal).
    pub needs_restart: Vec<&'static str>,
}

impl ConfigDiff {
    pub fn is_noop(&self) -> bool {
        self.added.is_empty() && self.removed.is_empty() && self.changed.is_empty()
    }
}

/// Compares two tenant sets by id; a tenant is `changed` when any of its
/// settings differ, secrets included (a rotated token restarts the tenant).
/// Ids come out sorted, so the result does not depend on file order.
pub fn diff(
    old: &HubConfig,
    new: &HubConfig,
    old_tenants: &[TenantConfig],
    new_tenants: &[TenantConfig],
) -> ConfigDiff {
    let old_by_id: BTreeMap<&TenantId, &TenantConfig> = old_tenants
        .iter()
        .map(|tenant| (&tenant.id, tenant))
        .collect();
    let new_by_id: BTreeMap<&TenantId, &TenantConfig> = new_tenants
        .iter()
        .map(|tenant| (&tenant.id, tenant))
        .collect();

    let mut result = ConfigDiff::default();
    for (id, new_tenant) in &new_by_id {
        match old_by_id.get(id) {
            None => result.added.push((*id).clone()),
            Some(old_tenant) if old_tenant == new_tenant => result.unchanged.push((*id).clone()),
            Some(_) => result.changed.push((*id).clone()),
        }
    }
    result.removed = old_by_id
        .keys()
        .filter(|id| !new_by_id.contains_key(*id))
        .map(|id| (*id).clone())
        .collect();

    let (a, b) = (&old.hub, &new.hub);
    let restart_keys = [
        ("hub.admin_listen", a.admin_listen != b.admin_listen),
        ("hub.data_dir", a.data_dir != b.data_dir),
        ("hub.workers", a.workers != b.workers),
        (
            "hub.max_concurrent_syncs",
            a.max_concurrent_syncs != b.max_concurrent_syncs,
        ),
        ("telemetry", old.telemetry != new.telemetry),
    ];
    result.needs_restart = restart_keys
        .into_iter()
        .filter(|(_, differs)| *differs)
        .map(|(key, _)| key)
        .collect();
    result
}
