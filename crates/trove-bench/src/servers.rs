//! The servers under test, each a child process on loopback with its data in a tempdir: Trove
//! (the release binary), the reference registry (Debian's `docker-registry`), nginx (the
//! machine's static-file ceiling) and a private `dockerd`.

use std::fs::File;
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use tempfile::TempDir;

use crate::http::{basic_auth, probe_status};

pub const DOCKER_REGISTRY: &str = "/usr/bin/docker-registry";
pub const NGINX: &str = "/usr/sbin/nginx";
pub const DOCKERD: &str = "/usr/sbin/dockerd";
/// Debian's docker client (`/usr/local/bin/docker`, if present, is another one).
pub const DOCKER: &str = "/usr/bin/docker";

pub const BENCH_USER: &str = "bench";

/// A free loopback port (bound, then released: the window before the server binds is tiny).
pub fn free_port() -> Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

pub fn tempdir(prefix: &str) -> Result<TempDir> {
    Ok(tempfile::Builder::new().prefix(prefix).tempdir_in("/tmp")?)
}

pub fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .and_then(|l| l.split_whitespace().nth(2).map(|e| e == "0"))
        })
        .unwrap_or(false)
}

/// `VmRSS` and `VmHWM` of a process, in KiB.
pub fn memory_kib(pid: u32) -> Result<(u64, u64)> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .with_context(|| format!("reading /proc/{pid}/status"))?;
    let field = |name: &str| -> Result<u64> {
        s.lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse().ok())
            .with_context(|| format!("{name} in /proc/{pid}/status"))
    };
    Ok((field("VmRSS:")?, field("VmHWM:")?))
}

pub fn send_signal(pid: u32, sig: &str) {
    let _ = Command::new("kill")
        .arg(format!("-{sig}"))
        .arg(pid.to_string())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
}

fn wait_exit(child: &mut Child, limit: Duration) -> bool {
    let t = Instant::now();
    while t.elapsed() < limit {
        if let Ok(Some(_)) = child.try_wait() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    false
}

/// The last `n` lines of a file (for error messages).
pub fn tail(path: &Path, n: usize) -> String {
    let s = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = s.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Kind {
    Trove,
    Reference,
}

impl Kind {
    pub fn label(self) -> &'static str {
        match self {
            Kind::Trove => "trove",
            Kind::Reference => "reference",
        }
    }
}

/// What repository a registry instance serves.
#[derive(Clone, Debug)]
pub enum Mode {
    Hosted,
    /// A pull-through cache of this base URL.
    Proxy(String),
    /// Trove only: these `[[repository]]` blocks (other formats), reached on the main port.
    Repos(String),
}

/// A running registry: `addr` serves `/v2/<image>/...` (Trove: the repository's connector port;
/// the reference: its only port).
pub struct Registry {
    pub kind: Kind,
    pub addr: SocketAddr,
    /// Trove's main port (`/v2/<repo>/<image>/...`); the same as `addr` for the reference.
    pub main_addr: SocketAddr,
    /// `Authorization` for an admin (Trove); `None` for the reference, which runs without auth.
    pub auth: Option<String>,
    /// Spawn to the first answer (200 or 401) on `/v2/`.
    pub startup: Duration,
    child: Option<Child>,
    dir: Option<TempDir>,
}

pub struct TroveOpts<'a> {
    pub bin: &'a Path,
    pub mode: Mode,
    /// Anonymous access on, with browse+read on every repository (for the anonymous case).
    pub anonymous_read: bool,
}

pub const TROVE_REPO: &str = "bench";
const PASSWORD: &str = "bench-password-0123456789";

impl Registry {
    pub fn pid(&self) -> u32 {
        self.child.as_ref().map(Child::id).unwrap_or(0)
    }

    pub fn dir(&self) -> &Path {
        self.dir.as_ref().expect("dir").path()
    }

    pub fn log_path(&self) -> PathBuf {
        self.dir().join("server.log")
    }

