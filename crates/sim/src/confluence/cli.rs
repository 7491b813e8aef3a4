//! `confluence-hub sim confluence`: the simulator as a process. Prints
//! `listening on http://127.0.0.1:PORT` once it accepts connections, then
//! serves until SIGINT or SIGTERM.

use std::io::Write;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;

use super::dataset::Dataset;
use super::faults::Faults;
use super::generator::GenerateOptions;
use super::options::{
    DEFAULT_ADMIN_TOKEN, Quirks, RateLimit, RpcEntityOrder, SimOptions, SpaceOverpaging,
    SpaceVisibility, UnknownUserLookup, UnknownUserRpcName, UserStatusStyle,
};
use super::server::ConfluenceSim;
use super::version::SimVersion;

/// `confluence-hub sim confluence` arguments. Groups are boxed so the CLI's
/// command enum stays small.
#[derive(Debug, clap::Args)]
pub struct CliArgs {
    /// Port to listen on at 127.0.0.1; 0 picks a free one.
    #[arg(long, default_value_t = 0)]
    pub port: u16,
    /// Confluence release to imitate (8.5, 9.2 or 10.2); decides which endpoints exist.
    #[arg(long, default_value = "10.2")]
    pub version: SimVersion,
    #[command(flatten, next_help_heading = "Data")]
    pub data: Box<DataArgs>,
    #[command(flatten, next_help_heading = "Credentials")]
    pub credentials: Box<CredentialArgs>,
    #[command(flatten, next_help_heading = "Rate limiting")]
    pub rate_limiting: Box<RateLimitArgs>,
    #[command(flatten, next_help_heading = "Fault injection")]
    pub faults: Box<FaultArgs>,
    #[command(flatten, next_help_heading = "Instance settings")]
    pub instance: Box<InstanceArgs>,
    #[command(flatten, next_help_heading = "Quirks the API doc leaves open")]
    pub quirks: Box<QuirkArgs>,
}

#[derive(Debug, clap::Args)]
pub struct DataArgs {
    /// Seed of the generated dataset (same seed, same data).
    #[arg(long, default_value_t = 1, conflicts_with = "dataset")]
    pub seed: u64,
    /// Users to generate, `admin` included.
    #[arg(long, default_value_t = 200, conflicts_with = "dataset")]
    pub users: usize,
    /// Groups to generate, `confluence-administrators` and `confluence-users` included.
    #[arg(long, default_value_t = 20, conflicts_with = "dataset")]
    pub groups: usize,
    /// Spaces to generate, about half of them personal.
    #[arg(long, default_value_t = 20, conflicts_with = "dataset")]
    pub spaces: usize,
    /// Serve this dataset JSON file (the fixtures format) instead of generating one.
    #[arg(long, value_name = "FILE")]
    pub dataset: Option<PathBuf>,
}

#[derive(Debug, clap::Args)]
pub struct CredentialArgs {
    /// Personal access token of the `admin` user (send as `Authorization: Bearer T`).
    #[arg(long, value_name = "T", default_value = DEFAULT_ADMIN_TOKEN)]
    pub token: String,
    /// Another personal access token, as USERNAME=TOKEN (repeatable).
    #[arg(long, value_name = "USERNAME=TOKEN")]
    pub user_token: Vec<String>,
    /// A basic-auth password, as USERNAME=PASSWORD (repeatable; generated `admin` has password `admin`).
    #[arg(long, value_name = "USERNAME=PASSWORD")]
    pub password: Vec<String>,
}

#[derive(Debug, clap::Args)]
pub struct RateLimitArgs {
    /// Turn on Confluence DC rate limiting (a token bucket per user).
    #[arg(long)]
    pub rate_limit: bool,
    /// Bucket size ("Max requests").
    #[arg(long, default_value_t = RateLimit::default().capacity)]
    pub rl_capacity: u32,
    /// Tokens added per interval ("Requests allowed").
    #[arg(long, default_value_t = RateLimit::default().fill_rate)]
    pub rl_fill_rate: u32,
    /// Refill interval in seconds.
    #[arg(long, default_value_t = 1)]
    pub rl_interval_secs: u64,
    /// A username exempt from rate limiting (repeatable).
    #[arg(long, value_name = "USERNAME")]
    pub rl_exempt: Vec<String>,
}

