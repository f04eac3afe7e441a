//! What the front ends add to the audit log themselves: failed sign-ins (wrong passwords,
//! unknown or revoked tokens) on any front end, and deletes of content through a registry
//! protocol. The service layer records everything else (`trove_service::audit`); both write
//! the same shape.
//!
//! Failed sign-ins are what an attacker can produce at will, so at most
//! [`FAILURES_PER_SECOND`] are written per second per node; the rest are counted and the count
//! is written with the next one that is (`detail`: "... and N more not recorded").

use std::sync::Mutex;
use std::time::{Duration, Instant};

use actix_web::{HttpRequest, web};
use trove_auth::{AuthError, Identity};
use trove_store::{MetadataStore, NewAuditEntry};

use super::Frontend;

/// The most failed sign-ins written per second by one node.
pub const FAILURES_PER_SECOND: u32 = 20;

struct Budget {
    window: Instant,
    used: u32,
    dropped: u64,
}

static BUDGET: Mutex<Option<Budget>> = Mutex::new(None);

/// Whether one more failure may be written now, and how many were dropped since the last one
/// that was.
fn take() -> Option<u64> {
    let mut b = BUDGET.lock().expect("audit budget lock");
    let b = b.get_or_insert_with(|| Budget {
        window: Instant::now(),
        used: 0,
        dropped: 0,
    });
    if b.window.elapsed() >= Duration::from_secs(1) {
        b.window = Instant::now();
        b.used = 0;
    }
    if b.used >= FAILURES_PER_SECOND {
        b.dropped += 1;
        return None;
    }
    b.used += 1;
    Some(std::mem::take(&mut b.dropped))
}

/// The entry of a failed sign-in from `ip` at `front_end` (`console`, `rest`, `registry`):
/// the actor is `anonymous`, the entity whom the credentials claimed (a user name, or an API
/// token's public prefix; never a secret), the detail why. `None` when over the budget.
pub fn failed_sign_in(
    front_end: &str,
    ip: Option<std::net::IpAddr>,
    authorization: Option<&str>,
    why: &str,
) -> Option<NewAuditEntry> {
    let dropped = take()?;
    let (entity_type, entity_name) = trove_auth::claimed(authorization);
    let mut detail = why.to_owned();
    if dropped > 0 {
        detail.push_str(&format!(" (and {dropped} more failures not recorded)"));
    }
    Some(NewAuditEntry {
        actor: trove_auth::ANONYMOUS_USER.into(),
        ip: ip.map(|i| i.to_string()),
        front_end: front_end.into(),
        action: "sign-in-failed".into(),
        entity_type: entity_type.into(),
        entity_name,
        detail: Some(detail),
        ..Default::default()
    })
}

/// Appends `entry`, logging (not returning) a failure.
pub async fn append(meta: &MetadataStore, entry: NewAuditEntry) {
    if let Err(e) = meta.audit().append(std::slice::from_ref(&entry)).await {
        tracing::error!(error = ?e, action = %entry.action, "appending to the audit log failed");
    }
}

/// Records a registry request whose credentials were refused (not a missing credential, and
/// not a database failure).
pub async fn registry_sign_in_failed(req: &HttpRequest, err: &AuthError) {
    registry_sign_in_failed_with(req, super::caller::authorization(req), err).await
}

/// Like [`registry_sign_in_failed`], for credentials that came in the body (npm login).
pub async fn registry_sign_in_failed_with(
    req: &HttpRequest,
    authorization: Option<&str>,
    err: &AuthError,
) {
    if matches!(err, AuthError::Required) || err.service_failure().is_some() {
        return;
    }
    let Some(front) = req.app_data::<web::Data<Frontend>>() else {
        return;
    };
    let ip = super::external::client_ip_of(req, &front.trusted_proxies);
    if let Some(e) = failed_sign_in("registry", ip, authorization, &err.to_string()) {
        append(&front.meta, e).await;
    }
}

/// Records that `identity` deleted `what` (a manifest, a tag, a blob, a file) of repository
/// `repo` through a registry protocol.
pub async fn content_deleted(
    front: &Frontend,
    req: &HttpRequest,
    identity: &Identity,
    repo: &str,
    what: &str,
) {
    let entry = NewAuditEntry {
        actor: identity.principal.name().to_owned(),
        realm: identity.realm().map(str::to_owned),
        token: identity.api_token.as_ref().map(|t| t.name.clone()),
        ip: super::external::client_ip_of(req, &front.trusted_proxies).map(|i| i.to_string()),
        front_end: "registry".into(),
        action: "delete".into(),
        entity_type: "content".into(),
        entity_name: format!("{repo}:{what}"),
        before: Some(serde_json::json!({"repository": repo, "path": what})),
        ..Default::default()
    };
    append(&front.meta, entry).await;
}
