//! Packuments as JSON: built from a hosted repository's rows, abbreviated for `npm install`,
//! rewritten from an upstream's copy, merged for a group. Pure functions over
//! `serde_json::Value`; no I/O.
//!
//! Tarball URLs in every stored or cached document are `trove+base:/<name>/-/<file>.tgz`: the
//! front end replaces the marker with the external URL of the repository the client asked, on
//! the way out, so cached documents do not depend on host names and a group's tarballs point
//! at the group (where npm sends its token).

use std::time::{Duration, UNIX_EPOCH};

use base64::Engine as _;
use serde_json::{Map, Value, json};
use trove_core::{Algorithm, Digest, RepoKind};

use super::names::PackageName;

/// What tarball URLs start with until the front end makes them absolute.
pub const MARKER: &str = "trove+base:";
pub const FULL_TYPE: &str = "application/json";
pub const ABBREVIATED_TYPE: &str = "application/vnd.npm.install-v1+json";
/// The variant name of the abbreviated document.
pub const ABBREVIATED: &str = "abbreviated";

/// Fields of a version that the abbreviated document keeps (npm's "install" metadata).
const ABBREVIATED_FIELDS: &[&str] = &[
    "name",
    "version",
    "deprecated",
    "dependencies",
    "optionalDependencies",
    "devDependencies",
    "bundleDependencies",
    "bundledDependencies",
    "peerDependencies",
    "peerDependenciesMeta",
    "acceptDependencies",
    "bin",
    "directories",
    "dist",
    "engines",
    "cpu",
    "os",
    "libc",
    "funding",
    "license",
    "_hasShrinkwrap",
    "hasInstallScript",
];

/// Package fields shown from the latest version when the package document has none.
const FROM_LATEST: &[&str] = &[
    "description",
    "keywords",
    "license",
    "repository",
    "homepage",
    "bugs",
    "author",
    "maintainers",
    "readme",
    "readmeFilename",
];

/// Top-level fields of a publish or update that are not the package's own.
pub const RESERVED: &[&str] = &[
    "_id",
    "_rev",
    "name",
    "versions",
    "dist-tags",
    "time",
    "_attachments",
    "access",
    "users",
];

/// `2026-12-03T15:04:05.123Z`.
pub fn iso(millis: i64) -> String {
    humantime::format_rfc3339_millis(UNIX_EPOCH + Duration::from_millis(millis.max(0) as u64))
        .to_string()
}

/// The path-relative tarball URL stored in documents.
pub fn marked(path: &str) -> String {
    format!("{MARKER}{path}")
}

/// The SHA-512 of an SRI `integrity` value (`sha512-<base64>`, maybe among other hashes).
pub fn sri_sha512(integrity: &str) -> Option<Digest> {
    integrity.split_whitespace().find_map(|h| {
        let b64 = h.strip_prefix("sha512-")?;
        let b64 = b64.split('?').next()?;
        let raw = base64::engine::general_purpose::STANDARD.decode(b64).ok()?;
        (raw.len() == 64).then(|| Digest::from_hex(Algorithm::Sha512, hex::encode(raw)))
    })
}

/// The SRI form of a SHA-512 digest.
pub fn sri_of(digest: &Digest) -> Option<String> {
    let raw = hex::decode(digest.hex()).ok()?;
    Some(format!(
        "sha512-{}",
        base64::engine::general_purpose::STANDARD.encode(raw)
    ))
}

/// A document's revision as npm sees it (`_rev`): from its digest, so it changes with every
/// change and an update naming an old one is refused.
pub fn rev_of(digest: &Digest) -> String {
    format!("1-{}", &digest.hex()[..32])
}

fn semver(v: &str) -> Option<semver::Version> {
    semver::Version::parse(v).ok()
}

/// The highest of `versions` by semver, releases before prereleases; versions that are not
/// semver count only when nothing else does.
pub fn highest<'a>(versions: impl Iterator<Item = &'a str>) -> Option<String> {
    let mut best: Option<(bool, semver::Version, &str)> = None;
    let mut any = None;
    for v in versions {
        any.get_or_insert(v);
        let Some(sv) = semver(v) else { continue };
        let key = (sv.pre.is_empty(), sv);
        if best
            .as_ref()
            .is_none_or(|(r, b, _)| (key.0, &key.1) > (*r, b))
        {
            best = Some((key.0, key.1, v));
        }
    }
    best.map(|(_, _, v)| v.to_owned())
        .or(any.map(str::to_owned))
}

