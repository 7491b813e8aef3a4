//! Confluence Data Center versions and the API features each one offers.

use std::fmt;
use std::str::FromStr;

/// A Confluence release, as reported by `/rest/api/server-information` or set
/// in the config (`version = "9.2"`). Only major and minor decide features.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ConfluenceVersion {
    pub major: u16,
    pub minor: u16,
    pub patch: u16,
}

impl ConfluenceVersion {
    pub const fn new(major: u16, minor: u16, patch: u16) -> Self {
        Self {
            major,
            minor,
            patch,
        }
    }

    fn at_least(&self, major: u16, minor: u16) -> bool {
        (self.major, self.minor) >= (major, minor)
    }

    /// `/rest/api/space/{key}/permissions` exists from 9.1; older releases
    /// only offer space permissions over JSON-RPC.
    pub fn has_rest_space_permissions(&self) -> bool {
        self.at_least(9, 1)
    }

    /// Query-parameter group endpoints (`/rest/api/group/member?name=`), the
    /// only way to address group names containing `/`, are documented from 10.0.
    pub fn has_group_query_endpoints(&self) -> bool {
        self.at_least(10, 0)
    }

    /// Admin user REST (`/rest/api/admin/user`): create, disable, enable; 8.4+.
    pub fn has_admin_user_rest(&self) -> bool {
        self.at_least(8, 4)
    }

    /// `/rest/api/server-information` answers on 9.x and later.
    pub fn has_server_information(&self) -> bool {
        self.at_least(9, 0)
    }
}

impl fmt::Display for ConfluenceVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}", self.major, self.minor, self.patch)
    }
}

#[derive(Debug, thiserror::Error)]
#[error("`{0}` is not a Confluence version; expected MAJOR.MINOR[.PATCH], e.g. 9.2")]
pub struct ParseVersionError(String);

impl FromStr for ConfluenceVersion {
    type Err = ParseVersionError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let err = || ParseVersionError(text.to_owned());
        let mut parts = text.trim().split('.');
        let mut next = |required: bool| -> Result<u16, ParseVersionError> {
            match parts.next() {
                // Build suffixes such as "10.2.1-m12" keep their numeric prefix.
                Some(part) => {
                    let digits: String = part.chars().take_while(char::is_ascii_digit).collect();
                    digits.parse().map_err(|_| err())
                }
                None if required => Err(err()),
                None => Ok(0),
            }
        };
        let version = Self::new(next(true)?, next(true)?, next(false)?);
        Ok(version)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_gate_api_features() {
        let v85: ConfluenceVersion = "8.5.16".parse().unwrap();
        let v92: ConfluenceVersion = "9.2".parse().unwrap();
        let v102: ConfluenceVersion = "10.2.3".parse().unwrap();
        assert!(!v85.has_rest_space_permissions() && v85.has_admin_user_rest());
        assert!(v92.has_rest_space_permissions() && !v92.has_group_query_endpoints());
        assert!(v102.has_rest_space_permissions() && v102.has_group_query_endpoints());
        assert_eq!(v102.to_string(), "10.2.3");
    }

    #[test]
    fn garbage_is_not_a_version() {
        assert!("nine".parse::<ConfluenceVersion>().is_err());
        assert!("9".parse::<ConfluenceVersion>().is_err());
    }
}
