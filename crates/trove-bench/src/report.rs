//! Samples, interleaved runs, summaries (median, min–max, ratios), the JSON document and the
//! printed table.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use anyhow::Result;
use serde_json::{Value, json};

use crate::machine;

/// One measurement of one side; `extra` holds secondary numbers (p99, …) summarised alongside.
#[derive(Clone, Debug)]
pub struct Sample {
    pub value: f64,
    pub extra: Vec<(&'static str, f64)>,
}

impl Sample {
    pub fn new(value: f64) -> Sample {
        Sample {
            value,
            extra: Vec::new(),
        }
    }

    pub fn with(mut self, key: &'static str, v: f64) -> Sample {
        self.extra.push((key, v));
        self
    }

    pub fn get(&self, key: &str) -> Option<f64> {
        self.extra.iter().find(|(k, _)| *k == key).map(|(_, v)| *v)
    }
}

/// Samples whose value is `key` of the given ones (a second metric of the same runs).
pub fn project(samples: &[Sample], key: &str) -> Vec<Sample> {
    samples
        .iter()
        .filter_map(|s| s.get(key).map(Sample::new))
        .collect()
}

/// Runs `f(side, rep)` for `reps` rounds over `n` sides, alternating the order (A B, B A, A B,
/// …: with two sides A,B,B,A,A,B,B,A) so that drift in the machine's state hits both sides
/// alike. Any failure fails the whole measurement.
pub fn interleave(
    reps: usize,
    n: usize,
    mut f: impl FnMut(usize, usize) -> Result<Sample>,
) -> Result<Vec<Vec<Sample>>> {
    let mut out = vec![Vec::new(); n];
    for r in 0..reps {
        let order: Vec<usize> = if r % 2 == 0 {
            (0..n).collect()
        } else {
            (0..n).rev().collect()
        };
        for s in order {
            out[s].push(f(s, r)?);
        }
    }
    Ok(out)
}

pub struct Side {
    pub name: String,
    pub samples: Vec<Sample>,
}

pub enum Outcome {
    Measured(Vec<Side>),
    Skipped(String),
    Failed(String),
}

/// One row of the report.
pub struct Case {
    pub id: String,
    pub title: String,
    pub unit: &'static str,
    pub higher_is_better: bool,
    pub outcome: Outcome,
    pub notes: Vec<String>,
    pub details: Value,
    /// Machine state when the case started: 1-minute load average and compiler processes.
    pub load_at_start: f64,
    pub compilers_at_start: usize,
}

pub fn median(v: &[f64]) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    let m = s.len() / 2;
    if s.len() % 2 == 1 {
        s[m]
    } else {
        (s[m - 1] + s[m]) / 2.0
    }
}

pub struct Summary {
    pub median: f64,
    pub min: f64,
    pub max: f64,
    pub extra: BTreeMap<&'static str, f64>,
}

pub fn summarize(samples: &[Sample]) -> Summary {
    let vals: Vec<f64> = samples.iter().map(|s| s.value).collect();
    let mut keys: Vec<&'static str> = Vec::new();
    for s in samples {
        for (k, _) in &s.extra {
            if !keys.contains(k) {
                keys.push(k);
            }
        }
    }
    let extra = keys
        .into_iter()
        .map(|k| {
            let v: Vec<f64> = samples.iter().filter_map(|s| s.get(k)).collect();
            (k, median(&v))
        })
        .collect();
    Summary {
        median: median(&vals),
        min: vals.iter().copied().fold(f64::INFINITY, f64::min),
        max: vals.iter().copied().fold(f64::NEG_INFINITY, f64::max),
        extra,
    }
}

impl Case {
    pub fn sides(&self) -> Option<&[Side]> {
        match &self.outcome {
            Outcome::Measured(s) => Some(s),
            _ => None,
        }
    }

    pub fn median_of(&self, side: &str) -> Option<f64> {
        self.sides()?
            .iter()
            .find(|s| s.name == side)
            .map(|s| summarize(&s.samples).median)
    }

    pub fn extra_of(&self, side: &str, key: &str) -> Option<f64> {
        self.sides()?
            .iter()
            .find(|s| s.name == side)
            .and_then(|s| summarize(&s.samples).extra.get(key).copied())
    }

