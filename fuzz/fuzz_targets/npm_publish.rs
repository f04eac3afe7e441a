//! The tarball of an `npm publish` document (crates/trove-formats/src/npm/publish.rs,
//! `attached`): found under the attachment names npm uses, decoded from base64, its length
//! and its `dist.integrity` / `dist.shasum` checked.
//!
//! Input: a publish document as JSON. Invariants: never panics; an accepted tarball's SHA-512
//! is the digest of its bytes, and equals the document's `dist.integrity` whenever that names
//! a SHA-512.
#![no_main]

use libfuzzer_sys::fuzz_target;
use serde_json::Value;
use trove_core::{Algorithm, Digest};
use trove_formats::npm::fuzzing::{PackageName, fuzz_attached, sri_sha512};

fuzz_target!(|data: &[u8]| {
    let Ok(doc) = serde_json::from_slice::<Value>(data) else {
        return;
    };
    let Some(name) = doc
        .get("name")
        .and_then(Value::as_str)
        .and_then(|n| PackageName::parse(n).ok())
    else {
        return;
    };
    let empty = serde_json::Map::new();
    let attachments = doc
        .get("_attachments")
        .and_then(Value::as_object)
        .unwrap_or(&empty);
    let Some(versions) = doc.get("versions").and_then(Value::as_object) else {
        return;
    };
    for (version, manifest) in versions {
        let Some(manifest) = manifest.as_object() else {
            continue;
        };
        let Ok((bytes, sha512, _sha1)) = fuzz_attached(&name, version, manifest, attachments)
        else {
            continue;
        };
        assert_eq!(Digest::of(Algorithm::Sha512, &bytes), sha512);
        if let Some(integrity) = manifest
            .get("dist")
            .and_then(|d| d.get("integrity"))
            .and_then(Value::as_str)
            .filter(|i| i.contains("sha512-"))
        {
            assert_eq!(
                sri_sha512(integrity).as_ref(),
                Some(&sha512),
                "accepted a tarball its integrity does not name"
            );
        }
    }
});
