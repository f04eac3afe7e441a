//! A small blocking HTTP/1.1 client over `std::net::TcpStream`: keep-alive, `Content-Length` and
//! chunked bodies, bodies collected, discarded or hashed while they arrive. Enough for the
//! registry API; the same client drives both registries, so its own cost is the same on both
//! sides.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use anyhow::{Context, Result, anyhow, bail};
use sha2::{Digest as _, Sha256};

/// What to do with a response body.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Body {
    /// Keep it in `Response::body`.
    Collect,
    /// Count it and drop it (throughput measurements).
    Discard,
    /// Count it and put its SHA-256 in `Response::sha256` (verification).
    Hash,
}

#[derive(Debug)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    pub body_len: u64,
    /// `sha256:<hex>` of the body when read with [`Body::Hash`].
    pub sha256: Option<String>,
}

impl Response {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// Fails with the status and the start of the body unless the status is `want`.
    pub fn expect(self, want: u16, what: &str) -> Result<Response> {
        if self.status != want {
            let body = self.text();
            let body: String = body.chars().take(400).collect();
            bail!("{what}: expected HTTP {want}, got {}: {body}", self.status);
        }
        Ok(self)
    }
}

/// One keep-alive connection to one server. Reconnects when the server closed it.
pub struct Client {
    addr: SocketAddr,
    host: String,
    /// The `Authorization` header value sent with every request, if any.
    pub auth: Option<String>,
    conn: Option<BufReader<TcpStream>>,
    scratch: Vec<u8>,
}

const IO_TIMEOUT: Duration = Duration::from_secs(300);

impl Client {
    pub fn new(addr: SocketAddr, auth: Option<String>) -> Client {
        Client {
            addr,
            host: addr.to_string(),
            auth,
            conn: None,
            scratch: Vec::new(),
        }
    }

    fn connect(&self) -> Result<BufReader<TcpStream>> {
        let s = TcpStream::connect_timeout(&self.addr, Duration::from_secs(5))
            .with_context(|| format!("connecting to {}", self.addr))?;
        s.set_nodelay(true)?;
        s.set_read_timeout(Some(IO_TIMEOUT))?;
        s.set_write_timeout(Some(IO_TIMEOUT))?;
        Ok(BufReader::with_capacity(64 * 1024, s))
    }

    pub fn get(&mut self, path: &str) -> Result<Response> {
        self.request("GET", path, &[], &[], Body::Collect)
    }

    /// Sends one request and reads the whole response. A request on a reused keep-alive
    /// connection that fails before any response byte arrived (the server closed the idle
    /// connection) is retried once on a fresh connection, as HTTP clients do.
    pub fn request(
        &mut self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
        mode: Body,
    ) -> Result<Response> {
        let reused = self.conn.is_some();
        match self.try_request(method, path, headers, body, mode) {
            Ok(r) => Ok(r),
            Err(Failure::BeforeResponse(e)) if reused => {
                self.conn = None;
                self.try_request(method, path, headers, body, mode)
                    .map_err(Failure::into_inner)
                    .with_context(|| format!("{method} {path} (retried after: {e:#})"))
            }
            Err(e) => {
                self.conn = None;
                Err(e.into_inner()).with_context(|| format!("{method} {path}"))
            }
        }
    }

