//! The raw format end to end with real clients: curl uploads, downloads, ranges, conditional
//! requests and deletes; wget downloads and mirrors a folder through its HTML listing; a raw
//! proxy caches files from nginx serving a directory (under a path prefix, revalidated with
//! nginx's own ETag, served from the cache when nginx is gone); a group serves its members and
//! answers a miss with 404, never a 5xx.

use std::net::SocketAddr;
use std::path::Path;
use std::process::{Command, Output};

use trove_tests::nginx::free_port;
use trove_tests::{Nginx, TroveInstance, blocking};

fn run(cmd: &mut Command) -> Output {
    cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"))
}

fn curl(args: &[&str]) -> Output {
    run(Command::new("curl")
        .args(["-sS", "--max-time", "30"])
        .args(args))
}

/// curl's answer: (HTTP status, body).
fn curl_status(args: &[&str]) -> (u16, Vec<u8>) {
    let out = curl(&[args, &["-w", "\n%{http_code}"]].concat());
    assert!(
        out.status.success(),
        "curl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut body = out.stdout;
    let at = body.iter().rposition(|b| *b == b'\n').expect("status line");
    let status = String::from_utf8_lossy(&body[at + 1..])
        .parse()
        .expect("status");
    body.truncate(at);
    (status, body)
}

fn headers(url: &str) -> String {
    let out = curl(&["-I", url]);
    String::from_utf8_lossy(&out.stdout).to_ascii_lowercase()
}

fn static_server(root: &Path) -> (Nginx, SocketAddr) {
    let port = free_port();
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let server = format!(
        "server {{\n listen {addr};\n location /pub/ {{ alias {}/; autoindex on; }}\n}}",
        root.display()
    );
    (Nginx::start(&server, addr), addr)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn raw_files_with_curl_wget_an_nginx_upstream_and_a_group() {
    let upstream_root = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(upstream_root.path().join("tools")).unwrap();
    std::fs::write(
        upstream_root.path().join("tools/installer.sh"),
        b"#!/bin/sh\necho hi\n",
    )
    .unwrap();
    let (nginx, up) = static_server(upstream_root.path());
    let pw_dir = tempfile::tempdir().unwrap();
    let pw = pw_dir.path().join("pw");
    std::fs::write(&pw, "dev-pw\n").unwrap();
    let trove = TroveInstance::start_secured(&format!(
        r#"
[security]
anonymous = true
[[role]]
name = "raw-read"
privileges = [{{ format = "raw", repo = "*", actions = ["browse", "read"] }}]
[[role]]
name = "raw-write"
privileges = [{{ format = "raw", repo = "files", actions = ["*"] }}]
[[user]]
name = "anonymous"
roles = ["raw-read"]
[[user]]
name = "dev"
password_file = {pw:?}
roles = ["raw-read", "raw-write"]
[[repository]]
name = "files"
format = "raw"
kind = "hosted"
[[repository]]
name = "mirror"
format = "raw"
kind = "proxy"
remote = "http://{up}/pub/"
metadata_max_age = 1
[[repository]]
name = "all"
format = "raw"
kind = "group"
members = ["files", "mirror"]
"#
    ))
    .await;
    let base = format!("http://{}/repository", trove.main_addr());

    let log_path = nginx.dir().join("access.log");
    let nginx_log = blocking({
        let base = base.clone();
        move || {
            let work = tempfile::tempdir().unwrap();
            let big = work.path().join("big.bin");
            let data: Vec<u8> = (0..5u32 << 20).map(|i| (i * 7 % 251) as u8).collect();
            std::fs::write(&big, &data).unwrap();
            let notes = work.path().join("notes.txt");
            std::fs::write(&notes, b"release notes\n").unwrap();

            // curl -T: a 5 MiB file (curl sends Expect: 100-continue) and a small one.
            let (s, body) = curl_status(&[
                "-u",
                "dev:dev-pw",
                "-T",
                big.to_str().unwrap(),
                &format!("{base}/files/dist/1.0/big.bin"),
            ]);
            assert_eq!(s, 201, "{}", String::from_utf8_lossy(&body));
            let (s, _) = curl_status(&[
                "-u",
                "dev:dev-pw",
                "-T",
                notes.to_str().unwrap(),
                &format!("{base}/files/dist/1.0/notes.txt"),
            ]);
            assert_eq!(s, 201);
            // Anonymous may read but not write, and is asked to log in.
            let (s, body) = curl_status(&[
                "-T",
                notes.to_str().unwrap(),
                &format!("{base}/files/x.txt"),
            ]);
            assert_eq!(s, 401, "{}", String::from_utf8_lossy(&body));

            let (s, got) = curl_status(&[&format!("{base}/files/dist/1.0/big.bin")]);
            assert_eq!(s, 200);
            assert!(got == data, "the 5 MiB file comes back byte for byte");
            let (s, got) =
                curl_status(&["-r", "100-109", &format!("{base}/files/dist/1.0/big.bin")]);
            assert_eq!((s, &got[..]), (206, &data[100..110]));
            let h = headers(&format!("{base}/files/dist/1.0/notes.txt"));
            assert!(h.contains("content-type: text/plain"), "{h}");
            assert!(h.contains("etag: \""), "{h}");
            assert!(h.contains("last-modified: "), "{h}");
            assert!(h.contains("content-length: 14"), "{h}");
            let etag = h
                .lines()
                .find_map(|l| l.strip_prefix("etag: "))
                .unwrap()
                .trim()
                .to_owned();
            let (s, _) = curl_status(&[
                "-H",
                &format!("If-None-Match: {etag}"),
                &format!("{base}/files/dist/1.0/notes.txt"),
            ]);
            assert_eq!(s, 304);

            // wget: one file, then the folder mirrored through its listing.
            let out = run(Command::new("wget")
                .args(["-q", "-O"])
                .arg(work.path().join("got.txt"))
                .arg(format!("{base}/files/dist/1.0/notes.txt")));
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
            assert_eq!(
                std::fs::read(work.path().join("got.txt")).unwrap(),
                b"release notes\n"
            );
            let mirror_dir = work.path().join("mirror");
            let out = run(Command::new("wget")
                .args([
                    "-q",
                    "-r",
                    "-np",
                    "-nH",
                    "--cut-dirs=3",
                    "-R",
                    "index.html*",
                    "-P",
                ])
                .arg(&mirror_dir)
                .arg(format!("{base}/files/dist/")));
            assert!(
                out.status.success(),
                "wget -r: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            assert_eq!(
                std::fs::read(mirror_dir.join("1.0/notes.txt")).unwrap(),
                b"release notes\n"
            );
            assert!(std::fs::read(mirror_dir.join("1.0/big.bin")).unwrap() == data);

            // Traversal: .. and its encodings, sent as they are.
            for bad in [
                "/files/dist/../x",
                "/files/dist/%2e%2e/x",
                "/files/dist%2fx",
            ] {
                let (s, _) = curl_status(&["--path-as-is", &format!("{base}{bad}")]);
                assert_eq!(s, 400, "{bad}");
            }

            // The proxy: fetched once from nginx (under its /pub/ prefix), then from the cache,
            // revalidated with nginx's ETag once stale.
            let (s, got) = curl_status(&[&format!("{base}/mirror/tools/installer.sh")]);
            assert_eq!((s, &got[..]), (200, &b"#!/bin/sh\necho hi\n"[..]));
            let (s, _) = curl_status(&[&format!("{base}/mirror/tools/installer.sh")]);
            assert_eq!(s, 200);
            std::thread::sleep(std::time::Duration::from_millis(1200));
            let (s, got) = curl_status(&[&format!("{base}/all/tools/installer.sh")]);
            assert_eq!(
                (s, &got[..]),
                (200, &b"#!/bin/sh\necho hi\n"[..]),
                "through the group"
            );
            let (s, _) = curl_status(&[&format!("{base}/mirror/tools/nope.sh")]);
            assert_eq!(s, 404);
            let (s, body) = curl_status(&[&format!("{base}/all/tools/nope.sh")]);
            assert_eq!(
                s,
                404,
                "a group miss is a 404: {}",
                String::from_utf8_lossy(&body)
            );
            let (s, got) = curl_status(&[&format!("{base}/all/dist/1.0/notes.txt")]);
            assert_eq!((s, &got[..]), (200, &b"release notes\n"[..]));

            // Delete.
            let (s, _) = curl_status(&[
                "-u",
                "dev:dev-pw",
                "-X",
                "DELETE",
                &format!("{base}/files/dist/1.0/notes.txt"),
            ]);
            assert_eq!(s, 204);
            let (s, _) = curl_status(&[&format!("{base}/files/dist/1.0/notes.txt")]);
            assert_eq!(s, 404);
            std::fs::read_to_string(log_path).unwrap_or_default()
        }
    })
    .await;
    let fetches: Vec<&str> = nginx_log
        .lines()
        .filter(|l| l.contains("/pub/tools/installer.sh"))
        .collect();
    assert_eq!(
        fetches.len(),
        2,
        "one download, one revalidation: {nginx_log}"
    );
    assert!(fetches[0].contains("\" 200 "), "{nginx_log}");
    assert!(
        fetches[1].contains("\" 304 "),
        "revalidated by ETag: {nginx_log}"
    );
    // The cache serves when the upstream is gone (the copy is stale by now).
    drop(nginx);
    let base2 = base.clone();
    blocking(move || {
        let (s, got) = curl_status(&[&format!("{base2}/mirror/tools/installer.sh")]);
        assert_eq!((s, &got[..]), (200, &b"#!/bin/sh\necho hi\n"[..]));
    })
    .await;
    trove.stop().await;
}
