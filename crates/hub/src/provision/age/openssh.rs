//! The OpenSSH encodings of an Ed25519 key that the `age` crate reads: the
//! public key line (`ssh-ed25519 <base64>`) and, for [`super::decrypt`], the
//! unencrypted `openssh-key-v1` private key file.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use ed25519_dalek::SigningKey;
use zeroize::Zeroizing;

const KEY_TYPE: &[u8] = b"ssh-ed25519";
/// OpenSSH wraps the base64 of a private key file at 70 columns.
const PEM_COLUMNS: usize = 70;

/// `ssh-ed25519 <base64 of the wire key>`, as in an `authorized_keys` line.
pub(super) fn public_key_line(public_key: &[u8; 32]) -> String {
    format!("ssh-ed25519 {}", STANDARD.encode(wire_key(public_key)))
}

/// The SSH wire encoding of an Ed25519 public key: two length-prefixed
/// strings, the key type and the 32 key bytes.
fn wire_key(public_key: &[u8; 32]) -> Vec<u8> {
    let mut wire = Vec::with_capacity(4 + KEY_TYPE.len() + 4 + public_key.len());
    put_string(&mut wire, KEY_TYPE);
    put_string(&mut wire, public_key);
    wire
}

/// The unencrypted OpenSSH private key file for `seed`. Every buffer that
/// holds the seed is zeroized when dropped, and is sized up front so that no
/// reallocation leaves a copy behind.
pub(super) fn private_key_pem(seed: &[u8; 32]) -> Zeroizing<String> {
    let public = SigningKey::from_bytes(seed).verifying_key().to_bytes();
    let mut keypair = Zeroizing::new(Vec::with_capacity(64));
    keypair.extend_from_slice(seed);
    keypair.extend_from_slice(&public);

    let mut private = Zeroizing::new(Vec::with_capacity(160));
    // Two equal check integers: OpenSSH compares them to detect a wrong passphrase.
    private.extend_from_slice(&[0x5a; 8]);
    put_string(&mut private, KEY_TYPE);
    put_string(&mut private, &public);
    put_string(&mut private, &keypair);
    put_string(&mut private, b"");
    let mut pad = 1u8;
    while private.len() % 8 != 0 {
        private.push(pad);
        pad += 1;
    }

    let mut blob = Zeroizing::new(Vec::with_capacity(320));
    blob.extend_from_slice(b"openssh-key-v1\0");
    put_string(&mut blob, b"none");
    put_string(&mut blob, b"none");
    put_string(&mut blob, b"");
    blob.extend_from_slice(&1u32.to_be_bytes());
    put_string(&mut blob, &wire_key(&public));
    put_string(&mut blob, &private);

    let encoded = Zeroizing::new(STANDARD.encode(blob.as_slice()));
    let mut pem = Zeroizing::new(String::with_capacity(encoded.len() * 2));
    pem.push_str("-----BEGIN OPENSSH PRIVATE KEY-----\n");
    for line in encoded.as_bytes().chunks(PEM_COLUMNS) {
        // Base64 output is ASCII, so any split of it is valid UTF-8.
        pem.push_str(std::str::from_utf8(line).unwrap_or_default());
        pem.push('\n');
    }
    pem.push_str("-----END OPENSSH PRIVATE KEY-----\n");
    pem
}

fn put_string(out: &mut Vec<u8>, bytes: &[u8]) {
    // Every field here is a short constant or a key (at most 200 bytes): the cast cannot truncate.
    out.extend_from_slice(&(bytes.len() as u32).to_be_bytes());
    out.extend_from_slice(bytes);
}
