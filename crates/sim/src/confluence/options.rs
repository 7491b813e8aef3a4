//! How a simulated instance is set up: version, data, credentials, rate
//! limiting, fault injection, and the behaviours docs/confluence-api-notes.md §12 lists as
//! uncertain ([`Quirks`]), each a switch with the likeliest behaviour as default.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::dataset::Dataset;
use super::faults::Faults;
use super::version::SimVersion;

/// The admin's personal access token when none is given.
pub const DEFAULT_ADMIN_TOKEN: &str = "sim-admin-token";

/// The user who owns the admin token and is the instance administrator.
pub const DEFAULT_ADMIN_USERNAME: &str = "admin";

/// Everything a [`super::ConfluenceSim`] is started with.
#[derive(Clone, Debug)]
pub struct SimOptions {
    pub version: SimVersion,
    pub dataset: Dataset,
    /// Personal access token (`Authorization: Bearer`) of [`Self::admin_username`].
    pub admin_token: String,
    /// Owner of [`Self::admin_token`]; must be in `confluence-administrators` to act as admin.
    pub admin_username: String,
    /// More PATs: `(token, username)`.
    pub tokens: Vec<(String, String)>,
    /// Basic-auth passwords `(username, password)`; override passwords in the dataset.
    pub passwords: Vec<(String, String)>,
    /// Confluence DC rate limiting; `None` is the product default ("Allow unlimited requests").
    pub rate_limit: Option<RateLimit>,
    /// Usernames exempt from rate limiting (the admin page's per-user exemptions).
    pub rate_limit_exempt: Vec<String>,
    pub faults: Faults,
    /// The global "Email address visibility" setting: `false` leaves `email` off user objects.
    pub email_visible: bool,
    /// "Remote API (XML-RPC & SOAP)"; when off, JSON-RPC answers [`Quirks::remote_api_disabled_status`].
    pub remote_api_enabled: bool,
    /// Licence seats; creating a user beyond them answers `402`.
    pub licensed_seats: Option<usize>,
    /// Worker threads of the simulator's own tokio runtime.
    pub worker_threads: usize,
    pub quirks: Quirks,
}

impl SimOptions {
    /// An instance of `version` serving `dataset`, without rate limiting or
    /// faults, with the default [`Quirks`].
    pub fn new(version: SimVersion, dataset: Dataset) -> Self {
        Self {
            version,
            dataset,
            admin_token: DEFAULT_ADMIN_TOKEN.to_owned(),
            admin_username: DEFAULT_ADMIN_USERNAME.to_owned(),
            tokens: Vec::new(),
            passwords: Vec::new(),
            rate_limit: None,
            rate_limit_exempt: Vec::new(),
            faults: Faults::default(),
            email_visible: true,
            remote_api_enabled: true,
            licensed_seats: None,
            worker_threads: 2,
            quirks: Quirks::default(),
        }
    }
}

/// The per-user token bucket of Confluence DC rate limiting (docs/confluence-api-notes.md §9).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RateLimit {
    /// Bucket size ("Max requests"), sent as `X-RateLimit-Limit`.
    pub capacity: u32,
    /// Tokens added per interval ("Requests allowed"), sent as `X-RateLimit-FillRate`.
    pub fill_rate: u32,
    /// Refill interval, sent as `X-RateLimit-Interval-Seconds`.
    #[serde(with = "humantime_serde")]
    pub interval: Duration,
}

impl Default for RateLimit {
    /// The settings stored in the reference fixture database (capacity 50,
    /// 10 per second).
    fn default() -> Self {
        Self {
            capacity: 50,
            fill_rate: 10,
            interval: Duration::from_secs(1),
        }
    }
}

