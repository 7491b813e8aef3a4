//! The `ssh-ed25519` recipient stanza: an Ed25519 public key is mapped to its
//! X25519 (Montgomery) form, an ephemeral X25519 exchange with it is tweaked
//! by a scalar derived from the SSH key, and the result wraps the file key.
//! Arguments: `ssh-ed25519`, a 4-byte tag of the SSH key, the ephemeral share.

use base64::Engine;
use base64::engine::general_purpose::STANDARD_NO_PAD;
use chacha20poly1305::aead::Aead;
use chacha20poly1305::{ChaCha20Poly1305, Key, KeyInit, Nonce};
use curve25519_dalek::edwards::CompressedEdwardsY;
use curve25519_dalek::montgomery::MontgomeryPoint;
use ed25519_dalek::SigningKey;
use rand::CryptoRng;
use sha2::{Digest, Sha256, Sha512};

use super::header::Stanza;
use super::{AgeError, FILE_KEY_LEN, FileKey, hkdf_sha256};

const STANZA_TYPE: &str = "ssh-ed25519";
const LABEL: &[u8] = b"age-encryption.org/v1/ssh-ed25519";
const KEY_TYPE: &[u8] = b"ssh-ed25519";
const WRAPPED_LEN: usize = FILE_KEY_LEN + 16;

/// An Ed25519 public key to encrypt to.
#[derive(Clone, Debug)]
pub struct Ed25519Recipient {
    ssh_key: Vec<u8>,
    montgomery: MontgomeryPoint,
}

impl Ed25519Recipient {
    /// From the 32 bytes of an Ed25519 public key (a JWK's `x`). Keys that are
    /// not on the curve, or of small order, would leak the file key and are refused.
    pub fn new(public_key: [u8; 32]) -> Result<Self, AgeError> {
        let point = CompressedEdwardsY(public_key)
            .decompress()
            .filter(|point| !point.is_small_order())
            .ok_or(AgeError::InvalidPublicKey)?;
        Ok(Self {
            ssh_key: ssh_wire_key(&public_key),
            montgomery: point.to_montgomery(),
        })
    }

    pub(super) fn wrap(&self, file_key: &FileKey, rng: &mut impl CryptoRng) -> Stanza {
        let mut ephemeral = [0; 32];
        rng.fill_bytes(&mut ephemeral);
        let share = MontgomeryPoint::mul_base_clamped(ephemeral);
        // Never all zero: clamped scalars are multiples of 8, which clears any
        // torsion, and the point is not of small order.
        let shared = self
            .montgomery
            .mul_clamped(ephemeral)
            .mul_clamped(tweak(&self.ssh_key));
        let wrap_key = wrap_key(&share, &self.montgomery, &shared);
        let body = stanza_cipher(&wrap_key)
            .encrypt(&Nonce::default(), file_key.as_slice())
            // Infallible: a 16-byte message is within ChaCha20-Poly1305's limit.
            .expect("a 16-byte file key is within ChaCha20-Poly1305's limit");
        Stanza {
            args: vec![
                STANZA_TYPE.to_owned(),
                tag(&self.ssh_key),
                STANDARD_NO_PAD.encode(share.to_bytes()),
            ],
            body,
        }
    }
}

/// The private side: an Ed25519 seed (a JWK's `d`) turned into the X25519
/// scalar age uses, the first half of SHA-512(seed).
pub(super) struct Ed25519Identity {
    ssh_key: Vec<u8>,
    scalar: [u8; 32],
    montgomery: MontgomeryPoint,
}

impl Ed25519Identity {
    pub(super) fn from_seed(seed: &[u8; 32]) -> Self {
        let public = SigningKey::from_bytes(seed).verifying_key().to_bytes();
        let mut scalar = [0; 32];
        scalar.copy_from_slice(&Sha512::digest(seed)[..32]);
        Self {
            ssh_key: ssh_wire_key(&public),
            montgomery: MontgomeryPoint::mul_base_clamped(scalar),
            scalar,
        }
    }

    /// The file key, when `stanza` is an `ssh-ed25519` stanza for this key;
    /// `None` for other stanzas; an error for a damaged one of ours.
    pub(super) fn unwrap(&self, stanza: &Stanza) -> Result<Option<FileKey>, AgeError> {
        if stanza.args.first().map(String::as_str) != Some(STANZA_TYPE) {
            return Ok(None);
        }
        let [_, tag_arg, share_arg] = stanza.args.as_slice() else {
            return Err(AgeError::Malformed(
                "an ssh-ed25519 stanza needs exactly two arguments",
            ));
        };
        let share: [u8; 32] = STANDARD_NO_PAD
            .decode(share_arg)
            .ok()
            .and_then(|bytes| bytes.try_into().ok())
            .ok_or(AgeError::Malformed(
                "the ssh-ed25519 share is not 32 bytes of base64",
            ))?;
        if *tag_arg != tag(&self.ssh_key) {
            return Ok(None);
        }
        if stanza.body.len() != WRAPPED_LEN {
            return Err(AgeError::Malformed("the ssh-ed25519 body is not 32 bytes"));
        }
        let share = MontgomeryPoint(share);
        let exchanged = share.mul_clamped(self.scalar);
        if exchanged.to_bytes() == [0; 32] {
            return Err(AgeError::Unwrap);
        }
        let shared = exchanged.mul_clamped(tweak(&self.ssh_key));
        let wrap_key = wrap_key(&share, &self.montgomery, &shared);
        let file_key = stanza_cipher(&wrap_key)
            .decrypt(&Nonce::default(), stanza.body.as_slice())
            .map_err(|_| AgeError::Unwrap)?;
        file_key.try_into().map(Some).map_err(|_| AgeError::Unwrap)
    }
}

/// The SSH wire encoding of an Ed25519 public key: two length-prefixed
/// strings, the key type and the 32 key bytes.
pub(super) fn ssh_wire_key(public_key: &[u8; 32]) -> Vec<u8> {
    let mut wire = Vec::with_capacity(4 + KEY_TYPE.len() + 4 + public_key.len());
    for field in [KEY_TYPE, public_key.as_slice()] {
        // Both fields are short constants (11 and 32 bytes): the cast cannot truncate.
        wire.extend_from_slice(&(field.len() as u32).to_be_bytes());
        wire.extend_from_slice(field);
    }
    wire
}

/// The first four bytes of SHA-256 of the SSH key, base64: which key a stanza is for.
fn tag(ssh_key: &[u8]) -> String {
    STANDARD_NO_PAD.encode(&Sha256::digest(ssh_key)[..4])
}

/// HKDF-SHA-256(ikm = empty, salt = SSH key, info = label), used as an X25519 scalar.
fn tweak(ssh_key: &[u8]) -> [u8; 32] {
    hkdf_sha256(ssh_key, &[], LABEL)
}

/// HKDF-SHA-256(ikm = shared secret, salt = share ‖ recipient, info = label).
fn wrap_key(
    share: &MontgomeryPoint,
    recipient: &MontgomeryPoint,
    shared: &MontgomeryPoint,
) -> [u8; 32] {
    let mut salt = [0; 64];
    salt[..32].copy_from_slice(share.as_bytes());
    salt[32..].copy_from_slice(recipient.as_bytes());
    hkdf_sha256(&salt, shared.as_bytes(), LABEL)
}

fn stanza_cipher(wrap_key: &[u8; 32]) -> ChaCha20Poly1305 {
    ChaCha20Poly1305::new(&Key::from(*wrap_key))
}
