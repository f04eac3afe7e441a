//! The LDAP realm in process, against a fake directory (the real slapd runs in trove-tests'
//! `ldap_docker`): realm order, the cache and its keys, the outage answer, users' rows and
//! roles from groups, names the directory may not take over.

use crate::common;

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::*;
use trove_auth::ldap::{Directory, DirectoryDown, LdapConfig, Lookup};
use trove_auth::{Action, Auth, AuthError, DIRECTORY_UNAVAILABLE, Principal, SecurityDecl};
use trove_core::ErrorKind;

const DEVS: &str = "cn=devs,ou=groups,dc=example,dc=org";

/// A directory in memory: user → (password, groups); `down` makes it unreachable.
#[derive(Default)]
struct FakeDirectory {
    users: Mutex<HashMap<String, (String, Vec<String>)>>,
    down: std::sync::atomic::AtomicBool,
    calls: AtomicU64,
}

impl FakeDirectory {
    fn with(users: &[(&str, &str, &[&str])]) -> Arc<Self> {
        let d = FakeDirectory::default();
        for (u, p, g) in users {
            d.users.lock().unwrap().insert(
                u.to_string(),
                (p.to_string(), g.iter().map(|g| g.to_string()).collect()),
            );
        }
        Arc::new(d)
    }
    fn calls(&self) -> u64 {
        self.calls.load(Ordering::SeqCst)
    }
    fn set_groups(&self, user: &str, groups: &[&str]) {
        self.users.lock().unwrap().get_mut(user).unwrap().1 =
            groups.iter().map(|g| g.to_string()).collect();
    }
}

#[async_trait::async_trait]
impl Directory for FakeDirectory {
    async fn authenticate(&self, username: &str, password: &str) -> Result<Lookup, DirectoryDown> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        if self.down.load(Ordering::SeqCst) {
            return Err(DirectoryDown("connection refused".into()));
        }
        Ok(match self.users.lock().unwrap().get(username) {
            None => Lookup::NoSuchUser,
            Some((p, _)) if p != password || password.is_empty() => Lookup::WrongPassword,
            Some((_, groups)) => Lookup::Found {
                dn: format!("uid={username},ou=people,dc=example,dc=org"),
                groups: groups.clone(),
            },
        })
    }
}

fn ldap_config(cache_ttl: u64) -> LdapConfig {
    serde_json::from_value(serde_json::json!({
        "url": "ldap://127.0.0.1:1",
        "user_base": "ou=people,dc=example,dc=org",
        "group_base": "ou=groups,dc=example,dc=org",
        "cache_ttl": cache_ttl,
    }))
    .unwrap()
}

/// Local `alice` (password `local-pw`) and `admin`; role `pushers` (add on docker-hosted) mapped
/// from DEVS, written in another case and spacing than the directory sends it.
fn decl(realms: &[&str], cache_ttl: u64) -> SecurityDecl {
    let mut pushers = role(
        "pushers",
        vec![privilege("docker", "docker-hosted", &["read", "add"])],
        &[],
    );
    pushers.external_groups = vec!["CN=Devs, OU=Groups,DC=example,DC=org".into()];
    SecurityDecl {
        realms: Some(realms.iter().map(|r| r.to_string()).collect()),
        roles: vec![pushers],
        users: vec![
            user("alice", Some("local-pw"), &[]),
            user("admin", Some("admin-pw"), &["admin"]),
        ],
        ldap: Some(ldap_config(cache_ttl)),
        ..Default::default()
    }
}

async fn fixture(realms: &[&str], cache_ttl: u64) -> (tempfile::TempDir, Auth, Arc<FakeDirectory>) {
    let (dir, _meta, auth) = auth().await;
    auth.apply_config(&decl(realms, cache_ttl)).await.unwrap();
    let directory = FakeDirectory::with(&[
        ("carol", "carol-pw", &[DEVS]),
        (
            "dave",
            "dave-pw",
            &["cn=others,ou=groups,dc=example,dc=org"],
        ),
        ("alice", "ldap-alice-pw", &[DEVS]),
        ("admin", "directory-admin-pw", &[DEVS]),
    ]);
    auth.authenticator.use_directory(directory.clone());
    (dir, auth, directory)
}

