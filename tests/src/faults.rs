//! A counting, fault-injecting HTTP proxy to put in front of a real upstream (`docker-registry`):
//! it records every request (method, path, status, body bytes) so tests can count upstream
//! fetches, and on demand answers 500, cuts a body in the middle, flips a byte of a body, or waits
//! before answering. One request per connection (`Connection: close` both ways), which keeps it
//! to a head parse plus byte pumps.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

/// What to do to a matching request.
#[derive(Clone, Debug, PartialEq)]
pub enum Fault {
    /// Answer this status (with an OCI error body) without asking the upstream.
    Status(u16),
    /// Forward the head and half the body, then close the connection.
    ResetMidBody,
    /// Forward everything, with one byte in the middle of the body flipped.
    CorruptBody,
    /// Wait this long before forwarding the upstream's answer.
    Delay(Duration),
}

/// One request that went through.
#[derive(Clone, Debug)]
pub struct Exchange {
    pub method: String,
    pub path: String,
    pub status: u16,
    /// Response body bytes forwarded to the client.
    pub body_bytes: u64,
    pub fault: Option<Fault>,
}

struct Rule {
    method: String,
    path_contains: String,
    fault: Fault,
    times: usize,
}

#[derive(Default)]
struct Shared {
    log: Mutex<Vec<Exchange>>,
    rules: Mutex<Vec<Rule>>,
    /// Connections being relayed. An exchange is logged when its relay ends, a moment after
    /// the client may already have its answer; readers of the log wait for this to reach zero.
    in_flight: std::sync::atomic::AtomicUsize,
}

impl Shared {
    /// Waits (up to 5 s, for relays that hang on purpose) until no exchange is still being
    /// relayed, so counts taken between test phases are complete.
    fn settle(&self) {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        while self.in_flight.load(Ordering::SeqCst) > 0 && std::time::Instant::now() < deadline {
            thread::sleep(std::time::Duration::from_millis(5));
        }
    }
}

/// A running proxy on `127.0.0.1:<ephemeral>` in front of `upstream`. Stops accepting on drop.
pub struct FaultProxy {
    addr: SocketAddr,
    shared: Arc<Shared>,
    stop: Arc<AtomicBool>,
}

impl FaultProxy {
    pub fn start(upstream: SocketAddr) -> FaultProxy {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind fault proxy");
        let addr = listener.local_addr().expect("fault proxy addr");
        let shared = Arc::new(Shared::default());
        let stop = Arc::new(AtomicBool::new(false));
        let (shared2, stop2) = (shared.clone(), stop.clone());
        thread::spawn(move || {
            for conn in listener.incoming() {
                if stop2.load(Ordering::Relaxed) {
                    break;
                }
                let Ok(client) = conn else { continue };
                let shared = shared2.clone();
                shared.in_flight.fetch_add(1, Ordering::SeqCst);
                thread::spawn(move || {
                    if let Err(e) = handle(client, upstream, &shared) {
                        eprintln!("[e2e] fault proxy connection: {e}");
                    }
                    shared.in_flight.fetch_sub(1, Ordering::SeqCst);
                });
            }
        });
        FaultProxy { addr, shared, stop }
    }

    /// `http://127.0.0.1:PORT`: the remote to configure.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Applies `fault` to the next `times` requests whose method is `method` and whose path
    /// contains `path_contains`.
    pub fn inject(&self, method: &str, path_contains: &str, fault: Fault, times: usize) {
        self.shared.rules.lock().expect("rules").push(Rule {
            method: method.to_owned(),
            path_contains: path_contains.to_owned(),
            fault,
            times,
        });
    }

    /// Removes every pending fault.
    pub fn heal(&self) {
        self.shared.rules.lock().expect("rules").clear();
    }

    /// Every request so far.
    pub fn exchanges(&self) -> Vec<Exchange> {
        self.shared.settle();
        self.shared.log.lock().expect("log").clone()
    }

    /// How many `method` requests had a path containing `path_contains`.
    pub fn count(&self, method: &str, path_contains: &str) -> usize {
        self.exchanges()
            .iter()
            .filter(|e| e.method == method && e.path.contains(path_contains))
            .count()
    }

    /// Another handle on the same proxy's log and faults (it does not keep the proxy running).
    pub fn clone_handle(&self) -> FaultLog {
        FaultLog(self.shared.clone())
    }

    /// Forgets the log (faults stay).
    pub fn reset_log(&self) {
        self.shared.settle();
        self.shared.log.lock().expect("log").clear();
    }
}

/// A handle on a [`FaultProxy`]'s request log, usable from another thread.
#[derive(Clone)]
pub struct FaultLog(Arc<Shared>);

impl FaultLog {
    /// As [`FaultProxy::count`].
    pub fn count(&self, method: &str, path_contains: &str) -> usize {
        self.0.settle();
        self.0
            .log
            .lock()
            .expect("log")
            .iter()
            .filter(|e| e.method == method && e.path.contains(path_contains))
            .count()
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        let _ = TcpStream::connect(self.addr);
    }
}