/// Whether `a` is a higher semver than `b` (non-semver never is).
fn higher(a: &str, b: &str) -> bool {
    match (semver(a), semver(b)) {
        (Some(a), Some(b)) => a > b,
        (Some(_), None) => true,
        _ => false,
    }
}

/// One stored version of a hosted package.
pub struct VersionRow {
    pub version: String,
    pub manifest: Value,
    /// When it was published (Unix millis).
    pub created: i64,
}

/// The stored package document: dist-tags, when, and the package's own fields.
pub fn package_doc(
    dist_tags: &Map<String, Value>,
    created: i64,
    modified: i64,
    fields: &Map<String, Value>,
) -> Value {
    json!({
        "dist-tags": dist_tags,
        "created": created,
        "modified": modified,
        "fields": fields,
    })
}

/// Fixes dist-tags to the versions that exist: tags of gone versions are dropped, and
/// `latest` is always set (to the highest release) while any version exists.
pub fn fix_tags(tags: &mut Map<String, Value>, versions: &Map<String, Value>) {
    tags.retain(|_, v| v.as_str().is_some_and(|v| versions.contains_key(v)));
    if !tags.contains_key("latest")
        && let Some(h) = highest(versions.keys().map(String::as_str))
    {
        tags.insert("latest".into(), Value::String(h));
    }
}

/// A hosted package's full packument from its rows; `None` when no version is left.
pub fn build(name: &PackageName, doc: Option<&Value>, mut rows: Vec<VersionRow>) -> Option<Value> {
    if rows.is_empty() {
        return None;
    }
    rows.sort_by(|a, b| a.created.cmp(&b.created).then(a.version.cmp(&b.version)));
    let mut versions = Map::new();
    let mut time = Map::new();
    let first = rows.iter().map(|r| r.created).min().unwrap_or(0);
    let last = rows.iter().map(|r| r.created).max().unwrap_or(0);
    let get = |k: &str| doc.and_then(|d| d.get(k));
    let created = get("created").and_then(Value::as_i64).unwrap_or(first);
    let modified = get("modified")
        .and_then(Value::as_i64)
        .unwrap_or(last)
        .max(last);
    time.insert("created".into(), json!(iso(created)));
    time.insert("modified".into(), json!(iso(modified)));
    for r in rows {
        time.insert(r.version.clone(), json!(iso(r.created)));
        versions.insert(r.version, r.manifest);
    }
    let mut tags = get("dist-tags")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    fix_tags(&mut tags, &versions);
    let mut out = Map::new();
    out.insert("_id".into(), json!(name.as_str()));
    out.insert("name".into(), json!(name.as_str()));
    if let Some(fields) = get("fields").and_then(Value::as_object) {
        for (k, v) in fields {
            if !RESERVED.contains(&k.as_str()) && !v.is_null() {
                out.insert(k.clone(), v.clone());
            }
        }
    }
    let latest = tags
        .get("latest")
        .and_then(Value::as_str)
        .and_then(|v| versions.get(v));
    if let Some(latest) = latest {
        for k in FROM_LATEST {
            if !out.contains_key(*k)
                && let Some(v) = latest.get(*k)
            {
                out.insert((*k).into(), v.clone());
            }
        }
    }
    out.insert("dist-tags".into(), Value::Object(tags));
    out.insert("versions".into(), Value::Object(versions));
    out.insert("time".into(), Value::Object(time));
    Some(Value::Object(out))
}

