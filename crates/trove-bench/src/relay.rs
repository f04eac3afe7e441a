//! A counting TCP relay between a proxy under test and its upstream: it forwards bytes both ways
//! unchanged and records the request line (`METHOD /path`) of every HTTP/1.x request that goes
//! up, so the benchmark can say how many upstream fetches each blob cost.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use anyhow::Result;

pub struct Relay {
    pub addr: SocketAddr,
    log: Arc<Mutex<Vec<String>>>,
    /// Every request line ever seen (not drained by `take`).
    all: Arc<Mutex<Vec<String>>>,
    stop: Arc<AtomicBool>,
}

impl Relay {
    pub fn start(upstream: SocketAddr) -> Result<Relay> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let addr = listener.local_addr()?;
        let log = Arc::new(Mutex::new(Vec::new()));
        let all = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let (l2, a2, s2) = (log.clone(), all.clone(), stop.clone());
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                if s2.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(down) = conn else { continue };
                let (log, all) = (l2.clone(), a2.clone());
                std::thread::spawn(move || {
                    if let Err(e) = relay_one(down, upstream, &log, &all) {
                        log.lock().expect("log").push(format!("RELAY-ERROR {e}"));
                    }
                });
            }
        });
        Ok(Relay {
            addr,
            log,
            all,
            stop,
        })
    }

    /// The request lines seen since the last call.
    pub fn take(&self) -> Vec<String> {
        std::mem::take(&mut *self.log.lock().expect("log"))
    }

    /// Every request line since the start.
    pub fn all(&self) -> Vec<String> {
        self.all.lock().expect("all").clone()
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(self.addr);
    }
}

fn relay_one(
    down: TcpStream,
    upstream: SocketAddr,
    log: &Mutex<Vec<String>>,
    all: &Mutex<Vec<String>>,
) -> Result<()> {
    down.set_nodelay(true)?;
    let up = TcpStream::connect(upstream)?;
    up.set_nodelay(true)?;
    // Upstream → proxy: plain copy.
    let (mut up_r, mut down_w) = (up.try_clone()?, down.try_clone()?);
    let back = std::thread::spawn(move || {
        let _ = std::io::copy(&mut up_r, &mut down_w);
        let _ = down_w.shutdown(Shutdown::Write);
    });
    // Proxy → upstream: parse request heads, forward heads and bodies.
    let mut r = BufReader::with_capacity(64 * 1024, down);
    let mut up_w = up;
    'requests: loop {
        let mut head = Vec::new();
        let mut first = String::new();
        let mut content_length = 0u64;
        let mut chunked = false;
        loop {
            let mut line = String::new();
            if r.read_line(&mut line)? == 0 {
                break 'requests;
            }
            if first.is_empty() {
                first = line.trim_end().to_owned();
                if first.starts_with("PRI ") {
                    log.lock().expect("log").push("HTTP2 (not counted)".into());
                    up_w.write_all(line.as_bytes())?;
                    std::io::copy(&mut r, &mut up_w)?;
                    break 'requests;
                }
            }
            head.extend_from_slice(line.as_bytes());
            let l = line.trim_end();
            if l.is_empty() {
                break;
            }
            if let Some((k, v)) = l.split_once(':') {
                let k = k.trim().to_ascii_lowercase();
                if k == "content-length" {
                    content_length = v.trim().parse().unwrap_or(0);
                } else if k == "transfer-encoding" && v.to_ascii_lowercase().contains("chunked") {
                    chunked = true;
                }
            }
        }
        let mut parts = first.split_whitespace();
        let entry = format!(
            "{} {}",
            parts.next().unwrap_or(""),
            parts.next().unwrap_or("")
        );
        all.lock().expect("all").push(entry.clone());
        log.lock().expect("log").push(entry);
        up_w.write_all(&head)?;
        if chunked {
            // Not sent by registry clients for GET/HEAD; forward the rest unparsed.
            log.lock()
                .expect("log")
                .push("CHUNKED-BODY (later requests on this connection not counted)".into());
            std::io::copy(&mut r, &mut up_w)?;
            break;
        }
        if content_length > 0 {
            std::io::copy(&mut (&mut r).take(content_length), &mut up_w)?;
        }
    }
    let _ = up_w.shutdown(Shutdown::Write);
    let _ = back.join();
    Ok(())
}
