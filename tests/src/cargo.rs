//! The cargo CLI (cargo 1.95 on the machine) with a private, initially empty `CARGO_HOME` per
//! client and a private target dir per project, pointed at Trove's sparse registries by its own
//! `config.toml`. Tokens go through `CARGO_REGISTRIES_<NAME>_TOKEN` with the `cargo:token`
//! credential provider. Nothing here reaches the network: every registry is on loopback.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use tempfile::TempDir;

/// A cargo client with its own `CARGO_HOME`.
pub struct CargoClient {
    home: TempDir,
    env: Vec<(String, String)>,
}

impl Default for CargoClient {
    fn default() -> Self {
        CargoClient::new()
    }
}

impl CargoClient {
    pub fn new() -> CargoClient {
        let home = tempfile::Builder::new()
            .prefix("cargo-home.")
            .tempdir_in("/tmp")
            .expect("tempdir");
        let me = CargoClient {
            home,
            env: Vec::new(),
        };
        me.write_config("");
        me
    }

    pub fn home(&self) -> &Path {
        self.home.path()
    }

    /// `CARGO_HOME/config.toml`: `extra` after the settings every test client has (the token
    /// provider, no network retries that would slow a failing test, no progress bars).
    pub fn write_config(&self, extra: &str) {
        let config = format!(
            "[registry]\nglobal-credential-providers = [\"cargo:token\"]\n\
             [net]\nretry = 0\n[term]\nprogress.when = \"never\"\n{extra}"
        );
        std::fs::write(self.home.path().join("config.toml"), config).expect("config.toml");
    }

    /// Sends `token` to the registry `name` (as `CARGO_REGISTRIES_<NAME>_TOKEN`).
    pub fn token(&mut self, name: &str, token: &str) {
        let var = format!(
            "CARGO_REGISTRIES_{}_TOKEN",
            name.to_ascii_uppercase().replace('-', "_")
        );
        self.env.retain(|(k, _)| *k != var);
        self.env.push((var, token.to_owned()));
    }

    /// Forgets everything cargo downloaded or cached (the registry caches, not the config).
    pub fn clear_cache(&self) {
        let _ = std::fs::remove_dir_all(self.home.path().join("registry"));
    }

    fn command(&self, cwd: &Path, args: &[&str]) -> Command {
        let mut c = Command::new("cargo");
        c.current_dir(cwd).args(args);
        // The test runner's own cargo settings must not leak into the client under test.
        for (k, _) in std::env::vars() {
            if k.starts_with("CARGO_") || k == "RUSTC_WRAPPER" || k == "RUSTFLAGS" {
                c.env_remove(&k);
            }
        }
        c.env("CARGO_HOME", self.home.path())
            .env("CARGO_TARGET_DIR", cwd.join("target"))
            .env("CARGO_TERM_COLOR", "never")
            .env("CARGO_HTTP_TIMEOUT", "30");
        for (k, v) in &self.env {
            c.env(k, v);
        }
        c
    }

    /// Runs cargo; panics with its output unless it succeeds.
    pub fn run(&self, cwd: &Path, args: &[&str]) -> Output {
        let out = self.run_unchecked(cwd, args);
        assert!(
            out.status.success(),
            "cargo {args:?} in {} failed:\n{}",
            cwd.display(),
            text(&out)
        );
        out
    }

    pub fn run_unchecked(&self, cwd: &Path, args: &[&str]) -> Output {
        eprintln!("[e2e] cargo {}", args.join(" "));
        self.command(cwd, args).output().expect("run cargo")
    }
}

/// What a command printed, stdout then stderr.
pub fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// One dependency of a generated crate: name, version requirement, and the registry it comes
/// from (`None`: crates.io, which the client may replace).
pub struct Dep<'a> {
    pub name: &'a str,
    pub req: &'a str,
    pub registry: Option<&'a str>,
}

/// Writes a crate at `dir`: a library exporting `pub fn name() -> &'static str` that returns
/// `"<name> <version>"` (a binary, with `bin = true`, printing its dependencies' names), with
/// `deps`. `publish_to` limits where it may be published.
pub fn write_crate(
    dir: &Path,
    name: &str,
    version: &str,
    deps: &[Dep<'_>],
    bin: bool,
    publish_to: Option<&str>,
) -> PathBuf {
    std::fs::create_dir_all(dir.join("src")).expect("crate dir");
    let mut toml = format!(
        "[package]\nname = \"{name}\"\nversion = \"{version}\"\nedition = \"2021\"\n\
         description = \"{name}, made by Trove's e2e test\"\nlicense = \"MIT\"\n"
    );
    if let Some(r) = publish_to {
        toml.push_str(&format!("publish = [\"{r}\"]\n"));
    }
    toml.push_str("\n[dependencies]\n");
    for d in deps {
        match d.registry {
            Some(r) => toml.push_str(&format!(
                "{} = {{ version = \"{}\", registry = \"{r}\" }}\n",
                d.name, d.req
            )),
            None => toml.push_str(&format!("{} = \"{}\"\n", d.name, d.req)),
        }
    }
    std::fs::write(dir.join("Cargo.toml"), toml).expect("Cargo.toml");
    let ident = name.replace('-', "_");
    let uses: Vec<String> = deps
        .iter()
        .map(|d| {
            format!(
                "{}::{}()",
                d.name.replace('-', "_"),
                d.name.replace('-', "_")
            )
        })
        .collect();
    if bin {
        let body = uses
            .iter()
            .map(|u| format!("    println!(\"{{}}\", {u});\n"))
            .collect::<String>();
        std::fs::write(dir.join("src/main.rs"), format!("fn main() {{\n{body}}}\n"))
            .expect("main.rs");
    } else {
        let mut lib =
            format!("pub fn {ident}() -> &'static str {{\n    \"{name} {version}\"\n}}\n");
        for (i, u) in uses.iter().enumerate() {
            lib.push_str(&format!("pub fn dep{i}() -> &'static str {{ {u} }}\n"));
        }
        std::fs::write(dir.join("src/lib.rs"), lib).expect("lib.rs");
    }
    dir.to_owned()
}

/// The `(name, version, checksum)` of every registry package in `project`'s `Cargo.lock`,
/// with its `source`.
pub fn lock_checksums(project: &Path) -> Vec<(String, String, String, String)> {
    let lock = std::fs::read_to_string(project.join("Cargo.lock")).expect("Cargo.lock");
    let mut out = Vec::new();
    let (mut name, mut version, mut source) = (String::new(), String::new(), String::new());
    let value = |l: &str| {
        l.split_once('=')
            .map(|(_, v)| v.trim().trim_matches('"').to_owned())
    };
    for line in lock.lines().chain(std::iter::once("[[package]]")) {
        if line == "[[package]]" {
            name.clear();
            version.clear();
            source.clear();
        } else if line.starts_with("name = ") {
            name = value(line).unwrap_or_default();
        } else if line.starts_with("version = ") {
            version = value(line).unwrap_or_default();
        } else if line.starts_with("source = ") {
            source = value(line).unwrap_or_default();
        } else if line.starts_with("checksum = ") {
            out.push((
                name.clone(),
                version.clone(),
                source.clone(),
                value(line).unwrap_or_default(),
            ));
        }
    }
    out.sort();
    out
}
