//! Built-ins, the declarative config, role cycles, explanations, and the S3 anonymous story.

use crate::common;

use common::*;
use trove_auth::{
    ADMIN_ROLE, ANONYMOUS_READ_ROLE, Action, Auth, AuthSettings, Identity, Principal,
    PrivilegeDecl, SecurityDecl,
};
use trove_core::ErrorKind;

#[tokio::test]
async fn builtins_are_created_once_with_least_privilege() {
    let (_d, meta) = store().await;
    // The server's first-start bootstrap runs before Auth::init.
    let hash = trove_auth::password::hash("pw").unwrap();
    meta.security()
        .create_user("admin", Some(&hash), "bootstrap")
        .await
        .unwrap();
    let auth = Auth::init(meta.clone(), AuthSettings::default())
        .await
        .unwrap();
    let sec = meta.security();
    let admin = sec.role(ADMIN_ROLE).await.unwrap().unwrap();
    assert_eq!(admin.privileges[0].name, "nx-all");
    assert_eq!(admin.managed_by, "builtin");
    let read = sec.role(ANONYMOUS_READ_ROLE).await.unwrap().unwrap();
    assert_eq!(
        read.privileges[0].name,
        "nx-repository-view-docker-*-browse,read"
    );
    let anon = sec.user("anonymous").await.unwrap().unwrap();
    assert_eq!(
        (anon.status.as_str(), anon.password_hash.as_deref()),
        ("active", None)
    );
    assert!(
        sec.user_roles("anonymous").await.unwrap().is_empty(),
        "no role by default"
    );
    assert!(
        !auth.anonymous_enabled(),
        "anonymous access is off by default"
    );
    assert_eq!(sec.user_roles("admin").await.unwrap(), [ADMIN_ROLE]);
    assert_eq!(sec.count_users(false).await.unwrap(), 1);

    // The bootstrap grant happens once: an operator who removes it is not overruled.
    sec.set_user_roles("admin", &[]).await.unwrap();
    sec.delete_role(ANONYMOUS_READ_ROLE).await.unwrap();
    Auth::init(meta.clone(), AuthSettings::default())
        .await
        .unwrap();
    assert!(sec.user_roles("admin").await.unwrap().is_empty());
    assert!(
        sec.role(ANONYMOUS_READ_ROLE).await.unwrap().is_some(),
        "missing built-ins come back"
    );

    auth.reload().await.unwrap();
    let hosted = repo("id-h", "docker-hosted", "docker");
    let admin_p = auth
        .authenticator
        .authenticate(Some(&basic("admin", "pw")))
        .await
        .unwrap();
    assert!(
        auth.authorizer
            .check(&admin_p, Action::Read, &hosted)
            .is_err()
    );
}

fn s3_config(anonymous_roles: &[&str]) -> SecurityDecl {
    SecurityDecl {
        anonymous: Some(true),
        realms: Some(vec!["basic".into(), "docker-token".into()]),
        roles: vec![],
        users: vec![user("anonymous", None, anonymous_roles)],
        ..Default::default()
    }
}