    fn try_request(
        &mut self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
        mode: Body,
    ) -> Result<Response, Failure> {
        if self.conn.is_none() {
            self.conn = Some(self.connect().map_err(Failure::Other)?);
        }
        let mut head = format!(
            "{method} {path} HTTP/1.1\r\nHost: {}\r\nUser-Agent: trove-bench\r\n",
            self.host
        );
        if let Some(a) = &self.auth {
            head.push_str(&format!("Authorization: {a}\r\n"));
        }
        for (k, v) in headers {
            head.push_str(&format!("{k}: {v}\r\n"));
        }
        if !body.is_empty() || matches!(method, "PUT" | "POST" | "PATCH") {
            head.push_str(&format!("Content-Length: {}\r\n", body.len()));
        }
        head.push_str("\r\n");
        let conn = self.conn.as_mut().expect("connected");
        {
            let s = conn.get_mut();
            let w = if body.len() <= 64 * 1024 {
                let mut all = head.into_bytes();
                all.extend_from_slice(body);
                s.write_all(&all)
            } else {
                s.write_all(head.as_bytes())
                    .and_then(|()| s.write_all(body))
            };
            w.map_err(|e| Failure::BeforeResponse(anyhow!("writing the request: {e}")))?;
        }
        let mut line = String::new();
        match conn.read_line(&mut line) {
            Ok(0) => {
                return Err(Failure::BeforeResponse(anyhow!(
                    "connection closed before the response"
                )));
            }
            Ok(_) => {}
            Err(e) => return Err(Failure::BeforeResponse(anyhow!("reading the status: {e}"))),
        }
        let res = read_rest(conn, &line, method, mode, &mut self.scratch);
        match res {
            Ok((r, keep)) => {
                if !keep {
                    self.conn = None;
                }
                Ok(r)
            }
            Err(e) => Err(Failure::Other(e)),
        }
    }
}

enum Failure {
    BeforeResponse(anyhow::Error),
    Other(anyhow::Error),
}

impl Failure {
    fn into_inner(self) -> anyhow::Error {
        match self {
            Failure::BeforeResponse(e) | Failure::Other(e) => e,
        }
    }
}

/// Reads headers and body after the status line; returns the response and whether the
/// connection may be reused.
fn read_rest(
    conn: &mut BufReader<TcpStream>,
    status_line: &str,
    method: &str,
    mode: Body,
    scratch: &mut Vec<u8>,
) -> Result<(Response, bool)> {
    let mut parts = status_line.trim_end().splitn(3, ' ');
    let version = parts.next().unwrap_or_default().to_owned();
    let status: u16 = parts
        .next()
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| anyhow!("bad status line {status_line:?}"))?;
    let mut headers = Vec::new();
    loop {
        let mut l = String::new();
        if conn.read_line(&mut l)? == 0 {
            bail!("connection closed inside the response head");
        }
        let l = l.trim_end();
        if l.is_empty() {
            break;
        }
        let (k, v) = l
            .split_once(':')
            .ok_or_else(|| anyhow!("bad header line {l:?}"))?;
        headers.push((k.trim().to_owned(), v.trim().to_owned()));
    }
    let h = |name: &str| {
        headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.to_ascii_lowercase())
    };
    let mut keep = match h("connection").as_deref() {
        Some(c) if c.contains("close") => false,
        Some(c) if c.contains("keep-alive") => true,
        _ => version == "HTTP/1.1",
    };
    let mut sink = Sink::new(mode, scratch);
    let no_body = method == "HEAD" || status == 204 || status == 304 || status < 200;
    if !no_body {
        if h("transfer-encoding").is_some_and(|t| t.contains("chunked")) {
            loop {
                let mut l = String::new();
                conn.read_line(&mut l)?;
                let size = l.trim().split(';').next().unwrap_or_default();
                let size = usize::from_str_radix(size, 16)
                    .map_err(|_| anyhow!("bad chunk size line {l:?}"))?;
                if size == 0 {
                    // Trailers, then the empty line.
                    loop {
                        let mut t = String::new();
                        if conn.read_line(&mut t)? == 0 || t.trim_end().is_empty() {
                            break;
                        }
                    }
                    break;
                }
                sink.copy(conn, size as u64)?;
                let mut crlf = [0u8; 2];
                conn.read_exact(&mut crlf)?;
            }
        } else if let Some(len) = h("content-length") {
            let len: u64 = len.parse().map_err(|_| anyhow!("bad Content-Length"))?;
            sink.copy(conn, len)?;
        } else {
            sink.copy_to_end(conn)?;
            keep = false;
        }
    }
    let (body, body_len, sha256) = sink.finish();
    Ok((
        Response {
            status,
            headers,
            body,
            body_len,
            sha256,
        },
        keep,
    ))
}

