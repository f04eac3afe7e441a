//! The pure route parser: `/v2/<tail>` to a `Route`, with the name, tag and digest grammar of
//! the distribution spec (https://github.com/opencontainers/distribution-spec/blob/main/spec.md#pulling-manifests).

use trove_core::{Digest, UploadId};

use super::errors::{OciCode, OciError};

#[derive(Debug, Clone, PartialEq)]
pub enum Reference {
    Tag(String),
    Digest(Digest),
}

impl Reference {
    pub fn as_string(&self) -> String {
        match self {
            Reference::Tag(t) => t.clone(),
            Reference::Digest(d) => d.to_string(),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum Route {
    /// `/v2/`: the API version check.
    Ping,
    /// `/v2/<name>/tags/list`
    Tags { name: String },
    /// `/v2/<name>/manifests/<reference>`
    Manifest { name: String, reference: Reference },
    /// `/v2/<name>/blobs/<digest>`
    Blob { name: String, digest: Digest },
    /// `/v2/<name>/blobs/uploads/`
    UploadStart { name: String },
    /// `/v2/<name>/blobs/uploads/<id>`
    Upload { name: String, id: UploadId },
    /// `/v2/<name>/referrers/<digest>`
    Referrers { name: String, digest: Digest },
    /// `/v2/_catalog`
    Catalog,
}

impl Route {
    pub fn name(&self) -> Option<&str> {
        match self {
            Route::Ping | Route::Catalog => None,
            Route::Tags { name }
            | Route::Manifest { name, .. }
            | Route::Blob { name, .. }
            | Route::UploadStart { name }
            | Route::Upload { name, .. }
            | Route::Referrers { name, .. } => Some(name),
        }
    }
}

/// Maximum length of a repository name, as in distribution.
const MAX_NAME_LEN: usize = 255;

/// Splits `tail` at the last `marker` whose remainder is a single path segment.
fn split_last<'a>(tail: &'a str, marker: &str) -> Option<(&'a str, &'a str)> {
    let at = tail.rfind(marker)?;
    let rest = &tail[at + marker.len()..];
    (!rest.contains('/')).then_some((&tail[..at], rest))
}

/// Parses the path after `/v2` (for example `/library/nginx/manifests/1`).
pub fn parse(tail: &str) -> Result<Route, OciError> {
    let tail = match tail {
        "" | "/" => return Ok(Route::Ping),
        t => t.strip_prefix('/').ok_or_else(unknown_path)?,
    };
    if tail == "_catalog" {
        return Ok(Route::Catalog);
    }
    if let Some(name) = tail.strip_suffix("/tags/list") {
        return Ok(Route::Tags {
            name: valid_name(name)?,
        });
    }
    if let Some(name) = tail
        .strip_suffix("/blobs/uploads/")
        .or_else(|| tail.strip_suffix("/blobs/uploads"))
    {
        return Ok(Route::UploadStart {
            name: valid_name(name)?,
        });
    }
    if let Some((name, id)) = split_last(tail, "/blobs/uploads/") {
        let name = valid_name(name)?;
        let id = UploadId::parse(id).map_err(|_| {
            OciError::new(
                OciCode::BlobUploadUnknown,
                format!("upload {id:?} is unknown"),
            )
        })?;
        return Ok(Route::Upload { name, id });
    }
    if let Some((name, digest)) = split_last(tail, "/referrers/") {
        let name = valid_name(name)?;
        return Ok(Route::Referrers {
            name,
            digest: parse_digest(digest)?,
        });
    }
    if let Some((name, reference)) = split_last(tail, "/manifests/") {
        let name = valid_name(name)?;
        let reference = parse_reference(reference)?;
        return Ok(Route::Manifest { name, reference });
    }
    if let Some((name, digest)) = split_last(tail, "/blobs/") {
        let name = valid_name(name)?;
        return Ok(Route::Blob {
            name,
            digest: parse_digest(digest)?,
        });
    }
    Err(unknown_path())
}

fn unknown_path() -> OciError {
    OciError::new(OciCode::NameUnknown, "no registry API at this path").status(404)
}

pub fn parse_digest(s: &str) -> Result<Digest, OciError> {
    Digest::parse(s).map_err(|e| OciError::new(OciCode::DigestInvalid, e.msg))
}

fn parse_reference(s: &str) -> Result<Reference, OciError> {
    if s.contains(':') {
        return parse_digest(s).map(Reference::Digest);
    }
    if is_tag(s) {
        Ok(Reference::Tag(s.to_owned()))
    } else {
        Err(OciError::new(
            OciCode::TagInvalid,
            format!(
                "invalid tag {s:?}: use up to 128 of A-Z a-z 0-9 _ . - (not starting with . or -)"
            ),
        ))
    }
}

/// `[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}`
pub fn is_tag(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && b.len() <= 128
        && (b[0].is_ascii_alphanumeric() || b[0] == b'_')
        && b.iter()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'_' | b'.' | b'-'))
}

