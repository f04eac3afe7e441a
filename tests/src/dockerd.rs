//! A private Debian `dockerd` (vfs storage, no iptables, no bridge) with its own data-root,
//! exec-root, pidfile, socket and client config, all in one tempdir under `/tmp`.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

use tempfile::TempDir;

use crate::util::{self, poll_until, run_unchecked, send_signal, stdout_of, tail_file};

/// Debian's docker 20.10 client. `/usr/local/bin/docker` (first on PATH) is a different client.
pub const DOCKER: &str = "/usr/bin/docker";
/// Debian's docker daemon.
pub const DOCKERD: &str = "/usr/sbin/dockerd";

/// A running private `dockerd`. Dropping it stops the daemon (SIGTERM, then SIGKILL) and removes
/// its tempdir, also when the test panicked.
pub struct Dockerd {
    child: Option<Child>,
    dir: Option<TempDir>,
    host: String,
}

impl Dockerd {
    /// Starts a daemon with the default flags and waits until it answers.
    pub fn start() -> Dockerd {
        Dockerd::start_with(&[])
    }

    /// Starts a daemon with extra flags, e.g. `["--registry-mirror", "http://127.0.0.1:PORT"]`.
    pub fn start_with(extra_args: &[&str]) -> Dockerd {
        // Short prefix: the socket path must stay under the 108-byte unix socket limit.
        let dir = tempfile::Builder::new()
            .prefix("dk.")
            .tempdir_in("/tmp")
            .expect("tempdir");
        let d = dir.path();
        let sock = d.join("docker.sock");
        let host = format!("unix://{}", sock.display());
        std::fs::create_dir_all(d.join("client")).expect("client config dir");
        let log = File::create(d.join("dockerd.log")).expect("dockerd log");
        let mut cmd = Command::new(DOCKERD);
        cmd.args([
            "--storage-driver",
            "vfs",
            "--iptables=false",
            "--ip6tables=false",
        ])
        .arg("--bridge=none")
        .arg("--data-root")
        .arg(d.join("data"))
        .arg("--exec-root")
        .arg(d.join("exec"))
        .arg("--pidfile")
        .arg(d.join("pid"))
        .args(["-H", &host])
        .args(extra_args)
        .stdin(Stdio::null())
        .stdout(log.try_clone().expect("log fd"))
        .stderr(log);
        eprintln!("[e2e] starting `{}`", util::describe(&cmd));
        let child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {DOCKERD}: {e}"));
        let mut me = Dockerd {
            child: Some(child),
            dir: Some(dir),
            host,
        };
        let ready = poll_until(Duration::from_secs(60), || {
            if let Some(status) = me.child.as_mut().and_then(|c| c.try_wait().ok().flatten()) {
                return Some(Err(format!("dockerd exited early with {status}")));
            }
            let out = me
                .docker_cmd(["version", "--format", "{{.Server.Version}}"])
                .output();
            match out {
                Ok(o) if o.status.success() => Some(Ok(())),
                _ => None,
            }
        });
        match ready {
            Some(Ok(())) => me,
            Some(Err(why)) => panic!("{why}\n--- dockerd log tail ---\n{}", me.log_tail(40)),
            None => panic!(
                "dockerd not ready after 60 s\n--- dockerd log tail ---\n{}",
                me.log_tail(40)
            ),
        }
    }

    /// The daemon's tempdir (data-root, exec-root, socket, log, client config).
    pub fn dir(&self) -> &Path {
        self.dir.as_ref().expect("dir").path()
    }

    /// `unix:///tmp/dk.XXXX/docker.sock`, the value for `docker -H`.
    pub fn host(&self) -> &str {
        &self.host
    }

    /// The client config directory (`DOCKER_CONFIG`), so `docker login` credentials stay private.
    pub fn client_config_dir(&self) -> PathBuf {
        self.dir().join("client")
    }

    /// The log file of the daemon.
    pub fn log_path(&self) -> PathBuf {
        self.dir().join("dockerd.log")
    }

    /// The last `n` lines of the daemon log, without containerd's gRPC chatter.
    pub fn log_tail(&self, n: usize) -> String {
        let all = tail_file(&self.log_path(), usize::MAX);
        let lines: Vec<&str> = all.lines().filter(|l| !l.contains("module=grpc")).collect();
        lines[lines.len().saturating_sub(n)..].join("\n")
    }

    /// A `docker -H unix://…` command with the private client config, not yet run.
    pub fn docker_cmd<I, S>(&self, args: I) -> Command
    where
        I: IntoIterator<Item = S>,
        S: AsRef<std::ffi::OsStr>,
    {
        let mut c = Command::new(DOCKER);
        c.env("DOCKER_CONFIG", self.client_config_dir())
            .args(["-H", &self.host])
            .args(args);
        c.stdin(Stdio::null());
        c
    }

