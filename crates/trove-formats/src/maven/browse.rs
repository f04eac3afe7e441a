//! The console's and the REST API's view of Maven repositories: artifacts (`groupId:artifactId`);
//! an artifact's versions, newest first in Maven's order, with their files' count, total size,
//! last upload and download; a version's files with sizes and SHA-1, and the `<dependency>`
//! snippet to use it. Read through the same repository calls as the wire protocol (a proxy
//! shows what it has cached); deleting a version deletes its files (a hosted repository's
//! metadata follows, as it is built from the files).

use std::collections::{BTreeMap, BTreeSet};

use async_trait::async_trait;
use serde_json::json;
use trove_core::{AssetMeta, AssetPath, Error, Page, Result};

use super::layout::{self, ArtifactFile, Kind};
use super::version;
use crate::browse::{
    Browse, Cell, Column, Deletion, Detail, Document, Entry, Field, Link, Listing, Nouns, Scope,
    Section,
};
use crate::kit::checksums;

pub struct MavenBrowse;

/// `groupId:artifactId` → its directory.
fn dir_of(component: &str) -> Result<(String, String, String)> {
    let bad = || Error::invalid(format!("{component:?} is not groupId:artifactId"));
    let (group, artifact) = component.split_once(':').ok_or_else(bad)?;
    let ok = |s: &str| {
        !s.is_empty()
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
            && !s.split('.').any(str::is_empty)
    };
    if !ok(group) || !ok(artifact) {
        return Err(bad());
    }
    Ok((
        group.to_owned(),
        artifact.to_owned(),
        layout::artifact_dir(group, artifact),
    ))
}

/// The artifact files stored under `prefix` that belong to the artifact at `dir`.
async fn files(at: &Scope<'_>, dir: &str, prefix: &str) -> Result<Vec<(ArtifactFile, AssetMeta)>> {
    let rows = at.repo.list(at.ctx, prefix, &Page::default()).await?;
    Ok(rows
        .into_iter()
        .filter_map(|m| match layout::parse(m.path.as_str()) {
            Kind::Artifact(f) if layout::artifact_dir(&f.group, &f.artifact) == dir => Some((f, m)),
            _ => None,
        })
        .collect())
}

fn file_name(m: &AssetMeta) -> String {
    m.path
        .as_str()
        .rsplit('/')
        .next()
        .unwrap_or_default()
        .to_owned()
}

/// What a version's files add up to.
#[derive(Default)]
struct Summary {
    files: u64,
    bytes: u64,
    uploaded: i64,
    downloaded: Option<i64>,
}

impl Summary {
    fn add(&mut self, m: &AssetMeta) {
        self.files += 1;
        self.bytes += m.blob.size;
        self.uploaded = self.uploaded.max(m.created);
        self.downloaded = self.downloaded.max(m.last_downloaded);
    }
}

/// The `<dependency>` element that uses `version` (with its `<type>` when the version has no
/// jar: a POM-only artifact, or another packaging).
fn snippet(group: &str, artifact: &str, version: &str, extensions: &BTreeSet<String>) -> String {
    let ty = if extensions.contains("jar") || extensions.is_empty() {
        String::new()
    } else if extensions.len() == 1 || extensions.contains("pom") && extensions.len() == 2 {
        let other = extensions
            .iter()
            .find(|e| *e != "pom")
            .map_or("pom", String::as_str);
        // Plain text: the console's template escapes it, the REST API sends it as JSON.
        format!("\n  <type>{other}</type>")
    } else {
        String::new()
    };
    format!(
        "<dependency>\n  <groupId>{group}</groupId>\n  <artifactId>{artifact}</artifactId>\n  <version>{version}</version>{ty}\n</dependency>"
    )
}

#[async_trait]
impl Browse for MavenBrowse {
    fn nouns(&self) -> Nouns {
        Nouns {
            component: "artifact",
            components: "artifacts",
            asset: "version",
            assets: "versions",
        }
    }

