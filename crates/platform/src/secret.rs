//! Secrets: references in the config file (`{ env = "..." }`, `{ file = "..." }`)
//! and the loaded values, which can never be printed by accident. Every layer
//! (config, Confluence client, ConductorOne client) passes secrets as [`Secret`].

use std::fmt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

/// Where a secret comes from, as written in the config file.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct SecretRef {
    #[serde(skip_serializing_if = "Option::is_none")]
    env: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    file: Option<PathBuf>,
}

impl SecretRef {
    /// `{ env = "VAR" }`.
    pub fn from_env(var: &str) -> Self {
        Self {
            env: Some(var.to_owned()),
            file: None,
        }
    }

    /// `{ file = "PATH" }`.
    pub fn from_file(path: PathBuf) -> Self {
        Self {
            env: None,
            file: Some(path),
        }
    }

    /// The environment variable this reference names, if it names one.
    pub fn env_var(&self) -> Option<&str> {
        self.env.as_deref()
    }

    /// Reads the secret. `base_dir` anchors relative file paths (the config file's directory).
    /// The error never contains the secret, only where it was looked for.
    pub fn load(&self, base_dir: &Path) -> Result<Secret, String> {
        match (&self.env, &self.file) {
            (Some(var), None) => match std::env::var(var) {
                Ok(value) if !value.trim().is_empty() => Ok(Secret::new(value.trim().to_owned())),
                Ok(_) => Err(format!("environment variable {var} is empty")),
                Err(_) => Err(format!(
                    "environment variable {var} is not set; export it or use {{ file = \"...\" }}"
                )),
            },
            (None, Some(path)) => {
                let path = resolve_path(base_dir, path);
                let value =
                    crate::fs::read_small_file(&path, MAX_SECRET_FILE_BYTES).and_then(|bytes| {
                        String::from_utf8(bytes).map_err(|_| {
                            std::io::Error::new(
                                std::io::ErrorKind::InvalidData,
                                "it is not UTF-8 text",
                            )
                        })
                    });
                match value {
                    Ok(value) if !value.trim().is_empty() => {
                        Ok(Secret::new(value.trim().to_owned()))
                    }
                    Ok(_) => Err(format!("secret file {} is empty", path.display())),
                    Err(err) => Err(format!("cannot read secret file {}: {err}", path.display())),
                }
            }
            _ => Err(
                "a secret must be exactly one of { env = \"VAR\" } or { file = \"PATH\" }".into(),
            ),
        }
    }
}

/// Tokens, passwords and ConductorOne's JSON credentials are a few KiB at most.
const MAX_SECRET_FILE_BYTES: u64 = 64 * 1024;

/// A loaded secret value. `Debug` and `Display` print `[redacted]`; the value
/// is reachable only through [`Secret::expose`], which makes every use visible,
/// and its memory is overwritten with zeros when the secret is dropped.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(Zeroizing<String>);

impl Secret {
    pub fn new(value: String) -> Self {
        Self(Zeroizing::new(value))
    }

    pub fn expose(&self) -> &str {
        self.0.as_str()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

pub fn resolve_path(base_dir: &Path, path: &Path) -> PathBuf {
    if path.is_absolute() {
        path.to_owned()
    } else {
        base_dir.join(path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_never_formats_its_value() {
        let secret = Secret::new("hunter2".into());
        assert_eq!(format!("{secret}"), "[redacted]");
        assert_eq!(format!("{secret:?}"), "[redacted]");
        assert_eq!(secret.expose(), "hunter2");
    }

    #[test]
    fn file_secret_is_trimmed_and_relative_to_base_dir() {
        let dir = std::env::temp_dir().join(format!("hub-secret-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("pat"), "abc123\n").unwrap();
        let reference = SecretRef {
            env: None,
            file: Some("pat".into()),
        };
        assert_eq!(reference.load(&dir).unwrap().expose(), "abc123");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn missing_secret_error_names_the_source_not_the_value() {
        let reference = SecretRef {
            env: Some("HUB_TEST_SURELY_UNSET_VAR".into()),
            file: None,
        };
        let err = reference.load(Path::new("/")).unwrap_err();
        assert!(err.contains("HUB_TEST_SURELY_UNSET_VAR"), "{err}");
    }
}
