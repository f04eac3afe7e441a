//! npm: Trove's npm proxy against Verdaccio 6.8.0 as a proxy of the same upstream, a
//! Verdaccio holding a generated tree of packages (nothing is downloaded from the internet;
//! Verdaccio itself is installed from the npm registry into the tools cache once). Per round
//! and side: a fresh proxy, `npm install` of the whole tree with an empty npm cache (cold: the
//! proxy fetches everything), the same again (warm: the proxy has it all), packument GETs at
//! 64 connections with npm's abbreviated `Accept`, and the proxy's memory (idle after start,
//! peak after the installs). A third side, nginx serving the same packuments and tarballs as
//! static files, is the npm client's own floor: an install can be no faster than that.

use std::fs::File;
use std::io::Write as _;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail, ensure};
use serde_json::{Value, json};
use sha2::{Digest as _, Sha512};

use crate::cases::{Ctx, mib, ms, rec, sides_of};
use crate::http::{Body, Client, probe_status};
use crate::report::{Sample, interleave, project};
use crate::servers::{
    self, Mode, Nginx, Registry, TroveOpts, free_port, memory_kib, send_signal, tail,
};
use crate::wrk;

const SIDES: [&str; 3] = ["trove", "verdaccio", "nginx-static"];
/// Packages in the generated tree (a binary tree: package i depends on 2i+1 and 2i+2).
const PACKAGES: usize = 300;
const ABBREVIATED: &str =
    "application/vnd.npm.install-v1+json; q=1.0, application/json; q=0.8, */*";

/// Where `scripts/test` and this benchmark keep npm tools.
fn tools_dir() -> PathBuf {
    match std::env::var_os("TROVE_TEST_TOOLS") {
        Some(d) => PathBuf::from(d),
        None => PathBuf::from(std::env::var_os("HOME").unwrap_or_else(|| "/root".into()))
            .join(".cache/trove-tests"),
    }
}

/// Verdaccio, installed into the tools cache when missing.
fn verdaccio_bin() -> Result<PathBuf> {
    let prefix = tools_dir().join("npm");
    let bin = prefix.join("node_modules/.bin/verdaccio");
    if !bin.exists() {
        eprintln!(
            "[bench] installing verdaccio@6.8.0 into {}",
            prefix.display()
        );
        std::fs::create_dir_all(&prefix)?;
        let ok = Command::new("npm")
            .args([
                "install",
                "--no-audit",
                "--no-fund",
                "--loglevel=error",
                "--prefix",
            ])
            .arg(&prefix)
            .arg("verdaccio@6.8.0")
            .status()
            .context("running npm")?
            .success();
        ensure!(ok && bin.exists(), "npm install verdaccio@6.8.0 failed");
    }
    Ok(bin)
}

/// A Verdaccio on a loopback port; `uplink` makes it a proxy of that registry.
struct Verdaccio {
    addr: SocketAddr,
    child: Option<Child>,
    dir: tempfile::TempDir,
}

impl Verdaccio {
    fn start(bin: &Path, uplink: Option<&str>) -> Result<Verdaccio> {
        let dir = servers::tempdir("tb-verdaccio.")?;
        let d = dir.path();
        let addr: SocketAddr = ([127, 0, 0, 1], free_port()?).into();
        let (uplinks, proxy) = match uplink {
            Some(u) => (
                format!("uplinks:\n  up:\n    url: {u}\n    maxage: 10m\n"),
                "    proxy: up\n",
            ),
            None => ("uplinks: {}\n".to_owned(), ""),
        };
        let config = format!(
            "storage: {}\nauth:\n  htpasswd:\n    file: {}\n    max_users: 10\n{uplinks}\
             packages:\n  '@*/*':\n    access: $all\n    publish: $authenticated\n{proxy}\
             \x20 '**':\n    access: $all\n    publish: $authenticated\n{proxy}\
             listen: {addr}\nmax_body_size: 100mb\nlog: {{ type: stdout, format: pretty, level: warn }}\n",
            d.join("storage").display(),
            d.join("htpasswd").display(),
        );
        std::fs::write(d.join("config.yaml"), config)?;
        let log = File::create(d.join("server.log"))?;
        let child = Command::new(bin)
            .arg("--config")
            .arg(d.join("config.yaml"))
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .context("starting verdaccio")?;
        let mut me = Verdaccio {
            addr,
            child: Some(child),
            dir,
        };
        let t0 = Instant::now();
        while probe_status(addr, "/-/ping") != Some(200) {
            if let Some(s) = me.child.as_mut().and_then(|c| c.try_wait().ok().flatten()) {
                bail!(
                    "verdaccio exited with {s}\n{}",
                    tail(&me.dir.path().join("server.log"), 30)
                );
            }
            ensure!(
                t0.elapsed() < Duration::from_secs(30),
                "verdaccio not answering after 30 s"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        Ok(me)
    }

    fn pid(&self) -> u32 {
        self.child.as_ref().map(Child::id).unwrap_or(0)
    }
}

impl Drop for Verdaccio {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            send_signal(c.id(), "TERM");
            let _ = c.wait();
        }
    }
}

