//! The client assertion sent to ConductorOne's token endpoint: a compact JWS
//! (EdDSA over Ed25519), signed by hand with the client secret's key.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ed25519_dalek::Signer;
use serde::Serialize;

use super::credentials::ClientCredentials;
use platform::secret::Secret;

/// How far `exp` lies after, and `nbf` before, the signing time.
const ASSERTION_LEEWAY: Duration = Duration::from_secs(120);

#[derive(Serialize)]
struct Header<'a> {
    alg: &'static str,
    /// Random per assertion, so no two assertions are alike.
    nonce: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    kid: Option<&'a str>,
}

#[derive(Serialize)]
struct Claims<'a> {
    iss: &'a str,
    sub: &'a str,
    /// One audience, marshalled as a plain string as ConductorOne expects.
    aud: &'a str,
    exp: u64,
    iat: u64,
    nbf: u64,
}

/// Signs an assertion for `audience` (the token host without port) at `now`.
/// The result is as sensitive as a password for its two-minute life.
pub(crate) fn client_assertion(
    credentials: &ClientCredentials,
    audience: &str,
    now: SystemTime,
) -> Secret {
    let now = now
        .duration_since(UNIX_EPOCH)
        .map(|since| since.as_secs())
        .unwrap_or_default();
    let leeway = ASSERTION_LEEWAY.as_secs();
    let header = Header {
        alg: "EdDSA",
        nonce: hex::encode(rand::random::<[u8; 16]>()),
        kid: credentials.kid(),
    };
    let client_id = credentials.client_id().as_str();
    let claims = Claims {
        iss: client_id,
        sub: client_id,
        aud: audience,
        exp: now + leeway,
        iat: now,
        nbf: now.saturating_sub(leeway),
    };
    let signing_input = format!("{}.{}", encode_json(&header), encode_json(&claims));
    let signature = credentials.signing_key().sign(signing_input.as_bytes());
    Secret::new(format!(
        "{signing_input}.{}",
        URL_SAFE_NO_PAD.encode(signature.to_bytes())
    ))
}

fn encode_json(value: &impl Serialize) -> String {
    // Serializing these plain structs of strings and integers cannot fail.
    let json = serde_json::to_vec(value).expect("plain structs always serialize");
    URL_SAFE_NO_PAD.encode(json)
}

#[cfg(test)]
mod tests {
    use ed25519_dalek::{Signature, SigningKey};

    use super::*;

    fn credentials() -> ClientCredentials {
        let key = SigningKey::from_bytes(&[3; 32]);
        let jwk = format!(
            r#"{{"kty":"OKP","crv":"Ed25519","x":"{}","d":"{}"}}"#,
            URL_SAFE_NO_PAD.encode(key.verifying_key().to_bytes()),
            URL_SAFE_NO_PAD.encode([3; 32])
        );
        let secret = Secret::new(format!(
            "secret-token:conductorone.com:v1:{}",
            URL_SAFE_NO_PAD.encode(jwk)
        ));
        ClientCredentials::parse("hub@c1.example:8443/pcc", &secret).unwrap()
    }

    fn decode(part: &str) -> serde_json::Value {
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(part).unwrap()).unwrap()
    }

    #[test]
    fn assertion_carries_documented_header_claims_and_a_valid_signature() {
        let credentials = credentials();
        let now = UNIX_EPOCH + Duration::from_secs(1_800_000_000);
        let assertion = client_assertion(&credentials, "c1.example", now);
        let parts: Vec<&str> = assertion.expose().split('.').collect();
        assert_eq!(parts.len(), 3);

        let header = decode(parts[0]);
        assert_eq!(header["alg"], "EdDSA");
        let nonce = header["nonce"].as_str().unwrap();
        assert_eq!(nonce.len(), 32);
        assert!(nonce.chars().all(|c| c.is_ascii_hexdigit()));
        assert!(header.get("kid").is_none());

        let claims = decode(parts[1]);
        assert_eq!(claims["iss"], "hub@c1.example:8443/pcc");
        assert_eq!(claims["sub"], "hub@c1.example:8443/pcc");
        assert_eq!(claims["aud"], "c1.example");
        assert_eq!(claims["iat"], 1_800_000_000u64);
        assert_eq!(claims["exp"], 1_800_000_120u64);
        assert_eq!(claims["nbf"], 1_799_999_880u64);

        let signature: [u8; 64] = URL_SAFE_NO_PAD
            .decode(parts[2])
            .unwrap()
            .try_into()
            .unwrap();
        let public = credentials.signing_key().verifying_key();
        public
            .verify_strict(
                format!("{}.{}", parts[0], parts[1]).as_bytes(),
                &Signature::from_bytes(&signature),
            )
            .unwrap();
    }

    #[test]
    fn every_assertion_has_a_fresh_nonce() {
        let credentials = credentials();
        let first = client_assertion(&credentials, "c1.example", SystemTime::now());
        let second = client_assertion(&credentials, "c1.example", SystemTime::now());
        assert_ne!(
            first.expose().split('.').next(),
            second.expose().split('.').next()
        );
    }
}
