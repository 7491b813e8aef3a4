//! The reference connector's interface: the flags and `BATON_*` variables of
//! `baton-confluence-datacenter`, validated as it validates them, and turned
//! into hub TOML. Two commands use it: `run` without a config file (one
//! tenant from the environment, so our image drops into the reference's
//! Deployment) and `config from-env` (many such environments into one hub
//! config). Secrets stay references in the TOML; their values travel only as
//! [`Secret`]s.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::path::{Path, PathBuf};

pub use self::generated::{
    GeneratedConductorOne, GeneratedConfig, GeneratedHub, GeneratedInstance,
};
use super::{HubConfig, Problem, TenantId};
use platform::secret::{Secret, SecretRef};

mod generated;

/// One setting of the reference interface: its flag (if it has one) and its variable.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Setting {
    pub flag: Option<&'static str>,
    pub var: &'static str,
}

impl fmt::Display for Setting {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.flag {
            Some(flag) => write!(f, "{flag} ({})", self.var),
            None => f.write_str(self.var),
        }
    }
}

const fn flag(flag: &'static str, var: &'static str) -> Setting {
    Setting {
        flag: Some(flag),
        var,
    }
}

pub const HOSTNAME: Setting = flag("--hostname", "BATON_HOSTNAME");
pub const ACCESS_TOKEN: Setting = flag("--access-token", "BATON_ACCESS_TOKEN");
pub const USERNAME: Setting = flag("--username", "BATON_USERNAME");
pub const PASSWORD: Setting = flag("--password", "BATON_PASSWORD");
pub const CLIENT_ID: Setting = flag("--client-id", "BATON_CLIENT_ID");
pub const CLIENT_SECRET: Setting = flag("--client-secret", "BATON_CLIENT_SECRET");
pub const PROVISIONING: Setting = flag("--provisioning", "BATON_PROVISIONING");
pub const SKIP_FULL_SYNC: Setting = flag("--skip-full-sync", "BATON_SKIP_FULL_SYNC");
pub const TASK_CONCURRENCY: Setting = flag("--task-concurrency", "BATON_TASK_CONCURRENCY");
pub const FILE: Setting = flag("--file", "BATON_FILE");
pub const LOG_LEVEL: Setting = flag("--log-level", "BATON_LOG_LEVEL");
pub const LOG_FORMAT: Setting = flag("--log-format", "BATON_LOG_FORMAT");
pub const HOST_ID: Setting = Setting {
    flag: None,
    var: "BATON_HOST_ID",
};
pub const C1_API_HOST: Setting = Setting {
    flag: None,
    var: "BATON_C1_API_HOST",
};

/// Settings of one tenant, whether the process runs it or `config from-env`
/// moves it into a hub config.
const TENANT_SETTINGS: [Setting; 11] = [
    HOSTNAME,
    ACCESS_TOKEN,
    USERNAME,
    PASSWORD,
    CLIENT_ID,
    CLIENT_SECRET,
    PROVISIONING,
    SKIP_FULL_SYNC,
    TASK_CONCURRENCY,
    HOST_ID,
    C1_API_HOST,
];

/// Settings of the process only: the hub has its own for these.
const PROCESS_SETTINGS: [Setting; 3] = [FILE, LOG_LEVEL, LOG_FORMAT];

/// Why an unknown `BATON_*` variable is left alone.
pub const UNKNOWN_VAR: &str =
    "not a setting of the Confluence Data Center connector the hub supports";

/// Whether `name` is a `BATON_*` variable that no setting reads: a flag of
/// the Baton SDK this hub does not offer, or a typo.
pub fn is_unknown_var(name: &str) -> bool {
    name.starts_with("BATON_")
        && !TENANT_SETTINGS
            .iter()
            .chain(&PROCESS_SETTINGS)
            .any(|setting| setting.var == name)
}

/// The names of this process's unknown `BATON_*` variables, sorted.
pub fn unknown_vars_in_env() -> Vec<String> {
    let mut names: Vec<String> = std::env::vars_os()
        .filter_map(|(name, _)| name.into_string().ok())
        .filter(|name| is_unknown_var(name))
        .collect();
    names.sort();
    names
}

/// One connector's settings as the reference reads them. Empty values count
/// as unset, as they do for the reference.
#[derive(Clone, Debug, Default)]
pub struct BatonSettings {
    pub hostname: Option<String>,
    pub access_token: Option<Secret>,
    pub username: Option<String>,
    pub password: Option<Secret>,
    pub client_id: Option<String>,
    pub client_secret: Option<Secret>,
    pub provisioning: bool,
    pub skip_full_sync: bool,
    /// ConductorOne tasks run at once; the range is the config validator's.
    pub task_concurrency: Option<u32>,
    pub host_id: Option<String>,
    pub c1_api_host: Option<String>,
}

