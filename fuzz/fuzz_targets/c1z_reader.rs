//! The c1z reader behind `inspect`. Input with an even first byte is a whole
//! file (header and zstd frame); with an odd one, the rest is an SQLite image
//! that gets a valid header and compression, so the fuzzer reaches the schema
//! checks and row decoding rather than stopping at the frame.
#![no_main]

use std::path::PathBuf;
use std::sync::LazyLock;

use baton::c1z::C1zReader;
use baton::c1z::format::MAGIC;
use libfuzzer_sys::fuzz_target;

static FILE: LazyLock<PathBuf> =
    LazyLock::new(|| std::env::temp_dir().join(format!("c1z-fuzz-{}.c1z", std::process::id())));

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let file = if mode & 1 == 0 {
        rest.to_vec()
    } else {
        let mut file = MAGIC.to_vec();
        file.extend(zstd::encode_all(rest, 1).expect("compressing into memory"));
        file
    };
    std::fs::write(&*FILE, file).expect("writing the scratch file");
    match C1zReader::open(&FILE) {
        Ok(reader) => {
            let _ = reader.summary();
            let _ = reader.listing();
        }
        Err(error) => {
            let _ = error.to_string();
        }
    }
});
