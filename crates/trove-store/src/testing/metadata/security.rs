//! `security()`: users, roles, privileges, settings and signing keys, one suite each.

use trove_core::ErrorKind;

use super::strings;
use crate::{
    ANONYMOUS_USER, KEY_ANONYMOUS, MetadataStore, PrivilegeDef, PrivilegeKind, RoleDef, UserStatus,
};

pub(crate) fn privilege(format: &str, repo: &str, actions: &str) -> PrivilegeDef {
    PrivilegeDef {
        name: format!("nx-repository-view-{format}-{repo}-{actions}"),
        kind: PrivilegeKind::RepositoryView,
        format: format.into(),
        repo: repo.into(),
        actions: actions.into(),
        description: String::new(),
    }
}

pub(crate) fn role(name: &str, privileges: Vec<PrivilegeDef>, roles: &[&str]) -> RoleDef {
    RoleDef {
        name: name.into(),
        description: format!("{name} role"),
        privileges,
        roles: strings(roles),
    }
}

/// Users: create (taken names refused), ensure, look up by name and id, list, count, password
/// (never for the anonymous user), status, direct roles (unknown ones refused, nothing
/// changed), grant, delete.
pub async fn users_conformance(s: &MetadataStore) {
    let sec = s.security();
    sec.ensure_user(ANONYMOUS_USER, "builtin").await.unwrap();
    let (all, people) = (
        sec.count_users(true).await.unwrap(),
        sec.count_users(false).await.unwrap(),
    );
    assert_eq!(
        all,
        people + 1,
        "the anonymous user is not counted as a person"
    );

    let u = sec
        .create_user("users-alice", Some("$argon2id$a"), "ui")
        .await
        .unwrap();
    assert_eq!(
        (u.name.as_str(), u.status.as_str(), u.managed_by.as_str()),
        ("users-alice", "active", "ui")
    );
    assert_eq!(u.password_hash.as_deref(), Some("$argon2id$a"));
    assert!(!u.must_change_password && u.created > 0);
    assert!(!format!("{u:?}").contains("argon2"), "Debug hides the hash");
    assert_eq!(
        sec.create_user("users-alice", None, "ui")
            .await
            .unwrap_err()
            .kind,
        ErrorKind::AlreadyExists
    );
    assert!(sec.ensure_user("users-bob", "builtin").await.unwrap());
    assert!(!sec.ensure_user("users-bob", "ui").await.unwrap(), "once");
    let bob = sec.user("users-bob").await.unwrap().unwrap();
    assert_eq!(
        (bob.managed_by.as_str(), bob.password_hash.as_deref()),
        ("builtin", None)
    );
    assert_eq!(sec.count_users(true).await.unwrap(), all + 2);
    assert_eq!(sec.count_users(false).await.unwrap(), people + 2);
    assert_eq!(sec.user("users-ghost").await.unwrap(), None);
    assert_eq!(
        sec.user_by_id(&u.id).await.unwrap().unwrap().name,
        "users-alice"
    );
    assert_eq!(sec.user_by_id("no-such-id").await.unwrap(), None);
    let listed: Vec<String> = sec
        .list_users()
        .await
        .unwrap()
        .into_iter()
        .map(|u| u.name)
        .collect();
    let mut sorted = listed.clone();
    sorted.sort();
    assert_eq!(listed, sorted, "listed by name");
    assert!(listed.contains(&"users-alice".to_owned()) && listed.contains(&"users-bob".to_owned()));

    let e = sec
        .set_password(ANONYMOUS_USER, "$argon2id$x", false)
        .await
        .unwrap_err();
    assert_eq!(e.kind, ErrorKind::Invalid);
    assert_eq!(
        sec.set_password("users-ghost", "$argon2id$x", false)
            .await
            .unwrap_err()
            .kind,
        ErrorKind::NotFound
    );
    sec.set_password("users-alice", "$argon2id$b", true)
        .await
        .unwrap();
    let u = sec.user("users-alice").await.unwrap().unwrap();
    assert_eq!(u.password_hash.as_deref(), Some("$argon2id$b"));
    assert!(u.must_change_password);
    sec.set_password("users-alice", "$argon2id$c", false)
        .await
        .unwrap();
    assert!(
        !sec.user("users-alice")
            .await
            .unwrap()
            .unwrap()
            .must_change_password
    );

    sec.set_user_status("users-alice", UserStatus::Disabled)
        .await
        .unwrap();
    assert_eq!(
        sec.user("users-alice").await.unwrap().unwrap().status,
        "disabled"
    );
    sec.set_user_status("users-alice", UserStatus::Active)
        .await
        .unwrap();
    assert_eq!(
        sec.user("users-alice").await.unwrap().unwrap().status,
        "active"
    );
    assert_eq!(
        sec.set_user_status("users-ghost", UserStatus::Active)
            .await
            .unwrap_err()
            .kind,
        ErrorKind::NotFound
    );

    // Direct roles.
    for r in ["users-devs", "users-readers"] {
        sec.upsert_role(&role(r, vec![], &[]), "ui").await.unwrap();
    }
    let e = sec
        .set_user_roles("users-alice", &strings(&["users-devs", "users-ghost"]))
        .await
        .unwrap_err();
    assert_eq!(e.kind, ErrorKind::Invalid);
    assert!(e.msg.contains("users-ghost"), "names the unknown role: {e}");
    assert!(
        sec.user_roles("users-alice").await.unwrap().is_empty(),
        "nothing changed"
    );
    sec.set_user_roles("users-alice", &strings(&["users-readers", "users-devs"]))
        .await
        .unwrap();
    assert_eq!(
        sec.user_roles("users-alice").await.unwrap(),
        ["users-devs", "users-readers"],
        "sorted"
    );
    sec.set_user_roles("users-alice", &strings(&["users-devs"]))
        .await
        .unwrap();
    assert_eq!(
        sec.user_roles("users-alice").await.unwrap(),
        ["users-devs"],
        "replaced"
    );
    assert!(
        sec.grant_role("users-alice", "users-readers")
            .await
            .unwrap()
    );
    assert!(
        !sec.grant_role("users-alice", "users-readers")
            .await
            .unwrap()
    );
    assert_eq!(
        sec.user_roles("users-alice").await.unwrap(),
        ["users-devs", "users-readers"]
    );
    assert_eq!(
        sec.grant_role("users-alice", "users-ghost")
            .await
            .unwrap_err()
            .kind,
        ErrorKind::NotFound
    );
    assert_eq!(
        sec.grant_role("users-ghost", "users-devs")
            .await
            .unwrap_err()
            .kind,
        ErrorKind::NotFound
    );
    assert_eq!(
        sec.set_user_roles("users-ghost", &[])
            .await
            .unwrap_err()
            .kind,
        ErrorKind::NotFound
    );
    assert_eq!(
        sec.user_roles("users-ghost").await.unwrap_err().kind,
        ErrorKind::NotFound
    );

    assert!(sec.delete_user("users-bob").await.unwrap());
    assert!(!sec.delete_user("users-bob").await.unwrap());
    assert_eq!(sec.user("users-bob").await.unwrap(), None);
    assert_eq!(sec.count_users(true).await.unwrap(), all + 1);
}

