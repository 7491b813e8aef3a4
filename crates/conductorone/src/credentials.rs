//! ConductorOne client credentials: the client id `name@host/use-case` and the
//! client secret `secret-token:conductorone.com:v1:<base64url Ed25519 private JWK>`.
//! Parsed once, up front, so a bad pair is reported before any network call;
//! no error message ever contains the secret or any part of it.

use std::fmt;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ed25519_dalek::SigningKey;
use serde::Deserialize;
use sha2::{Digest, Sha256};
use zeroize::{Zeroize, Zeroizing};

use platform::secret::Secret;

const SECRET_PREFIX: &str = "secret-token:conductorone.com:";
const SECRET_VERSION: &str = "v1";

/// Why a client id or secret was refused. Messages name the problem and the
/// expected shape, never the value.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CredentialError {
    #[error("client id is not of the form NAME@HOST/USE-CASE")]
    ClientIdFormat,
    #[error("client secret does not start with secret-token:conductorone.com:v1:")]
    SecretFormat,
    #[error("client secret version is not v1; generate a new client secret in ConductorOne")]
    SecretVersion,
    #[error("client secret key is not base64url-encoded")]
    SecretEncoding,
    #[error("client secret key is not a JSON Web Key")]
    SecretJwk,
    #[error(
        "client secret key is not an Ed25519 private key (expected kty OKP, crv Ed25519, x and d)"
    )]
    KeyType,
    #[error("client secret key is damaged: its public key x does not match its private key d")]
    KeyMismatch,
}

/// A client id, split into its parts. The host names the token endpoint and
/// the BatonService unless `api_host` overrides it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClientId {
    full: String,
    name: String,
    host: String,
}

impl ClientId {
    /// Splits once on `@`, then once on `/`, as ConductorOne's own SDK does.
    pub fn parse(text: &str) -> Result<Self, CredentialError> {
        let text = text.trim();
        let (name, rest) = text
            .split_once('@')
            .ok_or(CredentialError::ClientIdFormat)?;
        let (host, use_case) = rest
            .split_once('/')
            .ok_or(CredentialError::ClientIdFormat)?;
        if name.is_empty() || host.is_empty() || use_case.is_empty() {
            return Err(CredentialError::ClientIdFormat);
        }
        Ok(Self {
            full: text.to_owned(),
            name: name.to_owned(),
            host: host.to_owned(),
        })
    }

    /// The whole id, as sent in `client_id`, `iss` and `sub`.
    pub fn as_str(&self) -> &str {
        &self.full
    }

    /// The part before `@`; used in the gRPC user agent.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The ConductorOne host (`[host][:port]`) named in the id.
    pub fn host(&self) -> &str {
        &self.host
    }
}

#[derive(Deserialize)]
struct Jwk {
    kty: String,
    crv: Option<String>,
    x: Option<String>,
    d: Option<String>,
    kid: Option<String>,
}

/// The private key's text (`d`) is wiped with the rest of the parsed secret.
impl Drop for Jwk {
    fn drop(&mut self) {
        self.d.zeroize();
    }
}

/// A validated client id and the Ed25519 key of its secret. `Debug` shows the
/// client id and the key's thumbprint, never the key. Equal when both the id
/// and the key are (the key compares in constant time).
#[derive(Clone, PartialEq)]
pub struct ClientCredentials {
    client_id: ClientId,
    signing_key: SigningKey,
    public_x: String,
    kid: Option<String>,
}

impl ClientCredentials {
    /// Parses and cross-checks a client id and secret. Pure: config validation
    /// calls it without touching the network.
    pub fn parse(client_id: &str, client_secret: &Secret) -> Result<Self, CredentialError> {
        let client_id = ClientId::parse(client_id)?;
        let (signing_key, public_x, kid) = parse_secret(client_secret)?;
        Ok(Self {
            client_id,
            signing_key,
            public_x,
            kid,
        })
    }

