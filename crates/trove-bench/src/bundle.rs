//! Offline bundles (issue 23): `trove bundle export` and `import` of a hosted raw repository
//! holding 2 GiB (512 MiB with `--quick`) of incompressible 8 MiB files, against `tar` +
//! `zstd -1 -T0` of the same blob files (export: pack into one file; import: unpack, then
//! `sync`, since Trove's import syncs every blob before it links it). MB/s, higher is better.

use std::path::Path;
use std::process::Command;
use std::time::Instant;

use anyhow::{Context, Result, bail};

use crate::cases::{Ctx, rec, sides_of};
use crate::http::{Body, Client};
use crate::report::{Sample, interleave};
use crate::servers::{self, Mode, Registry, TroveOpts};

const SIDES: [&str; 2] = ["trove", "tar+zstd"];
const FILE: usize = 8 << 20;

fn run(cmd: &mut Command, what: &str) -> Result<()> {
    let out = cmd.output().with_context(|| format!("running {what}"))?;
    if !out.status.success() {
        bail!(
            "{what} failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(())
}

/// Incompressible bytes (xorshift), different per file.
fn file_bytes(i: usize) -> Vec<u8> {
    let mut x = 0x9E37_79B9_7F4A_7C15u64 ^ (i as u64 + 1);
    let mut out = vec![0u8; FILE];
    for chunk in out.chunks_mut(8) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        chunk.copy_from_slice(&x.to_le_bytes()[..chunk.len()]);
    }
    out
}

fn raw_config(data: &Path) -> String {
    format!(
        "[server]\nlisten = \"127.0.0.1:0\"\ndata_dir = \"{}\"\n\
         [[repository]]\nname = \"files\"\nformat = \"raw\"\nkind = \"hosted\"\n",
        data.display()
    )
}

pub fn bundle(ctx: &mut Ctx) {
    let files = (2 * ctx.large / FILE).max(1);
    let label = format!("{} MiB", (files * FILE) >> 20);
    let export = rec(
        "bundle.export",
        &format!("bundle export of {label} (raw files)"),
        "MB/s",
        true,
    )
    .note("trove: trove bundle export on the running instance, synced; tar+zstd: tar of the blob directory through zstd -1 -T0 into one file, then sync");
    let import = rec(
        "bundle.import",
        &format!("bundle import of {label}"),
        "MB/s",
        true,
    )
    .note("trove: trove bundle import into a fresh data directory (every blob verified and synced); tar+zstd: zstd -dc | tar -x, then sync");
    let total = (files * FILE) as f64;
    let res = (|| -> Result<Vec<Vec<Vec<Sample>>>> {
        let opts = TroveOpts {
            bin: &ctx.trove_bin,
            mode: Mode::Repos(
                "[[repository]]\nname = \"files\"\nformat = \"raw\"\nkind = \"hosted\"\n".into(),
            ),
            anonymous_read: false,
        };
        let trove = Registry::start_trove(&opts, None)?;
        let mut client = Client::new(trove.main_addr, trove.auth.clone());
        for i in 0..files {
            client
                .request(
                    "PUT",
                    &format!("/repository/files/data/file-{i:04}.bin"),
                    &[],
                    &file_bytes(i),
                    Body::Collect,
                )?
                .expect(201, "PUT of a file")?;
        }
        let work = servers::tempdir("tb-bundle.")?;
        let w = work.path();
        let config = trove.dir().join("trove.toml");
        let blobs_dir = trove.dir().join("data").join("blobs");
        let exports = interleave(ctx.reps_heavy, 2, |s, r| {
            let t0 = Instant::now();
            if s == 0 {
                let out = w.join(format!("export-{r}.bundle"));
                run(
                    Command::new(&ctx.trove_bin)
                        .args(["bundle", "export", "--config"])
                        .arg(&config)
                        .args(["--repository", "files", "-o"])
                        .arg(&out),
                    "trove bundle export",
                )?;
            } else {
                let out = w.join(format!("export-{r}.tar.zst"));
                run(
                    Command::new("sh").arg("-c").arg(format!(
                        "tar -C '{}' -cf - . | zstd -1 -T0 -q -o '{}' && sync",
                        blobs_dir.display(),
                        out.display()
                    )),
                    "tar | zstd",
                )?;
            }
            let secs = t0.elapsed().as_secs_f64();
            if r > 0 {
                for f in [format!("export-{r}.bundle"), format!("export-{r}.tar.zst")] {
                    let _ = std::fs::remove_file(w.join(f));
                }
            }
            Ok(Sample::new(total / secs / 1e6))
        })?;
        let imports = interleave(ctx.reps_heavy, 2, |s, r| {
            let dest = w.join(format!("import-{s}-{r}"));
            std::fs::create_dir_all(&dest)?;
            let t0 = Instant::now();
            if s == 0 {
                let cfg = dest.join("trove.toml");
                std::fs::write(&cfg, raw_config(&dest.join("data")))?;
                run(
                    Command::new(&ctx.trove_bin)
                        .args(["bundle", "import", "--config"])
                        .arg(&cfg)
                        .arg(w.join("export-0.bundle"))
                        .stdout(std::process::Stdio::null()),
                    "trove bundle import",
                )?;
            } else {
                run(
                    Command::new("sh").arg("-c").arg(format!(
                        "zstd -dc -q '{}' | tar -C '{}' -xf - && sync",
                        w.join("export-0.tar.zst").display(),
                        dest.display()
                    )),
                    "zstd -d | tar -x",
                )?;
            }
            let secs = t0.elapsed().as_secs_f64();
            std::fs::remove_dir_all(&dest)?;
            Ok(Sample::new(total / secs / 1e6))
        })?;
        drop(trove);
        Ok(vec![exports, imports])
    })();
    match res {
        Ok(mut both) => {
            let imports = both.pop().expect("imports");
            let exports = both.pop().expect("exports");
            ctx.measured(export, Ok(sides_of(&SIDES, exports)));
            ctx.measured(import, Ok(sides_of(&SIDES, imports)));
        }
        Err(e) => {
            ctx.failed(export, &e);
            ctx.failed(import, &e);
        }
    }
}
