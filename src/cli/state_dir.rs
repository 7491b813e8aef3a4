//! The state directory single-connector mode uses when `--data-dir` is not
//! given: a fixed name under the shared temp directory, so it must be one
//! this process made private, never one another local user prepared.

use std::fs::DirBuilder;
use std::io;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt};
use std::path::Path;

/// Creates `dir` with mode 0700, or accepts it if it already is a real
/// directory (not a link) of this process's user that no one else may enter.
pub fn claim_private_dir(dir: &Path) -> anyhow::Result<()> {
    match DirBuilder::new().mode(0o700).create(dir) {
        Ok(()) => return Ok(()),
        Err(err) if err.kind() == io::ErrorKind::AlreadyExists => {}
        Err(err) => anyhow::bail!(
            "cannot create the state directory {}: {err}; pass --data-dir with a private, writable directory",
            dir.display()
        ),
    }
    let refuse = |why: &str| {
        anyhow::anyhow!(
            "refusing the state directory {}: {why}; remove it, or pass --data-dir with a directory of mode 0700 owned by this user",
            dir.display()
        )
    };
    let metadata = std::fs::symlink_metadata(dir).map_err(|err| refuse(&err.to_string()))?;
    if !metadata.file_type().is_dir() {
        return Err(refuse(
            "it is not a directory (a symbolic link is not accepted)",
        ));
    }
    if metadata.mode() & 0o077 != 0 {
        return Err(refuse("other users may read or enter it"));
    }
    if metadata.uid() != own_uid(dir).map_err(|err| refuse(&err.to_string()))? {
        return Err(refuse("it belongs to another user"));
    }
    Ok(())
}

/// The user this process creates files as, read from a probe file made (and
/// removed) inside `dir`: std has no portable call for the effective uid.
fn own_uid(dir: &Path) -> io::Result<u32> {
    let probe = dir.join(format!(".owner-probe-{}", std::process::id()));
    let file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&probe)?;
    let uid = file.metadata().map(|metadata| metadata.uid());
    std::fs::remove_file(&probe)?;
    uid
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch(label: &str) -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!(
            "state-dir-{label}-{}-{}",
            std::process::id(),
            hex::encode(rand::random::<[u8; 4]>())
        ));
        std::fs::create_dir(&dir).unwrap();
        dir
    }

    #[test]
    fn a_new_state_directory_is_created_private() {
        let parent = scratch("new");
        let dir = parent.join("state");
        claim_private_dir(&dir).unwrap();
        let mode = std::fs::metadata(&dir).unwrap().mode() & 0o777;
        assert_eq!(mode, 0o700);
        claim_private_dir(&dir).expect("its own private directory is accepted again");
        std::fs::remove_dir_all(parent).unwrap();
    }

    #[test]
    fn a_state_directory_others_can_enter_or_a_link_is_refused() {
        let parent = scratch("shared");
        let open = parent.join("open");
        DirBuilder::new().mode(0o755).create(&open).unwrap();
        std::fs::set_permissions(&open, std::os::unix::fs::PermissionsExt::from_mode(0o755))
            .unwrap();
        let err = claim_private_dir(&open).unwrap_err().to_string();
        assert!(err.contains("other users may read"), "{err}");

        let target = parent.join("target");
        DirBuilder::new().mode(0o700).create(&target).unwrap();
        let link = parent.join("link");
        std::os::unix::fs::symlink(&target, &link).unwrap();
        let err = claim_private_dir(&link).unwrap_err().to_string();
        assert!(err.contains("symbolic link"), "{err}");
        std::fs::remove_dir_all(parent).unwrap();
    }
}
