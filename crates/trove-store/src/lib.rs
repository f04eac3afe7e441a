//! Storage for Trove: the metadata store (`MetadataStore`, the only place in the workspace
//! that writes SQL), the content-addressed blob stores (`FsBlobStore`, and `MemBlobStore` for
//! tests), and the modes of the files they keep ([`files`]: the user's alone).
//!
//! The metadata store is split by sub-API (`repos`, `assets`, `uploads`, `rules`, `sessions`,
//! `security/*`, `api_tokens`, `audit`) over one backend module, `sqlite`, which alone knows SQLite's pragmas,
//! transaction syntax, error codes and dialect; its public API exposes no sqlx types, so a
//! PostgreSQL backend can arrive behind the same API (docs/decisions/0011). Both kinds of store
//! have a contract suite in [`testing`] that every backend must pass.
//!
//! What a name may be, how roles may nest and what a privilege means are `trove-auth`'s; the
//! store keeps its tables consistent (unique names, references that exist, an acyclic role
//! graph) and, for now, the reconcile rules of rows declared in trove.toml. It must never
//! depend on HTTP frameworks, on `trove-auth`, or on any format or repository kind.

mod api_tokens;
mod assets;
mod audit;
mod cleanup;
pub mod files;
mod fs_blobs;
mod gc;
mod leases;
mod links;
mod mem_blobs;
mod meta;
mod repos;
mod rules;
pub mod security;
mod sessions;
mod sign_in_flows;
mod sqlite;
mod tasks;
mod uploads;

#[cfg(any(test, feature = "testing"))]
pub mod testing;

pub use api_tokens::{ApiTokenRow, ApiTokens, NewApiToken};
pub use assets::{Assets, Link, PutOutcome, Quota, RemovalPreview, Removed, RepoUsage};
pub use audit::{Audit, AuditEntry, AuditQuery, MAX_PAGE as AUDIT_MAX_PAGE, NewAuditEntry};
pub use cleanup::{Cleanup, PolicyRow};
pub use fs_blobs::FsBlobStore;
pub use gc::{Candidate, Collected, Gc, Retention};
pub use leases::{LeaseRow, Leases};
pub use links::{Links, StoredLink};
pub use mem_blobs::MemBlobStore;
pub use meta::MetadataStore;
pub use repos::{DeclaredRepo, ReconcileReport, RepoRecord, Repos};
pub use rules::{RuleRow, Rules};
pub use security::{
    ANONYMOUS_USER, DeclaredSecurity, DeclaredUser, KEY_ANONYMOUS, KEY_REALMS, PrivilegeDef,
    PrivilegeKind, PrivilegeRecord, RoleDef, RoleRecord, SIGNING_KEY_FILE, Security,
    SecurityReport, SecuritySnapshot, UserGrants, UserRow, UserStatus,
};
pub use security::{KEY_LDAP, KEY_OIDC};
pub use sessions::{SessionRow, Sessions};
pub use sign_in_flows::{SignInFlow, SignInFlows};
pub use tasks::{RunEnd, TaskRun, Tasks};
pub use uploads::{UploadRow, Uploads};

use trove_core::{Algorithm, Digest};

/// Hashes `data` with `algo` into a `Digest` (kept for callers; `Digest::of` is the one).
pub fn digest_of(algo: Algorithm, data: &[u8]) -> Digest {
    Digest::of(algo, data)
}