fn name_of(i: usize) -> String {
    format!("bench-pkg-{i:03}")
}

/// A deterministic tarball of package `i`: package.json, index.js and ~8 KiB of text.
fn tarball(i: usize, manifest: &Value) -> Result<Vec<u8>> {
    let gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    let mut t = tar::Builder::new(gz);
    let mut add = |path: &str, data: &[u8]| -> Result<()> {
        let mut h = tar::Header::new_gnu();
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        h.set_mtime(1_700_000_000);
        h.set_cksum();
        t.append_data(&mut h, path, data)?;
        Ok(())
    };
    add(
        "package/package.json",
        serde_json::to_string_pretty(manifest)?.as_bytes(),
    )?;
    add(
        "package/index.js",
        format!("module.exports = {i};\n").as_bytes(),
    )?;
    let filler: String = (0..128)
        .map(|l| format!("{i:03} line {l:03} of the bench filler, deterministic text\n"))
        .collect();
    add("package/README.md", filler.as_bytes())?;
    Ok(t.into_inner()?.finish()?)
}

/// Publishes the tree to the upstream with npm's own publish document.
fn publish_tree(up: &Verdaccio) -> Result<()> {
    let mut c = Client::new(up.addr, None);
    let r = c.request(
        "PUT",
        "/-/user/org.couchdb.user:bench",
        &[("content-type", "application/json")],
        br#"{"name":"bench","password":"bench-password"}"#,
        Body::Collect,
    )?;
    let token: Value = serde_json::from_slice(&r.expect(201, "verdaccio user")?.body)?;
    let auth = format!("Bearer {}", token["token"].as_str().context("token")?);
    let mut c = Client::new(up.addr, Some(auth));
    for i in 0..PACKAGES {
        let name = name_of(i);
        let deps: serde_json::Map<String, Value> = [2 * i + 1, 2 * i + 2]
            .into_iter()
            .filter(|&d| d < PACKAGES)
            .map(|d| (name_of(d), json!("^1.0.0")))
            .collect();
        let mut manifest = json!({
            "name": name, "version": "1.0.0", "description": format!("bench package {i}"),
            "main": "index.js", "license": "MIT", "dependencies": deps,
        });
        let tgz = tarball(i, &manifest)?;
        let sri = format!("sha512-{}", crate::http::base64(&Sha512::digest(&tgz)));
        let shasum = hex::encode(sha1::Sha1::digest(&tgz));
        let file = format!("{name}-1.0.0.tgz");
        manifest["_id"] = json!(format!("{name}@1.0.0"));
        manifest["dist"] = json!({
            "integrity": sri, "shasum": shasum,
            "tarball": format!("http://{}/{name}/-/{file}", up.addr),
        });
        let doc = json!({
            "_id": name, "name": name, "dist-tags": {"latest": "1.0.0"},
            "versions": {"1.0.0": manifest},
            "_attachments": {file: {"content_type": "application/octet-stream",
                "data": crate::http::base64(&tgz), "length": tgz.len()}},
        });
        c.request(
            "PUT",
            &format!("/{name}"),
            &[("content-type", "application/json")],
            &serde_json::to_vec(&doc)?,
            Body::Collect,
        )?
        .expect(201, "publish to verdaccio")?;
    }
    Ok(())
}

/// The upstream's packuments and tarballs as static files for nginx at `base` (`<name>.json`
/// for the packument, `<name>/-/<file>` for tarballs).
fn static_tree(up: &Verdaccio, root: &Path, base: &str) -> Result<()> {
    let mut c = Client::new(up.addr, None);
    for i in 0..PACKAGES {
        let name = name_of(i);
        let r = c
            .request(
                "GET",
                &format!("/{name}"),
                &[("accept", "application/json")],
                &[],
                Body::Collect,
            )?
            .expect(200, "packument from verdaccio")?;
        let mut doc: Value = serde_json::from_slice(&r.body)?;
        let file = format!("{name}-1.0.0.tgz");
        doc["versions"]["1.0.0"]["dist"]["tarball"] = json!(format!("{base}/{name}/-/{file}"));
        std::fs::write(root.join(format!("{name}.json")), serde_json::to_vec(&doc)?)?;
        let t = c
            .get(&format!("/{name}/-/{file}"))?
            .expect(200, "tarball from verdaccio")?;
        std::fs::create_dir_all(root.join(&name).join("-"))?;
        std::fs::write(root.join(&name).join("-").join(&file), &t.body)?;
    }
    Ok(())
}

