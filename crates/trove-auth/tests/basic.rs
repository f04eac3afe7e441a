//! Basic authentication: passwords, disabled users, the positive cache, malformed headers.

use crate::common;

use std::time::{Duration, Instant};

use base64::Engine as _;
use common::*;
use trove_auth::{AuthError, Principal, Realms, SecurityDecl, UserStatus, password};
use trove_core::ErrorKind;

async fn fixture(
    cache_ttl: Duration,
) -> (
    tempfile::TempDir,
    trove_store::MetadataStore,
    trove_auth::Auth,
) {
    let (dir, meta, auth) = auth_with(settings(cache_ttl)).await;
    auth.apply_config(&SecurityDecl {
        users: vec![
            user("alice", Some("correct horse"), &[]),
            user("dora", Some("dora-pw"), &[]),
        ],
        ..Default::default()
    })
    .await
    .unwrap();
    (dir, meta, auth)
}

fn msg(r: Result<Principal, AuthError>) -> String {
    let e = r.expect_err("must be refused");
    assert_eq!(e.kind(), ErrorKind::Unauthenticated, "{e}");
    let text = e.to_string();
    let core = trove_core::Error::from(e);
    assert_eq!(
        (core.kind, core.msg.as_str()),
        (ErrorKind::Unauthenticated, text.as_str())
    );
    text
}

#[tokio::test]
async fn passwords_users_and_status() {
    let (_d, _meta, auth) = fixture(Duration::from_secs(5)).await;
    let authn = &auth.authenticator;
    let p = authn
        .authenticate(Some(&basic("alice", "correct horse")))
        .await
        .unwrap();
    assert_eq!(p.name(), "alice");
    assert!(matches!(p, Principal::User { .. }));
    // Scheme is case-insensitive; surrounding spaces are fine.
    authn
        .authenticate(Some(&format!(
            "  basic {}  ",
            &basic("alice", "correct horse")[6..]
        )))
        .await
        .unwrap();

    let wrong = msg(authn.authenticate(Some(&basic("alice", "wrong"))).await);
    let unknown = msg(authn.authenticate(Some(&basic("nobody", "wrong"))).await);
    assert_eq!(wrong, "invalid username or password");
    assert_eq!(
        unknown, wrong,
        "unknown users are indistinguishable from wrong passwords"
    );
    // The anonymous user has no password: it cannot log in.
    assert_eq!(
        msg(authn.authenticate(Some(&basic("anonymous", ""))).await),
        wrong
    );

    auth.set_user_status("dora", UserStatus::Disabled)
        .await
        .unwrap();
    assert_eq!(
        msg(authn.authenticate(Some(&basic("dora", "dora-pw"))).await),
        "user account is disabled"
    );
    assert_eq!(
        msg(authn.authenticate(Some(&basic("dora", "nope"))).await),
        wrong
    );

    // No header: anonymous only when switched on (off by default).
    assert_eq!(
        msg(authn.authenticate(None).await),
        "authentication required"
    );
    auth.set_anonymous_enabled(true, "test").await.unwrap();
    assert_eq!(
        authn.authenticate(None).await.unwrap(),
        Principal::Anonymous
    );

    // Basic realm off.
    auth.set_realms(
        Realms {
            basic: false,
            docker_token: true,
            ..Realms::NONE
        },
        "test",
    )
    .await
    .unwrap();
    assert_eq!(
        msg(authn
            .authenticate(Some(&basic("alice", "correct horse")))
            .await),
        "basic authentication is turned off"
    );
}

#[tokio::test]
async fn malformed_headers_are_unauthenticated_not_panics() {
    let (_d, _meta, auth) = fixture(Duration::from_secs(5)).await;
    let b64 = |s: &[u8]| base64::engine::general_purpose::STANDARD.encode(s);
    let long = format!("Basic {}", "A".repeat(20_000));
    let cases: Vec<String> = vec![
        "Basic !!!".into(),
        "Basic".into(),
        "Basic ".into(),
        format!("Basic {}", b64(b"no-colon")),
        format!("Basic {}", b64(b":password-only")),
        format!("Basic {}", b64(b"")),
        format!("Basic {}", b64(&[0xff, 0xfe, b':', b'x'])),
        format!("Basic {}===", b64(b"alice:correct horse")),
        "Digest username=alice".into(),
        "Bearer".into(),
        "alice:correct horse".into(),
        long,
    ];
    for h in &cases {
        let r = auth.authenticator.authenticate(Some(h)).await;
        let e = r.expect_err(h);
        assert_eq!(e.kind(), ErrorKind::Unauthenticated, "{h:?}: {e}");
    }
    // An empty header counts as none.
    assert_eq!(
        msg(auth.authenticator.authenticate(Some("")).await),
        "authentication required"
    );
    // Padding is optional, as some clients omit it.
    let unpadded = base64::engine::general_purpose::STANDARD_NO_PAD.encode("alice:correct horse");
    auth.authenticator
        .authenticate(Some(&format!("Basic {unpadded}")))
        .await
        .unwrap();
}

