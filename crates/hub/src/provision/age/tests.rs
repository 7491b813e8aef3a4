//! age round trips, tampering, published known answers (the C2SP testkit and
//! the reference implementation's ssh-ed25519 key and file), and
//! interoperability with rage (PyPI `pyrage`).

use std::io::Write as _;
use std::process::{Command, Stdio};
use std::str::FromStr;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use ed25519_dalek::SigningKey;
use sha2::{Digest, Sha256};

use super::*;

fn key_pair(seed: u8) -> ([u8; 32], Ed25519Recipient) {
    let seed = [seed; 32];
    let public = SigningKey::from_bytes(&seed).verifying_key().to_bytes();
    (
        seed,
        Ed25519Recipient::new(public).expect("a real Ed25519 key"),
    )
}

#[test]
fn a_file_decrypts_with_the_matching_private_key_only() {
    let (seed, recipient) = key_pair(1);
    let (other_seed, _) = key_pair(2);
    let file = encrypt(&recipient, b"correct horse battery staple").unwrap();
    assert!(file.starts_with(b"age-encryption.org/v1\n-> ssh-ed25519 "));
    assert_eq!(
        decrypt(&seed, &file).unwrap(),
        b"correct horse battery staple"
    );
    assert_eq!(decrypt(&other_seed, &file), Err(AgeError::NoMatch));
}

#[test]
fn payloads_of_every_chunk_shape_round_trip() {
    let (seed, recipient) = key_pair(3);
    for len in [0, 1, 65_535, 65_536, 65_537, 3 * 65_536] {
        let plaintext: Vec<u8> = (0..len).map(|i| (i % 251) as u8).collect();
        let file = encrypt(&recipient, &plaintext).unwrap();
        assert_eq!(decrypt(&seed, &file).unwrap(), plaintext, "length {len}");
    }
}

#[test]
fn any_changed_byte_is_detected() {
    let (seed, recipient) = key_pair(4);
    let file = encrypt(&recipient, b"secret").unwrap();
    for index in 0..file.len() {
        let mut damaged = file.clone();
        damaged[index] ^= 0x01;
        assert!(
            decrypt(&seed, &damaged).is_err(),
            "flipping byte {index} went unnoticed"
        );
    }
    let truncated = &file[..file.len() - 1];
    assert_eq!(decrypt(&seed, truncated), Err(AgeError::Payload));
}

#[test]
fn every_file_has_a_fresh_file_key_and_share() {
    let (_, recipient) = key_pair(5);
    let first = encrypt(&recipient, b"same").unwrap();
    let second = encrypt(&recipient, b"same").unwrap();
    assert_ne!(first, second);
}

#[test]
fn invalid_public_keys_are_refused() {
    // The identity point (y = 1) has small order; 0x..02 is not on the curve.
    let mut identity = [0; 32];
    identity[0] = 1;
    assert_eq!(
        Ed25519Recipient::new(identity).unwrap_err(),
        AgeError::InvalidPublicKey
    );
    let mut off_curve = [0; 32];
    off_curve[0] = 2;
    assert_eq!(
        Ed25519Recipient::new(off_curve).unwrap_err(),
        AgeError::InvalidPublicKey
    );
}

// ---- the reference implementation's ssh-ed25519 key and file ----

const REFERENCE_PRIVATE_KEY: &str = include_str!("testdata/reference_ed25519_key.txt");
const REFERENCE_PUBLIC_KEY: &str = include_str!("testdata/reference_ed25519_key.txt.pub");
const REFERENCE_HEADER: &str = include_str!("testdata/reference_ed25519_header.age");
/// The Ed25519 seed inside `REFERENCE_PRIVATE_KEY`.
const REFERENCE_SEED: &str = "af1684174335e024b43e1b3e0f7c471fc99c02da05233a25930fffe64cfc83f0";
/// The stanza tag in `REFERENCE_HEADER`: the first four bytes of SHA-256 of
/// the key's SSH encoding, which the reference implementation computed.
const REFERENCE_TAG: &str = "cp09gQ";

