//! The registry's small endpoints: who am I, login and logout, search, and the ones Trove
//! answers with a clear "not here" (web login, audit).

use std::collections::BTreeSet;

use actix_web::http::StatusCode;
use serde_json::{Value, json};
use trove_core::Page;

use super::names::{PackageName, Stored, stored};
use super::{Answer, Call, NpmError, ok_json, packument_value};
use crate::kit::tokens;

/// `GET /-/whoami`.
pub fn whoami(call: &Call) -> Answer {
    if call.identity.principal.is_anonymous() {
        return Err(NpmError::new(
            StatusCode::UNAUTHORIZED,
            "not logged in: run npm login, or set an _authToken for this registry",
        ));
    }
    Ok(ok_json(
        StatusCode::OK,
        json!({ "username": call.identity.principal.name() }),
    ))
}

/// `POST /-/v1/login`: a 2xx would send npm into browser login; any 4xx makes it ask for a
/// user name and password instead.
pub fn no_web_login() -> NpmError {
    NpmError::new(
        StatusCode::NOT_FOUND,
        "web login is not offered; npm falls back to user name and password",
    )
}

/// npm audit: not offered. npm install and ci report it and carry on.
pub fn no_audit() -> NpmError {
    NpmError::new(
        StatusCode::NOT_FOUND,
        "this registry does not offer npm audit",
    )
}

/// Candidates listed per search at most (names, before matching).
const SEARCH_SCAN: usize = 5000;

/// `GET /-/v1/search?text=&size=&from=`: packages of this repository (a proxy: those it has
/// cached) whose name, description or keywords contain every word of `text`.
pub async fn search(call: &Call) -> Answer {
    let mut text = String::new();
    let mut size = 20usize;
    let mut from = 0usize;
    for (k, v) in url::form_urlencoded::parse(call.http.query_string().as_bytes()) {
        match &*k {
            "text" => text = v.to_lowercase(),
            "size" => size = v.parse().unwrap_or(20).clamp(1, 250),
            "from" => from = v.parse().unwrap_or(0),
            _ => {}
        }
    }
    let page = Page {
        after: None,
        limit: Some(100_000),
    };
    let rows = call
        .repo()
        .list(&call.ctx, "/", &page)
        .await
        .map_err(NpmError::from_core)?;
    let names: BTreeSet<PackageName> = rows
        .iter()
        .filter_map(|m| match stored(m.path.as_str())? {
            Stored::PackageDoc(n) | Stored::Packument(n) => Some(n),
            _ => None,
        })
        .take(SEARCH_SCAN)
        .collect();
    let words: Vec<&str> = text.split_whitespace().collect();
    let mut objects = Vec::new();
    let mut total = 0usize;
    for name in names {
        let in_name = words.iter().all(|w| name.as_str().contains(w));
        let Some((_, doc)) = packument_value(call, &name).await? else {
            continue;
        };
        let latest = doc
            .get("dist-tags")
            .and_then(|t| t.get("latest"))
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned();
        let description = doc
            .get("description")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned();
        let keywords = doc.get("keywords").cloned().unwrap_or_else(|| json!([]));
        let matches = in_name
            || words.iter().all(|w| {
                name.as_str().contains(w)
                    || description.to_lowercase().contains(w)
                    || keywords.as_array().is_some_and(|k| {
                        k.iter()
                            .any(|k| k.as_str().is_some_and(|k| k.to_lowercase().contains(w)))
                    })
            });
        if !matches {
            continue;
        }
        total += 1;
        if total <= from || objects.len() >= size {
            continue;
        }
        let date = doc
            .get("time")
            .and_then(|t| t.get("modified"))
            .cloned()
            .unwrap_or(Value::Null);
        // The search API names people `username` (packuments say `name`).
        let person = |p: &Value| {
            json!({
                "username": p.get("name").or_else(|| p.get("username")).and_then(Value::as_str).unwrap_or_default(),
                "email": p.get("email").and_then(Value::as_str).unwrap_or_default(),
            })
        };
        let maintainers: Vec<Value> = doc
            .get("maintainers")
            .and_then(Value::as_array)
            .map(|m| m.iter().map(person).collect())
            .unwrap_or_default();
        let publisher = doc
            .get("versions")
            .and_then(|v| v.get(&latest))
            .and_then(|m| m.get("_npmUser"))
            .map(person);
        objects.push(json!({
            "package": {
                "name": name.as_str(),
                "version": latest,
                "description": description,
                "keywords": keywords,
                "date": date,
                "maintainers": maintainers,
                "publisher": publisher,
                "links": {},
            },
            "score": { "final": 1.0, "detail": { "quality": 1.0, "popularity": 1.0, "maintenance": 1.0 } },
            "searchScore": 1.0,
        }));
    }
    Ok(ok_json(
        StatusCode::OK,
        json!({
            "objects": objects,
            "total": total,
            "time": super::packument::iso(trove_core::now_millis()),
        }),
    ))
}

/// The largest login body read (a name, a password and a few fields).
const MAX_LOGIN_BODY: usize = 64 << 10;

fn refusal(r: tokens::TokenRefusal) -> NpmError {
    match r {
        tokens::TokenRefusal::Unauthenticated(m) => NpmError::new(StatusCode::UNAUTHORIZED, m),
        tokens::TokenRefusal::NotFound(m) => NpmError::new(StatusCode::NOT_FOUND, m),
        tokens::TokenRefusal::Invalid(m) => NpmError::new(StatusCode::BAD_REQUEST, m),
        tokens::TokenRefusal::Failure(e) => NpmError::from_core(e),
    }
}

/// `PUT /-/user/org.couchdb.user:<name>`: npm login (`--auth-type=legacy`, and what the
/// default web login falls back to). The body is CouchDB's user document `{name, password,
/// ...}`; the answer `{ok, token}` gives npm an API token of that user, which it keeps as the
/// registry's `_authToken`. Trove creates no users here: an unknown name is a 401 like a wrong
/// password (npm adduser cannot sign anybody up).
pub async fn login(call: &mut Call, user: &str) -> Answer {
    if call.http.method() != actix_web::http::Method::PUT {
        return Err(NpmError::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "log in with PUT (npm login)",
        ));
    }
    let body = super::publish::read_body(call, MAX_LOGIN_BODY).await?;
    let doc: Value = serde_json::from_slice(&body).map_err(|e| {
        NpmError::new(
            StatusCode::BAD_REQUEST,
            format!("the login body is not JSON: {e}"),
        )
    })?;
    let name = doc.get("name").and_then(Value::as_str).unwrap_or(user);
    if name != user {
        return Err(NpmError::new(
            StatusCode::BAD_REQUEST,
            format!("the document names {name}, the path {user}"),
        ));
    }
    let password = doc
        .get("password")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let client = format!("npm-{}", call.name);
    let token = tokens::login(call.front(), &call.http, &client, user, password)
        .await
        .map_err(refusal)?;
    Ok(ok_json(
        StatusCode::CREATED,
        json!({ "ok": format!("you are authenticated as '{user}'"), "token": token }),
    ))
}

/// `DELETE /-/user/token/<token>`: npm logout revokes the token it was using.
pub async fn logout(call: &Call, token: &str) -> Answer {
    tokens::logout(call.front(), &call.http, &call.identity, token)
        .await
        .map_err(refusal)?;
    Ok(ok_json(StatusCode::OK, json!({ "ok": "logged out" })))
}
