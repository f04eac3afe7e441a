//! `security().snapshot()` and `security().reconcile()`: what authorization reads in one go,
//! and the declarative security section applied in one transaction.

use trove_core::ErrorKind;

use super::security::{privilege, role};
use super::strings;
use crate::{ANONYMOUS_USER, DeclaredSecurity, DeclaredUser, MetadataStore, UserStatus};

fn user(name: &str, hash: Option<&str>, roles: &[&str]) -> DeclaredUser {
    DeclaredUser {
        name: name.into(),
        password_hash: hash.map(str::to_owned),
        roles: strings(roles),
    }
}

/// The snapshot holds the settings, every role with its content, and every user with status
/// and direct roles, without password hashes.
pub async fn security_snapshot_conformance(s: &MetadataStore) {
    let sec = s.security();
    let read = privilege("docker", "snap-*", "read");
    sec.upsert_role(&role("snap-base", vec![read.clone()], &[]), "ui")
        .await
        .unwrap();
    sec.upsert_role(&role("snap-top", vec![], &["snap-base"]), "ui")
        .await
        .unwrap();
    sec.create_user("snap-user", Some("$argon2id$s"), "ui")
        .await
        .unwrap();
    sec.set_user_roles("snap-user", &strings(&["snap-top", "snap-base"]))
        .await
        .unwrap();
    sec.create_user("snap-off", None, "ui").await.unwrap();
    sec.set_user_status("snap-off", UserStatus::Disabled)
        .await
        .unwrap();
    sec.set_realms(&strings(&["basic", "docker-token"]), "ui")
        .await
        .unwrap();

    let snap = sec.snapshot().await.unwrap();
    assert_eq!(
        snap.anonymous_enabled,
        sec.anonymous_enabled().await.unwrap()
    );
    assert_eq!(
        snap.realms.as_deref(),
        Some(&strings(&["basic", "docker-token"])[..])
    );
    let top = snap.roles.iter().find(|r| r.name == "snap-top").unwrap();
    assert_eq!(top.roles, ["snap-base"]);
    let base = snap.roles.iter().find(|r| r.name == "snap-base").unwrap();
    assert_eq!(base.privileges, [read]);
    let u = snap.users.iter().find(|u| u.name == "snap-user").unwrap();
    assert_eq!(
        (u.status, u.roles.clone()),
        (UserStatus::Active, strings(&["snap-base", "snap-top"]))
    );
    assert_eq!(
        u.id,
        sec.user("snap-user").await.unwrap().unwrap().id,
        "users carry their id"
    );
    let off = snap.users.iter().find(|u| u.name == "snap-off").unwrap();
    assert_eq!((off.status, off.roles.len()), (UserStatus::Disabled, 0));
    assert!(!format!("{snap:?}").contains("argon2"), "no hashes in it");
}

