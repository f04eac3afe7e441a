//! What every format's error table shares: internal causes are logged once, where they are
//! mapped, and never reach a client; the wire code and reason of every refusal reach the
//! request's log line.

use actix_web::HttpRequest;
use trove_core::{Error, ErrorKind};

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
