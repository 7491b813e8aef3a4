//! The v1 envelope (docs/data-model.md, Envelope): the 5 bytes `C1ZF\0`, then one
//! zstd frame holding the SQLite file. Both directions stream: nothing larger
//! than the codec's buffers is ever held in memory. Reading enforces Baton's
//! decoder limits before and while decoding.

use std::fs::File;
use std::io::{self, BufRead, BufReader, BufWriter, Read, Write};
use std::path::Path;

use sha2::{Digest, Sha256};
use zstd::stream::{Decoder, Encoder};

use super::C1zError;

/// `C1ZF\0`: the v1 (SQLite) c1z header.
pub const MAGIC: [u8; 5] = *b"C1ZF\0";
/// `C1Z3\0`: the newer Pebble format, which the Feb-2026 CLI cannot read.
const MAGIC_V3: [u8; 5] = *b"C1Z3\0";
const ZSTD_MAGIC: [u8; 4] = [0x28, 0xB5, 0x2F, 0xFD];
/// zstd's default level: Baton's Go encoder uses the equivalent `SpeedDefault`.
pub const COMPRESSION_LEVEL: i32 = 3;
/// A frame header is at most 18 bytes (4 magic + 1 + 1 + 4 + 8).
const MAX_FRAME_HEADER: usize = 18;
const MIB: u64 = 1024 * 1024;

/// What Baton's reader accepts (`BATON_DECODER_MAX_MEMORY_MB`,
/// `BATON_DECODER_MAX_DECODED_SIZE_MB`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DecoderLimits {
    /// Largest zstd window, in bytes.
    pub max_window: u64,
    /// Largest decompressed database, in bytes.
    pub max_decoded_size: u64,
}

impl Default for DecoderLimits {
    /// 128 MiB window and 3 GiB decoded: the Feb-2026 `baton` CLI's limits,
    /// the strictest reader a file of ours must satisfy (HEAD allows 10 GiB).
    fn default() -> Self {
        Self {
            max_window: 128 * MIB,
            max_decoded_size: 3 * 1024 * MIB,
        }
    }
}

/// The parts of a zstd frame header (RFC 8878 §3.1.1.1) that Baton cares about.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FrameHeader {
    /// Bytes of history the decoder must keep.
    pub window_size: u64,
    /// Frame_Content_Size, when the encoder wrote it.
    pub content_size: Option<u64>,
    /// Whether the frame ends with an XXH64 checksum of its content.
    pub has_checksum: bool,
}

impl FrameHeader {
    /// Parses the header at the start of `bytes` (a zstd frame, without the c1z magic).
    pub fn parse(bytes: &[u8]) -> Result<Self, String> {
        let too_short = || format!("the zstd frame header is cut short ({} bytes)", bytes.len());
        if bytes.len() < 5 {
            return Err(too_short());
        }
        if bytes[..4] != ZSTD_MAGIC {
            return Err(format!(
                "after the c1z header comes {}, not a zstd frame (28 B5 2F FD)",
                hex_bytes(&bytes[..4])
            ));
        }
        let descriptor = bytes[4];
        if descriptor & 0x08 != 0 {
            return Err("the zstd frame header sets its reserved bit".to_owned());
        }
        let single_segment = descriptor & 0x20 != 0;
        let has_checksum = descriptor & 0x04 != 0;
        let dictionary_id_len = [0, 1, 2, 4][usize::from(descriptor & 0x03)];
        let content_size_len = match descriptor >> 6 {
            0 if single_segment => 1,
            0 => 0,
            1 => 2,
            2 => 4,
            _ => 8,
        };
        let mut at = 5;
        let window_size = if single_segment {
            None
        } else {
            let window_descriptor = *bytes.get(at).ok_or_else(too_short)?;
            at += 1;
            let exponent = u32::from(window_descriptor >> 3);
            let base = 1u64 << (10 + exponent);
            Some(base + (base / 8) * u64::from(window_descriptor & 0x07))
        };
        at += dictionary_id_len;
        let content_size = if content_size_len == 0 {
            None
        } else {
            let field = bytes.get(at..at + content_size_len).ok_or_else(too_short)?;
            let mut little_endian = [0u8; 8];
            little_endian[..content_size_len].copy_from_slice(field);
            let value = u64::from_le_bytes(little_endian);
            // The 2-byte form is stored minus 256.
            Some(if content_size_len == 2 {
                value + 256
            } else {
                value
            })
        };
        // A single-segment frame's window is its whole content.
        let window_size = window_size.or(content_size).ok_or_else(too_short)?;
        Ok(Self {
            window_size,
            content_size,
            has_checksum,
        })
    }
}

