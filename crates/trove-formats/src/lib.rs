//! Wire protocols of Trove, one module per format, each behind a cargo feature (`docker`:
//! OCI distribution spec 1.1 and the Docker registry API; `raw`: plain files; `npm`: the npm registry API; `pypi`: the Python
//! simple repository API and twine's uploads; `maven`: the Maven 2 repository layout; `cargo`: sparse cargo registries), on the
//! format-neutral plumbing of [`kit`] and registered in [`registry`]. What the console and
//! the REST API show of a repository's content is each format's [`browse::Browse`].
//!
//! A format module owns its HTTP surface (actix), its error table and its `FormatSpec`. It
//! reaches repositories only through `trove_core::RepoLookup` and `Repository`, so it must
//! never depend on the hosted, proxy or group crates, nor on the server that wires them.

pub mod browse;
pub mod kit;
mod option_fields;
pub mod patterns;
pub mod registry;

#[cfg(feature = "cargo")]
pub mod cargo;
#[cfg(feature = "docker")]
pub mod docker;
#[cfg(feature = "maven")]
pub mod maven;
#[cfg(feature = "npm")]
pub mod npm;
#[cfg(feature = "pypi")]
pub mod pypi;
#[cfg(feature = "raw")]
pub mod raw;

pub use option_fields::{OptionField, OptionInput};
pub use registry::{ConnectorRepo, Format, FormatInfo, FormatRegistry, RepoRequest, registry};
