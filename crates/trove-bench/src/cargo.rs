//! cargo: Trove's cargo proxy against nginx serving the same sparse registry as static files
//! (the cargo client's own floor: a fetch can be no faster than that). The registry is a
//! generated graph of crates written here in the sparse layout (`config.json`, index files,
//! real `.crate` archives); nothing is downloaded from the internet. Per round and side: a
//! fresh Trove proxy of the nginx tree, `cargo fetch` of a project depending on the graph's
//! root with an empty `CARGO_HOME` (cold: the proxy fetches everything), the same again (warm:
//! the proxy has it all, cargo's cache is empty), then index-file GETs at 64 connections.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, ensure};
use serde_json::json;
use sha2::{Digest as _, Sha256};

use crate::cases::{Ctx, ms, rec, sides_of};
use crate::report::{Sample, interleave, project};
use crate::servers::{self, Mode, Nginx, Registry, TroveOpts};
use crate::wrk;

const SIDES: [&str; 2] = ["trove", "nginx-static"];
/// Crates in the generated graph (a binary tree: crate i depends on 2i+1 and 2i+2).
const CRATES: usize = 100;

fn name_of(i: usize) -> String {
    format!("bench-crate-{i:03}")
}

/// The RFC 2789 index path of a name of four characters or more.
fn index_path(name: &str) -> String {
    format!("{}/{}/{name}", &name[..2], &name[2..4])
}

/// A deterministic `.crate` of crate `i`: Cargo.toml, src/lib.rs and ~8 KiB of text.
fn dot_crate(i: usize) -> Result<Vec<u8>> {
    let name = name_of(i);
    let gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    let mut t = tar::Builder::new(gz);
    let mut add = |path: &str, data: &[u8]| -> Result<()> {
        let mut h = tar::Header::new_gnu();
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        h.set_mtime(1_700_000_000);
        h.set_cksum();
        t.append_data(&mut h, format!("{name}-1.0.0/{path}"), data)?;
        Ok(())
    };
    let mut toml = format!(
        "[package]\nname = \"{name}\"\nversion = \"1.0.0\"\nedition = \"2021\"\n\
         license = \"MIT\"\ndescription = \"bench crate {i}\"\n\n[dependencies]\n"
    );
    for d in [2 * i + 1, 2 * i + 2].into_iter().filter(|&d| d < CRATES) {
        toml.push_str(&format!("{} = \"1.0.0\"\n", name_of(d)));
    }
    add("Cargo.toml", toml.as_bytes())?;
    add(
        "src/lib.rs",
        format!("pub const N: usize = {i};\n").as_bytes(),
    )?;
    let filler: String = (0..128)
        .map(|l| format!("{i:03} line {l:03} of the bench filler, deterministic text\n"))
        .collect();
    add("README.md", filler.as_bytes())?;
    Ok(t.into_inner()?.finish()?)
}

/// The sparse registry under `root`, its `dl` pointing at `base`.
fn static_tree(root: &Path, base: &str) -> Result<()> {
    std::fs::write(
        root.join("config.json"),
        json!({ "dl": format!("{base}/crates/{{crate}}/{{crate}}-{{version}}.crate"), "api": base })
            .to_string(),
    )?;
    for i in 0..CRATES {
        let name = name_of(i);
        let krate = dot_crate(i)?;
        let deps: Vec<_> = [2 * i + 1, 2 * i + 2]
            .into_iter()
            .filter(|&d| d < CRATES)
            .map(|d| {
                json!({ "name": name_of(d), "req": "^1.0.0", "features": [], "optional": false,
                        "default_features": true, "target": null, "kind": "normal" })
            })
            .collect();
        let line = json!({
            "name": name, "vers": "1.0.0", "deps": deps,
            "cksum": hex::encode(Sha256::digest(&krate)), "features": {}, "yanked": false,
        });
        let index = root.join(index_path(&name));
        std::fs::create_dir_all(index.parent().context("index dir")?)?;
        std::fs::write(&index, format!("{line}\n"))?;
        let dir = root.join("crates").join(&name);
        std::fs::create_dir_all(&dir)?;
        std::fs::write(dir.join(format!("{name}-1.0.0.crate")), &krate)?;
    }
    Ok(())
}

