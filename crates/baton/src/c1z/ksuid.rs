//! Sync ids: KSUIDs as Baton generates them (docs/data-model.md, The sync run) — 4
//! bytes of seconds since the KSUID epoch and 16 random bytes, written as 27
//! base62 characters, so ids sort by creation time.

use std::time::{SystemTime, UNIX_EPOCH};

/// Seconds between the Unix epoch and the KSUID epoch (2014-05-13T16:53:20Z).
const KSUID_EPOCH: u64 = 1_400_000_000;
const ENCODED_LEN: usize = 27;
const RAW_LEN: usize = 20;
const BASE62: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// A fresh sync id: a KSUID of the current time.
pub fn new_sync_id() -> String {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|age| age.as_secs())
        .unwrap_or(0);
    encode(&raw(now, rand::random()))
}

fn raw(unix_seconds: u64, payload: [u8; 16]) -> [u8; RAW_LEN] {
    // The 32-bit counter runs out in 2150; saturate rather than wrap so ids
    // keep sorting after their predecessors.
    let seconds = u32::try_from(unix_seconds.saturating_sub(KSUID_EPOCH)).unwrap_or(u32::MAX);
    let mut bytes = [0u8; RAW_LEN];
    bytes[..4].copy_from_slice(&seconds.to_be_bytes());
    bytes[4..].copy_from_slice(&payload);
    bytes
}

/// The 160-bit big-endian number in base62, left-padded with `0`.
fn encode(raw: &[u8; RAW_LEN]) -> String {
    let mut number = *raw;
    let mut digits = [b'0'; ENCODED_LEN];
    for digit in digits.iter_mut().rev() {
        let mut remainder = 0u32;
        for byte in number.iter_mut() {
            let accumulator = (remainder << 8) | u32::from(*byte);
            // accumulator < 62 * 256, so the quotient fits in a byte.
            *byte = (accumulator / 62) as u8;
            remainder = accumulator % 62;
        }
        *digit = BASE62[remainder as usize];
    }
    digits.iter().map(|&digit| char::from(digit)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode(text: &str) -> Option<[u8; RAW_LEN]> {
        if text.len() != ENCODED_LEN {
            return None;
        }
        let mut number = [0u8; RAW_LEN];
        for character in text.bytes() {
            let mut carry = BASE62.iter().position(|&digit| digit == character)? as u32;
            for byte in number.iter_mut().rev() {
                let accumulator = u32::from(*byte) * 62 + carry;
                *byte = (accumulator & 0xff) as u8;
                carry = accumulator >> 8;
            }
            if carry != 0 {
                return None;
            }
        }
        Some(number)
    }

    #[test]
    fn encoding_matches_the_published_ksuid_examples() {
        assert_eq!(encode(&[0; RAW_LEN]), "000000000000000000000000000");
        assert_eq!(encode(&[0xff; RAW_LEN]), "aWgEPTl1tmebfsQzFP4bxwgy80V");
        let example = hex::decode("0669F7EFB5A1CD34B5F99D1154FB6853345C9735").unwrap();
        assert_eq!(
            encode(&example.try_into().unwrap()),
            "0ujtsYcgvSTl8PAuAdqWYSMnLOv"
        );
    }

    #[test]
    fn new_ids_are_27_base62_characters_carrying_the_current_time() {
        let before = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs();
        let id = new_sync_id();
        let after = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs();
        assert_eq!(id.len(), 27);
        assert!(id.bytes().all(|byte| byte.is_ascii_alphanumeric()), "{id}");
        let raw = decode(&id).unwrap();
        let seconds = u64::from(u32::from_be_bytes(raw[..4].try_into().unwrap())) + KSUID_EPOCH;
        assert!((before..=after).contains(&seconds));
        assert_ne!(new_sync_id(), id, "the payload is random");
    }

    #[test]
    fn encoding_round_trips_and_sorts_by_time() {
        for seconds in [
            KSUID_EPOCH,
            KSUID_EPOCH + 1,
            1_800_000_000,
            u64::from(u32::MAX),
        ] {
            for payload in [[0u8; 16], [0xa5; 16], [0xff; 16]] {
                let bytes = raw(seconds, payload);
                assert_eq!(decode(&encode(&bytes)), Some(bytes));
            }
        }
        let earlier = encode(&raw(1_800_000_000, [0xff; 16]));
        let later = encode(&raw(1_800_000_001, [0; 16]));
        assert!(earlier < later);
    }
}