/// Behaviours docs/confluence-api-notes.md §12 lists as uncertain or version-dependent.
/// Defaults are the likeliest behaviour (or what the reference fixture shows).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Quirks {
    /// Silent cap on `limit` for users, groups, members and memberof
    /// (docs/confluence-api-notes.md §3: 200).
    pub page_cap: usize,
    /// Silent cap on `limit` for `/rest/api/space` (the real value is unknown).
    pub space_page_cap: usize,
    /// `_links.next` = `start + requested limit` (the real bug) instead of `start + returned`.
    pub next_link_from_requested_limit: bool,
    /// CONFSERVER-95272/95312: what `/rest/api/space` does past the end.
    pub space_overpaging: SpaceOverpaging,
    /// Whether `/rest/api/space` without `status` includes archived spaces
    /// (the reference sync against 8.5 shows it does not).
    pub archived_spaces_in_default_list: bool,
    pub space_visibility: SpaceVisibility,
    /// Group member reads need admin; others get `401` with the XML body (CONFSERVER-98582).
    pub member_read_requires_admin: bool,
    /// Whether `/rest/api/user/list` exists (its first release is not pinned down).
    pub user_list_enabled: bool,
    /// What JSON-RPC reports as `userName` for a deleted user's key.
    pub unknown_user_rpc_name: UnknownUserRpcName,
    /// What `/rest/api/user?key=` answers for a deleted user's key.
    pub unknown_user_lookup: UnknownUserLookup,
    /// Spelling of `status` under `expand=status`.
    pub user_status_style: UserStatusStyle,
    /// Status of the space-permission REST API for callers who are not space
    /// admins (CONFSERVER-99908: `500` instead of `403`).
    pub rest_permission_denied_status: u16,
    /// `.../permissions/anonymous` answers `404` (seen on some 9.x builds).
    pub anonymous_permission_endpoint_missing: bool,
    /// Success status of REST permission grant/revoke/replace
    /// (docs/confluence-api-notes.md §6.3: "some 2xx").
    pub rest_permission_write_status: u16,
    /// HTTP status of a light-mode JSON-RPC error (full mode always answers 200).
    pub rpc_light_error_status: u16,
    /// Which JSON-RPC `remoteEntityName` wins when a user and a group share a name.
    pub rpc_entity_order: RpcEntityOrder,
    /// Status of JSON-RPC calls when the Remote API is disabled (401, 404 or 405 observed).
    pub remote_api_disabled_status: u16,
    /// After this many failed basic-auth logins a user is locked behind a CAPTCHA
    /// (`401`, `X-Seraph-LoginReason: AUTHENTICATION_DENIED`, even with the right password).
    pub login_attempts_before_captcha: Option<u32>,
    /// Send `Retry-After` of injected 503s as an HTTP-date instead of seconds.
    pub retry_after_http_date: bool,
}

impl Default for Quirks {
    fn default() -> Self {
        Self {
            page_cap: 200,
            space_page_cap: 100,
            next_link_from_requested_limit: true,
            space_overpaging: SpaceOverpaging::Off,
            archived_spaces_in_default_list: false,
            space_visibility: SpaceVisibility::AdminsSeeAll,
            member_read_requires_admin: true,
            user_list_enabled: true,
            unknown_user_rpc_name: UnknownUserRpcName::Username,
            unknown_user_lookup: UnknownUserLookup::UnknownType,
            user_status_style: UserStatusStyle::Enum,
            rest_permission_denied_status: 500,
            anonymous_permission_endpoint_missing: false,
            rest_permission_write_status: 204,
            rpc_light_error_status: 200,
            rpc_entity_order: RpcEntityOrder::UserFirst,
            remote_api_disabled_status: 404,
            login_attempts_before_captcha: None,
            retry_after_http_date: false,
        }
    }
}

/// `/rest/api/space` past the last result (fixed in 8.5.8, so off by default).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum SpaceOverpaging {
    /// An empty page without `next`.
    Off,
    /// The last page again, with a `next` link, for ever.
    RepeatLastPage,
    /// An empty page that still has a `next` link.
    EmptyPageWithNext,
}

/// Which spaces `/rest/api/space` shows a caller.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum SpaceVisibility {
    /// Confluence admins see every space; others those they can VIEWSPACE.
    /// The reference sync (8.5) listed spaces its admin had no VIEWSPACE on.
    AdminsSeeAll,
    /// Everyone, admins included, sees only spaces they can VIEWSPACE
    /// (docs/confluence-api-notes.md §5).
    ViewPermissionOnly,
}

/// `userName` of a deleted user's permission row over JSON-RPC
/// (docs/confluence-api-notes.md §6.2).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum UnknownUserRpcName {
    /// The name still mapped to the key (the reference sync shows `exporter`).
    Username,
    /// `null`, which looks like an anonymous row.
    Null,
    /// The raw user key.
    UserKey,
}

/// `/rest/api/user?key=` for a deleted user's key (docs/confluence-api-notes.md §2.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum UnknownUserLookup {
    /// `200` with `{"type":"unknown", ...}`.
    UnknownType,
    /// `404`.
    NotFound,
}

/// The JSON spelling of `expand=status` (docs/confluence-api-notes.md §2.5).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum UserStatusStyle {
    /// `CURRENT` / `DEACTIVATED` (the Java enum).
    Enum,
    /// `Active` / `Deactivated`.
    Words,
}

/// Lookup order of JSON-RPC `remoteEntityName` (docs/confluence-api-notes.md §6.2).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum RpcEntityOrder {
    UserFirst,
    GroupFirst,
}