async fn login(auth: &Auth, user: &str, pw: &str) -> Result<Principal, AuthError> {
    auth.authenticator
        .authenticate(Some(&basic(user, pw)))
        .await
}

#[tokio::test]
async fn ldap_users_get_a_row_and_roles_from_their_groups() {
    let (_d, auth, _dir) = fixture(&["basic", "ldap", "docker-token"], 60).await;
    let hosted = repo("id-h", "docker-hosted", "docker");
    let carol = login(&auth, "carol", "carol-pw").await.unwrap();
    let Principal::User { id, name } = &carol else {
        panic!("{carol:?}")
    };
    assert_eq!(name, "carol");
    auth.authorizer.check(&carol, Action::Add, &hosted).unwrap();
    let row = auth.explain("carol", &hosted, Action::Add).await.unwrap();
    assert!(row.allowed, "{row}");
    // The same id on the next login (after the cache): the row is stable.
    auth.authenticator.clear_cache();
    let again = login(&auth, "carol", "carol-pw").await.unwrap();
    assert!(matches!(&again, Principal::User { id: i, .. } if i == id));

    // In the directory, but no group mapped to a role: refused, with what is missing.
    let e = login(&auth, "dave", "dave-pw").await.unwrap_err();
    assert!(matches!(e, AuthError::NoMappedRole("ldap")), "{e}");
    assert_eq!(e.kind(), ErrorKind::Unauthenticated);
    assert!(e.to_string().contains("none of your groups"), "{e}");
    // Wrong password and unknown users: the usual answer.
    for (u, p) in [("carol", "nope"), ("nobody", "x"), ("carol", "")] {
        let e = login(&auth, u, p).await.unwrap_err();
        assert!(matches!(e, AuthError::InvalidCredentials), "{u}: {e}");
    }
}

#[tokio::test]
async fn realm_order_decides_and_local_names_are_not_taken_over() {
    // basic first: local alice signs in locally; the directory's alice (another password)
    // is never made the local user, and a directory "admin" never becomes Trove's admin.
    let (_d, auth, dir) = fixture(&["basic", "ldap"], 60).await;
    let local = login(&auth, "alice", "local-pw").await.unwrap();
    assert_eq!(local.name(), "alice");
    assert_eq!(dir.calls(), 0, "basic first: the directory was not asked");
    let e = login(&auth, "alice", "ldap-alice-pw").await.unwrap_err();
    assert!(matches!(e, AuthError::InvalidCredentials), "{e}");
    let e = login(&auth, "admin", "directory-admin-pw")
        .await
        .unwrap_err();
    assert!(matches!(e, AuthError::InvalidCredentials), "{e}");
    assert!(!auth.authorizer.is_admin(&local));

    // ldap first: the directory is asked first, and local users still work after it.
    let (_d, auth, dir) = fixture(&["ldap", "basic"], 60).await;
    login(&auth, "alice", "local-pw").await.unwrap();
    assert_eq!(
        dir.calls(),
        1,
        "ldap first: asked, said wrong password, basic decided"
    );
    login(&auth, "carol", "carol-pw").await.unwrap();
    assert_eq!(dir.calls(), 2);

    // Only ldap: local passwords do not work at all.
    let (_d, auth, _dir) = fixture(&["ldap"], 60).await;
    let e = login(&auth, "admin", "admin-pw").await.unwrap_err();
    assert!(matches!(e, AuthError::InvalidCredentials), "{e}");
    login(&auth, "carol", "carol-pw").await.unwrap();
}