    async fn components(&self, at: &Scope<'_>) -> Result<Listing> {
        let rows = at.repo.list(at.ctx, "/", &Page::default()).await?;
        let mut artifacts: BTreeMap<(String, String), (BTreeSet<String>, Summary)> =
            BTreeMap::new();
        for m in &rows {
            if let Kind::Artifact(f) = layout::parse(m.path.as_str()) {
                let e = artifacts.entry((f.group, f.artifact)).or_default();
                e.0.insert(f.version);
                e.1.add(m);
            }
        }
        let entries = artifacts
            .into_iter()
            .map(|((group, artifact), (versions, sum))| {
                let key = format!("{group}:{artifact}");
                let latest = version::highest(versions.iter().map(String::as_str))
                    .unwrap_or_default()
                    .to_owned();
                Entry {
                    key: key.clone(),
                    cells: vec![
                        Cell::code(key.clone()).link(Link::Component {
                            component: key.clone(),
                        }),
                        Cell::text(latest.clone()),
                        Cell::Count(versions.len() as u64),
                        Cell::Bytes(sum.bytes),
                        Cell::Time(sum.uploaded),
                    ],
                    facts: json!({
                        "group_id": group,
                        "artifact_id": artifact,
                        "latest": latest,
                        "versions": versions.len(),
                        "bytes": sum.bytes,
                        "uploaded": sum.uploaded,
                    }),
                    delete: None,
                }
            })
            .collect();
        Ok(Listing {
            caption: Some("Artifacts by groupId:artifactId".into()),
            columns: vec![
                Column::text("Artifact"),
                Column::text("Latest"),
                Column::number("Versions"),
                Column::number("Size"),
                Column::text("Last upload"),
            ],
            entries,
        })
    }

    async fn component(&self, at: &Scope<'_>, component: &str) -> Result<Option<Listing>> {
        let (_, _, dir) = dir_of(component)?;
        let files = files(at, &dir, &format!("{dir}/")).await?;
        if files.is_empty() {
            return Ok(None);
        }
        let mut versions: BTreeMap<String, Summary> = BTreeMap::new();
        for (f, m) in &files {
            versions.entry(f.version.clone()).or_default().add(m);
        }
        let mut ordered: Vec<(String, Summary)> = versions.into_iter().collect();
        ordered.sort_by(|a, b| version::compare(&b.0, &a.0));
        let entries = ordered
            .into_iter()
            .map(|(v, sum)| Entry {
                key: v.clone(),
                cells: vec![
                    Cell::code(v.clone()).link(Link::Asset {
                        component: component.to_owned(),
                        reference: v.clone(),
                    }),
                    Cell::Count(sum.files),
                    Cell::Bytes(sum.bytes),
                    Cell::Time(sum.uploaded),
                    Cell::LastTime(sum.downloaded),
                ],
                facts: json!({
                    "version": v,
                    "snapshot": v.ends_with("-SNAPSHOT"),
                    "files": sum.files,
                    "bytes": sum.bytes,
                    "uploaded": sum.uploaded,
                    "last_downloaded": sum.downloaded,
                }),
                delete: Some(format!("Delete {v}")),
            })
            .collect();
        Ok(Some(Listing {
            caption: Some("Versions, newest first (Maven's version order)".into()),
            columns: vec![
                Column::text("Version"),
                Column::number("Files"),
                Column::number("Size"),
                Column::text("Uploaded"),
                Column::text("Last downloaded"),
            ],
            entries,
        }))
    }

