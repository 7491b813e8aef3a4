//! The age payload: a 16-byte nonce, then the plaintext in 64 KiB chunks,
//! each sealed with ChaCha20-Poly1305 under a key derived from the file key
//! and that nonce (STREAM: an 11-byte big-endian chunk counter and a final
//! chunk flag make each chunk's AEAD nonce).

use chacha20poly1305::aead::Aead;
use chacha20poly1305::{ChaCha20Poly1305, Key, KeyInit, Nonce};

use super::{AgeError, FileKey, hkdf_sha256};

pub(super) const NONCE_LEN: usize = 16;
const CHUNK_LEN: usize = 64 * 1024;
const TAG_LEN: usize = 16;

/// The payload (nonce and sealed chunks) for `plaintext`.
pub(super) fn encrypt(file_key: &FileKey, nonce: &[u8; NONCE_LEN], plaintext: &[u8]) -> Vec<u8> {
    let cipher = payload_cipher(file_key, nonce);
    let mut payload = Vec::with_capacity(NONCE_LEN + plaintext.len() + TAG_LEN);
    payload.extend_from_slice(nonce);
    // An empty plaintext is one empty final chunk; otherwise no chunk is empty.
    let chunks: Vec<&[u8]> = if plaintext.is_empty() {
        vec![&[]]
    } else {
        plaintext.chunks(CHUNK_LEN).collect()
    };
    let last = chunks.len() - 1;
    for (counter, chunk) in chunks.into_iter().enumerate() {
        let sealed = cipher
            .encrypt(&chunk_nonce(counter, counter == last), chunk)
            // Infallible: ChaCha20-Poly1305 seals messages up to 256 GiB; chunks are 64 KiB.
            .expect("a 64 KiB chunk is within ChaCha20-Poly1305's limit");
        payload.extend_from_slice(&sealed);
    }
    payload
}

/// The plaintext of a payload, which must end with a valid final chunk.
pub(super) fn decrypt(file_key: &FileKey, payload: &[u8]) -> Result<Vec<u8>, AgeError> {
    let (nonce, mut sealed) = payload
        .split_first_chunk::<NONCE_LEN>()
        .ok_or(AgeError::Payload)?;
    let cipher = payload_cipher(file_key, nonce);
    let mut plaintext = Vec::with_capacity(sealed.len());
    let mut counter = 0;
    loop {
        let take = sealed.len().min(CHUNK_LEN + TAG_LEN);
        let (chunk, rest) = sealed.split_at(take);
        let last = rest.is_empty();
        let opened = cipher
            .decrypt(&chunk_nonce(counter, last), chunk)
            .map_err(|_| AgeError::Payload)?;
        if opened.is_empty() && counter > 0 {
            // Only a wholly empty payload may end with an empty chunk.
            return Err(AgeError::Payload);
        }
        plaintext.extend_from_slice(&opened);
        if last {
            return Ok(plaintext);
        }
        sealed = rest;
        counter += 1;
    }
}

fn payload_cipher(file_key: &FileKey, nonce: &[u8; NONCE_LEN]) -> ChaCha20Poly1305 {
    let key = hkdf_sha256(nonce, file_key, b"payload");
    ChaCha20Poly1305::new(&Key::from(key))
}

fn chunk_nonce(counter: usize, last: bool) -> Nonce {
    let mut nonce = [0; 12];
    nonce[3..11].copy_from_slice(&(counter as u64).to_be_bytes());
    nonce[11] = u8::from(last);
    Nonce::from(nonce)
}