    /// Checks a client secret on its own, so that a config with both a bad
    /// id and a bad secret reports both at once.
    pub fn check_secret(client_secret: &Secret) -> Result<(), CredentialError> {
        parse_secret(client_secret).map(drop)
    }

    pub fn client_id(&self) -> &ClientId {
        &self.client_id
    }

    pub(crate) fn signing_key(&self) -> &SigningKey {
        &self.signing_key
    }

    /// The JWK `kid`, when the secret's key carries one.
    pub(crate) fn kid(&self) -> Option<&str> {
        self.kid.as_deref()
    }

    /// RFC 7638 thumbprint of the secret's public key, hex SHA-256: the key id
    /// ConductorOne puts in `EncryptedData.key_ids` for this connector.
    pub fn thumbprint(&self) -> String {
        ed25519_jwk_thumbprint(&self.public_x)
    }
}

/// RFC 7638 thumbprint, hex SHA-256, of the Ed25519 JWK whose `x` is given
/// (base64url, as in the JWK): the key id Baton uses for such keys.
pub fn ed25519_jwk_thumbprint(x: &str) -> String {
    // RFC 7638: the required members only, lexicographic order, no whitespace.
    let canonical = format!(r#"{{"crv":"Ed25519","kty":"OKP","x":"{x}"}}"#);
    hex::encode(Sha256::digest(canonical.as_bytes()))
}

impl fmt::Debug for ClientCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientCredentials")
            .field("client_id", &self.client_id.as_str())
            .field("key_thumbprint", &self.thumbprint())
            .field("signing_key", &"[redacted]")
            .finish()
    }
}

/// The secret's Ed25519 key, its public `x` and its `kid`.
fn parse_secret(
    client_secret: &Secret,
) -> Result<(SigningKey, String, Option<String>), CredentialError> {
    let jwk = decode_secret(client_secret.expose())?;
    if jwk.kty != "OKP" || jwk.crv.as_deref() != Some("Ed25519") {
        return Err(CredentialError::KeyType);
    }
    let (Some(x), Some(d)) = (&jwk.x, &jwk.d) else {
        return Err(CredentialError::KeyType);
    };
    let decoded = Zeroizing::new(
        URL_SAFE_NO_PAD
            .decode(d.as_bytes())
            .map_err(|_| CredentialError::KeyType)?,
    );
    let private: Zeroizing<[u8; 32]> = Zeroizing::new(
        decoded
            .as_slice()
            .try_into()
            .map_err(|_| CredentialError::KeyType)?,
    );
    let public: [u8; 32] = URL_SAFE_NO_PAD
        .decode(x.as_bytes())
        .ok()
        .and_then(|bytes| bytes.try_into().ok())
        .ok_or(CredentialError::KeyType)?;
    let signing_key = SigningKey::from_bytes(&private);
    if signing_key.verifying_key().to_bytes() != public {
        return Err(CredentialError::KeyMismatch);
    }
    Ok((signing_key, x.clone(), jwk.kid.clone()))
}

fn decode_secret(secret: &str) -> Result<Jwk, CredentialError> {
    let rest = secret
        .trim()
        .strip_prefix(SECRET_PREFIX)
        .ok_or(CredentialError::SecretFormat)?;
    let (version, encoded) = rest.split_once(':').ok_or(CredentialError::SecretFormat)?;
    if version != SECRET_VERSION {
        return Err(CredentialError::SecretVersion);
    }
    if encoded.contains(':') {
        return Err(CredentialError::SecretFormat);
    }
    let json = Zeroizing::new(
        URL_SAFE_NO_PAD
            .decode(encoded.as_bytes())
            .map_err(|_| CredentialError::SecretEncoding)?,
    );
    serde_json::from_slice(&json).map_err(|_| CredentialError::SecretJwk)
}

#[cfg(test)]
mod tests {
    use super::*;

    const CLIENT_ID: &str = "strange-hydra-68836@acme.conductor.one/pcc";

    fn secret_for(jwk: &str) -> Secret {
        Secret::new(format!(
            "secret-token:conductorone.com:v1:{}",
            URL_SAFE_NO_PAD.encode(jwk)
        ))
    }

