//! API tokens a client asks for itself: `npm login` sends a user name and password and stores
//! the token it is given; `npm logout` hands it back. Format-neutral, so every client with a
//! login of its own gets the same rules: a password (never a token) makes a token, the token
//! is an ordinary API token of that user (listed, revocable, audited like any other), and only
//! its owner can give it back.

use actix_web::HttpRequest;
use trove_auth::{Identity, Principal, api_token};
use trove_store::NewAuditEntry;

use super::{Frontend, audit, external};

/// Why a login or logout was refused.
#[derive(Debug)]
pub enum TokenRefusal {
    /// Wrong password, unknown or disabled user, or credentials of the wrong kind: a 401.
    Unauthenticated(String),
    /// The token is not the caller's, or does not exist: the same answer for both.
    NotFound(String),
    /// The caller sent a malformed request: a 400.
    Invalid(String),
    /// Not the caller's fault (the database, an unreachable directory).
    Failure(trove_core::Error),
}

impl From<trove_core::Error> for TokenRefusal {
    fn from(e: trove_core::Error) -> Self {
        TokenRefusal::Failure(e)
    }
}

/// A new API token for `user`, whose `password` is checked through the realms (basic, LDAP)
/// the way a Basic header is. `client` names the token (`npm-<repo>-<unix millis>`), so the
/// user can tell in their token list where it came from. The token is never narrowed: it does
/// what the user's roles allow, until revoked.
pub async fn login(
    front: &Frontend,
    req: &HttpRequest,
    client: &str,
    user: &str,
    password: &str,
) -> Result<String, TokenRefusal> {
    use base64::Engine;
    if user.is_empty() || password.is_empty() {
        return Err(TokenRefusal::Invalid(
            "a user name and a password are required".into(),
        ));
    }
    if password.starts_with(trove_auth::TOKEN_PREFIX) {
        // A leaked token must not be able to outlive its revocation through tokens it made.
        return Err(TokenRefusal::Unauthenticated(
            "sign in with your password: an API token cannot make API tokens".into(),
        ));
    }
    let header = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"))
    );
    let principal = match front.auth.authenticator.authenticate(Some(&header)).await {
        Ok(p @ Principal::User { .. }) => p,
        Ok(_) => {
            return Err(TokenRefusal::Unauthenticated(
                "invalid username or password".into(),
            ));
        }
        Err(e) => {
            audit::registry_sign_in_failed_with(req, Some(&header), &e).await;
            return Err(match e.into_service_failure() {
                Ok(f) => TokenRefusal::Failure(f),
                Err(e) => TokenRefusal::Unauthenticated(e.to_string()),
            });
        }
    };
    let owner = principal.name().to_owned();
    let name = format!("{client}-{}", trove_core::now_millis());
    let (token, row) = front
        .auth
        .create_api_token(&owner, &name, None, None, None, &owner)
        .await?;
    audit::append(
        &front.meta,
        NewAuditEntry {
            actor: owner.clone(),
            realm: Some("basic".into()),
            ip: ip(front, req),
            front_end: "registry".into(),
            action: "create".into(),
            entity_type: "token".into(),
            entity_name: format!("{owner}/{name}"),
            after: Some(serde_json::json!({
                "name": row.name,
                "user": row.user,
                "prefix": format!("{}{}", trove_auth::TOKEN_PREFIX, row.id),
                "repositories": null,
                "actions": null,
                "expires_at": null,
            })),
            detail: Some(format!("made by {client} login")),
            ..Default::default()
        },
    )
    .await;
    tracing::info!(user = %owner, token = %name, "API token made by a client login");
    Ok(token.token)
}

/// Revokes `token`, which must be one of `identity`'s (npm sends the token it logs out with as
/// its credentials too). Any other token, or none, is "not found": nothing tells a caller
/// whether someone else's token exists.
pub async fn logout(
    front: &Frontend,
    req: &HttpRequest,
    identity: &Identity,
    token: &str,
) -> Result<(), TokenRefusal> {
    if identity.principal.is_anonymous() {
        return Err(TokenRefusal::Unauthenticated(
            "authentication required to log out".into(),
        ));
    }
    let not_found = || TokenRefusal::NotFound("no such token".into());
    let id = api_token::selector(token).ok_or_else(not_found)?;
    let row = front
        .meta
        .api_tokens()
        .get(id)
        .await?
        .ok_or_else(not_found)?;
    if !api_token::matches(token, &row.token_hash) || row.user != identity.principal.name() {
        return Err(not_found());
    }
    let Some(row) = front.meta.api_tokens().delete(&row.user, &row.name).await? else {
        return Err(not_found());
    };
    audit::append(
        &front.meta,
        NewAuditEntry {
            actor: row.user.clone(),
            realm: identity.realm().map(str::to_owned),
            token: identity.api_token.as_ref().map(|t| t.name.clone()),
            ip: ip(front, req),
            front_end: "registry".into(),
            action: "revoke".into(),
            entity_type: "token".into(),
            entity_name: format!("{}/{}", row.user, row.name),
            before: Some(serde_json::json!({
                "name": row.name,
                "user": row.user,
                "prefix": format!("{}{}", trove_auth::TOKEN_PREFIX, row.id),
            })),
            detail: Some("client logout".into()),
            ..Default::default()
        },
    )
    .await;
    tracing::info!(user = %row.user, token = %row.name, "API token revoked by a client logout");
    Ok(())
}

fn ip(front: &Frontend, req: &HttpRequest) -> Option<String> {
    external::client_ip_of(req, &front.trusted_proxies).map(|i| i.to_string())
}