/// A `BATON_*` variable that `config from-env` leaves out, and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NotCarried {
    pub var: String,
    pub why: &'static str,
}

/// Raw text of one setting: `None` and blank both mean unset.
pub fn present(value: Option<String>) -> Option<String> {
    value
        .map(|value| value.trim().to_owned())
        .filter(|value| !value.is_empty())
}

/// A boolean as Go's `strconv.ParseBool` (which Baton's flags use) reads it.
/// The error names the setting, never a secret: booleans are not secret.
pub fn parse_bool(setting: Setting, value: Option<String>) -> Result<bool, String> {
    match present(value).as_deref() {
        None => Ok(false),
        Some("1" | "t" | "T" | "true" | "TRUE" | "True") => Ok(true),
        Some("0" | "f" | "F" | "false" | "FALSE" | "False") => Ok(false),
        Some(other) => Err(format!(
            "{setting}: `{other}` is not a boolean; use true or false"
        )),
    }
}

impl BatonSettings {
    /// Reads one connector's variables, e.g. from an env file. Variables of
    /// the process (`BATON_FILE`, `BATON_LOG_*`) and unknown `BATON_*` ones
    /// are returned by name, with the reason, so the caller can say they were
    /// not carried over.
    pub fn from_vars(
        vars: &BTreeMap<String, String>,
    ) -> Result<(Self, Vec<NotCarried>), Vec<String>> {
        let get = |setting: Setting| vars.get(setting.var).cloned();
        let mut problems = Vec::new();
        let mut boolean = |setting: Setting| {
            parse_bool(setting, get(setting)).unwrap_or_else(|message| {
                problems.push(message);
                false
            })
        };
        let provisioning = boolean(PROVISIONING);
        let skip_full_sync = boolean(SKIP_FULL_SYNC);
        let task_concurrency =
            present(get(TASK_CONCURRENCY)).and_then(|text| match text.parse::<u32>() {
                Ok(number) => Some(number),
                Err(_) => {
                    problems.push(format!(
                        "{TASK_CONCURRENCY}: `{text}` is not a whole number; use 1 to 100"
                    ));
                    None
                }
            });
        let settings = Self {
            hostname: present(get(HOSTNAME)),
            access_token: present(get(ACCESS_TOKEN)).map(Secret::new),
            username: present(get(USERNAME)),
            password: present(get(PASSWORD)).map(Secret::new),
            client_id: present(get(CLIENT_ID)),
            client_secret: present(get(CLIENT_SECRET)).map(Secret::new),
            provisioning,
            skip_full_sync,
            task_concurrency,
            host_id: present(get(HOST_ID)),
            c1_api_host: present(get(C1_API_HOST)),
        };
        let not_carried = vars
            .keys()
            .filter(|name| name.starts_with("BATON_"))
            .filter(|name| !TENANT_SETTINGS.iter().any(|s| s.var == name.as_str()))
            .map(|name| {
                let why = if is_unknown_var(name) {
                    UNKNOWN_VAR
                } else {
                    "the hub's own logging and data dir apply"
                };
                NotCarried {
                    var: name.clone(),
                    why,
                }
            })
            .collect();
        if problems.is_empty() {
            Ok((settings, not_carried))
        } else {
            Err(problems)
        }
    }