fn valid_name(name: &str) -> Result<String, OciError> {
    if is_name(name) {
        Ok(name.to_owned())
    } else {
        Err(OciError::new(
            OciCode::NameInvalid,
            format!(
                "invalid repository name {name:?}: lowercase path components of a-z 0-9 \
                 separated by '.', '_', '__' or dashes"
            ),
        ))
    }
}

/// `[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*(\/[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*)*`, at most 255 bytes.
pub fn is_name(name: &str) -> bool {
    !name.is_empty() && name.len() <= MAX_NAME_LEN && name.split('/').all(is_component)
}

fn is_component(c: &str) -> bool {
    let b = c.as_bytes();
    let alnum = |x: u8| x.is_ascii_lowercase() || x.is_ascii_digit();
    if b.is_empty() || !alnum(b[0]) || !alnum(b[b.len() - 1]) {
        return false;
    }
    let mut i = 0;
    while i < b.len() {
        if alnum(b[i]) {
            i += 1;
            continue;
        }
        let start = i;
        while i < b.len() && !alnum(b[i]) {
            i += 1;
        }
        let sep = &c[start..i];
        let ok = sep == "." || sep == "_" || sep == "__" || sep.bytes().all(|x| x == b'-');
        if !ok {
            return false;
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    const D: &str = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
    const U: &str = "0191c5d2-5a7e-4c1f-8b0a-1234567890ab";

    fn code(tail: &str) -> OciCode {
        parse(tail).unwrap_err().code
    }

    #[test]
    fn routes() {
        assert_eq!(parse("").unwrap(), Route::Ping);
        assert_eq!(parse("/").unwrap(), Route::Ping);
        assert_eq!(
            parse("/a/b/tags/list").unwrap(),
            Route::Tags { name: "a/b".into() }
        );
        let m = parse("/library/nginx/manifests/1.25").unwrap();
        assert_eq!(
            m,
            Route::Manifest {
                name: "library/nginx".into(),
                reference: Reference::Tag("1.25".into())
            }
        );
        let m = parse(&format!("/x/manifests/{D}")).unwrap();
        assert_eq!(
            m,
            Route::Manifest {
                name: "x".into(),
                reference: Reference::Digest(Digest::parse(D).unwrap())
            }
        );
        assert_eq!(
            parse(&format!("/x/blobs/{D}")).unwrap(),
            Route::Blob {
                name: "x".into(),
                digest: Digest::parse(D).unwrap()
            }
        );
        assert_eq!(
            parse("/x/y/blobs/uploads/").unwrap(),
            Route::UploadStart { name: "x/y".into() }
        );
        assert_eq!(
            parse("/x/y/blobs/uploads").unwrap(),
            Route::UploadStart { name: "x/y".into() }
        );
        assert_eq!(parse("/_catalog").unwrap(), Route::Catalog);
        assert_eq!(
            parse(&format!("/a/b/referrers/{D}")).unwrap(),
            Route::Referrers {
                name: "a/b".into(),
                digest: Digest::parse(D).unwrap()
            }
        );
        assert_eq!(
            parse(&format!("/x/blobs/uploads/{U}")).unwrap(),
            Route::Upload {
                name: "x".into(),
                id: UploadId::parse(U).unwrap()
            }
        );
    }

    #[test]
    fn names_that_contain_route_words() {
        let m = parse("/a/manifests/b/manifests/latest").unwrap();
        assert_eq!(m.name(), Some("a/manifests/b"));
        let m = parse(&format!("/blobs/blobs/{D}")).unwrap();
        assert_eq!(m.name(), Some("blobs"));
        let m = parse("/tags/list/tags/list").unwrap();
        assert_eq!(m.name(), Some("tags/list"));
    }

    #[test]
    fn name_grammar() {
        for good in [
            "a",
            "a/b",
            "a-b",
            "a--b",
            "a.b",
            "a_b",
            "a__b",
            "0",
            "library/nginx",
            "a1/b2/c3",
        ] {
            assert!(is_name(good), "{good}");
        }
        let long = "a".repeat(256);
        for bad in [
            "", "A", "a/", "/a", "a//b", "-a", "a-", "a___b", "a._b", "a..b", "ä", "a b", &long,
        ] {
            assert!(!is_name(bad), "{bad:?}");
        }
        assert_eq!(code("/Upper/manifests/1"), OciCode::NameInvalid);
        assert_eq!(code("/a//b/tags/list"), OciCode::NameInvalid);
    }

    #[test]
    fn tag_and_digest_grammar() {
        for good in ["1", "latest", "_x", "A.b-c_9", &"t".repeat(128)] {
            assert!(is_tag(good), "{good}");
        }
        for bad in ["", ".x", "-x", "a/b", "a+b", &"t".repeat(129)] {
            assert!(!is_tag(bad), "{bad:?}");
        }
        assert_eq!(code("/x/manifests/-bad"), OciCode::TagInvalid);
        assert_eq!(code("/x/manifests/sha256:abc"), OciCode::DigestInvalid);
        assert_eq!(code("/x/blobs/sha256:xyz"), OciCode::DigestInvalid);
        assert_eq!(code("/x/blobs/latest"), OciCode::DigestInvalid);
        assert_eq!(
            code("/x/blobs/uploads/not-a-uuid"),
            OciCode::BlobUploadUnknown
        );
        assert_eq!(
            code(&format!("/x/blobs/uploads/{}", U.to_uppercase())),
            OciCode::BlobUploadUnknown
        );
    }

    #[test]
    fn unknown_paths() {
        for bad in [
            "x",
            "/x",
            "/x/y",
            "/x/manifests",
            "/x/blobs",
            "/x/manifests/a/b",
            "/_catalogue",
        ] {
            let e = parse(bad).unwrap_err();
            assert_eq!((e.code, e.status), (OciCode::NameUnknown, 404), "{bad:?}");
        }
    }

    /// Property test over random paths built from the characters that matter to the grammar:
    /// the parser never panics, and whatever it accepts satisfies the grammar it claims.
    #[test]
    fn random_paths_never_panic_and_accepted_parts_are_valid() {
        let alphabet: Vec<&str> = vec![
            "/",
            "a",
            "Z",
            "0",
            ".",
            "_",
            "__",
            "-",
            ":",
            "sha256:",
            "sha512:",
            "manifests",
            "blobs",
            "uploads",
            "tags",
            "list",
            "referrers",
            "_catalog",
            "..",
            "%",
            " ",
            "\u{0}",
            "é",
            D,
            U,
        ];
        let mut seed: u64 = 0x2545_f491_4f6c_dd1d;
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        for _ in 0..50_000 {
            let len = next() % 12;
            let path: String = (0..len)
                .map(|_| alphabet[(next() % alphabet.len() as u64) as usize])
                .collect();
            for candidate in [path.clone(), format!("/{path}")] {
                match parse(&candidate) {
                    Ok(route) => {
                        if let Some(name) = route.name() {
                            assert!(is_name(name), "{candidate:?} gave name {name:?}");
                        }
                        if let Route::Manifest {
                            reference: Reference::Tag(t),
                            ..
                        } = &route
                        {
                            assert!(is_tag(t), "{candidate:?} gave tag {t:?}");
                        }
                    }
                    Err(e) => assert!((400..500).contains(&e.status), "{candidate:?}: {e}"),
                }
            }
        }
    }
}