struct Sink<'a> {
    mode: Body,
    body: Vec<u8>,
    len: u64,
    hasher: Option<Sha256>,
    scratch: &'a mut Vec<u8>,
}

impl<'a> Sink<'a> {
    fn new(mode: Body, scratch: &'a mut Vec<u8>) -> Sink<'a> {
        if mode != Body::Collect && scratch.len() < (1 << 20) {
            scratch.resize(1 << 20, 0);
        }
        Sink {
            mode,
            body: Vec::new(),
            len: 0,
            hasher: (mode == Body::Hash).then(Sha256::new),
            scratch,
        }
    }

    fn take(&mut self, n: usize) {
        self.len += n as u64;
        match self.mode {
            Body::Collect => unreachable!(),
            Body::Discard => {}
            Body::Hash => self
                .hasher
                .as_mut()
                .expect("hasher")
                .update(&self.scratch[..n]),
        }
    }

    fn copy(&mut self, r: &mut impl Read, mut n: u64) -> Result<()> {
        if self.mode == Body::Collect {
            let start = self.body.len();
            self.body.resize(start + n as usize, 0);
            r.read_exact(&mut self.body[start..])
                .context("reading the body")?;
            self.len += n;
            return Ok(());
        }
        while n > 0 {
            let want = n.min(self.scratch.len() as u64) as usize;
            let got = r.read(&mut self.scratch[..want])?;
            if got == 0 {
                bail!("connection closed with {n} body bytes missing");
            }
            self.take(got);
            n -= got as u64;
        }
        Ok(())
    }

    fn copy_to_end(&mut self, r: &mut impl Read) -> Result<()> {
        if self.mode == Body::Collect {
            let n = r.read_to_end(&mut self.body)?;
            self.len += n as u64;
            return Ok(());
        }
        loop {
            let got = r.read(&mut self.scratch[..])?;
            if got == 0 {
                return Ok(());
            }
            self.take(got);
        }
    }

    fn finish(self) -> (Vec<u8>, u64, Option<String>) {
        let sha = self
            .hasher
            .map(|h| format!("sha256:{}", hex::encode(h.finalize())));
        (self.body, self.len, sha)
    }
}

/// The path and query of a `Location` header, absolute (`http://host/...`) or relative.
pub fn location_path(location: &str) -> String {
    for scheme in ["http://", "https://"] {
        if let Some(rest) = location.strip_prefix(scheme) {
            return match rest.find('/') {
                Some(i) => rest[i..].to_owned(),
                None => "/".to_owned(),
            };
        }
    }
    location.to_owned()
}

/// `path` with `key=value` appended to its query.
pub fn with_query(path: &str, kv: &str) -> String {
    let sep = if path.contains('?') { '&' } else { '?' };
    format!("{path}{sep}{kv}")
}

/// `Basic base64(user:password)`.
pub fn basic_auth(user: &str, password: &str) -> String {
    format!("Basic {}", base64(format!("{user}:{password}").as_bytes()))
}

/// Standard base64 (RFC 4648) with padding.
pub fn base64(data: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(data)
}

/// The status of a plain `GET path`, on a fresh connection, or `None` if nothing answers.
pub fn probe_status(addr: SocketAddr, path: &str) -> Option<u16> {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_millis(500)).ok()?;
    s.set_nodelay(true).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut head = [0u8; 12];
    s.read_exact(&mut head).ok()?;
    std::str::from_utf8(&head[9..12]).ok()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locations() {
        assert_eq!(location_path("http://h:1/v2/x?a=b"), "/v2/x?a=b");
        assert_eq!(location_path("/v2/x"), "/v2/x");
        assert_eq!(with_query("/a", "digest=x"), "/a?digest=x");
        assert_eq!(with_query("/a?b=c", "digest=x"), "/a?b=c&digest=x");
    }
}
