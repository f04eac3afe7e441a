//! The cases of issue 8, grouped by the servers they need. Every case measures Trove and the
//! reference interleaved; any failure is recorded as a failed case (never a fast one), anything
//! that cannot run is recorded as skipped with the reason.

use std::path::{Path, PathBuf};
use std::sync::Barrier;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail, ensure};
use serde_json::{Value, json};
use sha2::{Digest as _, Sha256};
use tempfile::TempDir;

use crate::http::{Body, Client, location_path};
use crate::registry::{self, ACCEPT_MANIFESTS, Blob, Image, MIB, random_bytes};
use crate::relay::Relay;
use crate::report::{Case, Outcome, Sample, Side, case_env, fmt_num, interleave, project};
use crate::servers::{self, Dockerd, Kind, Mode, Nginx, Registry, TroveOpts};
use crate::wrk;

pub struct Ctx {
    pub trove_bin: PathBuf,
    /// Rounds for cheap cases and for the large pushes/pulls (each round runs every side once).
    pub reps_light: usize,
    pub reps_heavy: usize,
    pub reps_startup: usize,
    pub reps_proxy: usize,
    pub wrk_secs: u32,
    /// The "1 GiB" of the issue (256 MiB in quick mode).
    pub large: usize,
    pub large_label: String,
    /// Sequential requests per sample of the latency cases.
    pub head_requests: usize,
    pub list_requests: usize,
    pub only: Vec<String>,
    pub scratch: TempDir,
    pub cases: Vec<Case>,
}

const SIDES: [&str; 2] = ["trove", "reference"];

pub(crate) fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

pub(crate) fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

/// Nearest-rank percentile of a sorted slice.
fn pct(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[i.clamp(1, sorted.len()) - 1]
}

pub(crate) fn sides_of(names: &[&str], samples: Vec<Vec<Sample>>) -> Vec<Side> {
    names
        .iter()
        .zip(samples)
        .map(|(n, s)| Side {
            name: (*n).to_owned(),
            samples: s,
        })
        .collect()
}

/// A case being recorded.
pub struct Rec {
    id: String,
    title: String,
    unit: &'static str,
    higher_is_better: bool,
    env: (f64, usize),
    notes: Vec<String>,
    details: Value,
}

pub fn rec(id: &str, title: &str, unit: &'static str, higher_is_better: bool) -> Rec {
    Rec {
        id: id.to_owned(),
        title: title.to_owned(),
        unit,
        higher_is_better,
        env: case_env(),
        notes: Vec::new(),
        details: Value::Null,
    }
}

impl Rec {
    pub fn note(mut self, n: impl Into<String>) -> Rec {
        self.notes.push(n.into());
        self
    }

    pub fn details(mut self, d: Value) -> Rec {
        self.details = d;
        self
    }

    fn finish(self, outcome: Outcome) -> Case {
        Case {
            id: self.id,
            title: self.title,
            unit: self.unit,
            higher_is_better: self.higher_is_better,
            outcome,
            notes: self.notes,
            details: self.details,
            load_at_start: self.env.0,
            compilers_at_start: self.env.1,
        }
    }
}

impl Ctx {
    pub fn want(&self, group: &str) -> bool {
        self.only.is_empty() || self.only.iter().any(|g| g == group)
    }

    fn record(&mut self, case: Case) {
        let line = match &case.outcome {
            Outcome::Skipped(r) => format!("skipped: {r}"),
            Outcome::Failed(e) => format!("FAILED: {e}"),
            Outcome::Measured(sides) => {
                let mut parts: Vec<String> = sides
                    .iter()
                    .map(|s| {
                        format!(
                            "{} {}",
                            s.name,
                            fmt_num(crate::report::summarize(&s.samples).median)
                        )
                    })
                    .collect();
                if let Some(x) = case.speedup(1) {
                    parts.push(format!("Trove better by {}×", fmt_num(x)));
                }
                parts.join(", ")
            }
        };
        eprintln!("[bench] {} ({}): {line}", case.id, case.unit);
        self.cases.push(case);
    }

    pub(crate) fn measured(&mut self, r: Rec, res: Result<Vec<Side>>) {
        let outcome = match res {
            Ok(s) => Outcome::Measured(s),
            Err(e) => Outcome::Failed(format!("{e:#}")),
        };
        let case = r.finish(outcome);
        self.record(case);
    }

    pub fn skipped(&mut self, r: Rec, why: impl Into<String>) {
        let case = r.finish(Outcome::Skipped(why.into()));
        self.record(case);
    }

    pub(crate) fn failed(&mut self, r: Rec, e: &anyhow::Error) {
        let case = r.finish(Outcome::Failed(format!("{e:#}")));
        self.record(case);
    }