/// Reconcile: settings, roles (nested, declared in any order) and users made to match the
/// declaration; idempotent; a password set elsewhere survives; what leaves the file is
/// removed (roles, orphaned privileges), disabled (users) or reset (the anonymous user); bad
/// declarations and cycles are refused with nothing applied.
pub async fn security_reconcile_conformance(s: &MetadataStore) {
    let sec = s.security();
    sec.ensure_user(ANONYMOUS_USER, "builtin").await.unwrap();
    sec.create_user("rec-ui-user", None, "ui").await.unwrap();
    let read = privilege("docker", "rec-*", "browse,read");
    let push = privilege("docker", "rec-hosted", "add,edit,read");
    let decl = DeclaredSecurity {
        anonymous_enabled: Some(true),
        realms: Some(strings(&["basic", "docker-token"])),
        users: vec![
            user("rec-bob", Some("$argon2id$bob"), &["rec-devs"]),
            user("rec-carol", None, &[]),
            user(ANONYMOUS_USER, None, &["rec-pull"]),
        ],
        // `rec-devs` nests `rec-pull`, declared after it.
        roles: vec![
            role("rec-devs", vec![push.clone()], &["rec-pull"]),
            role("rec-pull", vec![read.clone()], &[]),
        ],
    };
    let r = sec.reconcile(&decl).await.unwrap();
    assert_eq!(r.users_created, ["rec-bob", "rec-carol"]);
    assert_eq!(r.users_updated, [ANONYMOUS_USER]);
    assert_eq!(r.roles_created, ["rec-devs", "rec-pull"]);
    assert_eq!(r.settings_changed, ["anonymous_enabled", "realms"]);
    let again = sec.reconcile(&decl).await.unwrap();
    assert!(again.is_empty(), "idempotent: {again:?}");
    assert!(sec.anonymous_enabled().await.unwrap());
    assert_eq!(
        sec.setting_owner("anonymous_enabled")
            .await
            .unwrap()
            .as_deref(),
        Some("config")
    );
    assert_eq!(
        sec.realms().await.unwrap().unwrap(),
        ["basic", "docker-token"]
    );
    let bob = sec.user("rec-bob").await.unwrap().unwrap();
    assert_eq!(
        (bob.password_hash.as_deref(), bob.managed_by.as_str()),
        (Some("$argon2id$bob"), "config")
    );
    assert_eq!(
        sec.user("rec-carol").await.unwrap().unwrap().password_hash,
        None
    );
    assert_eq!(sec.user_roles("rec-bob").await.unwrap(), ["rec-devs"]);
    assert_eq!(sec.user_roles(ANONYMOUS_USER).await.unwrap(), ["rec-pull"]);
    let devs = sec.role("rec-devs").await.unwrap().unwrap();
    assert_eq!(
        (devs.roles.clone(), devs.privileges.clone(), devs.managed_by),
        (strings(&["rec-pull"]), vec![push.clone()], "config".into())
    );

    // A password set outside the config survives a declaration without one; one declared
    // replaces it.
    sec.set_password("rec-carol", "$argon2id$carol", false)
        .await
        .unwrap();
    assert!(sec.reconcile(&decl).await.unwrap().is_empty());
    assert_eq!(
        sec.user("rec-carol")
            .await
            .unwrap()
            .unwrap()
            .password_hash
            .as_deref(),
        Some("$argon2id$carol")
    );
    let mut rotated = decl.clone();
    rotated.users[0].password_hash = Some("$argon2id$bob2".into());
    assert_eq!(
        sec.reconcile(&rotated).await.unwrap().users_updated,
        ["rec-bob"]
    );
    assert_eq!(
        sec.user("rec-bob")
            .await
            .unwrap()
            .unwrap()
            .password_hash
            .as_deref(),
        Some("$argon2id$bob2")
    );

    // A role still naming a role that leaves the file is refused, changed or not, and
    // nothing is applied.
    let unchanged_devs = DeclaredSecurity {
        users: vec![user("rec-carol", None, &[])],
        roles: vec![role("rec-devs", vec![push.clone()], &["rec-pull"])],
        ..Default::default()
    };
    let changed_devs = DeclaredSecurity {
        users: vec![user("rec-carol", None, &["rec-devs"])],
        roles: vec![role("rec-devs", vec![], &["rec-pull"])],
        ..Default::default()
    };
    for bad in [unchanged_devs, changed_devs] {
        let e = sec.reconcile(&bad).await.unwrap_err();
        assert!(
            e.msg
                .contains("role rec-devs refers to role rec-pull, which does not exist"),
            "{e}"
        );
        assert_eq!(
            sec.role("rec-devs").await.unwrap().unwrap().roles,
            ["rec-pull"],
            "rolled back"
        );
        assert!(sec.role("rec-pull").await.unwrap().is_some());
    }

    // Drop rec-bob, the anonymous user's roles and role rec-pull.
    let smaller = DeclaredSecurity {
        users: vec![user("rec-carol", None, &["rec-devs"])],
        roles: vec![role("rec-devs", vec![], &[])],
        ..Default::default()
    };
    let r = sec.reconcile(&smaller).await.unwrap();
    assert_eq!(r.users_disabled, ["rec-bob"]);
    assert_eq!(r.users_updated, ["rec-carol", ANONYMOUS_USER]);
    assert_eq!(r.roles_removed, ["rec-pull"]);
    assert_eq!(r.roles_updated, ["rec-devs"]);
    assert!(
        r.settings_changed.is_empty(),
        "undeclared settings are left alone"
    );
    assert!(sec.anonymous_enabled().await.unwrap());
    assert!(sec.reconcile(&smaller).await.unwrap().is_empty());
    assert_eq!(
        sec.user("rec-bob").await.unwrap().unwrap().status,
        "disabled",
        "disabled, not deleted"
    );
    let anon = sec.user(ANONYMOUS_USER).await.unwrap().unwrap();
    assert_eq!(
        (anon.status.as_str(), anon.managed_by.as_str()),
        ("active", "builtin")
    );
    assert!(sec.user_roles(ANONYMOUS_USER).await.unwrap().is_empty());
    assert_eq!(
        sec.user("rec-ui-user").await.unwrap().unwrap().status,
        "active",
        "not config's"
    );
    let privileges = sec.list_privileges().await.unwrap();
    assert!(
        !privileges.contains(&read) && !privileges.contains(&push),
        "config privileges no role holds are gone"
    );

    // Declaring rec-bob again re-enables him.
    let back = DeclaredSecurity {
        users: vec![user("rec-bob", None, &[])],
        roles: vec![role("rec-devs", vec![], &[])],
        ..Default::default()
    };
    let r = sec.reconcile(&back).await.unwrap();
    assert!(r.users_updated.contains(&"rec-bob".to_owned()));
    assert_eq!(sec.user("rec-bob").await.unwrap().unwrap().status, "active");

    // Refused declarations apply nothing.
    let before = sec.count_users(true).await.unwrap();
    for (bad, needle) in [
        (
            DeclaredSecurity {
                users: vec![user(ANONYMOUS_USER, Some("$argon2id$x"), &[])],
                ..Default::default()
            },
            "anonymous user cannot have a password",
        ),
        (
            DeclaredSecurity {
                users: vec![user("rec-u", None, &["rec-ghost"])],
                ..Default::default()
            },
            "user rec-u refers to role rec-ghost",
        ),
        (
            DeclaredSecurity {
                roles: vec![role("rec-r", vec![], &[]), role("rec-r", vec![], &[])],
                ..Default::default()
            },
            "declared twice",
        ),
        (
            DeclaredSecurity {
                users: vec![user("rec-u", None, &[]), user("rec-u", None, &[])],
                ..Default::default()
            },
            "declared twice",
        ),
        (
            DeclaredSecurity {
                users: vec![user("rec-u", None, &[])],
                roles: vec![
                    role("rec-x", vec![], &["rec-z"]),
                    role("rec-y", vec![], &["rec-x"]),
                    role("rec-z", vec![], &["rec-y"]),
                ],
                ..Default::default()
            },
            "role cycle",
        ),
    ] {
        let e = sec.reconcile(&bad).await.unwrap_err();
        assert_eq!(e.kind, ErrorKind::Invalid, "{e}");
        assert!(e.msg.contains(needle), "{} should contain {needle}", e.msg);
    }
    assert_eq!(sec.count_users(true).await.unwrap(), before);
    assert!(sec.user("rec-u").await.unwrap().is_none());
    assert!(
        sec.role("rec-x").await.unwrap().is_none(),
        "nothing applied"
    );
    assert!(
        sec.role("rec-devs").await.unwrap().is_some(),
        "a refused declaration removes nothing either"
    );
}
