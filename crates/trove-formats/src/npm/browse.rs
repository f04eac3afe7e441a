//! The console's and the REST API's view of npm repositories: packages; a package's versions
//! with their dist-tags, tarball size, publish time and last download; a version's manifest
//! and dependencies. Read through the same repository calls as the registry API (a proxy
//! shows the packuments and tarballs it has cached); deleting a version unpublishes it.

use std::collections::{BTreeMap, BTreeSet};

use async_trait::async_trait;
use serde_json::{Value, json};
use trove_core::{AssetMeta, AssetPath, Ctx, Error, Page, Repository, Result};

use super::names::{PackageName, Stored, stored};
use super::packument;
use crate::browse::{
    Browse, Cell, Column, Deletion, Detail, Document, Entry, Field, Link, Listing, Nouns, Scope,
    Section,
};

pub struct NpmBrowse;

fn name_of(component: &str) -> Result<PackageName> {
    PackageName::parse(component).map_err(Error::invalid)
}

/// The canonical packument of `name` in `repo`, parsed.
async fn packument_of(
    repo: &dyn Repository,
    ctx: &Ctx,
    name: &PackageName,
) -> Result<Option<Value>> {
    let path = AssetPath::parse(&name.packument())?;
    let Some(asset) = repo.get(&ctx.canonical(), &path, None).await? else {
        return Ok(None);
    };
    let bytes = trove_core::documents::collect(asset.body, asset.meta.blob.size).await?;
    serde_json::from_slice(&bytes)
        .map(Some)
        .map_err(|e| Error::internal(format!("packument of {name}: {e}")))
}

/// The stored (or cached) tarballs of `name`, by file name.
async fn tarballs(
    repo: &dyn Repository,
    ctx: &Ctx,
    name: &PackageName,
) -> Result<BTreeMap<String, AssetMeta>> {
    let rows = repo.list(ctx, &name.prefix(), &Page::default()).await?;
    Ok(rows
        .into_iter()
        .filter_map(|m| match stored(m.path.as_str()) {
            Some(Stored::Tarball(_, f)) => Some((f, m)),
            _ => None,
        })
        .collect())
}

fn tags_by_version(doc: &Value) -> BTreeMap<String, Vec<String>> {
    let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
    if let Some(t) = doc.get("dist-tags").and_then(Value::as_object) {
        for (tag, v) in t {
            if let Some(v) = v.as_str() {
                out.entry(v.to_owned()).or_default().push(tag.clone());
            }
        }
    }
    out
}

/// Versions newest first (semver; others after, by name).
fn versions_desc(doc: &Value) -> Vec<String> {
    let mut vs: Vec<String> = doc
        .get("versions")
        .and_then(Value::as_object)
        .map(|v| v.keys().cloned().collect())
        .unwrap_or_default();
    vs.sort_by(
        |a, b| match (semver::Version::parse(a), semver::Version::parse(b)) {
            (Ok(a), Ok(b)) => b.cmp(&a),
            (Ok(_), Err(_)) => std::cmp::Ordering::Less,
            (Err(_), Ok(_)) => std::cmp::Ordering::Greater,
            _ => a.cmp(b),
        },
    );
    vs
}

fn time_of(doc: &Value, key: &str) -> Option<i64> {
    let t = doc.get("time")?.get(key)?.as_str()?;
    let at = humantime::parse_rfc3339_weak(t).ok()?;
    Some(at.duration_since(std::time::UNIX_EPOCH).ok()?.as_millis() as i64)
}

#[async_trait]
impl Browse for NpmBrowse {
    fn nouns(&self) -> Nouns {
        Nouns {
            component: "package",
            components: "packages",
            asset: "version",
            assets: "versions",
        }
    }

    async fn components(&self, at: &Scope<'_>) -> Result<Listing> {
        let rows = at.repo.list(at.ctx, "/", &Page::default()).await?;
        let names: BTreeSet<PackageName> = rows
            .iter()
            .filter_map(|m| match stored(m.path.as_str())? {
                Stored::PackageDoc(n) | Stored::Packument(n) => Some(n),
                _ => None,
            })
            .collect();
        let mut entries = Vec::new();
        for name in names {
            let Some(doc) = packument_of(at.repo, at.ctx, &name).await? else {
                continue;
            };
            let latest = doc["dist-tags"]["latest"]
                .as_str()
                .unwrap_or_default()
                .to_owned();
            let count = doc["versions"].as_object().map_or(0, |v| v.len());
            let modified = time_of(&doc, "modified");
            let to = Link::Component {
                component: name.to_string(),
            };
            entries.push(Entry {
                key: name.to_string(),
                cells: vec![
                    Cell::code(name.as_str()).link(to),
                    Cell::text(latest.clone()),
                    Cell::Count(count as u64),
                    modified.map_or(Cell::muted("unknown"), Cell::Time),
                ],
                facts: json!({ "name": name.as_str(), "latest": latest, "versions": count, "modified": modified }),
                delete: None,
            });
        }
        Ok(Listing {
            caption: Some("Packages by name".into()),
            columns: vec![
                Column::text("Package"),
                Column::text("Latest"),
                Column::number("Versions"),
                Column::text("Modified"),
            ],
            entries,
        })
    }

