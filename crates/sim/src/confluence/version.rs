//! The Confluence versions the simulator imitates and which endpoints each one
//! has (docs/confluence-api-notes.md §11).

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// A Confluence Data Center release line.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum SimVersion {
    #[serde(rename = "8.5")]
    V8_5,
    #[serde(rename = "9.2")]
    V9_2,
    #[serde(rename = "10.2")]
    V10_2,
}

/// A version string that is not one of `8.5`, `9.2`, `10.2`.
#[derive(Debug, thiserror::Error)]
#[error("unsupported Confluence version {0:?}: expected 8.5, 9.2 or 10.2")]
pub struct UnsupportedVersion(String);

impl FromStr for SimVersion {
    type Err = UnsupportedVersion;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text.trim() {
            "8.5" => Ok(Self::V8_5),
            "9.2" => Ok(Self::V9_2),
            "10.2" => Ok(Self::V10_2),
            other => Err(UnsupportedVersion(other.to_owned())),
        }
    }
}

impl fmt::Display for SimVersion {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(match self {
            Self::V8_5 => "8.5",
            Self::V9_2 => "9.2",
            Self::V10_2 => "10.2",
        })
    }
}

impl SimVersion {
    /// REST space permissions (`/rest/api/space/{key}/permissions`) arrived in 9.1.
    pub fn has_rest_space_permissions(self) -> bool {
        self >= Self::V9_2
    }

    /// `/rest/api/group/member?name=` and the other query-parameter group
    /// endpoints are only known from the 10.x reference.
    pub fn has_group_query_endpoints(self) -> bool {
        self >= Self::V10_2
    }

    /// Nested-group reads (`groupmember`, `groupparent`, `groupancestor`) are ~9.4+.
    pub fn has_nested_group_endpoints(self) -> bool {
        self >= Self::V10_2
    }

    /// `/rest/api/admin/users/list/active` is documented from 9.3/9.4.
    pub fn has_active_users_list(self) -> bool {
        self >= Self::V10_2
    }

    /// `/rest/api/server-information` exists on 9.x and 10.x only.
    pub fn has_server_information(self) -> bool {
        self >= Self::V9_2
    }

    /// The 9.x/10.x space schema carries `status`; 8.5 does not.
    pub fn space_has_status(self) -> bool {
        self >= Self::V9_2
    }

    /// The full version the simulator reports. The patch levels are the
    /// simulator's choice: docs/confluence-api-notes.md §11 names 8.5.16+ (member
    /// reads need admin) and 10.2.10 (JSON-RPC websudo page) as observed builds.
    pub fn full_version(self) -> &'static str {
        match self {
            Self::V8_5 => "8.5.17",
            Self::V9_2 => "9.2.4",
            Self::V10_2 => "10.2.10",
        }
    }

    /// Build number reported by `/rest/api/server-information` (simulator values).
    pub fn build_number(self) -> u32 {
        match self {
            Self::V8_5 => 8517,
            Self::V9_2 => 9204,
            Self::V10_2 => 10210,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_parse_and_print_the_same_spelling() {
        for text in ["8.5", "9.2", "10.2"] {
            let version: SimVersion = text.parse().expect("valid version");
            assert_eq!(version.to_string(), text);
        }
        assert!("9.1".parse::<SimVersion>().is_err());
    }

    #[test]
    fn endpoint_gating_follows_the_release_lines() {
        assert!(!SimVersion::V8_5.has_rest_space_permissions());
        assert!(SimVersion::V9_2.has_rest_space_permissions());
        assert!(!SimVersion::V9_2.has_group_query_endpoints());
        assert!(SimVersion::V10_2.has_group_query_endpoints());
        assert!(!SimVersion::V8_5.has_server_information());
        assert!(SimVersion::V9_2.has_server_information());
    }
}
