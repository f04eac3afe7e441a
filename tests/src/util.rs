//! Small shared helpers: digests, running commands, running blocking test code.

use std::path::Path;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};

/// `sha256:<hex>` of `bytes`, the form used in manifests and `docker inspect`.
pub fn sha256_digest(bytes: &[u8]) -> String {
    format!("sha256:{}", sha256_hex(bytes))
}

/// Lower-case hex SHA-256 of `bytes`.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// Runs blocking test code (CLI tools) off the tokio workers, so an in-process Trove on the same
/// runtime keeps serving. A panic inside `f` is re-raised here with its original payload.
pub async fn blocking<T, F>(f: F) -> T
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    match tokio::task::spawn_blocking(f).await {
        Ok(v) => v,
        Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
        Err(e) => panic!("blocking task failed: {e}"),
    }
}

/// Renders a command line for messages.
pub fn describe(cmd: &Command) -> String {
    let mut s = cmd.get_program().to_string_lossy().into_owned();
    for a in cmd.get_args() {
        s.push(' ');
        s.push_str(&a.to_string_lossy());
    }
    s
}

/// Runs `cmd` to completion and returns its output, whatever the exit status. Panics only if the
/// program cannot be started.
pub fn run_unchecked(cmd: &mut Command) -> Output {
    let line = describe(cmd);
    let started = Instant::now();
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run `{line}`: {e}"));
    eprintln!(
        "[e2e] `{line}` -> {} in {:.1}s",
        out.status,
        started.elapsed().as_secs_f64()
    );
    out
}

/// Runs `cmd`; panics with its stdout and stderr when it does not exit with status 0.
pub fn run(cmd: &mut Command) -> Output {
    let line = describe(cmd);
    let out = run_unchecked(cmd);
    if !out.status.success() {
        panic!(
            "`{line}` failed with {}\n--- stdout ---\n{}\n--- stderr ---\n{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    out
}

/// Stdout of a successful command, trimmed.
pub fn stdout_of(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

/// Polls `f` every 100 ms until it returns `Some`, or returns `None` after `timeout`.
pub fn poll_until<T>(timeout: Duration, mut f: impl FnMut() -> Option<T>) -> Option<T> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = f() {
            return Some(v);
        }
        if Instant::now() >= deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The last `n` lines of a text file (empty if it cannot be read).
pub fn tail_file(path: &Path, n: usize) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

/// Sends `signal` (e.g. "TERM") to `pid` with kill(1): the workspace forbids `unsafe`, so no libc.
pub fn send_signal(pid: u32, signal: &str) {
    let _ = Command::new("kill")
        .arg(format!("-{signal}"))
        .arg(pid.to_string())
        .output();
}

/// Pids of live processes whose command line contains `needle` (a unique tempdir path, so only
/// processes this harness started match).
pub fn pids_with_cmdline(needle: &str) -> Vec<u32> {
    let mut pids = Vec::new();
    let Ok(rd) = std::fs::read_dir("/proc") else {
        return pids;
    };
    for entry in rd.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<u32>().ok())
        else {
            continue;
        };
        let cmdline = std::fs::read(entry.path().join("cmdline")).unwrap_or_default();
        if String::from_utf8_lossy(&cmdline)
            .replace('\0', " ")
            .contains(needle)
        {
            pids.push(pid);
        }
    }
    pids
}

/// Lazily unmounts every mount point at or below `dir` (deepest first), so a daemon killed
/// without its own cleanup does not leave the tempdir undeletable.
pub fn unmount_below(dir: &Path) {
    let Ok(info) = std::fs::read_to_string("/proc/self/mountinfo") else {
        return;
    };
    let prefix = dir.to_string_lossy().into_owned();
    let mut points: Vec<String> = info
        .lines()
        .filter_map(|l| l.split(' ').nth(4))
        .filter(|p| *p == prefix || p.starts_with(&format!("{prefix}/")))
        .map(str::to_owned)
        .collect();
    points.sort_by_key(|p| std::cmp::Reverse(p.len()));
    points.dedup();
    for p in points {
        let _ = Command::new("umount").arg("-l").arg(&p).output();
    }
}

/// Where `scripts/test` installs the npm and PyPI tools the tests start (Verdaccio, the OIDC
/// provider, ...): `$TROVE_TEST_TOOLS`, else `~/.cache/trove-tests`.
pub fn tools_dir() -> std::path::PathBuf {
    match std::env::var_os("TROVE_TEST_TOOLS") {
        Some(d) => std::path::PathBuf::from(d),
        None => {
            std::path::PathBuf::from(std::env::var_os("HOME").unwrap_or_else(|| "/root".into()))
                .join(".cache/trove-tests")
        }
    }
}
