//! `trove bundle` as the binary runs it: an export of a hosted raw repository, an import
//! killed with SIGKILL in the middle and run again ends exactly like an uninterrupted one, a
//! second run changes nothing, and an import into a repository of another format is refused
//! before anything is written.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use bytes::Bytes;
use sha2::Digest as _;
use trove_core::{AssetPath, BlobInfo, Digest, NewAsset};

const FILES: usize = 300;
const FILE_SIZE: usize = 256 << 10;

fn config(dir: &Path, extra: &str) -> std::path::PathBuf {
    let data = dir.join("data");
    std::fs::create_dir_all(&data).unwrap();
    let path = dir.join("trove.toml");
    std::fs::write(
        &path,
        format!(
            "[server]\nlisten = \"127.0.0.1:0\"\ndata_dir = \"{}\"\n\
             [[repository]]\nname = \"files\"\nformat = \"raw\"\nkind = \"hosted\"\n{extra}",
            data.display()
        ),
    )
    .unwrap();
    path
}

fn trove(args: &[&str]) -> (Option<i32>, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_trove"))
        .args(args)
        .env_remove("TROVE_CONFIG")
        .output()
        .unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

async fn open(config: &Path) -> std::sync::Arc<trove_server::Trove> {
    let text = std::fs::read_to_string(config).unwrap();
    let c = trove_server::Config::from_toml_str(&text).unwrap();
    trove_server::Trove::open(&c).await.unwrap()
}

/// Every row of `files`: (path, digest).
async fn rows(t: &trove_server::Trove) -> Vec<(String, String)> {
    let sel = trove_bundle::Selection {
        repositories: vec!["files".into()],
        ..Default::default()
    };
    let plan = trove_bundle::plan(
        &t.meta,
        &*t.front.blobs,
        &trove_server::bundles::spec_of,
        &sel,
    )
    .await
    .unwrap();
    plan.repositories[0]
        .assets
        .iter()
        .map(|a| (a.path.clone(), a.digest.clone()))
        .collect()
}

/// Stores `data` at `path` of repository `files`, as a client's upload would.
async fn put_file(t: &trove_server::Trove, path: &str, data: Vec<u8>, content_type: &str) {
    let repo = t
        .meta
        .repos()
        .records()
        .await
        .unwrap()
        .into_iter()
        .find(|r| r.config.name.as_str() == "files")
        .unwrap()
        .config;
    let digest = Digest::parse(&format!(
        "sha256:{}",
        hex::encode(sha2::Sha256::digest(&data))
    ))
    .unwrap();
    let id = t.front.blobs.begin_upload().await.unwrap();
    let body: trove_core::ByteStream = Box::pin(futures_util::stream::once(async move {
        Ok::<_, std::io::Error>(Bytes::from(data))
    }));
    t.front.blobs.append(&id, 0, body).await.unwrap();
    let info = t.front.blobs.commit(&id, &digest).await.unwrap();
    t.meta
        .assets()
        .put(
            &repo.id,
            &AssetPath::parse(path).unwrap(),
            &NewAsset {
                blob: BlobInfo {
                    digest: info.digest,
                    size: info.size,
                },
                content_type: Some(content_type.into()),
                attrs: serde_json::json!({}),
            },
            false,
        )
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_import_killed_midway_finishes_when_run_again() {
    let src = tempfile::tempdir().unwrap();
    let src_config = config(src.path(), "");
    let t = open(&src_config).await;
    for i in 0..FILES {
        let mut data = vec![0u8; FILE_SIZE];
        for (j, b) in data.iter_mut().enumerate() {
            *b = ((i * 31 + j * 7) % 251) as u8;
        }
        data[..8].copy_from_slice(&(i as u64).to_le_bytes());
        put_file(
            &t,
            &format!("/dir/file-{i:03}.bin"),
            data,
            "application/octet-stream",
        )
        .await;
    }
    let want = rows(&t).await;
    t.meta.close().await;

    let bundle = src.path().join("files.bundle");
    let (code, _, err) = trove(&[
        "bundle",
        "export",
        "--config",
        src_config.to_str().unwrap(),
        "--repository",
        "files",
        "-o",
        bundle.to_str().unwrap(),
    ]);
    assert_eq!(code, Some(0), "{err}");
    assert!(err.contains(&format!("{FILES} blobs")), "{err}");

    // Killed midway: still running when the signal is sent, so it cannot have finished.
    let dst = tempfile::tempdir().unwrap();
    let dst_config = config(dst.path(), "");
    let mut child = Command::new(env!("CARGO_BIN_EXE_trove"))
        .args(["bundle", "import", "--config"])
        .arg(&dst_config)
        .arg(&bundle)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let blobs_dir = dst.path().join("data");
    let started = Instant::now();
    // Wait until the import is under way (the first blobs are in), then kill it.
    loop {
        let files = walk(&blobs_dir);
        if files > 40 || started.elapsed() > Duration::from_secs(30) {
            break;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    assert!(
        child.try_wait().unwrap().is_none(),
        "the import finished before it could be killed"
    );
    child.kill().unwrap();
    child.wait().unwrap();
    let half = open(&dst_config).await;
    let got = rows(&half).await.len();
    half.meta.close().await;
    assert!(got < FILES, "{got} rows after the kill");

    let (code, out, err) = trove(&[
        "bundle",
        "import",
        "--config",
        dst_config.to_str().unwrap(),
        bundle.to_str().unwrap(),
    ]);
    assert_eq!(code, Some(0), "{out}{err}");
    let report: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(
        report["blobs_added"].as_u64().unwrap() + report["blobs_existing"].as_u64().unwrap(),
        FILES as u64,
        "{report}"
    );
    let t = open(&dst_config).await;
    assert_eq!(rows(&t).await, want, "the same rows as the source");
    t.meta.close().await;

    // Once complete, another run changes nothing.
    let (code, out, err) = trove(&[
        "bundle",
        "import",
        "--config",
        dst_config.to_str().unwrap(),
        bundle.to_str().unwrap(),
    ]);
    assert_eq!(code, Some(0), "{err}");
    let report: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(report["blobs_added"], 0, "{report}");
    assert_eq!(report["assets_added"], 0, "{report}");
    assert_eq!(report["assets_unchanged"], FILES, "{report}");

    // Into a repository of another format: refused, naming both, nothing written.
    let other = tempfile::tempdir().unwrap();
    let other_config = config(
        other.path(),
        "[[repository]]\nname = \"images\"\nformat = \"docker\"\nkind = \"hosted\"\n",
    );
    let (code, _, err) = trove(&[
        "bundle",
        "import",
        "--config",
        other_config.to_str().unwrap(),
        "--into",
        "images",
        bundle.to_str().unwrap(),
    ]);
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains("images is a docker repository"), "{err}");
}

/// Signed bundles: made with `trove bundle key`'s private key, imported with `--verify` and
/// its public key; another site's key, an unsigned bundle, and a manifest changed after
/// signing are refused before anything is written.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signed_bundles_are_verified_before_anything_is_written() {
    let src = tempfile::tempdir().unwrap();
    let src_config = config(src.path(), "");
    let t = open(&src_config).await;
    put_file(
        &t,
        "/release/notes.txt",
        b"signed content".to_vec(),
        "text/plain",
    )
    .await;
    t.meta.close().await;

    let keys = tempfile::tempdir().unwrap();
    let k = |n: &str| keys.path().join(n).to_str().unwrap().to_owned();
    for (private, public) in [("a.key", "a.pub"), ("b.key", "b.pub")] {
        let (code, _, err) = trove(&[
            "bundle",
            "key",
            "--private",
            &k(private),
            "--public",
            &k(public),
        ]);
        assert_eq!(code, Some(0), "{err}");
    }
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(k("a.key")).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    let (code, _, err) = trove(&[
        "bundle",
        "key",
        "--private",
        &k("a.key"),
        "--public",
        &k("x"),
    ]);
    assert_ne!(code, Some(0), "an existing key is never overwritten: {err}");
    assert!(
        !Path::new(env!("CARGO_MANIFEST_DIR")).join("data").exists(),
        "making a key opens no node (no ./data on the embedded defaults)"
    );

    let signed = src.path().join("signed.bundle");
    let unsigned = src.path().join("unsigned.bundle");
    for (out, sign) in [(&signed, Some(k("a.key"))), (&unsigned, None)] {
        let mut args = vec![
            "bundle".to_owned(),
            "export".into(),
            "--config".into(),
            src_config.to_str().unwrap().into(),
            "--repository".into(),
            "files".into(),
            "-o".into(),
            out.to_str().unwrap().into(),
        ];
        if let Some(key) = sign {
            args.extend(["--sign".into(), key]);
        }
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let (code, _, err) = trove(&args);
        assert_eq!(code, Some(0), "{err}");
    }
    // The manifest changed after signing: one byte of the notes' path.
    let tampered = src.path().join("tampered.bundle");
    let mut bytes = std::fs::read(&signed).unwrap();
    let at = bytes
        .windows(b"/release/notes.txt".len())
        .position(|w| w == b"/release/notes.txt")
        .unwrap();
    bytes[at + 1] = b'R';
    std::fs::write(&tampered, bytes).unwrap();

    let dst = tempfile::tempdir().unwrap();
    let dst_config = config(dst.path(), "");
    let import = |bundle: &Path, public: &str| {
        trove(&[
            "bundle",
            "import",
            "--config",
            dst_config.to_str().unwrap(),
            "--verify",
            public,
            bundle.to_str().unwrap(),
        ])
    };
    for (bundle, public, why) in [
        (&signed, k("b.pub"), "not by the key given"),
        (&unsigned, k("a.pub"), "not signed"),
        (&tampered, k("a.pub"), "changed after it was signed"),
    ] {
        let (code, _, err) = import(bundle, &public);
        assert_eq!(code, Some(1), "{err}");
        assert!(err.contains(why), "{why}: {err}");
    }
    let t = open(&dst_config).await;
    assert!(
        rows(&t).await.is_empty(),
        "nothing written by a refused bundle"
    );
    t.meta.close().await;
    let (code, out, err) = import(&signed, &k("a.pub"));
    assert_eq!(code, Some(0), "{err}");
    let report: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(report["signed"], true);
    assert_eq!(report["assets_added"], 1, "{report}");
    assert!(
        report["signed_by"]
            .as_str()
            .is_some_and(|id| id.len() == 16)
    );
}

/// Files under `dir`, recursively.
fn walk(dir: &Path) -> usize {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .flatten()
        .map(|e| match e.file_type() {
            Ok(t) if t.is_dir() => walk(&e.path()),
            _ => 1,
        })
        .sum()
}