    /// First side's median over the `other` side's median.
    pub fn ratio(&self, other: usize) -> Option<f64> {
        let s = self.sides()?;
        let a = summarize(&s.first()?.samples).median;
        let b = summarize(&s.get(other)?.samples).median;
        (b != 0.0).then_some(a / b)
    }

    /// How many times better the first side is than side `other` (>1: better).
    pub fn speedup(&self, other: usize) -> Option<f64> {
        let r = self.ratio(other)?;
        Some(if self.higher_is_better { r } else { 1.0 / r })
    }

    pub fn to_json(&self) -> Value {
        let mut v = json!({
            "id": self.id,
            "title": self.title,
            "unit": self.unit,
            "higher_is_better": self.higher_is_better,
            "load_at_start": self.load_at_start,
            "compilers_at_start": self.compilers_at_start,
        });
        match &self.outcome {
            Outcome::Skipped(r) => v["skipped"] = json!(r),
            Outcome::Failed(e) => v["error"] = json!(e),
            Outcome::Measured(sides) => {
                let mut obj = serde_json::Map::new();
                for s in sides {
                    let sum = summarize(&s.samples);
                    obj.insert(
                        s.name.clone(),
                        json!({
                            "median": sum.median, "min": sum.min, "max": sum.max,
                            "samples": s.samples.iter().map(|x| x.value).collect::<Vec<_>>(),
                            "extra_medians": sum.extra,
                            "extra_samples": s.samples.iter().map(|x| x.extra.iter().map(|(k, v)| (k.to_string(), json!(v))).collect::<serde_json::Map<_, _>>()).collect::<Vec<_>>(),
                        }),
                    );
                }
                v["results"] = Value::Object(obj);
                let mut ratios = serde_json::Map::new();
                for (i, s) in sides.iter().enumerate().skip(1) {
                    if let (Some(r), Some(x)) = (self.ratio(i), self.speedup(i)) {
                        ratios.insert(
                            s.name.clone(),
                            json!({ "ratio": r, "first_side_better_by": x }),
                        );
                    }
                }
                if let Some(first) = sides.first() {
                    v["ratio_of"] = json!(first.name);
                }
                v["ratios"] = Value::Object(ratios);
            }
        }
        if !self.notes.is_empty() {
            v["notes"] = json!(self.notes);
        }
        if !self.details.is_null() {
            v["details"] = self.details.clone();
        }
        v
    }
}

pub fn fmt_num(x: f64) -> String {
    if !x.is_finite() {
        return "-".into();
    }
    let a = x.abs();
    if a >= 10_000.0 {
        format!("{x:.0}")
    } else if a >= 100.0 {
        format!("{x:.1}")
    } else if a >= 1.0 {
        format!("{x:.2}")
    } else {
        format!("{x:.3}")
    }
}

fn fmt_side(s: &Side) -> String {
    let sum = summarize(&s.samples);
    if s.samples.len() > 1 {
        format!(
            "{} ({}–{})",
            fmt_num(sum.median),
            fmt_num(sum.min),
            fmt_num(sum.max)
        )
    } else {
        fmt_num(sum.median)
    }
}

