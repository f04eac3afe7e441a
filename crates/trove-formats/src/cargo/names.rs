//! Crate names, the paths of a sparse registry, and where a crate's pieces are stored.
//!
//! Served (the paths cargo asks for, relative to the repository's base, which is both the
//! index URL and the `api` URL):
//! - `/config.json`: `{dl, api, auth-required}`, made per request from the caller's URL;
//! - the index file of a crate at its RFC 2789 path by lowercase name length: `/1/a`,
//!   `/2/ab`, `/3/a/abc`, `/ab/cd/abcd...`;
//! - `/crates/<name>/<version>/<sha256>`: a `.crate` (the `dl` template names the checksum,
//!   so every kind knows what the bytes must hash to from the path alone);
//! - `/api/v1/...`: the web API (publish, yank, owners, search, and the conventional
//!   download path).
//!
//! Stored, per crate under its canonical name (lowercase, `-` as `_`, which is how crates.io
//! tells `foo-bar` and `Foo_Bar` are one crate):
//! - `/-/c/<canonical>/<version>.json`: the version's index line (only `yanked` changes),
//!   the row's attrs hold the publish metadata search shows;
//! - `/-/c/<canonical>/<version>.crate`: the `.crate`, written once;
//! - `/-/c/<canonical>/owners.json`: the crate's owners (Trove user names).
//!
//! A proxy caches the upstream's index files at their own paths, the upstream's
//! `config.json` at `/config.json` (to learn its `dl`), and `.crate` files under the same
//! stored paths as hosted ones.

use percent_encoding::percent_decode_str;

/// crates.io's limit on a crate name's length.
pub const MAX_NAME: usize = 64;

/// Names crates.io reserves (the standard library's crates, and names Windows will not create
/// as files).
const RESERVED: &[&str] = &[
    "alloc",
    "core",
    "proc_macro",
    "std",
    "test",
    "con",
    "prn",
    "aux",
    "nul",
    "com1",
    "com2",
    "com3",
    "com4",
    "com5",
    "com6",
    "com7",
    "com8",
    "com9",
    "lpt1",
    "lpt2",
    "lpt3",
    "lpt4",
    "lpt5",
    "lpt6",
    "lpt7",
    "lpt8",
    "lpt9",
];

/// A crate name as addressed: ASCII letters, digits, `-` and `_`, at most 64.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CrateName(String);

impl CrateName {
    /// Any name an index may hold (what a proxied registry has is not ours to judge beyond
    /// the characters that keep paths safe).
    pub fn parse(s: &str) -> Result<CrateName, String> {
        let ok = !s.is_empty()
            && s.len() <= MAX_NAME
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        if ok {
            Ok(CrateName(s.to_owned()))
        } else {
            Err(format!("invalid crate name {s:?}"))
        }
    }