/// The 32 raw key bytes of the reference public key: what a JWK's `x` holds.
fn reference_public_key() -> [u8; 32] {
    let encoded = REFERENCE_PUBLIC_KEY.split_whitespace().nth(1).unwrap();
    let wire = STANDARD.decode(encoded).unwrap();
    wire[wire.len() - 32..].try_into().unwrap()
}

#[test]
fn the_reference_private_key_opens_what_we_encrypt_to_its_raw_public_key() {
    let recipient = Ed25519Recipient::new(reference_public_key()).unwrap();
    let file = encrypt(&recipient, b"sealed for the reference key").unwrap();
    let stanza = format!("-> ssh-ed25519 {REFERENCE_TAG} ");
    assert!(
        file.windows(stanza.len()).any(|w| w == stanza.as_bytes()),
        "the stanza names the reference key's tag"
    );
    // The key file is parsed by the `age` crate, not by our encoder.
    let identity = age::ssh::Identity::from_buffer(REFERENCE_PRIVATE_KEY.as_bytes(), None).unwrap();
    assert_eq!(
        open(&identity, &file).unwrap(),
        b"sealed for the reference key"
    );
}

#[test]
fn the_reference_implementations_header_opens_with_the_seed_of_its_key() {
    let seed: [u8; 32] = hex::decode(REFERENCE_SEED).unwrap().try_into().unwrap();
    assert_eq!(
        SigningKey::from_bytes(&seed).verifying_key().to_bytes(),
        reference_public_key()
    );
    // The header alone, then a payload nonce and no chunks: the stanza unwraps
    // and the MAC verifies, so decryption gets as far as the payload.
    let with_nonce = |header: &str| [header.as_bytes(), &[0; 16]].concat();
    assert_eq!(
        decrypt(&seed, &with_nonce(REFERENCE_HEADER)),
        Err(AgeError::Payload)
    );
    let wrong_mac = REFERENCE_HEADER.replace("--- CjO8", "--- CjO9");
    assert_eq!(
        decrypt(&seed, &with_nonce(&wrong_mac)),
        Err(AgeError::HeaderMac)
    );
    let (other_seed, _) = key_pair(6);
    assert_eq!(
        decrypt(&other_seed, &with_nonce(REFERENCE_HEADER)),
        Err(AgeError::NoMatch)
    );
}

// ---- the C2SP age testkit ----

const TESTKIT: [(&str, &[u8]); 6] = [
    ("x25519", include_bytes!("testdata/cctv/x25519")),
    (
        "x25519_no_match",
        include_bytes!("testdata/cctv/x25519_no_match"),
    ),
    (
        "x25519_bad_tag",
        include_bytes!("testdata/cctv/x25519_bad_tag"),
    ),
    ("hmac_bad", include_bytes!("testdata/cctv/hmac_bad")),
    (
        "stream_bad_tag",
        include_bytes!("testdata/cctv/stream_bad_tag"),
    ),
    (
        "stanza_bad_start",
        include_bytes!("testdata/cctv/stanza_bad_start"),
    ),
];

/// A testkit vector: its `key: value` lines, then the age file.
fn testkit_vector(vector: &[u8]) -> (Vec<(String, String)>, &[u8]) {
    let split = vector
        .windows(2)
        .position(|pair| pair == b"\n\n")
        .expect("a blank line ends the vector's header");
    let fields = std::str::from_utf8(&vector[..split])
        .unwrap()
        .lines()
        .map(|line| {
            let (key, value) = line.split_once(": ").expect("key: value");
            (key.to_owned(), value.to_owned())
        })
        .collect();
    (fields, &vector[split + 2..])
}

