//! Wire protocols of Trove, one module per format, each behind a cargo feature: `docker` (OCI
//! distribution spec 1.1 and the Docker registry API) now; raw, npm, pypi, maven later.
//!
//! A format module owns its HTTP surface (actix) and its `FormatSpec`. It reaches repositories
//! only through `trove_core::RepoLookup` and `Repository`, so it must never depend on the
//! hosted, proxy or group crates, nor on the server that wires them.

#[cfg(feature = "docker")]
pub mod docker;
