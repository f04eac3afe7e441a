//! Files only Trove's user may read (issue 14): the database holds password hashes and session
//! hashes, the blobs are private images, and the signing key file mints tokens. Directories
//! Trove makes are 0700, files 0600, set explicitly where they are created (and by a process
//! umask of 0o077 for anything else, [`restrict_umask`]). Files and directories Trove owns that
//! an earlier version left looser are tightened at start, with a warning; a directory the
//! operator named (the data directory, the blob store root) is only warned about, since it may
//! hold more than Trove's files.

use std::io;
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::Path;

/// What a directory of Trove's gets: its owner alone may list or enter it.
pub const PRIVATE_DIR: u32 = 0o700;
/// What a file of Trove's gets: its owner alone may read or write it.
pub const PRIVATE_FILE: u32 = 0o600;

/// Sets the process umask to 0o077, so whatever the process creates without an explicit mode
/// (SQLite's temporary files, a library's) is its user's alone. Call it first thing in `main`,
/// before threads start: the umask is process-wide. Returns the previous mask.
pub fn restrict_umask() -> u32 {
    rustix::process::umask(rustix::fs::Mode::from_raw_mode(0o077)).as_raw_mode()
}

/// Creates `dir` and its missing parents with mode 0700. An existing directory keeps its
/// mode; if group or others may use it, a warning says so and how to fix it.
pub fn create_private_dir(dir: &Path) -> io::Result<()> {
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(PRIVATE_DIR)
        .create(dir)?;
    let mode = std::fs::metadata(dir)?.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        tracing::warn!(
            dir = %dir.display(),
            mode = format!("{mode:o}"),
            "Trove's directory is open to other users; the files Trove keeps in it are made \
             private, but other users can see their names: run `chmod 700` on it"
        );
    }
    Ok(())
}

/// Makes `path`, a file or directory Trove owns, its owner's alone (0600, or 0700 for a
/// directory) if it exists and is looser, with a warning naming the old mode. `true` if it
/// changed the mode; a missing path is no error.
pub fn make_private(path: &Path) -> io::Result<bool> {
    let meta = match std::fs::symlink_metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(false),
        Err(e) => return Err(e),
    };
    // A link is followed by nobody here: its target is not necessarily Trove's.
    if meta.file_type().is_symlink() {
        return Ok(false);
    }
    let wanted = if meta.is_dir() {
        PRIVATE_DIR
    } else {
        PRIVATE_FILE
    };
    let mode = meta.permissions().mode() & 0o777;
    if mode & !wanted == 0 {
        return Ok(false);
    }
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode & wanted))?;
    tracing::warn!(
        path = %path.display(),
        was = format!("{mode:o}"),
        now = format!("{:o}", mode & wanted),
        "made private: other users could read it"
    );
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mode(p: &Path) -> u32 {
        std::fs::metadata(p).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn looser_files_and_dirs_are_tightened_and_private_ones_left_alone() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("f");
        std::fs::write(&file, b"x").unwrap();
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
        assert!(make_private(&file).unwrap());
        assert_eq!(mode(&file), 0o600);
        assert!(!make_private(&file).unwrap(), "already private");
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o400)).unwrap();
        assert!(!make_private(&file).unwrap(), "stricter stays as it is");
        assert_eq!(mode(&file), 0o400);
        let sub = dir.path().join("d");
        std::fs::create_dir(&sub).unwrap();
        std::fs::set_permissions(&sub, std::fs::Permissions::from_mode(0o755)).unwrap();
        assert!(make_private(&sub).unwrap());
        assert_eq!(mode(&sub), 0o700);
        assert!(!make_private(&dir.path().join("missing")).unwrap());
    }

    #[test]
    fn new_directories_are_private_and_existing_ones_keep_their_mode() {
        let dir = tempfile::tempdir().unwrap();
        let nested = dir.path().join("a/b");
        create_private_dir(&nested).unwrap();
        assert_eq!(mode(&nested), 0o700);
        assert_eq!(mode(&dir.path().join("a")), 0o700, "parents too");
        std::fs::set_permissions(&nested, std::fs::Permissions::from_mode(0o750)).unwrap();
        create_private_dir(&nested).unwrap();
        assert_eq!(mode(&nested), 0o750, "only warned about");
    }
}