    /// The reference's validation, with messages that name the flag and the
    /// variable at fault.
    pub fn problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        if self.hostname.is_none() {
            problems.push(format!(
                "{HOSTNAME} is required: the base URL of the Confluence Data Center instance, e.g. https://confluence.example.com"
            ));
        }
        if self.access_token.is_none() {
            match (&self.username, &self.password) {
                (None, None) => problems.push(format!(
                    "give {ACCESS_TOKEN} (a personal access token), or {USERNAME} with {PASSWORD}"
                )),
                (None, Some(_)) => problems.push(format!("{USERNAME} is required with {PASSWORD}")),
                (Some(_), None) => problems.push(format!("{PASSWORD} is required with {USERNAME}")),
                (Some(_), Some(_)) => {}
            }
        }
        if self.client_id.is_some() && self.client_secret.is_none() {
            problems.push(format!(
                "{CLIENT_SECRET} is required with {CLIENT_ID} (service mode)"
            ));
        }
        problems
    }

    /// Things that are valid but worth a warning.
    pub fn notes(&self) -> Vec<String> {
        let mut notes = Vec::new();
        if self.access_token.is_some() && (self.username.is_some() || self.password.is_some()) {
            notes.push(format!(
                "{ACCESS_TOKEN} is used; {USERNAME} and {PASSWORD} are ignored"
            ));
        }
        if self.client_id.is_none() && self.client_secret.is_some() {
            notes.push(format!(
                "{CLIENT_SECRET} is ignored without {CLIENT_ID}: this is a one-shot sync"
            ));
        }
        notes
    }

    /// Service mode, as the reference decides it: a client id is set.
    pub fn service_mode(&self) -> bool {
        self.client_id.is_some()
    }

    /// The Confluence base URL: the hostname, with `https://` when it has no scheme.
    pub fn base_url(&self) -> Option<String> {
        let hostname = self.hostname.as_deref()?;
        Some(if hostname.contains("://") {
            hostname.to_owned()
        } else {
            format!("https://{hostname}")
        })
    }

    /// A tenant id made from the Confluence host (and port), such as
    /// `confluence-example-com` for https://confluence.example.com.
    pub fn default_tenant_id(&self) -> String {
        let url = self.base_url().unwrap_or_default();
        let authority = url
            .split_once("://")
            .map_or(url.as_str(), |(_, rest)| rest)
            .split('/')
            .next()
            .unwrap_or_default()
            .rsplit('@')
            .next()
            .unwrap_or_default()
            .to_owned();
        tenant_id_from(&authority).unwrap_or_else(|| "confluence".to_owned())
    }

    /// The `[[instance]]` table for this connector, with secrets referenced
    /// as `secrets` says. Validate with [`BatonSettings::problems`] first.
    pub fn instance(&self, id: &str, secrets: &SecretStyle) -> GeneratedInstance {
        let (token, username, password) = if self.access_token.is_some() {
            (Some(secrets.reference(id, ACCESS_TOKEN)), None, None)
        } else {
            let username = self.username.clone().unwrap_or_default();
            (None, Some(username), Some(secrets.reference(id, PASSWORD)))
        };
        GeneratedInstance {
            id: id.to_owned(),
            base_url: self.base_url().unwrap_or_default(),
            token,
            username,
            password,
            provisioning: self.provisioning,
            skip_full_sync: self.skip_full_sync,
            task_concurrency: self.task_concurrency,
            conductorone: self
                .client_id
                .as_ref()
                .map(|client_id| GeneratedConductorOne {
                    client_id: client_id.clone(),
                    client_secret: secrets.reference(id, CLIENT_SECRET),
                    host_id: self.host_id.clone(),
                    api_host: self.c1_api_host.clone(),
                }),
        }
    }

    /// The secrets the generated TOML references: the token (or else the
    /// password) and, in service mode, the client secret.
    pub fn secret_settings(&self) -> Vec<Setting> {
        let mut settings = vec![if self.access_token.is_some() {
            ACCESS_TOKEN
        } else {
            PASSWORD
        }];
        if self.client_id.is_some() {
            settings.push(CLIENT_SECRET);
        }
        settings
    }

    /// The secret values this connector was given, keyed by the variable
    /// names [`SecretStyle::Baton`] references.
    pub fn given_secrets(&self) -> HashMap<String, Secret> {
        [
            (ACCESS_TOKEN, &self.access_token),
            (PASSWORD, &self.password),
            (CLIENT_SECRET, &self.client_secret),
        ]
        .into_iter()
        .filter_map(|(setting, value)| Some((setting.var.to_owned(), value.clone()?)))
        .collect()
    }

    /// A whole one-tenant hub config for this connector, validated by the
    /// same code as a config file; `hub` holds the `[hub]` keys, if any.
    pub fn hub_config(
        &self,
        id: &str,
        hub: Option<GeneratedHub>,
    ) -> Result<HubConfig, Vec<String>> {
        let problems = self.problems();
        if !problems.is_empty() {
            return Err(problems);
        }
        let config = GeneratedConfig {
            hub,
            instance: vec![self.instance(id, &SecretStyle::Baton)],
        };
        let text = config
            .to_toml()
            .map_err(|err| vec![format!("cannot write the hub config: {err}")])?;
        HubConfig::from_toml_with_values(&text, Path::new(SOURCE), &self.given_secrets())
            .map_err(|err| err.problems().iter().map(describe).collect())
    }
}

