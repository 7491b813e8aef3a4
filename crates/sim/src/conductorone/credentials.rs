//! Simulated tenants' credentials: generating client id/secret pairs, the
//! tenants file that lists their public keys, and verifying the client
//! assertions signed with them. Written independently of the hub's client,
//! so the simulator checks the client rather than agreeing with it.

use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ed25519_dalek::{Signature, SigningKey, VerifyingKey};
use serde::{Deserialize, Serialize};

use platform::secret::Secret;

/// Clock skew tolerated on `iat` and `nbf`.
const SKEW_SECS: u64 = 5;
/// An assertion valid for longer than this is refused.
const MAX_ASSERTION_LIFETIME_SECS: u64 = 600;

/// The public half of a tenant's Ed25519 key, as a JWK.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PublicJwk {
    pub kty: String,
    pub crv: String,
    pub x: String,
}

impl PublicJwk {
    pub fn verifying_key(&self) -> Result<VerifyingKey, String> {
        if self.kty != "OKP" || self.crv != "Ed25519" {
            return Err("public_jwk must be an OKP Ed25519 key".into());
        }
        let bytes: [u8; 32] = URL_SAFE_NO_PAD
            .decode(self.x.as_bytes())
            .ok()
            .and_then(|bytes| bytes.try_into().ok())
            .ok_or("public_jwk.x is not 32 base64url bytes")?;
        VerifyingKey::from_bytes(&bytes).map_err(|_| "public_jwk.x is not an Ed25519 point".into())
    }
}

/// One simulated ConductorOne tenant: who may log in, with which key.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SimTenant {
    pub name: String,
    pub client_id: String,
    pub public_jwk: PublicJwk,
}

/// The `--tenants` file: `{"tenants": [{"name", "client_id", "public_jwk"}]}`.
#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TenantsFile {
    pub tenants: Vec<SimTenant>,
}

impl TenantsFile {
    pub fn read(path: &Path) -> Result<Self, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|err| format!("cannot read the tenants file {}: {err}", path.display()))?;
        serde_json::from_str(&text)
            .map_err(|err| format!("the tenants file {} is not valid: {err}", path.display()))
    }
}

/// A fresh client id (`<tenant>-hub@<host>/pcc`), its secret, and the public
/// key the simulator needs to verify it.
pub fn gen_credentials(tenant_name: &str, host: &str) -> (String, Secret, PublicJwk) {
    let seed: [u8; 32] = rand::random();
    let key = SigningKey::from_bytes(&seed);
    let x = URL_SAFE_NO_PAD.encode(key.verifying_key().to_bytes());
    let jwk = serde_json::json!({
        "kty": "OKP",
        "crv": "Ed25519",
        "x": x,
        "d": URL_SAFE_NO_PAD.encode(seed),
    });
    let secret = format!(
        "secret-token:conductorone.com:v1:{}",
        URL_SAFE_NO_PAD.encode(jwk.to_string())
    );
    let client_id = format!("{tenant_name}-hub@{host}/pcc");
    (
        client_id,
        Secret::new(secret),
        PublicJwk {
            kty: "OKP".into(),
            crv: "Ed25519".into(),
            x,
        },
    )
}

#[derive(Deserialize)]
struct Header {
    alg: String,
    nonce: Option<String>,
}

#[derive(Deserialize)]
struct Claims {
    iss: String,
    sub: String,
    aud: serde_json::Value,
    exp: u64,
    iat: u64,
    nbf: u64,
}