/// Roles: create and replace (`true` only when created), privileges and child roles as
/// written, ensure never overwrites, unknown children and cycles refused with nothing changed,
/// delete takes the role from its users and parents.
pub async fn roles_conformance(s: &MetadataStore) {
    let sec = s.security();
    let read = privilege("docker", "*", "browse,read");
    let write = privilege("docker", "roles-hosted", "add,edit,read");
    assert!(
        sec.upsert_role(&role("roles-readers", vec![read.clone()], &[]), "ui")
            .await
            .unwrap()
    );
    assert!(
        !sec.upsert_role(&role("roles-readers", vec![read.clone()], &[]), "ui")
            .await
            .unwrap()
    );
    sec.upsert_role(
        &role(
            "roles-devs",
            vec![write.clone(), read.clone()],
            &["roles-readers"],
        ),
        "ui",
    )
    .await
    .unwrap();
    let devs = sec.role("roles-devs").await.unwrap().unwrap();
    assert_eq!(devs.roles, ["roles-readers"]);
    assert_eq!(devs.privileges, [read.clone(), write.clone()], "by name");
    assert_eq!(
        (devs.description.as_str(), devs.managed_by.as_str()),
        ("roles-devs role", "ui")
    );
    assert!(devs.created > 0 && devs.updated >= devs.created);
    assert_eq!(sec.role("roles-ghost").await.unwrap(), None);
    let listed: Vec<String> = sec
        .list_roles()
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.name)
        .collect();
    let mut sorted = listed.clone();
    sorted.sort();
    assert_eq!(listed, sorted, "listed by name");

    // Replacing rewrites everything and may change the owner.
    sec.upsert_role(&role("roles-devs", vec![write.clone()], &[]), "cli")
        .await
        .unwrap();
    let devs = sec.role("roles-devs").await.unwrap().unwrap();
    assert_eq!(
        (devs.privileges.clone(), devs.roles.len()),
        (vec![write.clone()], 0)
    );
    assert_eq!(devs.managed_by, "cli");

    // Unknown child roles and cycles are refused, and nothing changes.
    let e = sec
        .upsert_role(&role("roles-devs", vec![], &["roles-ghost"]), "ui")
        .await
        .unwrap_err();
    assert_eq!(e.kind, ErrorKind::Invalid);
    assert!(e.msg.contains("roles-ghost"), "{e}");
    assert_eq!(
        sec.role("roles-devs").await.unwrap().unwrap().privileges,
        std::slice::from_ref(&write),
        "rolled back"
    );
    sec.upsert_role(&role("roles-a", vec![], &[]), "ui")
        .await
        .unwrap();
    sec.upsert_role(&role("roles-b", vec![], &["roles-a"]), "ui")
        .await
        .unwrap();
    sec.upsert_role(&role("roles-c", vec![], &["roles-b"]), "ui")
        .await
        .unwrap();
    let e = sec
        .upsert_role(&role("roles-a", vec![read.clone()], &["roles-c"]), "ui")
        .await
        .unwrap_err();
    assert_eq!(e.kind, ErrorKind::Invalid);
    assert!(e.msg.contains("role cycle"), "{}", e.msg);
    let a = sec.role("roles-a").await.unwrap().unwrap();
    assert!(a.roles.is_empty() && a.privileges.is_empty(), "rolled back");
    let e = sec
        .upsert_role(&role("roles-a", vec![], &["roles-a"]), "ui")
        .await
        .unwrap_err();
    assert_eq!(e.kind, ErrorKind::Invalid);
    assert!(e.msg.contains("role cycle"), "{}", e.msg);
    let e = sec
        .upsert_role(&role("roles-new", vec![], &["roles-new"]), "ui")
        .await
        .unwrap_err();
    assert_eq!(e.kind, ErrorKind::Invalid);
    assert_eq!(
        sec.role("roles-new").await.unwrap(),
        None,
        "a refused new role is not created"
    );

    // ensure_role creates once, then never overwrites.
    assert!(
        sec.ensure_role(&role("roles-builtin", vec![read.clone()], &[]), "builtin")
            .await
            .unwrap()
    );
    assert!(
        !sec.ensure_role(&role("roles-builtin", vec![], &["roles-a"]), "builtin")
            .await
            .unwrap()
    );
    let b = sec.role("roles-builtin").await.unwrap().unwrap();
    assert_eq!(
        (b.privileges, b.roles.len(), b.managed_by.as_str()),
        (vec![read.clone()], 0, "builtin")
    );

    // Deleting a role takes it from its users and parents.
    sec.create_user("roles-user", None, "ui").await.unwrap();
    sec.set_user_roles("roles-user", &strings(&["roles-a", "roles-b"]))
        .await
        .unwrap();
    assert!(sec.delete_role("roles-a").await.unwrap());
    assert!(!sec.delete_role("roles-a").await.unwrap());
    assert_eq!(sec.user_roles("roles-user").await.unwrap(), ["roles-b"]);
    assert!(sec.role("roles-b").await.unwrap().unwrap().roles.is_empty());
}