/// What a hub built from the environment calls its config source.
pub const SOURCE: &str = "BATON_* environment";

/// How generated TOML refers to a tenant's secrets.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SecretStyle {
    /// `{ env = "BATON_ACCESS_TOKEN" }`: the reference's own variables, for
    /// a process that serves that one tenant.
    Baton,
    /// `{ env = "ACME_BATON_ACCESS_TOKEN" }`: the variable prefixed with the
    /// tenant id in upper case, so many tenants share one environment.
    PrefixedEnv,
    /// `{ file = "<dir>/acme/BATON_ACCESS_TOKEN" }`: the tenant's existing
    /// Kubernetes Secret mounted as a directory, one file per key.
    Files(PathBuf),
}

impl SecretStyle {
    /// Where the secret `setting` of instance `id` is read from, in words.
    pub fn location(&self, id: &str, setting: Setting) -> String {
        match self {
            Self::Baton => format!("variable {}", setting.var),
            Self::PrefixedEnv => format!("variable {}_{}", env_prefix(id), setting.var),
            Self::Files(dir) => format!("file {}", dir.join(id).join(setting.var).display()),
        }
    }

    fn reference(&self, id: &str, setting: Setting) -> SecretRef {
        match self {
            Self::Baton => SecretRef::from_env(setting.var),
            Self::PrefixedEnv => {
                SecretRef::from_env(&format!("{}_{}", env_prefix(id), setting.var))
            }
            Self::Files(dir) => SecretRef::from_file(dir.join(id).join(setting.var)),
        }
    }
}

/// `acme-prod` → `ACME_PROD`.
pub fn env_prefix(id: &str) -> String {
    id.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_uppercase()
            } else {
                '_'
            }
        })
        .collect()
}

/// A valid tenant id made from free text (a host name, a file name), or
/// `None` when nothing usable is left.
pub fn tenant_id_from(text: &str) -> Option<String> {
    let mut id = String::new();
    for c in text.chars() {
        let c = c.to_ascii_lowercase();
        if c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' {
            id.push(c);
        } else if !id.is_empty() && !id.ends_with('-') {
            id.push('-');
        }
    }
    id.truncate(63);
    let id = id.trim_end_matches('-').to_owned();
    TenantId::parse(&id).ok().map(|_| id)
}

/// A config problem in the words of the reference interface: the flag and
/// variable behind the key, when there is one.
pub fn describe(problem: &Problem) -> String {
    let setting = match problem.key.as_str() {
        "base_url" => Some(HOSTNAME),
        "token" => Some(ACCESS_TOKEN),
        "username" => Some(USERNAME),
        "password" => Some(PASSWORD),
        "conductorone.client_id" => Some(CLIENT_ID),
        "conductorone.client_secret" => Some(CLIENT_SECRET),
        "conductorone.api_host" => Some(C1_API_HOST),
        "conductorone.host_id" => Some(HOST_ID),
        "task_concurrency" => Some(TASK_CONCURRENCY),
        _ => None,
    };
    match setting {
        Some(setting) => format!("{setting}: {}", problem.message),
        None if problem.key.is_empty() => problem.message.clone(),
        None => format!("`{}`: {}", problem.key, problem.message),
    }
}

/// Parses an env file (`KEY=VALUE` lines, as `docker --env-file` and
/// `kubectl create secret --from-env-file` read them, plus an optional
/// `export ` and surrounding quotes). Errors give the line number only: a
/// malformed line may hold a secret.
pub fn parse_env_file(text: &str) -> Result<BTreeMap<String, String>, String> {
    let mut vars = BTreeMap::new();
    for (index, line) in text.lines().enumerate() {
        let line = line.trim_start();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let line = line.strip_prefix("export ").unwrap_or(line);
        let Some((key, value)) = line.split_once('=') else {
            return Err(format!("line {}: expected KEY=VALUE", index + 1));
        };
        let key = key.trim();
        let valid_key = !key.is_empty()
            && key
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.' || c == '-');
        if !valid_key {
            return Err(format!(
                "line {}: `{key}` is not a variable name",
                index + 1
            ));
        }
        let value = value.trim();
        let value = ['"', '\'']
            .into_iter()
            .find_map(|q| value.strip_prefix(q).and_then(|rest| rest.strip_suffix(q)))
            .unwrap_or(value);
        vars.insert(key.to_owned(), value.to_owned());
    }
    Ok(vars)
}

#[cfg(test)]
mod tests;