fn hex_bytes(bytes: &[u8]) -> String {
    bytes
        .iter()
        .map(|byte| format!("{byte:02X}"))
        .collect::<Vec<_>>()
        .join(" ")
}

/// Size and SHA-256 of a file written by [`compress`], and the size of the
/// database inside.
pub struct Written {
    pub size: u64,
    pub sha256: [u8; 32],
    pub database_size: u64,
}

/// Writes the c1z envelope of the database at `database` into `sink`: the
/// magic and one zstd frame with the checksum and the content size on.
/// Returns the sink, flushed, for the caller to fsync.
pub fn compress<W: Write>(
    database: &Path,
    sink: W,
    output_path: &Path,
) -> Result<(W, Written), C1zError> {
    let read_error = |err| C1zError::io("reading the database", database, err);
    let write_error = |err| C1zError::io("compressing the database into", output_path, err);
    let source = File::open(database).map_err(read_error)?;
    let size = source.metadata().map_err(read_error)?.len();
    let mut source = BufReader::with_capacity(zstd::zstd_safe::CCtx::in_size(), source);

    let mut sink = HashingWriter::new(BufWriter::new(sink));
    sink.write_all(&MAGIC).map_err(write_error)?;
    let mut encoder = Encoder::new(sink, COMPRESSION_LEVEL).map_err(write_error)?;
    encoder.include_checksum(true).map_err(write_error)?;
    encoder.include_contentsize(true).map_err(write_error)?;
    encoder
        .set_pledged_src_size(Some(size))
        .map_err(write_error)?;
    copy(&mut source, &mut encoder, read_error, write_error)?;
    let sink = encoder.finish().map_err(write_error)?;
    let (buffered, written) = sink.finish(size);
    let sink = buffered
        .into_inner()
        .map_err(|err| write_error(err.into_error()))?;
    Ok((sink, written))
}

/// `io::copy`, telling read failures from write failures.
fn copy(
    source: &mut impl Read,
    sink: &mut impl Write,
    read_error: impl Fn(io::Error) -> C1zError,
    write_error: impl Fn(io::Error) -> C1zError,
) -> Result<u64, C1zError> {
    let mut buffer = vec![0u8; 128 * 1024];
    let mut total = 0u64;
    loop {
        let read = match source.read(&mut buffer) {
            Ok(0) => return Ok(total),
            Ok(read) => read,
            Err(err) if err.kind() == io::ErrorKind::Interrupted => continue,
            Err(err) => return Err(read_error(err)),
        };
        sink.write_all(&buffer[..read]).map_err(&write_error)?;
        total += read as u64;
    }
}

struct HashingWriter<W> {
    inner: W,
    hasher: Sha256,
    size: u64,
}

impl<W: Write> HashingWriter<W> {
    fn new(inner: W) -> Self {
        Self {
            inner,
            hasher: Sha256::new(),
            size: 0,
        }
    }

    fn finish(self, database_size: u64) -> (W, Written) {
        let sha256 = self.hasher.finalize().into();
        (
            self.inner,
            Written {
                size: self.size,
                sha256,
                database_size,
            },
        )
    }
}

