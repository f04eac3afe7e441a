//! Storage for Trove: the SQLite metadata store (`MetadataStore`, the only place in the
//! workspace that writes SQL) and the content-addressed blob stores (`FsBlobStore`, and
//! `MemBlobStore` for tests), which share one conformance suite in [`testing`].
//!
//! Its public API exposes no sqlx types, so a PostgreSQL backend can arrive behind the same API.
//! It must never depend on HTTP frameworks or on any format or repository kind.

mod fs_blobs;
mod links;
mod mem_blobs;
mod meta;
mod rules;
pub mod security;
mod sessions;

#[cfg(any(test, feature = "testing"))]
pub mod testing;

pub use fs_blobs::FsBlobStore;
pub use links::Links;
pub use mem_blobs::MemBlobStore;
pub use meta::{
    DeclaredRepo, MetadataStore, PutOutcome, ReconcileReport, RepoRecord, RepoUsage, UploadRow,
    UserRow,
};
pub use rules::{RuleRow, Rules};
pub use security::{
    ANONYMOUS_USER, DeclaredSecurity, DeclaredUser, KEY_ANONYMOUS, KEY_REALMS, PrivilegeDef,
    PrivilegeKind, PrivilegeRecord, RoleDef, RoleRecord, Security, SecurityReport,
    SecuritySnapshot, UserGrants, UserStatus,
};
pub use sessions::{SessionRow, Sessions};

use trove_core::{Algorithm, Digest};

/// Hashes `data` with `algo` into a `Digest` (kept for callers; `Digest::of` is the one).
pub fn digest_of(algo: Algorithm, data: &[u8]) -> Digest {
    Digest::of(algo, data)
}
