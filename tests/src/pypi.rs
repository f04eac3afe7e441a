//! pip 26 and twine 6.1.0 (twine 6.2 refuses `--skip-existing` for any index but pypi.org),
//! with devpi-server (PEP 691 JSON, relative file URLs under `+f/`) and pypiserver (HTML only,
//! files under `/packages/`) as the stand-ins for pypi.org, all from the venv `scripts/test`
//! installs into the tools cache (`$TROVE_TEST_TOOLS/pypi-venv`). Every client runs isolated
//! (`--isolated`, no `PIP_FIND_LINKS`, its own cache and home); nothing here reaches the
//! network. Wheels and sdists are built by hand (a zip with METADATA, WHEEL and RECORD; a
//! tar.gz with PKG-INFO), so no build backend is needed.

use std::fs::File;
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

use tempfile::TempDir;

use crate::upstream::http_status;
use crate::util::tools_dir;
use crate::util::{poll_until, run, run_unchecked, send_signal, tail_file};

/// The builder of test distributions (`python build_dist.py OUT NAME VERSION wheel|sdist
/// [REQUIRES-DIST ...]`).
const BUILD_DIST: &str = include_str!("pypi/build_dist.py");

/// The venv with pip, twine, devpi-server and pypiserver; panics (a failure, never a skip)
/// when a tool is missing.
pub fn venv() -> PathBuf {
    let v = tools_dir().join("pypi-venv");
    for tool in [
        "python",
        "pip",
        "twine",
        "devpi-init",
        "devpi-server",
        "pypi-server",
    ] {
        let bin = v.join("bin").join(tool);
        assert!(
            bin.exists(),
            "{} is missing: scripts/test installs pip, twine==6.1.0, devpi-server, pypiserver \
             and passlib into {}",
            bin.display(),
            v.display()
        );
    }
    v
}

fn bin(tool: &str) -> PathBuf {
    venv().join("bin").join(tool)
}

fn free_addr() -> SocketAddr {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
}

/// A Python tool with a private home and no user or site configuration of this machine.
fn tool(program: &Path, home: &Path) -> Command {
    let mut c = Command::new(program);
    c.env("HOME", home)
        .env("PIP_CONFIG_FILE", "/dev/null")
        .env("PYTHON_KEYRING_BACKEND", "keyring.backends.null.Keyring")
        .env("NO_COLOR", "1")
        // twine's messages are wrapped to the terminal's width otherwise.
        .env("COLUMNS", "400")
        .env_remove("PIP_FIND_LINKS")
        .env_remove("PIP_INDEX_URL")
        .env_remove("PIP_EXTRA_INDEX_URL")
        .env_remove("TWINE_USERNAME")
        .env_remove("TWINE_PASSWORD")
        .env_remove("TWINE_REPOSITORY_URL")
        .stdin(Stdio::null());
    c
}

/// Builds a distribution into `out`; its path.
pub fn build_dist(out: &Path, name: &str, version: &str, kind: &str, requires: &[&str]) -> PathBuf {
    let script = out.join(".build_dist.py");
    if !script.exists() {
        std::fs::write(&script, BUILD_DIST).expect("build_dist.py");
    }
    let o = run(Command::new(bin("python"))
        .arg(&script)
        .arg(out)
        .args([name, version, kind])
        .args(requires));
    PathBuf::from(String::from_utf8_lossy(&o.stdout).trim())
}

/// A child process with its log in a tempdir. Stopped on drop.
struct Daemon {
    child: Option<Child>,
    what: &'static str,
    log: PathBuf,
}

impl Daemon {
    fn spawn(what: &'static str, cmd: &mut Command, log: PathBuf) -> Daemon {
        let f = File::create(&log).expect("log");
        let child = cmd
            .stdout(f.try_clone().expect("log fd"))
            .stderr(f)
            .spawn()
            .unwrap_or_else(|e| panic!("start {what}: {e}"));
        Daemon {
            child: Some(child),
            what,
            log,
        }
    }

    /// Waits until `GET path` answers 200.
    fn wait_ready(&mut self, addr: SocketAddr, path: &str) {
        let ready = poll_until(Duration::from_secs(60), || {
            if let Some(s) = self
                .child
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten())
            {
                return Some(Err(format!("{} exited early with {s}", self.what)));
            }
            (http_status(addr, path) == Some(200)).then_some(Ok(()))
        });
        match ready {
            Some(Ok(())) => {}
            Some(Err(why)) => panic!("{why}\n{}", tail_file(&self.log, 30)),
            None => panic!("{} not ready\n{}", self.what, tail_file(&self.log, 30)),
        }
    }

    fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            send_signal(c.id(), "TERM");
            if poll_until(Duration::from_secs(5), || c.try_wait().ok().flatten()).is_none() {
                let _ = c.kill();
                let _ = c.wait();
            }
        }
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A running devpi-server with an index `root/dev` (no mirror of pypi.org). Stopped on drop.
pub struct Devpi {
    daemon: Daemon,
    addr: SocketAddr,
    dir: TempDir,
}

