//! Who is calling: the `Authorization` header, checked the same way for every format (Basic
//! with argon2 behind a short cache, Trove's bearer tokens, API tokens in any of the forms
//! clients send them, or nobody). What a refusal looks
//! like is the format's business (its challenge and error shape).

use actix_web::HttpRequest;
use actix_web::http::header;
use trove_auth::{Auth, AuthError, Identity, Principal};

/// The raw `Authorization` header.
pub fn authorization(req: &HttpRequest) -> Option<&str> {
    req.headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
}

/// The caller's identity: `Anonymous` without credentials, an error for bad ones.
pub async fn identify(auth: &Auth, req: &HttpRequest) -> Result<Identity, AuthError> {
    let id = auth.authenticator.identify(authorization(req)).await;
    if let Err(e) = &id {
        super::audit::registry_sign_in_failed(req, e).await;
    }
    if let Ok(id) = &id {
        let who = match &id.api_token {
            None => id.principal.name().to_owned(),
            Some(t) => format!("{} (token {})", id.principal.name(), t.name),
        };
        super::request::note(req, |f| f.principal = Some(who));
    }
    id
}

/// Nobody: what a challenge is built for before credentials were checked.
pub fn nobody() -> Identity {
    Identity::of(Principal::Anonymous)
}
