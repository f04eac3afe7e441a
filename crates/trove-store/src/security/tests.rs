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

fn privilege(format: &str, repo: &str, actions: &str) -> PrivilegeDef {
    PrivilegeDef {
        name: format!("nx-repository-view-{format}-{repo}-{actions}"),
        kind: PrivilegeKind::RepositoryView,
        format: format.into(),
        repo: repo.into(),
        actions: actions.into(),
        description: String::new(),
    }
}

fn role(name: &str, privileges: Vec<PrivilegeDef>, roles: &[&str]) -> RoleDef {
    RoleDef {
        name: name.into(),
        description: format!("{name} role"),
        privileges,
        roles: roles.iter().map(|s| s.to_string()).collect(),
    }
}

fn user(name: &str, hash: Option<&str>, roles: &[&str]) -> DeclaredUser {
    DeclaredUser {
        name: name.into(),
        password_hash: hash.map(str::to_owned),
        roles: roles.iter().map(|s| s.to_string()).collect(),
    }
}

fn strings(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

#[tokio::test]
async fn users_roles_and_privileges_crud() {
    let (_d, s) = store().await;
    let sec = s.security();
    let u = sec
        .create_user("alice", Some("$argon2id$a"), "ui")
        .await
        .unwrap();
    assert_eq!((u.name.as_str(), u.status.as_str()), ("alice", "active"));
    assert!(!format!("{u:?}").contains("argon2"));
    assert_eq!(
        sec.create_user("alice", None, "ui").await.unwrap_err().kind,
        ErrorKind::AlreadyExists
    );
    assert_eq!(
        sec.create_user("bad:name", None, "ui")
            .await
            .unwrap_err()
            .kind,
        ErrorKind::Invalid
    );
    assert!(sec.ensure_user(ANONYMOUS_USER, "builtin").await.unwrap());
    assert!(!sec.ensure_user(ANONYMOUS_USER, "builtin").await.unwrap());
    assert_eq!(sec.count_users(true).await.unwrap(), 2);
    assert_eq!(sec.count_users(false).await.unwrap(), 1);
    assert!(
        sec.set_password(ANONYMOUS_USER, "$argon2id$x", false)
            .await
            .is_err()
    );

    sec.set_password("alice", "$argon2id$b", false)
        .await
        .unwrap();
    let u = sec.user("alice").await.unwrap().unwrap();
    assert_eq!(u.password_hash.as_deref(), Some("$argon2id$b"));
    assert_eq!(sec.user_by_id(&u.id).await.unwrap().unwrap().name, "alice");
    sec.set_user_status("alice", UserStatus::Disabled)
        .await
        .unwrap();
    assert_eq!(sec.user("alice").await.unwrap().unwrap().status, "disabled");
    assert_eq!(
        sec.set_user_status("nobody", UserStatus::Active)
            .await
            .unwrap_err()
            .kind,
        ErrorKind::NotFound
    );

    let read = privilege("docker", "*", "browse,read");
    assert!(
        sec.upsert_role(&role("readers", vec![read.clone()], &[]), "ui")
            .await
            .unwrap()
    );
    assert!(
        !sec.upsert_role(&role("readers", vec![read.clone()], &[]), "ui")
            .await
            .unwrap()
    );
    sec.upsert_role(&role("devs", vec![], &["readers"]), "ui")
        .await
        .unwrap();
    let devs = sec.role("devs").await.unwrap().unwrap();
    assert_eq!(devs.roles, ["readers"]);
    assert_eq!(
        sec.role("readers").await.unwrap().unwrap().privileges,
        std::slice::from_ref(&read)
    );
    assert_eq!(
        sec.list_privileges().await.unwrap(),
        std::slice::from_ref(&read)
    );
    // A generated name reused for another grant is refused.
    let mut clash = privilege("docker", "*", "delete");
    clash.name = read.name.clone();
    assert!(sec.upsert_privilege(&clash, "ui").await.is_err());

    // Unknown roles are refused and change nothing.
    let err = sec
        .set_user_roles("alice", &strings(&["devs", "ghost"]))
        .await
        .unwrap_err();
    assert!(err.msg.contains("ghost"), "{err}");
    assert!(sec.user_roles("alice").await.unwrap().is_empty());
    sec.set_user_roles("alice", &strings(&["devs"]))
        .await
        .unwrap();
    assert!(sec.grant_role("alice", "readers").await.unwrap());
    assert!(!sec.grant_role("alice", "readers").await.unwrap());
    assert_eq!(sec.user_roles("alice").await.unwrap(), ["devs", "readers"]);

    assert!(sec.delete_role("readers").await.unwrap());
    assert!(sec.role("devs").await.unwrap().unwrap().roles.is_empty());
    assert_eq!(sec.user_roles("alice").await.unwrap(), ["devs"]);

    // ensure_role never overwrites.
    let created = sec
        .ensure_role(&role("devs", vec![read.clone()], &[]), "builtin")
        .await
        .unwrap();
    assert!(!created);
    assert!(
        sec.role("devs")
            .await
            .unwrap()
            .unwrap()
            .privileges
            .is_empty()
    );
}

#[tokio::test]
async fn role_cycles_are_refused_and_named() {
    let (_d, s) = store().await;
    let sec = s.security();
    sec.upsert_role(&role("a", vec![], &[]), "ui")
        .await
        .unwrap();
    sec.upsert_role(&role("b", vec![], &["a"]), "ui")
        .await
        .unwrap();
    sec.upsert_role(&role("c", vec![], &["b"]), "ui")
        .await
        .unwrap();
    let err = sec
        .upsert_role(&role("a", vec![], &["c"]), "ui")
        .await
        .unwrap_err();
    assert_eq!(err.kind, ErrorKind::Invalid);
    assert!(err.msg.contains("role cycle: a → c → b → a"), "{}", err.msg);
    assert!(
        sec.role("a").await.unwrap().unwrap().roles.is_empty(),
        "rolled back"
    );
    let err = sec
        .upsert_role(&role("a", vec![], &["a"]), "ui")
        .await
        .unwrap_err();
    assert!(err.msg.contains("a → a"), "{}", err.msg);

    // The same through the declarative path, with roles declared in any order.
    let decl = DeclaredSecurity {
        roles: vec![
            role("x", vec![], &["z"]),
            role("y", vec![], &["x"]),
            role("z", vec![], &["y"]),
        ],
        ..Default::default()
    };
    let err = s.security().reconcile(&decl).await.unwrap_err();
    assert!(err.msg.contains("role cycle: x → z → y → x"), "{}", err.msg);
    assert!(sec.role("x").await.unwrap().is_none(), "nothing applied");
}

#[tokio::test]
async fn reconcile_is_idempotent_and_removes() {
    let (_d, s) = store().await;
    let sec = s.security();
    sec.ensure_user(ANONYMOUS_USER, "builtin").await.unwrap();
    sec.create_user("ui-user", None, "ui").await.unwrap();
    let read = privilege("docker", "*", "browse,read");
    let push = privilege("docker", "docker-hosted", "add,edit,read");
    let decl = DeclaredSecurity {
        anonymous_enabled: Some(true),
        realms: Some(strings(&["basic", "docker-token"])),
        users: vec![
            user("bob", Some("$argon2id$bob"), &["devs"]),
            user("carol", None, &[]),
            user(ANONYMOUS_USER, None, &["pull"]),
        ],
        // `devs` nests `pull`, declared after it.
        roles: vec![
            role("devs", vec![push.clone()], &["pull"]),
            role("pull", vec![read], &[]),
        ],
    };
    let r = sec.reconcile(&decl).await.unwrap();
    assert_eq!(r.users_created, ["bob", "carol"]);
    assert_eq!(r.users_updated, [ANONYMOUS_USER]);
    assert_eq!(r.roles_created, ["devs", "pull"]);
    assert_eq!(r.settings_changed, ["anonymous_enabled", "realms"]);
    let again = sec.reconcile(&decl).await.unwrap();
    assert!(again.is_empty(), "{again:?}");
    assert!(sec.anonymous_enabled().await.unwrap());
    assert_eq!(
        sec.realms().await.unwrap().unwrap(),
        ["basic", "docker-token"]
    );
    assert_eq!(
        sec.user("carol").await.unwrap().unwrap().password_hash,
        None
    );

    let snap = sec.snapshot().await.unwrap();
    assert!(snap.anonymous_enabled);
    let bob = snap.users.iter().find(|u| u.name == "bob").unwrap();
    assert_eq!(
        (bob.status, bob.roles.clone()),
        (UserStatus::Active, strings(&["devs"]))
    );
    let devs = snap.roles.iter().find(|r| r.name == "devs").unwrap();
    assert_eq!(
        (devs.roles.clone(), devs.privileges.clone()),
        (strings(&["pull"]), vec![push])
    );

    // A password set outside the config survives a declaration without one.
    sec.set_password("carol", "$argon2id$carol", false)
        .await
        .unwrap();
    assert!(sec.reconcile(&decl).await.unwrap().is_empty());
    assert!(
        sec.user("carol")
            .await
            .unwrap()
            .unwrap()
            .password_hash
            .is_some()
    );

    // Drop bob, the anonymous user and role `pull`: bob is disabled (not deleted), the
    // anonymous user goes back to no roles, `pull` is deleted; `devs` may no longer nest it.
    let bad = DeclaredSecurity {
        users: vec![user("carol", None, &["devs"])],
        roles: vec![role("devs", vec![], &["pull"])],
        ..Default::default()
    };
    let err = sec.reconcile(&bad).await.unwrap_err();
    assert!(
        err.msg
            .contains("role devs refers to role pull, which does not exist"),
        "{err}"
    );
    // Same with devs otherwise unchanged: still refused, not silently cut off from `pull`.
    let unchanged_devs = DeclaredSecurity {
        users: vec![user("carol", None, &[])],
        roles: vec![role(
            "devs",
            vec![privilege("docker", "docker-hosted", "add,edit,read")],
            &["pull"],
        )],
        ..Default::default()
    };
    let err = sec.reconcile(&unchanged_devs).await.unwrap_err();
    assert!(
        err.msg
            .contains("role devs refers to role pull, which does not exist"),
        "{err}"
    );
    assert_eq!(
        sec.role("devs").await.unwrap().unwrap().roles,
        ["pull"],
        "rolled back"
    );
    let smaller = DeclaredSecurity {
        users: vec![user("carol", None, &["devs"])],
        roles: vec![role("devs", vec![], &[])],
        ..Default::default()
    };
    let r = sec.reconcile(&smaller).await.unwrap();
    assert_eq!(r.users_disabled, ["bob"]);
    assert_eq!(r.users_updated, ["carol", ANONYMOUS_USER]);
    assert_eq!(r.roles_removed, ["pull"]);
    assert_eq!(r.roles_updated, ["devs"]);
    assert!(
        r.settings_changed.is_empty(),
        "undeclared settings are left alone"
    );
    assert!(sec.reconcile(&smaller).await.unwrap().is_empty());
    assert_eq!(sec.user("bob").await.unwrap().unwrap().status, "disabled");
    let anon = sec.user(ANONYMOUS_USER).await.unwrap().unwrap();
    assert_eq!(
        (anon.status.as_str(), anon.managed_by.as_str()),
        ("active", "builtin")
    );
    assert!(sec.user_roles(ANONYMOUS_USER).await.unwrap().is_empty());
    assert_eq!(
        sec.user("ui-user").await.unwrap().unwrap().status,
        "active",
        "not config's"
    );
    // Orphaned config privileges are gone.
    assert!(sec.list_privileges().await.unwrap().is_empty());

    // Declaring bob again re-enables him.
    let back = DeclaredSecurity {
        users: vec![user("bob", None, &[])],
        ..Default::default()
    };
    let r = sec.reconcile(&back).await.unwrap();
    assert_eq!(r.users_updated, ["bob"]);
    assert_eq!(sec.user("bob").await.unwrap().unwrap().status, "active");
}

#[tokio::test]
async fn reconcile_refuses_bad_declarations() {
    let (_d, s) = store().await;
    let sec = s.security();
    for (decl, needle) in [
        (
            DeclaredSecurity {
                users: vec![user(ANONYMOUS_USER, Some("$argon2id$x"), &[])],
                ..Default::default()
            },
            "anonymous user cannot have a password",
        ),
        (
            DeclaredSecurity {
                users: vec![user("u", None, &["ghost"])],
                ..Default::default()
            },
            "user u refers to role ghost",
        ),
        (
            DeclaredSecurity {
                roles: vec![role("r", vec![], &[]), role("r", vec![], &[])],
                ..Default::default()
            },
            "declared twice",
        ),
        (
            DeclaredSecurity {
                users: vec![user("a b", None, &[])],
                ..Default::default()
            },
            "invalid user name",
        ),
    ] {
        let err = sec.reconcile(&decl).await.unwrap_err();
        assert!(
            err.msg.contains(needle),
            "{} should contain {needle}",
            err.msg
        );
    }
    assert_eq!(sec.count_users(true).await.unwrap(), 0);
}

#[tokio::test]
async fn signing_key_is_created_once_across_nodes() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("t.db").display());
    let node_a = MetadataStore::open(&url).await.unwrap();
    let node_b = MetadataStore::open(&url).await.unwrap();
    assert!(
        node_a
            .security()
            .signing_key("docker-token", &[1; 8])
            .await
            .is_err()
    );
    let race = |node: MetadataStore, byte: u8| {
        tokio::spawn(async move {
            node.security()
                .signing_key("docker-token", &[byte; 64])
                .await
        })
    };
    let (a, b) = (race(node_a.clone(), 0xa), race(node_b.clone(), 0xb));
    let (a, b) = (a.await.unwrap().unwrap(), b.await.unwrap().unwrap());
    assert_eq!(a, b, "both nodes end with one key");
    assert!(a == [0xa; 64] || a == [0xb; 64]);
    let later = node_b
        .security()
        .signing_key("docker-token", &[0xc; 64])
        .await
        .unwrap();
    assert_eq!(later, a);
}

#[tokio::test]
async fn settings_default_to_least_privilege() {
    let (_d, s) = store().await;
    let sec = s.security();
    assert!(!sec.anonymous_enabled().await.unwrap());
    assert_eq!(sec.realms().await.unwrap(), None);
    sec.set_anonymous_enabled(true, "ui").await.unwrap();
    sec.set_realms(&strings(&["basic"]), "ui").await.unwrap();
    assert!(sec.anonymous_enabled().await.unwrap());
    assert_eq!(sec.realms().await.unwrap().unwrap(), ["basic"]);
    assert_eq!(
        sec.setting("anonymous_enabled").await.unwrap().as_deref(),
        Some("true")
    );
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
