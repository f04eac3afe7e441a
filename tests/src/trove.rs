//! Trove started in-process on ephemeral loopback ports, with its data in a tempdir.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use tempfile::TempDir;
use trove_server::Running;

/// The `[[repository]]` block of a hosted docker repository named `name` with its own HTTP
/// connector on an ephemeral port.
pub fn hosted_docker_toml(name: &str) -> String {
    format!(
        "[[repository]]\nname = \"{name}\"\nformat = \"docker\"\nkind = \"hosted\"\n\
         connector = {{ http = 0 }}\n"
    )
}

/// `[server]` keys every test instance gets: a short graceful-stop window, because clients in
/// tests may hold idle connections that actix's graceful stop waits for.
const SERVER_TEST_KEYS: &str = "shutdown_timeout = 3";

/// A test-only policy: anonymous access on, and the anonymous user holds every action on every
/// repository. Never a default of Trove itself (there, anonymous access is off).
pub const OPEN_ACCESS: &str = r#"[security]
anonymous = true
[[role]]
name = "e2e-open"
privileges = [{ repo = "*", actions = ["*"] }]
[[user]]
name = "anonymous"
roles = ["e2e-open"]
"#;

/// Sends Trove's `tracing` output (one line per request) to stderr, which the test runner shows
/// for failed tests. `RUST_LOG` overrides the default `info`.
pub fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(false)
        .with_writer(std::io::stderr)
        .try_init();
}

/// A running Trove. Call [`TroveInstance::stop`] at the end of a test; if the test panics first,
/// dropping it drops the server and removes the tempdir.
pub struct TroveInstance {
    running: Option<Running>,
    config: String,
    data: PathBuf,
    // Declared last: dropped after the server.
    dir: TempDir,
}

impl TroveInstance {
    /// [`TroveInstance::start_secured`] plus [`OPEN_ACCESS`]: anonymous callers may do
    /// everything, so protocol tests need no credentials. Tests of the security model use
    /// `start_secured` with their own `[security]`, roles and users.
    pub async fn start(extra_toml: &str) -> TroveInstance {
        TroveInstance::start_secured(&format!("{OPEN_ACCESS}\n{extra_toml}")).await
    }

    /// Writes `[server] listen = "127.0.0.1:0"`, `data_dir` in a fresh tempdir, then `extra_toml`
    /// (repositories, security etc.), and starts Trove on the current (multi-thread) runtime.
    /// Trove's own defaults apply: anonymous access off.
    pub async fn start_secured(extra_toml: &str) -> TroveInstance {
        TroveInstance::start_secured_with_data(None, extra_toml).await
    }

    /// [`TroveInstance::start_secured`] with the data directory at `data` (a small filesystem
    /// of the test's own) instead of in the tempdir.
    pub async fn start_secured_with_data(data: Option<PathBuf>, extra_toml: &str) -> TroveInstance {
        init_logging();
        let dir = tempfile::Builder::new()
            .prefix("trove.")
            .tempdir_in("/tmp")
            .expect("tempdir");
        let data = data.unwrap_or_else(|| dir.path().join("data"));
        std::fs::create_dir_all(&data).expect("data dir");
        let config = format!(
            "[server]\nlisten = \"127.0.0.1:0\"\ndata_dir = \"{}\"\n{SERVER_TEST_KEYS}\n{extra_toml}",
            data.display()
        );
        std::fs::write(dir.path().join("trove.toml"), &config).expect("write trove.toml");
        let parsed = trove_server::Config::from_toml_str(&config)
            .unwrap_or_else(|e| panic!("trove config rejected: {e:#}\n{config}"));
        let running = trove_server::start(parsed)
            .await
            .unwrap_or_else(|e| panic!("trove failed to start: {e:#}\n{config}"));
        eprintln!("[e2e] trove listening on {}", running.main_addr());
        TroveInstance {
            running: Some(running),
            config,
            data,
            dir,
        }
    }

