//! Docker token scopes (crates/trove-formats/src/docker/token.rs `parse_scopes`): the query
//! string of `GET /v2/token`.
//!
//! Invariants: never panics; errors are 400; each parsed action is non-empty and holds no `,`
//! and no whitespace, and no name holds whitespace (scopes are split on it).
#![no_main]

use libfuzzer_sys::fuzz_target;
use trove_formats::docker::fuzzing::parse_scopes;

fuzz_target!(|data: &[u8]| {
    // actix's query string is the raw (still percent-encoded) text after `?`, a `&str`.
    let Ok(query) = std::str::from_utf8(data) else {
        return;
    };
    match parse_scopes(query) {
        Ok(scopes) => {
            for (name, actions) in scopes {
                assert!(
                    !name.contains(char::is_whitespace),
                    "{query:?} gave name {name:?}"
                );
                for a in actions {
                    assert!(
                        !a.is_empty() && !a.contains(',') && !a.contains(char::is_whitespace),
                        "{query:?} gave action {a:?}"
                    );
                }
            }
        }
        Err(e) => assert_eq!(e.status, 400, "{query:?}: {e}"),
    }
});
