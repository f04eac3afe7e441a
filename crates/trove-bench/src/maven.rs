//! Maven: the real `mvn` (3.8.7) resolving a small project's dependency set (the compiler,
//! resources, surefire and jar plugins with everything they pull in, and junit: about 200
//! POMs and jars, plus the `.sha1`/`.md5` asks Debian's tree cannot answer) from Debian's
//! `/usr/share/maven-repo`, served two ways: by nginx directly (the client's floor) and by a
//! fresh Trove proxy of that nginx. Per round and side, `mvn package` with an empty local
//! repository twice: cold (the proxy fetches everything) and warm (the proxy has it all, the
//! client still downloads every file). Both include the JVM's start and the build's own work,
//! which are the same on both sides; the ratio is what a developer sees. Then the build's
//! downloads replayed as plain GETs on one connection (every POM and jar, each with the
//! `.sha1` and `.md5` misses the resolver asks for): the server's own share, which the JVM
//! hides in the build times. And the proxy's memory (idle after start, peak after all that).

use std::net::SocketAddr;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, ensure};

use crate::cases::{Ctx, mib, ms, rec, sides_of};
use crate::http::Client;
use crate::report::{Sample, interleave, project};
use crate::servers::{self, Mode, Nginx, Registry, TroveOpts, memory_kib};

const SIDES: [&str; 2] = ["trove", "nginx-static"];
const DEBIAN_REPO: &str = "/usr/share/maven-repo";
const PLUGINS: &[(&str, &str)] = &[
    ("maven-compiler-plugin", "3.10.1"),
    ("maven-resources-plugin", "3.3.0"),
    ("maven-jar-plugin", "3.3.0"),
    ("maven-surefire-plugin", "2.22.3"),
    ("maven-install-plugin", "3.1.0"),
];

/// A one-module project with a class and a junit test, its plugins pinned to Debian's.
fn write_project(dir: &Path) -> Result<()> {
    let plugins: String = PLUGINS
        .iter()
        .map(|(a, v)| format!("<plugin><groupId>org.apache.maven.plugins</groupId><artifactId>{a}</artifactId><version>{v}</version></plugin>"))
        .collect();
    let pom = format!(
        "<project xmlns=\"http://maven.apache.org/POM/4.0.0\"><modelVersion>4.0.0</modelVersion>\
         <groupId>bench</groupId><artifactId>bench</artifactId><version>1.0</version>\
         <properties><project.build.sourceEncoding>UTF-8</project.build.sourceEncoding><maven.compiler.release>17</maven.compiler.release></properties>\
         <dependencies><dependency><groupId>junit</groupId><artifactId>junit</artifactId><version>4.13.2</version><scope>test</scope></dependency></dependencies>\
         <build><pluginManagement><plugins>{plugins}</plugins></pluginManagement></build></project>\n"
    );
    std::fs::create_dir_all(dir.join("src/main/java/b"))?;
    std::fs::create_dir_all(dir.join("src/test/java/b"))?;
    std::fs::write(dir.join("pom.xml"), pom)?;
    std::fs::write(
        dir.join("src/main/java/b/B.java"),
        "package b; public final class B { public static int two() { return 2; } }\n",
    )?;
    std::fs::write(
        dir.join("src/test/java/b/BTest.java"),
        "package b; public class BTest { @org.junit.Test public void two() { org.junit.Assert.assertEquals(2, B.two()); } }\n",
    )?;
    Ok(())
}

/// `mvn package` of the project in `work` with an empty local repository, every repository
/// mirrored to `mirror`.
fn mvn_package(work: &Path, mirror: &str) -> Result<Duration> {
    let local = work.join("repository");
    let _ = std::fs::remove_dir_all(&local);
    let _ = std::fs::remove_dir_all(work.join("project/target"));
    let settings = work.join("settings.xml");
    std::fs::write(
        &settings,
        format!(
            "<settings><localRepository>{}</localRepository><mirrors><mirror><id>m</id><mirrorOf>*</mirrorOf><url>{mirror}</url></mirror></mirrors></settings>\n",
            local.display()
        ),
    )?;
    let t = Instant::now();
    let out = Command::new("mvn")
        .current_dir(work.join("project"))
        .args(["-B", "-q", "--no-transfer-progress", "package"])
        .arg("-s")
        .arg(&settings)
        .arg("-gs")
        .arg(&settings)
        .env_remove("MAVEN_ARGS")
        .stdin(Stdio::null())
        .output()
        .context("running mvn")?;
    let took = t.elapsed();
    ensure!(
        out.status.success(),
        "mvn package via {mirror} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    ensure!(
        work.join("project/target/bench-1.0.jar").exists(),
        "mvn built no jar"
    );
    Ok(took)
}

/// The repository paths the build downloaded (every POM and jar now in the local
/// repository), each after the `.sha1` and `.md5` mvn asks for first.
fn resolved_paths(local: &Path) -> Result<Vec<String>> {
    fn walk(dir: &Path, root: &Path, out: &mut Vec<String>) -> Result<()> {
        for e in std::fs::read_dir(dir)? {
            let p = e?.path();
            if p.is_dir() {
                walk(&p, root, out)?;
            } else if p.extension().is_some_and(|x| x == "jar" || x == "pom") {
                let rel = p.strip_prefix(root)?.to_string_lossy().into_owned();
                out.push(format!("/{rel}"));
            }
        }
        Ok(())
    }
    let mut files = Vec::new();
    walk(local, local, &mut files)?;
    files.sort();
    ensure!(files.len() > 50, "only {} files resolved", files.len());
    Ok(files
        .into_iter()
        .flat_map(|f| [f.clone(), format!("{f}.sha1"), format!("{f}.md5")])
        .collect())
}