#[tokio::test]
async fn binds_are_cached_by_credentials_for_cache_ttl() {
    let (_d, auth, dir) = fixture(&["ldap", "basic"], 1).await;
    login(&auth, "carol", "carol-pw").await.unwrap();
    login(&auth, "carol", "carol-pw").await.unwrap();
    assert_eq!(dir.calls(), 1, "the second login is served from the cache");
    assert_eq!(auth.authenticator.stats().directory_lookups, 1);
    // Another password is another key: never served from carol's entry.
    assert!(login(&auth, "carol", "carol-pw ").await.is_err());
    assert!(login(&auth, "carol", "Carol-pw").await.is_err());
    assert_eq!(dir.calls(), 3);
    // "user:pass" is the key, not the user: a user whose name ends where another's password
    // begins gets no hit either.
    assert!(login(&auth, "carol:carol", "pw").await.is_err());

    // Removed from the group in the directory: seen once the 1 s TTL is over.
    dir.set_groups("carol", &[]);
    login(&auth, "carol", "carol-pw").await.unwrap();
    let mut refused = None;
    for _ in 0..50 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        if let Err(e) = login(&auth, "carol", "carol-pw").await {
            refused = Some(e);
            break;
        }
    }
    let e = refused.expect("refused once the cache entry expired");
    assert!(matches!(e, AuthError::NoMappedRole(_)), "{e}");
    // Its roles are gone too, so tokens already out stop granting anything.
    let hosted = repo("id-h", "docker-hosted", "docker");
    let ex = auth.explain("carol", &hosted, Action::Add).await.unwrap();
    assert!(!ex.allowed, "{ex}");
}

#[tokio::test]
async fn an_outage_is_503_for_directory_users_and_local_users_still_work() {
    for realms in [&["ldap", "basic"][..], &["basic", "ldap"][..]] {
        let (_d, auth, dir) = fixture(realms, 60).await;
        dir.down.store(true, Ordering::SeqCst);
        let e = login(&auth, "carol", "carol-pw").await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Unavailable, "{realms:?}: {e}");
        assert_eq!(e.to_string(), DIRECTORY_UNAVAILABLE);
        assert!(e.service_failure().is_some());
        let core = trove_core::Error::from(e);
        assert_eq!(core.kind, ErrorKind::Unavailable);
        // Not "wrong password" for someone the directory might know...
        let e = login(&auth, "nobody", "x").await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Unavailable, "{e}");
        // ...and local users are not held up.
        let admin = login(&auth, "admin", "admin-pw").await.unwrap();
        assert!(auth.authorizer.is_admin(&admin), "{realms:?}");
        // Back up: after the short back-off, directory users sign in again.
        dir.down.store(false, Ordering::SeqCst);
        let mut ok = false;
        for _ in 0..40 {
            if login(&auth, "carol", "carol-pw").await.is_ok() {
                ok = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert!(ok, "carol signs in once the directory answers again");
    }
}

#[tokio::test]
async fn a_directory_user_disabled_in_trove_stays_out() {
    let (_d, auth, _dir) = fixture(&["ldap"], 0).await;
    login(&auth, "carol", "carol-pw").await.unwrap();
    auth.set_user_status("carol", trove_auth::UserStatus::Disabled)
        .await
        .unwrap();
    let e = login(&auth, "carol", "carol-pw").await.unwrap_err();
    assert!(matches!(e, AuthError::Disabled), "{e}");
}

#[tokio::test]
async fn config_without_ldap_section_is_refused() {
    let (_d, _meta, auth) = auth().await;
    let e = auth
        .apply_config(&SecurityDecl {
            realms: Some(vec!["ldap".into()]),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert!(e.msg.contains("no [ldap] section"), "{}", e.msg);
    // Removing [ldap] from the file removes it from the database.
    auth.apply_config(&decl(&["basic", "ldap"], 5))
        .await
        .unwrap();
    assert!(auth.ldap_config().is_some());
    auth.apply_config(&SecurityDecl::default()).await.unwrap();
    assert!(auth.ldap_config().is_none());
}
