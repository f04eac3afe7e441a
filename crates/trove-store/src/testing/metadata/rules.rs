//! `rules()`: routing rules as rows, declared or created in the console.

use trove_core::ErrorKind;

use super::hosted;
use crate::{MetadataStore, RuleRow};

fn rule(name: &str, mode: &str, managed_by: &str) -> RuleRow {
    RuleRow {
        name: name.into(),
        description: format!("{name} rule"),
        mode: mode.into(),
        matchers: vec!["^/v2/library/.*".into(), "^/v2/(a|b)/.*".into()],
        managed_by: managed_by.into(),
    }
}

/// Reconcile (idempotent, removes stale config rules only when asked, hands a rule still in
/// use to the console), create, update, delete, ownership, and the refusal to delete a rule
/// a repository uses.
pub async fn rules_conformance(s: &MetadataStore) {
    let rules = s.rules();
    let declared = || {
        [
            rule("rules-a", "allow", "config"),
            rule("rules-b", "block", "config"),
        ]
    };
    assert!(rules.reconcile(&declared(), true).await.unwrap(), "created");
    assert!(
        !rules.reconcile(&declared(), true).await.unwrap(),
        "idempotent"
    );
    let listed = rules.list().await.unwrap();
    let a = listed.iter().find(|r| r.name == "rules-a").unwrap();
    assert_eq!(a, &rule("rules-a", "allow", "config"), "stored as given");
    let names: Vec<&str> = listed.iter().map(|r| r.name.as_str()).collect();
    let mut sorted = names.clone();
    sorted.sort();
    assert_eq!(names, sorted, "listed by name");

    let mut changed = rule("rules-a", "block", "config");
    changed.matchers = vec!["^/v2/other/.*".into()];
    assert!(
        rules
            .reconcile(&[changed.clone(), rule("rules-b", "block", "config")], true)
            .await
            .unwrap()
    );
    assert!(rules.list().await.unwrap().contains(&changed));

    rules.create(&rule("rules-c", "allow", "ui")).await.unwrap();
    assert_eq!(
        rules
            .create(&rule("rules-c", "allow", "ui"))
            .await
            .unwrap_err()
            .kind,
        ErrorKind::AlreadyExists
    );
    let mut c = rule("rules-c", "block", "ui");
    c.description = "edited".into();
    rules.update(&c).await.unwrap();
    assert!(rules.list().await.unwrap().contains(&c));
    assert_eq!(
        rules
            .update(&rule("rules-a", "allow", "ui"))
            .await
            .unwrap_err()
            .kind,
        ErrorKind::Forbidden,
        "a declared rule is edited in trove.toml"
    );
    assert_eq!(
        rules
            .update(&rule("rules-ghost", "allow", "ui"))
            .await
            .unwrap_err()
            .kind,
        ErrorKind::NotFound
    );
    assert_eq!(
        rules.delete("rules-a", "ui").await.unwrap_err().kind,
        ErrorKind::Forbidden
    );

    // rules-b is attached to a repository; then both leave the file.
    let mut repo = hosted("rules-guarded");
    repo.routing_rule = Some("rules-b".into());
    s.repos().create(&repo, "ui").await.unwrap();
    rules.delete("rules-c", "ui").await.unwrap();
    assert_eq!(
        rules.delete("rules-c", "ui").await.unwrap_err().kind,
        ErrorKind::NotFound
    );
    assert!(
        !rules.reconcile(&[], false).await.unwrap(),
        "without remove_stale a rule left out of the file stays"
    );
    let ours = |list: Vec<RuleRow>| {
        list.into_iter()
            .filter(|r| r.name.starts_with("rules-"))
            .map(|r| (r.name, r.managed_by))
            .collect::<Vec<_>>()
    };
    assert_eq!(
        ours(rules.list().await.unwrap()).len(),
        2,
        "nothing removed before repositories are reconciled"
    );
    assert!(rules.reconcile(&[], true).await.unwrap());
    assert_eq!(
        ours(rules.list().await.unwrap()),
        [("rules-b".to_owned(), "ui".to_owned())],
        "the rule still in use is handed to the console, the other deleted"
    );
    let e = rules.delete("rules-b", "ui").await.unwrap_err();
    assert_eq!(e.kind, ErrorKind::Invalid);
    assert!(e.msg.contains("rules-guarded"), "{}", e.msg);
    s.repos().delete("rules-guarded", "ui").await.unwrap();
    rules.delete("rules-b", "ui").await.unwrap();
    assert!(ours(rules.list().await.unwrap()).is_empty());
}
