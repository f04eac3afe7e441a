use std::fmt;

use crate::Error;

/// A repository name: 1 to 64 characters of `[A-Za-z0-9._-]`, not starting with `.` or `-`
/// (the same rule Nexus applies, so names migrate unchanged). It appears in URLs and paths, so
/// nothing else is allowed.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
pub struct RepoName(String);

impl RepoName {
    pub fn parse(s: &str) -> Result<Self, Error> {
        let ok = !s.is_empty()
            && s.len() <= 64
            && !s.starts_with(['.', '-'])
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
        if ok {
            Ok(RepoName(s.to_owned()))
        } else {
            Err(Error::invalid(format!(
                "invalid repository name {s:?}: use 1-64 of A-Z a-z 0-9 . _ - (not starting with . or -)"
            )))
        }
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl<'de> serde::Deserialize<'de> for RepoName {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        RepoName::parse(&s).map_err(serde::de::Error::custom)
    }
}

impl fmt::Display for RepoName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}
impl fmt::Debug for RepoName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.0, f)
    }
}

/// A request path relative to the repository root: starts with `/`, has no empty, `.` or `..`
/// segments. Docker paths start at `/v2/`. Routing rules match it and the UI shows it.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct AssetPath(String);

impl AssetPath {
    pub fn parse(s: &str) -> Result<Self, Error> {
        let ok = s.starts_with('/')
            && s.len() > 1
            && s[1..]
                .split('/')
                .all(|seg| !seg.is_empty() && seg != "." && seg != "..")
            && !s.bytes().any(|b| b.is_ascii_control());
        if ok {
            Ok(AssetPath(s.to_owned()))
        } else {
            Err(Error::invalid(format!("invalid asset path {s:?}")))
        }
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for AssetPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}
impl fmt::Debug for AssetPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.0, f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repo_names() {
        for good in ["docker", "docker-hosted", "a", "A.b_c-1"] {
            assert!(RepoName::parse(good).is_ok(), "{good}");
        }
        for bad in ["", "-x", ".x", "a/b", "a b", "ä", &"x".repeat(65)] {
            assert!(RepoName::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn asset_paths() {
        assert!(AssetPath::parse("/v2/library/nginx/manifests/1").is_ok());
        for bad in [
            "", "/", "v2/x", "/v2//x", "/v2/../x", "/v2/./x", "/v2/x/", "/v2/\nx",
        ] {
            assert!(AssetPath::parse(bad).is_err(), "{bad:?}");
        }
    }
}
