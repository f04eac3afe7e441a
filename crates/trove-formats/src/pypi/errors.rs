//! PyPI's error shape: the message is the status line's reason phrase, which is what twine
//! prints (`HTTPError: 400 Bad Request from <url>` and the reason on the next line) and what
//! `twine upload --skip-existing` reads for "already exists"; pip prints the status and
//! reason too (`403 Client Error: <reason> for url: ...`). The body repeats it as plain text,
//! for curl and `twine --verbose`.

use std::collections::HashMap;
use std::sync::{LazyLock, Mutex};

use actix_web::HttpResponse;
use actix_web::http::header;

use crate::kit::errors::Failure;

/// Reason phrases are `&'static str` in actix, so each distinct message is kept once; the
/// table is bounded (messages name files and users, which clients choose), and past the
/// bound a message gets its status's canonical phrase (the body still says it all).
const MAX_REASONS: usize = 512;
/// The longest reason phrase sent.
const MAX_REASON: usize = 300;

static REASONS: LazyLock<Mutex<HashMap<String, &'static str>>> =
    LazyLock::new(|| Mutex::new(HashMap::new()));

/// `message` as a reason phrase: visible ASCII and spaces only (it goes into the status
/// line), at most [`MAX_REASON`] characters; `None` once the table is full.
fn reason_phrase(message: &str) -> Option<&'static str> {
    let clean: String = message
        .chars()
        .map(|c| {
            if c.is_ascii_graphic() || c == ' ' {
                c
            } else {
                '?'
            }
        })
        .take(MAX_REASON)
        .collect();
    let mut table = REASONS.lock().expect("reason table");
    if let Some(r) = table.get(&clean) {
        return Some(r);
    }
    if table.len() >= MAX_REASONS {
        return None;
    }
    let leaked: &'static str = Box::leak(clean.clone().into_boxed_str());
    table.insert(clean, leaked);
    Some(leaked)
}

/// The response for a failure, in PyPI's shape.
pub fn response(e: &Failure) -> HttpResponse {
    let mut res = HttpResponse::build(e.status);
    if let Some(r) = reason_phrase(&e.message) {
        res.reason(r);
    }
    if e.challenge {
        res.insert_header((header::WWW_AUTHENTICATE, "Basic realm=\"trove\""));
    }
    res.content_type("text/plain; charset=utf-8").body(format!(
        "{} {}\n",
        e.status.as_u16(),
        e.message
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::http::StatusCode;

    #[test]
    fn reasons_are_clean_and_kept_once() {
        let a = reason_phrase("File already exists: x\r\nSet-Cookie: y").unwrap();
        assert_eq!(a, "File already exists: x??Set-Cookie: y");
        let b = reason_phrase("File already exists: x\r\nSet-Cookie: y").unwrap();
        assert!(std::ptr::eq(a, b), "interned");
        let long = reason_phrase(&"é".repeat(1000)).unwrap();
        assert_eq!(long.len(), MAX_REASON);
    }

    #[test]
    fn responses_carry_the_message_and_a_challenge() {
        let mut f = Failure::new(StatusCode::UNAUTHORIZED, "invalid username or password");
        f.challenge = true;
        let r = response(&f);
        assert_eq!(r.status(), 401);
        assert_eq!(r.head().reason(), "invalid username or password");
        assert!(r.headers().contains_key(header::WWW_AUTHENTICATE));
    }
}