#[derive(Debug, clap::Args)]
pub struct FaultArgs {
    /// Seed of fault injection (same seed and request sequence, same faults).
    #[arg(long, default_value_t = 0)]
    pub fault_seed: u64,
    /// Latency added to every request, in milliseconds.
    #[arg(long, default_value_t = 0)]
    pub latency_ms: u64,
    /// Requests served at once before latency grows with load: with n > knee
    /// in flight, each waits latency × n / knee (0: no knee).
    #[arg(long, default_value_t = 0)]
    pub knee: usize,
    /// Share of requests answered `503` with `Retry-After` (0.0 to 1.0).
    #[arg(long, default_value_t = 0.0)]
    pub fault_503_rate: f64,
    /// Share of requests whose connection is reset without a response.
    #[arg(long, default_value_t = 0.0)]
    pub fault_reset_rate: f64,
    /// Share of responses whose body is cut at a random point (status 200 kept).
    #[arg(long, visible_alias = "fault-truncate-rate", default_value_t = 0.0)]
    pub truncated_rate: f64,
    /// Share of requests answered `200` with a proxy's HTML error page.
    #[arg(long, default_value_t = 0.0)]
    pub html_rate: f64,
    /// Share of JSON-RPC calls answered with a `200` HTML websudo page.
    #[arg(long, default_value_t = 0.0)]
    pub fault_html_rpc_rate: f64,
    /// `Retry-After` seconds of injected 503s.
    #[arg(long, default_value_t = 1)]
    pub fault_retry_after: u64,
    /// Send `Retry-After` of injected 503s as an HTTP-date.
    #[arg(long)]
    pub retry_after_http_date: bool,
}

#[derive(Debug, clap::Args)]
pub struct InstanceArgs {
    /// Hide email addresses (the global "Email address visibility" setting).
    #[arg(long)]
    pub hide_emails: bool,
    /// Switch the Remote API (JSON-RPC) off.
    #[arg(long)]
    pub remote_api_disabled: bool,
    /// HTTP status of JSON-RPC calls while the Remote API is off (401, 404 or 405 are observed).
    #[arg(long, default_value_t = 404)]
    pub remote_api_disabled_status: u16,
    /// Licence seats; creating users beyond them answers `402`.
    #[arg(long)]
    pub licensed_seats: Option<usize>,
    /// Lock a user behind a CAPTCHA after this many failed basic-auth logins.
    #[arg(long, value_name = "N")]
    pub captcha_after: Option<u32>,
    /// Worker threads of the simulator's runtime.
    #[arg(long, default_value_t = 2)]
    pub worker_threads: usize,
}

#[derive(Debug, clap::Args)]
pub struct QuirkArgs {
    /// Silent cap on `limit` for users, groups, members and memberof.
    #[arg(long, default_value_t = 200)]
    pub page_cap: usize,
    /// Silent cap on `limit` for `/rest/api/space`.
    #[arg(long, default_value_t = 100)]
    pub space_page_cap: usize,
    /// Compute `_links.next` from the returned count (without the real server's bug).
    #[arg(long)]
    pub next_link_from_returned_count: bool,
    /// What `/rest/api/space` does past the end (CONFSERVER-95272).
    #[arg(long, value_enum, default_value = "off")]
    pub space_overpaging: SpaceOverpaging,
    /// List archived spaces when `/rest/api/space` is called without `status`.
    #[arg(long)]
    pub archived_spaces_in_default_list: bool,
    /// Which spaces callers see.
    #[arg(long, value_enum, default_value = "admins-see-all")]
    pub space_visibility: SpaceVisibility,
    /// Let any licensed user read group members (default: admins only, others get 401 XML).
    #[arg(long)]
    pub open_member_reads: bool,
    /// Remove `/rest/api/user/list` (as on releases that predate it).
    #[arg(long)]
    pub no_user_list: bool,
    /// What JSON-RPC reports as `userName` for a deleted user's key.
    #[arg(long, value_enum, default_value = "username")]
    pub unknown_user_rpc_name: UnknownUserRpcName,
    /// What `/rest/api/user?key=` answers for a deleted user's key.
    #[arg(long, value_enum, default_value = "unknown-type")]
    pub unknown_user_lookup: UnknownUserLookup,
    /// Spelling of `status` under `expand=status`.
    #[arg(long, value_enum, default_value = "enum")]
    pub user_status_style: UserStatusStyle,
    /// Status of the REST space-permission API for non-space-admins (CONFSERVER-99908: 500).
    #[arg(long, default_value_t = 500)]
    pub rest_permission_denied_status: u16,
    /// Make `.../permissions/anonymous` answer 404, as some 9.x builds do.
    #[arg(long)]
    pub anonymous_permission_endpoint_missing: bool,
    /// Success status of REST permission grant/revoke/replace.
    #[arg(long, default_value_t = 204)]
    pub rest_permission_write_status: u16,
    /// HTTP status of light-mode JSON-RPC errors.
    #[arg(long, default_value_t = 200)]
    pub rpc_light_error_status: u16,
    /// Whether JSON-RPC resolves `remoteEntityName` as a user or a group first.
    #[arg(long, value_enum, default_value = "user-first")]
    pub rpc_entity_order: RpcEntityOrder,
}