    /// What `cargo publish` may create (crates.io's rules): a letter first, not a reserved
    /// name.
    pub fn check_new(&self) -> Result<(), String> {
        if !self.0.starts_with(|c: char| c.is_ascii_alphabetic()) {
            return Err(format!(
                "invalid crate name {:?}: the first character must be an ASCII letter",
                self.0
            ));
        }
        if RESERVED.contains(&self.canonical().as_str())
            || RESERVED.contains(&self.lower().as_str())
        {
            return Err(format!("crate name {:?} is reserved", self.0));
        }
        Ok(())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Lowercase: what the index path is made of.
    pub fn lower(&self) -> String {
        self.0.to_ascii_lowercase()
    }

    /// Lowercase with `-` as `_`: two names with the same canonical form are one crate.
    pub fn canonical(&self) -> String {
        self.lower().replace('-', "_")
    }

    /// The index file's path: by the lowercase name's length (RFC 2789).
    pub fn index_path(&self) -> String {
        let n = self.lower();
        match n.len() {
            1 => format!("/1/{n}"),
            2 => format!("/2/{n}"),
            3 => format!("/3/{}/{n}", &n[..1]),
            _ => format!("/{}/{}/{n}", &n[..2], &n[2..4]),
        }
    }

    /// Where the crate's rows live (ends with `/`).
    pub fn prefix(&self) -> String {
        format!("/-/c/{}/", self.canonical())
    }

    pub fn line_path(&self, version: &str) -> String {
        format!("{}{version}.json", self.prefix())
    }

    pub fn crate_path(&self, version: &str) -> String {
        format!("{}{version}.crate", self.prefix())
    }

    pub fn owners_path(&self) -> String {
        format!("{}owners.json", self.prefix())
    }

    /// The download path the `dl` template gives cargo.
    pub fn download_path(&self, version: &str, cksum: &str) -> String {
        format!("/crates/{}/{version}/{cksum}", self.0)
    }
}

impl std::fmt::Display for CrateName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// A version as stored: semver, which `cargo publish` always sends. Safe in a path.
pub fn parse_version(v: &str) -> Result<semver::Version, String> {
    semver::Version::parse(v).map_err(|e| format!("invalid version {v:?}: {e}"))
}

fn is_hex64(s: &str) -> bool {
    s.len() == 64
        && s.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// What a path of the registry is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    Config,
    /// An index file; the name is lowercase, as the path is.
    Index(CrateName),
    /// A `.crate` by name, version and SHA-256.
    Download(CrateName, String, String),
    /// `/api/v1/crates/<name>/<version>/download` (the conventional path; no checksum).
    ApiDownload(CrateName, String),
    Publish,
    Yank(CrateName, String),
    Unyank(CrateName, String),
    Owners(CrateName),
    Search,
}

/// The route of `tail` (the path after the repository's base), or `None`.
pub fn route(tail: &str) -> Option<Route> {
    let decoded = percent_decode_str(tail).decode_utf8().ok()?;
    let segs: Vec<&str> = decoded.trim_start_matches('/').split('/').collect();
    let name = |s: &str| CrateName::parse(s).ok();
    let version = |s: &str| parse_version(s).ok().map(|_| s.to_owned());
    Some(match segs.as_slice() {
        ["config.json"] => Route::Config,
        ["1", n] if n.len() == 1 => Route::Index(lower_name(n)?),
        ["2", n] if n.len() == 2 => Route::Index(lower_name(n)?),
        ["3", a, n] if n.len() == 3 && n.starts_with(a) && a.len() == 1 => {
            Route::Index(lower_name(n)?)
        }
        [ab, cd, n]
            if ab.len() == 2
                && cd.len() == 2
                && n.len() >= 4
                && n[..2] == **ab
                && n[2..4] == **cd =>
        {
            Route::Index(lower_name(n)?)
        }
        ["crates", n, v, sum] if is_hex64(sum) => {
            Route::Download(name(n)?, version(v)?, (*sum).to_owned())
        }
        ["api", "v1", "crates"] => Route::Search,
        ["api", "v1", "crates", "new"] => Route::Publish,
        ["api", "v1", "crates", n, "owners"] => Route::Owners(name(n)?),
        ["api", "v1", "crates", n, v, "yank"] => Route::Yank(name(n)?, version(v)?),
        ["api", "v1", "crates", n, v, "unyank"] => Route::Unyank(name(n)?, version(v)?),
        ["api", "v1", "crates", n, v, "download"] => Route::ApiDownload(name(n)?, version(v)?),
        _ => return None,
    })
}

/// An index path's name: lowercase only (the paths are).
fn lower_name(n: &str) -> Option<CrateName> {
    if n.bytes().any(|b| b.is_ascii_uppercase()) {
        return None;
    }
    CrateName::parse(n).ok()
}

/// What a stored path (a row of a repository) is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Stored {
    /// A version's index line: canonical name, version.
    Line(String, String),
    /// A `.crate`: canonical name, version.
    Crate(String, String),
    Owners(String),
    /// A proxy's copy of an index file (lowercase name).
    Index(CrateName),
    /// A proxy's copy of the upstream's `config.json`.
    UpstreamConfig,
}

pub fn stored(path: &str) -> Option<Stored> {
    if let Some(rest) = path.strip_prefix("/-/c/") {
        let (canon, file) = rest.split_once('/')?;
        if file == "owners.json" {
            return Some(Stored::Owners(canon.to_owned()));
        }
        if let Some(v) = file.strip_suffix(".json") {
            return Some(Stored::Line(canon.to_owned(), v.to_owned()));
        }
        if let Some(v) = file.strip_suffix(".crate") {
            return Some(Stored::Crate(canon.to_owned(), v.to_owned()));
        }
        return None;
    }
    match route(path)? {
        Route::Config => Some(Stored::UpstreamConfig),
        Route::Index(n) => Some(Stored::Index(n)),
        _ => None,
    }
}

