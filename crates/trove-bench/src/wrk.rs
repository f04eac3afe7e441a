//! HTTP load with Debian's `wrk`: a Lua `done()` hook prints the summary and latency
//! percentiles as one JSON line, so nothing is scraped from its human-readable output. A run
//! with any non-2xx/3xx answer or connect error fails; it never counts as fast.

use std::path::Path;
use std::process::Command;

use anyhow::{Context, Result, bail};

pub const WRK: &str = "/usr/bin/wrk";

#[derive(Debug, Clone, Copy)]
pub struct WrkResult {
    pub rps: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    /// Read/write/timeout errors (below 1 % of the requests, else the run fails).
    pub socket_errors: u64,
}

const SCRIPT: &str = r#"
wrk.method = os.getenv("TB_METHOD") or "GET"
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    "TBJSON {\"requests\":%d,\"duration_us\":%d,\"bytes\":%d,\"connect\":%d,\"read\":%d,\"write\":%d,\"status\":%d,\"timeout\":%d,\"p50_us\":%d,\"p99_us\":%d,\"max_us\":%d}\n",
    summary.requests, summary.duration, summary.bytes, e.connect, e.read, e.write, e.status,
    e.timeout, latency:percentile(50), latency:percentile(99), latency.max))
end
"#;

/// `wrk` against `url` with `conns` connections for `secs` seconds.
pub fn run(
    dir: &Path,
    url: &str,
    method: &str,
    headers: &[String],
    conns: u32,
    secs: u32,
) -> Result<WrkResult> {
    let script = dir.join("trove-bench.lua");
    if !script.exists() {
        std::fs::write(&script, SCRIPT)?;
    }
    let threads = conns.clamp(1, 2);
    let mut cmd = Command::new(WRK);
    cmd.env("TB_METHOD", method)
        .arg(format!("-t{threads}"))
        .arg(format!("-c{conns}"))
        .arg(format!("-d{secs}s"))
        .arg("--timeout")
        .arg("10s")
        .arg("-s")
        .arg(&script);
    for h in headers {
        cmd.arg("-H").arg(h);
    }
    cmd.arg(url);
    let out = cmd.output().context("running wrk")?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() {
        bail!(
            "wrk failed ({}): {stdout}{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let line = stdout
        .lines()
        .find_map(|l| l.strip_prefix("TBJSON "))
        .with_context(|| format!("no summary line in wrk output:\n{stdout}"))?;
    let v: serde_json::Value = serde_json::from_str(line)?;
    let n = |k: &str| v[k].as_f64().unwrap_or(0.0);
    let requests = n("requests") as u64;
    if n("status") > 0.0 {
        bail!(
            "wrk: {} of {requests} responses were not 2xx/3xx",
            n("status")
        );
    }
    if n("connect") > 0.0 {
        bail!("wrk: {} connect errors", n("connect"));
    }
    let socket_errors = (n("read") + n("write") + n("timeout")) as u64;
    if requests == 0 || socket_errors * 100 > requests {
        bail!("wrk: {requests} requests, {socket_errors} read/write/timeout errors:\n{stdout}");
    }
    Ok(WrkResult {
        rps: requests as f64 / (n("duration_us") / 1e6),
        p50_ms: n("p50_us") / 1000.0,
        p99_ms: n("p99_us") / 1000.0,
        socket_errors,
    })
}
