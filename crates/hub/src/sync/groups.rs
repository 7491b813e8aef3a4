//! Group memberships as Baton grants. The groups fetcher
//! (`actors::fetcher`) lists the groups and reads their members.

use baton::model;
use baton::pb::c1::connector::v2::Grant;

use super::UserDirectory;

/// Membership grants of `group` for the members that are users of this
/// sync, and how many members were not (deleted users still in a group,
/// counted as skipped).
pub fn memberships(
    users: &UserDirectory,
    group: &str,
    member_keys: impl Iterator<Item = String>,
) -> (Vec<Grant>, u64) {
    let mut grants = Vec::new();
    let mut unknown = 0;
    for user_key in member_keys {
        if users.contains_key(&user_key) {
            grants.push(model::group_membership_grant(group, &user_key));
        } else {
            unknown += 1;
        }
    }
    (grants, unknown)
}
