//! What every format's error table shares: internal causes are logged once, where they are
//! mapped, and never reach a client; the wire code and reason of every refusal reach the
//! request's log line.

use actix_web::HttpRequest;
use actix_web::http::StatusCode;
use trove_core::{Error, ErrorKind};

use super::access::Refusal;

/// The message clients get for an internal error (the log has the cause).
pub const INTERNAL: &str = "internal server error; the server log has the cause";

/// Logs an internal error once, with its cause, and returns the client's message.
pub fn internal(e: &Error) -> &'static str {
    tracing::error!(error = ?e, "internal error");
    INTERNAL
}

/// Notes the wire `code` a request was answered with, and why when it was a refusal.
pub fn note(req: &HttpRequest, code: &str, reason: Option<&str>) {
    super::request::note(req, |f| {
        f.error = Some(code.to_owned());
        if let Some(r) = reason {
            f.reason = Some(r.to_owned());
        }
    });
}

/// For tests of a format's table: `status_of` answers a status for every core error kind.
pub fn check_table(status_of: impl Fn(&ErrorKind) -> u16) {
    for kind in ErrorKind::all() {
        let s = status_of(&kind);
        assert!((400..600).contains(&s), "{kind:?} maps to {s}");
    }
}

/// A refusal or failure of a format whose errors are a status and a message (raw, npm, PyPI,
/// Maven, cargo):
/// each format renders it in its own wire shape; the mapping from core error kinds and
/// refusals to statuses is this one.
#[derive(Debug, Clone)]
pub struct Failure {
    pub status: StatusCode,
    /// What the client is told.
    pub message: String,
    /// What the request's log line says (the missing privilege, the routing rule).
    pub reason: String,
    /// The client should send credentials (a `WWW-Authenticate` challenge, where the format
    /// sends one).
    pub challenge: bool,
    /// The client went away before the request was complete: not a server error.
    pub aborted: bool,
    /// Where a redirect points.
    pub location: Option<String>,
}

impl Failure {
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        let message = message.into();
        Failure {
            status,
            reason: message.clone(),
            message,
            challenge: false,
            aborted: false,
            location: None,
        }
    }

    /// The status's canonical reason: the request log's error code.
    pub fn code(&self) -> &'static str {
        self.status.canonical_reason().unwrap_or("error")
    }

    /// A core error, by [`status_of`]; internal causes are logged here and never sent.
    pub fn from_core(e: Error) -> Self {
        Failure::from_core_with(e, status_of)
    }

    /// A core error through a format's own table (npm answers a full disk 507, for one): a
    /// client that went away is its own doing (logged as such), an internal cause is logged
    /// here and never sent, a routing rule's refusal names the rule in the log.
    pub fn from_core_with(e: Error, status_of: fn(&ErrorKind) -> StatusCode) -> Self {
        if super::upload::is_client_abort(&e) {
            tracing::info!(error = %e.msg, "client aborted the request");
            let mut r = Failure::new(StatusCode::BAD_REQUEST, e.msg);
            r.aborted = true;
            r.reason = "client aborted".into();
            return r;
        }
        let status = status_of(&e.kind);
        if status == StatusCode::INTERNAL_SERVER_ERROR {
            return Failure::new(status, internal(&e));
        }
        let mut r = Failure::new(status, e.msg);
        if let ErrorKind::Blocked { rule } = &e.kind {
            r.reason = format!("routing rule {rule}");
        }
        r
    }

    /// An access refusal: 401 (with `challenge`), 403, or 404 for a missing repository.
    pub fn refused(r: Refusal) -> Self {
        let status = match &r {
            Refusal::Challenge(_) => StatusCode::UNAUTHORIZED,
            Refusal::Denied { .. } | Refusal::Hidden { .. } => StatusCode::FORBIDDEN,
            Refusal::Missing { .. } => StatusCode::NOT_FOUND,
        };
        let mut e = Failure::new(status, r.message());
        e.reason = r.reason();
        e.challenge = matches!(r, Refusal::Challenge(_));
        e
    }

    /// A body that could not be read whole (too large, or the client went away).
    pub fn body(e: super::body::ReadError) -> Self {
        match e {
            super::body::ReadError::TooLarge(l) => Failure::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                format!("the request body is over {l} bytes"),
            ),
            super::body::ReadError::Gone(why) => {
                let mut e = Failure::new(StatusCode::BAD_REQUEST, why);
                e.aborted = true;
                e.reason = "client aborted".into();
                e
            }
        }
    }

    /// Notes the failure in the request's log line.
    pub fn note(&self, req: &HttpRequest) {
        note(req, self.code(), Some(&self.reason));
        if self.aborted {
            super::request::note(req, |f| f.aborted = true);
        }
    }
}

/// The table from core error kinds to statuses of the formats that answer with a plain status.
pub fn status_of(kind: &ErrorKind) -> StatusCode {
    match kind {
        ErrorKind::NotFound => StatusCode::NOT_FOUND,
        ErrorKind::AlreadyExists => StatusCode::CONFLICT,
        ErrorKind::Invalid | ErrorKind::DigestMismatch => StatusCode::BAD_REQUEST,
        ErrorKind::RangeNotSatisfiable => StatusCode::RANGE_NOT_SATISFIABLE,
        ErrorKind::Unauthenticated => StatusCode::UNAUTHORIZED,
        ErrorKind::Forbidden | ErrorKind::Blocked { .. } => StatusCode::FORBIDDEN,
        ErrorKind::Unsupported => StatusCode::METHOD_NOT_ALLOWED,
        ErrorKind::Upstream => StatusCode::BAD_GATEWAY,
        ErrorKind::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
        ErrorKind::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        ErrorKind::InsufficientStorage => StatusCode::INSUFFICIENT_STORAGE,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_table() {
        check_table(|k| status_of(k).as_u16());
    }
}