    async fn component(&self, at: &Scope<'_>, component: &str) -> Result<Option<Listing>> {
        let name = name_of(component)?;
        let Some(doc) = packument_of(at.repo, at.ctx, &name).await? else {
            return Ok(None);
        };
        let tags = tags_by_version(&doc);
        let files = tarballs(at.repo, at.ctx, &name).await?;
        let entries = versions_desc(&doc)
            .into_iter()
            .map(|v| {
                let tarball = files.get(&name.tarball_file(&v));
                let vtags = tags.get(&v).cloned().unwrap_or_default();
                let published = time_of(&doc, &v);
                let deprecated = doc["versions"][&v]["deprecated"]
                    .as_str()
                    .map(str::to_owned);
                Entry {
                    key: v.clone(),
                    cells: vec![
                        Cell::code(v.clone()).link(Link::Asset {
                            component: name.to_string(),
                            reference: v.clone(),
                        }),
                        Cell::Badges(vtags.clone()),
                        tarball.map_or(Cell::muted("not stored"), |t| Cell::Bytes(t.blob.size)),
                        published.map_or(Cell::muted("unknown"), Cell::Time),
                        Cell::LastTime(tarball.and_then(|t| t.last_downloaded)),
                        deprecated.clone().map_or(Cell::muted("no"), Cell::text),
                    ],
                    facts: json!({
                        "version": v,
                        "dist_tags": vtags,
                        "tarball_size": tarball.map(|t| t.blob.size),
                        "published": published,
                        "last_downloaded": tarball.and_then(|t| t.last_downloaded),
                        "deprecated": deprecated,
                    }),
                    delete: Some(format!("Unpublish {v}")),
                }
            })
            .collect();
        Ok(Some(Listing {
            caption: Some("Versions, newest first".into()),
            columns: vec![
                Column::text("Version"),
                Column::text("Tags"),
                Column::number("Tarball"),
                Column::text("Published"),
                Column::text("Last downloaded"),
                Column::text("Deprecated"),
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
        let name = name_of(component)?;
        let Some(doc) = packument_of(at.repo, at.ctx, &name).await? else {
            return Ok(None);
        };
        let Some(manifest) = doc["versions"].get(version).cloned() else {
            return Ok(None);
        };
        let files = tarballs(at.repo, at.ctx, &name).await?;
        let tarball = files.get(&name.tarball_file(version));
        let tags = tags_by_version(&doc).remove(version).unwrap_or_default();
        let deps: Vec<Entry> = [
            "dependencies",
            "peerDependencies",
            "optionalDependencies",
            "devDependencies",
        ]
        .iter()
        .flat_map(|kind| {
            manifest[*kind]
                .as_object()
                .into_iter()
                .flatten()
                .map(move |(dep, range)| Entry {
                    key: String::new(),
                    cells: vec![
                        Cell::code(dep.clone()),
                        Cell::code(range.as_str().unwrap_or_default()),
                        Cell::text(*kind),
                    ],
                    facts: json!({ "name": dep, "range": range, "kind": kind }),
                    delete: None,
                })
        })
        .collect();
        let mut fields = vec![
            Field {
                label: "Tags",
                values: vec![Cell::Badges(tags.clone())],
            },
            Field {
                label: "Published",
                values: vec![time_of(&doc, version).map_or(Cell::muted("unknown"), Cell::Time)],
            },
            Field {
                label: "Tarball",
                values: vec![
                    tarball.map_or(Cell::muted("not stored"), |t| Cell::Bytes(t.blob.size)),
                ],
            },
            Field {
                label: "Last downloaded",
                values: vec![Cell::LastTime(tarball.and_then(|t| t.last_downloaded))],
            },
            Field {
                label: "Integrity",
                values: vec![Cell::code(
                    manifest["dist"]["integrity"].as_str().unwrap_or("none"),
                )],
            },
        ];
        if let Some(d) = manifest["deprecated"].as_str() {
            fields.push(Field {
                label: "Deprecated",
                values: vec![Cell::text(d)],
            });
        }
        let pretty = serde_json::to_string_pretty(&manifest)
            .unwrap_or_default()
            .replace(packument::MARKER, "");
        Ok(Some(Detail {
            title: format!("{name}@{version}"),
            label: Cell::code(version),
            fields,
            sections: vec![Section {
                id: "dependencies",
                heading: "Dependencies",
                listing: Listing {
                    caption: None,
                    columns: vec![
                        Column::text("Package"),
                        Column::text("Range"),
                        Column::text("Kind"),
                    ],
                    entries: deps,
                },
                total: None,
                empty: Some("No dependencies."),
            }],
            document: Some(Document {
                heading: "Manifest",
                text: pretty,
            }),
            facts: json!({ "name": name.as_str(), "version": version, "dist_tags": tags, "manifest": manifest }),
            delete: Some(Deletion {
                reference: version.to_owned(),
                label: format!("Unpublish {version}"),
            }),
            actions: Vec::new(),
        }))
    }

    /// Unpublishes the version: its manifest, then its tarball (a proxy: the cached tarball).
    async fn delete(&self, at: &Scope<'_>, component: &str, version: &str) -> Result<bool> {
        let name = name_of(component)?;
        if !super::names::version_ok(version) {
            return Err(Error::invalid(format!("invalid version {version:?}")));
        }
        let manifest = at
            .repo
            .delete(at.ctx, &AssetPath::parse(&name.manifest(version))?)
            .await?;
        let tarball = at
            .repo
            .delete(at.ctx, &AssetPath::parse(&name.tarball(version))?)
            .await?;
        Ok(manifest || tarball)
    }
}
