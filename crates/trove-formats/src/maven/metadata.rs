//! `maven-metadata.xml`: the document model (quick-xml with serde), the documents a hosted
//! repository builds from the files it stores, and the merge a group serves.
//!
//! - **Artifact level** (`/g/a/maven-metadata.xml`): every version that has a file, `latest`
//!   (the highest version) and `release` (the highest non-snapshot) in Maven's version order,
//!   and `lastUpdated`, the newest file's upload time.
//! - **Version level** (`/g/a/1.0-SNAPSHOT/maven-metadata.xml`): the newest build's `timestamp`
//!   and `buildNumber` (what the next `mvn deploy` counts on from), and a `snapshotVersion` per
//!   stored build per classifier and extension, newest first (the resolver takes the newest
//!   `updated` of each classifier and extension; the older entries say which builds are there).
//! - **Group level**: plugin prefixes, which only the client knows: kept from what it uploaded.
//!
//! Built from rows, never from what a client uploaded, so two concurrent deploys of different
//! versions both show, and the document is the same on every node.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};
use trove_core::{AssetMeta, Error, Result};

use super::layout::{self, ArtifactFile, Kind};
use super::version;

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename = "metadata")]
pub struct Metadata {
    #[serde(
        rename = "@modelVersion",
        skip_serializing_if = "Option::is_none",
        default
    )]
    pub model_version: Option<String>,
    #[serde(rename = "groupId", skip_serializing_if = "Option::is_none", default)]
    pub group_id: Option<String>,
    #[serde(
        rename = "artifactId",
        skip_serializing_if = "Option::is_none",
        default
    )]
    pub artifact_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub version: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub versioning: Option<Versioning>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub plugins: Option<Plugins>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Versioning {
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub latest: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub release: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub snapshot: Option<Snapshot>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub versions: Option<Versions>,
    #[serde(
        rename = "lastUpdated",
        skip_serializing_if = "Option::is_none",
        default
    )]
    pub last_updated: Option<String>,
    #[serde(
        rename = "snapshotVersions",
        skip_serializing_if = "Option::is_none",
        default
    )]
    pub snapshot_versions: Option<SnapshotVersions>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Versions {
    #[serde(rename = "version", default)]
    pub version: Vec<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Snapshot {
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub timestamp: Option<String>,
    #[serde(
        rename = "buildNumber",
        skip_serializing_if = "Option::is_none",
        default
    )]
    pub build_number: Option<u32>,
    #[serde(rename = "localCopy", skip_serializing_if = "Option::is_none", default)]
    pub local_copy: Option<bool>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SnapshotVersions {
    #[serde(rename = "snapshotVersion", default)]
    pub snapshot_version: Vec<SnapshotVersion>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SnapshotVersion {
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub classifier: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub extension: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub value: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub updated: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Plugins {
    #[serde(rename = "plugin", default)]
    pub plugin: Vec<Plugin>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Plugin {
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub prefix: Option<String>,
    #[serde(
        rename = "artifactId",
        skip_serializing_if = "Option::is_none",
        default
    )]
    pub artifact_id: Option<String>,
}

pub const CONTENT_TYPE: &str = "application/xml";

impl Metadata {
    pub fn parse(bytes: &[u8]) -> Result<Metadata> {
        let text = std::str::from_utf8(bytes)
            .map_err(|_| Error::invalid("maven-metadata.xml is not UTF-8"))?;
        quick_xml::de::from_str(text)
            .map_err(|e| Error::invalid(format!("maven-metadata.xml is not valid: {e}")))
    }

    /// The document as served: an XML declaration, two-space indents, a final newline.
    pub fn to_xml(&self) -> String {
        let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
        let mut ser = quick_xml::se::Serializer::new(&mut out);
        ser.indent(' ', 2);
        self.serialize(ser)
            .expect("metadata serialises: plain strings and numbers");
        out.push('\n');
        out
    }
}

/// `yyyyMMddHHmmss` (UTC) of unix millis: Maven's `lastUpdated`.
pub fn last_updated(millis: i64) -> String {
    let t = std::time::UNIX_EPOCH + std::time::Duration::from_millis(millis.max(0) as u64);
    let s = humantime::format_rfc3339_seconds(t).to_string();
    s.chars().filter(char::is_ascii_digit).collect()
}

/// The artifact files among `rows` that belong to the artifact at `dir` (`/g/a`), with their
/// upload times.
fn files_of<'a>(dir: &str, rows: &'a [AssetMeta]) -> Vec<(ArtifactFile, &'a AssetMeta)> {
    rows.iter()
        .filter_map(|m| match layout::parse(m.path.as_str()) {
            Kind::Artifact(f) if layout::artifact_dir(&f.group, &f.artifact) == dir => Some((f, m)),
            _ => None,
        })
        .collect()
}