#[test]
fn published_testkit_vectors_decrypt_or_fail_as_specified() {
    for (name, vector) in TESTKIT {
        let (fields, file) = testkit_vector(vector);
        let field = |key: &str| {
            fields
                .iter()
                .find(|(k, _)| k == key)
                .map(|(_, v)| v.as_str())
                .unwrap_or_else(|| panic!("{name}: no `{key}`"))
        };
        let identity = age::x25519::Identity::from_str(field("identity")).unwrap();
        let outcome = open(&identity, file);
        match field("expect") {
            "success" => {
                let plaintext = outcome.unwrap_or_else(|err| panic!("{name}: {err}"));
                assert_eq!(
                    hex::encode(Sha256::digest(&plaintext)),
                    field("payload"),
                    "{name}"
                );
            }
            "no match" => assert_eq!(outcome, Err(AgeError::NoMatch), "{name}"),
            "HMAC failure" => assert_eq!(outcome, Err(AgeError::HeaderMac), "{name}"),
            // We release no plaintext from a damaged file: the SHA-256 of
            // what was released is that of nothing.
            "payload failure" => {
                assert_eq!(outcome, Err(AgeError::Payload), "{name}");
                assert_eq!(field("payload"), hex::encode(Sha256::digest(b"")), "{name}");
            }
            "header failure" => assert_eq!(outcome, Err(AgeError::Malformed), "{name}"),
            other => panic!("{name}: unexpected expectation `{other}`"),
        }
    }
}

// ---- rage (PyPI `pyrage`), an independent implementation ----

const PYRAGE_INSTALL: &str = "python3 -m pip install pyrage==1.4.0";

/// CI sets `CI` (to `true`); there a missing tool is a failure, not a skip.
fn under_ci() -> bool {
    std::env::var("CI").is_ok_and(|value| !value.is_empty() && value != "false" && value != "0")
}

/// Runs `script` under python3 with `input` on stdin. When python3 or pyrage
/// is missing: a failure under CI, elsewhere `None` after a loud notice.
fn pyrage(script: &str, input: &[u8]) -> Option<Vec<u8>> {
    let probe = Command::new("python3")
        .args(["-c", "import pyrage"])
        .output();
    if !probe.is_ok_and(|output| output.status.success()) {
        assert!(
            !under_ci(),
            "python3 with pyrage is not on PATH, so the age output cannot be checked against \
             rage; CI must provide it (.ci/run installs it), or install it with: {PYRAGE_INSTALL}"
        );
        eprintln!(
            "\n!!! SKIPPED: python3 with pyrage is not available, so the age output was NOT \
             checked against rage. Install it with: {PYRAGE_INSTALL}\n"
        );
        return None;
    }
    let mut child = Command::new("python3")
        .args(["-c", script])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(input).unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(
        output.status.success(),
        "pyrage failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    Some(output.stdout)
}

#[test]
fn rage_decrypts_what_we_encrypt() {
    let (seed, recipient) = key_pair(11);
    let plaintext: Vec<u8> = (0..70_000).map(|i| (i % 253) as u8).collect();
    let file = encrypt(&recipient, &plaintext).unwrap();
    let script = format!(
        "import sys, pyrage\n\
         identity = pyrage.ssh.Identity.from_buffer({key:?}.encode())\n\
         sys.stdout.buffer.write(pyrage.decrypt(sys.stdin.buffer.read(), [identity]))\n",
        key = openssh::private_key_pem(&seed).as_str(),
    );
    if let Some(decrypted) = pyrage(&script, &file) {
        assert_eq!(decrypted, plaintext);
    }
}

#[test]
fn we_decrypt_what_rage_encrypts() {
    let (seed, _) = key_pair(12);
    let public = SigningKey::from_bytes(&seed).verifying_key().to_bytes();
    let plaintext = b"rage-made secret \xf0\x9f\x94\x91".repeat(5000);
    let script = format!(
        "import sys, pyrage\n\
         recipient = pyrage.ssh.Recipient.from_str({key:?})\n\
         sys.stdout.buffer.write(pyrage.encrypt(sys.stdin.buffer.read(), [recipient]))\n",
        key = openssh::public_key_line(&public),
    );
    if let Some(file) = pyrage(&script, &plaintext) {
        assert_eq!(decrypt(&seed, &file).unwrap(), plaintext);
    }
}
