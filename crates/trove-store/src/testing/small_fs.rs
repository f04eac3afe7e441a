//! A real, small filesystem for tests of what happens when the disk fills up.

use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};

/// A tmpfs of a fixed size mounted on a fresh directory for one test, unmounted and removed on
/// drop. Needs root (or `CAP_SYS_ADMIN`) and `mount`; a test that cannot mount one must fail
/// with the error [`SmallFs::mount`] returns, never skip.
///
/// ```text
/// let fs = SmallFs::mount(16 << 20).expect("a disk-full test needs a small tmpfs");
/// fs.fill()?;   // every write now fails with ENOSPC
/// fs.free()?;   // and succeeds again
/// ```
pub struct SmallFs {
    path: PathBuf,
}

const FILLER: &str = "smallfs-filler";

impl SmallFs {
    /// Mounts a tmpfs of `size` bytes (mode 0700) on a new directory under the system temp
    /// directory.
    pub fn mount(size: u64) -> Result<SmallFs, String> {
        static SEQ: AtomicU32 = AtomicU32::new(0);
        let path = std::env::temp_dir().join(format!(
            "trove-smallfs-{}-{}",
            std::process::id(),
            SEQ.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&path)
            .map_err(|e| format!("creating mount point {}: {e}", path.display()))?;
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o"])
            .arg(format!("size={size},mode=0700"))
            .arg("tmpfs")
            .arg(&path)
            .output();
        let failure = match out {
            Ok(o) if o.status.success() => return Ok(SmallFs { path }),
            Ok(o) => format!(
                "{}: {}",
                o.status,
                String::from_utf8_lossy(&o.stderr).trim()
            ),
            Err(e) => format!("cannot run mount: {e}"),
        };
        let _ = std::fs::remove_dir(&path);
        Err(format!(
            "mounting a {size}-byte tmpfs on {} failed ({failure}); this test needs root \
             (or CAP_SYS_ADMIN) to make a small real filesystem",
            path.display()
        ))
    }

    /// Where the filesystem is mounted.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Writes a filler file until the filesystem has no byte left (`ENOSPC`); returns how many
    /// bytes it wrote. Any other error is returned.
    pub fn fill(&self) -> io::Result<u64> {
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.path.join(FILLER))?;
        let mut written = 0;
        for chunk in [1 << 20, 4096, 1] {
            let buf = vec![0x5a_u8; chunk];
            loop {
                match f.write(&buf) {
                    Ok(0) => break,
                    Ok(n) => written += n as u64,
                    Err(e) if e.kind() == io::ErrorKind::StorageFull => break,
                    Err(e) => return Err(e),
                }
            }
        }
        Ok(written)
    }

    /// Removes what [`Self::fill`] wrote.
    pub fn free(&self) -> io::Result<()> {
        std::fs::remove_file(self.path.join(FILLER))
    }
}

impl Drop for SmallFs {
    fn drop(&mut self) {
        let unmounted = Command::new("umount")
            .arg(&self.path)
            .status()
            .is_ok_and(|s| s.success());
        // Still busy (a file left open by a failed test): detach it now, it goes when closed.
        if !unmounted {
            let _ = Command::new("umount").arg("-l").arg(&self.path).status();
        }
        let _ = std::fs::remove_dir(&self.path);
    }
}