/// The coordinates `dir` would have as an artifact directory: `(groupId, artifactId)`.
fn coordinates(dir: &str) -> Option<(String, String)> {
    let (group, artifact) = dir.strip_prefix('/')?.rsplit_once('/')?;
    Some((group.replace('/', "."), artifact.to_owned()))
}

/// The artifact-level document of the artifact at `dir` from the stored `rows` under it, with
/// the plugins of a group-level document uploaded at the same place (`uploaded`); `None` when
/// no file of the artifact is stored (then the uploaded document, if any, is served as is).
pub fn artifact_level(
    dir: &str,
    rows: &[AssetMeta],
    uploaded: Option<&Metadata>,
) -> Option<Metadata> {
    let files = files_of(dir, rows);
    if files.is_empty() {
        return None;
    }
    let (group, artifact) = coordinates(dir)?;
    let versions: BTreeSet<&str> = files.iter().map(|(f, _)| f.version.as_str()).collect();
    let mut versions: Vec<String> = versions.into_iter().map(str::to_owned).collect();
    versions.sort_by(|a, b| version::compare(a, b));
    let newest = files.iter().map(|(_, m)| m.created).max().unwrap_or(0);
    Some(Metadata {
        model_version: None,
        group_id: Some(group),
        artifact_id: Some(artifact),
        version: None,
        versioning: Some(Versioning {
            latest: version::highest(versions.iter().map(String::as_str)).map(str::to_owned),
            release: version::highest(
                versions
                    .iter()
                    .map(String::as_str)
                    .filter(|v| !v.ends_with("-SNAPSHOT")),
            )
            .map(str::to_owned),
            versions: Some(Versions { version: versions }),
            last_updated: Some(last_updated(newest)),
            ..Default::default()
        }),
        plugins: uploaded.and_then(|u| u.plugins.clone()),
    })
}

/// The version-level document of snapshot version `dir` (`/g/a/1.0-SNAPSHOT`) from the rows
/// under it; `None` when no file of it is stored.
pub fn version_level(dir: &str, rows: &[AssetMeta]) -> Option<Metadata> {
    let (artifact_dir, version) = dir.rsplit_once('/')?;
    if !version.ends_with("-SNAPSHOT") {
        return None;
    }
    let files: Vec<_> = files_of(artifact_dir, rows)
        .into_iter()
        .filter(|(f, _)| f.version == version)
        .collect();
    if files.is_empty() {
        return None;
    }
    let (group, artifact) = coordinates(artifact_dir)?;
    // One entry per stored build and classifier/extension, newest build first.
    let mut entries: BTreeMap<(u32, String, String, String), SnapshotVersion> = BTreeMap::new();
    let mut newest_build: Option<&layout::Build> = None;
    let mut newest_upload = 0;
    for (f, m) in &files {
        newest_upload = newest_upload.max(m.created);
        let (number, updated) = match &f.build {
            Some(b) => {
                if newest_build.is_none_or(|n| (b.number, &b.timestamp) > (n.number, &n.timestamp))
                {
                    newest_build = Some(b);
                }
                (b.number, b.timestamp.replace('.', ""))
            }
            // A non-unique `1.0-SNAPSHOT.jar`: listed as itself, as of its upload.
            None => (0, last_updated(m.created)),
        };
        let classifier = f.classifier.clone().unwrap_or_default();
        entries.insert(
            (
                u32::MAX - number,
                classifier.clone(),
                f.extension.clone(),
                updated.clone(),
            ),
            SnapshotVersion {
                classifier: f.classifier.clone(),
                extension: Some(f.extension.clone()),
                value: Some(f.file_version.clone()),
                updated: Some(updated),
            },
        );
    }
    let last = match newest_build {
        Some(b) => b.timestamp.replace('.', ""),
        None => last_updated(newest_upload),
    };
    Some(Metadata {
        model_version: Some("1.1.0".into()),
        group_id: Some(group),
        artifact_id: Some(artifact),
        version: Some(version.to_owned()),
        versioning: Some(Versioning {
            snapshot: newest_build.map(|b| Snapshot {
                timestamp: Some(b.timestamp.clone()),
                build_number: Some(b.number),
                local_copy: None,
            }),
            last_updated: Some(last),
            snapshot_versions: Some(SnapshotVersions {
                snapshot_version: entries.into_values().collect(),
            }),
            ..Default::default()
        }),
        plugins: None,
    })
}

