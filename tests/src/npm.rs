//! The npm CLI (npm 11 on node 20, on the machine) with a private home, cache and user config
//! per client, and Verdaccio 6.8.0 (installed by `scripts/test` into the tools cache) as the
//! stand-in for registry.npmjs.org: `uplinks: {}`, htpasswd users, storage in a tempdir, on a
//! loopback port. Nothing here reaches the network.

use std::fs::File;
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

use base64::Engine as _;
use tempfile::TempDir;

use crate::upstream::http_status;
use crate::util::{poll_until, run, run_unchecked, send_signal, tail_file};

pub use crate::util::tools_dir;

/// The Verdaccio executable; panics (a failure, never a skip) when it is not installed.
pub fn verdaccio_bin() -> PathBuf {
    let bin = tools_dir().join("npm/node_modules/.bin/verdaccio");
    assert!(
        bin.exists(),
        "{} is missing: scripts/test installs verdaccio@6.8.0 there (npm install --prefix {})",
        bin.display(),
        tools_dir().join("npm").display()
    );
    bin
}

/// A running Verdaccio. Stopped on drop.
pub struct Verdaccio {
    child: Option<Child>,
    addr: SocketAddr,
    dir: TempDir,
}

impl Verdaccio {
    pub fn start() -> Verdaccio {
        let dir = tempfile::Builder::new()
            .prefix("verdaccio.")
            .tempdir_in("/tmp")
            .expect("tempdir");
        let addr = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("free port");
        let d = dir.path();
        let config = format!(
            "storage: {storage}\nauth:\n  htpasswd:\n    file: {htpasswd}\n    max_users: 100\n\
             uplinks: {{}}\npackages:\n  '@*/*':\n    access: $all\n    publish: $authenticated\n\
             \x20 '**':\n    access: $all\n    publish: $authenticated\n\
             listen: {addr}\nlog: {{ type: stdout, format: pretty, level: warn }}\n",
            storage = d.join("storage").display(),
            htpasswd = d.join("htpasswd").display(),
        );
        std::fs::write(d.join("config.yaml"), config).expect("config.yaml");
        let log = File::create(d.join("verdaccio.log")).expect("log");
        let child = Command::new(verdaccio_bin())
            .arg("--config")
            .arg(d.join("config.yaml"))
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log fd"))
            .stderr(log)
            .spawn()
            .expect("start verdaccio");
        let mut me = Verdaccio {
            child: Some(child),
            addr,
            dir,
        };
        let ready = poll_until(Duration::from_secs(30), || {
            if let Some(s) = me.child.as_mut().and_then(|c| c.try_wait().ok().flatten()) {
                return Some(Err(format!("verdaccio exited early with {s}")));
            }
            http_status(addr, "/-/ping").map(|_| Ok(()))
        });
        match ready {
            Some(Ok(())) => me,
            Some(Err(why)) => panic!("{why}\n{}", tail_file(&me.log_path(), 30)),
            None => panic!("verdaccio not ready\n{}", tail_file(&me.log_path(), 30)),
        }
    }

    /// `http://127.0.0.1:PORT/`.
    pub fn url(&self) -> String {
        format!("http://{}/", self.addr)
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn log_path(&self) -> PathBuf {
        self.dir.path().join("verdaccio.log")
    }

    /// Creates `user` and returns its token (the legacy couch login npm uses).
    pub fn add_user(&self, user: &str, password: &str) -> String {
        let body = format!(r#"{{"name":"{user}","password":"{password}"}}"#);
        let out = run(Command::new("curl").args([
            "-sS",
            "--fail-with-body",
            "-X",
            "PUT",
            "-H",
            "content-type: application/json",
            "-d",
            &body,
            &format!("{}-/user/org.couchdb.user:{user}", self.url()),
        ]));
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("verdaccio JSON");
        v["token"].as_str().expect("a token").to_owned()
    }

    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            send_signal(c.id(), "TERM");
            if poll_until(Duration::from_secs(5), || c.try_wait().ok().flatten()).is_none() {
                let _ = c.kill();
                let _ = c.wait();
            }
        }
    }
}

impl Drop for Verdaccio {
    fn drop(&mut self) {
        self.stop();
    }
}

/// An npm client with its own home, cache and `--userconfig` (the machine's `~/.npmrc` is
/// never read).
pub struct NpmClient {
    dir: TempDir,
}

impl Default for NpmClient {
    fn default() -> Self {
        Self::new()
    }
}

impl NpmClient {
    pub fn new() -> NpmClient {
        let dir = tempfile::Builder::new()
            .prefix("npm.")
            .tempdir_in("/tmp")
            .expect("tempdir");
        std::fs::create_dir_all(dir.path().join("home")).expect("home");
        std::fs::write(dir.path().join("npmrc"), "").expect("npmrc");
        NpmClient { dir }
    }

    pub fn userconfig(&self) -> PathBuf {
        self.dir.path().join("npmrc")
    }

    pub fn cache(&self) -> PathBuf {
        self.dir.path().join("cache")
    }

