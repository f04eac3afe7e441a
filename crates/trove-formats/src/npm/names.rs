//! npm package names, the routes of the registry API, and where a package's pieces are stored.
//!
//! Storage, per package `<name>` (`foo` or `@scope/foo`):
//! - `/<name>/-/<unscoped>-<version>.tgz`: a tarball, written once;
//! - `/<name>/-/meta/<version>.json`: a version's full manifest as published (only
//!   `deprecated` and `dist.tarball` ever change), its row's `created` is the version's time;
//! - `/<name>/-/package.json`: dist-tags, the package's own fields, created and modified;
//! - `/<name>`: the packument, generated from the above (hosted), fetched and rewritten
//!   (proxy) or merged (group).

use percent_encoding::percent_decode_str;

/// The longest name npm accepts for a new package.
pub const MAX_NAME: usize = 214;

/// A package name as addressed: `foo` or `@scope/foo`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PackageName(String);

fn name_part_ok(s: &str, legacy: bool) -> bool {
    !s.is_empty()
        && !s.starts_with(['.', '_'])
        && s.bytes().all(|b| {
            b.is_ascii_lowercase()
                || b.is_ascii_digit()
                || matches!(b, b'-' | b'.' | b'_')
                || (legacy
                    && (b.is_ascii_uppercase()
                        || matches!(b, b'~' | b'!' | b'\'' | b'(' | b')' | b'*')))
        })
}

impl PackageName {
    /// Any name a registry may hold (old packages have capitals and `~!'()*`); paths with
    /// anything else, `.`/`_` first, or an empty part, are not package names.
    pub fn parse(s: &str) -> Result<PackageName, String> {
        let ok = s.len() <= 2 * MAX_NAME
            && match s.strip_prefix('@') {
                Some(rest) => match rest.split_once('/') {
                    Some((scope, name)) => name_part_ok(scope, true) && name_part_ok(name, true),
                    None => false,
                },
                None => s != "-" && name_part_ok(s, true),
            };
        if ok {
            Ok(PackageName(s.to_owned()))
        } else {
            Err(format!("invalid package name {s:?}"))
        }
    }

    /// What `npm publish` may create: lowercase, URL-safe, at most 214 characters
    /// (validate-npm-package-name's rules for new packages).
    pub fn check_new(&self) -> Result<(), String> {
        let parts_ok = match self.0.strip_prefix('@') {
            Some(rest) => {
                let (scope, name) = rest.split_once('/').unwrap_or_default();
                name_part_ok(scope, false) && name_part_ok(name, false)
            }
            None => name_part_ok(&self.0, false),
        };
        if self.0.len() > MAX_NAME {
            return Err(format!(
                "package name {:?} is longer than {MAX_NAME} characters",
                self.0
            ));
        }
        if !parts_ok {
            return Err(format!(
                "invalid package name {:?}: new packages use lowercase letters, digits, - . _ (and @scope/)",
                self.0
            ));
        }
        Ok(())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The name without its scope: what tarball file names start with.
    pub fn unscoped(&self) -> &str {
        self.0.rsplit('/').next().unwrap_or(&self.0)
    }

    /// As it goes into an upstream URL: `@scope%2ffoo`.
    pub fn escaped(&self) -> String {
        self.0.replacen('/', "%2f", 1)
    }

    /// The packument's path.
    pub fn packument(&self) -> String {
        format!("/{}", self.0)
    }

    /// The tarball's file name for `version`.
    pub fn tarball_file(&self, version: &str) -> String {
        format!("{}-{version}.tgz", self.unscoped())
    }

    pub fn tarball(&self, version: &str) -> String {
        format!("/{}/-/{}", self.0, self.tarball_file(version))
    }

    /// The prefix every stored piece of the package is under.
    pub fn prefix(&self) -> String {
        format!("/{}/-/", self.0)
    }

    pub fn manifest(&self, version: &str) -> String {
        format!("/{}/-/meta/{version}.json", self.0)
    }

    pub fn package_doc(&self) -> String {
        format!("/{}/-/package.json", self.0)
    }
}

impl std::fmt::Display for PackageName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// A version as a path segment may carry it (semver: `0-9 A-Z a-z . + -`).
pub fn version_ok(v: &str) -> bool {
    !v.is_empty()
        && v.len() <= 256
        && !v.starts_with('.')
        && v.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'+' | b'-'))
}

