//! Returning a secret to ConductorOne, which names where in each
//! `EncryptionConfig`: provider `baton/jwk/v1` with an Ed25519 public JWK. The
//! secret travels as an age file to that key (its `ssh-ed25519` recipient),
//! base64 text in `encrypted_bytes`, tagged with the key's RFC 7638
//! thumbprint. Nothing else ever sees the plaintext.

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use serde::Deserialize;

use super::age::{self, AgeError, Ed25519Recipient};
use baton::pb::c1::connector::v2::encryption_config::Config;
use baton::pb::c1::connector::v2::{EncryptedData, EncryptionConfig};
use conductorone::credentials::ed25519_jwk_thumbprint;
use platform::secret::Secret;

pub(super) const PROVIDER: &str = "baton/jwk/v1";

/// Why an encryption config cannot be used. Never quotes key material.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub(super) enum ConfigError {
    #[error(
        "encryption config {index} asks for provider `{provider}`; this connector supports only `baton/jwk/v1`"
    )]
    Provider { index: usize, provider: String },
    #[error("encryption config {index} carries no public key (jwk_public_key_config)")]
    NoKey { index: usize },
    #[error("encryption config {index}: the public key is not a JSON Web Key")]
    NotJwk { index: usize },
    #[error(
        "encryption config {index}: a `{kty}`/`{crv}` JWK is not supported; only Ed25519 (kty OKP, crv Ed25519) keys are"
    )]
    KeyType {
        index: usize,
        kty: String,
        crv: String,
    },
    #[error(
        "encryption config {index}: the Ed25519 key `x` is not 32 bytes of base64url, or not a valid curve point"
    )]
    BadKey { index: usize },
}

#[derive(Deserialize)]
struct PublicJwk {
    kty: String,
    #[serde(default)]
    crv: String,
    x: Option<String>,
}

/// One config, checked and ready to seal secrets with.
#[derive(Debug)]
pub(super) struct Sealer {
    recipient: Ed25519Recipient,
    key_id: String,
}

/// Checks every config up front, so nothing is created that could not be
/// returned.
pub(super) fn sealers(configs: &[EncryptionConfig]) -> Result<Vec<Sealer>, ConfigError> {
    configs
        .iter()
        .enumerate()
        .map(|(index, config)| Sealer::new(index, config))
        .collect()
}

impl Sealer {
    fn new(index: usize, config: &EncryptionConfig) -> Result<Self, ConfigError> {
        if config.provider != PROVIDER {
            return Err(ConfigError::Provider {
                index,
                provider: config.provider.clone(),
            });
        }
        let Some(Config::JwkPublicKeyConfig(jwk)) = &config.config else {
            return Err(ConfigError::NoKey { index });
        };
        let jwk: PublicJwk =
            serde_json::from_slice(&jwk.pub_key).map_err(|_| ConfigError::NotJwk { index })?;
        if jwk.kty != "OKP" || jwk.crv != "Ed25519" {
            return Err(ConfigError::KeyType {
                index,
                kty: jwk.kty,
                crv: jwk.crv,
            });
        }
        let public: [u8; 32] = jwk
            .x
            .and_then(|x| URL_SAFE_NO_PAD.decode(x.trim_end_matches('=')).ok())
            .and_then(|bytes| bytes.try_into().ok())
            .ok_or(ConfigError::BadKey { index })?;
        let recipient = Ed25519Recipient::new(public).map_err(|_| ConfigError::BadKey { index })?;
        Ok(Self {
            recipient,
            key_id: ed25519_jwk_thumbprint(&URL_SAFE_NO_PAD.encode(public)),
        })
    }

    /// `secret` sealed for this config's key, as ConductorOne expects it. The
    /// randomness (file key, ephemeral share, payload nonce) comes from the
    /// operating system's CSPRNG inside the `age` crate.
    pub(super) fn seal(
        &self,
        name: &str,
        description: &str,
        secret: &Secret,
    ) -> Result<EncryptedData, AgeError> {
        let file = age::encrypt(&self.recipient, secret.expose().as_bytes())?;
        Ok(EncryptedData {
            provider: PROVIDER.to_owned(),
            // Older readers look at the deprecated single key id.
            key_id: self.key_id.clone(),
            name: name.to_owned(),
            description: description.to_owned(),
            schema: String::new(),
            encrypted_bytes: STANDARD.encode(file).into_bytes(),
            key_ids: vec![self.key_id.clone()],
        })
    }
}

#[cfg(test)]
mod tests {
    use ed25519_dalek::SigningKey;

    use super::*;
    use baton::pb::c1::connector::v2::encryption_config::JwkPublicKeyConfig;

    fn config(provider: &str, jwk: &str) -> EncryptionConfig {
        EncryptionConfig {
            principal: None,
            provider: provider.into(),
            key_id: String::new(),
            config: Some(Config::JwkPublicKeyConfig(JwkPublicKeyConfig {
                pub_key: jwk.as_bytes().to_vec(),
            })),
        }
    }

    fn ed25519_jwk(seed: [u8; 32]) -> String {
        let x = URL_SAFE_NO_PAD.encode(SigningKey::from_bytes(&seed).verifying_key().to_bytes());
        format!(r#"{{"kty":"OKP","crv":"Ed25519","x":"{x}"}}"#)
    }

    #[test]
    fn a_sealed_secret_opens_with_the_private_key_and_names_the_thumbprint() {
        let seed = [21; 32];
        let sealers = sealers(&[config(PROVIDER, &ed25519_jwk(seed))]).unwrap();
        let sealed = sealers[0]
            .seal("password", "the password", &Secret::new("s3cr3t!".into()))
            .unwrap();
        assert_eq!(sealed.provider, "baton/jwk/v1");
        assert_eq!(sealed.name, "password");
        let file = STANDARD.decode(&sealed.encrypted_bytes).unwrap();
        assert_eq!(age::decrypt(&seed, &file).unwrap(), b"s3cr3t!");
        assert_eq!(sealed.key_ids.len(), 1);
        assert_eq!(sealed.key_ids[0].len(), 64);
        assert_eq!(sealed.key_id, sealed.key_ids[0]);
    }

    #[test]
    fn the_key_id_is_the_rfc_7638_thumbprint() {
        // RFC 8037 appendix A.3: the thumbprint of its Ed25519 example key.
        let jwk =
            r#"{"kty":"OKP","crv":"Ed25519","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}"#;
        let sealer = &sealers(&[config(PROVIDER, jwk)]).unwrap()[0];
        let expected = URL_SAFE_NO_PAD
            .decode("kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k")
            .unwrap();
        assert_eq!(sealer.key_id, hex::encode(expected));
    }

    #[test]
    fn unusable_configs_are_refused_with_their_reason() {
        let good = ed25519_jwk([3; 32]);
        let cases = [
            (config("baton/age/v1", &good), "provider"),
            (
                EncryptionConfig {
                    provider: PROVIDER.into(),
                    ..Default::default()
                },
                "no public key",
            ),
            (config(PROVIDER, "not json"), "not a JSON Web Key"),
            (
                config(PROVIDER, r#"{"kty":"RSA","n":"AQAB","e":"AQAB"}"#),
                "not supported",
            ),
            (
                config(PROVIDER, r#"{"kty":"OKP","crv":"Ed25519","x":"AAAA"}"#),
                "32 bytes",
            ),
        ];
        for (config, reason) in cases {
            let err = sealers(&[config]).unwrap_err().to_string();
            assert!(err.contains(reason), "{err}");
        }
    }
}
