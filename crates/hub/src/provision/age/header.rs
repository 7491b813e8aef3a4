//! The textual age header: the version line, recipient stanzas (arguments,
//! then a base64 body wrapped at 64 columns), and the HMAC-SHA-256 of it all
//! under a key derived from the file key.

use base64::Engine;
use base64::engine::general_purpose::STANDARD_NO_PAD;
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

use super::{AgeError, FileKey, hkdf_sha256};

const VERSION_LINE: &[u8] = b"age-encryption.org/v1";
const STANZA_PREFIX: &[u8] = b"-> ";
const MAC_PREFIX: &[u8] = b"---";
const COLUMNS: usize = 64;
const MAC_LEN: usize = 32;

/// One recipient stanza: its arguments (the first names its type) and body.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct Stanza {
    pub args: Vec<String>,
    pub body: Vec<u8>,
}

/// A parsed header and what follows it.
pub(super) struct Parsed<'a> {
    pub stanzas: Vec<Stanza>,
    /// The header up to and including `---`: what the MAC covers.
    pub authenticated: &'a [u8],
    pub mac: [u8; MAC_LEN],
    pub payload: &'a [u8],
}

/// The header for `stanzas`, MAC included.
pub(super) fn encode(stanzas: &[Stanza], file_key: &FileKey) -> Vec<u8> {
    let mut header = Vec::with_capacity(256);
    header.extend_from_slice(VERSION_LINE);
    header.push(b'\n');
    for stanza in stanzas {
        header.extend_from_slice(STANZA_PREFIX);
        header.extend_from_slice(stanza.args.join(" ").as_bytes());
        header.push(b'\n');
        let body = STANDARD_NO_PAD.encode(&stanza.body);
        for line in body.as_bytes().chunks(COLUMNS) {
            header.extend_from_slice(line);
            header.push(b'\n');
        }
        // The body ends with a line shorter than 64 columns: an empty one if need be.
        if body.len() % COLUMNS == 0 {
            header.push(b'\n');
        }
    }
    header.extend_from_slice(MAC_PREFIX);
    let mac = header_mac(file_key, &header);
    header.push(b' ');
    header.extend_from_slice(STANDARD_NO_PAD.encode(mac).as_bytes());
    header.push(b'\n');
    header
}

/// Splits a file into its header parts and payload; checks syntax only.
pub(super) fn parse(file: &[u8]) -> Result<Parsed<'_>, AgeError> {
    let mut lines = Lines { file, at: 0 };
    if lines.next_line()? != VERSION_LINE {
        return Err(AgeError::Malformed(
            "the first line is not age-encryption.org/v1",
        ));
    }
    let mut stanzas = Vec::new();
    loop {
        let start = lines.at;
        let line = lines.next_line()?;
        if let Some(args) = line.strip_prefix(STANZA_PREFIX) {
            stanzas.push(Stanza {
                args: parse_args(args)?,
                body: parse_body(&mut lines)?,
            });
        } else if let Some(encoded) = line.strip_prefix(MAC_PREFIX) {
            let encoded = encoded
                .strip_prefix(b" ")
                .ok_or(AgeError::Malformed("the MAC line lacks its space"))?;
            let mac = decode(encoded)?
                .try_into()
                .map_err(|_| AgeError::Malformed("the header MAC is not 32 bytes"))?;
            if stanzas.is_empty() {
                return Err(AgeError::Malformed("the header has no recipient stanza"));
            }
            return Ok(Parsed {
                stanzas,
                authenticated: &file[..start + MAC_PREFIX.len()],
                mac,
                payload: &file[lines.at..],
            });
        } else {
            return Err(AgeError::Malformed(
                "a header line is neither a stanza nor the MAC",
            ));
        }
    }
}

/// Checks the header MAC in constant time.
pub(super) fn verify_mac(parsed: &Parsed<'_>, file_key: &FileKey) -> Result<(), AgeError> {
    mac_for(file_key)
        .chain_update(parsed.authenticated)
        .verify_slice(&parsed.mac)
        .map_err(|_| AgeError::HeaderMac)
}

fn header_mac(file_key: &FileKey, authenticated: &[u8]) -> [u8; MAC_LEN] {
    mac_for(file_key)
        .chain_update(authenticated)
        .finalize()
        .into_bytes()
        .into()
}

fn mac_for(file_key: &FileKey) -> Hmac<Sha256> {
    let key = hkdf_sha256(&[], file_key, b"header");
    // Infallible: HMAC accepts keys of any length.
    Hmac::<Sha256>::new_from_slice(&key).expect("HMAC takes keys of any length")
}

fn parse_args(text: &[u8]) -> Result<Vec<String>, AgeError> {
    text.split(|&byte| byte == b' ')
        .map(|arg| {
            if arg.is_empty() || !arg.iter().all(|byte| (b'!'..=b'~').contains(byte)) {
                return Err(AgeError::Malformed(
                    "a stanza argument is empty or not printable",
                ));
            }
            Ok(String::from_utf8_lossy(arg).into_owned())
        })
        .collect()
}

/// Body lines of exactly 64 columns, ended by a shorter (maybe empty) one.
fn parse_body(lines: &mut Lines<'_>) -> Result<Vec<u8>, AgeError> {
    let mut encoded = Vec::new();
    loop {
        let line = lines.next_line()?;
        if line.len() > COLUMNS {
            return Err(AgeError::Malformed(
                "a stanza body line is longer than 64 columns",
            ));
        }
        encoded.extend_from_slice(line);
        if line.len() < COLUMNS {
            return decode(&encoded);
        }
    }
}

/// Canonical unpadded standard base64; anything else is refused.
fn decode(encoded: &[u8]) -> Result<Vec<u8>, AgeError> {
    STANDARD_NO_PAD
        .decode(encoded)
        .map_err(|_| AgeError::Malformed("invalid or non-canonical base64"))
}

/// Lines ended by LF, tracking the offset into the file.
struct Lines<'a> {
    file: &'a [u8],
    at: usize,
}

impl<'a> Lines<'a> {
    fn next_line(&mut self) -> Result<&'a [u8], AgeError> {
        let rest = &self.file[self.at..];
        let end = rest
            .iter()
            .position(|&byte| byte == b'\n')
            .ok_or(AgeError::Malformed("the header ends without a MAC line"))?;
        self.at += end + 1;
        Ok(&rest[..end])
    }
}
