//! `trove_core::AssetPath::parse`: what routing rules match and storage keys derive from.
//!
//! Invariants: never panics; an accepted path is the input unchanged, starts with `/`, and has
//! no empty, `.` or `..` segment and no control character (no way out of the repository).
#![no_main]

use libfuzzer_sys::fuzz_target;
use trove_core::AssetPath;

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(p) = AssetPath::parse(s) else {
        return;
    };
    let p = p.as_str();
    assert_eq!(p, s);
    let rest = p.strip_prefix('/').expect("starts with /");
    for seg in rest.split('/') {
        assert!(
            !seg.is_empty() && seg != "." && seg != "..",
            "{s:?}: segment {seg:?}"
        );
    }
    assert!(
        !p.bytes().any(|b| b.is_ascii_control()),
        "{s:?}: control character"
    );
});