#[tokio::test]
async fn s3_anonymous_pull_only() {
    let (_d, _meta, auth) = auth().await;
    let proxy = repo("id-p", "docker-hub", "docker");
    // Off by default: a pull without credentials is told to authenticate.
    let e = auth.authenticator.authenticate(None).await.unwrap_err();
    assert_eq!(e.to_string(), "authentication required");

    // Anonymous on, but the anonymous user has no role yet.
    auth.apply_config(&s3_config(&[])).await.unwrap();
    let anon = auth.authenticator.identify(None).await.unwrap();
    let denied = auth
        .authorize(&anon, Action::Read, &proxy, Some("helloz/onenav"))
        .unwrap_err();
    assert_eq!(
        (denied.kind(), denied.to_string().as_str()),
        (ErrorKind::Unauthenticated, "authentication required")
    );

    // With docker-pull-anonymous: pull and browse work, push never does.
    auth.apply_config(&s3_config(&[ANONYMOUS_READ_ROLE]))
        .await
        .unwrap();
    auth.authorize(&anon, Action::Read, &proxy, Some("helloz/onenav"))
        .unwrap();
    auth.authorize(&anon, Action::Browse, &proxy, Some("helloz/onenav"))
        .unwrap();
    for a in [Action::Add, Action::Edit, Action::Delete] {
        let d = auth
            .authorize(&anon, a, &proxy, Some("helloz/onenav"))
            .unwrap_err();
        assert_eq!(d.kind(), ErrorKind::Unauthenticated);
    }
    // Through the token realm too: pull granted, push trimmed away.
    let t = auth
        .tokens
        .issue(
            &Principal::Anonymous,
            &[crate::common::ask(
                &proxy,
                "helloz/onenav",
                &["pull", "push"],
            )],
        )
        .unwrap();
    let id = auth
        .authenticator
        .identify(Some(&format!("Bearer {}", t.token)))
        .await
        .unwrap();
    assert_eq!(id.token.as_ref().unwrap().access[0].actions, ["pull"]);
    auth.authorize(&id, Action::Read, &proxy, Some("helloz/onenav"))
        .unwrap();
    assert!(
        auth.authorize(&id, Action::Add, &proxy, Some("helloz/onenav"))
            .is_err()
    );

    // Dropping the anonymous user from the config takes its roles away again.
    auth.apply_config(&SecurityDecl {
        anonymous: Some(true),
        ..Default::default()
    })
    .await
    .unwrap();
    assert!(
        auth.authorize(
            &Identity::of(Principal::Anonymous),
            Action::Read,
            &proxy,
            None
        )
        .is_err()
    );
}

fn team_config() -> SecurityDecl {
    SecurityDecl {
        anonymous: Some(false),
        realms: None,
        roles: vec![
            role(
                "docker-readers",
                vec![privilege("docker", "*", &["browse", "read"])],
                &[],
            ),
            role(
                "hosted-writers",
                vec![privilege("docker", "docker-hosted", &["add", "edit"])],
                &["docker-readers"],
            ),
            role("developers", vec![], &["hosted-writers"]),
            role(
                "ops",
                vec![PrivilegeDecl {
                    admin: true,
                    ..Default::default()
                }],
                &[],
            ),
        ],
        users: vec![
            user("alice", Some("alice-pw"), &["developers"]),
            user("bob", Some("bob-pw"), &["docker-readers"]),
        ],
        ..Default::default()
    }
}

