//! The contract every metadata backend must keep: each operation of [`MetadataStore`] that the
//! kinds (hosted, proxy, group), `trove-auth` and the service layer use, one suite per
//! sub-API. SQLite runs it now (`sqlite_tests.rs`); a PostgreSQL backend must pass the same
//! suite (docs/decisions/0011-metadata-backend-seam.md).
//!
//! Each suite leaves rows behind and uses its own names, so the suites can run one after the
//! other on one store, as [`metadata_store_conformance`] runs them. They only assume the store
//! was empty before the first one. Each panics on the first violation.

mod api_tokens;
mod assets;
mod audit;
mod lifecycle;
mod links;
mod repos;
mod rules;
mod security;
mod security_reconcile;
mod sessions;
mod uploads;

use serde_json::json;
use trove_core::{Algorithm, BlobInfo, KindConfig, NewAsset, RepoName, WritePolicy};

pub use api_tokens::api_tokens_conformance;
pub use assets::assets_conformance;
pub use audit::audit_conformance;
pub use lifecycle::{
    cascade_conformance, cleanup_policies_conformance, collect_conformance, gc_conformance,
    leases_conformance, link_conformance, tasks_conformance, usage_conformance,
};
pub use links::{links_conformance, options_conformance};
pub use repos::repos_conformance;
pub use rules::rules_conformance;
pub use security::{
    privileges_conformance, roles_conformance, settings_conformance, signing_keys_conformance,
    users_conformance,
};
pub use security_reconcile::{security_reconcile_conformance, security_snapshot_conformance};
pub use sessions::sessions_conformance;
pub use uploads::uploads_conformance;

use crate::{DeclaredRepo, MetadataStore, digest_of};

/// Runs every suite against `store`, which must start empty.
pub async fn metadata_store_conformance(store: &MetadataStore) {
    store_conformance(store).await;
    repos_conformance(store).await;
    options_conformance(store).await;
    links_conformance(store).await;
    assets_conformance(store).await;
    usage_conformance(store).await;
    link_conformance(store).await;
    gc_conformance(store).await;
    collect_conformance(store).await;
    cascade_conformance(store).await;
    leases_conformance(store).await;
    tasks_conformance(store).await;
    cleanup_policies_conformance(store).await;
    uploads_conformance(store).await;
    rules_conformance(store).await;
    sessions_conformance(store).await;
    users_conformance(store).await;
    roles_conformance(store).await;
    privileges_conformance(store).await;
    settings_conformance(store).await;
    signing_keys_conformance(store).await;
    security_snapshot_conformance(store).await;
    security_reconcile_conformance(store).await;
    api_tokens_conformance(store).await;
    audit_conformance(store).await;
}

/// The store itself: the change counter, the write probe.
pub async fn store_conformance(s: &MetadataStore) {
    let g = s.generation().await.unwrap();
    assert_eq!(s.bump_generation().await.unwrap(), g + 1);
    assert_eq!(s.bump_generation().await.unwrap(), g + 2);
    assert_eq!(s.generation().await.unwrap(), g + 2, "bumps are kept");
    s.probe_write().await.unwrap();
    assert_eq!(
        s.generation().await.unwrap(),
        g + 2,
        "the probe writes nothing"
    );
}

/// Two handles on one database, as two nodes have: what one writes the other reads, and they
/// agree on one signing key however they race for it.
pub async fn two_nodes_conformance(a: &MetadataStore, b: &MetadataStore) {
    let g = a.bump_generation().await.unwrap();
    assert_eq!(
        b.generation().await.unwrap(),
        g,
        "a bump is seen by every node"
    );
    a.repos()
        .create(&hosted("nodes-shared"), "ui")
        .await
        .unwrap();
    assert!(
        b.repos()
            .list()
            .await
            .unwrap()
            .iter()
            .any(|r| r.name.as_str() == "nodes-shared")
    );
    let race = |node: MetadataStore, byte: u8| {
        tokio::spawn(async move {
            node.security()
                .signing_key("nodes-token", &[byte; 64])
                .await
        })
    };
    let (ka, kb) = (race(a.clone(), 0xa), race(b.clone(), 0xb));
    let (ka, kb) = (ka.await.unwrap().unwrap(), kb.await.unwrap().unwrap());
    assert_eq!(ka, kb, "both nodes end with one key");
    let later = b
        .security()
        .signing_key("nodes-token", &[0xc; 64])
        .await
        .unwrap();
    assert_eq!(later, ka, "a later candidate changes nothing");
}

/// A hosted docker repository declared under `name`.
pub(crate) fn hosted(name: &str) -> DeclaredRepo {
    DeclaredRepo {
        name: RepoName::parse(name).unwrap(),
        format: "docker".into(),
        options: Default::default(),
        kind: KindConfig::Hosted {
            write_policy: WritePolicy::Allow,
        },
        force_basic_auth: false,
        routing_rule: None,
        connector: None,
        lifecycle: Default::default(),
    }
}

/// An asset over the (uncommitted, the store does not look) blob of `data`.
pub(crate) fn asset(data: &[u8]) -> NewAsset {
    NewAsset {
        blob: BlobInfo {
            digest: digest_of(Algorithm::Sha256, data),
            size: data.len() as u64,
        },
        content_type: Some("application/octet-stream".into()),
        attrs: json!({"k": 1}),
    }
}

/// The id of a repository created (by the console) for one suite.
pub(crate) async fn repo_id(s: &MetadataStore, name: &str) -> String {
    s.repos().create(&hosted(name), "ui").await.unwrap();
    s.repos()
        .list()
        .await
        .unwrap()
        .into_iter()
        .find(|r| r.name.as_str() == name)
        .unwrap()
        .id
}

pub(crate) fn strings(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}
