//! `trove_core::Digest::parse`: `sha256:` / `sha512:` digests from paths, query strings and
//! manifests.
//!
//! Invariants: never panics; an accepted digest prints back to the input exactly (so digests
//! compare as strings), has lowercase hex of the algorithm's length, and parses again to
//! itself.
#![no_main]

use libfuzzer_sys::fuzz_target;
use trove_core::{Algorithm, Digest};

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(d) = Digest::parse(s) else {
        return;
    };
    assert_eq!(d.to_string(), s, "does not print back");
    let len = match d.algorithm() {
        Algorithm::Sha256 => 64,
        Algorithm::Sha512 => 128,
    };
    assert_eq!(d.hex().len(), len, "{s:?}");
    assert!(
        d.hex()
            .bytes()
            .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')),
        "{s:?}"
    );
    assert_eq!(Digest::parse(&d.to_string()).ok(), Some(d));
});
