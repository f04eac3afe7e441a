//! PyPI: Trove's PyPI proxy against devpi-server as a mirror of the same upstream, a
//! pypiserver serving a generated set of projects (nothing is downloaded from the internet;
//! devpi-server and pypiserver are installed from PyPI into the tools cache once, as
//! `scripts/test` does). Per round and side: a fresh proxy, `pip install` of a 50-project
//! requirement set with an empty pip cache (cold: the proxy fetches everything), the same
//! again (warm: the proxy has it all), simple-index GETs at 64 connections with pip's
//! `Accept`, and the server's memory (idle after start, peak after the installs). The third
//! side is the upstream pypiserver itself, read directly: the index GETs of the issue's goal,
//! and the pip client's floor for an install.

use std::fs::File;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail, ensure};

use crate::cases::{Ctx, mib, ms, rec, sides_of};
use crate::http::probe_status;
use crate::report::{Sample, interleave, project};
use crate::servers::{self, Mode, Registry, TroveOpts, free_port, memory_kib, send_signal, tail};
use crate::wrk;

const SIDES: [&str; 3] = ["trove", "devpi", "pypiserver"];
/// Projects in the generated upstream.
const PROJECTS: usize = 200;
/// Projects in the requirement set pip installs.
const REQUIRED: usize = 50;
const PIP_ACCEPT: &str = "application/vnd.pypi.simple.v1+json, application/vnd.pypi.simple.v1+html; q=0.1, text/html; q=0.01";

/// The venv with pip, devpi-server and pypiserver (installed when missing).
fn venv() -> Result<PathBuf> {
    let tools = match std::env::var_os("TROVE_TEST_TOOLS") {
        Some(d) => PathBuf::from(d),
        None => PathBuf::from(std::env::var_os("HOME").unwrap_or_else(|| "/root".into()))
            .join(".cache/trove-tests"),
    };
    let v = tools.join("pypi-venv");
    let ready = ["pip", "devpi-init", "devpi-server", "pypi-server"]
        .iter()
        .all(|t| v.join("bin").join(t).exists());
    if !ready {
        eprintln!(
            "[bench] installing devpi-server and pypiserver into {}",
            v.display()
        );
        let ok = Command::new("python3")
            .args(["-m", "venv"])
            .arg(&v)
            .status()
            .context("python3 -m venv")?
            .success()
            && Command::new(v.join("bin/python"))
                .args([
                    "-m",
                    "pip",
                    "install",
                    "--quiet",
                    "--disable-pip-version-check",
                    "twine==6.1.0",
                    "devpi-server",
                    "pypiserver",
                    "passlib",
                ])
                .status()
                .context("pip install")?
                .success();
        ensure!(ok, "installing devpi-server and pypiserver failed");
    }
    Ok(v)
}

fn name_of(i: usize) -> String {
    format!("bench-pkg-{i:03}")
}

/// Writes the upstream's wheels: one per project, each a module and ~8 KiB of text.
fn generate(venv: &Path, dir: &Path) -> Result<()> {
    let script = r##"
import base64, hashlib, sys, zipfile
out, n = sys.argv[1], int(sys.argv[2])
for i in range(n):
    name, mod = f"bench-pkg-{i:03}", f"bench_pkg_{i:03}"
    dist = f"{mod}-1.0"
    files = {
        f"{mod}/__init__.py": f"N = {i}\n" + "".join(f"# {i:03} line {l:03} of the bench filler, deterministic\n" for l in range(128)),
        f"{dist}.dist-info/METADATA": f"Metadata-Version: 2.1\nName: {name}\nVersion: 1.0\nRequires-Python: >=3.8\n\n",
        f"{dist}.dist-info/WHEEL": "Wheel-Version: 1.0\nGenerator: trove-bench\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
    }
    rec = [f"{p},sha256={base64.urlsafe_b64encode(hashlib.sha256(b.encode()).digest()).rstrip(b'=').decode()},{len(b.encode())}" for p, b in files.items()]
    files[f"{dist}.dist-info/RECORD"] = "\n".join(rec + [f"{dist}.dist-info/RECORD,,"]) + "\n"
    with zipfile.ZipFile(f"{out}/{dist}-py3-none-any.whl", "w", zipfile.ZIP_DEFLATED) as z:
        for p, b in files.items():
            z.writestr(zipfile.ZipInfo(p, date_time=(2026, 1, 1, 0, 0, 0)), b)
"##;
    let ok = Command::new(venv.join("bin/python"))
        .args(["-c", script])
        .arg(dir)
        .arg(PROJECTS.to_string())
        .status()
        .context("generating wheels")?
        .success();
    ensure!(ok, "generating wheels failed");
    Ok(())
}

/// A Python server on a loopback port. Stopped on drop.
struct PyServer {
    addr: SocketAddr,
    child: Option<Child>,
    dir: tempfile::TempDir,
}