/// One request of the registry API.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    Packument(PackageName),
    /// `PUT /<name>/-rev/<rev>`, `DELETE /<name>/-rev/<rev>`.
    PackumentRev(PackageName, String),
    /// `/<name>/-/<file>.tgz`.
    Tarball(PackageName, String),
    /// `DELETE /<name>/-/<file>.tgz/-rev/<rev>`.
    TarballRev(PackageName, String, String),
    /// `/-/package/<name>/dist-tags[/<tag>]`.
    DistTags(PackageName, Option<String>),
    Ping,
    Whoami,
    Search,
    /// `POST /-/v1/login`: web login, which Trove does not offer.
    WebLogin,
    /// `/-/user/org.couchdb.user:<name>[/-rev/<rev>]`.
    User(String),
    /// `DELETE /-/user/token/<token>` (npm logout).
    Token(String),
    /// `/-/npm/v1/security/...`: audit.
    Audit,
}

/// Percent-decodes one segment of the request path (npm escapes `/` in scoped names as
/// `%2f`).
fn decode(s: &str) -> Option<String> {
    let d = percent_decode_str(s).decode_utf8().ok()?;
    (!d.bytes().any(|b| b.is_ascii_control())).then(|| d.into_owned())
}

fn tarball_file_ok(f: &str) -> bool {
    f.ends_with(".tgz")
        && f.len() > 4
        && !f.starts_with('.')
        && f.bytes().all(|b| {
            b.is_ascii_alphanumeric()
                || matches!(
                    b,
                    b'.' | b'+' | b'-' | b'_' | b'~' | b'(' | b')' | b'!' | b'\'' | b'*'
                )
        })
}

/// Splits `rest` (what follows the package name) into a route.
fn package_route(name: PackageName, rest: &[&str]) -> Option<Route> {
    match rest {
        [] => Some(Route::Packument(name)),
        ["-rev", rev] => Some(Route::PackumentRev(name, decode(rev)?)),
        ["-", file] if tarball_file_ok(file) => Some(Route::Tarball(name, (*file).to_owned())),
        ["-", file, "-rev", rev] if tarball_file_ok(file) => {
            Some(Route::TarballRev(name, (*file).to_owned(), decode(rev)?))
        }
        _ => None,
    }
}

/// Splits a package name off the front of `segments` (one segment, or a scope and a name,
/// either as two segments or as one with `%2f`), returning the rest.
fn name_prefix<'a, 'b>(segments: &'a [&'b str]) -> Option<(PackageName, &'a [&'b str])> {
    let first = decode(segments.first()?)?;
    if first.starts_with('@') {
        if first.contains('/') {
            return Some((PackageName::parse(&first).ok()?, &segments[1..]));
        }
        let second = decode(segments.get(1)?)?;
        let name = PackageName::parse(&format!("{first}/{second}")).ok()?;
        return Some((name, &segments[2..]));
    }
    Some((PackageName::parse(&first).ok()?, &segments[1..]))
}

/// The route of `tail` (the path after the repository's base, from its `/`), or `None` when it
/// is none of the registry's.
pub fn route(tail: &str) -> Option<Route> {
    let path = tail.strip_prefix('/')?;
    let segments: Vec<&str> = path.split('/').collect();
    if segments.iter().any(|s| s.is_empty()) {
        return None;
    }
    match segments.as_slice() {
        ["-", "ping"] => Some(Route::Ping),
        ["-", "whoami"] => Some(Route::Whoami),
        ["-", "v1", "search"] => Some(Route::Search),
        ["-", "v1", "login"] => Some(Route::WebLogin),
        ["-", "npm", "v1", "security", ..] => Some(Route::Audit),
        ["-", "user", "token", token] => Some(Route::Token(decode(token)?)),
        ["-", "user", user, rest @ ..] => {
            let user = decode(user)?;
            let user = user.strip_prefix("org.couchdb.user:")?.to_owned();
            match rest {
                [] | ["-rev", _] => Some(Route::User(user)),
                _ => None,
            }
        }
        ["-", "package", rest @ ..] => {
            let (name, rest) = name_prefix(rest)?;
            match rest {
                ["dist-tags"] => Some(Route::DistTags(name, None)),
                ["dist-tags", tag] => Some(Route::DistTags(name, Some(decode(tag)?))),
                _ => None,
            }
        }
        ["-", ..] => None,
        _ => {
            let (name, rest) = name_prefix(&segments)?;
            package_route(name, rest)
        }
    }
}

/// What kind of stored path this is, for the format logic the repository kinds call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Stored {
    Packument(PackageName),
    Tarball(PackageName, String),
    Manifest(PackageName, String),
    PackageDoc(PackageName),
}

