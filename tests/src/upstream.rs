//! A throwaway Debian `docker-registry` (CNCF distribution 2.8) on a loopback port: the stand-in
//! upstream for proxy tests and a known-good registry to check the harness itself against.

use std::fs::File;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use tempfile::TempDir;

use crate::util::{poll_until, send_signal, tail_file};

pub const DOCKER_REGISTRY: &str = "/usr/bin/docker-registry";

/// A running `docker-registry serve CONFIG`. Stopped and removed on drop.
pub struct Upstream {
    child: Option<Child>,
    addr: SocketAddr,
    dir: TempDir,
}

impl Upstream {
    /// An anonymous read-write registry with filesystem storage in a tempdir.
    pub fn start() -> Upstream {
        Upstream::start_inner(None, "")
    }

    /// A registry that requires basic auth; `htpasswd` is the file content (bcrypt entries,
    /// `user:$2y$…`, the only hash distribution accepts).
    pub fn start_with_htpasswd(htpasswd: &str) -> Upstream {
        Upstream::start_inner(Some(htpasswd), "")
    }

    /// The reference registry as a pull-through cache of `remote` (`proxy: remoteurl:`): the
    /// baseline Trove's proxy repositories are measured against.
    pub fn start_proxy_of(remote: &str) -> Upstream {
        Upstream::start_inner(None, &format!("proxy:\n  remoteurl: {remote}\n"))
    }

    fn start_inner(htpasswd: Option<&str>, extra: &str) -> Upstream {
        let dir = tempfile::Builder::new()
            .prefix("reg.")
            .tempdir_in("/tmp")
            .expect("tempdir");
        let d = dir.path();
        // The registry takes a fixed address; reserve a free port and hand it over (the window
        // between drop and bind is tiny, and tests run serially).
        let addr = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("free port");
        let auth = match htpasswd {
            Some(h) => {
                std::fs::write(d.join("htpasswd"), h).expect("htpasswd");
                format!(
                    "auth:\n  htpasswd:\n    realm: trove-e2e\n    path: {}\n",
                    d.join("htpasswd").display()
                )
            }
            None => String::new(),
        };
        let config = format!(
            "version: 0.1\nlog:\n  level: info\n  accesslog:\n    disabled: false\n\
             storage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\n\
             http:\n  addr: {addr}\n{auth}{extra}",
            d.join("data").display()
        );
        std::fs::write(d.join("config.yml"), config).expect("config.yml");
        let log = File::create(d.join("registry.log")).expect("log");
        let child = Command::new(DOCKER_REGISTRY)
            .arg("serve")
            .arg(d.join("config.yml"))
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log fd"))
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {DOCKER_REGISTRY}: {e}"));
        let mut me = Upstream {
            child: Some(child),
            addr,
            dir,
        };
        let ready = poll_until(Duration::from_secs(20), || {
            if let Some(s) = me.child.as_mut().and_then(|c| c.try_wait().ok().flatten()) {
                return Some(Err(format!("docker-registry exited early with {s}")));
            }
            http_status(addr, "/v2/").map(|_| Ok(()))
        });
        match ready {
            Some(Ok(())) => me,
            Some(Err(why)) => panic!("{why}\n{}", tail_file(&me.log_path(), 30)),
            None => panic!(
                "docker-registry not ready\n{}",
                tail_file(&me.log_path(), 30)
            ),
        }
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `127.0.0.1:PORT`, the registry host part of image references.
    pub fn host(&self) -> String {
        self.addr.to_string()
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn log_path(&self) -> std::path::PathBuf {
        self.dir.path().join("registry.log")
    }

    pub fn dir(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for Upstream {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            send_signal(c.id(), "TERM");
            if poll_until(Duration::from_secs(5), || c.try_wait().ok().flatten()).is_none() {
                let _ = c.kill();
                let _ = c.wait();
            }
        }
    }
}

/// The status code of a plain `GET path` over HTTP/1.0, or `None` if nothing answers.
pub fn http_status(addr: SocketAddr, path: &str) -> Option<u16> {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(2)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(s, "GET {path} HTTP/1.0\r\nHost: {addr}\r\n\r\n").ok()?;
    let mut head = [0u8; 12];
    s.read_exact(&mut head).ok()?;
    std::str::from_utf8(&head[9..12]).ok()?.parse().ok()
}
