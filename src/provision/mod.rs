//! Provisioning against Confluence: group membership, space permissions,
//! account creation and opt-in deprovisioning.

pub mod age;