fn fmt_extras(s: &Side) -> String {
    let sum = summarize(&s.samples);
    sum.extra
        .iter()
        .filter(|(k, _)| !k.starts_with('_'))
        .map(|(k, v)| format!("{k} {}", fmt_num(*v)))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The results as a Markdown table (printed, and pasted into docs/benchmarks.md).
pub fn markdown_table(cases: &[Case]) -> String {
    let mut out = String::new();
    out.push_str("| case | unit | Trove median (min–max) | baseline median (min–max) | Trove/baseline | Trove better by | notes |\n");
    out.push_str("|---|---|---|---|---|---|---|\n");
    for c in cases {
        let better = if c.higher_is_better { "↑" } else { "↓" };
        let unit = format!("{} {better}", c.unit);
        match &c.outcome {
            Outcome::Skipped(r) => {
                let _ = writeln!(
                    out,
                    "| {} | {unit} | skipped | | | | {} |",
                    c.title,
                    r.replace('|', "/")
                );
            }
            Outcome::Failed(e) => {
                let e: String = e.lines().next().unwrap_or("").chars().take(160).collect();
                let _ = writeln!(
                    out,
                    "| {} | {unit} | **FAILED** | | | | {} |",
                    c.title,
                    e.replace('|', "/")
                );
            }
            Outcome::Measured(sides) => {
                let first = &sides[0];
                let a = format!("{}: {}", first.name, fmt_side(first));
                let (b, ratio, better_by) = match sides.get(1) {
                    Some(s) => (
                        format!("{}: {}", s.name, fmt_side(s)),
                        c.ratio(1).map(fmt_num).unwrap_or_default(),
                        c.speedup(1)
                            .map(|x| format!("{}×", fmt_num(x)))
                            .unwrap_or_default(),
                    ),
                    None => (String::new(), String::new(), String::new()),
                };
                let mut notes: Vec<String> = Vec::new();
                for s in sides {
                    let e = fmt_extras(s);
                    if !e.is_empty() {
                        notes.push(format!("{}: {e}", s.name));
                    }
                }
                for (i, s) in sides.iter().enumerate().skip(2) {
                    notes.push(format!(
                        "{}: {}; Trove/{} {}",
                        s.name,
                        fmt_side(s),
                        s.name,
                        c.ratio(i).map(fmt_num).unwrap_or_default()
                    ));
                }
                notes.extend(c.notes.iter().cloned());
                if c.compilers_at_start > 0 {
                    notes.push(format!(
                        "busy: {} compiler processes at start",
                        c.compilers_at_start
                    ));
                }
                let _ = writeln!(
                    out,
                    "| {} | {unit} | {a} | {b} | {ratio} | {better_by} | {} |",
                    c.title,
                    notes.join("; ").replace('|', "/")
                );
            }
        }
    }
    out
}

/// A target of issue 8 and whether this run met it.
#[derive(Clone)]
pub struct Target {
    pub target: String,
    pub measured: String,
    pub met: Option<bool>,
}

pub fn targets(cases: &[Case], large: &str) -> Vec<Target> {
    let find = |id: &str| cases.iter().find(|c| c.id == id);
    let mut out = Vec::new();
    let mut push = |target: &str, measured: Option<(String, bool)>| {
        out.push(match measured {
            Some((m, met)) => Target {
                target: target.into(),
                measured: m,
                met: Some(met),
            },
            None => Target {
                target: target.into(),
                measured: "not measured (case failed or skipped)".into(),
                met: None,
            },
        })
    };
    let f = fmt_num;
    push(
        "manifest GET by tag, 64 connections: ≥ 10× the reference, p99 < 10 ms",
        find("manifest.tag.c64").and_then(|c| {
            let x = c.speedup(1)?;
            let p99 = c.extra_of("trove", "p99_ms")?;
            Some((
                format!("{}×, Trove p99 {} ms", f(x), f(p99)),
                x >= 10.0 && p99 < 10.0,
            ))
        }),
    );
    push(
        "HEAD blob: ≥ 5× (p50 latency)",
        find("head_blob").and_then(|c| {
            let x = c.speedup(1)?;
            Some((format!("{}×", f(x)), x >= 5.0))
        }),
    );
    let sha = find("sha256").and_then(|c| c.median_of("machine"));
    push(
        &format!("push ({large} monolithic): ≥ 5× and ≥ 60 % of the machine's SHA-256 speed"),
        find(&format!("push.mono.{large}")).and_then(|c| {
            let x = c.speedup(1)?;
            let t = c.median_of("trove")?;
            let sha = sha?;
            Some((
                format!(
                    "{}×, {} % of SHA-256 ({} MB/s)",
                    f(x),
                    f(100.0 * t / sha),
                    f(sha)
                ),
                x >= 5.0 && t >= 0.6 * sha,
            ))
        }),
    );
    push(
        &format!("pull ({large} single): ≥ 1.5× and ≥ 90 % of nginx"),
        find(&format!("pull.single.{large}")).and_then(|c| {
            let x = c.speedup(1)?;
            let n = c.median_of("nginx");
            let t = c.median_of("trove")?;
            match n {
                Some(n) => Some((
                    format!("{}×, {} % of nginx", f(x), f(100.0 * t / n)),
                    x >= 1.5 && t >= 0.9 * n,
                )),
                None => Some((format!("{}×, nginx not measured", f(x)), false)),
            }
        }),
    );
    push(
        "tags list (1,000 tags): ≥ 5×, with real pagination",
        find("tags.full").and_then(|c| {
            let x = c.speedup(1)?;
            let page = find("tags.page1").and_then(|p| p.median_of("trove"));
            let full = c.median_of("trove")?;
            let paged = page.map(|p| {
                format!(
                    "; Trove first page of 100 costs {} % of the full list",
                    f(100.0 * p / full)
                )
            });
            Some((format!("{}×{}", f(x), paged.unwrap_or_default()), x >= 5.0))
        }),
    );
    push(
        "catalog (1,000 repositories): ≥ 20×",
        find("catalog.full").and_then(|c| {
            let x = c.speedup(1)?;
            Some((format!("{}×", f(x)), x >= 20.0))
        }),
    );
    push(
        "idle memory ≤ the reference",
        find("memory.idle").and_then(|c| {
            let t = c.median_of("trove")?;
            let r = c.median_of("reference")?;
            Some((format!("{} MiB vs {} MiB", f(t), f(r)), t <= r))
        }),
    );
    for (id, what) in [
        ("startup.first", "start-up (empty data dir)"),
        ("startup.restart", "start-up (restart)"),
    ] {
        push(
            &format!("{what} no slower than the reference"),
            find(id).and_then(|c| {
                let t = c.median_of("trove")?;
                let r = c.median_of("reference")?;
                Some((format!("{} ms vs {} ms", f(t), f(r)), t <= r))
            }),
        );
    }
    push(
        "proxy: exactly one upstream fetch per blob (8 concurrent cold pulls)",
        find("proxy.concurrent8.blob_gets").and_then(|c| {
            let t = c.median_of("trove")?;
            let blobs = c.extra_of("trove", "blobs")?;
            let r = c.median_of("reference");
            Some((
                format!(
                    "Trove {} upstream blob GETs for {} blobs (reference {})",
                    f(t),
                    f(blobs),
                    r.map(f).unwrap_or_else(|| "-".into())
                ),
                t == blobs,
            ))
        }),
    );
    push(
        "maven (issue 19): mvn build through the proxy, warm, within 1.5× of nginx serving the same files",
        find("maven.build.warm").and_then(|c| {
            let t = c.median_of("trove")?;
            let n = c.median_of("nginx-static")?;
            let cold = find("maven.build.cold").and_then(|c| c.median_of("trove"));
            let replay = find("maven.resolve.replay")
                .and_then(|c| Some(c.median_of("trove")? / c.median_of("nginx-static")?));
            Some((
                format!(
                    "warm {} ms vs nginx {} ms: {}×; cold {} ms; downloads replayed: {}×",
                    f(t),
                    f(n),
                    f(t / n),
                    cold.map(f).unwrap_or_else(|| "-".into()),
                    replay.map(f).unwrap_or_else(|| "-".into())
                ),
                t <= 1.5 * n,
            ))
        }),
    );
    out
}

pub fn targets_markdown(t: &[Target]) -> String {
    let mut out = String::from("| target | measured | met |\n|---|---|---|\n");
    for x in t {
        let met = match x.met {
            Some(true) => "yes",
            Some(false) => "**no**",
            None => "n/a",
        };
        let _ = writeln!(out, "| {} | {} | {met} |", x.target, x.measured);
    }
    out
}

pub fn case_env() -> (f64, usize) {
    (machine::loadavg1(), machine::compiler_processes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interleave_alternates_the_order() {
        let mut order = Vec::new();
        interleave(4, 2, |s, _| {
            order.push(s);
            Ok(Sample::new(s as f64))
        })
        .unwrap();
        assert_eq!(order, [0, 1, 1, 0, 0, 1, 1, 0]);
    }

    #[test]
    fn medians_and_ratios() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&[4.0, 1.0, 2.0, 3.0]), 2.5);
        let side = |n: &str, v: &[f64]| Side {
            name: n.into(),
            samples: v.iter().copied().map(Sample::new).collect(),
        };
        let c = Case {
            id: "x".into(),
            title: "x".into(),
            unit: "ms",
            higher_is_better: false,
            outcome: Outcome::Measured(vec![side("trove", &[1.0, 1.0]), side("reference", &[4.0])]),
            notes: vec![],
            details: Value::Null,
            load_at_start: 0.0,
            compilers_at_start: 0,
        };
        assert_eq!(c.ratio(1), Some(0.25));
        assert_eq!(c.speedup(1), Some(4.0));
    }
}