impl PyServer {
    fn spawn(
        cmd: &mut Command,
        addr: SocketAddr,
        dir: tempfile::TempDir,
        ready: &str,
    ) -> Result<PyServer> {
        let log = File::create(dir.path().join("server.log"))?;
        let child = cmd
            .env("HOME", dir.path())
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .context("starting a Python server")?;
        let mut me = PyServer {
            addr,
            child: Some(child),
            dir,
        };
        let t0 = Instant::now();
        while probe_status(addr, ready) != Some(200) {
            if let Some(s) = me.child.as_mut().and_then(|c| c.try_wait().ok().flatten()) {
                bail!(
                    "server exited with {s}\n{}",
                    tail(&me.dir.path().join("server.log"), 30)
                );
            }
            ensure!(
                t0.elapsed() < Duration::from_secs(60),
                "server not answering after 60 s\n{}",
                tail(&me.dir.path().join("server.log"), 30)
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        Ok(me)
    }

    fn pypiserver(venv: &Path, packages: &Path) -> Result<PyServer> {
        let dir = servers::tempdir("tb-pypiserver.")?;
        let addr: SocketAddr = ([127, 0, 0, 1], free_port()?).into();
        PyServer::spawn(
            Command::new(venv.join("bin/pypi-server"))
                .args(["run", "-i", "127.0.0.1", "-p", &addr.port().to_string()])
                .args(["-a", ".", "-P", ".", "--hash-algo", "sha256"])
                .arg(packages),
            addr,
            dir,
            "/simple/",
        )
    }

    /// A devpi-server with index `root/up`, a mirror of `upstream` (a simple index URL).
    fn devpi_mirror(venv: &Path, upstream: &str) -> Result<PyServer> {
        let dir = servers::tempdir("tb-devpi.")?;
        let server = dir.path().join("server");
        let ok = Command::new(venv.join("bin/devpi-init"))
            .arg("--serverdir")
            .arg(&server)
            .arg("--no-root-pypi")
            .env("HOME", dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()?
            .success();
        ensure!(ok, "devpi-init failed");
        let addr: SocketAddr = ([127, 0, 0, 1], free_port()?).into();
        let me = PyServer::spawn(
            Command::new(venv.join("bin/devpi-server"))
                .arg("--serverdir")
                .arg(&server)
                .args(["--host", "127.0.0.1", "--port", &addr.port().to_string()]),
            addr,
            dir,
            "/+api",
        )?;
        let body = format!(r#"{{"type": "mirror", "mirror_url": "{upstream}"}}"#);
        let out = Command::new("curl")
            .args(["-sS", "--fail-with-body", "-u", "root:", "-X", "PUT"])
            .args(["-H", "content-type: application/json", "-d", &body])
            .arg(format!("http://{addr}/root/up"))
            .output()
            .context("curl")?;
        ensure!(
            out.status.success(),
            "creating devpi's mirror index: {}",
            String::from_utf8_lossy(&out.stdout)
        );
        Ok(me)
    }

    fn pid(&self) -> u32 {
        self.child.as_ref().map(Child::id).unwrap_or(0)
    }
}

impl Drop for PyServer {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            send_signal(c.id(), "TERM");
            let _ = c.wait();
        }
    }
}

/// `pip install -r` of the requirement set into a fresh target with an empty cache.
fn pip_install(venv: &Path, work: &Path, index: &str) -> Result<Duration> {
    let target = work.join("target");
    let cache = work.join("cache");
    let _ = std::fs::remove_dir_all(&target);
    let _ = std::fs::remove_dir_all(&cache);
    let req = work.join("requirements.txt");
    let list: String = (0..REQUIRED).map(|i| format!("{}\n", name_of(i))).collect();
    std::fs::write(&req, list)?;
    let t = Instant::now();
    let out = Command::new(venv.join("bin/pip"))
        .args([
            "install",
            "--isolated",
            "--no-input",
            "--disable-pip-version-check",
        ])
        .args(["--no-compile", "--index-url", index, "--target"])
        .arg(&target)
        .arg("--cache-dir")
        .arg(&cache)
        .arg("-r")
        .arg(&req)
        .env("HOME", work)
        .env("PIP_CONFIG_FILE", "/dev/null")
        .env_remove("PIP_FIND_LINKS")
        .stdin(Stdio::null())
        .output()
        .context("running pip install")?;
    let took = t.elapsed();
    ensure!(
        out.status.success(),
        "pip install via {index} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let installed = std::fs::read_dir(&target)?
        .filter(|e| {
            e.as_ref()
                .is_ok_and(|e| e.file_name().to_string_lossy().ends_with(".dist-info"))
        })
        .count();
    ensure!(
        installed == REQUIRED,
        "pip installed {installed} projects, want {REQUIRED}"
    );
    Ok(took)
}

pub fn pypi(ctx: &mut Ctx) {
    let recs = || {
        [
            rec(
                "pypi.install.cold",
                &format!("pip install of {REQUIRED} projects through the proxy, cold cache"),
                "ms",
                false,
            ),
            rec(
                "pypi.install.warm",
                "pip install again (proxy warm, pip cache empty)",
                "ms",
                false,
            ),
            rec(
                "pypi.index.rps",
                "simple-index GET (pip's Accept), 64 connections",
                "req/s",
                true,
            ),
            rec(
                "pypi.rss.idle",
                "server memory after start (RSS)",
                "MiB",
                false,
            ),
            rec(
                "pypi.rss.peak",
                "server peak memory over both installs (VmHWM)",
                "MiB",
                false,
            ),
        ]
    };
    let setup = || -> Result<(PathBuf, tempfile::TempDir, PyServer)> {
        let venv = venv()?;
        let packages = servers::tempdir("tb-pypi-packages.")?;
        generate(&venv, packages.path())?;
        let up = PyServer::pypiserver(&venv, packages.path())?;
        Ok((venv, packages, up))
    };
    let (venv, _packages, up) = match setup() {
        Ok(x) => x,
        Err(e) => {
            for r in recs() {
                ctx.failed(r, &e);
            }
            return;
        }
    };
    let upstream = format!("http://{}/simple/", up.addr);
    let trove_bin = ctx.trove_bin.clone();
    let wrk_secs = ctx.wrk_secs;
    let work = match servers::tempdir("tb-pypi.") {
        Ok(w) => w,
        Err(e) => {
            for r in recs() {
                ctx.failed(r, &e);
            }
            return;
        }
    };
    let res = interleave(ctx.reps_proxy, 3, |s, _| {
        let w = work.path().join(SIDES[s]);
        std::fs::create_dir_all(&w)?;
        // Keep the server alive for the side's whole round.
        let (trove, devpi, index, addr, pid);
        if s == 0 {
            let opts = TroveOpts {
                bin: &trove_bin,
                mode: Mode::Repos(format!(
                    "[[repository]]\nname = \"pypi\"\nformat = \"pypi\"\nkind = \"proxy\"\nremote = \"{upstream}\"\n"
                )),
                anonymous_read: true,
            };
            let t = Registry::start_trove(&opts, None)?;
            index = format!("http://{}/repository/pypi/simple/", t.main_addr);
            addr = t.main_addr;
            pid = t.pid();
            trove = Some(t);
            devpi = None;
        } else if s == 1 {
            let d = PyServer::devpi_mirror(&venv, &upstream)?;
            index = format!("http://{}/root/up/+simple/", d.addr);
            addr = d.addr;
            pid = d.pid();
            devpi = Some(d);
            trove = None;
        } else {
            index = upstream.clone();
            addr = up.addr;
            pid = up.pid();
            trove = None;
            devpi = None;
        }
        let (idle, _) = memory_kib(pid)?;
        let cold = pip_install(&venv, &w, &index)?;
        let warm = pip_install(&venv, &w, &index)?;
        let (_, peak) = memory_kib(pid)?;
        let url = format!("{index}{}/", name_of(0));
        let path = url
            .splitn(4, '/')
            .nth(3)
            .map(|p| format!("/{p}"))
            .unwrap_or_default();
        ensure!(
            probe_status(addr, &path) == Some(200),
            "GET {url} is not 200: the index GETs would measure errors"
        );
        let r = wrk::run(
            &w,
            &url,
            "GET",
            &[format!("Accept: {PIP_ACCEPT}")],
            64,
            wrk_secs,
        )?;
        drop((trove, devpi));
        Ok(Sample::new(ms(cold))
            .with("warm", ms(warm))
            .with("rps", r.rps)
            .with("idle", mib(idle))
            .with("peak", mib(peak)))
    });
    let [cold, warm, rps, idle, peak] = recs();
    match res {
        Ok(samples) => {
            let by = |key: &str| -> Vec<Vec<Sample>> {
                samples.iter().map(|side| project(side, key)).collect()
            };
            let two = |v: Vec<Vec<Sample>>| v.into_iter().take(2).collect::<Vec<_>>();
            // pypiserver is the upstream itself, read directly: the client's floor for the
            // installs, a peer for the index GETs; memory compares the two proxies.
            ctx.measured(cold, Ok(sides_of(&SIDES, samples.clone())));
            ctx.measured(warm, Ok(sides_of(&SIDES, by("warm"))));
            ctx.measured(rps, Ok(sides_of(&SIDES, by("rps"))));
            ctx.measured(idle, Ok(sides_of(&SIDES[..2], two(by("idle")))));
            ctx.measured(peak, Ok(sides_of(&SIDES[..2], two(by("peak")))));
        }
        Err(e) => {
            for r in [cold, warm, rps, idle, peak] {
                ctx.failed(r, &e);
            }
        }
    }
    drop(up);
}
