//! `repos()`: the declared repositories reconciled, the console's created, updated and deleted.

use trove_core::{ConnectorSpec, ErrorKind, KindConfig, WritePolicy};

use super::hosted;
use crate::{MetadataStore, ReconcileReport};

/// Reconcile (idempotent, disables what is no longer declared, re-enables, refuses a change
/// of format or kind), stable ids, and the console's rows next to the declared ones.
pub async fn repos_conformance(s: &MetadataStore) {
    let declared = || [hosted("cfg-a"), hosted("cfg-b")];
    let r = s.repos().reconcile(&declared()).await.unwrap();
    assert_eq!(r.created, ["cfg-a", "cfg-b"]);
    let ids = |list: &[trove_core::RepositoryConfig]| {
        list.iter()
            .filter(|r| r.name.as_str().starts_with("cfg-"))
            .map(|r| (r.name.to_string(), r.id.clone(), r.online))
            .collect::<Vec<_>>()
    };
    let before = ids(&s.repos().list().await.unwrap());
    assert_eq!(
        s.repos().reconcile(&declared()).await.unwrap(),
        ReconcileReport::default(),
        "idempotent"
    );
    let r = s.repos().reconcile(&[hosted("cfg-a")]).await.unwrap();
    assert_eq!(r.disabled, ["cfg-b"], "disabled, not deleted");
    let after = ids(&s.repos().list().await.unwrap());
    assert_eq!(
        after
            .iter()
            .map(|(n, _, on)| (n.as_str(), *on))
            .collect::<Vec<_>>(),
        [("cfg-a", true), ("cfg-b", false)]
    );
    assert_eq!(
        after.iter().map(|(_, id, _)| id).collect::<Vec<_>>(),
        before.iter().map(|(_, id, _)| id).collect::<Vec<_>>(),
        "ids are stable"
    );
    let r = s.repos().reconcile(&declared()).await.unwrap();
    assert_eq!(r.updated, ["cfg-b"], "re-declaring re-enables");
    let mut once = hosted("cfg-a");
    once.kind = KindConfig::Hosted {
        write_policy: WritePolicy::AllowOnce,
    };
    let r = s.repos().reconcile(&[once, hosted("cfg-b")]).await.unwrap();
    assert_eq!(r.updated, ["cfg-a"]);
    let a = s.repos().list().await.unwrap();
    let a = a.iter().find(|r| r.name.as_str() == "cfg-a").unwrap();
    assert_eq!(
        a.kind,
        KindConfig::Hosted {
            write_policy: WritePolicy::AllowOnce
        },
        "the new settings are stored"
    );
    let mut other = hosted("cfg-a");
    other.format = "raw".into();
    let e = s.repos().reconcile(&[other]).await.unwrap_err();
    assert_eq!(e.kind, ErrorKind::Invalid);
    assert!(
        s.repos()
            .list()
            .await
            .unwrap()
            .iter()
            .any(|r| r.name.as_str() == "cfg-b" && r.online),
        "a refused reconcile changes nothing"
    );

    // The console's repositories, beside the declared ones.
    let mut ui = hosted("ui-mine");
    ui.connector = Some(ConnectorSpec {
        http: Some(5000),
        ..Default::default()
    });
    s.repos().create(&ui, "ui").await.unwrap();
    let dup = s.repos().create(&ui, "ui").await.unwrap_err();
    assert_eq!(dup.kind, ErrorKind::AlreadyExists);
    let records = s.repos().records().await.unwrap();
    let mine = records
        .iter()
        .find(|r| r.config.name.as_str() == "ui-mine")
        .unwrap();
    assert_eq!(mine.managed_by, "ui");
    assert_eq!(mine.connector.as_ref().unwrap().http, Some(5000));
    assert!(mine.created > 0 && mine.updated >= mine.created);
    assert_eq!(
        records
            .iter()
            .find(|r| r.config.name.as_str() == "cfg-a")
            .unwrap()
            .managed_by,
        "config"
    );

    ui.connector = None;
    ui.force_basic_auth = true;
    ui.routing_rule = Some("any-rule".into());
    s.repos().update(&ui, "ui").await.unwrap();
    let records = s.repos().records().await.unwrap();
    let mine = records
        .iter()
        .find(|r| r.config.name.as_str() == "ui-mine")
        .unwrap();
    assert!(mine.connector.is_none());
    assert!(mine.config.force_basic_auth);
    assert_eq!(mine.config.routing_rule.as_deref(), Some("any-rule"));
    let mut raw = ui.clone();
    raw.format = "raw".into();
    assert_eq!(
        s.repos().update(&raw, "ui").await.unwrap_err().kind,
        ErrorKind::Invalid,
        "format and kind cannot change"
    );
    assert_eq!(
        s.repos()
            .update(&hosted("ui-ghost"), "ui")
            .await
            .unwrap_err()
            .kind,
        ErrorKind::NotFound
    );

    let e = s.repos().update(&hosted("cfg-a"), "ui").await.unwrap_err();
    assert_eq!(e.kind, ErrorKind::Forbidden);
    assert!(e.msg.contains("defined in trove.toml"), "{}", e.msg);
    let e = s.repos().delete("cfg-a", "ui").await.unwrap_err();
    assert_eq!(e.kind, ErrorKind::Forbidden);
    // A console repository survives a reconcile that does not mention it.
    s.repos().reconcile(&declared()).await.unwrap();
    assert!(
        s.repos()
            .records()
            .await
            .unwrap()
            .iter()
            .any(|r| r.config.name.as_str() == "ui-mine" && r.config.online)
    );
    s.repos().delete("ui-mine", "ui").await.unwrap();
    assert_eq!(
        s.repos().delete("ui-mine", "ui").await.unwrap_err().kind,
        ErrorKind::NotFound
    );
    assert!(
        !s.repos()
            .list()
            .await
            .unwrap()
            .iter()
            .any(|r| r.name.as_str() == "ui-mine")
    );
}
