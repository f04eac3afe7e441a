//! Manifest and index validation on PUT (crates/trove-formats/src/docker/manifests.rs): the
//! body parsed as a `Manifest`, then `media_type_of` with the request's `Content-Type`.
//!
//! Input: the first line is the `Content-Type` header value (an empty line: no header), the
//! rest is the body. Invariants: never panics; what is accepted has `schemaVersion` 2, one of
//! the four supported media types, and agrees with the body's own `mediaType`.
#![no_main]

use actix_web::http::header::{CONTENT_TYPE, HeaderValue};
use actix_web::test::TestRequest;
use libfuzzer_sys::fuzz_target;
use trove_formats::docker::fuzzing::{Manifest, media_type_of};

const SUPPORTED: [&str; 4] = [
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.docker.distribution.manifest.v2+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
];

fuzz_target!(|data: &[u8]| {
    let (ctype, body) = match data.iter().position(|&b| b == b'\n') {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (&[][..], data),
    };
    let Ok(manifest) = serde_json::from_slice::<Manifest>(body) else {
        return;
    };
    let mut req = TestRequest::default();
    if !ctype.is_empty() {
        // Bytes no HTTP parser would pass as a header value cannot arrive.
        let Ok(v) = HeaderValue::from_bytes(ctype) else {
            return;
        };
        req = req.insert_header((CONTENT_TYPE, v));
    }
    let req = req.to_http_request();
    let Ok(accepted) = media_type_of(&req, &manifest) else {
        return;
    };
    assert!(
        SUPPORTED.contains(&accepted.as_str()),
        "accepted {accepted:?}"
    );
    // The struct's fields are private: check against the document read as plain JSON. That
    // can fail where the struct did not: serde_json does not check the UTF-8 of strings it
    // skips (unknown keys), a `Value` keeps them all.
    let Ok(doc) = serde_json::from_slice::<serde_json::Value>(body) else {
        return;
    };
    assert_eq!(
        doc["schemaVersion"], 2,
        "accepted a schemaVersion other than 2"
    );
    if let Some(m) = doc["mediaType"].as_str() {
        assert_eq!(m, accepted, "body mediaType and accepted type differ");
    }
});