fn take_fault(shared: &Shared, method: &str, path: &str) -> Option<Fault> {
    let mut rules = shared.rules.lock().expect("rules");
    let i = rules
        .iter()
        .position(|r| r.times > 0 && r.method == method && path.contains(&r.path_contains))?;
    rules[i].times -= 1;
    let fault = rules[i].fault.clone();
    if rules[i].times == 0 {
        rules.remove(i);
    }
    Some(fault)
}

/// Reads an HTTP head (up to the blank line) from `r`: the start line and the header lines.
fn read_head(r: &mut impl BufRead) -> std::io::Result<Option<(String, Vec<String>)>> {
    let mut start = String::new();
    if r.read_line(&mut start)? == 0 {
        return Ok(None);
    }
    let mut headers = Vec::new();
    loop {
        let mut line = String::new();
        if r.read_line(&mut line)? == 0 || line == "\r\n" || line == "\n" {
            break;
        }
        headers.push(line.trim_end().to_owned());
    }
    Ok(Some((start.trim_end().to_owned(), headers)))
}

fn header_name(line: &str) -> String {
    line.split(':')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase()
}

fn handle(client: TcpStream, upstream: SocketAddr, shared: &Shared) -> std::io::Result<()> {
    let mut reader = BufReader::new(client.try_clone()?);
    let Some((request_line, headers)) = read_head(&mut reader)? else {
        return Ok(());
    };
    let mut parts = request_line.splitn(3, ' ');
    let method = parts.next().unwrap_or_default().to_owned();
    let path = parts.next().unwrap_or_default().to_owned();
    let fault = take_fault(shared, &method, &path);
    let mut client_w = client;
    let log = |status: u16, body_bytes: u64, fault: Option<Fault>| {
        shared.log.lock().expect("log").push(Exchange {
            method: method.clone(),
            path: path.clone(),
            status,
            body_bytes,
            fault,
        });
    };

    if let Some(Fault::Status(code)) = fault {
        let body =
            format!(r#"{{"errors":[{{"code":"UNKNOWN","message":"injected failure {code}"}}]}}"#);
        write!(
            client_w,
            "HTTP/1.1 {code} Injected\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\
             Connection: close\r\n\r\n{body}",
            body.len()
        )?;
        log(code, body.len() as u64, fault);
        let _ = client_w.shutdown(Shutdown::Both);
        return Ok(());
    }

    let mut up = TcpStream::connect(upstream)?;
    let mut head = format!("{request_line}\r\n");
    for h in &headers {
        let n = header_name(h);
        if n != "connection" && n != "keep-alive" {
            head.push_str(h);
            head.push_str("\r\n");
        }
    }
    head.push_str("Connection: close\r\n\r\n");
    up.write_all(head.as_bytes())?;
    up.write_all(reader.buffer())?;
    let mut up_w = up.try_clone()?;
    let mut client_r = reader.into_inner();
    let body_pump = thread::spawn(move || {
        let _ = std::io::copy(&mut client_r, &mut up_w);
    });

    let mut up_r = BufReader::new(up);
    let Some((status_line, resp_headers)) = read_head(&mut up_r)? else {
        return Ok(());
    };
    let status: u16 = status_line
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let content_length: Option<u64> = resp_headers
        .iter()
        .find(|h| header_name(h) == "content-length")
        .and_then(|h| h.split_once(':'))
        .and_then(|(_, v)| v.trim().parse().ok());
    if let Some(Fault::Delay(d)) = &fault {
        thread::sleep(*d);
    }
    let mut out = format!("{status_line}\r\n");
    for h in &resp_headers {
        let n = header_name(h);
        if n != "connection" && n != "keep-alive" {
            out.push_str(h);
            out.push_str("\r\n");
        }
    }
    out.push_str("Connection: close\r\n\r\n");
    if client_w.write_all(out.as_bytes()).is_err() {
        log(status, 0, fault);
        return Ok(());
    }
    // Stream the body (a cold pull should not wait for whole blobs here), applying the fault.
    let has_body = method != "HEAD" && status != 204 && status != 304;
    let cut_at = match (&fault, content_length) {
        (Some(Fault::ResetMidBody), Some(len)) if len > 1 => Some(len / 2),
        _ => None,
    };
    let flip_at = match (&fault, content_length) {
        (Some(Fault::CorruptBody), Some(len)) if len > 0 => Some(len / 2),
        _ => None,
    };
    let mut sent = 0u64;
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = if has_body { up_r.read(&mut buf)? } else { 0 };
        if n == 0 {
            break;
        }
        let mut chunk = &mut buf[..n];
        if let Some(cut) = cut_at {
            let room = (cut - sent) as usize;
            chunk = &mut chunk[..n.min(room)];
        }
        if let Some(at) = flip_at
            && at >= sent
            && at < sent + chunk.len() as u64
        {
            chunk[(at - sent) as usize] ^= 0xff;
        }
        if client_w.write_all(chunk).is_err() {
            break;
        }
        sent += chunk.len() as u64;
        if cut_at.is_some_and(|c| sent >= c) {
            break;
        }
    }
    let _ = client_w.flush();
    log(status, sent, fault);
    let _ = client_w.shutdown(Shutdown::Both);
    let _ = up_r.get_ref().shutdown(Shutdown::Both);
    let _ = body_pump.join();
    Ok(())
}
