//! `trove_core::RepoName::parse`: repository names, which appear in URLs and paths.
//!
//! Invariants: never panics; an accepted name is the input unchanged, 1 to 64 bytes of
//! `[A-Za-z0-9._-]`, not starting with `.` or `-` (so never `.`, `..`, or a path).
#![no_main]

use libfuzzer_sys::fuzz_target;
use trove_core::RepoName;

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(n) = RepoName::parse(s) else {
        return;
    };
    let n = n.as_str();
    assert_eq!(n, s);
    assert!((1..=64).contains(&n.len()), "{s:?}: length");
    assert!(!n.starts_with(['.', '-']), "{s:?}: leading . or -");
    assert!(
        n.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-')),
        "{s:?}: character outside the grammar"
    );
});