    pub fn memory_kib(&self) -> Result<(u64, u64)> {
        memory_kib(self.pid())
    }

    /// Starts Trove in `dir` (a fresh tempdir, or one a stopped instance left, for restarts).
    pub fn start_trove(opts: &TroveOpts<'_>, dir: Option<TempDir>) -> Result<Registry> {
        let dir = match dir {
            Some(d) => d,
            None => tempdir("tb-trove.")?,
        };
        let d = dir.path();
        let main = free_port()?;
        let conn = free_port()?;
        std::fs::write(d.join("bench.password"), PASSWORD)?;
        let security = if opts.anonymous_read {
            "[security]\nanonymous = true\n\n[[role]]\nname = \"bench-read\"\n\
             privileges = [{ repo = \"*\", actions = [\"browse\", \"read\"] }]\n\n\
             [[user]]\nname = \"anonymous\"\nroles = [\"bench-read\"]\n"
                .to_owned()
        } else {
            "[security]\nanonymous = false\n".to_owned()
        };
        let repo = match &opts.mode {
            Mode::Hosted => format!(
                "[[repository]]\nname = \"{TROVE_REPO}\"\nformat = \"docker\"\nkind = \"hosted\"\n\
                 connector = {{ http = {conn} }}\n"
            ),
            Mode::Proxy(remote) => format!(
                "[[repository]]\nname = \"{TROVE_REPO}\"\nformat = \"docker\"\nkind = \"proxy\"\n\
                 remote = \"{remote}\"\nconnector = {{ http = {conn} }}\n"
            ),
            Mode::Repos(repos) => repos.clone(),
        };
        let config = format!(
            "[server]\nlisten = \"127.0.0.1:{main}\"\ndata_dir = \"{data}\"\n\n{security}\n\
             [[user]]\nname = \"{BENCH_USER}\"\npassword_file = \"{pw}\"\nroles = [\"admin\"]\n\n{repo}",
            data = d.join("data").display(),
            pw = d.join("bench.password").display(),
        );
        std::fs::write(d.join("trove.toml"), config)?;
        let log = File::create(d.join("server.log"))?;
        let mut cmd = Command::new(opts.bin);
        cmd.arg("serve")
            .arg("--config")
            .arg(d.join("trove.toml"))
            .env_remove("RUST_LOG")
            .env_remove("TROVE_CONFIG")
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log);
        let main_addr: SocketAddr = ([127, 0, 0, 1], main).into();
        let addr: SocketAddr = match opts.mode {
            Mode::Repos(_) => main_addr,
            _ => ([127, 0, 0, 1], conn).into(),
        };
        Registry::spawn(
            Kind::Trove,
            cmd,
            dir,
            addr,
            main_addr,
            Some(basic_auth(BENCH_USER, PASSWORD)),
        )
    }

    /// Starts the reference registry: filesystem storage, Debian's default in-memory blob
    /// descriptor cache, access log on (its default), no auth.
    pub fn start_reference(mode: &Mode, dir: Option<TempDir>) -> Result<Registry> {
        let dir = match dir {
            Some(d) => d,
            None => tempdir("tb-ref.")?,
        };
        let d = dir.path();
        let port = free_port()?;
        let addr: SocketAddr = ([127, 0, 0, 1], port).into();
        let proxy = match mode {
            Mode::Hosted => String::new(),
            Mode::Proxy(remote) => format!("proxy:\n  remoteurl: {remote}\n"),
            Mode::Repos(_) => bail!("the reference registry serves docker only"),
        };
        let config = format!(
            "version: 0.1\nlog:\n  level: info\n  fields:\n    service: registry\n\
             storage:\n  cache:\n    blobdescriptor: inmemory\n  filesystem:\n    rootdirectory: {}\n\
             \x20 delete:\n    enabled: true\nhttp:\n  addr: {addr}\n{proxy}",
            d.join("data").display()
        );
        std::fs::write(d.join("config.yml"), config)?;
        let log = File::create(d.join("server.log"))?;
        let mut cmd = Command::new(DOCKER_REGISTRY);
        cmd.arg("serve")
            .arg(d.join("config.yml"))
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log);
        Registry::spawn(Kind::Reference, cmd, dir, addr, addr, None)
    }

    fn spawn(
        kind: Kind,
        mut cmd: Command,
        dir: TempDir,
        addr: SocketAddr,
        main_addr: SocketAddr,
        auth: Option<String>,
    ) -> Result<Registry> {
        let t0 = Instant::now();
        let child = cmd
            .spawn()
            .with_context(|| format!("starting {:?}", cmd.get_program()))?;
        let mut me = Registry {
            kind,
            addr,
            main_addr,
            auth,
            startup: Duration::ZERO,
            child: Some(child),
            dir: Some(dir),
        };
        loop {
            if let Some(s) = me.child.as_mut().and_then(|c| c.try_wait().ok().flatten()) {
                bail!(
                    "{} exited during start-up with {s}\n{}",
                    kind.label(),
                    tail(&me.log_path(), 30)
                );
            }
            if let Some(200 | 401) = probe_status(addr, "/v2/") {
                me.startup = t0.elapsed();
                return Ok(me);
            }
            if t0.elapsed() > Duration::from_secs(30) {
                bail!(
                    "{} not answering /v2/ after 30 s\n{}",
                    kind.label(),
                    tail(&me.log_path(), 30)
                );
            }
            std::thread::sleep(Duration::from_micros(200));
        }
    }

    /// SIGTERM, wait (SIGKILL after 10 s); returns the tempdir for a restart.
    pub fn stop(mut self) -> TempDir {
        self.shutdown();
        self.dir.take().expect("dir")
    }

    fn shutdown(&mut self) {
        if let Some(mut c) = self.child.take() {
            send_signal(c.id(), "TERM");
            if !wait_exit(&mut c, Duration::from_secs(10)) {
                let _ = c.kill();
                let _ = c.wait();
            }
        }
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// nginx serving `root` on a loopback port, access log off (its best case).
pub struct Nginx {
    pub addr: SocketAddr,
    child: Option<Child>,
    dir: TempDir,
}

impl Nginx {
    pub fn start(root: &Path) -> Result<Nginx> {
        Nginx::start_with(root, "")
    }

    /// [`Nginx::start`] with extra directives in the `server` block (`location`s).
    pub fn start_with(root: &Path, server_extra: &str) -> Result<Nginx> {
        let dir = tempdir("tb-nginx.")?;
        let d = dir.path();
        let port = free_port()?;
        let addr: SocketAddr = ([127, 0, 0, 1], port).into();
        // As root nginx would hand its workers to `nobody`, who cannot read our 0700 tempdirs.
        let user = if is_root() { "user root;\n" } else { "" };
        let conf = format!(
            "{user}daemon off;\nworker_processes auto;\npid {d}/nginx.pid;\nerror_log {d}/error.log;\n\
             events {{ worker_connections 1024; }}\n\
             http {{\n  access_log off;\n  sendfile on;\n  tcp_nopush on;\n  keepalive_requests 1000000;\n\
             \x20 client_body_temp_path {d}/body;\n  proxy_temp_path {d}/proxy;\n  fastcgi_temp_path {d}/fcgi;\n\
             \x20 uwsgi_temp_path {d}/uwsgi;\n  scgi_temp_path {d}/scgi;\n\
             \x20 types {{ }}\n  default_type application/octet-stream;\n\
             \x20 server {{ listen {addr}; root {root}; {server_extra} }}\n}}\n",
            d = d.display(),
            root = root.display()
        );
        std::fs::write(d.join("nginx.conf"), conf)?;
        let log = File::create(d.join("stderr.log"))?;
        let child = Command::new(NGINX)
            .arg("-c")
            .arg(d.join("nginx.conf"))
            .arg("-p")
            .arg(d)
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .context("starting nginx")?;
        let mut me = Nginx {
            addr,
            child: Some(child),
            dir,
        };
        let t0 = Instant::now();
        loop {
            if let Some(s) = me.child.as_mut().and_then(|c| c.try_wait().ok().flatten()) {
                bail!(
                    "nginx exited with {s}\n{}\n{}",
                    tail(&me.dir.path().join("stderr.log"), 20),
                    tail(&me.dir.path().join("error.log"), 20)
                );
            }
            if probe_status(addr, "/").is_some() {
                return Ok(me);
            }
            if t0.elapsed() > Duration::from_secs(10) {
                bail!("nginx not answering after 10 s");
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            // QUIT: graceful; the master takes its workers with it.
            send_signal(c.id(), "QUIT");
            if !wait_exit(&mut c, Duration::from_secs(10)) {
                let _ = c.kill();
                let _ = c.wait();
            }
        }
    }
}

/// A private `dockerd` (vfs storage, no iptables, no bridge) with its own data-root, exec-root,
/// socket and client config in one tempdir.
pub struct Dockerd {
    child: Option<Child>,
    dir: TempDir,
    host: String,
}

impl Dockerd {
    pub fn start() -> Result<Dockerd> {
        // Short prefix: the socket path must stay under the 108-byte unix socket limit.
        let dir = tempdir("tb-dk.")?;
        let d = dir.path();
        let host = format!("unix://{}", d.join("docker.sock").display());
        std::fs::create_dir_all(d.join("client"))?;
        let log = File::create(d.join("dockerd.log"))?;
        let child = Command::new(DOCKERD)
            .args([
                "--storage-driver",
                "vfs",
                "--iptables=false",
                "--ip6tables=false",
                "--bridge=none",
            ])
            .arg("--data-root")
            .arg(d.join("data"))
            .arg("--exec-root")
            .arg(d.join("exec"))
            .arg("--pidfile")
            .arg(d.join("pid"))
            .args(["-H", &host])
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .context("starting dockerd")?;
        let mut me = Dockerd {
            child: Some(child),
            dir,
            host,
        };
        let t0 = Instant::now();
        loop {
            if let Some(s) = me.child.as_mut().and_then(|c| c.try_wait().ok().flatten()) {
                bail!(
                    "dockerd exited with {s}\n{}",
                    tail(&me.dir.path().join("dockerd.log"), 20)
                );
            }
            if me
                .cmd(&["version", "--format", "{{.Server.Version}}"])
                .output()
                .is_ok_and(|o| o.status.success())
            {
                return Ok(me);
            }
            if t0.elapsed() > Duration::from_secs(60) {
                bail!(
                    "dockerd not ready after 60 s\n{}",
                    tail(&me.dir.path().join("dockerd.log"), 20)
                );
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    pub fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new(DOCKER);
        c.env("DOCKER_CONFIG", self.dir.path().join("client"))
            .args(["-H", &self.host])
            .args(args)
            .stdin(Stdio::null());
        c
    }

    /// Runs `docker ARGS`; fails with its output unless it succeeds.
    pub fn run(&self, args: &[&str], stdin: Option<&str>) -> Result<String> {
        let mut c = self.cmd(args);
        let out = if let Some(input) = stdin {
            use std::io::Write as _;
            c.stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped());
            let mut child = c.spawn()?;
            child
                .stdin
                .take()
                .context("stdin")?
                .write_all(input.as_bytes())?;
            child.wait_with_output()?
        } else {
            c.output()?
        };
        if !out.status.success() {
            bail!(
                "`docker {}` failed: {}\n{}",
                args.join(" "),
                String::from_utf8_lossy(&out.stderr),
                String::from_utf8_lossy(&out.stdout)
            );
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }
}

impl Drop for Dockerd {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            send_signal(c.id(), "TERM");
            if !wait_exit(&mut c, Duration::from_secs(20)) {
                let _ = c.kill();
                let _ = c.wait();
            }
        }
    }
}
