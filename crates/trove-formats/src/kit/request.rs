//! Request ids and the facts of a request's log line. The listener's middleware gives every
//! request an id (sent back as `X-Request-Id`) and a [`Facts`] record; handlers of every front
//! end note in it what they learnt (repository, format, caller, action, error code, why a
//! refusal), and the middleware writes one log line per request from it.

use std::cell::RefCell;
use std::rc::Rc;
use std::sync::Arc;

use actix_web::{HttpMessage, HttpRequest};

pub const REQUEST_ID: &str = "x-request-id";

/// What one request's log line says besides method, path, status and time.
#[derive(Debug, Default, Clone)]
pub struct Facts {
    pub request_id: Option<Arc<str>>,
    pub repository: Option<String>,
    pub format: Option<String>,
    pub principal: Option<String>,
    /// The Trove action the request needed (`read`, `add`, ...).
    pub action: Option<&'static str>,
    /// The wire error code answered (`MANIFEST_UNKNOWN`, `DENIED`, `not_found`).
    pub error: Option<String>,
    /// Why a request was refused: the missing privilege, the routing rule, the token scope.
    pub reason: Option<String>,
    /// The client went away before the request was complete (an aborted upload): not a
    /// server error.
    pub aborted: bool,
    /// The path to log instead of the request's, when that carries a secret (npm logout puts
    /// the token in the path).
    pub path: Option<String>,
}

/// Shared between the middleware (which logs it) and the handlers (which fill it).
#[derive(Clone, Default)]
pub struct FactsCell(pub Rc<RefCell<Facts>>);

/// A request id as clients may send one, or a fresh one: 16 hex digits.
pub fn request_id(incoming: Option<&str>) -> Arc<str> {
    match incoming {
        Some(v)
            if !v.is_empty()
                && v.len() <= 64
                && v.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_') =>
        {
            Arc::from(v)
        }
        _ => {
            let n: u64 = rand::random();
            Arc::from(format!("{n:016x}").as_str())
        }
    }
}

/// Records facts about `req` for its log line (nothing when no middleware installed a record,
/// as in some in-process tests).
pub fn note(req: &HttpRequest, f: impl FnOnce(&mut Facts)) {
    if let Some(cell) = req.extensions().get::<FactsCell>() {
        f(&mut cell.0.borrow_mut());
    }
}

/// The request's id, if the middleware gave it one.
pub fn id_of(req: &HttpRequest) -> Option<Arc<str>> {
    req.extensions()
        .get::<FactsCell>()
        .and_then(|c| c.0.borrow().request_id.clone())
}

/// A `Ctx` for repository calls made for `req` by `principal`.
pub fn ctx(req: &HttpRequest, principal: &trove_auth::Principal) -> trove_core::Ctx {
    trove_core::Ctx {
        user: (!principal.is_anonymous()).then(|| principal.name().to_owned()),
        request_id: id_of(req),
        variant: None,
        override_immutable: false,
    }
}
