//! What one tenant's ConductorOne session needs, already validated.

use std::sync::Arc;

use super::credentials::ClientCredentials;
use platform::tls::CaCertificates;

#[derive(Clone, Debug, PartialEq)]
pub struct C1Settings {
    pub tenant: String,
    /// The client id and the key of the client secret, parsed when the config
    /// was loaded; `Debug` shows the id and the key's thumbprint only.
    pub credentials: ClientCredentials,
    /// Extra trust roots for the token endpoint and BatonService.
    pub ca: Option<Arc<CaCertificates>>,
    /// `host[:port]` overriding the host named in the client id.
    pub api_host: Option<String>,
    /// Sent as `host_id` on every BatonService call; stable per tenant.
    pub host_id: String,
    /// Tasks run at once for this tenant (never two syncs).
    pub task_concurrency: usize,
}
