//! A tiny path-rewriting HTTP reverse proxy, standing in for the TLS proxy of scenario S3
//! (`https://hub.example.com/` → `http://trove:8081/repository/docker/`). It behaves like
//!
//! ```nginx
//! location /v2/         { proxy_pass http://trove/repository/<repo>/v2/; }
//! location /repository/ { proxy_pass http://trove; }   # relative Locations Trove hands out
//! ```
//!
//! so stock clients talk `/v2/...` to it and Trove sees path-based access
//! `/repository/<repo>/v2/...`. Each connection carries one request (`Connection: close` is forced
//! upstream), which keeps the proxy to a head rewrite plus two byte pumps.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;

/// One proxied request: method, path as the client sent it, path sent upstream, status line.
#[derive(Clone, Debug)]
pub struct Exchange {
    pub method: String,
    pub client_path: String,
    pub upstream_path: String,
    pub status: String,
}

/// A running rewriting proxy on `127.0.0.1:<ephemeral>`. Stops accepting on drop.
pub struct PrefixProxy {
    addr: SocketAddr,
    log: Arc<Mutex<Vec<Exchange>>>,
    stop: Arc<AtomicBool>,
}

impl PrefixProxy {
    /// Proxies to `upstream`, prefixing `/v2` paths with `prefix` (e.g. `/repository/docker-hosted`).
    pub fn start(upstream: SocketAddr, prefix: &str) -> PrefixProxy {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind proxy");
        let addr = listener.local_addr().expect("proxy addr");
        let log = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let prefix = prefix.trim_end_matches('/').to_owned();
        let (log2, stop2) = (log.clone(), stop.clone());
        thread::spawn(move || {
            for conn in listener.incoming() {
                if stop2.load(Ordering::Relaxed) {
                    break;
                }
                let Ok(client) = conn else { continue };
                let (log, prefix) = (log2.clone(), prefix.clone());
                thread::spawn(move || {
                    if let Err(e) = handle(client, upstream, &prefix, &log) {
                        eprintln!("[e2e] proxy connection failed: {e}");
                    }
                });
            }
        });
        PrefixProxy { addr, log, stop }
    }

    /// `127.0.0.1:PORT`: the registry host clients use.
    pub fn host(&self) -> String {
        self.addr.to_string()
    }

    /// Every request proxied so far.
    pub fn exchanges(&self) -> Vec<Exchange> {
        self.log.lock().expect("proxy log").clone()
    }
}

impl Drop for PrefixProxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        // Wake the accept loop so it sees the flag.
        let _ = TcpStream::connect(self.addr);
    }
}

fn rewrite(path: &str, prefix: &str) -> String {
    if path == "/v2" || path.starts_with("/v2/") || path.starts_with("/v2?") {
        format!("{prefix}{path}")
    } else {
        path.to_owned()
    }
}

fn handle(
    client: TcpStream,
    upstream: SocketAddr,
    prefix: &str,
    log: &Mutex<Vec<Exchange>>,
) -> std::io::Result<()> {
    let mut reader = BufReader::new(client.try_clone()?);
    let mut first_line = Vec::new();
    reader.read_until(b'\n', &mut first_line)?;
    // Clients told to skip TLS verification try HTTPS first: a TLS ClientHello is not a
    // request line, so close and let them fall back to plain HTTP, as a plain-HTTP server does.
    let Some(request_line) = String::from_utf8(first_line)
        .ok()
        .filter(|l| l.contains(" HTTP/"))
    else {
        return Ok(());
    };
    let mut parts = request_line.trim_end().splitn(3, ' ');
    let (method, path, version) = (
        parts.next().unwrap_or_default().to_owned(),
        parts.next().unwrap_or_default().to_owned(),
        parts.next().unwrap_or("HTTP/1.1").to_owned(),
    );
    let upstream_path = rewrite(&path, prefix);
    let mut head = format!("{method} {upstream_path} {version}\r\n");
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 || line == "\r\n" || line == "\n" {
            break;
        }
        let name = line
            .split(':')
            .next()
            .unwrap_or_default()
            .trim()
            .to_ascii_lowercase();
        if name != "connection" && name != "keep-alive" {
            head.push_str(&line);
        }
    }
    head.push_str("Connection: close\r\n\r\n");

    let mut up = TcpStream::connect(upstream)?;
    up.write_all(head.as_bytes())?;
    // Whatever the reader buffered past the head is the start of the body.
    up.write_all(reader.buffer())?;
    let mut up_w = up.try_clone()?;
    let mut client_r = client.try_clone()?;
    // Request body: pump until the client stops sending (it may keep the connection open).
    let body = thread::spawn(move || {
        let _ = std::io::copy(&mut client_r, &mut up_w);
    });
    // Response: pump until upstream closes (Connection: close), then close the client.
    let mut client_w = client;
    let mut first = [0u8; 4096];
    let n = up.read(&mut first)?;
    let status = String::from_utf8_lossy(&first[..n])
        .lines()
        .next()
        .unwrap_or_default()
        .to_owned();
    log.lock().expect("proxy log").push(Exchange {
        method,
        client_path: path,
        upstream_path,
        status,
    });
    client_w.write_all(&first[..n])?;
    let _ = std::io::copy(&mut up, &mut client_w);
    let _ = client_w.shutdown(Shutdown::Both);
    let _ = up.shutdown(Shutdown::Both);
    let _ = body.join();
    Ok(())
}
