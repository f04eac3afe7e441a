//! Support library of the end-to-end tests (`trove-tests`): it starts Trove in-process, a private
//! `dockerd`, a throwaway `docker-registry`, wraps `skopeo` and `podman` with the flags that work
//! against a plain-HTTP loopback registry, drives a headless Chromium through chromedriver (the
//! console's browser test), and generates images offline and deterministically.
//!
//! Everything here is test-only: this crate must never be a dependency of a server crate.
//!
//! The helpers are synchronous (they run CLI tools and wait for them). Tests run on a tokio
//! multi-thread runtime because Trove runs in-process, so the blocking parts go through
//! [`blocking`], which keeps the runtime's workers free for the server.

pub mod browser;
pub mod cargo;
pub mod dockerd;
pub mod faults;
pub mod flows;
pub mod images;
pub mod ldap;
pub mod maven;
pub mod nginx;
pub mod npm;
pub mod oidc;
pub mod proxy;
pub mod pullthrough;
pub mod pypi;
pub mod tools;
pub mod trove;
pub mod upstream;
pub mod util;

pub use browser::Browser;
pub use dockerd::Dockerd;
pub use faults::{Fault, FaultProxy};
pub use images::{DockerArchive, ImageSpec, OciLayout, PlatformImage};
pub use nginx::{Nginx, TlsProxy};
pub use proxy::PrefixProxy;
pub use tools::{Podman, Skopeo};
pub use trove::TroveInstance;
pub use upstream::Upstream;
pub use util::{blocking, sha256_digest};