#[tokio::test]
async fn apply_config_is_idempotent_and_validated() {
    let (_d, meta, auth) = auth().await;
    let r = auth.apply_config(&team_config()).await.unwrap();
    assert_eq!(r.users_created, ["alice", "bob"]);
    assert_eq!(r.roles_created.len(), 4);
    // Same file again (passwords re-read from env/file each start): nothing changes.
    let again = auth.apply_config(&team_config()).await.unwrap();
    assert!(again.is_empty(), "{again:?}");
    let hash = meta
        .security()
        .user("alice")
        .await
        .unwrap()
        .unwrap()
        .password_hash;
    // A new password in the file is applied.
    let mut changed = team_config();
    changed.users[0].password = Some("new-pw".into());
    let r = auth.apply_config(&changed).await.unwrap();
    assert_eq!(r.users_updated, ["alice"]);
    assert_ne!(
        meta.security()
            .user("alice")
            .await
            .unwrap()
            .unwrap()
            .password_hash,
        hash
    );
    auth.authenticator
        .authenticate(Some(&basic("alice", "new-pw")))
        .await
        .unwrap();

    // Cycles are refused, naming the cycle, and nothing is applied.
    let mut cyclic = team_config();
    cyclic.roles[0].roles = vec!["developers".into()];
    let e = auth.apply_config(&cyclic).await.unwrap_err();
    assert_eq!(e.kind, ErrorKind::Invalid);
    assert!(
        e.msg
            .contains("role cycle: developers → hosted-writers → docker-readers → developers"),
        "{}",
        e.msg
    );
    assert!(
        meta.security()
            .role("docker-readers")
            .await
            .unwrap()
            .unwrap()
            .roles
            .is_empty()
    );

    for (bad, needle) in [
        (
            SecurityDecl {
                roles: vec![role("admin", vec![], &[])],
                ..Default::default()
            },
            "built in",
        ),
        (
            SecurityDecl {
                realms: Some(vec!["kerberos".into()]),
                ..Default::default()
            },
            "unknown realm",
        ),
        (
            SecurityDecl {
                roles: vec![role("r", vec![privilege("docker", "*", &["pull"])], &[])],
                ..Default::default()
            },
            "unknown action \"pull\"",
        ),
        (
            SecurityDecl {
                roles: vec![role("r", vec![privilege("docker", "a/b", &["read"])], &[])],
                ..Default::default()
            },
            "invalid repository name",
        ),
        (
            SecurityDecl {
                users: vec![user("anonymous", Some("x"), &[])],
                ..Default::default()
            },
            "anonymous user cannot have a password",
        ),
        (
            SecurityDecl {
                users: vec![user("u", None, &["ghost"])],
                ..Default::default()
            },
            "role ghost, which does not exist",
        ),
    ] {
        let e = auth.apply_config(&bad).await.unwrap_err();
        assert!(e.msg.contains(needle), "{} should contain {needle}", e.msg);
    }
    assert!(
        !format!("{:?}", team_config()).contains("alice-pw"),
        "Debug redacts passwords"
    );
}

#[tokio::test]
async fn explanations_name_the_path_or_what_is_missing() {
    let (_d, _meta, auth) = auth().await;
    auth.apply_config(&team_config()).await.unwrap();
    let hosted = repo("id-h", "docker-hosted", "docker");
    let raw = repo("id-r", "raw-files", "raw");

    let e = auth.explain("alice", &hosted, Action::Read).await.unwrap();
    assert!(e.allowed);
    assert_eq!(
        e.to_string(),
        "allowed: role developers → role hosted-writers → role docker-readers grants \
         nx-repository-view-docker-*-browse,read"
    );
    let e = auth.explain("alice", &hosted, Action::Edit).await.unwrap();
    assert_eq!(
        e.granted_by,
        Some((
            vec!["developers".into(), "hosted-writers".into()],
            "nx-repository-view-docker-docker-hosted-add,edit".into()
        ))
    );
    let e = auth.explain("bob", &hosted, Action::Add).await.unwrap();
    assert!(!e.allowed);
    assert_eq!(
        e.to_string(),
        "denied: user bob has roles [docker-readers]; none grants add on docker-hosted; \
         add e.g. privilege nx-repository-view-docker-docker-hosted-add"
    );
    let e = auth.explain("alice", &raw, Action::Read).await.unwrap();
    assert!(
        e.missing.contains("nx-repository-view-raw-raw-files-read"),
        "{e}"
    );
    assert_eq!(
        auth.explain("zed", &hosted, Action::Read)
            .await
            .unwrap()
            .to_string(),
        "denied: no user named zed"
    );
    assert!(
        auth.explain("anonymous", &hosted, Action::Read)
            .await
            .unwrap()
            .to_string()
            .contains("anonymous access is disabled")
    );

    // The refusal a front-end gets for an authenticated user is Forbidden and says what.
    let bob = auth
        .authenticator
        .authenticate(Some(&basic("bob", "bob-pw")))
        .await
        .unwrap();
    let d = auth
        .authorizer
        .check(&bob, Action::Add, &hosted)
        .unwrap_err();
    assert_eq!(d.kind(), ErrorKind::Forbidden);
    assert_eq!(
        d.to_string(),
        "user bob may not add in repository docker-hosted"
    );
    assert!(d.reason.contains("none grants add"));
}