/// GETs every path in order on one keep-alive connection (what one resolver thread does);
/// bodies are read whole and every file must be found.
fn replay(addr: SocketAddr, base: &str, paths: &[String]) -> Result<Duration> {
    let mut c = Client::new(addr, None);
    let t = Instant::now();
    for p in paths {
        let r = c.get(&format!("{base}{p}"))?;
        let checksum = p.ends_with(".sha1") || p.ends_with(".md5");
        ensure!(
            r.status == 200 || (checksum && r.status == 404),
            "GET {base}{p}: {}",
            r.status
        );
    }
    Ok(t.elapsed())
}

pub fn maven(ctx: &mut Ctx) {
    let recs = || {
        [
            rec(
                "maven.build.cold",
                "mvn package, empty local repository, through the proxy (cold cache)",
                "ms",
                false,
            ),
            rec(
                "maven.build.warm",
                "mvn package again, empty local repository (proxy warm)",
                "ms",
                false,
            ),
            rec(
                "maven.resolve.replay",
                "the build's downloads replayed (GET of every POM and jar and its .sha1 and .md5 misses), one connection, proxy warm",
                "ms",
                false,
            ),
            rec(
                "maven.rss.idle",
                "proxy memory after start (RSS)",
                "MiB",
                false,
            ),
            rec(
                "maven.rss.peak",
                "proxy peak memory over both builds (VmHWM)",
                "MiB",
                false,
            ),
        ]
    };
    let setup = || -> Result<(Nginx, tempfile::TempDir)> {
        ensure!(
            Path::new(&format!("{DEBIAN_REPO}/junit/junit/4.13.2")).is_dir()
                && Command::new("mvn")
                    .arg("-v")
                    .stdout(Stdio::null())
                    .status()
                    .is_ok(),
            "needs mvn and Debian's maven-repo (scripts/test installs them)"
        );
        let nginx = Nginx::start(Path::new(DEBIAN_REPO))?;
        let work = servers::tempdir("tb-maven.")?;
        for side in SIDES {
            write_project(&work.path().join(side).join("project"))?;
        }
        Ok((nginx, work))
    };
    let (nginx, work) = match setup() {
        Ok(x) => x,
        Err(e) => {
            for r in recs() {
                ctx.failed(r, &e);
            }
            return;
        }
    };
    let upstream = format!("http://{}", nginx.addr);
    let trove_bin = ctx.trove_bin.clone();
    let res = interleave(ctx.reps_proxy, 2, |s, _| {
        let w = work.path().join(SIDES[s]);
        let (trove, mirror, pid, addr, base);
        if s == 0 {
            let opts = TroveOpts {
                bin: &trove_bin,
                mode: Mode::Repos(format!(
                    "[[repository]]\nname = \"maven\"\nformat = \"maven\"\nkind = \"proxy\"\nremote = \"{upstream}\"\nnegative_cache_ttl = 3600\n"
                )),
                anonymous_read: true,
            };
            let t = Registry::start_trove(&opts, None)?;
            mirror = format!("http://{}/repository/maven/", t.main_addr);
            (addr, base) = (t.main_addr, "/repository/maven");
            pid = t.pid();
            trove = Some(t);
        } else {
            mirror = format!("{upstream}/");
            (addr, base) = (nginx.addr, "");
            pid = 0;
            trove = None;
        }
        let mem = |pid: u32| {
            if pid == 0 {
                Ok((0, 0))
            } else {
                memory_kib(pid)
            }
        };
        let (idle, _) = mem(pid)?;
        let cold = mvn_package(&w, &mirror)?;
        let warm = mvn_package(&w, &mirror)?;
        let paths = resolved_paths(&w.join("repository"))?;
        let replayed = replay(addr, base, &paths)?;
        let (_, peak) = mem(pid)?;
        drop(trove);
        Ok(Sample::new(ms(cold))
            .with("warm", ms(warm))
            .with("replay", ms(replayed))
            .with("requests", paths.len() as f64)
            .with("idle", mib(idle))
            .with("peak", mib(peak)))
    });
    let [cold, warm, replay_rec, idle, peak] = recs();
    match res {
        Ok(samples) => {
            let by = |key: &str| -> Vec<Vec<Sample>> {
                samples.iter().map(|side| project(side, key)).collect()
            };
            ctx.measured(cold, Ok(sides_of(&SIDES, samples.clone())));
            ctx.measured(warm, Ok(sides_of(&SIDES, by("warm"))));
            ctx.measured(replay_rec, Ok(sides_of(&SIDES, by("replay"))));
            let one = |v: Vec<Vec<Sample>>| v.into_iter().take(1).collect::<Vec<_>>();
            ctx.measured(idle, Ok(sides_of(&SIDES[..1], one(by("idle")))));
            ctx.measured(peak, Ok(sides_of(&SIDES[..1], one(by("peak")))));
        }
        Err(e) => {
            for r in [cold, warm, replay_rec, idle, peak] {
                ctx.failed(r, &e);
            }
        }
    }
    drop(nginx);
}
