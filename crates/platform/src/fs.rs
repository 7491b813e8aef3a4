//! Reading the small files a config names (secrets, CA bundles) without
//! trusting their size: a path that names `/dev/zero`, a FIFO nobody writes
//! or a multi-gigabyte log by mistake fails with a clear error instead of
//! filling memory or hanging a reload.

use std::fs::File;
use std::io::{self, Read};
use std::path::Path;

/// Reads at most `limit` bytes of a regular file; anything else is an error
/// that says what the path is and what is expected.
pub fn read_small_file(path: &Path, limit: u64) -> io::Result<Vec<u8>> {
    let file = File::open(path)?;
    let kind = file.metadata()?.file_type();
    if !kind.is_file() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "it is not a regular file (a device, a pipe or a directory)",
        ));
    }
    let mut content = Vec::new();
    file.take(limit + 1).read_to_end(&mut content)?;
    if content.len() as u64 > limit {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("it is larger than {limit} bytes, more than such a file ever holds"),
        ));
    }
    Ok(content)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_device_is_refused_without_reading_it() {
        let err = read_small_file(Path::new("/dev/zero"), 1024).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidInput, "{err}");
    }

    #[test]
    fn a_file_over_the_limit_is_refused_and_one_at_it_is_read() {
        let dir = std::env::temp_dir().join(format!("platform-fs-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("bundle.pem");
        std::fs::write(&path, vec![b'x'; 100]).unwrap();
        assert_eq!(read_small_file(&path, 100).unwrap().len(), 100);
        let err = read_small_file(&path, 99).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidData, "{err}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