/// An npm client run: a project depending on the tree's root, installed with an empty cache.
fn npm_install(work: &Path, registry: &str) -> Result<Duration> {
    let project = work.join("project");
    let _ = std::fs::remove_dir_all(&project);
    let cache = work.join("cache");
    let _ = std::fs::remove_dir_all(&cache);
    std::fs::create_dir_all(&project)?;
    std::fs::write(
        project.join("package.json"),
        format!(
            r#"{{"name":"p","version":"1.0.0","private":true,"dependencies":{{"{}":"^1.0.0"}}}}"#,
            name_of(0)
        ),
    )?;
    let rc = work.join("npmrc");
    let mut f = File::create(&rc)?;
    writeln!(f, "registry={registry}")?;
    let t = Instant::now();
    let out = Command::new("npm")
        .current_dir(&project)
        .args([
            "install",
            "--no-audit",
            "--no-fund",
            "--ignore-scripts",
            "--no-update-notifier",
            "--loglevel=error",
        ])
        .arg("--userconfig")
        .arg(&rc)
        .arg("--cache")
        .arg(&cache)
        .env("HOME", work)
        .stdin(Stdio::null())
        .output()
        .context("running npm install")?;
    let took = t.elapsed();
    ensure!(
        out.status.success(),
        "npm install via {registry} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let installed = std::fs::read_dir(project.join("node_modules"))?.count();
    ensure!(
        installed >= PACKAGES,
        "npm installed {installed} packages, want {PACKAGES}"
    );
    Ok(took)
}

pub fn npm(ctx: &mut Ctx) {
    let recs = || {
        [
            rec(
                "npm.install.cold",
                &format!("npm install of {PACKAGES} packages through the proxy, cold cache"),
                "ms",
                false,
            ),
            rec(
                "npm.install.warm",
                "npm install again (proxy warm, npm cache empty)",
                "ms",
                false,
            ),
            rec(
                "npm.packument.rps",
                "packument GET, abbreviated, 64 connections",
                "req/s",
                true,
            ),
            rec(
                "npm.rss.idle",
                "proxy memory after start (RSS)",
                "MiB",
                false,
            ),
            rec(
                "npm.rss.peak",
                "proxy peak memory over both installs (VmHWM)",
                "MiB",
                false,
            ),
        ]
    };
    let setup = || -> Result<(PathBuf, Verdaccio, Nginx, tempfile::TempDir)> {
        let bin = verdaccio_bin()?;
        let up = Verdaccio::start(&bin, None)?;
        publish_tree(&up).context("publishing the package tree")?;
        let root = servers::tempdir("tb-npm-static.")?;
        let nginx = Nginx::start_with(
            root.path(),
            "location / { try_files $uri.json $uri =404; } location ~ \\.json$ { default_type application/json; }",
        )?;
        static_tree(&up, root.path(), &format!("http://{}", nginx.addr))?;
        Ok((bin, up, nginx, root))
    };
    let (bin, up, nginx, _static_root) = match setup() {
        Ok(x) => x,
        Err(e) => {
            for r in recs() {
                ctx.failed(r, &e);
            }
            return;
        }
    };
    let upstream = format!("http://{}", up.addr);
    let trove_bin = ctx.trove_bin.clone();
    let wrk_secs = ctx.wrk_secs;
    let work = match servers::tempdir("tb-npm.") {
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
        let (trove, verdaccio, registry, pid);
        if s == 0 {
            let opts = TroveOpts {
                bin: &trove_bin,
                mode: Mode::Repos(format!(
                    "[[repository]]\nname = \"npm\"\nformat = \"npm\"\nkind = \"proxy\"\nremote = \"{upstream}\"\n"
                )),
                anonymous_read: true,
            };
            let t = Registry::start_trove(&opts, None)?;
            registry = format!("http://{}/repository/npm/", t.main_addr);
            pid = t.pid();
            trove = Some(t);
            verdaccio = None;
        } else if s == 2 {
            registry = format!("http://{}/", nginx.addr);
            pid = 0;
            trove = None;
            verdaccio = None;
        } else {
            let v = Verdaccio::start(&bin, Some(&upstream))?;
            registry = format!("http://{}/", v.addr);
            pid = v.pid();
            verdaccio = Some(v);
            trove = None;
        }
        // nginx has no process of its own to compare (master and workers): 0.
        let mem = |pid: u32| {
            if pid == 0 {
                Ok((0, 0))
            } else {
                memory_kib(pid)
            }
        };
        let (idle, _) = mem(pid)?;
        let cold = npm_install(&w, &registry)?;
        let warm = npm_install(&w, &registry)?;
        let (_, peak) = mem(pid)?;
        let url = format!("{registry}{}", name_of(0));
        let r = wrk::run(
            &w,
            &url,
            "GET",
            &[format!("Accept: {ABBREVIATED}")],
            64,
            wrk_secs,
        )?;
        drop((trove, verdaccio));
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
            ctx.measured(cold, Ok(sides_of(&SIDES, samples.clone())));
            ctx.measured(warm, Ok(sides_of(&SIDES, by("warm"))));
            ctx.measured(rps, Ok(sides_of(&SIDES, by("rps"))));
            let two = |v: Vec<Vec<Sample>>| v.into_iter().take(2).collect::<Vec<_>>();
            ctx.measured(idle, Ok(sides_of(&SIDES[..2], two(by("idle")))));
            ctx.measured(peak, Ok(sides_of(&SIDES[..2], two(by("peak")))));
        }
        Err(e) => {
            for r in [cold, warm, rps, idle, peak] {
                ctx.failed(r, &e);
            }
        }
    }
    drop((up, nginx));
}
