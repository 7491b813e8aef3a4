//! What one tenant's ConductorOne session needs, already validated.

use platform::secret::Secret;

#[derive(Clone, Debug, PartialEq)]
pub struct C1Settings {
    pub tenant: String,
    /// `name@host/use-case`; not secret, but kept out of logs all the same.
    pub client_id: String,
    /// `secret-token:conductorone.com:v1:<base64url JWK>`.
    pub client_secret: Secret,
    /// Extra PEM trust roots for the token endpoint and BatonService.
    pub ca_pem: Option<Vec<u8>>,
    /// `host[:port]` overriding the host named in the client id.
    pub api_host: Option<String>,
    /// Sent as `host_id` on every BatonService call; stable per tenant.
    pub host_id: String,
    /// Tasks run at once for this tenant (never two syncs).
    pub task_concurrency: usize,
}
