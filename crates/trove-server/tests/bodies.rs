//! Request bodies on a real listener: a body that trickles in is cut off (while a slow but
//! steady one goes through), and a client that goes away mid-upload is a client event, counted
//! apart and never a 5xx (issue 14).

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use crate::support;

async fn server(dir: &tempfile::TempDir) -> trove_server::Running {
    let pw = dir.path().join("pw");
    std::fs::write(&pw, "pw").unwrap();
    let toml = format!(
        "[server]\nlisten = \"127.0.0.1:0\"\ndata_dir = {:?}\nshutdown_timeout = 1\n\
         body_window = 1\nbody_min_bytes = 4096\n\
         [[user]]\nname = \"ci\"\npassword_file = {pw:?}\nroles = [\"admin\"]\n\
         [[repository]]\nname = \"files\"\nformat = \"raw\"\nkind = \"hosted\"\n\
         [[repository]]\nname = \"hosted\"\nformat = \"docker\"\nkind = \"hosted\"\n",
        dir.path().join("data")
    );
    trove_server::start(trove_server::Config::from_toml_str(&toml).unwrap())
        .await
        .unwrap()
}

/// Sends a request head, then `chunks` of the body with `pause` between them, then reads the
/// answer (or nothing, if `hang_up`).
fn send(
    addr: std::net::SocketAddr,
    head: &str,
    chunks: usize,
    chunk: usize,
    pause: Duration,
    hang_up: bool,
) -> String {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    s.write_all(head.as_bytes()).unwrap();
    for _ in 0..chunks {
        if s.write_all(&vec![b'x'; chunk]).is_err() {
            break;
        }
        std::thread::sleep(pause);
    }
    if hang_up {
        drop(s);
        return String::new();
    }
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    String::from_utf8_lossy(&out).into_owned()
}

fn put_head(path: &str, len: usize) -> String {
    format!(
        "PUT {path} HTTP/1.1\r\nHost: t\r\nAuthorization: {}\r\nContent-Length: {len}\r\n\
         Connection: close\r\n\r\n",
        support::basic("ci", "pw")
    )
}

#[actix_web::test]
async fn trickling_bodies_are_cut_off_and_aborts_are_client_events() {
    let dir = tempfile::tempdir().unwrap();
    let running = server(&dir).await;
    let addr = running.main_addr();
    let metrics = running.trove().metrics.clone();

    // One byte every 200 ms: less than 4 KiB in a 1 s window.
    let started = Instant::now();
    let answer = tokio::task::spawn_blocking(move || {
        send(
            addr,
            &put_head("/repository/files/slow.bin", 100_000),
            50,
            1,
            Duration::from_millis(200),
            false,
        )
    })
    .await
    .unwrap();
    assert!(answer.starts_with("HTTP/1.1 400"), "{answer}");
    assert!(answer.contains("stopped sending the body"), "{answer}");
    assert!(
        started.elapsed() < Duration::from_secs(8),
        "cut off, not held open"
    );

    // Slow but steady (16 KiB per 250 ms): goes through whole.
    let answer = tokio::task::spawn_blocking(move || {
        send(
            addr,
            &put_head("/repository/files/steady.bin", 16 * 1024 * 12),
            12,
            16 * 1024,
            Duration::from_millis(250),
            false,
        )
    })
    .await
    .unwrap();
    assert!(answer.starts_with("HTTP/1.1 201"), "{answer}");

    // A docker upload the client abandons half way.
    let before = metrics.snapshot();
    let head = format!(
        "POST /v2/hosted/img/blobs/uploads/?digest=sha256:{} HTTP/1.1\r\nHost: t\r\n\
         Authorization: {}\r\nContent-Length: 1000000\r\n\r\n",
        "0".repeat(64),
        support::basic("ci", "pw")
    );
    tokio::task::spawn_blocking(move || {
        send(addr, &head, 4, 8192, Duration::from_millis(20), true)
    })
    .await
    .unwrap();
    // The server notices the hang-up when it next reads.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let now = metrics.snapshot();
        if now.client_aborts > before.client_aborts {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the abort was never counted: {now:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let after = metrics.snapshot();
    let fives = |m: &trove_service::metrics::MetricsSnapshot| {
        m.by_class
            .iter()
            .find(|(c, _)| c == "5xx")
            .map_or(0, |(_, n)| *n)
    };
    assert_eq!(
        fives(&after),
        fives(&before),
        "an abort is not a server error"
    );
    assert!(
        after.client_aborts >= 2,
        "the trickle and the hang-up: {after:?}"
    );
    running.stop().await;
}
