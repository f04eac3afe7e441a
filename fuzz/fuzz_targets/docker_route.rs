//! `trove_formats::docker::route::parse`: the path after `/v2` to a route.
//!
//! Invariants: never panics; errors are 4xx; an accepted name and tag satisfy the grammar the
//! parser claims; every accepted route prints back to a path that parses to the same route;
//! and the asset paths the handlers build from it are valid (else they would answer 500).
#![no_main]

use libfuzzer_sys::fuzz_target;
use trove_core::AssetPath;
use trove_formats::docker::route::{Reference, Route, is_name, is_tag, parse};

fn printed(route: &Route) -> String {
    match route {
        Route::Ping => "/".into(),
        Route::Catalog => "/_catalog".into(),
        Route::Tags { name } => format!("/{name}/tags/list"),
        Route::Manifest { name, reference } => {
            format!("/{name}/manifests/{}", reference.as_string())
        }
        Route::Blob { name, digest } => format!("/{name}/blobs/{digest}"),
        Route::UploadStart { name } => format!("/{name}/blobs/uploads/"),
        Route::Upload { name, id } => format!("/{name}/blobs/uploads/{id}"),
        Route::Referrers { name, digest } => format!("/{name}/referrers/{digest}"),
    }
}

fuzz_target!(|data: &[u8]| {
    // actix hands the handler a decoded `&str`: bytes that are not UTF-8 never get here.
    let Ok(tail) = std::str::from_utf8(data) else {
        return;
    };
    let route = match parse(tail) {
        Ok(r) => r,
        Err(e) => {
            assert!((400..500).contains(&e.status), "{tail:?}: {e}");
            return;
        }
    };
    if let Some(name) = route.name() {
        assert!(is_name(name), "{tail:?} gave name {name:?}");
        // What manifests.rs, blobs.rs and tags.rs build from the name.
        for p in [
            format!("/v2/{name}/tags/list"),
            format!("/v2/{name}/manifests/latest"),
        ] {
            assert!(
                AssetPath::parse(&p).is_ok(),
                "{tail:?}: {p:?} is not an asset path"
            );
        }
    }
    if let Route::Manifest { name, reference } = &route {
        if let Reference::Tag(t) = reference {
            assert!(is_tag(t), "{tail:?} gave tag {t:?}");
        }
        let p = format!("/v2/{name}/manifests/{}", reference.as_string());
        assert!(
            AssetPath::parse(&p).is_ok(),
            "{tail:?}: {p:?} is not an asset path"
        );
    }
    let again = parse(&printed(&route)).unwrap_or_else(|e| panic!("{tail:?} reprinted: {e}"));
    assert_eq!(again, route, "{tail:?} does not round-trip");
});