/// Privileges: recorded once by name (a name reused for another grant refused), listed with
/// their owner and holders, deleted only when no role holds them.
pub async fn privileges_conformance(s: &MetadataStore) {
    let sec = s.security();
    let pull = privilege("docker", "privs-*", "browse,read");
    let admin = PrivilegeDef {
        name: "privs-all".into(),
        kind: PrivilegeKind::Admin,
        format: "*".into(),
        repo: "*".into(),
        actions: "*".into(),
        description: "everything".into(),
    };
    sec.upsert_privilege(&pull, "ui").await.unwrap();
    sec.upsert_privilege(&pull, "ui").await.unwrap();
    sec.upsert_privilege(&admin, "config").await.unwrap();
    let mut clash = privilege("docker", "privs-*", "delete");
    clash.name = pull.name.clone();
    let e = sec.upsert_privilege(&clash, "ui").await.unwrap_err();
    assert_eq!(e.kind, ErrorKind::Invalid);
    let listed = sec.list_privileges().await.unwrap();
    assert!(
        listed.contains(&pull) && listed.contains(&admin),
        "as written"
    );
    let names: Vec<&str> = listed.iter().map(|p| p.name.as_str()).collect();
    let mut sorted = names.clone();
    sorted.sort();
    assert_eq!(names, sorted, "listed by name");

    sec.upsert_role(&role("privs-z", vec![pull.clone()], &[]), "ui")
        .await
        .unwrap();
    sec.upsert_role(&role("privs-y", vec![pull.clone()], &[]), "ui")
        .await
        .unwrap();
    let records = sec.privilege_records().await.unwrap();
    let rec = records.iter().find(|r| r.def == pull).unwrap();
    assert_eq!(
        (rec.managed_by.as_str(), rec.roles.clone()),
        ("ui", strings(&["privs-y", "privs-z"]))
    );
    let rec = records.iter().find(|r| r.def == admin).unwrap();
    assert!(rec.roles.is_empty());
    assert_eq!(rec.managed_by, "config");

    let e = sec.delete_privilege(&pull.name).await.unwrap_err();
    assert_eq!(e.kind, ErrorKind::Invalid);
    assert!(e.msg.contains("privs-y, privs-z"), "names the holders: {e}");
    assert!(sec.list_privileges().await.unwrap().contains(&pull));
    assert!(sec.delete_privilege(&admin.name).await.unwrap());
    assert!(!sec.delete_privilege(&admin.name).await.unwrap());
    assert!(!sec.list_privileges().await.unwrap().contains(&admin));
}