/// Whether `m` names versions (artifact level) or builds (snapshot version level), rather
/// than only plugins (group level).
pub fn has_versions(m: &Metadata) -> bool {
    m.versioning.as_ref().is_some_and(|v| {
        v.versions.as_ref().is_some_and(|vs| !vs.version.is_empty())
            || v.snapshot_versions
                .as_ref()
                .is_some_and(|s| !s.snapshot_version.is_empty())
            || v.snapshot.is_some()
    })
}

/// What a group serves: the members' documents merged. Versions are a union, `latest` and
/// `release` are recomputed in Maven's order, `lastUpdated` is the newest, the snapshot is the
/// newest build, `snapshotVersions` are a union per classifier, extension and value (the newest
/// `updated` of each), newest first; plugins are a union by prefix, the first member's winning.
/// `None` when no part parses.
pub fn merge(parts: &[Metadata]) -> Option<Metadata> {
    if parts.is_empty() {
        return None;
    }
    let mut out = Metadata {
        model_version: None,
        group_id: parts.iter().find_map(|p| p.group_id.clone()),
        artifact_id: parts.iter().find_map(|p| p.artifact_id.clone()),
        version: parts.iter().find_map(|p| p.version.clone()),
        versioning: None,
        plugins: None,
    };
    let mut versions: Vec<String> = Vec::new();
    let mut latest: Vec<String> = Vec::new();
    let mut release: Vec<String> = Vec::new();
    let mut last: Option<String> = None;
    let mut snapshot: Option<Snapshot> = None;
    let mut svs: BTreeMap<(String, String, String), SnapshotVersion> = BTreeMap::new();
    let mut any_versioning = false;
    let mut plugins: Vec<Plugin> = Vec::new();
    for p in parts {
        if p.model_version.is_some() {
            out.model_version.clone_from(&p.model_version);
        }
        if let Some(ps) = &p.plugins {
            for plugin in &ps.plugin {
                if !plugins.iter().any(|q| q.prefix == plugin.prefix) {
                    plugins.push(plugin.clone());
                }
            }
        }
        let Some(v) = &p.versioning else { continue };
        any_versioning = true;
        for x in v.versions.iter().flat_map(|vs| &vs.version) {
            if !versions.contains(x) {
                versions.push(x.clone());
            }
        }
        latest.extend(v.latest.clone());
        release.extend(v.release.clone());
        if v.last_updated > last {
            last.clone_from(&v.last_updated);
        }
        if let Some(s) = &v.snapshot {
            let key = |s: &Snapshot| (s.timestamp.clone(), s.build_number);
            if snapshot.as_ref().is_none_or(|o| key(s) > key(o)) {
                snapshot = Some(s.clone());
            }
        }
        for sv in v.snapshot_versions.iter().flat_map(|s| &s.snapshot_version) {
            let key = (
                sv.classifier.clone().unwrap_or_default(),
                sv.extension.clone().unwrap_or_default(),
                sv.value.clone().unwrap_or_default(),
            );
            match svs.get(&key) {
                Some(old) if old.updated >= sv.updated => {}
                _ => {
                    svs.insert(key, sv.clone());
                }
            }
        }
    }
    if any_versioning {
        versions.sort_by(|a, b| version::compare(a, b));
        let all = || versions.iter().chain(latest.iter()).map(String::as_str);
        let mut snapshot_versions: Vec<SnapshotVersion> = svs.into_values().collect();
        snapshot_versions.sort_by(|a, b| {
            b.updated
                .cmp(&a.updated)
                .then_with(|| b.value.cmp(&a.value))
                .then_with(|| a.classifier.cmp(&b.classifier))
                .then_with(|| a.extension.cmp(&b.extension))
        });
        out.versioning = Some(Versioning {
            latest: version::highest(all()).map(str::to_owned),
            release: version::highest(
                versions
                    .iter()
                    .chain(release.iter())
                    .map(String::as_str)
                    .filter(|v| !v.ends_with("-SNAPSHOT")),
            )
            .map(str::to_owned),
            snapshot,
            versions: (!versions.is_empty()).then_some(Versions { version: versions }),
            last_updated: last,
            snapshot_versions: (!snapshot_versions.is_empty()).then_some(SnapshotVersions {
                snapshot_version: snapshot_versions,
            }),
        });
    }
    if !plugins.is_empty() {
        out.plugins = Some(Plugins { plugin: plugins });
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use trove_core::{AssetPath, BlobInfo, Digest};

    fn row(path: &str, created: i64) -> AssetMeta {
        AssetMeta {
            path: AssetPath::parse(path).unwrap(),
            blob: BlobInfo {
                digest: Digest::of(trove_core::Algorithm::Sha256, path.as_bytes()),
                size: 1,
            },
            content_type: None,
            created,
            last_downloaded: None,
            attrs: serde_json::Value::Null,
        }
    }

    const T0: i64 = 1_796_299_188_000; // 2026-12-03T11:59:48Z

    #[test]
    fn artifact_level_lists_versions_in_maven_order() {
        let rows = [
            row("/org/example/lib/1.10/lib-1.10.jar", T0),
            row("/org/example/lib/1.10/lib-1.10.pom", T0),
            row("/org/example/lib/1.9/lib-1.9.jar", T0 - 1000),
            row(
                "/org/example/lib/2.0-SNAPSHOT/lib-2.0-20261203.115948-1.jar",
                T0 + 5000,
            ),
            row("/org/example/lib/other/x.txt", T0 + 9000),
            row("/org/example/lib-extra/1.0/lib-extra-1.0.jar", T0 + 9000),
        ];
        let m = artifact_level("/org/example/lib", &rows, None).unwrap();
        assert_eq!(m.group_id.as_deref(), Some("org.example"));
        assert_eq!(m.artifact_id.as_deref(), Some("lib"));
        let v = m.versioning.unwrap();
        assert_eq!(v.versions.unwrap().version, ["1.9", "1.10", "2.0-SNAPSHOT"]);
        assert_eq!(v.latest.as_deref(), Some("2.0-SNAPSHOT"));
        assert_eq!(v.release.as_deref(), Some("1.10"));
        assert_eq!(v.last_updated.as_deref(), Some("20261203115953"));
        assert!(artifact_level("/org/example/none", &rows, None).is_none());
    }

    #[test]
    fn version_level_lists_every_build_newest_first() {
        let d = "/org/example/lib/1.1-SNAPSHOT";
        let rows = [
            row(&format!("{d}/lib-1.1-20261203.115948-1.jar"), T0),
            row(&format!("{d}/lib-1.1-20261203.115948-1.pom"), T0),
            row(&format!("{d}/lib-1.1-20261203.120102-2.jar"), T0 + 74_000),
            row(
                &format!("{d}/lib-1.1-20261203.120102-2-sources.jar"),
                T0 + 74_000,
            ),
            row(&format!("{d}/lib-1.1-20261203.120102-2.pom"), T0 + 74_000),
        ];
        let m = version_level(d, &rows).unwrap();
        assert_eq!(m.version.as_deref(), Some("1.1-SNAPSHOT"));
        assert_eq!(m.model_version.as_deref(), Some("1.1.0"));
        let v = m.versioning.unwrap();
        let s = v.snapshot.unwrap();
        assert_eq!(s.timestamp.as_deref(), Some("20261203.120102"));
        assert_eq!(s.build_number, Some(2));
        assert_eq!(v.last_updated.as_deref(), Some("20261203120102"));
        let svs: Vec<(Option<&str>, &str, &str)> = v
            .snapshot_versions
            .as_ref()
            .unwrap()
            .snapshot_version
            .iter()
            .map(|s| {
                (
                    s.classifier.as_deref(),
                    s.extension.as_deref().unwrap(),
                    s.value.as_deref().unwrap(),
                )
            })
            .collect();
        assert_eq!(
            svs,
            [
                (None, "jar", "1.1-20261203.120102-2"),
                (None, "pom", "1.1-20261203.120102-2"),
                (Some("sources"), "jar", "1.1-20261203.120102-2"),
                (None, "jar", "1.1-20261203.115948-1"),
                (None, "pom", "1.1-20261203.115948-1"),
            ]
        );
        assert!(version_level("/org/example/lib/1.0", &rows).is_none());
    }

    #[test]
    fn xml_round_trips_and_reads_real_documents() {
        let doc = br#"<?xml version="1.0" encoding="UTF-8"?>
<metadata modelVersion="1.1.0">
  <groupId>org.example</groupId>
  <artifactId>lib</artifactId>
  <version>1.1-SNAPSHOT</version>
  <versioning>
    <snapshot>
      <timestamp>20261203.115948</timestamp>
      <buildNumber>1</buildNumber>
    </snapshot>
    <lastUpdated>20261203115948</lastUpdated>
    <snapshotVersions>
      <snapshotVersion>
        <extension>jar</extension>
        <value>1.1-20261203.115948-1</value>
        <updated>20261203115948</updated>
      </snapshotVersion>
      <snapshotVersion>
        <classifier>sources</classifier>
        <extension>jar</extension>
        <value>1.1-20261203.115948-1</value>
        <updated>20261203115948</updated>
      </snapshotVersion>
    </snapshotVersions>
  </versioning>
  <unknownElement>kept out</unknownElement>
</metadata>"#;
        let m = Metadata::parse(doc).unwrap();
        let v = m.versioning.as_ref().unwrap();
        assert_eq!(v.snapshot.as_ref().unwrap().build_number, Some(1));
        assert_eq!(
            v.snapshot_versions.as_ref().unwrap().snapshot_version.len(),
            2
        );
        let xml = m.to_xml();
        assert!(xml.starts_with("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<metadata modelVersion=\"1.1.0\">\n  <groupId>org.example</groupId>"), "{xml}");
        assert_eq!(Metadata::parse(xml.as_bytes()).unwrap(), m);
        let plugins = br#"<metadata><plugins><plugin><name>Trove Plugin</name><prefix>trove</prefix><artifactId>trove-maven-plugin</artifactId></plugin></plugins></metadata>"#;
        let p = Metadata::parse(plugins).unwrap();
        assert_eq!(
            p.plugins.unwrap().plugin[0].prefix.as_deref(),
            Some("trove")
        );
        assert!(Metadata::parse(b"<metadata><versioning>").is_err());
        assert!(Metadata::parse(b"not xml at all").is_err());
    }

    fn versions(m: &Metadata) -> Vec<&str> {
        m.versioning
            .as_ref()
            .unwrap()
            .versions
            .as_ref()
            .unwrap()
            .version
            .iter()
            .map(String::as_str)
            .collect()
    }

    #[test]
    fn merge_unions_versions_and_recomputes_latest_and_release() {
        let a = Metadata::parse(
            b"<metadata><groupId>g</groupId><artifactId>a</artifactId><versioning>\
              <latest>1.10</latest><release>1.10</release><versions><version>1.2</version>\
              <version>1.10</version></versions><lastUpdated>20261201000000</lastUpdated>\
              </versioning></metadata>",
        )
        .unwrap();
        let b = Metadata::parse(
            b"<metadata><groupId>g</groupId><artifactId>a</artifactId><versioning>\
              <latest>2.0-SNAPSHOT</latest><release>1.9</release><versions><version>1.9</version>\
              <version>2.0-SNAPSHOT</version><version>1.2</version></versions>\
              <lastUpdated>20261203000000</lastUpdated></versioning></metadata>",
        )
        .unwrap();
        let m = merge(&[a.clone(), b.clone()]).unwrap();
        assert_eq!(versions(&m), ["1.2", "1.9", "1.10", "2.0-SNAPSHOT"]);
        let v = m.versioning.as_ref().unwrap();
        assert_eq!(v.latest.as_deref(), Some("2.0-SNAPSHOT"));
        assert_eq!(
            v.release.as_deref(),
            Some("1.10"),
            "1.10 > 1.9: numeric, not lexical"
        );
        assert_eq!(v.last_updated.as_deref(), Some("20261203000000"));
        assert_eq!(m.group_id.as_deref(), Some("g"));
        // The order of members does not change the versions or latest/release.
        let m2 = merge(&[b, a]).unwrap();
        assert_eq!(versions(&m2), versions(&m));
        assert_eq!(
            m2.versioning.as_ref().unwrap().release.as_deref(),
            Some("1.10")
        );
        assert!(merge(&[]).is_none());
    }

    #[test]
    fn merge_keeps_the_newest_snapshot_and_every_snapshot_version() {
        let part = |ts: &str, n: u32| {
            Metadata::parse(
                format!(
                    "<metadata modelVersion=\"1.1.0\"><groupId>g</groupId><artifactId>a</artifactId>\
                     <version>1.0-SNAPSHOT</version><versioning><snapshot><timestamp>{ts}</timestamp>\
                     <buildNumber>{n}</buildNumber></snapshot><lastUpdated>{u}</lastUpdated>\
                     <snapshotVersions><snapshotVersion><extension>jar</extension>\
                     <value>1.0-{ts}-{n}</value><updated>{u}</updated></snapshotVersion>\
                     <snapshotVersion><classifier>sources</classifier><extension>jar</extension>\
                     <value>1.0-{ts}-{n}</value><updated>{u}</updated></snapshotVersion>\
                     </snapshotVersions></versioning></metadata>",
                    u = ts.replace('.', "")
                )
                .as_bytes(),
            )
            .unwrap()
        };
        let m = merge(&[part("20261201.100000", 3), part("20261203.090000", 1)]).unwrap();
        let v = m.versioning.unwrap();
        let s = v.snapshot.unwrap();
        assert_eq!(
            (s.timestamp.as_deref(), s.build_number),
            (Some("20261203.090000"), Some(1))
        );
        let values: Vec<(Option<String>, Option<String>)> = v
            .snapshot_versions
            .unwrap()
            .snapshot_version
            .into_iter()
            .map(|s| (s.classifier, s.value))
            .collect();
        assert_eq!(
            values,
            [
                (None, Some("1.0-20261203.090000-1".into())),
                (Some("sources".into()), Some("1.0-20261203.090000-1".into())),
                (None, Some("1.0-20261201.100000-3".into())),
                (Some("sources".into()), Some("1.0-20261201.100000-3".into())),
            ]
        );
        assert_eq!(m.model_version.as_deref(), Some("1.1.0"));
    }

    #[test]
    fn merge_unions_plugins_by_prefix() {
        let p = |prefix: &str, id: &str| {
            Metadata::parse(
                format!("<metadata><plugins><plugin><prefix>{prefix}</prefix><artifactId>{id}</artifactId></plugin></plugins></metadata>").as_bytes(),
            )
            .unwrap()
        };
        let m = merge(&[
            p("compiler", "mine"),
            p("compiler", "theirs"),
            p("jar", "j"),
        ])
        .unwrap();
        let plugins = m.plugins.unwrap().plugin;
        assert_eq!(plugins.len(), 2);
        assert_eq!(plugins[0].artifact_id.as_deref(), Some("mine"));
        assert!(m.versioning.is_none());
    }

    #[test]
    fn last_updated_is_utc_digits() {
        assert_eq!(last_updated(T0), "20261203115948");
        assert_eq!(last_updated(0), "19700101000000");
    }
}
