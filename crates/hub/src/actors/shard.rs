//! Which replica of the StatefulSet serves which tenant: rendezvous (highest
//! random weight) hashing of the tenant id over `sharding.replicas`. Adding a
//! replica moves only the tenants the new replica wins, about 1/(N+1) of them.
//! Kubernetes is the membership service: a replica learns its ordinal from
//! `HUB_ORDINAL` or its hostname, nothing is negotiated between replicas.

use sha2::{Digest, Sha256};

/// The environment variable carrying this replica's ordinal.
pub const ORDINAL_ENV: &str = "HUB_ORDINAL";

/// The replica (0-based) that serves `tenant_id` among `replicas`.
pub fn replica_for(tenant_id: &str, replicas: u32) -> u32 {
    (0..replicas.max(1))
        .max_by_key(|&replica| (weight(tenant_id, replica), replica))
        .unwrap_or(0)
}

/// A stable 64-bit weight: SHA-256 keeps the plan identical across builds,
/// platforms and Rust versions (std's hashers promise none of that).
fn weight(tenant_id: &str, replica: u32) -> u64 {
    let digest = Sha256::new()
        .chain_update(tenant_id.as_bytes())
        .chain_update([0])
        .chain_update(replica.to_be_bytes())
        .finalize();
    let mut prefix = [0u8; 8];
    prefix.copy_from_slice(&digest[..8]);
    u64::from_be_bytes(prefix)
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum OrdinalError {
    #[error("{ORDINAL_ENV}=`{0}` is not a replica ordinal; set it to this pod's index (0, 1, ...)")]
    BadEnv(String),
    #[error(
        "cannot tell which replica this is: set {ORDINAL_ENV} or run with a hostname ending in -<ordinal> (as StatefulSet pods do); hostname is `{0}`"
    )]
    Unknown(String),
    #[error(
        "this is replica {ordinal} but sharding.replicas = {replicas}; make the StatefulSet's replicas and sharding.replicas match"
    )]
    OutOfRange { ordinal: u32, replicas: u32 },
}

/// This process's ordinal: `HUB_ORDINAL` if set, else the `-<n>` suffix of
/// the hostname. With a single replica no ordinal is needed.
pub fn ordinal(
    env_value: Option<&str>,
    hostname: &str,
    replicas: u32,
) -> Result<u32, OrdinalError> {
    let ordinal = match env_value.map(str::trim).filter(|value| !value.is_empty()) {
        Some(value) => value
            .parse()
            .map_err(|_| OrdinalError::BadEnv(value.to_owned()))?,
        None => match hostname
            .rsplit_once('-')
            .and_then(|(_, suffix)| suffix.parse().ok())
        {
            Some(ordinal) => ordinal,
            None if replicas <= 1 => 0,
            None => return Err(OrdinalError::Unknown(hostname.to_owned())),
        },
    };
    if ordinal >= replicas.max(1) {
        return Err(OrdinalError::OutOfRange { ordinal, replicas });
    }
    Ok(ordinal)
}

/// This process's ordinal from its real environment.
pub fn current_ordinal(replicas: u32) -> Result<u32, OrdinalError> {
    let env_value = std::env::var(ORDINAL_ENV).ok();
    ordinal(env_value.as_deref(), &crate::config::hostname(), replicas)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tenant_ids(count: usize) -> Vec<String> {
        (0..count).map(|n| format!("tenant-{n:04}")).collect()
    }

    #[test]
    fn tenants_spread_evenly_over_three_replicas() {
        let mut counts = [0usize; 3];
        for id in tenant_ids(1000) {
            counts[replica_for(&id, 3) as usize] += 1;
        }
        for count in counts {
            assert!((273..=393).contains(&count), "uneven spread {counts:?}");
        }
    }

    #[test]
    fn scaling_from_three_to_four_moves_only_tenants_the_new_replica_wins() {
        let ids = tenant_ids(1000);
        let moved: Vec<_> = ids
            .iter()
            .filter(|id| replica_for(id, 3) != replica_for(id, 4))
            .collect();
        assert!(moved.len() <= 300, "{} of 1000 moved", moved.len());
        assert!(
            moved.iter().all(|id| replica_for(id, 4) == 3),
            "a tenant moved between old replicas"
        );
    }

    #[test]
    fn assignment_is_stable_and_single_replica_takes_all() {
        assert_eq!(replica_for("acme", 5), replica_for("acme", 5));
        assert_eq!(replica_for("acme", 1), 0);
        assert_eq!(replica_for("acme", 0), 0);
    }

    #[test]
    fn ordinal_comes_from_env_then_hostname() {
        assert_eq!(ordinal(Some("2"), "whatever", 3), Ok(2));
        assert_eq!(ordinal(None, "confluence-hub-1", 3), Ok(1));
        assert_eq!(ordinal(None, "laptop", 1), Ok(0));
        assert_eq!(
            ordinal(None, "laptop", 3),
            Err(OrdinalError::Unknown("laptop".into()))
        );
        assert_eq!(
            ordinal(Some("x"), "hub-0", 3),
            Err(OrdinalError::BadEnv("x".into()))
        );
        assert_eq!(
            ordinal(None, "confluence-hub-3", 3),
            Err(OrdinalError::OutOfRange {
                ordinal: 3,
                replicas: 3
            })
        );
    }
}
