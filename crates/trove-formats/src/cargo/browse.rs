//! The console's and the REST API's view of cargo repositories: crates; a crate's versions
//! with yanked status, `.crate` size, publish time and last download; a version's index line
//! and dependencies. Read through the same repository calls as the registry (a proxy shows
//! the index files and crates it has cached). Versions are yanked with cargo, not deleted.

use std::collections::{BTreeMap, BTreeSet};

use async_trait::async_trait;
use serde_json::{Value, json};
use trove_core::{AssetMeta, AssetPath, Error, Page, Result};

use super::index;
use super::names::{CrateName, Stored, stored};
use crate::browse::{
    Browse, Cell, Column, Detail, Document, Entry, Field, Link, Listing, Nouns, Scope, Section,
};

pub struct CargoBrowse;

/// A component is a crate by its lowercase name (what its index path is made of).
fn name_of(component: &str) -> Result<CrateName> {
    CrateName::parse(&component.to_ascii_lowercase()).map_err(Error::invalid)
}

/// The crate's index lines, as the repository serves them.
async fn lines_of(at: &Scope<'_>, name: &CrateName) -> Result<Vec<Value>> {
    let path = AssetPath::parse(&name.index_path())?;
    let Some(asset) = at.repo.get(at.ctx, &path, None).await? else {
        return Ok(Vec::new());
    };
    let bytes = trove_core::documents::collect(asset.body, asset.meta.blob.size).await?;
    Ok(index::lines_of(&bytes))
}

/// The crate's stored rows by version: (index line row, `.crate` row).
async fn rows_of(
    at: &Scope<'_>,
    name: &CrateName,
) -> Result<BTreeMap<String, (Option<AssetMeta>, Option<AssetMeta>)>> {
    let mut out: BTreeMap<String, (Option<AssetMeta>, Option<AssetMeta>)> = BTreeMap::new();
    for m in at
        .repo
        .list(at.ctx, &name.prefix(), &Page::default())
        .await?
    {
        match stored(m.path.as_str()) {
            Some(Stored::Line(_, v)) => out.entry(v).or_default().0 = Some(m),
            Some(Stored::Crate(_, v)) => out.entry(v).or_default().1 = Some(m),
            _ => {}
        }
    }
    Ok(out)
}

fn vers(l: &Value) -> String {
    l["vers"].as_str().unwrap_or_default().to_owned()
}

#[async_trait]
impl Browse for CargoBrowse {
    fn nouns(&self) -> Nouns {
        Nouns {
            component: "crate",
            components: "crates",
            asset: "version",
            assets: "versions",
        }
    }

    async fn components(&self, at: &Scope<'_>) -> Result<Listing> {
        let rows = at.repo.list(at.ctx, "/", &Page::default()).await?;
        // Hosted: the spelling the lines keep; proxy: the cached index files.
        let names: BTreeSet<String> = rows
            .iter()
            .filter_map(|m| match stored(m.path.as_str())? {
                Stored::Line(..) => m
                    .attrs
                    .get("name")
                    .and_then(Value::as_str)
                    .map(str::to_ascii_lowercase),
                Stored::Index(n) => Some(n.as_str().to_owned()),
                _ => None,
            })
            .collect();
        let mut entries = Vec::new();
        for n in names {
            let Ok(name) = name_of(&n) else { continue };
            let mut lines = lines_of(at, &name).await?;
            if lines.is_empty() {
                continue;
            }
            index::sort(&mut lines);
            let newest = lines.last().map(vers).unwrap_or_default();
            let spelled = lines
                .last()
                .and_then(|l| l["name"].as_str())
                .unwrap_or(&n)
                .to_owned();
            entries.push(Entry {
                key: n.clone(),
                cells: vec![
                    Cell::code(spelled.clone()).link(Link::Component {
                        component: n.clone(),
                    }),
                    Cell::text(newest.clone()),
                    Cell::Count(lines.len() as u64),
                ],
                facts: json!({ "name": spelled, "newest": newest, "versions": lines.len() }),
                delete: None,
            });
        }
        Ok(Listing {
            caption: Some("Crates by name".into()),
            columns: vec![
                Column::text("Crate"),
                Column::text("Newest"),
                Column::number("Versions"),
            ],
            entries,
        })
    }