#[tokio::test]
async fn new_users_are_usable_at_once() {
    // A user created a moment ago (here, or on another node) must not wait for the policy
    // refresh to be authorized.
    let (_d, meta, auth) = auth().await;
    auth.apply_config(&team_config()).await.unwrap();
    let node_b = Auth::init(meta.clone(), AuthSettings::default())
        .await
        .unwrap();
    auth.add_user("carol", Some("carol-pw"), &["docker-readers".into()], "cli")
        .await
        .unwrap();
    let carol = node_b
        .authenticator
        .authenticate(Some(&basic("carol", "carol-pw")))
        .await
        .unwrap();
    node_b
        .authorizer
        .check(
            &carol,
            Action::Read,
            &repo("id-h", "docker-hosted", "docker"),
        )
        .unwrap();
}

/// Names and role nesting are checked here, before the store writes, with messages that say
/// what is wrong: a cycle is named whichever front end (CLI, config file) closes it.
#[tokio::test]
async fn bad_names_and_role_cycles_are_refused_before_anything_is_written() {
    let (_d, meta, auth) = auth().await;
    for bad in ["bad:name", "a b", "", ".dot", "-dash"] {
        let e = auth
            .add_user(bad, Some("pw"), &[], "cli")
            .await
            .unwrap_err();
        assert_eq!(e.kind, ErrorKind::Invalid, "{bad:?}");
        assert!(e.msg.contains("invalid user name"), "{}", e.msg);
        let e = auth
            .upsert_role(&role(bad, vec![], &[]), "cli")
            .await
            .unwrap_err();
        assert!(e.msg.contains("invalid role name"), "{}", e.msg);
    }
    let users = meta.security().list_users().await.unwrap();
    assert!(
        !users.iter().any(|u| u.name.contains([':', ' '])),
        "none written"
    );

    auth.upsert_role(&role("a", vec![], &[]), "cli")
        .await
        .unwrap();
    auth.upsert_role(&role("b", vec![], &["a"]), "cli")
        .await
        .unwrap();
    auth.upsert_role(&role("c", vec![], &["b"]), "cli")
        .await
        .unwrap();
    let e = auth
        .upsert_role(&role("a", vec![], &["c"]), "cli")
        .await
        .unwrap_err();
    assert_eq!(e.kind, ErrorKind::Invalid);
    assert!(e.msg.contains("role cycle: a → c → b → a"), "{}", e.msg);
    let e = auth
        .upsert_role(&role("a", vec![], &["a"]), "cli")
        .await
        .unwrap_err();
    assert!(e.msg.contains("role cycle: a → a"), "{}", e.msg);
    assert!(
        meta.security()
            .role("a")
            .await
            .unwrap()
            .unwrap()
            .roles
            .is_empty()
    );

    for (decl, needle) in [
        (
            SecurityDecl {
                roles: vec![
                    role("x", vec![], &["z"]),
                    role("y", vec![], &["x"]),
                    role("z", vec![], &["y"]),
                ],
                ..Default::default()
            },
            "role cycle: x → z → y → x",
        ),
        (
            // Closes a cycle through a role the console made.
            SecurityDecl {
                roles: vec![role("a", vec![], &["c"])],
                ..Default::default()
            },
            "role cycle: a → c → b → a",
        ),
        (
            SecurityDecl {
                users: vec![user("a b", None, &[])],
                ..Default::default()
            },
            "invalid user name",
        ),
        (
            SecurityDecl {
                roles: vec![role("r:1", vec![], &[])],
                ..Default::default()
            },
            "invalid role name",
        ),
    ] {
        let e = auth.apply_config(&decl).await.unwrap_err();
        assert!(e.msg.contains(needle), "{} should contain {needle}", e.msg);
        assert!(meta.security().role("x").await.unwrap().is_none());
    }
}