impl Devpi {
    pub fn start() -> Devpi {
        let dir = tempfile::Builder::new()
            .prefix("devpi.")
            .tempdir_in("/tmp")
            .expect("tempdir");
        let d = dir.path();
        let server = d.join("server");
        run(tool(&bin("devpi-init"), d)
            .arg("--serverdir")
            .arg(&server)
            .arg("--no-root-pypi"));
        let addr = free_addr();
        let mut daemon = Daemon::spawn(
            "devpi-server",
            tool(&bin("devpi-server"), d)
                .arg("--serverdir")
                .arg(&server)
                .args(["--host", "127.0.0.1", "--port", &addr.port().to_string()]),
            d.join("devpi.log"),
        );
        daemon.wait_ready(addr, "/+api");
        // The index, as root (empty password).
        run(Command::new("curl").args([
            "-sS",
            "--fail-with-body",
            "-u",
            "root:",
            "-X",
            "PUT",
            "-H",
            "content-type: application/json",
            "-d",
            r#"{"bases": []}"#,
            &format!("http://{addr}/root/dev"),
        ]));
        Devpi { daemon, addr, dir }
    }

    /// The index pip reads: `http://127.0.0.1:PORT/root/dev/+simple/`.
    pub fn index_url(&self) -> String {
        format!("http://{}/root/dev/+simple/", self.addr)
    }

    /// Where twine uploads.
    pub fn upload_url(&self) -> String {
        format!("http://{}/root/dev/", self.addr)
    }

    pub fn home(&self) -> &Path {
        self.dir.path()
    }

    pub fn stop(&mut self) {
        self.daemon.stop();
    }
}

/// A running pypiserver serving the files of a directory (no uploads). Stopped on drop.
pub struct Pypiserver {
    daemon: Daemon,
    addr: SocketAddr,
    dir: TempDir,
}

impl Pypiserver {
    pub fn start() -> Pypiserver {
        let dir = tempfile::Builder::new()
            .prefix("pypiserver.")
            .tempdir_in("/tmp")
            .expect("tempdir");
        let d = dir.path();
        std::fs::create_dir_all(d.join("packages")).expect("packages");
        let addr = free_addr();
        let mut daemon = Daemon::spawn(
            "pypi-server",
            tool(&bin("pypi-server"), d)
                .args(["run", "-i", "127.0.0.1", "-p", &addr.port().to_string()])
                .args(["-a", ".", "-P", ".", "--hash-algo", "sha256"])
                .arg(d.join("packages")),
            d.join("pypiserver.log"),
        );
        daemon.wait_ready(addr, "/simple/");
        Pypiserver { daemon, addr, dir }
    }

    /// Where files put are served from.
    pub fn packages(&self) -> PathBuf {
        self.dir.path().join("packages")
    }

    pub fn index_url(&self) -> String {
        format!("http://{}/simple/", self.addr)
    }

    pub fn stop(&mut self) {
        self.daemon.stop();
    }
}

/// pip and twine with a private home and pip cache.
pub struct PyClient {
    dir: TempDir,
}

impl Default for PyClient {
    fn default() -> Self {
        Self::new()
    }
}

impl PyClient {
    pub fn new() -> PyClient {
        let dir = tempfile::Builder::new()
            .prefix("pip.")
            .tempdir_in("/tmp")
            .expect("tempdir");
        PyClient { dir }
    }

    pub fn clear_cache(&self) {
        let _ = std::fs::remove_dir_all(self.dir.path().join("cache"));
    }

    /// `pip <args>`, isolated from the machine's configuration, with this client's cache.
    pub fn pip(&self, args: &[&str]) -> Command {
        let mut c = tool(&bin("pip"), self.dir.path());
        let sub = args.first().copied().unwrap_or_default();
        c.arg(sub)
            .args(["--isolated", "--no-input", "--disable-pip-version-check"])
            .arg("--cache-dir")
            .arg(self.dir.path().join("cache"))
            .args(&args[1..]);
        c
    }

    pub fn run_pip(&self, args: &[&str]) -> Output {
        run(&mut self.pip(args))
    }

    pub fn pip_unchecked(&self, args: &[&str]) -> Output {
        run_unchecked(&mut self.pip(args))
    }

    /// `twine upload --repository-url <url> -u <user> -p <password> <extra> <files>`.
    pub fn twine_upload(
        &self,
        url: &str,
        user: &str,
        password: &str,
        extra: &[&str],
        files: &[&Path],
    ) -> Output {
        let mut c = tool(&bin("twine"), self.dir.path());
        c.args(["upload", "--non-interactive", "--disable-progress-bar"])
            .args(["--repository-url", url, "-u", user, "-p", password])
            .args(extra)
            .args(files);
        run_unchecked(&mut c)
    }
}
