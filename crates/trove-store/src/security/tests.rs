//! What the store still decides itself about names and cycles (the rest of the security
//! contract is `testing::metadata`).

use std::collections::{BTreeMap, BTreeSet};

use trove_core::ErrorKind;

use super::roles::find_cycle;
use super::*;
use crate::MetadataStore;

async fn store() -> (tempfile::TempDir, MetadataStore) {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("t.db").display());
    (dir, MetadataStore::open(&url).await.unwrap())
}

fn role(name: &str, roles: &[&str]) -> RoleDef {
    RoleDef {
        name: name.into(),
        description: String::new(),
        privileges: vec![],
        roles: roles.iter().map(|s| s.to_string()).collect(),
    }
}

#[tokio::test]
async fn bad_names_are_refused() {
    let (_d, s) = store().await;
    let sec = s.security();
    for bad in ["bad:name", "a b", "", ".dot", "-dash"] {
        let e = sec.create_user(bad, None, "ui").await.unwrap_err();
        assert_eq!(e.kind, ErrorKind::Invalid, "{bad:?}");
    }
    let decl = DeclaredSecurity {
        users: vec![DeclaredUser {
            name: "a b".into(),
            password_hash: None,
            roles: vec![],
        }],
        ..Default::default()
    };
    let e = sec.reconcile(&decl).await.unwrap_err();
    assert!(e.msg.contains("invalid user name"), "{}", e.msg);
}

#[tokio::test]
async fn role_cycles_are_named() {
    let (_d, s) = store().await;
    let sec = s.security();
    sec.upsert_role(&role("a", &[]), "ui").await.unwrap();
    sec.upsert_role(&role("b", &["a"]), "ui").await.unwrap();
    sec.upsert_role(&role("c", &["b"]), "ui").await.unwrap();
    let err = sec.upsert_role(&role("a", &["c"]), "ui").await.unwrap_err();
    assert!(err.msg.contains("role cycle: a → c → b → a"), "{}", err.msg);
    let err = sec.upsert_role(&role("a", &["a"]), "ui").await.unwrap_err();
    assert!(err.msg.contains("a → a"), "{}", err.msg);
    let decl = DeclaredSecurity {
        roles: vec![role("x", &["z"]), role("y", &["x"]), role("z", &["y"])],
        ..Default::default()
    };
    let err = s.security().reconcile(&decl).await.unwrap_err();
    assert!(err.msg.contains("role cycle: x → z → y → x"), "{}", err.msg);
}

#[test]
fn cycle_finder() {
    let mut g: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    g.entry("a".into()).or_default().insert("b".into());
    g.entry("b".into()).or_default().insert("c".into());
    assert_eq!(find_cycle(&g), None);
    g.entry("c".into()).or_default().insert("b".into());
    assert_eq!(find_cycle(&g).unwrap(), ["b", "c", "b"]);
}