/// Checks a client assertion: EdDSA signature by the tenant's key, a nonce,
/// `iss` = `sub` = the client id, `aud` = our host, and a current time window.
pub fn verify_assertion(
    assertion: &str,
    client_id: &str,
    key: &VerifyingKey,
    audience: &str,
) -> Result<(), &'static str> {
    let mut parts = assertion.split('.');
    let (Some(header_part), Some(claims_part), Some(signature), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err("assertion is not a compact JWS");
    };
    let header: Header = decode_json(header_part).ok_or("assertion header is not JSON")?;
    if header.alg != "EdDSA" {
        return Err("assertion is not signed with EdDSA");
    }
    if header.nonce.as_deref().is_none_or(str::is_empty) {
        return Err("assertion header has no nonce");
    }
    let signature: [u8; 64] = URL_SAFE_NO_PAD
        .decode(signature)
        .ok()
        .and_then(|bytes| bytes.try_into().ok())
        .ok_or("assertion signature is malformed")?;
    let signed = &assertion[..header_part.len() + 1 + claims_part.len()];
    key.verify_strict(signed.as_bytes(), &Signature::from_bytes(&signature))
        .map_err(|_| "assertion signature does not verify")?;

    let claims: Claims = decode_json(claims_part).ok_or("assertion claims are not JSON")?;
    if claims.iss != client_id || claims.sub != client_id {
        return Err("assertion iss/sub is not the client id");
    }
    let audience_matches = match &claims.aud {
        serde_json::Value::String(aud) => aud == audience,
        serde_json::Value::Array(auds) => auds.iter().any(|aud| aud == audience),
        _ => false,
    };
    if !audience_matches {
        return Err("assertion aud is not this host");
    }
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|since| since.as_secs())
        .unwrap_or_default();
    if claims.exp <= now {
        return Err("assertion expired");
    }
    if claims.nbf > now + SKEW_SECS || claims.iat > now + SKEW_SECS {
        return Err("assertion is not valid yet");
    }
    if claims.exp.saturating_sub(claims.iat) > MAX_ASSERTION_LIFETIME_SECS {
        return Err("assertion lives too long");
    }
    Ok(())
}

fn decode_json<T: serde::de::DeserializeOwned>(part: &str) -> Option<T> {
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(part).ok()?).ok()
}

#[cfg(test)]
mod tests {
    use ed25519_dalek::Signer;

    use super::*;

    fn sign(key: &SigningKey, header: &str, claims: &str) -> String {
        let input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header),
            URL_SAFE_NO_PAD.encode(claims)
        );
        let signature = key.sign(input.as_bytes());
        format!("{input}.{}", URL_SAFE_NO_PAD.encode(signature.to_bytes()))
    }

    fn now() -> u64 {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs()
    }

    fn claims(iss: &str, aud: &str, exp: u64) -> String {
        let now = now();
        format!(
            r#"{{"iss":"{iss}","sub":"{iss}","aud":"{aud}","exp":{exp},"iat":{now},"nbf":{}}}"#,
            now - 120
        )
    }

    #[test]
    fn generated_credentials_round_trip_through_the_public_jwk() {
        let (client_id, secret, jwk) = gen_credentials("acme", "127.0.0.1");
        assert_eq!(client_id, "acme-hub@127.0.0.1/pcc");
        assert!(
            secret
                .expose()
                .starts_with("secret-token:conductorone.com:v1:")
        );
        jwk.verifying_key().unwrap();
    }

    #[test]
    fn assertions_are_checked_for_signature_claims_and_nonce() {
        let key = SigningKey::from_bytes(&[5; 32]);
        let other = SigningKey::from_bytes(&[6; 32]);
        let public = key.verifying_key();
        let id = "acme-hub@c1/pcc";
        let header = r#"{"alg":"EdDSA","nonce":"00112233445566778899aabbccddeeff"}"#;
        let good = claims(id, "127.0.0.1", now() + 120);
        assert_eq!(
            verify_assertion(&sign(&key, header, &good), id, &public, "127.0.0.1"),
            Ok(())
        );

        let cases = [
            (
                sign(&other, header, &good),
                "assertion signature does not verify",
            ),
            (
                sign(&key, r#"{"alg":"EdDSA"}"#, &good),
                "assertion header has no nonce",
            ),
            (
                sign(
                    &key,
                    header,
                    &claims("intruder@c1/pcc", "127.0.0.1", now() + 120),
                ),
                "assertion iss/sub is not the client id",
            ),
            (
                sign(&key, header, &claims(id, "evil.example", now() + 120)),
                "assertion aud is not this host",
            ),
            (
                sign(&key, header, &claims(id, "127.0.0.1", now() - 1)),
                "assertion expired",
            ),
            ("a.b".to_owned(), "assertion is not a compact JWS"),
        ];
        for (assertion, expected) in cases {
            assert_eq!(
                verify_assertion(&assertion, id, &public, "127.0.0.1"),
                Err(expected)
            );
        }
    }
}
