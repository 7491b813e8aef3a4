//! age v1 (`age-encryption.org/v1`) files for one `ssh-ed25519` recipient:
//! how a new account's password travels back to ConductorOne (provider
//! `baton/jwk/v1`). The format and the recipient come from the `age` crate;
//! this module only turns the JWK's raw Ed25519 key into its SSH form and maps
//! the crate's errors. [`decrypt`] is the inverse, for tests and the demo.

mod openssh;
#[cfg(test)]
mod tests;

use std::str::FromStr;

use ed25519_dalek::VerifyingKey;

/// Why a file could not be written or read. Messages never contain key
/// material or plaintext.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum AgeError {
    #[error("the Ed25519 public key is not a usable curve point")]
    InvalidPublicKey,
    #[error("the age file could not be written: {0}")]
    Encrypt(String),
    #[error("not an age v1 file that an ssh-ed25519 key can open")]
    Malformed,
    #[error("no recipient stanza in the file is addressed to this key")]
    NoMatch,
    #[error("the file key does not unwrap: the stanza is damaged")]
    Unwrap,
    #[error("the header MAC does not verify: the header was changed")]
    HeaderMac,
    #[error("the payload does not decrypt: it was changed or cut short")]
    Payload,
}

/// An Ed25519 public key to encrypt to, as age's `ssh-ed25519` recipient.
#[derive(Clone, Debug)]
pub struct Ed25519Recipient(age::ssh::Recipient);

impl Ed25519Recipient {
    /// From the 32 bytes of an Ed25519 public key (a JWK's `x`). Keys that are
    /// not on the curve, or of small order, would leak the file key and are refused.
    pub fn new(public_key: [u8; 32]) -> Result<Self, AgeError> {
        let point =
            VerifyingKey::from_bytes(&public_key).map_err(|_| AgeError::InvalidPublicKey)?;
        if point.is_weak() {
            return Err(AgeError::InvalidPublicKey);
        }
        age::ssh::Recipient::from_str(&openssh::public_key_line(&public_key))
            .map(Self)
            .map_err(|_| AgeError::InvalidPublicKey)
    }
}

/// Encrypts `plaintext` to `recipient` as a binary age file. The crate draws
/// the file key and the ephemeral share from the operating system's CSPRNG and
/// zeroizes the file key when it is done with it.
pub fn encrypt(recipient: &Ed25519Recipient, plaintext: &[u8]) -> Result<Vec<u8>, AgeError> {
    age::encrypt(&recipient.0, plaintext).map_err(|err| AgeError::Encrypt(err.to_string()))
}

/// Decrypts a binary age file with the Ed25519 private key `seed` (the JWK's `d`).
pub fn decrypt(seed: &[u8; 32], file: &[u8]) -> Result<Vec<u8>, AgeError> {
    let pem = openssh::private_key_pem(seed);
    let identity = age::ssh::Identity::from_buffer(pem.as_bytes(), None)
        // Unreachable for a key we encoded ourselves; reported, not unwrapped.
        .map_err(|_| AgeError::InvalidPublicKey)?;
    open(&identity, file)
}

/// Decrypts `file` with any age identity, with the crate's errors mapped to ours.
fn open(identity: &impl age::Identity, file: &[u8]) -> Result<Vec<u8>, AgeError> {
    age::decrypt(identity, file).map_err(|err| match err {
        age::DecryptError::NoMatchingKeys => AgeError::NoMatch,
        age::DecryptError::InvalidMac => AgeError::HeaderMac,
        age::DecryptError::DecryptionFailed | age::DecryptError::KeyDecryptionFailed => {
            AgeError::Unwrap
        }
        // The STREAM reader reports a damaged or truncated payload as an I/O error.
        age::DecryptError::Io(_) => AgeError::Payload,
        _ => AgeError::Malformed,
    })
}