#[tokio::test]
async fn positive_cache_skips_argon2_within_its_ttl() {
    let ttl = Duration::from_millis(1500);
    let (_d, meta, auth) = fixture(ttl).await;
    let authn = &auth.authenticator;
    let header = basic("alice", "correct horse");
    let before = authn.stats();
    let t = Instant::now();
    authn.authenticate(Some(&header)).await.unwrap();
    let uncached = t.elapsed();
    let after_first = authn.stats();
    assert_eq!(
        after_first.password_verifications,
        before.password_verifications + 1
    );

    // Change the stored hash behind the authenticator's back: the cached login still holds...
    let new_hash = password::hash("battery staple").unwrap();
    meta.security()
        .set_password("alice", &new_hash, false)
        .await
        .unwrap();
    authn.authenticate(Some(&header)).await.unwrap();
    let s = authn.stats();
    assert_eq!(
        s.password_verifications, after_first.password_verifications,
        "no argon2 on a hit"
    );
    assert_eq!(s.cache_hits, after_first.cache_hits + 1);
    // ...a wrong password is not a hit...
    assert!(
        authn
            .authenticate(Some(&basic("alice", "correct horsf")))
            .await
            .is_err()
    );
    // ...and once the TTL has passed, the old password is refused and the new one works.
    tokio::time::sleep(ttl + Duration::from_millis(100)).await;
    assert_eq!(
        msg(authn.authenticate(Some(&header)).await),
        "invalid username or password"
    );
    authn
        .authenticate(Some(&basic("alice", "battery staple")))
        .await
        .unwrap();

    // Timing: cached checks against argon2 ones.
    let n = 2000;
    let header = basic("alice", "battery staple");
    let t = Instant::now();
    for _ in 0..n {
        authn.authenticate(Some(&header)).await.unwrap();
    }
    let cached = t.elapsed() / n;
    let m = 5;
    let t = Instant::now();
    for _ in 0..m {
        authn.clear_cache();
        authn.authenticate(Some(&header)).await.unwrap();
    }
    let uncached_avg = t.elapsed() / m;
    println!(
        "basic auth: uncached (argon2id verify + user lookup) {:.1} ms/check (first {:.1} ms), \
         cached {:.2} µs/check, {}x faster",
        uncached_avg.as_secs_f64() * 1e3,
        uncached.as_secs_f64() * 1e3,
        cached.as_secs_f64() * 1e6,
        (uncached_avg.as_secs_f64() / cached.as_secs_f64()) as u64
    );
    assert!(
        cached * 50 < uncached_avg,
        "the cache must be much cheaper than argon2"
    );
}

/// A burst of requests with the same credentials on a cold cache runs argon2 once: the others
/// wait for the first answer (no thundering herd when a cached login expires under load).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_cold_logins_verify_once() {
    let (_d, _meta, auth) = fixture(Duration::from_secs(30)).await;
    let before = auth.authenticator.stats().password_verifications;
    let header = basic("alice", "correct horse");
    let tasks: Vec<_> = (0..16)
        .map(|_| {
            let (authn, header) = (auth.authenticator.clone(), header.clone());
            tokio::spawn(async move { authn.authenticate(Some(&header)).await })
        })
        .collect();
    for t in tasks {
        assert_eq!(t.await.unwrap().unwrap().name(), "alice");
    }
    assert_eq!(
        auth.authenticator.stats().password_verifications - before,
        1
    );
    // Wrong passwords are not cached: each attempt pays argon2, one at a time.
    let wrong = basic("alice", "wrong");
    for _ in 0..2 {
        assert!(auth.authenticator.authenticate(Some(&wrong)).await.is_err());
    }
    assert_eq!(
        auth.authenticator.stats().password_verifications - before,
        3
    );
}
