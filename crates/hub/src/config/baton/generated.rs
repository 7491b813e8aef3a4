//! Hub TOML written by the program (`config from-env`, single-connector
//! mode): serde structs serialized by `toml`, so quoting and escaping are the
//! library's, and the output parses back into the same config.

use std::path::PathBuf;

use serde::Serialize;

use platform::secret::SecretRef;

/// A config file: an optional `[hub]` table and the `[[instance]]` tables.
#[derive(Debug, Default, Serialize)]
pub struct GeneratedConfig {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hub: Option<GeneratedHub>,
    pub instance: Vec<GeneratedInstance>,
}

impl GeneratedConfig {
    pub fn to_toml(&self) -> Result<String, toml::ser::Error> {
        toml::to_string(self)
    }
}

#[derive(Debug, Serialize)]
pub struct GeneratedHub {
    pub data_dir: PathBuf,
    pub admin_listen: String,
}

/// One `[[instance]]`, with secrets as references only.
#[derive(Debug, Serialize)]
pub struct GeneratedInstance {
    pub id: String,
    pub base_url: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token: Option<SecretRef>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub password: Option<SecretRef>,
    pub provisioning: bool,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub skip_full_sync: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub task_concurrency: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub conductorone: Option<GeneratedConductorOne>,
}

#[derive(Debug, Serialize)]
pub struct GeneratedConductorOne {
    pub client_id: String,
    pub client_secret: SecretRef,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub host_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub api_host: Option<String>,
}
