//! The machine: description, load, tools (installed with apt-get when missing), versions.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{Result, bail};
use serde_json::{Value, json};

use crate::servers::{DOCKER_REGISTRY, is_root};
use crate::wrk::WRK;

/// Installs Debian's `wrk` and `docker-registry` if missing (needs root; fails loudly
/// otherwise).
pub fn ensure_tools() -> Result<()> {
    let missing: Vec<&str> = [(WRK, "wrk"), (DOCKER_REGISTRY, "docker-registry")]
        .iter()
        .filter(|(p, _)| !Path::new(p).exists())
        .map(|(_, pkg)| *pkg)
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    if !is_root() {
        bail!(
            "missing {}: run as root (the benchmark installs them), or: sudo apt-get install {}",
            missing.join(", "),
            missing.join(" ")
        );
    }
    eprintln!(
        "trove-bench: installing {} with apt-get",
        missing.join(", ")
    );
    let ok = Command::new("apt-get")
        .args(["update", "-qq"])
        .status()?
        .success()
        && Command::new("apt-get")
            .args(["install", "-y", "-qq"])
            .args(&missing)
            .env("DEBIAN_FRONTEND", "noninteractive")
            .status()?
            .success();
    if !ok {
        bail!("apt-get install {} failed", missing.join(" "));
    }
    for (p, pkg) in [(WRK, "wrk"), (DOCKER_REGISTRY, "docker-registry")] {
        if !Path::new(p).exists() {
            bail!("{pkg} installed but {p} is still missing");
        }
    }
    Ok(())
}

/// Bytes available to unprivileged users on the filesystem of `path` (`df`).
pub fn free_bytes(path: &str) -> Option<u64> {
    let out = Command::new("df")
        .args(["--output=avail", "-B1", path])
        .output()
        .ok()?;
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .nth(1)?
        .trim()
        .parse()
        .ok()
}

pub fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

pub fn loadavg1() -> f64 {
    loadavg()
        .split_whitespace()
        .next()
        .and_then(|s| s.parse().ok())
        .unwrap_or(f64::NAN)
}

/// Processes of other people's builds that distort timings (rustc, cc, ld …).
pub fn compiler_processes() -> usize {
    let Ok(rd) = std::fs::read_dir("/proc") else {
        return 0;
    };
    rd.filter_map(|e| e.ok())
        .filter(|e| {
            e.file_name()
                .to_string_lossy()
                .bytes()
                .all(|b| b.is_ascii_digit())
        })
        .filter_map(|e| std::fs::read_to_string(e.path().join("comm")).ok())
        .filter(|c| {
            matches!(
                c.trim(),
                "rustc"
                    | "cc1"
                    | "cc1plus"
                    | "ld"
                    | "ld.lld"
                    | "lld"
                    | "mold"
                    | "clang"
                    | "cargo-clippy"
                    | "clippy-driver"
            )
        })
        .count()
}

fn cpu_jiffies() -> Option<(u64, u64)> {
    let s = std::fs::read_to_string("/proc/stat").ok()?;
    let l = s.lines().next()?;
    let v: Vec<u64> = l
        .split_whitespace()
        .skip(1)
        .filter_map(|x| x.parse().ok())
        .collect();
    let idle = v.get(3)? + v.get(4).unwrap_or(&0);
    Some((v.iter().sum(), idle))
}

/// Fraction of all CPUs busy over `d` (before the benchmark starts anything: other people's
/// work).
pub fn busy_fraction(d: Duration) -> f64 {
    let a = cpu_jiffies();
    std::thread::sleep(d);
    match (a, cpu_jiffies()) {
        (Some((t0, i0)), Some((t1, i1))) if t1 > t0 => 1.0 - (i1 - i0) as f64 / (t1 - t0) as f64,
        _ => f64::NAN,
    }
}

fn first_line_of(path: &str, key: &str) -> String {
    std::fs::read_to_string(path)
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(key))
                .and_then(|l| l.split_once(':').map(|(_, v)| v.trim().to_owned()))
        })
        .unwrap_or_default()
}

fn output(cmd: &str, args: &[&str]) -> String {
    Command::new(cmd)
        .args(args)
        .output()
        .map(|o| {
            let mut s = String::from_utf8_lossy(&o.stdout).into_owned();
            s.push_str(&String::from_utf8_lossy(&o.stderr));
            s.trim().lines().next().unwrap_or("").to_owned()
        })
        .unwrap_or_default()
}

pub fn describe(trove_bin: &Path) -> Value {
    let nproc = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(0);
    let mem_kib: u64 = first_line_of("/proc/meminfo", "MemTotal")
        .split_whitespace()
        .next()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let git_rev = output("git", &["rev-parse", "--short", "HEAD"]);
    let dirty = Command::new("git")
        .args(["status", "--porcelain", "--untracked-files=no"])
        .output()
        .map(|o| !o.stdout.is_empty())
        .unwrap_or(false);
    json!({
        "nproc": nproc,
        "cpu_model": first_line_of("/proc/cpuinfo", "model name"),
        "cpu_flags_sha_ni": std::fs::read_to_string("/proc/cpuinfo").map(|s| s.contains(" sha_ni")).unwrap_or(false),
        "mem_total_gib": (mem_kib as f64 / 1048576.0 * 10.0).round() / 10.0,
        "kernel": std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default().trim(),
        "versions": {
            "trove": output(&trove_bin.to_string_lossy(), &["--version"]),
            "trove_git": format!("{git_rev}{}", if dirty { " (uncommitted changes)" } else { "" }),
            "reference": output(DOCKER_REGISTRY, &["--version"]),
            "wrk": output(WRK, &["--version"]),
            "nginx": output("/usr/sbin/nginx", &["-v"]),
        },
    })
}

/// `YYYY-MM-DD`, `HH:MM:SS` (UTC) of now.
pub fn utc_now() -> (String, String) {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    (
        format!("{y:04}-{m:02}-{d:02}"),
        format!("{:02}:{:02}:{:02}", rem / 3600, rem / 60 % 60, rem % 60),
    )
}
