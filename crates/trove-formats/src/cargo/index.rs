//! Index lines: made from what `cargo publish` sends, joined into a crate's index file, and
//! merged across a group's members. One JSON object per line, per version, oldest first
//! (cargo reads them in any order; crates.io writes them in publish order).

use std::collections::BTreeMap;

use serde_json::{Map, Value, json};

use super::names::CrateName;

/// The index line of a published version (the cargo reference's "Index format"): `deps`
/// mapped from the publish shape (`version_req` → `req`; a renamed dependency has its
/// name in the manifest as `name` and the real crate as `package`), features that use the
/// `dep:` or `?/` syntax moved to `features2` with `v: 2`, as crates.io does so older cargo
/// versions skip what they cannot read.
pub fn line_of(meta: &Map<String, Value>, name: &CrateName, cksum: &str) -> Result<Value, String> {
    let vers = meta
        .get("vers")
        .and_then(Value::as_str)
        .ok_or("the publish metadata has no vers")?;
    let mut deps = Vec::new();
    for d in meta
        .get("deps")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default()
    {
        let d = d.as_object().ok_or("a dependency is not an object")?;
        let dep_name = d
            .get("name")
            .and_then(Value::as_str)
            .ok_or("a dependency has no name")?;
        CrateName::parse(dep_name)?;
        let req = d
            .get("version_req")
            .and_then(Value::as_str)
            .ok_or_else(|| format!("dependency {dep_name} has no version_req"))?;
        semver::VersionReq::parse(req).map_err(|e| {
            format!("dependency {dep_name}: invalid version requirement {req:?}: {e}")
        })?;
        let mut line = Map::new();
        match d.get("explicit_name_in_toml").and_then(Value::as_str) {
            Some(renamed) => {
                CrateName::parse(renamed)?;
                line.insert("name".into(), json!(renamed));
                line.insert("package".into(), json!(dep_name));
            }
            None => {
                line.insert("name".into(), json!(dep_name));
            }
        }
        line.insert("req".into(), json!(req));
        line.insert(
            "features".into(),
            d.get("features").cloned().unwrap_or_else(|| json!([])),
        );
        line.insert(
            "optional".into(),
            json!(d.get("optional").and_then(Value::as_bool).unwrap_or(false)),
        );
        line.insert(
            "default_features".into(),
            json!(
                d.get("default_features")
                    .and_then(Value::as_bool)
                    .unwrap_or(true)
            ),
        );
        line.insert(
            "target".into(),
            d.get("target").cloned().unwrap_or(Value::Null),
        );
        line.insert(
            "kind".into(),
            d.get("kind").cloned().unwrap_or_else(|| json!("normal")),
        );
        // Absent means "this registry": cargo sends none for dependencies on the registry it
        // publishes to, and the line must keep it absent (in groups too).
        if let Some(r) = d.get("registry").filter(|r| r.is_string()) {
            line.insert("registry".into(), r.clone());
        }
        deps.push(Value::Object(line));
    }
    let mut features = Map::new();
    let mut features2 = Map::new();
    if let Some(f) = meta.get("features").and_then(Value::as_object) {
        for (k, v) in f {
            let new_syntax = v.as_array().is_some_and(|a| {
                a.iter()
                    .filter_map(Value::as_str)
                    .any(|s| s.starts_with("dep:") || s.contains("?/"))
            });
            if new_syntax {
                features2.insert(k.clone(), v.clone());
            } else {
                features.insert(k.clone(), v.clone());
            }
        }
    }
    let mut line = Map::new();
    line.insert("name".into(), json!(name.as_str()));
    line.insert("vers".into(), json!(vers));
    line.insert("deps".into(), Value::Array(deps));
    line.insert("cksum".into(), json!(cksum));
    line.insert("features".into(), Value::Object(features));
    line.insert("yanked".into(), json!(false));
    line.insert(
        "links".into(),
        meta.get("links").cloned().unwrap_or(Value::Null),
    );
    if !features2.is_empty() {
        line.insert("features2".into(), Value::Object(features2));
        line.insert("v".into(), json!(2));
    }
    if let Some(rv) = meta.get("rust_version").filter(|v| v.is_string()) {
        line.insert("rust_version".into(), rv.clone());
    }
    Ok(Value::Object(line))
}

/// An index file from its lines (each one JSON object, no newline inside).
pub fn file_of(lines: &[Value]) -> Vec<u8> {
    let mut out = Vec::new();
    for l in lines {
        serde_json::to_writer(&mut out, l).expect("JSON values serialise");
        out.push(b'\n');
    }
    out
}

/// The lines of an index file that parse (a proxied registry's odd line is skipped, not fatal:
/// cargo does the same).
pub fn lines_of(file: &[u8]) -> Vec<Value> {
    file.split(|b| *b == b'\n')
        .filter(|l| !l.iter().all(u8::is_ascii_whitespace))
        .filter_map(|l| serde_json::from_slice::<Value>(l).ok())
        .filter(Value::is_object)
        .collect()
}

fn vers_of(line: &Value) -> Option<&str> {
    line.get("vers").and_then(Value::as_str)
}

/// The version a line is for, ignoring build metadata (`1.0.0+a` and `1.0.0+b` are one
/// version to cargo and to crates.io).
pub fn version_key(v: &str) -> String {
    v.split('+').next().unwrap_or(v).to_owned()
}

/// Sorts lines by semver (unparseable ones last, in their order).
pub fn sort(lines: &mut [Value]) {
    lines.sort_by_key(|l| {
        vers_of(l)
            .and_then(|v| semver::Version::parse(v).ok())
            .map_or((1, None), |v| (0, Some(v)))
    });
}

