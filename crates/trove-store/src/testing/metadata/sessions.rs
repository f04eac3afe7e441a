//! `sessions()`: console sessions, joined with their user.

use trove_core::now_millis;

use crate::{MetadataStore, UserStatus};

/// Create, get (unexpired only, with the user's current status), delete, delete a user's,
/// expire, and the cascade from a deleted user.
pub async fn sessions_conformance(s: &MetadataStore) {
    let sec = s.security();
    sec.create_user("sessions-alice", None, "ui").await.unwrap();
    sec.create_user("sessions-bob", None, "ui").await.unwrap();
    let sessions = s.sessions();
    let later = now_millis() + 60_000;
    sessions
        .create("h1", "sessions-alice", "csrf1", later)
        .await
        .unwrap();
    sessions
        .create("h2", "sessions-alice", "csrf2", now_millis() - 1)
        .await
        .unwrap();
    sessions
        .create("h3", "sessions-alice", "csrf3", later)
        .await
        .unwrap();
    sessions
        .create("h4", "sessions-bob", "csrf4", later)
        .await
        .unwrap();
    let got = sessions.get("h1").await.unwrap().unwrap();
    assert_eq!(
        (got.user.as_str(), got.csrf.as_str(), got.status.as_str()),
        ("sessions-alice", "csrf1", "active")
    );
    assert_eq!(got.expires, later);
    assert!(!got.must_change_password);
    assert!(
        !format!("{got:?}").contains("csrf1"),
        "Debug hides the CSRF token"
    );
    assert!(sessions.get("h2").await.unwrap().is_none(), "expired");
    assert!(sessions.get("ghost").await.unwrap().is_none());

    // The session reflects the user as it is now.
    sec.set_user_status("sessions-alice", UserStatus::Disabled)
        .await
        .unwrap();
    sec.set_password("sessions-alice", "$argon2id$x", true)
        .await
        .unwrap();
    let got = sessions.get("h1").await.unwrap().unwrap();
    assert_eq!(got.status, "disabled");
    assert!(got.must_change_password);

    assert!(sessions.expire().await.unwrap() >= 1);
    assert_eq!(
        sessions.expire().await.unwrap(),
        0,
        "nothing left to expire"
    );
    sessions.delete("h3").await.unwrap();
    assert!(sessions.get("h3").await.unwrap().is_none());
    assert!(sessions.get("h1").await.unwrap().is_some());
    sessions.delete_user("sessions-alice").await.unwrap();
    assert!(sessions.get("h1").await.unwrap().is_none());
    assert!(
        sessions.get("h4").await.unwrap().is_some(),
        "other users' sessions stay"
    );
    assert!(sec.delete_user("sessions-bob").await.unwrap());
    assert!(
        sessions.get("h4").await.unwrap().is_none(),
        "a deleted user takes their sessions"
    );
}
