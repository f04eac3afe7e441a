//! The upload `Content-Range` parser (crates/trove-formats/src/docker/uploads.rs), which PATCH
//! and PUT of a blob upload read.
//!
//! Invariants: never panics; errors are 416; an accepted range has start <= end and prints
//! back to a value that parses to the same range.
#![no_main]

use actix_web::http::header::{CONTENT_RANGE, HeaderValue};
use actix_web::test::TestRequest;
use libfuzzer_sys::fuzz_target;
use trove_formats::docker::fuzzing::content_range;

fn parse(v: HeaderValue) -> Result<Option<(u64, u64)>, u16> {
    let req = TestRequest::default()
        .insert_header((CONTENT_RANGE, v))
        .to_http_request();
    content_range(&req).map_err(|e| e.status)
}

fuzz_target!(|data: &[u8]| {
    // Bytes no HTTP parser would pass as a header value cannot arrive.
    let Ok(v) = HeaderValue::from_bytes(data) else {
        return;
    };
    match parse(v) {
        Ok(Some((start, end))) => {
            assert!(start <= end, "{data:?} gave {start}-{end}");
            let again = parse(HeaderValue::from_str(&format!("{start}-{end}")).unwrap());
            assert_eq!(
                again,
                Ok(Some((start, end))),
                "{data:?} does not round-trip"
            );
        }
        Ok(None) => panic!("a Content-Range header was present but read as absent"),
        Err(status) => assert_eq!(status, 416, "{data:?}"),
    }
});