    async fn component(&self, at: &Scope<'_>, component: &str) -> Result<Option<Listing>> {
        let name = name_of(component)?;
        let mut lines = lines_of(at, &name).await?;
        if lines.is_empty() {
            return Ok(None);
        }
        index::sort(&mut lines);
        let rows = rows_of(at, &name).await?;
        let entries = lines
            .iter()
            .rev()
            .map(|l| {
                let v = vers(l);
                let (line_row, crate_row) = rows.get(&v).cloned().unwrap_or_default();
                let yanked = l["yanked"].as_bool().unwrap_or(false);
                let published = line_row.as_ref().map(|m| m.created);
                Entry {
                    key: v.clone(),
                    cells: vec![
                        Cell::code(v.clone()).link(Link::Asset {
                            component: name.to_string(),
                            reference: v.clone(),
                        }),
                        if yanked {
                            Cell::text("yanked")
                        } else {
                            Cell::muted("no")
                        },
                        crate_row
                            .as_ref()
                            .map_or(Cell::muted("not stored"), |c| Cell::Bytes(c.blob.size)),
                        published.map_or(Cell::muted("unknown"), Cell::Time),
                        Cell::LastTime(crate_row.as_ref().and_then(|c| c.last_downloaded)),
                    ],
                    facts: json!({
                        "version": v,
                        "yanked": yanked,
                        "cksum": l["cksum"],
                        "crate_size": crate_row.as_ref().map(|c| c.blob.size),
                        "published": published,
                        "last_downloaded": crate_row.as_ref().and_then(|c| c.last_downloaded),
                    }),
                    delete: None,
                }
            })
            .collect();
        Ok(Some(Listing {
            caption: Some("Versions, newest first".into()),
            columns: vec![
                Column::text("Version"),
                Column::text("Yanked"),
                Column::number(".crate"),
                Column::text("Published"),
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
        let name = name_of(component)?;
        let Some(line) = lines_of(at, &name)
            .await?
            .into_iter()
            .find(|l| l["vers"] == version)
        else {
            return Ok(None);
        };
        let (line_row, crate_row) = rows_of(at, &name)
            .await?
            .remove(version)
            .unwrap_or_default();
        let deps: Vec<Entry> = line["deps"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|d| {
                let krate = d["package"]
                    .as_str()
                    .or(d["name"].as_str())
                    .unwrap_or_default();
                Entry {
                    key: String::new(),
                    cells: vec![
                        Cell::code(krate),
                        Cell::code(d["req"].as_str().unwrap_or_default()),
                        Cell::text(d["kind"].as_str().unwrap_or("normal")),
                        d["registry"]
                            .as_str()
                            .map_or(Cell::muted("this registry"), Cell::code),
                    ],
                    facts: d.clone(),
                    delete: None,
                }
            })
            .collect();
        let attr = |k: &str| {
            line_row
                .as_ref()
                .and_then(|m| m.attrs.get(k))
                .and_then(Value::as_str)
                .map(str::to_owned)
        };
        let fields = vec![
            Field {
                label: "Yanked",
                values: vec![Cell::text(if line["yanked"] == true {
                    "yes"
                } else {
                    "no"
                })],
            },
            Field {
                label: "Checksum",
                values: vec![Cell::code(line["cksum"].as_str().unwrap_or("none"))],
            },
            Field {
                label: ".crate",
                values: vec![
                    crate_row
                        .as_ref()
                        .map_or(Cell::muted("not stored"), |c| Cell::Bytes(c.blob.size)),
                ],
            },
            Field {
                label: "Published",
                values: vec![
                    line_row
                        .as_ref()
                        .map_or(Cell::muted("unknown"), |m| Cell::Time(m.created)),
                ],
            },
            Field {
                label: "Publisher",
                values: vec![attr("publisher").map_or(Cell::muted("unknown"), Cell::text)],
            },
            Field {
                label: "Description",
                values: vec![attr("description").map_or(Cell::muted("none"), Cell::text)],
            },
            Field {
                label: "Last downloaded",
                values: vec![Cell::LastTime(
                    crate_row.as_ref().and_then(|c| c.last_downloaded),
                )],
            },
        ];
        Ok(Some(Detail {
            title: format!(
                "{} {version}",
                line["name"].as_str().unwrap_or(name.as_str())
            ),
            label: Cell::code(version),
            fields,
            actions: Vec::new(),
            sections: vec![Section {
                id: "dependencies",
                heading: "Dependencies",
                listing: Listing {
                    caption: None,
                    columns: vec![
                        Column::text("Crate"),
                        Column::text("Requirement"),
                        Column::text("Kind"),
                        Column::text("Registry"),
                    ],
                    entries: deps,
                },
                total: None,
                empty: Some("No dependencies."),
            }],
            document: Some(Document {
                heading: "Index line",
                text: serde_json::to_string_pretty(&line).unwrap_or_default(),
            }),
            facts: json!({ "name": name.as_str(), "version": version, "line": line }),
            delete: None,
        }))
    }

    async fn delete(&self, _at: &Scope<'_>, component: &str, version: &str) -> Result<bool> {
        Err(Error::unsupported(format!(
            "cargo versions are yanked, not deleted: cargo yank {component}@{version}"
        )))
    }
}