    /// Runs `docker ARGS`; panics with stdout, stderr and the daemon log tail on failure.
    pub fn docker(&self, args: &[&str]) -> Output {
        let out = self.try_docker(args);
        if !out.status.success() {
            panic!(
                "`docker {}` failed with {}\n--- stdout ---\n{}\n--- stderr ---\n{}\n--- dockerd log tail ---\n{}",
                args.join(" "),
                out.status,
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr),
                self.log_tail(20)
            );
        }
        out
    }

    /// Runs `docker ARGS` and returns its output whatever the status (for expected failures).
    pub fn try_docker(&self, args: &[&str]) -> Output {
        run_unchecked(&mut self.docker_cmd(args))
    }

    /// Trimmed stdout of a successful `docker ARGS`.
    pub fn docker_stdout(&self, args: &[&str]) -> String {
        stdout_of(&self.docker(args))
    }

    /// `docker load -i FILE`; returns the loaded image references/ids reported by docker
    /// (`Loaded image: NAME:TAG` or `Loaded image ID: sha256:…`).
    pub fn load(&self, archive: &Path) -> Vec<String> {
        let out = self.docker(&["load", "-i", &archive.to_string_lossy()]);
        stdout_of(&out)
            .lines()
            .filter_map(|l| {
                l.strip_prefix("Loaded image ID: ")
                    .or_else(|| l.strip_prefix("Loaded image: "))
            })
            .map(str::to_owned)
            .collect()
    }

    /// `docker inspect --format {{.Id}} REF`.
    pub fn image_id(&self, reference: &str) -> String {
        self.docker_stdout(&["image", "inspect", "--format", "{{.Id}}", reference])
    }

    /// Whether the daemon has an image for `reference`.
    pub fn has_image(&self, reference: &str) -> bool {
        self.try_docker(&["image", "inspect", "--format", "{{.Id}}", reference])
            .status
            .success()
    }

    /// The layer diff ids (`RootFS.Layers`) of a local image.
    pub fn image_layers(&self, reference: &str) -> Vec<String> {
        let json = self.docker_stdout(&[
            "image",
            "inspect",
            "--format",
            "{{json .RootFS.Layers}}",
            reference,
        ]);
        serde_json::from_str(&json).unwrap_or_else(|e| panic!("RootFS.Layers {json:?}: {e}"))
    }

    /// The repo digests (`NAME@sha256:…`) of a local image.
    pub fn repo_digests(&self, reference: &str) -> Vec<String> {
        let json = self.docker_stdout(&[
            "image",
            "inspect",
            "--format",
            "{{json .RepoDigests}}",
            reference,
        ]);
        serde_json::from_str(&json).unwrap_or_else(|e| panic!("RepoDigests {json:?}: {e}"))
    }

    /// `docker push REF`; returns the manifest digest printed on its last line
    /// (`TAG: digest: sha256:… size: N`).
    pub fn push(&self, reference: &str) -> String {
        let out = self.docker(&["push", reference]);
        let text = stdout_of(&out);
        text.lines()
            .find_map(|l| {
                l.split("digest: ")
                    .nth(1)
                    .and_then(|r| r.split_whitespace().next())
            })
            .map(str::to_owned)
            .unwrap_or_else(|| panic!("no digest in `docker push {reference}` output:\n{text}"))
    }

    /// `docker pull REF`.
    pub fn pull(&self, reference: &str) -> Output {
        self.docker(&["pull", reference])
    }

    /// Removes every local tag of the image `id` and the image itself.
    pub fn rmi_all(&self, id: &str) {
        self.docker(&["rmi", "--force", id]);
        assert!(
            !self.has_image(id),
            "image {id} still present after `docker rmi --force`"
        );
    }

    fn shutdown(&mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        if child.try_wait().ok().flatten().is_none() {
            send_signal(child.id(), "TERM");
            let exited = poll_until(Duration::from_secs(20), || child.try_wait().ok().flatten());
            if exited.is_none() {
                eprintln!("[e2e] dockerd ignored SIGTERM for 20 s, killing it");
                let _ = child.kill();
                let _ = child.wait();
            }
        }
        if let Some(dir) = &self.dir {
            // containerd is dockerd's child; it only outlives a SIGKILLed dockerd.
            let needle = dir.path().to_string_lossy().into_owned();
            for pid in util::pids_with_cmdline(&needle) {
                send_signal(pid, "KILL");
            }
            util::unmount_below(dir.path());
        }
    }
}

impl Drop for Dockerd {
    fn drop(&mut self) {
        self.shutdown();
        if let Some(dir) = self.dir.take() {
            let path = dir.path().to_owned();
            if let Err(e) = dir.close() {
                eprintln!("[e2e] cannot remove {}: {e}", path.display());
            }
        }
    }
}
