//! `trove_core::ByteRange::parse_header` and `resolve`: the `Range` header of blob and asset
//! GETs.
//!
//! Invariants: never panics (no overflow: fuzz builds keep debug assertions); a resolved range
//! is non-empty and lies within the object, starts where asked (`start-`), or is the asked
//! suffix clipped to the size (`-n`).
#![no_main]

use libfuzzer_sys::fuzz_target;
use trove_core::ByteRange;

fuzz_target!(|data: &[u8]| {
    let Ok(v) = std::str::from_utf8(data) else {
        return;
    };
    let Some(range) = ByteRange::parse_header(v) else {
        return;
    };
    let mut sizes = vec![0, 1, 2, 4096, u64::MAX - 1, u64::MAX];
    let mut near = |n: u64| sizes.extend([n.saturating_sub(1), n, n.saturating_add(1)]);
    match range {
        ByteRange::From { start, end } => {
            near(start);
            if let Some(e) = end {
                assert!(e >= start, "{v:?} parsed to an inverted range");
                near(e);
            }
        }
        ByteRange::Suffix(n) => near(n),
    }
    for size in sizes {
        let Some((start, len)) = range.resolve(size) else {
            continue;
        };
        assert!(len >= 1, "{v:?} on {size}: empty range");
        let end = start.checked_add(len).expect("start + len overflows");
        assert!(
            end <= size,
            "{v:?} on {size}: ({start}, {len}) ends past the object"
        );
        match range {
            ByteRange::From { start: s, end: e } => {
                assert_eq!(start, s, "{v:?} on {size}");
                if let Some(e) = e {
                    assert!(start + len - 1 <= e, "{v:?} on {size}: past the asked end");
                }
            }
            ByteRange::Suffix(n) => assert_eq!(len, n.min(size), "{v:?} on {size}"),
        }
    }
});
