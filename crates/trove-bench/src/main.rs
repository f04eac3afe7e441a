//! `trove-bench`: Trove against the reference registry (Debian's `docker-registry`, CNCF
//! distribution 2.8) on this machine, side by side and interleaved (A, B, B, A …). Prints
//! medians, min–max and the ratio Trove/reference; writes JSON (and the same table as
//! Markdown). See docs/benchmarks.md.

mod bundle;
mod cargo;
mod cases;
mod http;
mod machine;
mod maven;
mod npm;
mod pypi;
mod registry;
mod relay;
mod report;
mod servers;
mod wrk;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use clap::Parser;
use serde_json::json;

use crate::cases::Ctx;

const GROUPS: &[&str] = &[
    "sha", "startup", "head", "manifest", "auth", "tags", "catalog", "push", "pull", "memory",
    "proxy", "docker", "npm", "pypi", "bundle", "cargo", "maven",
];

/// Benchmarks Trove against Debian's docker-registry on loopback.
#[derive(Parser)]
#[command(version, about)]
struct Cli {
    /// Shorter run (a few minutes): 256 MiB instead of 1 GiB for the large push and pull,
    /// 3 s wrk runs, 2 rounds per case.
    #[arg(long)]
    quick: bool,
    /// The Trove binary (default: `trove` next to this executable, i.e. target/release/trove).
    #[arg(long)]
    trove_bin: Option<PathBuf>,
    /// The JSON output (default: target/bench/results-<date>.json next to this executable's
    /// target directory). A Markdown table is written next to it (`.md`).
    #[arg(long)]
    out: Option<PathBuf>,
    /// Run only these groups (comma-separated): sha, startup, head, manifest, auth, tags,
    /// catalog, push, pull, memory, proxy, docker, npm, pypi, bundle, cargo, maven.
    #[arg(long, value_delimiter = ',')]
    only: Vec<String>,
    /// Rounds per case (overrides the mode's default; each round runs every side once).
    #[arg(long)]
    reps: Option<usize>,
    /// Seconds per wrk run (default 10, quick 3).
    #[arg(long)]
    wrk_secs: Option<u32>,
}

fn main() {
    match run() {
        Ok(true) => {}
        Ok(false) => std::process::exit(1),
        Err(e) => {
            eprintln!("trove-bench: {e:#}");
            std::process::exit(2);
        }
    }
}

