//! npm's path grammar (crates/trove-formats/src/npm/names.rs): a request tail to a route, and
//! a stored path to what it holds.
//!
//! Invariants: never panics; a package name that parses prints back to itself and parses
//! again to the same name; a stored version manifest names a valid version.
#![no_main]

use libfuzzer_sys::fuzz_target;
use trove_formats::npm::fuzzing::{PackageName, Route, Stored, route, stored, version_ok};

fn roundtrips(name: &PackageName) {
    let again = PackageName::parse(name.as_str())
        .unwrap_or_else(|e| panic!("{:?} was accepted, then refused: {e}", name.as_str()));
    assert_eq!(again.as_str(), name.as_str());
}

fuzz_target!(|data: &[u8]| {
    // actix hands the handler a decoded `&str`: bytes that are not UTF-8 never get here.
    let Ok(tail) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(name) = PackageName::parse(tail) {
        roundtrips(&name);
    }
    if let Some(r) = route(tail) {
        match r {
            Route::Packument(n) | Route::PackumentRev(n, _) | Route::Tarball(n, _) => roundtrips(&n),
            _ => {}
        }
    }
    match stored(tail) {
        Some(Stored::Manifest(n, v)) => {
            roundtrips(&n);
            assert!(version_ok(&v), "{tail:?}: stored manifest of version {v:?}");
        }
        Some(Stored::Packument(n) | Stored::PackageDoc(n) | Stored::Tarball(n, _)) => {
            roundtrips(&n)
        }
        None => {}
    }
});