impl<W: Write> Write for HashingWriter<W> {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        let written = self.inner.write(bytes)?;
        self.hasher.update(&bytes[..written]);
        self.size += written as u64;
        Ok(written)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// Decompresses the c1z at `path` into `output` within `limits` and returns
/// its frame header. Refuses a wrong magic, a window or declared size over
/// the limits before decoding, and stops as soon as the output passes the
/// size cap.
pub fn decompress(
    path: &Path,
    output: File,
    output_path: &Path,
    limits: DecoderLimits,
) -> Result<FrameHeader, C1zError> {
    let read_error = |err| C1zError::io("reading", path, err);
    let write_error = |err| C1zError::io("writing the decompressed database to", output_path, err);
    let mut source = BufReader::new(File::open(path).map_err(read_error)?);

    let mut magic = [0u8; 5];
    let got = read_up_to(&mut source, &mut magic).map_err(read_error)?;
    check_magic(path, &magic[..got])?;

    let header = peek_frame_header(&mut source).map_err(read_error)?;
    let header = FrameHeader::parse(header).map_err(|problem| C1zError::corrupt(path, problem))?;
    if header.window_size > limits.max_window {
        return Err(C1zError::WindowTooLarge {
            path: path.to_owned(),
            window: header.window_size,
            limit: limits.max_window,
        });
    }
    let too_large = || C1zError::DecodedTooLarge {
        path: path.to_owned(),
        limit: limits.max_decoded_size,
    };
    if header
        .content_size
        .is_some_and(|size| size > limits.max_decoded_size)
    {
        return Err(too_large());
    }

    let mut decoder = Decoder::with_buffer(source).map_err(read_error)?;
    decoder
        .window_log_max(window_log(limits.max_window))
        .map_err(read_error)?;
    let mut sink = BufWriter::new(output);
    // Read one byte past the cap so an oversized stream is noticed, not truncated.
    let mut capped = decoder.take(limits.max_decoded_size.saturating_add(1));
    let zstd_error = |err: io::Error| C1zError::corrupt(path, format!("zstd: {err}"));
    let decoded = copy(&mut capped, &mut sink, zstd_error, write_error)?;
    if decoded > limits.max_decoded_size {
        return Err(too_large());
    }
    let file = sink
        .into_inner()
        .map_err(|err| write_error(err.into_error()))?;
    file.sync_all().map_err(write_error)?;
    Ok(header)
}

fn check_magic(path: &Path, found: &[u8]) -> Result<(), C1zError> {
    let not_c1z = |problem: String| {
        Err(C1zError::NotC1z {
            path: path.to_owned(),
            problem,
        })
    };
    if found == MAGIC {
        Ok(())
    } else if found.is_empty() {
        not_c1z("the file is empty".to_owned())
    } else if found == MAGIC_V3 {
        not_c1z(
            "it starts with C1Z3\\0, the newer Pebble (v3) format, which this reader and the \
             Feb-2026 baton CLI do not read; only C1ZF\\0 (v1, SQLite) is supported"
                .to_owned(),
        )
    } else {
        not_c1z(format!(
            "it starts with {}, a c1z starts with 43 31 5A 46 00 (\"C1ZF\\0\")",
            hex_bytes(found)
        ))
    }
}

fn read_up_to(source: &mut impl Read, buffer: &mut [u8]) -> io::Result<usize> {
    let mut filled = 0;
    while filled < buffer.len() {
        match source.read(&mut buffer[filled..]) {
            Ok(0) => break,
            Ok(read) => filled += read,
            Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
            Err(err) => return Err(err),
        }
    }
    Ok(filled)
}

/// The first bytes of the frame, left in the reader for the decoder.
fn peek_frame_header(source: &mut BufReader<File>) -> io::Result<&[u8]> {
    let available = source.fill_buf()?.len();
    // A BufReader refills only when empty; a frame header shorter than the
    // buffer is all there when the file holds it.
    let end = available.min(MAX_FRAME_HEADER);
    Ok(&source.buffer()[..end])
}

/// The largest window_log whose window fits in `max_window` (zstd's minimum is 10).
fn window_log(max_window: u64) -> u32 {
    (63 - max_window.max(1).leading_zeros()).max(10)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_with_window_descriptor_and_no_content_size() {
        // Descriptor 0x04: checksum only; window descriptor 0x68 = 2^(10+13) = 8 MiB.
        let header = FrameHeader::parse(&[0x28, 0xB5, 0x2F, 0xFD, 0x04, 0x68, 0, 0]).unwrap();
        assert_eq!(
            header,
            FrameHeader {
                window_size: 8 * MIB,
                content_size: None,
                has_checksum: true
            }
        );
    }

    #[test]
    fn header_of_a_sized_frame_from_the_zstd_library() {
        let data = vec![7u8; 300_000];
        let mut frame = Vec::new();
        let mut encoder = Encoder::new(&mut frame, 3).unwrap();
        encoder.include_checksum(true).unwrap();
        encoder
            .set_pledged_src_size(Some(data.len() as u64))
            .unwrap();
        encoder.write_all(&data).unwrap();
        encoder.finish().unwrap();
        let header = FrameHeader::parse(&frame).unwrap();
        assert_eq!(header.content_size, Some(300_000));
        assert!(header.has_checksum);
        assert!(header.window_size <= 128 * MIB);
    }

    #[test]
    fn two_byte_content_size_is_offset_by_256() {
        // Descriptor 0x60: FCS 2 bytes, single segment; 0x0000 means 256.
        let header = FrameHeader::parse(&[0x28, 0xB5, 0x2F, 0xFD, 0x60, 0x00, 0x00]).unwrap();
        assert_eq!(header.content_size, Some(256));
        assert_eq!(header.window_size, 256);
    }

    #[test]
    fn not_zstd_after_the_magic_is_named() {
        let problem = FrameHeader::parse(b"SQLite format 3\0").unwrap_err();
        assert!(problem.contains("53 51 4C 69"), "{problem}");
    }

    #[test]
    fn window_log_is_the_floor_of_the_limit() {
        assert_eq!(window_log(128 * MIB), 27);
        assert_eq!(window_log(128 * MIB - 1), 26);
        assert_eq!(window_log(1), 10);
    }
}