    fn trove_opts(&self, mode: Mode, anonymous_read: bool) -> TroveOpts<'_> {
        TroveOpts {
            bin: &self.trove_bin,
            mode,
            anonymous_read,
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Machine limits

/// SHA-256 in this process (the sha2 crate, as Trove uses it): the ceiling for pushes, which
/// must hash every byte.
pub fn sha256_speed(ctx: &mut Ctx) {
    let r = rec(
        "sha256",
        "SHA-256 of 1 GiB in-process (machine limit)",
        "MB/s",
        true,
    );
    let buf = random_bytes(42, 256 * MIB);
    let res = interleave(3, 1, |_, _| {
        let t = Instant::now();
        let mut h = Sha256::new();
        for _ in 0..4 {
            h.update(&buf);
        }
        let d = h.finalize();
        std::hint::black_box(d);
        Ok(Sample::new(
            (1u64 << 30) as f64 / t.elapsed().as_secs_f64() / 1e6,
        ))
    })
    .map(|s| sides_of(&["machine"], s));
    ctx.measured(r, res);
}

// ---------------------------------------------------------------------------------------------
// Start-up and idle memory

pub fn startup(ctx: &mut Ctx) {
    let first = rec(
        "startup.first",
        "start-up, empty data dir (spawn → first 200/401 on /v2/)",
        "ms",
        false,
    )
    .note("Trove's first start creates its database; passwords are hashed after it listens");
    let restart = rec(
        "startup.restart",
        "start-up, restart on existing data",
        "ms",
        false,
    );
    let idle = rec(
        "memory.idle",
        "memory idle (VmRSS 1 s after a restart)",
        "MiB",
        false,
    );
    let opts = ctx.trove_opts(Mode::Hosted, false);
    let res = interleave(ctx.reps_startup, 2, |s, _| {
        let start = |dir| match s {
            0 => Registry::start_trove(&opts, dir),
            _ => Registry::start_reference(&Mode::Hosted, dir),
        };
        let a = start(None)?;
        let t_first = a.startup;
        std::thread::sleep(Duration::from_millis(1000));
        let (rss_first, _) = a.memory_kib()?;
        let dir = a.stop();
        let b = start(Some(dir))?;
        let t_restart = b.startup;
        std::thread::sleep(Duration::from_millis(1000));
        let (rss, _) = b.memory_kib()?;
        drop(b);
        Ok(Sample::new(ms(t_first))
            .with("_restart_ms", ms(t_restart))
            .with("_idle_mib", mib(rss))
            .with("_idle_first_mib", mib(rss_first)))
    });
    match res {
        Ok(s) => {
            let proj = |key: &str| -> Vec<Side> {
                sides_of(&SIDES, s.iter().map(|v| project(v, key)).collect())
            };
            let idle_first: Vec<String> = SIDES
                .iter()
                .zip(&s)
                .map(|(n, v)| {
                    let x: Vec<f64> = v.iter().filter_map(|x| x.get("_idle_first_mib")).collect();
                    format!("{n} {} MiB", fmt_num(crate::report::median(&x)))
                })
                .collect();
            let restart_sides = proj("_restart_ms");
            let idle_sides = proj("_idle_mib");
            ctx.measured(first, Ok(sides_of(&SIDES, s)));
            ctx.measured(restart, Ok(restart_sides));
            ctx.measured(
                idle.note(format!(
                    "1 s after the first start: {}",
                    idle_first.join(", ")
                )),
                Ok(idle_sides),
            );
        }
        Err(e) => {
            ctx.failed(first, &e);
            ctx.failed(restart, &e);
            ctx.failed(idle, &e);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Hosted: one Trove and one reference, side by side, for the whole group

struct Hosted {
    regs: [Registry; 2],
    app: Image,
    nginx: Option<Nginx>,
    nginx_root: TempDir,
    nginx_skip: Option<String>,
    /// The large blob each side serves to the pull cases.
    large_blob: [Option<String>; 2],
}

const APP: &str = "bench/app";

pub fn hosted(ctx: &mut Ctx) {
    let groups = [
        "head", "manifest", "auth", "tags", "catalog", "push", "pull", "memory",
    ];
    if !groups.iter().any(|g| ctx.want(g)) {
        return;
    }
    let mut h = match start_hosted(ctx) {
        Ok(h) => h,
        Err(e) => {
            let r = rec("hosted", "hosted registries: start and seed", "-", true);
            ctx.failed(r, &e);
            return;
        }
    };
    eprintln!(
        "[bench] hosted: trove on {} (main {}), reference on {}",
        h.regs[0].addr, h.regs[0].main_addr, h.regs[1].addr
    );
    if ctx.want("head") {
        head_blob(ctx, &h);
    }
    if ctx.want("manifest") {
        manifest_get(ctx, &h);
    }
    if ctx.want("auth") {
        auth_variants(ctx, &h);
    }
    if ctx.want("tags") {
        tags_list(ctx, &h);
    }
    if ctx.want("catalog") {
        catalog(ctx, &h);
    }
    if ctx.want("pull") {
        pull(ctx, &mut h);
    }
    if ctx.want("push") {
        push(ctx, &mut h);
    }
    if ctx.want("memory") {
        let peak = rec(
            "memory.peak",
            "memory peak over the hosted cases (VmHWM)",
            "MiB",
            false,
        )
        .note("both served the same requests: wrk at up to 64 connections, 2,000 manifest pushes of the seeding, 64 MiB pushes (large pushes and pulls run on fresh instances: memory.peak_push, memory.peak_pull)");
        let after = rec(
            "memory.after_load",
            "memory after the hosted cases (VmRSS)",
            "MiB",
            false,
        );
        let m: Result<Vec<(u64, u64)>> = h.regs.iter().map(Registry::memory_kib).collect();
        match m {
            Ok(m) => {
                ctx.measured(
                    peak,
                    Ok(sides_of(
                        &SIDES,
                        m.iter().map(|x| vec![Sample::new(mib(x.1))]).collect(),
                    )),
                );
                ctx.measured(
                    after,
                    Ok(sides_of(
                        &SIDES,
                        m.iter().map(|x| vec![Sample::new(mib(x.0))]).collect(),
                    )),
                );
            }
            Err(e) => {
                ctx.failed(peak, &e);
                ctx.failed(after, &e);
            }
        }
        // Memory that is given back: the same processes after a minute without requests.
        let idle = rec(
            "memory.after_idle",
            "memory 60 s after the hosted cases (VmRSS)",
            "MiB",
            false,
        )
        .note("goal: within 10 MiB of memory.idle");
        std::thread::sleep(std::time::Duration::from_secs(60));
        let m: Result<Vec<(u64, u64)>> = h.regs.iter().map(Registry::memory_kib).collect();
        match m {
            Ok(m) => ctx.measured(
                idle,
                Ok(sides_of(
                    &SIDES,
                    m.iter().map(|x| vec![Sample::new(mib(x.0))]).collect(),
                )),
            ),
            Err(e) => ctx.failed(idle, &e),
        }
    }
}

fn start_hosted(ctx: &Ctx) -> Result<Hosted> {
    let t = Registry::start_trove(&ctx.trove_opts(Mode::Hosted, true), None)?;
    let r = Registry::start_reference(&Mode::Hosted, None)?;
    let app = Image::new(1, &[MIB]);
    for reg in [&t, &r] {
        let mut c = Client::new(reg.addr, reg.auth.clone());
        registry::push_image(&mut c, APP, "latest", &app)
            .with_context(|| format!("seeding {} with {APP}:latest", reg.kind.label()))?;
        check_manifest(reg, reg.auth.as_deref(), "latest", &app)?;
    }
    let nginx_root = servers::tempdir("tb-www.")?;
    std::fs::write(nginx_root.path().join("manifest.json"), &app.manifest)?;
    let (nginx, nginx_skip) = if Path::new(servers::NGINX).exists() {
        (Some(Nginx::start(nginx_root.path())?), None)
    } else {
        (None, Some(format!("{} is not installed", servers::NGINX)))
    };
    Ok(Hosted {
        regs: [t, r],
        app,
        nginx,
        nginx_root,
        nginx_skip,
        large_blob: [None, None],
    })
}

/// GET of a manifest by `reference` answers 200 with the pushed bytes.
fn check_manifest(reg: &Registry, auth: Option<&str>, reference: &str, img: &Image) -> Result<()> {
    let mut c = Client::new(reg.addr, auth.map(str::to_owned));
    let r = c
        .request(
            "GET",
            &format!("/v2/{APP}/manifests/{reference}"),
            &[("Accept", ACCEPT_MANIFESTS)],
            &[],
            Body::Collect,
        )?
        .expect(
            200,
            &format!("{}: GET manifest {reference}", reg.kind.label()),
        )?;
    ensure!(
        r.body == img.manifest,
        "{}: manifest bytes differ",
        reg.kind.label()
    );
    ensure!(
        r.header("docker-content-digest") == Some(img.manifest_digest.as_str()),
        "{}: Docker-Content-Digest {:?}",
        reg.kind.label(),
        r.header("docker-content-digest")
    );
    Ok(())
}

fn head_blob(ctx: &mut Ctx, h: &Hosted) {
    let r = rec(
        "head_blob",
        "HEAD blob, 1 connection, sequential (p50 latency)",
        "ms",
        false,
    );
    let layer = &h.app.layers[0];
    let path = format!("/v2/{APP}/blobs/{}", layer.digest);
    let n = ctx.head_requests;
    let res = interleave(ctx.reps_light, 2, |s, _| {
        let reg = &h.regs[s];
        let mut c = Client::new(reg.addr, reg.auth.clone());
        let size = layer.data.len().to_string();
        let mut lat = Vec::with_capacity(n);
        let t_all = Instant::now();
        for i in 0..n + 50 {
            let t = Instant::now();
            let res = c.request("HEAD", &path, &[], &[], Body::Collect)?;
            let el = t.elapsed();
            let res = res.expect(200, "HEAD blob")?;
            ensure!(
                res.header("content-length") == Some(size.as_str()),
                "HEAD blob Content-Length {:?}",
                res.header("content-length")
            );
            if i >= 50 {
                lat.push(ms(el));
            }
        }
        let total = t_all.elapsed();
        lat.sort_by(f64::total_cmp);
        Ok(Sample::new(pct(&lat, 50.0))
            .with("p99_ms", pct(&lat, 99.0))
            .with("req_per_s", (n + 50) as f64 / total.as_secs_f64()))
    })
    .map(|s| sides_of(&SIDES, s));
    ctx.measured(
        r.note(format!(
            "{n} requests per sample after 50 warm-up, keep-alive"
        )),
        res,
    );
}

fn wrk_headers(auth: Option<&str>) -> Vec<String> {
    let mut h = vec![format!("Accept: {ACCEPT_MANIFESTS}")];
    if let Some(a) = auth {
        h.push(format!("Authorization: {a}"));
    }
    h
}

fn manifest_get(ctx: &mut Ctx, h: &Hosted) {
    let digest = h.app.manifest_digest.clone();
    for (kind, reference) in [("tag", "latest".to_owned()), ("digest", digest)] {
        for conns in [1u32, 16, 64] {
            let mut r = rec(
                &format!("manifest.{kind}.c{conns}"),
                &format!("manifest GET by {kind}, {conns} connections (wrk)"),
                "req/s",
                true,
            );
            let with_nginx = kind == "tag" && conns == 64;
            if let Err(e) = h
                .regs
                .iter()
                .try_for_each(|reg| check_manifest(reg, reg.auth.as_deref(), &reference, &h.app))
            {
                ctx.failed(r, &e);
                continue;
            }
            let mut names = SIDES.to_vec();
            if with_nginx {
                match &h.nginx {
                    Some(_) => {
                        names.push("nginx");
                        r = r.note("nginx: the same bytes as a static file (ceiling)");
                    }
                    None => {
                        r = r.note(format!(
                            "nginx ceiling skipped: {}",
                            h.nginx_skip.clone().unwrap_or_default()
                        ))
                    }
                }
            }
            let scratch = ctx.scratch.path().to_owned();
            let secs = ctx.wrk_secs;
            let res = interleave(ctx.reps_light, names.len(), |s, _| {
                let (url, headers) = if s < 2 {
                    let reg = &h.regs[s];
                    (
                        format!("http://{}/v2/{APP}/manifests/{reference}", reg.addr),
                        wrk_headers(reg.auth.as_deref()),
                    )
                } else {
                    let n = h.nginx.as_ref().expect("nginx");
                    (
                        format!("http://{}/manifest.json", n.addr),
                        wrk_headers(None),
                    )
                };
                let w = wrk::run(&scratch, &url, "GET", &headers, conns, secs)?;
                Ok(Sample::new(w.rps)
                    .with("p50_ms", w.p50_ms)
                    .with("p99_ms", w.p99_ms)
                    .with("_socket_errors", w.socket_errors as f64))
            })
            .map(|s| sides_of(&names, s));
            ctx.measured(
                r.note(format!(
                    "{secs} s per run; Trove with Basic auth, reference without auth"
                )),
                res,
            );
        }
    }
}

/// A bearer token for `scope` from Trove's token realm (found in the `/v2/` challenge).
fn bearer_token(reg: &Registry, scope: &str) -> Result<String> {
    let mut c = Client::new(reg.addr, None);
    let r = c.get("/v2/")?.expect(401, "GET /v2/ without credentials")?;
    let ch = r
        .header("www-authenticate")
        .context("401 without WWW-Authenticate")?
        .to_owned();
    let param = |k: &str| -> Option<String> {
        let i = ch.find(&format!("{k}=\""))?;
        let rest = &ch[i + k.len() + 2..];
        Some(rest[..rest.find('"')?].to_owned())
    };
    let realm = param("realm").with_context(|| format!("no realm in {ch:?}"))?;
    let service = param("service").unwrap_or_default();
    let mut c = Client::new(reg.addr, reg.auth.clone());
    let path = format!("{}?service={service}&scope={scope}", location_path(&realm));
    let r = c.get(&path)?.expect(200, "GET token")?;
    let v: Value = serde_json::from_slice(&r.body)?;
    Ok(v["token"]
        .as_str()
        .context("token response without token")?
        .to_owned())
}

fn auth_variants(ctx: &mut Ctx, h: &Hosted) {
    let conns = 64;
    let names = [
        "trove-anonymous",
        "trove-basic",
        "trove-bearer",
        "reference",
    ];
    let recs = || {
        [
            ("anonymous", "no credentials (anonymous read on)"),
            ("basic", "HTTP Basic"),
            ("bearer", "Bearer token"),
        ]
        .map(|(k, d)| {
            rec(
                &format!("auth.{k}.c{conns}"),
                &format!("manifest GET by tag, {conns} connections, Trove with {d}"),
                "req/s",
                true,
            )
        })
    };
    let t = &h.regs[0];
    let scope = format!("repository:{APP}:pull");
    let prep = || -> Result<()> {
        check_manifest(t, None, "latest", &h.app)?;
        let token = bearer_token(t, &scope)?;
        check_manifest(t, Some(&format!("Bearer {token}")), "latest", &h.app)
    };
    if let Err(e) = prep() {
        for r in recs() {
            ctx.failed(r, &e);
        }
        return;
    }
    let scratch = ctx.scratch.path().to_owned();
    let secs = ctx.wrk_secs;
    let res = interleave(ctx.reps_light, names.len(), |s, _| {
        let (addr, auth) = match s {
            0 => (t.addr, None),
            1 => (t.addr, t.auth.clone()),
            2 => (t.addr, Some(format!("Bearer {}", bearer_token(t, &scope)?))),
            _ => (h.regs[1].addr, None),
        };
        let url = format!("http://{addr}/v2/{APP}/manifests/latest");
        let w = wrk::run(
            &scratch,
            &url,
            "GET",
            &wrk_headers(auth.as_deref()),
            conns,
            secs,
        )?;
        Ok(Sample::new(w.rps)
            .with("p50_ms", w.p50_ms)
            .with("p99_ms", w.p99_ms)
            .with("_socket_errors", w.socket_errors as f64))
    });
    match res {
        Ok(mut s) => {
            let reference = s.pop().expect("reference samples");
            for (i, r) in recs().into_iter().enumerate() {
                let sides = vec![
                    Side {
                        name: names[i].to_owned(),
                        samples: s[i].clone(),
                    },
                    Side {
                        name: "reference".to_owned(),
                        samples: reference.clone(),
                    },
                ];
                ctx.measured(
                    r.note("reference: anonymous (it runs without auth)"),
                    Ok(sides),
                );
            }
        }
        Err(e) => {
            for r in recs() {
                ctx.failed(r, &e);
            }
        }
    }
}

/// Runs `f(client, i)` for `i in 0..n` over `threads` connections to `reg`.
fn parallel_each(
    reg: &Registry,
    n: usize,
    threads: usize,
    f: impl Fn(&mut Client, usize) -> Result<()> + Sync,
) -> Result<()> {
    std::thread::scope(|s| {
        let hs: Vec<_> = (0..threads)
            .map(|t| {
                let f = &f;
                s.spawn(move || -> Result<()> {
                    let mut c = Client::new(reg.addr, reg.auth.clone());
                    for i in (t..n).step_by(threads) {
                        f(&mut c, i)?;
                    }
                    Ok(())
                })
            })
            .collect();
        hs.into_iter()
            .try_for_each(|h| h.join().expect("seeding thread panicked"))
    })
}

fn link_next(r: &crate::http::Response) -> Option<String> {
    let l = r.header("link")?;
    let start = l.find('<')? + 1;
    let end = l[start..].find('>')? + start;
    Some(location_path(&l[start..end]))
}

/// GETs `path`, follows `Link: rel="next"` to the end; returns the entries of `key` and the
/// number of pages.
fn walk_list(c: &mut Client, path: &str, key: &str) -> Result<(Vec<String>, usize)> {
    let mut next = Some(path.to_owned());
    let mut all = Vec::new();
    let mut pages = 0;
    while let Some(p) = next {
        let r = c.get(&p)?.expect(200, &format!("GET {p}"))?;
        let v: Value = serde_json::from_slice(&r.body).context("listing JSON")?;
        let items = v[key].as_array().cloned().unwrap_or_default();
        all.extend(items.iter().filter_map(|x| x.as_str().map(str::to_owned)));
        pages += 1;
        ensure!(pages <= 10_000, "more than 10,000 pages");
        next = link_next(&r);
    }
    Ok((all, pages))
}

/// Median latency (ms) of `n` sequential `f` calls, with p99.
fn latency_batch(n: usize, mut f: impl FnMut() -> Result<()>) -> Result<Sample> {
    f()?;
    let mut lat = Vec::with_capacity(n);
    for _ in 0..n {
        let t = Instant::now();
        f()?;
        lat.push(ms(t.elapsed()));
    }
    lat.sort_by(f64::total_cmp);
    Ok(Sample::new(pct(&lat, 50.0)).with("p99_ms", pct(&lat, 99.0)))
}

const TAGS_IMAGE: &str = "bench/tags";
const N_TAGS: usize = 1000;

fn tags_list(ctx: &mut Ctx, h: &Hosted) {
    let recs = || {
        [
            rec(
                "tags.full",
                "tags list, 1,000 tags, no pagination (p50)",
                "ms",
                false,
            ),
            rec(
                "tags.page1",
                "tags list, 1,000 tags, first page n=100 (p50)",
                "ms",
                false,
            ),
            rec(
                "tags.walk_n100",
                "tags list, 1,000 tags, all pages of n=100",
                "ms",
                false,
            ),
        ]
    };
    let seed = || -> Result<()> {
        for reg in &h.regs {
            let mut c = Client::new(reg.addr, reg.auth.clone());
            for b in h.app.blobs() {
                registry::mount_blob(&mut c, TAGS_IMAGE, APP, b)?;
            }
            parallel_each(reg, N_TAGS, 4, |c, i| {
                registry::put_manifest(c, TAGS_IMAGE, &format!("t{i:04}"), &h.app.manifest)
            })
            .with_context(|| format!("seeding {N_TAGS} tags on {}", reg.kind.label()))?;
            let (tags, _) = walk_list(&mut c, &format!("/v2/{TAGS_IMAGE}/tags/list"), "tags")?;
            ensure!(
                tags.len() == N_TAGS,
                "{}: {} tags listed, {N_TAGS} pushed",
                reg.kind.label(),
                tags.len()
            );
        }
        Ok(())
    };
    let t = Instant::now();
    if let Err(e) = seed() {
        for r in recs() {
            ctx.failed(r, &e);
        }
        return;
    }
    eprintln!(
        "[bench] seeded {N_TAGS} tags on both in {:.1} s",
        t.elapsed().as_secs_f64()
    );
    let [full, page1, walk] = recs();
    let n = ctx.list_requests;
    let list = format!("/v2/{TAGS_IMAGE}/tags/list");
    let res = interleave(ctx.reps_light, 2, |s, _| {
        let reg = &h.regs[s];
        let mut c = Client::new(reg.addr, reg.auth.clone());
        latency_batch(n, || {
            let r = c.get(&list)?.expect(200, "GET tags/list")?;
            ensure!(link_next(&r).is_none(), "unexpected Link without n");
            Ok(())
        })
    })
    .map(|s| sides_of(&SIDES, s));
    ctx.measured(
        full.note(format!("{n} sequential requests per sample")),
        res,
    );

    // First page: is pagination real (a page costs less than the whole list)?
    let mut paged = [false; 2];
    let res = interleave(ctx.reps_light, 2, |s, _| {
        let reg = &h.regs[s];
        let mut c = Client::new(reg.addr, reg.auth.clone());
        let p = format!("{list}?n=100");
        let r = c.get(&p)?.expect(200, "GET tags/list?n=100")?;
        let v: Value = serde_json::from_slice(&r.body)?;
        let count = v["tags"].as_array().map(Vec::len).unwrap_or(0);
        paged[s] = link_next(&r).is_some() && count == 100;
        latency_batch(n, || {
            c.get(&p)?.expect(200, "GET tags/list?n=100")?;
            Ok(())
        })
    })
    .map(|s| sides_of(&SIDES, s));
    let note = |paged: [bool; 2]| {
        SIDES
            .iter()
            .zip(paged)
            .map(|(n, p)| {
                format!(
                    "{n} {}",
                    if p {
                        "returns 100 tags and a Link"
                    } else {
                        "ignores n (returns everything, no Link)"
                    }
                )
            })
            .collect::<Vec<_>>()
            .join("; ")
    };
    ctx.measured(page1.note(note(paged)), res);

    let mut pages = [0usize; 2];
    let res = interleave(ctx.reps_light, 2, |s, _| {
        let reg = &h.regs[s];
        let mut c = Client::new(reg.addr, reg.auth.clone());
        let p = format!("{list}?n=100");
        walk_list(&mut c, &p, "tags")?;
        latency_batch(n.div_ceil(10).max(3), || {
            let (tags, np) = walk_list(&mut c, &p, "tags")?;
            ensure!(tags.len() == N_TAGS, "walk listed {} tags", tags.len());
            pages[s] = np;
            Ok(())
        })
    })
    .map(|s| sides_of(&SIDES, s));
    ctx.measured(
        walk.note(format!(
            "pages walked: trove {}, reference {}",
            pages[0], pages[1]
        )),
        res,
    );
}

const N_CATALOG: usize = 1000;

fn catalog(ctx: &mut Ctx, h: &Hosted) {
    let r = rec(
        "catalog.full",
        "catalog, 1,000 repositories (images), whole listing",
        "ms",
        false,
    );
    let seed = || -> Result<()> {
        for reg in &h.regs {
            parallel_each(reg, N_CATALOG, 4, |c, i| {
                let name = format!("cat/img-{i:04}");
                for b in h.app.blobs() {
                    registry::mount_blob(c, &name, APP, b)?;
                }
                registry::put_manifest(c, &name, "v1", &h.app.manifest)
            })
            .with_context(|| format!("seeding {N_CATALOG} images on {}", reg.kind.label()))?;
        }
        Ok(())
    };
    let t = Instant::now();
    if let Err(e) = seed() {
        ctx.failed(r, &e);
        return;
    }
    eprintln!(
        "[bench] seeded {N_CATALOG} images on both in {:.1} s",
        t.elapsed().as_secs_f64()
    );
    let n = (ctx.list_requests / 20).max(3);
    let mut pages = [0usize; 2];
    let mut total = [0usize; 2];
    let res = interleave(ctx.reps_light, 2, |s, _| {
        let reg = &h.regs[s];
        let mut c = Client::new(reg.addr, reg.auth.clone());
        latency_batch(n, || {
            let (names, np) = walk_list(&mut c, "/v2/_catalog?n=1000", "repositories")?;
            let cat = names.iter().filter(|x| x.starts_with("cat/img-")).count();
            ensure!(
                cat == N_CATALOG,
                "catalog lists {cat} of {N_CATALOG} images"
            );
            pages[s] = np;
            total[s] = names.len();
            Ok(())
        })
    })
    .map(|s| sides_of(&SIDES, s));
    ctx.measured(
        r.note(format!(
            "GET /v2/_catalog?n=1000 (the reference's maximum) and its Link pages: trove {} names in {} page(s), reference {} in {}; {n} walks per sample",
            total[0], pages[0], total[1], pages[1]
        )),
        res,
    );
}

const PUSH_IMAGE: &str = "bench/push";
const CHUNK: usize = 8 * MIB;

fn push(ctx: &mut Ctx, h: &mut Hosted) {
    let mut counter = 0u64;
    let bin = ctx.trove_bin.clone();
    let fresh_opts = TroveOpts {
        bin: &bin,
        mode: Mode::Hosted,
        anonymous_read: false,
    };
    let mut hwm: [Vec<Sample>; 2] = [Vec::new(), Vec::new()];
    // The large pushes run on a fresh instance each (started, pushed to, stopped, removed): the
    // disk holds one large blob at a time, and the peak memory of a push is visible.
    for (size, label, reps, fresh) in [
        (64 * MIB, "64MiB".to_owned(), ctx.reps_light, false),
        (ctx.large, ctx.large_label.clone(), ctx.reps_heavy, true),
    ] {
        let title = |chunked: bool| {
            format!(
                "blob push {label}, {}",
                if chunked {
                    "8 MiB chunks (POST, PATCH…, PUT)"
                } else {
                    "monolithic (POST, PUT)"
                }
            )
        };
        let recs = |chunked: bool| {
            let mode = if chunked { "chunked" } else { "mono" };
            rec(
                &format!("push.{mode}.{label}"),
                &title(chunked),
                "MB/s",
                true,
            )
        };
        // Fresh instances hold one blob (plus a chunked upload's parts); the shared ones keep
        // every pushed blob until the group ends.
        let need = if fresh {
            (size + size / 4) as u64
        } else {
            (4 * reps * size) as u64
        } + (512 << 20);
        if let Some(free) = crate::machine::free_bytes("/tmp")
            && free < need
        {
            for chunked in [false, true] {
                ctx.skipped(
                    recs(chunked),
                    format!(
                        "needs {:.1} GiB free in /tmp, {:.1} GiB available",
                        need as f64 / (1u64 << 30) as f64,
                        free as f64 / (1u64 << 30) as f64
                    ),
                );
            }
            continue;
        }
        let mut blob = Blob::new(random_bytes(1000 + size as u64, size));
        for chunked in [false, true] {
            let r = recs(chunked);
            let res = interleave(reps, 2, |s, _| {
                counter += 1;
                blob.remix(counter);
                let own;
                let reg = if fresh {
                    own = match s {
                        0 => Registry::start_trove(&fresh_opts, None)?,
                        _ => Registry::start_reference(&Mode::Hosted, None)?,
                    };
                    &own
                } else {
                    &h.regs[s]
                };
                let mut c = Client::new(reg.addr, reg.auth.clone());
                c.get("/v2/")?;
                // Dirty pages of the previous sample (the reference writes without fsync, so
                // its data reaches the disk later) go to disk now, not during this sample.
                flush_page_cache()?;
                let t = Instant::now();
                if chunked {
                    registry::push_blob_chunked(&mut c, PUSH_IMAGE, &blob, CHUNK)?;
                } else {
                    registry::push_blob_monolithic(&mut c, PUSH_IMAGE, &blob)?;
                }
                let secs = t.elapsed().as_secs_f64();
                let head = c.request(
                    "HEAD",
                    &format!("/v2/{PUSH_IMAGE}/blobs/{}", blob.digest),
                    &[],
                    &[],
                    Body::Collect,
                )?;
                let head = head.expect(200, "HEAD after push")?;
                ensure!(
                    head.header("content-length") == Some(size.to_string().as_str()),
                    "pushed blob has Content-Length {:?}",
                    head.header("content-length")
                );
                if fresh {
                    hwm[s].push(Sample::new(mib(reg.memory_kib()?.1)));
                }
                Ok(Sample::new(size as f64 / secs / 1e6).with("seconds", secs))
            })
            .map(|s| sides_of(&SIDES, s));
            let r = if fresh {
                r.note("a fresh instance per run")
            } else {
                r
            };
            ctx.measured(
                r.note(
                    "unique content per run; time from POST to the 201 of the final PUT; \
                     `sync` before each sample",
                ),
                res,
            );
        }
        if fresh && hwm.iter().all(|v| !v.is_empty()) {
            let r = rec(
                &format!("memory.peak_push.{label}"),
                &format!("memory peak of a fresh instance after one {label} push (VmHWM)"),
                "MiB",
                false,
            );
            ctx.measured(r, Ok(sides_of(&SIDES, std::mem::take(&mut hwm).into())));
        }
    }
}

/// Writes every dirty page to disk (`sync`), so a sample does not pay for the one before.
fn flush_page_cache() -> Result<()> {
    let status = std::process::Command::new("sync").status()?;
    ensure!(status.success(), "sync failed: {status}");
    Ok(())
}

/// The pull cases run on a fresh pair of instances (swapped into `h` meanwhile): the disk holds
/// the two large blobs only while they run, and their peak memory is the pulls' own.
fn pull(ctx: &mut Ctx, h: &mut Hosted) {
    let bin = ctx.trove_bin.clone();
    let opts = TroveOpts {
        bin: &bin,
        mode: Mode::Hosted,
        anonymous_read: false,
    };
    // Room for one large blob per side. When /tmp lacks it, /dev/shm (tmpfs) will do for
    // pulls: the file is served from the page cache either way (said in the notes). Pushes
    // never fall back, since fsync on tmpfs costs nothing.
    let need = 2 * ctx.large as u64 + (512 << 20);
    let gib = |b: u64| b as f64 / (1u64 << 30) as f64;
    let free_tmp = crate::machine::free_bytes("/tmp").unwrap_or(u64::MAX);
    let free_shm = crate::machine::free_bytes("/dev/shm").unwrap_or(0);
    let (base, note) = if free_tmp >= need {
        ("/tmp", None)
    } else if free_shm >= need {
        (
            "/dev/shm",
            Some(format!(
                "data dirs on tmpfs (/dev/shm): /tmp had {:.1} GiB free, {:.1} GiB needed",
                gib(free_tmp),
                gib(need)
            )),
        )
    } else {
        for r in pull_recs(&ctx.large_label, None) {
            ctx.skipped(
                r,
                format!(
                    "needs {:.1} GiB free in /tmp or /dev/shm, {:.1} and {:.1} GiB available",
                    gib(need),
                    gib(free_tmp),
                    gib(free_shm)
                ),
            );
        }
        return;
    };
    let dir = |prefix: &str| -> Result<TempDir> {
        Ok(tempfile::Builder::new().prefix(prefix).tempdir_in(base)?)
    };
    let fresh = (|| -> Result<[Registry; 2]> {
        let t = Registry::start_trove(&opts, Some(dir("tb-trove.")?))?;
        let r = Registry::start_reference(&Mode::Hosted, Some(dir("tb-ref.")?))?;
        Ok([t, r])
    })();
    let fresh = match fresh {
        Ok(f) => f,
        Err(e) => {
            let r = rec("pull", "pull cases: start fresh instances", "-", true);
            ctx.failed(r, &e);
            return;
        }
    };
    let saved = std::mem::replace(&mut h.regs, fresh);
    h.large_blob = [None, None];
    pull_cases(ctx, h, note.as_deref());
    let fresh = std::mem::replace(&mut h.regs, saved);
    let _ = std::fs::remove_file(h.nginx_root.path().join("blob"));
    if h.large_blob.iter().all(Option::is_some) {
        let r = rec(
            &format!("memory.peak_pull.{}", ctx.large_label),
            &format!(
                "memory peak of a fresh instance after the {} pulls (VmHWM)",
                ctx.large_label
            ),
            "MiB",
            false,
        );
        let m: Result<Vec<Vec<Sample>>> = fresh
            .iter()
            .map(|reg| Ok(vec![Sample::new(mib(reg.memory_kib()?.1))]))
            .collect();
        match m {
            Ok(m) => ctx.measured(r, Ok(sides_of(&SIDES, m))),
            Err(e) => ctx.failed(r, &e),
        }
    }
    h.large_blob = [None, None];
    drop(fresh);
}

/// Hard-links (else symlinks) Trove's stored file of `digest` into nginx's root as `blob`.
fn expose_to_nginx(h: &Hosted, digest: &str) -> Result<&'static str> {
    let hex = digest.trim_start_matches("sha256:");
    let data = h.regs[0].dir().join("data");
    let mut found = None;
    let mut stack = vec![data.clone()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d)? {
            let e = e?;
            let p = e.path();
            if e.file_type()?.is_dir() {
                stack.push(p);
            } else if e.file_name().to_string_lossy() == hex {
                found = Some(p);
            }
        }
    }
    let src = found.with_context(|| {
        format!(
            "Trove's file of {digest} not found under {}",
            data.display()
        )
    })?;
    let dst = h.nginx_root.path().join("blob");
    let _ = std::fs::remove_file(&dst);
    if std::fs::hard_link(&src, &dst).is_ok() {
        return Ok("hard link");
    }
    // Another filesystem (/dev/shm): nginx follows symlinks by default.
    std::os::unix::fs::symlink(&src, &dst)?;
    Ok("symlink")
}

fn pull_recs(label: &str, note: Option<&str>) -> [Rec; 2] {
    [
        rec(
            &format!("pull.single.{label}"),
            &format!("blob pull {label}, 1 client"),
            "MB/s",
            true,
        ),
        rec(
            &format!("pull.parallel4.{label}"),
            &format!("blob pull {label}, 4 clients at once (aggregate)"),
            "MB/s",
            true,
        ),
    ]
    .map(|r| match note {
        Some(n) => r.note(n),
        None => r,
    })
}

fn pull_cases(ctx: &mut Ctx, h: &mut Hosted, note: Option<&str>) {
    let label = ctx.large_label.clone();
    let size = ctx.large;
    let recs = || pull_recs(&label, note);
    // The blob each side serves (pushed here, untimed).
    let prep = |h: &mut Hosted| -> Result<()> {
        let mut fresh: Option<Blob> = None;
        for s in 0..2 {
            if h.large_blob[s].is_none() {
                let b = fresh.get_or_insert_with(|| Blob::new(random_bytes(4242, size)));
                let reg = &h.regs[s];
                let mut c = Client::new(reg.addr, reg.auth.clone());
                registry::push_blob_monolithic(&mut c, PUSH_IMAGE, b)?;
                h.large_blob[s] = Some(b.digest.clone());
            }
            // Verify the served bytes once (hashing would cap the timed pulls).
            let reg = &h.regs[s];
            let d = h.large_blob[s].clone().expect("blob");
            let mut c = Client::new(reg.addr, reg.auth.clone());
            let r = c
                .request(
                    "GET",
                    &format!("/v2/{PUSH_IMAGE}/blobs/{d}"),
                    &[],
                    &[],
                    Body::Hash,
                )?
                .expect(200, "GET blob")?;
            ensure!(
                r.sha256.as_deref() == Some(d.as_str()),
                "{}: pulled bytes hash to {:?}",
                reg.kind.label(),
                r.sha256
            );
        }
        Ok(())
    };
    if let Err(e) = prep(h) {
        for r in recs() {
            ctx.failed(r, &e);
        }
        return;
    }
    let mut names = SIDES.to_vec();
    let mut nginx_note = None;
    let mut linked = "";
    if let Some(n) = &h.nginx {
        let d = h.large_blob[0].clone().expect("blob");
        let check = expose_to_nginx(h, &d).and_then(|how| {
            let mut c = Client::new(n.addr, None);
            let r = c
                .request("GET", "/blob", &[], &[], Body::Hash)?
                .expect(200, "nginx GET /blob")?;
            ensure!(
                r.sha256.as_deref() == Some(d.as_str()),
                "nginx served other bytes"
            );
            Ok(how)
        });
        match check {
            Ok(how) => {
                names.push("nginx");
                linked = how;
            }
            Err(e) => nginx_note = Some(format!("nginx ceiling skipped: {e:#}")),
        }
    } else {
        nginx_note = Some(format!(
            "nginx ceiling skipped: {}",
            h.nginx_skip.clone().unwrap_or_default()
        ));
    }
    let target = |s: usize| -> (std::net::SocketAddr, Option<String>, String) {
        if s < 2 {
            let reg = &h.regs[s];
            let d = h.large_blob[s].clone().expect("blob");
            (
                reg.addr,
                reg.auth.clone(),
                format!("/v2/{PUSH_IMAGE}/blobs/{d}"),
            )
        } else {
            (
                h.nginx.as_ref().expect("nginx").addr,
                None,
                "/blob".to_owned(),
            )
        }
    };
    // Each sample pulls at least 1 GiB (quick mode's 256 MiB blob four times, one connection)
    // so that it lasts long enough to measure.
    let times = (1usize << 30).div_ceil(size).max(1);
    let get = |addr, auth: Option<String>, path: &str| -> Result<()> {
        let mut c = Client::new(addr, auth);
        for _ in 0..times {
            let r = c
                .request("GET", path, &[], &[], Body::Discard)?
                .expect(200, "GET blob")?;
            ensure!(
                r.body_len == size as u64,
                "pulled {} bytes of {size}",
                r.body_len
            );
        }
        Ok(())
    };
    let [single, par] = recs();
    let res = interleave(ctx.reps_heavy.max(2), names.len(), |s, _| {
        let (addr, auth, path) = target(s);
        let t = Instant::now();
        get(addr, auth, &path)?;
        let secs = t.elapsed().as_secs_f64();
        Ok(Sample::new((times * size) as f64 / secs / 1e6).with("seconds", secs))
    })
    .map(|s| sides_of(&names, s));
    let single = match &nginx_note {
        Some(n) => single.note(n.clone()),
        None => single.note(format!(
            "nginx: Trove's stored file of the same blob ({linked}), sendfile on"
        )),
    };
    let single = if times > 1 {
        single.note(format!("each sample pulls the blob {times} times in a row"))
    } else {
        single
    };
    ctx.measured(single.note("size checked on every pull; SHA-256 checked once per side before timing; data in page cache"), res);
    let res = interleave(ctx.reps_heavy.max(2), names.len(), |s, _| {
        let (addr, auth, path) = target(s);
        let barrier = Barrier::new(4);
        let t = Instant::now();
        std::thread::scope(|sc| {
            let hs: Vec<_> = (0..4)
                .map(|_| {
                    let (auth, path, barrier) = (auth.clone(), &path, &barrier);
                    sc.spawn(move || {
                        barrier.wait();
                        get(addr, auth, path)
                    })
                })
                .collect();
            hs.into_iter()
                .try_for_each(|h| h.join().expect("pull thread panicked"))
        })?;
        let secs = t.elapsed().as_secs_f64();
        Ok(Sample::new((4 * times * size) as f64 / secs / 1e6).with("seconds", secs))
    })
    .map(|s| sides_of(&names, s));
    let par = match &nginx_note {
        Some(n) => par.note(n.clone()),
        None => par,
    };
    ctx.measured(par, res);
}

// ---------------------------------------------------------------------------------------------
// Proxy: Trove's proxy repository vs the reference in proxy mode, both in front of a reference
// upstream, each through its own counting relay.

const PROXY_IMAGE: &str = "proxy/app";

fn summarize_upstream(lines: &[String]) -> Value {
    let mut counts = std::collections::BTreeMap::<String, usize>::new();
    for l in lines {
        let (method, path) = l.split_once(' ').unwrap_or((l.as_str(), ""));
        let kind = if path.contains("/blobs/") {
            "blob"
        } else if path.contains("/manifests/") {
            "manifest"
        } else if path == "/v2/" || path.starts_with("/v2/?") {
            "ping"
        } else {
            "other"
        };
        *counts.entry(format!("{method} {kind}")).or_default() += 1;
    }
    json!(counts)
}

fn blob_gets(lines: &[String]) -> (usize, usize) {
    let mut per = std::collections::BTreeMap::<&str, usize>::new();
    for l in lines {
        if let Some(p) = l.strip_prefix("GET ")
            && p.contains("/blobs/sha256:")
        {
            *per.entry(p).or_default() += 1;
        }
    }
    (per.values().sum(), per.values().copied().max().unwrap_or(0))
}

pub fn proxy(ctx: &mut Ctx) {
    let recs = || {
        [
            rec(
                "proxy.cold",
                "proxy pull 5 × 20 MiB image, cold cache",
                "ms",
                false,
            ),
            rec(
                "proxy.warm",
                "proxy pull, warm (same image again)",
                "ms",
                false,
            ),
            rec(
                "proxy.cold.upstream_requests",
                "proxy cold pull: requests sent upstream",
                "requests",
                false,
            ),
            rec(
                "proxy.concurrent8",
                "proxy: 8 concurrent cold pulls (wall time, every byte verified)",
                "ms",
                false,
            ),
            rec(
                "proxy.concurrent8.blob_gets",
                "proxy: 8 concurrent cold pulls, upstream blob GETs (6 blobs)",
                "requests",
                false,
            ),
        ]
    };
    let img = Image::new(55, &[20 * MIB; 5]);
    let setup = || -> Result<(Registry, Relay, Relay)> {
        let up = Registry::start_reference(&Mode::Hosted, None)?;
        let mut c = Client::new(up.addr, None);
        registry::push_image(&mut c, PROXY_IMAGE, "v1", &img)?;
        let rt = Relay::start(up.addr)?;
        let rr = Relay::start(up.addr)?;
        Ok((up, rt, rr))
    };
    let (up, rt, rr) = match setup() {
        Ok(x) => x,
        Err(e) => {
            for r in recs() {
                ctx.failed(r, &e);
            }
            return;
        }
    };
    let relays = [&rt, &rr];
    let bin = ctx.trove_bin.clone();
    let opts_t = TroveOpts {
        bin: &bin,
        mode: Mode::Proxy(format!("http://{}", rt.addr)),
        anonymous_read: false,
    };
    let mode_r = Mode::Proxy(format!("http://{}", rr.addr));
    let front = |s: usize| -> Result<Registry> {
        match s {
            0 => Registry::start_trove(&opts_t, None),
            _ => Registry::start_reference(&mode_r, None),
        }
    };
    let blobs = img.blobs().count() as f64;
    let mut last_cold = [Value::Null, Value::Null];
    let res = interleave(ctx.reps_proxy, 2, |s, _| {
        let f = front(s)?;
        let auth = f.auth.clone();
        relays[s].take();
        let t = Instant::now();
        let p = registry::pull_image(f.addr, auth.as_deref(), PROXY_IMAGE, "v1", 3, false)?;
        let cold = t.elapsed();
        ensure!(
            p.bytes == img.total_bytes(),
            "cold pull moved {} bytes, want {}",
            p.bytes,
            img.total_bytes()
        );
        let up_cold = relays[s].take();
        let t = Instant::now();
        registry::pull_image(f.addr, auth.as_deref(), PROXY_IMAGE, "v1", 3, false)?;
        let warm = t.elapsed();
        let up_warm = relays[s].take();
        registry::pull_image(f.addr, auth.as_deref(), PROXY_IMAGE, "v1", 3, true)
            .context("verifying the cached image")?;
        relays[s].take();
        let (gets, _) = blob_gets(&up_cold);
        last_cold[s] =
            json!({ "cold": summarize_upstream(&up_cold), "warm": summarize_upstream(&up_warm) });
        Ok(Sample::new(ms(cold))
            .with("_warm_ms", ms(warm))
            .with("_cold_up", up_cold.len() as f64)
            .with("_cold_blob_gets", gets as f64)
            .with("_warm_up", up_warm.len() as f64))
    });
    let [cold, warm, cold_up, conc, conc_gets] = recs();
    match res {
        Ok(s) => {
            let proj = |key: &str| sides_of(&SIDES, s.iter().map(|v| project(v, key)).collect());
            let warm_sides = proj("_warm_ms");
            let up_sides: Vec<Side> = SIDES
                .iter()
                .zip(&s)
                .map(|(n, v)| Side {
                    name: (*n).to_owned(),
                    samples: v
                        .iter()
                        .map(|x| {
                            Sample::new(x.get("_cold_up").unwrap_or(f64::NAN))
                                .with("blob_gets", x.get("_cold_blob_gets").unwrap_or(f64::NAN))
                                .with("warm_requests", x.get("_warm_up").unwrap_or(f64::NAN))
                        })
                        .collect(),
                })
                .collect();
            ctx.measured(
                cold.note("fresh proxy per run; manifest by tag, then config and layers over 3 connections (as docker)"),
                Ok(sides_of(&SIDES, s)),
            );
            ctx.measured(warm, Ok(warm_sides));
            ctx.measured(
                cold_up.details(json!({ "trove": last_cold[0], "reference": last_cold[1] })),
                Ok(up_sides),
            );
        }
        Err(e) => {
            ctx.failed(cold, &e);
            ctx.failed(warm, &e);
            ctx.failed(cold_up, &e);
        }
    }

    let mut last = [Value::Null, Value::Null];
    let res = interleave(ctx.reps_proxy.min(2), 2, |s, _| {
        let f = front(s)?;
        relays[s].take();
        let barrier = Barrier::new(8);
        let t = Instant::now();
        std::thread::scope(|sc| {
            let hs: Vec<_> = (0..8)
                .map(|_| {
                    let (f, barrier) = (&f, &barrier);
                    sc.spawn(move || {
                        barrier.wait();
                        registry::pull_image(f.addr, f.auth.as_deref(), PROXY_IMAGE, "v1", 3, true)
                    })
                })
                .collect();
            hs.into_iter()
                .try_for_each(|h| h.join().expect("pull thread panicked").map(|_| ()))
        })?;
        let wall = t.elapsed();
        let lines = relays[s].take();
        let (gets, max) = blob_gets(&lines);
        last[s] = summarize_upstream(&lines);
        Ok(Sample::new(ms(wall))
            .with("_gets", gets as f64)
            .with("_max", max as f64)
            .with("_up", lines.len() as f64))
    });
    match res {
        Ok(s) => {
            let gets: Vec<Side> = SIDES
                .iter()
                .zip(&s)
                .map(|(n, v)| Side {
                    name: (*n).to_owned(),
                    samples: v
                        .iter()
                        .map(|x| {
                            Sample::new(x.get("_gets").unwrap_or(f64::NAN))
                                .with("blobs", blobs)
                                .with("max_per_blob", x.get("_max").unwrap_or(f64::NAN))
                                .with("all_upstream_requests", x.get("_up").unwrap_or(f64::NAN))
                        })
                        .collect(),
                })
                .collect();
            ctx.measured(conc, Ok(sides_of(&SIDES, s)));
            ctx.measured(
                conc_gets
                    .note("target: exactly one upstream GET per blob")
                    .details(json!({ "trove": last[0], "reference": last[1] })),
                Ok(gets),
            );
        }
        Err(e) => {
            ctx.failed(conc, &e);
            ctx.failed(conc_gets, &e);
        }
    }
    // Cross-check the relays against the upstream's own access log: every blob GET the relays
    // saw must be there, and no other blob GET.
    std::thread::sleep(Duration::from_millis(300));
    let log = std::fs::read_to_string(up.log_path()).unwrap_or_default();
    let logged = log
        .lines()
        .filter(|l| l.contains(&format!("\"GET /v2/{PROXY_IMAGE}/blobs/sha256:")))
        .count();
    let relayed = blob_gets(&rt.all()).0 + blob_gets(&rr.all()).0;
    let r = rec(
        "proxy.relay_check",
        "proxy: relay blob GET count = upstream access log",
        "requests",
        true,
    );
    if logged == relayed {
        ctx.measured(
            r.note("sum over every proxy run of both sides"),
            Ok(vec![Side {
                name: "relays".into(),
                samples: vec![Sample::new(relayed as f64).with("upstream_log", logged as f64)],
            }]),
        );
    } else {
        ctx.failed(
            r,
            &anyhow::anyhow!("relays counted {relayed} blob GETs, the upstream logged {logged}"),
        );
    }
    drop(up);
}

// ---------------------------------------------------------------------------------------------
// docker pull through a private dockerd

pub fn docker_pull(ctx: &mut Ctx) {
    let r = rec(
        "docker_pull",
        "docker pull of a 5 × 20 MiB image (private dockerd, vfs)",
        "ms",
        false,
    );
    for p in [servers::DOCKERD, servers::DOCKER] {
        if !Path::new(p).exists() {
            ctx.skipped(r, format!("{p} is not installed (Debian's docker.io)"));
            return;
        }
    }
    if !servers::is_root() {
        ctx.skipped(r, "dockerd needs root");
        return;
    }
    let img = Image::new(77, &[20 * MIB; 5]);
    let run = |reps: usize, trove_opts: &TroveOpts<'_>| -> Result<Vec<Side>> {
        let dk = Dockerd::start()?;
        let t = Registry::start_trove(trove_opts, None)?;
        let rf = Registry::start_reference(&Mode::Hosted, None)?;
        for reg in [&t, &rf] {
            let mut c = Client::new(reg.addr, reg.auth.clone());
            registry::push_image(&mut c, "dp/app", "v1", &img)?;
        }
        dk.run(
            &[
                "login",
                &t.addr.to_string(),
                "-u",
                servers::BENCH_USER,
                "--password-stdin",
            ],
            Some(&trove_password(&t)?),
        )?;
        let regs = [&t, &rf];
        let s = interleave(reps, 2, |s, _| {
            let reference = format!("{}/dp/app:v1", regs[s].addr);
            let t0 = Instant::now();
            dk.run(&["pull", "-q", &reference], None)?;
            let el = t0.elapsed();
            dk.run(&["rmi", "-f", &reference], None)?;
            let left = dk.run(&["image", "ls", "-q"], None)?;
            if !left.trim().is_empty() {
                bail!("images left after rmi: {left}");
            }
            Ok(Sample::new(ms(el)))
        })?;
        Ok(sides_of(&SIDES, s))
    };
    let opts = ctx.trove_opts(Mode::Hosted, false);
    let res = run(ctx.reps_proxy, &opts);
    ctx.measured(
        r.note("Trove after docker login (token realm); the image is removed between pulls"),
        res,
    );
}

/// The bench user's password, as written into Trove's tempdir.
fn trove_password(t: &Registry) -> Result<String> {
    ensure!(t.kind == Kind::Trove, "not a Trove instance");
    Ok(std::fs::read_to_string(t.dir().join("bench.password"))?)
}
