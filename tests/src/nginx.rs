//! Debian's nginx on loopback, in its own tempdir (config, pid, logs, temp paths): as the
//! TLS-terminating reverse proxy of scenario S1 (with a self-signed certificate made by
//! `openssl`), as the host-mapping proxy of scenario S3 with the block its users publish, and
//! as a static file server (the upstream of raw proxies).

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use tempfile::TempDir;

pub const NGINX: &str = "/usr/sbin/nginx";

/// A running nginx with the `server { ... }` blocks it was given. Stops on drop.
pub struct Nginx {
    child: Option<Child>,
    dir: TempDir,
}

/// A free TCP port on 127.0.0.1.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("port")
        .port()
}

impl Nginx {
    /// Starts nginx with `servers` (one or more `server { ... }` blocks; `{dir}` in them is
    /// replaced by nginx's tempdir) and waits until `wait_for` accepts connections.
    pub fn start(servers: &str, wait_for: SocketAddr) -> Nginx {
        let dir = tempfile::Builder::new()
            .prefix("nginx.")
            .tempdir_in("/tmp")
            .expect("tempdir");
        Nginx::start_in(dir, servers, wait_for)
    }

    fn start_in(dir: TempDir, servers: &str, wait_for: SocketAddr) -> Nginx {
        let d = dir.path().display().to_string();
        let conf = format!(
            r#"user root;
worker_processes 1;
pid {d}/nginx.pid;
error_log {d}/error.log info;
events {{ worker_connections 256; }}
http {{
    access_log {d}/access.log;
    client_body_temp_path {d}/body;
    proxy_temp_path {d}/proxy;
    fastcgi_temp_path {d}/fastcgi;
    uwsgi_temp_path {d}/uwsgi;
    scgi_temp_path {d}/scgi;
{servers}
}}
"#,
            servers = servers.replace("{dir}", &d)
        );
        std::fs::write(dir.path().join("nginx.conf"), conf).expect("nginx.conf");
        let child = Command::new(NGINX)
            .arg("-p")
            .arg(dir.path())
            .arg("-c")
            .arg(dir.path().join("nginx.conf"))
            .args(["-g", "daemon off;"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {NGINX}: {e}"));
        let mut me = Nginx {
            child: Some(child),
            dir,
        };
        let started = Instant::now();
        while TcpStream::connect(wait_for).is_err() {
            if let Some(s) = me.child.as_mut().and_then(|c| c.try_wait().ok().flatten()) {
                panic!("nginx exited with {s}:\n{}", me.error_log());
            }
            assert!(
                started.elapsed() < Duration::from_secs(20),
                "nginx did not start:\n{}",
                me.error_log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        me
    }

    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    pub fn access_log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("access.log")).unwrap_or_default()
    }

    pub fn error_log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("error.log")).unwrap_or_default()
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            // SIGQUIT is nginx's graceful stop; then make sure.
            let _ = Command::new("kill")
                .arg("-QUIT")
                .arg(child.id().to_string())
                .status();
            let deadline = Instant::now() + Duration::from_secs(5);
            while child.try_wait().ok().flatten().is_none() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// nginx on `127.0.0.1:<port>` with TLS, forwarding every request to `upstream` over plain
/// HTTP with `X-Forwarded-Proto`/`Host` set, no body-size limit and no request buffering (what
/// a registry behind a proxy needs: long streamed uploads).
pub struct TlsProxy {
    nginx: Nginx,
    port: u16,
}

impl TlsProxy {
    pub fn start(upstream: SocketAddr) -> TlsProxy {
        let dir = tempfile::Builder::new()
            .prefix("nginx.")
            .tempdir_in("/tmp")
            .expect("tempdir");
        let d = dir.path();
        let status = Command::new("openssl")
            .args([
                "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
            ])
            .args([
                "-subj",
                "/CN=127.0.0.1",
                "-addext",
                "subjectAltName=IP:127.0.0.1",
            ])
            .arg("-keyout")
            .arg(d.join("key.pem"))
            .arg("-out")
            .arg(d.join("cert.pem"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .expect("run openssl");
        assert!(status.success(), "openssl could not make a certificate");
        let port = free_port();
        let server = format!(
            r#"    server {{
        listen 127.0.0.1:{port} ssl;
        ssl_certificate {{dir}}/cert.pem;
        ssl_certificate_key {{dir}}/key.pem;
        client_max_body_size 0;
        location / {{
            proxy_pass http://{upstream};
            proxy_http_version 1.1;
            proxy_request_buffering off;
            proxy_buffering off;
            proxy_set_header Host $http_host;
            proxy_set_header X-Forwarded-Proto $scheme;
            proxy_read_timeout 900;
        }}
    }}"#
        );
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        TlsProxy {
            nginx: Nginx::start_in(dir, &server, addr),
            port,
        }
    }

    /// `127.0.0.1:<port>`: the registry host clients use (over https).
    pub fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    pub fn dir(&self) -> &Path {
        self.nginx.dir()
    }

    pub fn access_log(&self) -> String {
        self.nginx.access_log()
    }

    pub fn error_log(&self) -> String {
        self.nginx.error_log()
    }

    pub fn cert_path(&self) -> PathBuf {
        self.nginx.dir().join("cert.pem")
    }
}