    /// Appends a line to the user config (`registry=...`, `//host/path/:_authToken=...`).
    pub fn config_line(&self, line: &str) {
        let mut now = std::fs::read_to_string(self.userconfig()).expect("npmrc");
        now.push_str(line);
        now.push('\n');
        std::fs::write(self.userconfig(), now).expect("npmrc");
    }

    /// The user config's `//host/path/` key for a registry URL.
    pub fn auth_key(registry: &str) -> String {
        let rest = registry
            .split_once("://")
            .map_or(registry, |(_, r)| r)
            .trim_end_matches('/');
        format!("//{rest}/")
    }

    /// Basic credentials for `registry` (npm's `_auth`).
    pub fn basic_auth(&self, registry: &str, user: &str, password: &str) {
        let encoded =
            base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
        self.config_line(&format!("{}:_auth={encoded}", Self::auth_key(registry)));
    }

    pub fn token(&self, registry: &str, token: &str) {
        self.config_line(&format!("{}:_authToken={token}", Self::auth_key(registry)));
    }

    pub fn clear_cache(&self) {
        let _ = std::fs::remove_dir_all(self.cache());
    }

    /// `npm <args>` in `cwd` with this client's home, cache and config.
    pub fn command(&self, cwd: &Path, args: &[&str]) -> Command {
        let mut c = Command::new("npm");
        c.current_dir(cwd)
            .args(args)
            .arg("--userconfig")
            .arg(self.userconfig())
            .arg("--cache")
            .arg(self.cache())
            .args(["--no-update-notifier", "--no-fund", "--loglevel=warn"])
            .env("HOME", self.dir.path().join("home"))
            .env(
                "npm_config_globalconfig",
                self.dir.path().join("globalnpmrc"),
            )
            .env_remove("NPM_CONFIG_REGISTRY")
            .stdin(Stdio::null());
        c
    }

    /// Runs npm; panics with its output on failure.
    pub fn run(&self, cwd: &Path, args: &[&str]) -> Output {
        run(&mut self.command(cwd, args))
    }

    /// Runs npm whatever the outcome.
    pub fn run_unchecked(&self, cwd: &Path, args: &[&str]) -> Output {
        run_unchecked(&mut self.command(cwd, args))
    }

    /// `npm login --auth-type=legacy --registry <registry>`, answering its prompts for the user
    /// name and password on stdin; npm keeps the token it is given in this client's config.
    /// Each prompt reads stdin afresh (whatever is buffered past its line is lost), so the
    /// password is written only once npm has asked for it.
    pub fn login(&self, cwd: &Path, registry: &str, user: &str, password: &str) -> Output {
        use std::io::{Read, Write};
        let mut cmd = self.command(
            cwd,
            &["login", "--auth-type=legacy", "--registry", registry],
        );
        cmd.stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().expect("npm login");
        let mut stdin = child.stdin.take().expect("stdin");
        let mut stdout = child.stdout.take().expect("stdout");
        let mut stderr = child.stderr.take().expect("stderr");
        let errors = std::thread::spawn(move || {
            let mut e = Vec::new();
            let _ = stderr.read_to_end(&mut e);
            e
        });
        let mut seen = Vec::new();
        let mut answered = (false, false);
        let mut buf = [0u8; 512];
        loop {
            let text = String::from_utf8_lossy(&seen).into_owned();
            if !answered.0 && text.contains("Username:") {
                stdin
                    .write_all(format!("{user}\n").as_bytes())
                    .expect("user name");
                answered.0 = true;
            }
            if !answered.1 && text.contains("Password:") {
                stdin
                    .write_all(format!("{password}\n").as_bytes())
                    .expect("password");
                answered.1 = true;
            }
            match stdout.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => seen.extend_from_slice(&buf[..n]),
            }
        }
        drop(stdin);
        let status = child.wait().expect("npm login");
        let stderr = errors.join().expect("stderr reader");
        eprintln!("[e2e] `npm login --registry {registry}` as {user} -> {status}");
        Output {
            status,
            stdout: seen,
            stderr,
        }
    }
}

/// Writes a package (`package.json` and an `index.js` that exports `name@version`) into `dir`.
pub fn write_package(dir: &Path, name: &str, version: &str, deps: &[(&str, &str)]) {
    std::fs::create_dir_all(dir).expect("package dir");
    let deps: serde_json::Map<String, serde_json::Value> = deps
        .iter()
        .map(|(n, r)| ((*n).to_owned(), serde_json::Value::String((*r).to_owned())))
        .collect();
    let manifest = serde_json::json!({
        "name": name,
        "version": version,
        "description": format!("{name} for the e2e tests"),
        "main": "index.js",
        "license": "MIT",
        "keywords": ["trove-e2e"],
        "dependencies": deps,
        "engines": { "node": ">=18" },
    });
    std::fs::write(
        dir.join("package.json"),
        serde_json::to_vec_pretty(&manifest).expect("json"),
    )
    .expect("package.json");
    std::fs::write(
        dir.join("index.js"),
        format!("module.exports = {:?};\n", format!("{name}@{version}")),
    )
    .expect("index.js");
}
