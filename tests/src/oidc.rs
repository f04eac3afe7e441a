//! A real OpenID Connect provider for the console's single sign-on test: `oidc-provider-mock`
//! (PyPI; discovery, JWKS, the authorization code flow, RS256 ID tokens) on a free loopback
//! port. scripts/test installs it into `$TROVE_TEST_TOOLS/oidc-provider-mock` with pip; the
//! test fails (never skips) when it is missing. Dropping it stops the provider.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use tempfile::TempDir;

use crate::util::{describe, poll_until, tail_file};

/// Where scripts/test puts the package (`pip install --target`).
pub fn install_dir() -> PathBuf {
    crate::util::tools_dir().join("oidc-provider-mock")
}

/// A running provider.
pub struct OidcProvider {
    child: Option<Child>,
    port: u16,
    dir: TempDir,
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

impl OidcProvider {
    /// Starts the provider with predefined users, each `(sub, claims as JSON)`; the sign-in
    /// page then offers a button per user.
    pub fn start(users: &[serde_json::Value]) -> OidcProvider {
        let lib = install_dir();
        assert!(
            lib.join("oidc_provider_mock").is_dir(),
            "oidc-provider-mock is missing in {}: run scripts/test, or \
             python3 -m pip install --isolated --target {} oidc-provider-mock==0.3.4",
            lib.display(),
            lib.display()
        );
        let dir = tempfile::Builder::new()
            .prefix("oidc.")
            .tempdir_in("/tmp")
            .expect("oidc dir");
        let port = free_port();
        let mut cmd = Command::new("python3");
        cmd.args(["-m", "oidc_provider_mock", "-H", "127.0.0.1", "-p"])
            .arg(port.to_string())
            .args(["--require-nonce", "true"]);
        for u in users {
            cmd.arg("--user-claims").arg(u.to_string());
        }
        cmd.env("PYTHONPATH", &lib)
            .env("PYTHONDONTWRITEBYTECODE", "1")
            .stdin(Stdio::null())
            .stdout(Stdio::from(
                std::fs::File::create(dir.path().join("oidc.log")).expect("log"),
            ))
            .stderr(Stdio::from(
                std::fs::File::create(dir.path().join("oidc.err")).expect("log"),
            ));
        eprintln!("[e2e] starting `{}`", describe(&cmd));
        let child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start the OIDC provider: {e}"));
        let provider = OidcProvider {
            child: Some(child),
            port,
            dir,
        };
        let up = poll_until(Duration::from_secs(30), || {
            std::net::TcpStream::connect(("127.0.0.1", port)).ok()
        });
        assert!(
            up.is_some(),
            "the OIDC provider did not listen on {port}:\n{}",
            provider.log_tail(30)
        );
        provider
    }

    /// The issuer URL (`http://127.0.0.1:PORT`), as its discovery document names it.
    pub fn issuer(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub fn log_tail(&self, n: usize) -> String {
        format!(
            "{}\n{}",
            tail_file(&self.dir.path().join("oidc.err"), n),
            tail_file(&self.dir.path().join("oidc.log"), n)
        )
    }
}

impl Drop for OidcProvider {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}