/// One member's index file for a group merge.
pub struct Part {
    /// Whether it comes from a hosted member (the dependency-confusion guard).
    pub hosted: bool,
    pub lines: Vec<Value>,
}

/// The group's index file: the union of its members' lines by version, the first member
/// winning on a version they share. With `hosted_hides_proxied`, a crate a hosted member has
/// hides the lines of later non-hosted members (a public crate named like a private one is
/// never merged in). Lines keep every field the member gave them (`registry` stays absent
/// where it was). `None`: no member has the crate.
pub fn merge(parts: Vec<Part>, hosted_hides_proxied: bool) -> Option<Vec<Value>> {
    let mut seen: BTreeMap<String, ()> = BTreeMap::new();
    let mut out = Vec::new();
    let mut any = false;
    let mut hosted_has = false;
    for part in parts {
        if part.lines.is_empty() {
            continue;
        }
        if hosted_hides_proxied && hosted_has && !part.hosted {
            continue;
        }
        any = true;
        hosted_has |= part.hosted;
        for l in part.lines {
            let Some(v) = vers_of(&l) else { continue };
            if seen.insert(version_key(v), ()).is_none() {
                out.push(l);
            }
        }
    }
    sort(&mut out);
    any.then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn n(s: &str) -> CrateName {
        CrateName::parse(s).unwrap()
    }

    #[test]
    fn publish_deps_become_index_deps() {
        let meta = json!({
            "name": "app", "vers": "0.2.0",
            "deps": [
                {"name": "lib", "version_req": "^0.1", "features": ["x"], "optional": false,
                 "default_features": true, "target": null, "kind": "normal"},
                {"name": "real-name", "version_req": "=1.2.3", "features": [], "optional": true,
                 "default_features": false, "target": "cfg(unix)", "kind": "normal",
                 "explicit_name_in_toml": "alias",
                 "registry": "https://github.com/rust-lang/crates.io-index"},
                {"name": "tool", "version_req": "1", "features": [], "optional": false,
                 "default_features": true, "target": null, "kind": "dev"}
            ],
            "features": {"default": ["std"], "std": [], "opt": ["dep:alias"], "weak": ["alias?/x"]},
            "links": null, "rust_version": "1.70"
        });
        let l = line_of(meta.as_object().unwrap(), &n("app"), "ab").unwrap();
        assert_eq!(l["name"], "app");
        assert_eq!(l["cksum"], "ab");
        assert_eq!(l["yanked"], false);
        assert_eq!(l["deps"][0]["req"], "^0.1");
        assert!(
            l["deps"][0].get("registry").is_none(),
            "same registry: absent"
        );
        assert!(l["deps"][0].get("package").is_none());
        assert_eq!(l["deps"][1]["name"], "alias");
        assert_eq!(l["deps"][1]["package"], "real-name");
        assert_eq!(
            l["deps"][1]["registry"],
            "https://github.com/rust-lang/crates.io-index"
        );
        assert_eq!(l["deps"][1]["target"], "cfg(unix)");
        assert_eq!(l["deps"][2]["kind"], "dev");
        assert_eq!(l["features"], json!({"default": ["std"], "std": []}));
        assert_eq!(
            l["features2"],
            json!({"opt": ["dep:alias"], "weak": ["alias?/x"]})
        );
        assert_eq!(l["v"], 2);
        assert_eq!(l["rust_version"], "1.70");
        let bad = json!({"vers": "1.0.0", "deps": [{"name": "x", "version_req": "not a req"}]});
        assert!(line_of(bad.as_object().unwrap(), &n("app"), "ab").is_err());
    }

    #[test]
    fn files_round_trip_and_skip_junk() {
        let lines = vec![
            json!({"name": "a", "vers": "1.0.0"}),
            json!({"name": "a", "vers": "1.1.0"}),
        ];
        let f = file_of(&lines);
        assert_eq!(f.iter().filter(|b| **b == b'\n').count(), 2);
        let mut with_junk = f.clone();
        with_junk.extend_from_slice(b"not json\n\n[1]\n");
        assert_eq!(lines_of(&with_junk), lines);
    }

    #[test]
    fn merge_first_member_wins_and_hosted_hides_proxied() {
        let l = |v: &str, c: &str| json!({"name": "a", "vers": v, "cksum": c});
        let hosted = || Part {
            hosted: true,
            lines: vec![l("1.0.0", "h")],
        };
        let proxied = || Part {
            hosted: false,
            lines: vec![l("1.0.0", "p"), l("0.9.0", "p")],
        };
        assert_eq!(
            merge(vec![hosted(), proxied()], true).unwrap(),
            vec![l("1.0.0", "h")]
        );
        assert_eq!(
            merge(vec![hosted(), proxied()], false).unwrap(),
            vec![l("0.9.0", "p"), l("1.0.0", "h")]
        );
        assert_eq!(
            merge(
                vec![
                    Part {
                        hosted: true,
                        lines: vec![]
                    },
                    proxied()
                ],
                true
            )
            .unwrap(),
            vec![l("0.9.0", "p"), l("1.0.0", "p")]
        );
        assert_eq!(
            merge(
                vec![Part {
                    hosted: false,
                    lines: vec![]
                }],
                true
            ),
            None
        );
        // Build metadata does not make another version.
        let a = Part {
            hosted: false,
            lines: vec![l("1.0.0+a", "x")],
        };
        let b = Part {
            hosted: false,
            lines: vec![l("1.0.0+b", "y")],
        };
        assert_eq!(merge(vec![a, b], true).unwrap(), vec![l("1.0.0+a", "x")]);
    }
}