/// The dl template of `config.json` filled for one crate (cargo's rules: the markers
/// `{crate}`, `{version}`, `{prefix}`, `{lowerprefix}`, `{sha256-checksum}`; with none,
/// `/{crate}/{version}/download` is appended).
pub fn expand_dl(template: &str, name: &str, version: &str, cksum: &str) -> String {
    const MARKERS: [&str; 5] = [
        "{crate}",
        "{version}",
        "{prefix}",
        "{lowerprefix}",
        "{sha256-checksum}",
    ];
    if !MARKERS.iter().any(|m| template.contains(m)) {
        return format!(
            "{}/{name}/{version}/download",
            template.trim_end_matches('/')
        );
    }
    let prefix = match name.len() {
        1 => "1".to_owned(),
        2 => "2".to_owned(),
        3 => format!("3/{}", &name[..1]),
        _ => format!("{}/{}", &name[..2], &name[2..4]),
    };
    template
        .replace("{crate}", name)
        .replace("{version}", version)
        .replace("{lowerprefix}", &prefix.to_ascii_lowercase())
        .replace("{prefix}", &prefix)
        .replace("{sha256-checksum}", cksum)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn n(s: &str) -> CrateName {
        CrateName::parse(s).unwrap()
    }

    #[test]
    fn index_paths_by_length_in_lowercase() {
        assert_eq!(n("a").index_path(), "/1/a");
        assert_eq!(n("Ab").index_path(), "/2/ab");
        assert_eq!(n("abc").index_path(), "/3/a/abc");
        assert_eq!(n("Serde_Json").index_path(), "/se/rd/serde_json");
        for p in ["/1/a", "/2/ab", "/3/a/abc", "/se/rd/serde_json"] {
            let Some(Route::Index(name)) = route(p) else {
                panic!("{p}")
            };
            assert_eq!(name.index_path(), p);
        }
        // Paths that do not match the name, and uppercase, are not index files.
        for p in [
            "/3/b/abc",
            "/se/rx/serde",
            "/2/abc",
            "/se/rd/Serde",
            "/1/ab",
            "/se/rd/ser",
        ] {
            assert_eq!(route(p), None, "{p}");
        }
    }

    #[test]
    fn canonical_names_collide_across_case_and_dash() {
        assert_eq!(n("Foo-Bar").canonical(), n("foo_bar").canonical());
        assert_ne!(n("foo-bar").lower(), n("foo_bar").lower());
        assert!(n("std").check_new().is_err());
        assert!(n("Nul").check_new().is_err());
        assert!(n("proc-macro").check_new().is_err());
        assert!(n("1abc").check_new().is_err());
        assert!(n("_x").check_new().is_err());
        assert!(n("my-crate_2").check_new().is_ok());
        assert!(CrateName::parse("a.b").is_err());
        assert!(CrateName::parse(&"a".repeat(65)).is_err());
        assert!(CrateName::parse("").is_err());
    }

    #[test]
    fn api_routes() {
        let sum = "a".repeat(64);
        assert_eq!(route("/config.json"), Some(Route::Config));
        assert_eq!(route("/api/v1/crates/new"), Some(Route::Publish));
        assert_eq!(route("/api/v1/crates"), Some(Route::Search));
        assert_eq!(
            route("/api/v1/crates/Foo/1.0.0-rc.1/yank"),
            Some(Route::Yank(n("Foo"), "1.0.0-rc.1".into()))
        );
        assert_eq!(
            route("/api/v1/crates/foo/1.0.0/unyank"),
            Some(Route::Unyank(n("foo"), "1.0.0".into()))
        );
        assert_eq!(
            route("/api/v1/crates/foo/owners"),
            Some(Route::Owners(n("foo")))
        );
        assert_eq!(
            route(&format!("/crates/Foo/1.0.0%2Bbuild/{sum}")),
            Some(Route::Download(n("Foo"), "1.0.0+build".into(), sum.clone()))
        );
        assert_eq!(route("/crates/foo/1.0/abc"), None);
        assert_eq!(route("/api/v1/crates/foo/x.y/yank"), None);
        assert_eq!(route("/api/v1/crates/../owners"), None);
    }

    #[test]
    fn stored_paths() {
        let c = n("Foo-Bar");
        assert_eq!(c.line_path("1.0.0"), "/-/c/foo_bar/1.0.0.json");
        assert_eq!(
            stored(&c.line_path("1.0.0")),
            Some(Stored::Line("foo_bar".into(), "1.0.0".into()))
        );
        assert_eq!(
            stored(&c.crate_path("1.0.0")),
            Some(Stored::Crate("foo_bar".into(), "1.0.0".into()))
        );
        assert_eq!(
            stored(&c.owners_path()),
            Some(Stored::Owners("foo_bar".into()))
        );
        assert_eq!(stored("/fo/o-/foo-bar"), Some(Stored::Index(n("foo-bar"))));
        assert_eq!(stored("/config.json"), Some(Stored::UpstreamConfig));
    }

    #[test]
    fn dl_templates() {
        assert_eq!(
            expand_dl("https://static.crates.io/crates", "Serde", "1.0.0", "ab"),
            "https://static.crates.io/crates/Serde/1.0.0/download"
        );
        assert_eq!(
            expand_dl(
                "http://h/{prefix}/{lowerprefix}/{crate}-{version}.crate?s={sha256-checksum}",
                "Serde",
                "1.0.0",
                "ab"
            ),
            "http://h/Se/rd/se/rd/Serde-1.0.0.crate?s=ab"
        );
        assert_eq!(
            expand_dl("http://h/{prefix}/{crate}", "ab", "1", "x"),
            "http://h/2/ab"
        );
    }
}
