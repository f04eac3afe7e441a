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

/// The status most formats answer a core error kind with (raw, npm, Maven); docker has its
/// spec's own table.
pub fn default_status(kind: &ErrorKind) -> StatusCode {
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
    }
}

/// A core error or a refusal as a format's front end answers it, before it takes the format's
/// wire shape: the status, the message the client is shown, why (for the log line), and
/// whether the client went away (an aborted upload) or should be challenged for credentials.
#[derive(Debug, Clone)]
pub struct Answered {
    pub status: StatusCode,
    pub message: String,
    pub reason: String,
    pub aborted: bool,
    pub challenge: bool,
}

impl Answered {
    pub fn new(status: StatusCode, message: impl Into<String>) -> Answered {
        let message = message.into();
        Answered {
            status,
            reason: message.clone(),
            message,
            aborted: false,
            challenge: false,
        }
    }

    /// `e` through the format's table `status_of`: a client that went away is its own doing
    /// (logged as such), an internal cause is logged here and never sent, a routing rule's
    /// refusal names the rule in the log.
    pub fn from_core(e: Error, status_of: fn(&ErrorKind) -> StatusCode) -> Answered {
        if super::upload::is_client_abort(&e) {
            tracing::info!(error = %e.msg, "client aborted the request");
            let mut r = Answered::new(StatusCode::BAD_REQUEST, e.msg);
            r.aborted = true;
            r.reason = "client aborted".into();
            return r;
        }
        let status = status_of(&e.kind);
        if status == StatusCode::INTERNAL_SERVER_ERROR {
            return Answered::new(status, internal(&e));
        }
        let mut r = Answered::new(status, e.msg);
        if let ErrorKind::Blocked { rule } = &e.kind {
            r.reason = format!("routing rule {rule}");
        }
        r
    }

    /// A refusal: 401 to log in, 403 for a known caller who may not, 404 for a repository
    /// that does not exist (or that the caller may not see, which looks the same).
    pub fn refused(r: Refusal) -> Answered {
        let status = match &r {
            Refusal::Challenge(_) => StatusCode::UNAUTHORIZED,
            Refusal::Denied { .. } | Refusal::Hidden { .. } => StatusCode::FORBIDDEN,
            Refusal::Missing { .. } => StatusCode::NOT_FOUND,
        };
        let mut e = Answered::new(status, r.message());
        e.reason = r.reason();
        e.challenge = matches!(r, Refusal::Challenge(_));
        e
    }

    /// The wire code of the log line: the status's reason phrase.
    pub fn code(&self) -> &'static str {
        self.status.canonical_reason().unwrap_or("error")
    }

    /// Notes the answer in the request's log line.
    pub fn note(&self, req: &HttpRequest) {
        note(req, self.code(), Some(&self.reason));
        if self.aborted {
            super::request::note(req, |f| f.aborted = true);
        }
    }
}
