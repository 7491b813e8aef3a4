//! How a config problem is reported: located by line, tenant and key, and
//! worded so that no value from the file is ever repeated.

use std::fmt;
use std::path::PathBuf;

use serde::Deserialize;
use toml::Spanned;

use super::CONFIG_ENV;

/// A config problem, located as precisely as the input allows.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Problem {
    pub line: Option<usize>,
    pub tenant: Option<String>,
    pub key: String,
    pub message: String,
}

impl Problem {
    /// A file that does not fit the config's shape, reported like any other
    /// problem: the line, the tenant whose block it is in, the key, and what
    /// the key expects. serde's own message names the offending value
    /// (`invalid type: string "...", expected ...`), which may be a secret
    /// written inline by mistake, so only its expectation is kept.
    pub(super) fn from_toml(mut err: toml::de::Error, text: &str) -> Self {
        let offset = err.span().map(|span| span.start);
        // Without the input, the error's `Display` names the key path instead of quoting the line.
        err.set_input(None);
        let path = err
            .to_string()
            .lines()
            .find_map(|line| {
                line.strip_prefix("in `")?
                    .strip_suffix('`')
                    .map(str::to_owned)
            })
            .unwrap_or_default();
        let in_instance = path == "instance" || path.starts_with("instance.");
        let key = match path.strip_prefix("instance.") {
            Some(key) => key.to_owned(),
            None if path == "instance" => String::new(),
            None => path,
        };
        Self {
            line: offset.map(|offset| line_of(text, offset)),
            tenant: offset
                .filter(|_| in_instance)
                .and_then(|offset| tenant_at(text, offset)),
            key,
            message: expectation(err.message()),
        }
    }
}

/// What a value should have been, from a serde or TOML syntax message, with
/// the value itself left out.
fn expectation(message: &str) -> String {
    let message = message.trim();
    let names_only_keys = ["unknown field", "missing field", "duplicate"]
        .iter()
        .any(|prefix| message.starts_with(prefix));
    if names_only_keys {
        return message.to_owned();
    }
    // serde writes `invalid type: <value>, expected <what>` and `unknown
    // variant <value>, expected one of ...`: the expectation comes last and
    // never holds the value, so the last `, expected ` is a safe cut.
    let expected = match message.rfind(", expected ") {
        Some(cut) => &message[cut + 2..],
        None if message.contains("untagged enum InlineOrRef") => {
            return "expected a string, { env = \"VAR\" } or { file = \"PATH\" }".to_owned();
        }
        None if message.starts_with("invalid") || message.starts_with("unknown") => {
            return "is not a valid value here; see config/example.toml".to_owned();
        }
        None => return message.to_owned(),
    };
    expected.replace(
        "struct SecretRef",
        "a reference { env = \"VAR\" } or { file = \"PATH\" }, never the secret itself",
    )
}

/// The id of the `[[instance]]` block that holds `offset`, read leniently so
/// that it is found even when the block itself does not parse as one.
fn tenant_at(text: &str, offset: usize) -> Option<String> {
    #[derive(Deserialize)]
    struct Instances {
        #[serde(default)]
        instance: Vec<Spanned<toml::Table>>,
    }
    let instances: Instances = toml::from_str(text).ok()?;
    instances
        .instance
        .iter()
        .rev()
        .find(|block| block.span().start <= offset)
        .and_then(|block| block.get_ref().get("id")?.as_str().map(str::to_owned))
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(line) = self.line {
            write!(f, "line {line}: ")?;
        }
        if let Some(tenant) = &self.tenant {
            write!(f, "instance `{tenant}`: ")?;
        }
        if !self.key.is_empty() {
            write!(f, "key `{}`: ", self.key)?;
        }
        f.write_str(&self.message)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error(
        "no config file given: pass --config FILE or set {CONFIG_ENV} (see config/example.toml)"
    )]
    NoFile,
    #[error("cannot read config file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: {}", problems.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "))]
    Invalid {
        path: PathBuf,
        problems: Vec<Problem>,
    },
}

impl ConfigError {
    /// Every problem, for `/status` and for one-log-line-each reporting.
    pub fn problems(&self) -> Vec<Problem> {
        match self {
            Self::Invalid { problems, .. } => problems.clone(),
            other => vec![Problem {
                line: None,
                tenant: None,
                key: String::new(),
                message: other.to_string(),
            }],
        }
    }
}

pub(super) fn line_of(text: &str, offset: usize) -> usize {
    text[..offset.min(text.len())]
        .bytes()
        .filter(|&b| b == b'\n')
        .count()
        + 1
}