/// The abbreviated ("corgi") document `npm install` asks for.
pub fn abbreviate(doc: &Value) -> Value {
    let mut versions = Map::new();
    if let Some(vs) = doc.get("versions").and_then(Value::as_object) {
        for (v, m) in vs {
            let mut keep = Map::new();
            if let Some(m) = m.as_object() {
                for k in ABBREVIATED_FIELDS {
                    if let Some(x) = m.get(*k) {
                        keep.insert((*k).into(), x.clone());
                    }
                }
                if m.get("scripts")
                    .and_then(Value::as_object)
                    .is_some_and(|s| {
                        ["preinstall", "install", "postinstall"]
                            .iter()
                            .any(|k| s.contains_key(*k))
                    })
                {
                    keep.insert("hasInstallScript".into(), json!(true));
                }
            }
            versions.insert(v.clone(), Value::Object(keep));
        }
    }
    let mut out = Map::new();
    out.insert(
        "name".into(),
        doc.get("name").cloned().unwrap_or(Value::Null),
    );
    if let Some(m) = doc.get("time").and_then(|t| t.get("modified")) {
        out.insert("modified".into(), m.clone());
    }
    out.insert(
        "dist-tags".into(),
        doc.get("dist-tags").cloned().unwrap_or_else(|| json!({})),
    );
    out.insert("versions".into(), Value::Object(versions));
    Value::Object(out)
}

/// A tarball an upstream packument names: the version, the upstream URL, its SHA-512 if the
/// document announced one.
pub struct Taught {
    pub version: String,
    pub url: String,
    pub sha512: Option<Digest>,
}

/// An upstream packument made Trove's: each version's `dist.tarball` becomes the marked path
/// of `<name>/-/<unscoped>-<version>.tgz` (the real URL, resolved against `fetched_from`, is
/// returned to be remembered); `_rev`, `_attachments` and `users` are dropped.
pub fn rewrite_upstream(
    name: &PackageName,
    mut doc: Value,
    fetched_from: &str,
) -> Result<(Value, Vec<Taught>), String> {
    let obj = doc
        .as_object_mut()
        .ok_or("the upstream packument is not a JSON object")?;
    if let Some(n) = obj.get("name").and_then(Value::as_str)
        && n != name.as_str()
    {
        return Err(format!(
            "the upstream answered for package {n:?}, not {:?}",
            name.as_str()
        ));
    }
    for k in ["_rev", "_attachments", "users"] {
        obj.remove(k);
    }
    let base = url::Url::parse(fetched_from).map_err(|e| format!("bad upstream URL: {e}"))?;
    let mut taught = Vec::new();
    if let Some(versions) = obj.get_mut("versions").and_then(Value::as_object_mut) {
        for (v, m) in versions.iter_mut() {
            if !super::names::version_ok(v) {
                continue;
            }
            let Some(dist) = m.get_mut("dist").and_then(Value::as_object_mut) else {
                continue;
            };
            let Some(url) = dist.get("tarball").and_then(Value::as_str) else {
                continue;
            };
            let Ok(url) = base.join(url) else { continue };
            if !matches!(url.scheme(), "http" | "https") {
                continue;
            }
            let sha512 = dist
                .get("integrity")
                .and_then(Value::as_str)
                .and_then(sri_sha512);
            dist.insert("tarball".into(), json!(marked(&name.tarball(v))));
            taught.push(Taught {
                version: v.clone(),
                url: url.to_string(),
                sha512,
            });
        }
    }
    Ok((doc, taught))
}

/// One member's packument, for [`merge`].
pub struct Part {
    pub kind: RepoKind,
    pub doc: Value,
}

