//! `audit()`: appends in order, reads with every filter and both orders, pages by `seq`,
//! prunes by age, and refuses any update of an entry.

use serde_json::json;
use trove_core::now_millis;

use crate::{AuditQuery, MetadataStore, NewAuditEntry};

fn entry(actor: &str, action: &str, kind: &str, name: &str) -> NewAuditEntry {
    NewAuditEntry {
        actor: actor.into(),
        realm: Some("basic".into()),
        token: None,
        ip: Some("192.0.2.7".into()),
        front_end: "rest".into(),
        action: action.into(),
        entity_type: kind.into(),
        entity_name: name.into(),
        before: None,
        after: Some(json!({"name": name})),
        detail: None,
    }
}

/// A read of up to 100 entries with the filters `f` sets.
fn q(f: impl FnOnce(&mut AuditQuery)) -> AuditQuery {
    let mut q = AuditQuery {
        limit: 100,
        ..Default::default()
    };
    f(&mut q);
    q
}

pub async fn audit_conformance(s: &MetadataStore) {
    let a = s.audit();
    let start = now_millis();
    assert_eq!(a.append(&[]).await.unwrap(), None);
    let mut second = entry("audit-bob", "update", "user", "audit-carol");
    second.before = Some(json!({"roles": []}));
    second.token = Some("ci".into());
    second.detail = Some("why".into());
    let last = a
        .append(&[
            entry("audit-alice", "create", "user", "audit-carol"),
            second,
            entry("audit-alice", "create", "repository", "audit-repo"),
        ])
        .await
        .unwrap()
        .unwrap();
    let all = a
        .query(&AuditQuery {
            since: Some(start),
            limit: 100,
            ..Default::default()
        })
        .await
        .unwrap();
    let mine: Vec<_> = all
        .iter()
        .filter(|e| e.actor.starts_with("audit-"))
        .collect();
    assert_eq!(mine.len(), 3);
    assert_eq!(mine[2].seq, last);
    assert!(
        mine[0].seq < mine[1].seq && mine[1].seq < mine[2].seq,
        "in order"
    );
    assert_eq!(mine[1].before, Some(json!({"roles": []})));
    assert_eq!(mine[1].after, Some(json!({"name": "audit-carol"})));
    assert_eq!(mine[1].token.as_deref(), Some("ci"));
    assert_eq!(mine[1].detail.as_deref(), Some("why"));
    assert_eq!(mine[1].ip.as_deref(), Some("192.0.2.7"));
    assert_eq!(mine[1].realm.as_deref(), Some("basic"));
    assert_eq!(mine[1].front_end, "rest");
    assert!(mine[0].at >= start);

    let by_actor = a
        .query(&q(|q| q.actor = Some("audit-alice".into())))
        .await
        .unwrap();
    assert_eq!(by_actor.len(), 2);
    let by_type = a
        .query(&q(|q| q.entity_type = Some("repository".into())))
        .await
        .unwrap();
    assert!(by_type.iter().all(|e| e.entity_type == "repository"));
    assert!(by_type.iter().any(|e| e.entity_name == "audit-repo"));
    let by_name = a
        .query(&q(|q| {
            q.entity_type = Some("user".into());
            q.entity_name = Some("audit-carol".into());
        }))
        .await
        .unwrap();
    assert_eq!(by_name.len(), 2);
    let future = a
        .query(&q(|q| q.since = Some(now_millis() + 60_000)))
        .await
        .unwrap();
    assert!(future.is_empty());
    let past = a.query(&q(|q| q.until = Some(start))).await.unwrap();
    assert!(past.iter().all(|e| e.at < start));

    // Pages: oldest first after a cursor, newest first before one.
    let first = a
        .query(&AuditQuery {
            actor: Some("audit-alice".into()),
            limit: 1,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(first.len(), 1);
    assert_eq!(first[0].entity_type, "user");
    let next = a
        .query(&AuditQuery {
            actor: Some("audit-alice".into()),
            after: Some(first[0].seq),
            limit: 1,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(next[0].entity_type, "repository");
    let newest = a
        .query(&AuditQuery {
            actor: Some("audit-alice".into()),
            limit: 10,
            newest_first: true,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(newest[0].entity_type, "repository");
    let older = a
        .query(&AuditQuery {
            actor: Some("audit-alice".into()),
            after: Some(newest[0].seq),
            limit: 10,
            newest_first: true,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(older.len(), 1);
    assert_eq!(older[0].entity_type, "user");

    // Append-only: the store has no update, and the database refuses one.
    assert!(
        a.rewrite_refused_for_tests().await,
        "an UPDATE of an entry is refused"
    );

    // Retention removes by age only.
    assert_eq!(a.prune(start).await.unwrap(), 0, "nothing before the start");
    assert!(a.prune(now_millis() + 1).await.unwrap() >= 3);
    assert!(
        a.query(&q(|q| q.actor = Some("audit-alice".into())))
            .await
            .unwrap()
            .is_empty()
    );
}