    fn jwk_for(seed: [u8; 32]) -> (String, String) {
        let key = SigningKey::from_bytes(&seed);
        (
            URL_SAFE_NO_PAD.encode(key.verifying_key().to_bytes()),
            URL_SAFE_NO_PAD.encode(seed),
        )
    }

    fn valid_secret(seed: [u8; 32]) -> Secret {
        let (x, d) = jwk_for(seed);
        secret_for(&format!(
            r#"{{"kty":"OKP","crv":"Ed25519","x":"{x}","d":"{d}"}}"#
        ))
    }

    #[test]
    fn valid_pair_parses_and_splits_the_client_id() {
        let credentials = ClientCredentials::parse(CLIENT_ID, &valid_secret([7; 32])).unwrap();
        assert_eq!(credentials.client_id().name(), "strange-hydra-68836");
        assert_eq!(credentials.client_id().host(), "acme.conductor.one");
        assert_eq!(credentials.client_id().as_str(), CLIENT_ID);
    }

    #[test]
    fn client_id_without_use_case_is_refused() {
        for bad in [
            "name@host",
            "@host/pcc",
            "name@/pcc",
            "name@host/",
            "no-at-sign/pcc",
        ] {
            assert_eq!(
                ClientId::parse(bad),
                Err(CredentialError::ClientIdFormat),
                "{bad}"
            );
        }
    }

    #[test]
    fn secret_errors_never_echo_the_secret() {
        let (x, _) = jwk_for([1; 32]);
        let (_, other_d) = jwk_for([2; 32]);
        let cases = [
            (
                Secret::new("hunter2-not-a-secret-token".into()),
                CredentialError::SecretFormat,
            ),
            (
                Secret::new("secret-token:conductorone.com:v2:abcd".into()),
                CredentialError::SecretVersion,
            ),
            (
                Secret::new("secret-token:conductorone.com:v1:***hunter2***".into()),
                CredentialError::SecretEncoding,
            ),
            (secret_for("hunter2"), CredentialError::SecretJwk),
            (
                secret_for(r#"{"kty":"RSA","n":"hunter2","e":"AQAB","d":"hunter2"}"#),
                CredentialError::KeyType,
            ),
            (
                secret_for(&format!(r#"{{"kty":"OKP","crv":"Ed25519","x":"{x}"}}"#)),
                CredentialError::KeyType,
            ),
            (
                secret_for(&format!(
                    r#"{{"kty":"OKP","crv":"Ed25519","x":"{x}","d":"{other_d}"}}"#
                )),
                CredentialError::KeyMismatch,
            ),
        ];
        for (secret, expected) in cases {
            let err = ClientCredentials::parse(CLIENT_ID, &secret).unwrap_err();
            assert_eq!(err, expected);
            let message = err.to_string();
            assert!(!message.contains("hunter2"), "{message}");
            assert!(!message.contains(&other_d), "{message}");
        }
    }

    #[test]
    fn thumbprint_follows_rfc_7638() {
        // RFC 8037 appendix A.3: the thumbprint of the RFC's Ed25519 example key.
        let x = "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo";
        let d = "nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A";
        let secret = secret_for(&format!(
            r#"{{"kty":"OKP","crv":"Ed25519","x":"{x}","d":"{d}"}}"#
        ));
        let credentials = ClientCredentials::parse(CLIENT_ID, &secret).unwrap();
        let expected = URL_SAFE_NO_PAD
            .decode("kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k")
            .unwrap();
        assert_eq!(credentials.thumbprint(), hex::encode(expected));
    }

    #[test]
    fn debug_shows_no_key_material() {
        let (_, d) = jwk_for([9; 32]);
        let credentials = ClientCredentials::parse(CLIENT_ID, &valid_secret([9; 32])).unwrap();
        let debug = format!("{credentials:?}");
        assert!(!debug.contains(&d), "{debug}");
        assert!(debug.contains("[redacted]"), "{debug}");
    }
}