/// Classifies a stored (or requested) asset path.
pub fn stored(path: &str) -> Option<Stored> {
    let segments: Vec<&str> = path.strip_prefix('/')?.split('/').collect();
    let (name, rest) = match segments.first()?.starts_with('@') {
        true => (
            PackageName::parse(&format!("{}/{}", segments[0], segments.get(1)?)).ok()?,
            &segments[2..],
        ),
        false => (PackageName::parse(segments[0]).ok()?, &segments[1..]),
    };
    match rest {
        [] => Some(Stored::Packument(name)),
        ["-", "package.json"] => Some(Stored::PackageDoc(name)),
        ["-", "meta", file] => {
            let v = file.strip_suffix(".json")?;
            version_ok(v).then(|| Stored::Manifest(name, v.to_owned()))
        }
        ["-", file] if tarball_file_ok(file) => Some(Stored::Tarball(name, (*file).to_owned())),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn n(s: &str) -> PackageName {
        PackageName::parse(s).unwrap()
    }

    #[test]
    fn names() {
        for ok in ["foo", "@s/foo", "a.b-c_d", "Legacy", "@types/node"] {
            assert!(PackageName::parse(ok).is_ok(), "{ok}");
        }
        for bad in [
            "", ".x", "_x", "@s", "@/x", "@s/", "a/b", "-", "a b", "@s/x/y", "é",
        ] {
            assert!(PackageName::parse(bad).is_err(), "{bad}");
        }
        assert!(n("Legacy").check_new().is_err());
        assert!(n("@s/ok").check_new().is_ok());
        assert!(n(&"a".repeat(215)).check_new().is_err());
        assert_eq!(n("@s/foo").escaped(), "@s%2ffoo");
        assert_eq!(n("@s/foo").tarball("1.0.0"), "/@s/foo/-/foo-1.0.0.tgz");
        assert_eq!(
            n("foo").manifest("1.0.0-rc.1+b"),
            "/foo/-/meta/1.0.0-rc.1+b.json"
        );
    }

    #[test]
    fn routes() {
        assert_eq!(route("/foo"), Some(Route::Packument(n("foo"))));
        assert_eq!(route("/@s%2ffoo"), Some(Route::Packument(n("@s/foo"))));
        assert_eq!(route("/@s%2Ffoo"), Some(Route::Packument(n("@s/foo"))));
        assert_eq!(route("/@s/foo"), Some(Route::Packument(n("@s/foo"))));
        assert_eq!(
            route("/@s/foo/-/foo-1.0.0.tgz"),
            Some(Route::Tarball(n("@s/foo"), "foo-1.0.0.tgz".into()))
        );
        assert_eq!(
            route("/foo/-/foo-1.0.0.tgz/-rev/3-abc"),
            Some(Route::TarballRev(
                n("foo"),
                "foo-1.0.0.tgz".into(),
                "3-abc".into()
            ))
        );
        assert_eq!(
            route("/@s%2ffoo/-rev/1-x"),
            Some(Route::PackumentRev(n("@s/foo"), "1-x".into()))
        );
        assert_eq!(
            route("/-/package/@s%2ffoo/dist-tags/beta"),
            Some(Route::DistTags(n("@s/foo"), Some("beta".into())))
        );
        assert_eq!(
            route("/-/package/foo/dist-tags"),
            Some(Route::DistTags(n("foo"), None))
        );
        assert_eq!(
            route("/-/user/org.couchdb.user:alice"),
            Some(Route::User("alice".into()))
        );
        assert_eq!(
            route("/-/user/org.couchdb.user:alice/-rev/1-x"),
            Some(Route::User("alice".into()))
        );
        assert_eq!(route("/-/user/token/abc"), Some(Route::Token("abc".into())));
        assert_eq!(route("/-/whoami"), Some(Route::Whoami));
        assert_eq!(
            route("/-/npm/v1/security/advisories/bulk"),
            Some(Route::Audit)
        );
        for bad in [
            "",
            "/",
            "/foo/",
            "//foo",
            "/foo/-/x",
            "/foo/bar",
            "/-/nope",
            "/foo/-/../x.tgz",
            "/%2e%2e",
        ] {
            assert_eq!(route(bad), None, "{bad}");
        }
    }

    #[test]
    fn stored_paths() {
        assert_eq!(stored("/foo"), Some(Stored::Packument(n("foo"))));
        assert_eq!(
            stored("/@s/foo/-/package.json"),
            Some(Stored::PackageDoc(n("@s/foo")))
        );
        assert_eq!(
            stored("/@s/foo/-/meta/1.0.0.json"),
            Some(Stored::Manifest(n("@s/foo"), "1.0.0".into()))
        );
        assert_eq!(
            stored("/foo/-/foo-1.0.0.tgz"),
            Some(Stored::Tarball(n("foo"), "foo-1.0.0.tgz".into()))
        );
        assert_eq!(stored("/foo/-/meta/x/1.json"), None);
    }
}
