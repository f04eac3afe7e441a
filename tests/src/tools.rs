//! `skopeo` and `podman` with the flags that work against a plain-HTTP loopback registry on this
//! kind of machine (root, no systemd, vfs storage).

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use serde_json::Value;
use tempfile::TempDir;

use crate::util::{self, run, run_unchecked, stdout_of};

pub const SKOPEO: &str = "/usr/bin/skopeo";
pub const PODMAN: &str = "/usr/bin/podman";

/// `skopeo` with TLS verification off for `docker://` references (the registry is plain HTTP on
/// 127.0.0.1) and a private auth file.
pub struct Skopeo {
    dir: TempDir,
}

impl Default for Skopeo {
    fn default() -> Self {
        Skopeo::new()
    }
}

impl Skopeo {
    pub fn new() -> Skopeo {
        let dir = tempfile::Builder::new()
            .prefix("sk.")
            .tempdir_in("/tmp")
            .expect("tempdir");
        // podman and skopeo refuse a REGISTRY_AUTH_FILE that does not exist.
        std::fs::write(dir.path().join("auth.json"), "{}").expect("auth.json");
        Skopeo { dir }
    }

    /// The auth file used for `skopeo login` and every command (`REGISTRY_AUTH_FILE`).
    pub fn authfile(&self) -> PathBuf {
        self.dir.path().join("auth.json")
    }

    /// A `skopeo ARGS` command with the private auth file and temp dir, not yet run.
    pub fn cmd<I, S>(&self, args: I) -> Command
    where
        I: IntoIterator<Item = S>,
        S: AsRef<std::ffi::OsStr>,
    {
        let mut c = Command::new(SKOPEO);
        c.env("REGISTRY_AUTH_FILE", self.authfile())
            .env("TMPDIR", self.dir.path())
            .args(args)
            .stdin(Stdio::null());
        c
    }

    /// Runs `skopeo ARGS`; panics with its output on failure.
    pub fn run(&self, args: &[&str]) -> Output {
        run(&mut self.cmd(args))
    }

    /// Runs `skopeo ARGS` whatever the exit status.
    pub fn try_run(&self, args: &[&str]) -> Output {
        run_unchecked(&mut self.cmd(args))
    }

    /// `skopeo copy --src-tls-verify=false --dest-tls-verify=false [EXTRA…] SRC DST`.
    /// Use `extra = ["--all"]` for an image index.
    pub fn copy(&self, src: &str, dst: &str, extra: &[&str]) -> Output {
        let mut args = vec!["copy", "--src-tls-verify=false", "--dest-tls-verify=false"];
        args.extend_from_slice(extra);
        args.extend_from_slice(&[src, dst]);
        self.run(&args)
    }

    /// `skopeo copy … --digestfile F SRC DST`: the digest of the manifest written to DST.
    pub fn copy_digest(&self, src: &str, dst: &str, extra: &[&str]) -> String {
        let f = tempfile::NamedTempFile::new_in(self.dir.path()).expect("digest file");
        let path = f.path().to_string_lossy().into_owned();
        let mut e = vec!["--digestfile", path.as_str()];
        e.extend_from_slice(extra);
        self.copy(src, dst, &e);
        std::fs::read_to_string(f.path())
            .expect("read digestfile")
            .trim()
            .to_owned()
    }

    /// `skopeo inspect --raw REF` (TLS verification off): the manifest bytes exactly as served.
    pub fn inspect_raw(&self, reference: &str) -> Vec<u8> {
        self.run(&["inspect", "--tls-verify=false", "--raw", reference])
            .stdout
    }

    /// `skopeo inspect --config --raw REF`: the config blob bytes.
    pub fn inspect_config_raw(&self, reference: &str) -> Vec<u8> {
        self.run(&[
            "inspect",
            "--tls-verify=false",
            "--config",
            "--raw",
            reference,
        ])
        .stdout
    }

    /// `skopeo inspect REF` parsed (Digest, Layers, Architecture, …).
    pub fn inspect(&self, reference: &str) -> Value {
        let out = self.run(&["inspect", "--tls-verify=false", reference]);
        serde_json::from_slice(&out.stdout).expect("skopeo inspect JSON")
    }