fn run() -> Result<bool> {
    let cli = Cli::parse();
    for g in &cli.only {
        if !GROUPS.contains(&g.as_str()) {
            bail!("unknown group {g:?}; groups: {}", GROUPS.join(", "));
        }
    }
    let exe = std::env::current_exe()?;
    let exe_dir = exe.parent().context("executable without a directory")?;
    let trove_bin = cli.trove_bin.unwrap_or_else(|| exe_dir.join("trove"));
    if !trove_bin.exists() {
        bail!(
            "{} not found: build it first (`cargo build --release -p trove-server`) or pass --trove-bin; scripts/bench does both",
            trove_bin.display()
        );
    }
    machine::ensure_tools()?;

    let (date, time) = machine::utc_now();
    let out = cli.out.unwrap_or_else(|| {
        exe_dir
            .parent()
            .unwrap_or(exe_dir)
            .join("bench")
            .join(format!("results-{date}-{}.json", time.replace(':', "")))
    });
    let quick = cli.quick;
    eprintln!("[bench] measuring what else runs on the machine (1 s) …");
    let busy_before = machine::busy_fraction(Duration::from_secs(1));
    let compilers_before = machine::compiler_processes();
    let load_before = machine::loadavg();
    let large = if quick { 256 << 20 } else { 1 << 30 };
    let mut ctx = Ctx {
        trove_bin: trove_bin.clone(),
        reps_light: cli.reps.unwrap_or(if quick { 2 } else { 4 }),
        reps_heavy: cli.reps.unwrap_or(2),
        reps_startup: cli.reps.unwrap_or(if quick { 4 } else { 8 }),
        reps_proxy: cli.reps.unwrap_or(if quick { 2 } else { 4 }),
        wrk_secs: cli.wrk_secs.unwrap_or(if quick { 3 } else { 10 }),
        large,
        large_label: if quick { "256MiB" } else { "1GiB" }.to_owned(),
        head_requests: if quick { 500 } else { 2000 },
        list_requests: if quick { 50 } else { 200 },
        only: cli.only.clone(),
        scratch: servers::tempdir("tb-scratch.")?,
        cases: Vec::new(),
    };
    let machine = machine::describe(&trove_bin);
    eprintln!(
        "[bench] {} mode; machine: {machine}; other load before start: {:.0} % CPU busy, {compilers_before} compiler processes, loadavg {load_before}",
        if quick { "quick" } else { "full" },
        busy_before * 100.0
    );
    let t0 = Instant::now();
    if ctx.want("sha") {
        cases::sha256_speed(&mut ctx);
    }
    if ctx.want("startup") {
        cases::startup(&mut ctx);
    }
    cases::hosted(&mut ctx);
    if ctx.want("proxy") {
        cases::proxy(&mut ctx);
    }
    if ctx.want("docker") {
        cases::docker_pull(&mut ctx);
    }
    if ctx.want("npm") {
        npm::npm(&mut ctx);
    }
    if ctx.want("pypi") {
        pypi::pypi(&mut ctx);
    }
    if ctx.want("bundle") {
        bundle::bundle(&mut ctx);
    }
    if ctx.want("cargo") {
        cargo::cargo(&mut ctx);
    }
    if ctx.want("maven") {
        maven::maven(&mut ctx);
    }
    let elapsed = t0.elapsed();

    let targets = report::targets(&ctx.cases, &ctx.large_label);
    let table = report::markdown_table(&ctx.cases);
    // Only the targets this run measured (a `--only npm` run has none of issue 8's), once each.
    let mut measured: Vec<report::Target> = Vec::new();
    for t in targets.iter().filter(|t| t.met.is_some()) {
        if !measured.iter().any(|m| m.target == t.target) {
            measured.push(t.clone());
        }
    }
    let targets_md = if measured.is_empty() {
        String::new()
    } else {
        format!(
            "Targets (issue 8):\n\n{}",
            report::targets_markdown(&measured)
        )
    };
    let failed = ctx
        .cases
        .iter()
        .filter(|c| matches!(c.outcome, report::Outcome::Failed(_)))
        .count();
    let busy_flag = busy_before > 0.15
        || compilers_before > 0
        || ctx.cases.iter().any(|c| c.compilers_at_start > 0);
    let command = std::env::args().collect::<Vec<_>>().join(" ");
    let doc = json!({
        "tool": "trove-bench",
        "date": date,
        "time_utc": time,
        "mode": if quick { "quick" } else { "full" },
        "command": command,
        "elapsed_s": elapsed.as_secs_f64(),
        "machine": machine,
        "load": {
            "cpu_busy_before_start": busy_before,
            "compilers_before_start": compilers_before,
            "loadavg_before_start": load_before,
            "loadavg_after": machine::loadavg(),
            "busy": busy_flag,
        },
        "settings": {
            "reps_light": ctx.reps_light, "reps_heavy": ctx.reps_heavy,
            "reps_startup": ctx.reps_startup, "reps_proxy": ctx.reps_proxy,
            "wrk_secs": ctx.wrk_secs, "large_bytes": ctx.large,
            "head_requests": ctx.head_requests, "list_requests": ctx.list_requests,
            "only": ctx.only,
        },
        "cases": ctx.cases.iter().map(report::Case::to_json).collect::<Vec<_>>(),
        "targets": targets.iter().map(|t| json!({"target": t.target, "measured": t.measured, "met": t.met})).collect::<Vec<_>>(),
        "failed_cases": failed,
    });
    if let Some(dir) = out.parent() {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(&out, serde_json::to_string_pretty(&doc)? + "\n")?;
    let header = format!(
        "trove-bench {} run, {date} {time} UTC, {:.0} s; {} cores, {}, {} GiB; other load before start: {:.0} % CPU, {compilers_before} compiler processes{}\n",
        if quick { "quick" } else { "full" },
        elapsed.as_secs_f64(),
        doc["machine"]["nproc"],
        doc["machine"]["cpu_model"].as_str().unwrap_or("?"),
        doc["machine"]["mem_total_gib"],
        busy_before * 100.0,
        if busy_flag {
            " (BUSY: numbers distorted)"
        } else {
            ""
        },
    );
    let md = format!("{header}\n{table}\n{targets_md}");
    let md_path = out.with_extension("md");
    std::fs::write(&md_path, &md)?;
    println!("\n{md}");
    println!("JSON: {}\nMarkdown: {}", out.display(), md_path.display());
    if failed > 0 {
        eprintln!("trove-bench: {failed} case(s) FAILED (see the table and the JSON)");
    }
    Ok(failed == 0)
}