/// Runs the simulator until the process is told to stop.
pub fn run_cli(args: CliArgs) -> anyhow::Result<()> {
    let port = args.port;
    let options = args.into_options()?;
    let sim = ConfluenceSim::start_on(options, SocketAddr::from((Ipv4Addr::LOCALHOST, port)))
        .with_context(|| format!("cannot start the Confluence simulator on port {port}"))?;
    let mut stdout = std::io::stdout().lock();
    writeln!(stdout, "listening on {}", sim.base_url())?;
    stdout.flush()?;
    drop(stdout);
    crate::serve_until_terminated()?;
    sim.shutdown();
    Ok(())
}

fn pairs(values: &[String], flag: &str) -> anyhow::Result<Vec<(String, String)>> {
    values
        .iter()
        .map(|value| {
            value
                .split_once('=')
                .map(|(left, right)| (left.to_owned(), right.to_owned()))
                .with_context(|| format!("--{flag} expects USERNAME=VALUE, got {value:?}"))
        })
        .collect()
}

impl CliArgs {
    fn into_options(self) -> anyhow::Result<SimOptions> {
        let CliArgs {
            port: _,
            version,
            data,
            credentials,
            rate_limiting,
            faults,
            instance,
            quirks,
        } = self;
        let dataset = match &data.dataset {
            Some(path) => Dataset::from_json_file(path)?,
            None => Dataset::generate(&GenerateOptions {
                seed: data.seed,
                users: data.users,
                groups: data.groups,
                spaces: data.spaces,
            }),
        };
        let mut options = SimOptions::new(version, dataset);
        options.admin_token = credentials.token;
        options.tokens = pairs(&credentials.user_token, "user-token")?
            .into_iter()
            .map(|(user, token)| (token, user))
            .collect();
        options.passwords = pairs(&credentials.password, "password")?;
        options.rate_limit = rate_limiting.rate_limit.then_some(RateLimit {
            capacity: rate_limiting.rl_capacity,
            fill_rate: rate_limiting.rl_fill_rate,
            interval: Duration::from_secs(rate_limiting.rl_interval_secs.max(1)),
        });
        options.rate_limit_exempt = rate_limiting.rl_exempt;
        options.faults = faults.to_faults()?;
        options.email_visible = !instance.hide_emails;
        options.remote_api_enabled = !instance.remote_api_disabled;
        options.licensed_seats = instance.licensed_seats;
        options.worker_threads = instance.worker_threads;
        options.quirks = Quirks {
            page_cap: quirks.page_cap.max(1),
            space_page_cap: quirks.space_page_cap.max(1),
            next_link_from_requested_limit: !quirks.next_link_from_returned_count,
            space_overpaging: quirks.space_overpaging,
            archived_spaces_in_default_list: quirks.archived_spaces_in_default_list,
            space_visibility: quirks.space_visibility,
            member_read_requires_admin: !quirks.open_member_reads,
            user_list_enabled: !quirks.no_user_list,
            unknown_user_rpc_name: quirks.unknown_user_rpc_name,
            unknown_user_lookup: quirks.unknown_user_lookup,
            user_status_style: quirks.user_status_style,
            rest_permission_denied_status: quirks.rest_permission_denied_status,
            anonymous_permission_endpoint_missing: quirks.anonymous_permission_endpoint_missing,
            rest_permission_write_status: quirks.rest_permission_write_status,
            rpc_light_error_status: quirks.rpc_light_error_status,
            rpc_entity_order: quirks.rpc_entity_order,
            remote_api_disabled_status: instance.remote_api_disabled_status,
            login_attempts_before_captcha: instance.captcha_after,
            retry_after_http_date: faults.retry_after_http_date,
        };
        Ok(options)
    }
}

impl FaultArgs {
    fn to_faults(&self) -> anyhow::Result<Faults> {
        for (name, rate) in [
            ("fault-503-rate", self.fault_503_rate),
            ("fault-reset-rate", self.fault_reset_rate),
            ("truncated-rate", self.truncated_rate),
            ("html-rate", self.html_rate),
            ("fault-html-rpc-rate", self.fault_html_rpc_rate),
        ] {
            anyhow::ensure!(
                (0.0..=1.0).contains(&rate),
                "--{name} must be between 0 and 1, got {rate}"
            );
        }
        Ok(Faults {
            seed: self.fault_seed,
            latency: Duration::from_millis(self.latency_ms),
            status_503_rate: self.fault_503_rate,
            reset_rate: self.fault_reset_rate,
            truncated_rate: self.truncated_rate,
            html_rate: self.html_rate,
            html_rpc_rate: self.fault_html_rpc_rate,
            retry_after_secs: self.fault_retry_after,
            knee: self.knee,
            ..Faults::default()
        })
    }
}