    /// `skopeo list-tags docker://REPO` (TLS verification off).
    pub fn list_tags(&self, repo: &str) -> Vec<String> {
        let out = self.run(&["list-tags", "--tls-verify=false", repo]);
        let v: Value = serde_json::from_slice(&out.stdout).expect("list-tags JSON");
        v["Tags"]
            .as_array()
            .expect("Tags")
            .iter()
            .map(|t| t.as_str().expect("tag").to_owned())
            .collect()
    }
}

/// A private podman: its own graph root, run root, libpod tmpdir and auth file in one tempdir,
/// vfs storage, cgroupfs and file events (no systemd here). Removed on drop.
pub struct Podman {
    dir: Option<TempDir>,
}

impl Default for Podman {
    fn default() -> Self {
        Podman::new()
    }
}

impl Podman {
    pub fn new() -> Podman {
        let dir = tempfile::Builder::new()
            .prefix("pm.")
            .tempdir_in("/tmp")
            .expect("tempdir");
        std::fs::create_dir_all(dir.path().join("blobtmp")).expect("blob tmp");
        // podman and skopeo refuse a REGISTRY_AUTH_FILE that does not exist.
        std::fs::write(dir.path().join("auth.json"), "{}").expect("auth.json");
        Podman { dir: Some(dir) }
    }

    pub fn dir(&self) -> &Path {
        self.dir.as_ref().expect("dir").path()
    }

    /// A `podman --root … ARGS` command, not yet run.
    pub fn cmd<I, S>(&self, args: I) -> Command
    where
        I: IntoIterator<Item = S>,
        S: AsRef<std::ffi::OsStr>,
    {
        let d = self.dir();
        let mut c = Command::new(PODMAN);
        c.env("REGISTRY_AUTH_FILE", d.join("auth.json"))
            .env("TMPDIR", d.join("blobtmp"))
            .arg("--root")
            .arg(d.join("root"))
            .arg("--runroot")
            .arg(d.join("run"))
            .arg("--tmpdir")
            .arg(d.join("tmp"))
            .args(["--storage-driver", "vfs", "--cgroup-manager", "cgroupfs"])
            .args(["--events-backend", "file"])
            .args(args)
            .stdin(Stdio::null());
        c
    }

    /// Runs `podman ARGS`; panics with its output on failure.
    pub fn run(&self, args: &[&str]) -> Output {
        run(&mut self.cmd(args))
    }

    /// Runs `podman ARGS` whatever the exit status.
    pub fn try_run(&self, args: &[&str]) -> Output {
        run_unchecked(&mut self.cmd(args))
    }

    /// Trimmed stdout of a successful `podman ARGS`.
    pub fn stdout(&self, args: &[&str]) -> String {
        stdout_of(&self.run(args))
    }

    /// `podman load -i FILE`.
    pub fn load(&self, archive: &Path) -> Output {
        self.run(&["load", "-i", &archive.to_string_lossy()])
    }

    /// `podman push --tls-verify=false --digestfile F REF`; returns the pushed manifest digest.
    pub fn push(&self, local: &str, dest: &str) -> String {
        let f = self.dir().join("push.digest");
        let fs = f.to_string_lossy().into_owned();
        self.run(&[
            "push",
            "--tls-verify=false",
            "--digestfile",
            &fs,
            local,
            dest,
        ]);
        std::fs::read_to_string(&f)
            .expect("read digestfile")
            .trim()
            .to_owned()
    }

    /// `podman pull --tls-verify=false REF`; returns the image id podman prints.
    pub fn pull(&self, reference: &str) -> String {
        let out = self.run(&["pull", "--tls-verify=false", reference]);
        stdout_of(&out)
            .lines()
            .last()
            .unwrap_or_default()
            .to_owned()
    }

    /// `podman image inspect --format FORMAT REF`.
    pub fn inspect_format(&self, reference: &str, format: &str) -> String {
        self.stdout(&["image", "inspect", "--format", format, reference])
    }

    /// Whether podman has an image for `reference`.
    pub fn has_image(&self, reference: &str) -> bool {
        self.try_run(&["image", "exists", reference])
            .status
            .success()
    }
}

impl Drop for Podman {
    fn drop(&mut self) {
        if let Some(dir) = self.dir.take() {
            util::unmount_below(dir.path());
            let path = dir.path().to_owned();
            if let Err(e) = dir.close() {
                eprintln!("[e2e] cannot remove {}: {e}", path.display());
            }
        }
    }
}
