//! age v1 (`age-encryption.org/v1`) files for one `ssh-ed25519` recipient:
//! how a new account's password travels back to ConductorOne (provider
//! `baton/jwk/v1`). Built from the age specification on small primitives;
//! [`decrypt`] is the inverse, for tests and for whoever holds the private key.

mod header;
mod ssh_ed25519;
mod stream;
#[cfg(test)]
mod tests;

use hkdf::Hkdf;
use rand::CryptoRng;
use sha2::Sha256;

use self::ssh_ed25519::Ed25519Identity;
pub use self::ssh_ed25519::Ed25519Recipient;

/// A file key is 128 bits of CSPRNG output, fresh for every file.
const FILE_KEY_LEN: usize = 16;
type FileKey = [u8; FILE_KEY_LEN];

/// Why a file could not be written or read. Messages never contain key
/// material or plaintext.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum AgeError {
    #[error("the Ed25519 public key is not a usable curve point")]
    InvalidPublicKey,
    #[error("not an age v1 file: {0}")]
    Malformed(&'static str),
    #[error("no recipient stanza in the file is addressed to this key")]
    NoMatch,
    #[error("the file key does not unwrap: the stanza is damaged")]
    Unwrap,
    #[error("the header MAC does not verify: the header was changed")]
    HeaderMac,
    #[error("the payload does not decrypt: it was changed or cut short")]
    Payload,
}

/// Encrypts `plaintext` to `recipient` as a binary age file.
pub fn encrypt(
    recipient: &Ed25519Recipient,
    plaintext: &[u8],
    rng: &mut impl CryptoRng,
) -> Vec<u8> {
    let mut file_key: FileKey = [0; FILE_KEY_LEN];
    rng.fill_bytes(&mut file_key);
    let stanza = recipient.wrap(&file_key, rng);
    let mut file = header::encode(&[stanza], &file_key);
    let mut nonce = [0; stream::NONCE_LEN];
    rng.fill_bytes(&mut nonce);
    file.extend(stream::encrypt(&file_key, &nonce, plaintext));
    file
}

/// Decrypts a binary age file with the Ed25519 private key `seed` (the JWK's `d`).
pub fn decrypt(seed: &[u8; 32], file: &[u8]) -> Result<Vec<u8>, AgeError> {
    let identity = Ed25519Identity::from_seed(seed);
    let (file_key, payload) = open_header(&identity, file)?;
    stream::decrypt(&file_key, payload)
}

/// Unwraps the file key from the first stanza addressed to `identity` and
/// checks the header MAC with it; returns the key and the payload.
fn open_header<'a>(
    identity: &Ed25519Identity,
    file: &'a [u8],
) -> Result<(FileKey, &'a [u8]), AgeError> {
    let parsed = header::parse(file)?;
    let mut file_key = None;
    for stanza in &parsed.stanzas {
        if let Some(key) = identity.unwrap(stanza)? {
            file_key = Some(key);
            break;
        }
    }
    let file_key = file_key.ok_or(AgeError::NoMatch)?;
    header::verify_mac(&parsed, &file_key)?;
    Ok((file_key, parsed.payload))
}

/// HKDF-SHA-256 with a 32-byte output, the only length age uses.
fn hkdf_sha256(salt: &[u8], ikm: &[u8], info: &[u8]) -> [u8; 32] {
    let mut okm = [0; 32];
    Hkdf::<Sha256>::new(Some(salt), ikm)
        .expand(info, &mut okm)
        // Infallible: HKDF-SHA-256 yields up to 255 × 32 bytes; we ask for 32.
        .expect("32 bytes is within HKDF-SHA-256's output limit");
    okm
}
