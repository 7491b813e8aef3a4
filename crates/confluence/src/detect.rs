//! Which Confluence a tenant runs: the configured version, else
//! `/rest/api/server-information` (9.0+), else probing — a 404 there means a
//! release before 9.0, served with the 8.5 feature set (JSON-RPC space
//! permissions, no query-parameter group endpoints).

use std::fmt;

use super::decode;
use super::error::{ConfluenceError, ErrorKind};
use super::route::Route;
use super::transport::{Request, Transport};
use super::version::ConfluenceVersion;
use super::wire::ServerInformation;

/// The feature set assumed for a server without `/rest/api/server-information`:
/// 8.5 is the oldest release the hub supports.
pub const BEFORE_9_BASELINE: ConfluenceVersion = ConfluenceVersion::new(8, 5, 0);

const SERVER_INFORMATION: &str = "/rest/api/server-information";

/// A tenant's version and how it was learned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ServerVersion {
    pub version: ConfluenceVersion,
    pub source: VersionSource,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum VersionSource {
    /// `version = "..."` in the tenant's config.
    Configured,
    /// Reported by `/rest/api/server-information`.
    ServerInformation,
    /// That endpoint is missing, so the server predates 9.0.
    Probed,
}

impl fmt::Display for ServerVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.source {
            VersionSource::ServerInformation => write!(f, "{}", self.version),
            VersionSource::Configured => write!(f, "{} (configured)", self.version),
            VersionSource::Probed => f.write_str("8.x (before 9.0; JSON-RPC space permissions)"),
        }
    }
}

pub(crate) async fn detect(transport: &Transport) -> Result<ServerVersion, ConfluenceError> {
    let request = Request::get(Route::fixed(SERVER_INFORMATION));
    let answer = transport
        .fetch(&request, |transport, reply| {
            if reply.status == 404 {
                return Ok(None);
            }
            let status = reply.status;
            let info: ServerInformation = decode::json(transport, reply)?;
            Ok(Some((status, info)))
        })
        .await?;
    let Some((status, info)) = answer else {
        return Ok(ServerVersion {
            version: BEFORE_9_BASELINE,
            source: VersionSource::Probed,
        });
    };
    let text = info.version.unwrap_or_default();
    let version = text.parse::<ConfluenceVersion>().map_err(|err| {
        transport.error(ErrorKind::Undecodable {
            method: "GET",
            route: SERVER_INFORMATION,
            status,
            what: format!("no usable version ({err})"),
            advice: "set `version` for this tenant in the config to skip detection",
            garbled: false,
        })
    })?;
    Ok(ServerVersion {
        version,
        source: VersionSource::ServerInformation,
    })
}