/// A cargo client run: a project depending on the graph's root, fetched with an empty
/// `CARGO_HOME` through `[source.crates-io] replace-with` the registry at `index`.
fn cargo_fetch(work: &Path, index: &str) -> Result<Duration> {
    let project = work.join("project");
    let home = work.join("cargo-home");
    for d in [&project, &home] {
        let _ = std::fs::remove_dir_all(d);
    }
    std::fs::create_dir_all(project.join("src"))?;
    std::fs::create_dir_all(&home)?;
    std::fs::write(
        project.join("Cargo.toml"),
        format!(
            "[package]\nname = \"p\"\nversion = \"0.1.0\"\nedition = \"2021\"\n\n\
             [dependencies]\n{} = \"1\"\n",
            name_of(0)
        ),
    )?;
    std::fs::write(project.join("src/lib.rs"), "")?;
    std::fs::write(
        home.join("config.toml"),
        format!(
            "[source.crates-io]\nreplace-with = \"bench\"\n[registries.bench]\nindex = \"sparse+{index}\"\n\
             [net]\nretry = 0\n"
        ),
    )?;
    let mut c = Command::new("cargo");
    for (k, _) in std::env::vars() {
        if k.starts_with("CARGO_") {
            c.env_remove(&k);
        }
    }
    let t = Instant::now();
    let out = c
        .current_dir(&project)
        .arg("fetch")
        .env("CARGO_HOME", &home)
        .env("CARGO_TARGET_DIR", work.join("target"))
        .stdin(Stdio::null())
        .output()
        .context("running cargo fetch")?;
    let took = t.elapsed();
    ensure!(
        out.status.success(),
        "cargo fetch via {index} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut fetched = 0;
    for dir in std::fs::read_dir(home.join("registry/cache"))? {
        fetched += std::fs::read_dir(dir?.path())?.count();
    }
    ensure!(
        fetched >= CRATES,
        "cargo fetched {fetched} crates, want {CRATES}"
    );
    Ok(took)
}

pub fn cargo(ctx: &mut Ctx) {
    let recs = || {
        [
            rec(
                "cargo.fetch.cold",
                &format!("cargo fetch of {CRATES} crates through the proxy, cold cache"),
                "ms",
                false,
            ),
            rec(
                "cargo.fetch.warm",
                "cargo fetch again (proxy warm, CARGO_HOME empty)",
                "ms",
                false,
            ),
            rec(
                "cargo.index.rps",
                "sparse index file GET, 64 connections",
                "req/s",
                true,
            ),
        ]
    };
    let setup = || -> Result<(Nginx, tempfile::TempDir)> {
        let root = servers::tempdir("tb-cargo-static.")?;
        let nginx = Nginx::start_with(root.path(), "location / { default_type text/plain; }")?;
        static_tree(root.path(), &format!("http://{}", nginx.addr))?;
        Ok((nginx, root))
    };
    let (nginx, _static_root) = match setup() {
        Ok(x) => x,
        Err(e) => {
            for r in recs() {
                ctx.failed(r, &e);
            }
            return;
        }
    };
    let upstream = format!("http://{}/", nginx.addr);
    let trove_bin = ctx.trove_bin.clone();
    let wrk_secs = ctx.wrk_secs;
    let work = match servers::tempdir("tb-cargo.") {
        Ok(w) => w,
        Err(e) => {
            for r in recs() {
                ctx.failed(r, &e);
            }
            return;
        }
    };
    let res = interleave(ctx.reps_proxy, 2, |s, _| {
        let w = work.path().join(SIDES[s]);
        std::fs::create_dir_all(&w)?;
        // Keep the server alive for the side's whole round.
        let (trove, index);
        if s == 0 {
            let opts = TroveOpts {
                bin: &trove_bin,
                mode: Mode::Repos(format!(
                    "[[repository]]\nname = \"crates\"\nformat = \"cargo\"\nkind = \"proxy\"\nremote = \"{upstream}\"\n"
                )),
                anonymous_read: true,
            };
            let t = Registry::start_trove(&opts, None)?;
            index = format!("http://{}/repository/crates/", t.main_addr);
            trove = Some(t);
        } else {
            index = upstream.clone();
            trove = None;
        }
        let cold = cargo_fetch(&w, &index)?;
        let warm = cargo_fetch(&w, &index)?;
        let url = format!("{index}{}", index_path(&name_of(0)));
        let r = wrk::run(&w, &url, "GET", &[], 64, wrk_secs)?;
        drop(trove);
        Ok(Sample::new(ms(cold))
            .with("warm", ms(warm))
            .with("rps", r.rps))
    });
    let [cold, warm, rps] = recs();
    match res {
        Ok(samples) => {
            let by = |key: &str| -> Vec<Vec<Sample>> {
                samples.iter().map(|side| project(side, key)).collect()
            };
            ctx.measured(cold, Ok(sides_of(&SIDES, samples.clone())));
            ctx.measured(warm, Ok(sides_of(&SIDES, by("warm"))));
            ctx.measured(rps, Ok(sides_of(&SIDES, by("rps"))));
        }
        Err(e) => {
            for r in [cold, warm, rps] {
                ctx.failed(r, &e);
            }
        }
    }
    drop(nginx);
}