    fn running(&self) -> &Running {
        self.running.as_ref().expect("trove is running")
    }

    /// The node itself, for what tests drive in-process (the lifecycle's task runs).
    pub fn trove(&self) -> &trove_server::Trove {
        self.running().trove()
    }

    /// The main listener (`/repository/<name>/…`, `/api`, …).
    pub fn main_addr(&self) -> SocketAddr {
        self.running().main_addr()
    }

    /// The HTTP connector of `repo`; panics if it has none.
    pub fn connector_addr(&self, repo: &str) -> SocketAddr {
        self.running()
            .connector_addr(repo)
            .unwrap_or_else(|| panic!("repository {repo:?} has no connector"))
    }

    /// `127.0.0.1:PORT` of `repo`'s connector: the registry host for `docker push HOST/name:tag`.
    pub fn registry_host(&self, repo: &str) -> String {
        self.connector_addr(repo).to_string()
    }

    /// `127.0.0.1:MAINPORT/repository/<repo>`: where path-based access lives on the main port
    /// (`http://{path_base}/v2/...`). Stock clients cannot use it as an image-reference prefix
    /// (they put `/v2` first); put a [`crate::PrefixProxy`] in front, as S3's TLS proxy does.
    pub fn path_base(&self, repo: &str) -> String {
        format!("{}/repository/{repo}", self.main_addr())
    }

    /// `127.0.0.1:MAINPORT/<repo>`: the image-reference prefix for stock clients on the main port
    /// (`/v2/<repo>/<image>/...`), e.g. `docker push {by_name_host}/e2e/app:1`.
    pub fn by_name_host(&self, repo: &str) -> String {
        format!("{}/{repo}", self.main_addr())
    }

    /// The tempdir holding `trove.toml` and `data/`.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The configured `data_dir`.
    pub fn data_dir(&self) -> PathBuf {
        self.data.clone()
    }

    /// The full TOML the server was started with.
    pub fn config_toml(&self) -> &str {
        &self.config
    }

    /// Applies a new config without a restart (what SIGHUP does): `[server]` as at start, then
    /// `extra_toml` (nothing is prepended: pass [`OPEN_ACCESS`] yourself if you want it).
    pub async fn reload_secured(&mut self, extra_toml: &str) {
        let data = self.data.clone();
        let listen = self.main_addr();
        let config = format!(
            "[server]\nlisten = \"{listen}\"\ndata_dir = \"{}\"\n{SERVER_TEST_KEYS}\n{extra_toml}",
            data.display()
        );
        let parsed = trove_server::Config::from_toml_str(&config)
            .unwrap_or_else(|e| panic!("trove config rejected: {e:#}\n{config}"));
        self.running()
            .reload(&parsed)
            .await
            .unwrap_or_else(|e| panic!("reload failed: {e:#}\n{config}"));
        self.config = config;
    }

    /// Like [`TroveInstance::reload_secured`], returning the error instead of panicking.
    pub async fn try_reload(&self, toml: &str) -> anyhow::Result<()> {
        let data = self.data.clone();
        let config = format!(
            "[server]\nlisten = \"{}\"\ndata_dir = \"{}\"\n{SERVER_TEST_KEYS}\n{toml}",
            self.main_addr(),
            data.display()
        );
        self.running()
            .reload(&trove_server::Config::from_toml_str(&config)?)
            .await
    }

    /// Whether `repo` has no HTTP connector running.
    pub fn running_connector_absent(&self, repo: &str) -> bool {
        self.running().connector_addr(repo).is_none()
    }

    /// The HTTPS connector of `repo`, if it has one.
    pub fn connector_https_addr(&self, repo: &str) -> Option<SocketAddr> {
        self.running().connector_https_addr(repo)
    }

    /// Graceful stop (waits for in-flight requests), then removes the tempdir.
    pub async fn stop(mut self) {
        if let Some(r) = self.running.take() {
            r.stop().await;
        }
    }
}