/// A group's packument from its members' (in member order): versions are a union where the
/// first member that has a version wins, as do its other fields and tags, except `latest`,
/// which is the highest `latest` of any member. With `hosted_hides_proxied`, a package that a
/// hosted member has hides the same name in proxy members: a private package is never mixed
/// with (or replaced by) a public one of the same name (dependency confusion).
pub fn merge(parts: Vec<Part>, hosted_hides_proxied: bool) -> Option<Value> {
    let hosted = parts.iter().any(|p| p.kind == RepoKind::Hosted);
    let parts: Vec<Part> = parts
        .into_iter()
        .filter(|p| !(hosted_hides_proxied && hosted && p.kind == RepoKind::Proxy))
        .collect();
    let mut out: Option<Map<String, Value>> = None;
    let mut versions = Map::new();
    let mut time = Map::new();
    let mut tags = Map::new();
    let mut latest: Option<String> = None;
    for p in parts {
        let Value::Object(mut doc) = p.doc else {
            continue;
        };
        if let Some(Value::Object(vs)) = doc.remove("versions") {
            for (v, m) in vs {
                versions.entry(v).or_insert(m);
            }
        }
        if let Some(Value::Object(t)) = doc.remove("time") {
            for (k, v) in t {
                match k.as_str() {
                    "modified" => {
                        let newer = time
                            .get("modified")
                            .and_then(Value::as_str)
                            .is_none_or(|m| v.as_str().is_some_and(|v| v > m));
                        if newer {
                            time.insert(k, v);
                        }
                    }
                    _ => {
                        time.entry(k).or_insert(v);
                    }
                }
            }
        }
        if let Some(Value::Object(t)) = doc.remove("dist-tags") {
            for (k, v) in t {
                if k == "latest" {
                    if let Some(v) = v.as_str()
                        && latest.as_deref().is_none_or(|l| higher(v, l))
                    {
                        latest = Some(v.to_owned());
                    }
                } else {
                    tags.entry(k).or_insert(v);
                }
            }
        }
        doc.remove("_rev");
        if out.is_none() {
            out = Some(doc);
        }
    }
    let mut out = out?;
    if let Some(l) = latest {
        tags.insert("latest".into(), Value::String(l));
    }
    fix_tags(&mut tags, &versions);
    out.insert("dist-tags".into(), Value::Object(tags));
    out.insert("versions".into(), Value::Object(versions));
    out.insert("time".into(), Value::Object(time));
    Some(Value::Object(out))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn n(s: &str) -> PackageName {
        PackageName::parse(s).unwrap()
    }

    #[test]
    fn highest_prefers_releases_and_compares_by_semver() {
        let h = |v: &[&str]| highest(v.iter().copied());
        assert_eq!(h(&["1.2.0", "1.10.0", "1.9.0"]).as_deref(), Some("1.10.0"));
        assert_eq!(h(&["2.0.0-rc.1", "1.0.0"]).as_deref(), Some("1.0.0"));
        assert_eq!(
            h(&["2.0.0-rc.1", "2.0.0-rc.2"]).as_deref(),
            Some("2.0.0-rc.2")
        );
        assert_eq!(h(&["weird"]).as_deref(), Some("weird"));
        assert_eq!(h(&[]), None);
    }

    #[test]
    fn sri() {
        let d = Digest::of(Algorithm::Sha512, b"x");
        let s = sri_of(&d).unwrap();
        assert_eq!(sri_sha512(&s), Some(d.clone()));
        assert_eq!(sri_sha512(&format!("sha1-abc {s}")), Some(d));
        assert_eq!(sri_sha512("sha512-notbase64!"), None);
        assert_eq!(sri_sha512("sha1-AAAA"), None);
    }

    #[test]
    fn built_documents_keep_full_manifests_and_fix_tags() {
        let m = |v: &str| {
            json!({"name": "foo", "version": v, "dependencies": {"bar": "^1"}, "bin": {"foo": "x.js"},
                   "description": format!("d{v}"), "dist": {"tarball": marked(&n("foo").tarball(v))}})
        };
        let doc = package_doc(
            json!({"latest": "9.9.9", "beta": "1.1.0"})
                .as_object()
                .unwrap(),
            1000,
            2000,
            json!({"readme": "hi", "_rev": "x"}).as_object().unwrap(),
        );
        let rows = vec![
            VersionRow {
                version: "1.1.0".into(),
                manifest: m("1.1.0"),
                created: 3000,
            },
            VersionRow {
                version: "1.0.0".into(),
                manifest: m("1.0.0"),
                created: 1000,
            },
        ];
        let p = build(&n("foo"), Some(&doc), rows).unwrap();
        assert_eq!(
            p["dist-tags"],
            json!({"beta": "1.1.0", "latest": "1.1.0"}),
            "gone latest is fixed"
        );
        assert_eq!(p["versions"]["1.0.0"]["dependencies"]["bar"], "^1");
        assert_eq!(p["versions"]["1.0.0"]["bin"]["foo"], "x.js");
        assert_eq!(p["readme"], "hi");
        assert!(p.get("_rev").is_none());
        assert_eq!(p["description"], "d1.1.0", "from latest");
        assert_eq!(p["time"]["created"], iso(1000));
        assert_eq!(p["time"]["modified"], iso(3000));
        assert_eq!(p["time"]["1.1.0"], iso(3000));
        assert!(build(&n("foo"), Some(&doc), vec![]).is_none());
        let a = abbreviate(&p);
        assert_eq!(a["versions"]["1.0.0"]["dependencies"]["bar"], "^1");
        assert!(a["versions"]["1.0.0"].get("description").is_none());
        assert_eq!(a["modified"], iso(3000));
    }

    #[test]
    fn install_scripts_are_flagged_in_the_abbreviated_document() {
        let p = json!({"name": "x", "versions": {"1.0.0": {"scripts": {"postinstall": "node x"}}}});
        assert_eq!(
            abbreviate(&p)["versions"]["1.0.0"]["hasInstallScript"],
            true
        );
    }

    #[test]
    fn upstream_documents_are_rewritten_and_teach_tarballs() {
        let d = Digest::of(Algorithm::Sha512, b"t");
        let doc = json!({"name": "@s/foo", "_rev": "5-x", "versions": {
            "1.0.0": {"dist": {"tarball": "https://cdn.example/@s/foo/-/foo-1.0.0.tgz", "integrity": sri_of(&d)}},
            "1.0.1": {"dist": {"tarball": "/rel/foo-1.0.1.tgz"}},
            "2.0.0": {"dist": {"tarball": "file:///etc/passwd"}}
        }});
        let (out, taught) = rewrite_upstream(&n("@s/foo"), doc, "http://up:1/@s%2ffoo").unwrap();
        assert!(out.get("_rev").is_none());
        assert_eq!(
            out["versions"]["1.0.0"]["dist"]["tarball"],
            "trove+base:/@s/foo/-/foo-1.0.0.tgz"
        );
        assert_eq!(
            out["versions"]["1.0.0"]["dist"]["integrity"],
            sri_of(&d).unwrap(),
            "integrity untouched"
        );
        assert_eq!(taught.len(), 2, "a file: URL is not taught");
        assert_eq!(taught[0].sha512.as_ref(), Some(&d));
        assert_eq!(taught[1].url, "http://up:1/rel/foo-1.0.1.tgz");
        assert!(rewrite_upstream(&n("foo"), json!({"name": "bar"}), "http://u/foo").is_err());
        assert!(rewrite_upstream(&n("foo"), json!([1]), "http://u/foo").is_err());
    }

    #[test]
    fn groups_merge_versions_first_wins_and_latest_is_highest() {
        let hosted = json!({"name": "x", "description": "mine", "dist-tags": {"latest": "1.0.0", "beta": "1.0.0"},
            "versions": {"1.0.0": {"v": "hosted"}}, "time": {"modified": "2020-01-01T00:00:00.000Z", "1.0.0": "a"}});
        let proxied = json!({"name": "x", "description": "theirs", "dist-tags": {"latest": "2.0.0", "beta": "2.0.0"},
            "versions": {"1.0.0": {"v": "proxy"}, "2.0.0": {"v": "proxy"}}, "time": {"modified": "2021-01-01T00:00:00.000Z"}});
        let part = |kind, doc: &Value| Part {
            kind,
            doc: doc.clone(),
        };
        let m = merge(
            vec![
                part(RepoKind::Hosted, &hosted),
                part(RepoKind::Proxy, &proxied),
            ],
            false,
        )
        .unwrap();
        assert_eq!(m["versions"]["1.0.0"]["v"], "hosted");
        assert_eq!(m["versions"]["2.0.0"]["v"], "proxy");
        assert_eq!(m["dist-tags"]["latest"], "2.0.0");
        assert_eq!(m["dist-tags"]["beta"], "1.0.0");
        assert_eq!(m["description"], "mine");
        assert_eq!(m["time"]["modified"], "2021-01-01T00:00:00.000Z");
        // The guard: a hosted package hides the proxied one of the same name.
        let g = merge(
            vec![
                part(RepoKind::Proxy, &proxied),
                part(RepoKind::Hosted, &hosted),
            ],
            true,
        )
        .unwrap();
        assert_eq!(g["versions"].as_object().unwrap().len(), 1);
        assert_eq!(g["dist-tags"]["latest"], "1.0.0");
        assert_eq!(g["description"], "mine");
        // Proxies alone merge normally.
        let p = merge(vec![part(RepoKind::Proxy, &proxied)], true).unwrap();
        assert_eq!(p["dist-tags"]["latest"], "2.0.0");
        assert!(merge(vec![], true).is_none());
    }
}