/// Settings default to least privilege (anonymous access off, realms unset); what is set is
/// read back with its owner. Expects no setting written before it.
pub async fn settings_conformance(s: &MetadataStore) {
    let sec = s.security();
    assert!(!sec.anonymous_enabled().await.unwrap(), "off unless set");
    assert_eq!(sec.realms().await.unwrap(), None);
    assert_eq!(sec.setting(KEY_ANONYMOUS).await.unwrap(), None);
    assert_eq!(sec.setting_owner(KEY_ANONYMOUS).await.unwrap(), None);
    sec.set_anonymous_enabled(true, "ui").await.unwrap();
    sec.set_realms(&strings(&["basic"]), "cli").await.unwrap();
    assert!(sec.anonymous_enabled().await.unwrap());
    assert_eq!(sec.realms().await.unwrap().unwrap(), ["basic"]);
    assert_eq!(
        sec.setting(KEY_ANONYMOUS).await.unwrap().as_deref(),
        Some("true")
    );
    assert_eq!(
        sec.setting_owner(KEY_ANONYMOUS).await.unwrap().as_deref(),
        Some("ui")
    );
    assert_eq!(
        sec.setting_owner(crate::KEY_REALMS)
            .await
            .unwrap()
            .as_deref(),
        Some("cli")
    );
    sec.set_setting("settings-other", "v1", "ui").await.unwrap();
    sec.set_setting("settings-other", "v2", "config")
        .await
        .unwrap();
    assert_eq!(
        sec.setting("settings-other").await.unwrap().as_deref(),
        Some("v2")
    );
    assert_eq!(
        sec.setting_owner("settings-other")
            .await
            .unwrap()
            .as_deref(),
        Some("config")
    );
    sec.set_anonymous_enabled(false, "ui").await.unwrap();
    assert!(!sec.anonymous_enabled().await.unwrap());
}

/// Signing keys: at least 32 bytes; the first candidate for a purpose decides the key and
/// every later call gets the same key back; purposes are apart, even from one candidate; the
/// database never holds the key as it is.
pub async fn signing_keys_conformance(s: &MetadataStore) {
    let sec = s.security();
    let e = sec.signing_key("keys-a", &[1; 8]).await.unwrap_err();
    assert_eq!(e.kind, ErrorKind::Invalid);
    let a = sec.signing_key("keys-a", &[0xa; 64]).await.unwrap();
    assert!(a.len() >= 32);
    assert_eq!(sec.signing_key("keys-a", &[0xb; 64]).await.unwrap(), a);
    assert_ne!(a, [0xa; 64], "the candidate is not the key");
    let b = sec.signing_key("keys-b", &[0xa; 64]).await.unwrap();
    assert!(b.len() >= 32);
    assert_ne!(a, b, "one key per purpose");
    assert_eq!(sec.signing_key("keys-b", &[0xc; 32]).await.unwrap(), b);
}
