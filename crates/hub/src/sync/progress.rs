//! Live counters of one sync: objects written per kind, source rows skipped
//! per reason, and how far each phase is. Read by progress bars, the status
//! board and the summary while the fetchers update them.

use std::sync::atomic::{AtomicU64, Ordering};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Counted {
    User,
    Group,
    Space,
    Entitlement,
    Grant,
}

/// Why a source row produced no grant.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum SkipReason {
    /// A permission held by the anonymous user (null user and group).
    AnonymousPermission,
    /// A permission or membership naming a user that is not a synced user
    /// (deleted, `type: unknown`).
    UnknownUser,
    /// A permission naming a group that is not a synced group.
    UnknownGroup,
    /// A permission key or REST operation outside the 14 space permissions.
    UnknownPermission,
    /// A space excluded by config (archived or personal switched off).
    ExcludedSpace,
}

impl SkipReason {
    pub const ALL: [SkipReason; 5] = [
        Self::AnonymousPermission,
        Self::UnknownUser,
        Self::UnknownGroup,
        Self::UnknownPermission,
        Self::ExcludedSpace,
    ];

    pub fn label(self) -> &'static str {
        match self {
            Self::AnonymousPermission => "anonymous_permission",
            Self::UnknownUser => "unknown_user",
            Self::UnknownGroup => "unknown_group",
            Self::UnknownPermission => "unknown_permission",
            Self::ExcludedSpace => "excluded_space",
        }
    }
}

#[derive(Debug, Default)]
pub struct Progress {
    users: AtomicU64,
    groups: AtomicU64,
    spaces: AtomicU64,
    entitlements: AtomicU64,
    grants: AtomicU64,
    skipped: [AtomicU64; SkipReason::ALL.len()],
    /// Groups whose members are read / spaces whose permissions are read.
    groups_done: AtomicU64,
    spaces_done: AtomicU64,
    /// Known once the listings end; 0 until then.
    groups_total: AtomicU64,
    spaces_total: AtomicU64,
}

/// A point-in-time copy of [`Progress`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ProgressSnapshot {
    pub users: u64,
    pub groups: u64,
    pub spaces: u64,
    pub entitlements: u64,
    pub grants: u64,
    pub skipped: Skipped,
    pub groups_done: u64,
    pub groups_total: u64,
    pub spaces_done: u64,
    pub spaces_total: u64,
}

/// Skipped rows by reason.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Skipped(pub Vec<(SkipReason, u64)>);

impl Skipped {
    pub fn get(&self, reason: SkipReason) -> u64 {
        self.0
            .iter()
            .find(|(r, _)| *r == reason)
            .map_or(0, |(_, n)| *n)
    }

    pub fn total(&self) -> u64 {
        self.0.iter().map(|(_, n)| n).sum()
    }
}

impl Progress {
    pub(super) fn add(&self, kind: Counted, count: u64) {
        let counter = match kind {
            Counted::User => &self.users,
            Counted::Group => &self.groups,
            Counted::Space => &self.spaces,
            Counted::Entitlement => &self.entitlements,
            Counted::Grant => &self.grants,
        };
        counter.fetch_add(count, Ordering::Relaxed);
    }

    pub fn skip(&self, reason: SkipReason, count: u64) {
        let index = SkipReason::ALL
            .iter()
            .position(|r| *r == reason)
            .unwrap_or(0);
        self.skipped[index].fetch_add(count, Ordering::Relaxed);
    }

    pub fn group_done(&self) {
        self.groups_done.fetch_add(1, Ordering::Relaxed);
    }

    pub fn space_done(&self) {
        self.spaces_done.fetch_add(1, Ordering::Relaxed);
    }

    pub fn set_groups_total(&self, total: u64) {
        self.groups_total.store(total, Ordering::Relaxed);
    }

    pub fn set_spaces_total(&self, total: u64) {
        self.spaces_total.store(total, Ordering::Relaxed);
    }

    pub fn snapshot(&self) -> ProgressSnapshot {
        let load = |counter: &AtomicU64| counter.load(Ordering::Relaxed);
        ProgressSnapshot {
            users: load(&self.users),
            groups: load(&self.groups),
            spaces: load(&self.spaces),
            entitlements: load(&self.entitlements),
            grants: load(&self.grants),
            skipped: Skipped(
                SkipReason::ALL
                    .iter()
                    .zip(&self.skipped)
                    .map(|(reason, counter)| (*reason, load(counter)))
                    .collect(),
            ),
            groups_done: load(&self.groups_done),
            groups_total: load(&self.groups_total),
            spaces_done: load(&self.spaces_done),
            spaces_total: load(&self.spaces_total),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn skips_are_counted_per_reason() {
        let progress = Progress::default();
        progress.skip(SkipReason::UnknownUser, 2);
        progress.skip(SkipReason::AnonymousPermission, 3);
        progress.add(Counted::Grant, 7);
        let snapshot = progress.snapshot();
        assert_eq!(snapshot.skipped.get(SkipReason::UnknownUser), 2);
        assert_eq!(snapshot.skipped.total(), 5);
        assert_eq!(snapshot.grants, 7);
    }
}