    async fn asset(
        &self,
        at: &Scope<'_>,
        component: &str,
        version: &str,
    ) -> Result<Option<Detail>> {
        let (group, artifact, dir) = dir_of(component)?;
        if version.is_empty() || version.contains('/') {
            return Err(Error::invalid(format!("invalid version {version:?}")));
        }
        let files: Vec<(ArtifactFile, AssetMeta)> = files(at, &dir, &format!("{dir}/{version}/"))
            .await?
            .into_iter()
            .filter(|(f, _)| f.version == version)
            .collect();
        if files.is_empty() {
            return Ok(None);
        }
        let mut sum = Summary::default();
        let mut extensions = BTreeSet::new();
        let rows: Vec<Entry> = files
            .iter()
            .map(|(f, m)| {
                sum.add(m);
                extensions.insert(f.extension.clone());
                let sha1 = checksums::from_attrs(&m.attrs, "sha1").map(str::to_owned);
                Entry {
                    key: String::new(),
                    cells: vec![
                        Cell::code(file_name(m)),
                        Cell::text(f.classifier.clone().unwrap_or_default()),
                        Cell::Bytes(m.blob.size),
                        Cell::Time(m.created),
                        sha1.clone()
                            .map_or(Cell::muted("not computed"), Cell::Digest),
                    ],
                    facts: json!({
                        "path": m.path.as_str(),
                        "file": file_name(m),
                        "classifier": f.classifier,
                        "extension": f.extension,
                        "file_version": f.file_version,
                        "size": m.blob.size,
                        "uploaded": m.created,
                        "sha1": sha1,
                    }),
                    delete: None,
                }
            })
            .collect();
        let dependency = snippet(&group, &artifact, version, &extensions);
        Ok(Some(Detail {
            title: format!("{group}:{artifact}:{version}"),
            label: Cell::code(version),
            actions: Vec::new(),
            fields: vec![
                Field {
                    label: "groupId",
                    values: vec![Cell::code(group.clone())],
                },
                Field {
                    label: "artifactId",
                    values: vec![Cell::code(artifact.clone())],
                },
                Field {
                    label: "Files",
                    values: vec![Cell::Count(sum.files), Cell::Bytes(sum.bytes)],
                },
                Field {
                    label: "Uploaded",
                    values: vec![Cell::Time(sum.uploaded)],
                },
                Field {
                    label: "Last downloaded",
                    values: vec![Cell::LastTime(sum.downloaded)],
                },
            ],
            sections: vec![Section {
                id: "files",
                heading: "Files",
                listing: Listing {
                    caption: None,
                    columns: vec![
                        Column::text("File"),
                        Column::text("Classifier"),
                        Column::number("Size"),
                        Column::text("Uploaded"),
                        Column::text("SHA-1"),
                    ],
                    entries: rows,
                },
                total: Some(Cell::Bytes(sum.bytes)),
                empty: None,
            }],
            document: Some(Document {
                heading: "Dependency",
                text: dependency.clone(),
            }),
            facts: json!({
                "group_id": group,
                "artifact_id": artifact,
                "version": version,
                "dependency": dependency,
                "files": files.iter().map(|(_, m)| json!({"file": file_name(m), "size": m.blob.size})).collect::<Vec<_>>(),
            }),
            delete: Some(Deletion {
                reference: version.to_owned(),
                label: format!("Delete {version}"),
            }),
        }))
    }

    /// Deletes every stored file of the version.
    async fn delete(&self, at: &Scope<'_>, component: &str, version: &str) -> Result<bool> {
        let (_, _, dir) = dir_of(component)?;
        if version.is_empty() || version.contains('/') {
            return Err(Error::invalid(format!("invalid version {version:?}")));
        }
        let rows = at
            .repo
            .list(at.ctx, &format!("{dir}/{version}/"), &Page::default())
            .await?;
        let mut any = false;
        for m in rows {
            any |= at
                .repo
                .delete(at.ctx, &AssetPath::parse(m.path.as_str())?)
                .await?;
        }
        Ok(any)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn components_are_group_and_artifact() {
        assert_eq!(dir_of("org.example:lib").unwrap().2, "/org/example/lib");
        for bad in [
            "lib",
            ":lib",
            "org.example:",
            "org..example:lib",
            "a/b:c",
            "g:a/b",
        ] {
            assert!(dir_of(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn dependency_snippets() {
        let set = |e: &[&str]| e.iter().map(|s| s.to_string()).collect::<BTreeSet<_>>();
        assert_eq!(
            snippet("g", "a", "1.0", &set(&["jar", "pom"])),
            "<dependency>\n  <groupId>g</groupId>\n  <artifactId>a</artifactId>\n  <version>1.0</version>\n</dependency>"
        );
        assert!(snippet("g", "parent", "1.0", &set(&["pom"])).contains("<type>pom</type>"));
        assert!(snippet("g", "w", "1.0", &set(&["pom", "war"])).contains("<type>war</type>"));
    }
}
