//! The console's and the REST API's view of PyPI repositories: projects; a project's versions
//! with their files, sizes, upload times and yanks; a version's files with their digests, its
//! core metadata. Read through the same repository calls as the simple API (a proxy shows the
//! index pages and files it has cached). Deleting a version deletes its files; yanking one
//! (PEP 592) is an action of the version's page.

use std::collections::{BTreeMap, BTreeSet};

use async_trait::async_trait;
use serde_json::{Value, json};
use trove_core::{AssetMeta, Error, Page, RepoKind, Repository, Result};

use super::index::{FileEntry, ProjectPage, version_key};
use super::names::{self, Project, Stored, stored};
use super::upload;
use crate::browse::{
    AssetAction, Browse, Cell, Column, Deletion, Detail, Document, Entry, Field, Link, Listing,
    Nouns, Scope, Section,
};

pub struct PypiBrowse;

const YANK: &str = "yank";
const UNYANK: &str = "unyank";

fn project_of(component: &str) -> Result<Project> {
    Project::parse(component).map_err(Error::invalid)
}

/// The canonical index page of `project` in `repo`, parsed.
async fn page_of(at: &Scope<'_>, project: &Project) -> Result<Option<ProjectPage>> {
    let Some(bytes) = upload::read_small(at.repo, &at.ctx.canonical(), &project.index()).await?
    else {
        return Ok(None);
    };
    serde_json::from_slice(&bytes)
        .map(Some)
        .map_err(|e| Error::internal(format!("index page of {project}: {e}")))
}

/// The stored (or cached) files and metadata of `project`, by path.
async fn rows_of(
    repo: &dyn Repository,
    at: &Scope<'_>,
    p: &Project,
) -> Result<BTreeMap<String, AssetMeta>> {
    let rows = repo.list(at.ctx, &p.prefix(), &Page::default()).await?;
    Ok(rows
        .into_iter()
        .map(|m| (m.path.as_str().to_owned(), m))
        .collect())
}

fn version_of_entry(p: &Project, f: &FileEntry) -> String {
    names::version_of(p, &f.filename).unwrap_or_else(|| "unknown".into())
}

/// The page's files grouped by version, newest first.
fn by_version<'a>(p: &Project, page: &'a ProjectPage) -> Vec<(String, Vec<&'a FileEntry>)> {
    let mut map: BTreeMap<String, Vec<&FileEntry>> = BTreeMap::new();
    for f in &page.files {
        map.entry(version_of_entry(p, f)).or_default().push(f);
    }
    let mut out: Vec<_> = map.into_iter().collect();
    out.sort_by_key(|(v, _)| std::cmp::Reverse(version_key(v)));
    out
}

fn time_of(f: &FileEntry) -> Option<i64> {
    let t = f.upload_time.as_deref()?;
    let at = humantime::parse_rfc3339_weak(t.trim_end_matches('Z')).ok()?;
    Some(at.duration_since(std::time::UNIX_EPOCH).ok()?.as_millis() as i64)
}

/// The yank reason of a version: its files' when all are yanked.
fn yank_of(files: &[&FileEntry]) -> Option<String> {
    let reasons: Vec<&str> = files.iter().filter_map(|f| f.yank_reason()).collect();
    (!files.is_empty() && reasons.len() == files.len()).then(|| reasons[0].to_owned())
}

#[async_trait]
impl Browse for PypiBrowse {
    fn nouns(&self) -> Nouns {
        Nouns {
            component: "project",
            components: "projects",
            asset: "version",
            assets: "versions",
        }
    }

    async fn components(&self, at: &Scope<'_>) -> Result<Listing> {
        let rows = at.repo.list(at.ctx, "/", &Page::default()).await?;
        #[derive(Default)]
        struct Sum {
            versions: BTreeSet<String>,
            files: u64,
            bytes: u64,
            last: Option<i64>,
        }
        let mut projects: BTreeMap<Project, Sum> = BTreeMap::new();
        for m in &rows {
            match stored(m.path.as_str()) {
                Some(Stored::File(p, f)) => {
                    let s = projects.entry(p.clone()).or_default();
                    s.versions.extend(names::version_of(&p, &f));
                    s.files += 1;
                    s.bytes += m.blob.size;
                    s.last = s.last.max(Some(m.created));
                }
                Some(Stored::Index(p)) => {
                    projects.entry(p).or_default();
                }
                _ => {}
            }
        }
        let entries = projects
            .into_iter()
            .map(|(p, s)| {
                let latest = s.versions.iter().max_by_key(|v| version_key(v)).cloned();
                Entry {
                    key: p.to_string(),
                    cells: vec![
                        Cell::code(p.as_str()).link(Link::Component {
                            component: p.to_string(),
                        }),
                        latest
                            .clone()
                            .map_or(Cell::muted("none stored"), Cell::text),
                        Cell::Count(s.versions.len() as u64),
                        Cell::Count(s.files),
                        Cell::Bytes(s.bytes),
                        s.last.map_or(Cell::muted("never"), Cell::Time),
                    ],
                    facts: json!({
                        "name": p.as_str(), "latest": latest, "versions": s.versions.len(),
                        "files": s.files, "bytes": s.bytes, "last_upload": s.last,
                    }),
                    delete: None,
                }
            })
            .collect();
        Ok(Listing {
            caption: Some("Projects by name; counts are of the files stored here".into()),
            columns: vec![
                Column::text("Project"),
                Column::text("Latest"),
                Column::number("Versions"),
                Column::number("Files"),
                Column::number("Size"),
                Column::text("Last stored"),
            ],
            entries,
        })
    }

    async fn component(&self, at: &Scope<'_>, component: &str) -> Result<Option<Listing>> {
        let p = project_of(component)?;
        let Some(page) = page_of(at, &p).await? else {
            return Ok(None);
        };
        let rows = rows_of(at.repo, at, &p).await?;
        let entries = by_version(&p, &page)
            .into_iter()
            .map(|(v, files)| {
                let size: u64 = files.iter().filter_map(|f| f.size).sum();
                let uploaded = files.iter().filter_map(|f| time_of(f)).max();
                let stored_n = files
                    .iter()
                    .filter(|f| rows.contains_key(&p.file(&f.filename)))
                    .count();
                let yanked = yank_of(&files);
                Entry {
                    key: v.clone(),
                    cells: vec![
                        Cell::code(v.clone()).link(Link::Asset {
                            component: p.to_string(),
                            reference: v.clone(),
                        }),
                        Cell::Count(files.len() as u64),
                        Cell::Count(stored_n as u64),
                        Cell::Bytes(size),
                        uploaded.map_or(Cell::muted("unknown"), Cell::Time),
                        match &yanked {
                            Some(r) if r.is_empty() => Cell::text("yanked"),
                            Some(r) => Cell::text(format!("yanked: {r}")),
                            None => Cell::muted("no"),
                        },
                    ],
                    facts: json!({
                        "version": v, "files": files.len(), "stored": stored_n, "size": size,
                        "uploaded": uploaded, "yanked": yanked,
                    }),
                    delete: Some(format!("Delete {v}")),
                }
            })
            .collect();
        Ok(Some(Listing {
            caption: Some("Versions, newest first".into()),
            columns: vec![
                Column::text("Version"),
                Column::number("Files"),
                Column::number("Stored here"),
                Column::number("Size"),
                Column::text("Uploaded"),
                Column::text("Yanked"),
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
        let p = project_of(component)?;
        let Some(page) = page_of(at, &p).await? else {
            return Ok(None);
        };
        let Some((_, files)) = by_version(&p, &page)
            .into_iter()
            .find(|(v, _)| v == version)
        else {
            return Ok(None);
        };
        let rows = rows_of(at.repo, at, &p).await?;
        let yanked = yank_of(&files);
        let size: u64 = files.iter().filter_map(|f| f.size).sum();
        let rows_of_files: Vec<Entry> = files
            .iter()
            .map(|f| {
                let row = rows.get(&p.file(&f.filename));
                let kind = names::dist_kind(&f.filename).map_or("file", |(_, k)| k.filetype());
                Entry {
                    key: f.filename.clone(),
                    cells: vec![
                        Cell::code(f.filename.clone()),
                        Cell::text(kind),
                        f.size.map_or(Cell::muted("unknown"), Cell::Bytes),
                        time_of(f).map_or(Cell::muted("unknown"), Cell::Time),
                        f.hashes
                            .get("sha256")
                            .map_or(Cell::muted("none"), |h| Cell::Digest(format!("sha256:{h}"))),
                        Cell::text(if f.metadata().is_some() { "yes" } else { "no" }),
                        match row {
                            Some(r) => Cell::LastTime(r.last_downloaded),
                            None => Cell::muted("not stored"),
                        },
                    ],
                    facts: json!({
                        "filename": f.filename, "filetype": kind, "size": f.size,
                        "upload_time": f.upload_time, "sha256": f.hashes.get("sha256"),
                        "requires_python": f.requires_python, "core_metadata": f.metadata().is_some(),
                        "yanked": f.yank_reason(), "stored": row.is_some(),
                        "last_downloaded": row.and_then(|r| r.last_downloaded),
                    }),
                    delete: None,
                }
            })
            .collect();
        let requires: BTreeSet<&str> = files
            .iter()
            .filter_map(|f| f.requires_python.as_deref())
            .collect();
        let mut fields = vec![
            Field {
                label: "Files",
                values: vec![Cell::Count(files.len() as u64)],
            },
            Field {
                label: "Size",
                values: vec![Cell::Bytes(size)],
            },
            Field {
                label: "Uploaded",
                values: vec![
                    files
                        .iter()
                        .filter_map(|f| time_of(f))
                        .max()
                        .map_or(Cell::muted("unknown"), Cell::Time),
                ],
            },
            Field {
                label: "Requires-Python",
                values: vec![if requires.is_empty() {
                    Cell::muted("any")
                } else {
                    Cell::code(requires.into_iter().collect::<Vec<_>>().join(", "))
                }],
            },
            Field {
                label: "Yanked",
                values: vec![match &yanked {
                    Some(r) if r.is_empty() => Cell::text("yes"),
                    Some(r) => Cell::text(format!("yes: {r}")),
                    None => Cell::muted("no"),
                }],
            },
        ];
        if let Some(u) = files.iter().find_map(|f| {
            rows.get(&p.file(&f.filename))?
                .attrs
                .get("uploader")?
                .as_str()
        }) {
            fields.push(Field {
                label: "Uploaded by",
                values: vec![Cell::text(u)],
            });
        }
        // The core metadata of the first wheel that has it stored here.
        let mut document = None;
        for f in files.iter().filter(|f| f.metadata().is_some()) {
            let path = format!("{}.metadata", p.file(&f.filename));
            if !rows.contains_key(&path) {
                continue;
            }
            if let Some(bytes) = upload::read_small(at.repo, at.ctx, &path).await? {
                document = Some(Document {
                    heading: "Core metadata",
                    text: String::from_utf8_lossy(&bytes).into_owned(),
                });
                break;
            }
        }
        let hosted = at.repo.config().kind() == RepoKind::Hosted;
        let actions = match (&yanked, hosted) {
            (_, false) => Vec::new(),
            (Some(_), true) => vec![AssetAction {
                id: UNYANK,
                label: format!("Un-yank {version}"),
                input: None,
            }],
            (None, true) => vec![AssetAction {
                id: YANK,
                label: format!("Yank {version}"),
                input: Some("Reason (optional)"),
            }],
        };
        let file_facts: Vec<Value> = rows_of_files.iter().map(|e| e.facts.clone()).collect();
        Ok(Some(Detail {
            title: format!("{p} {version}"),
            label: Cell::code(version),
            fields,
            sections: vec![Section {
                id: "files",
                heading: "Files",
                listing: Listing {
                    caption: None,
                    columns: vec![
                        Column::text("File"),
                        Column::text("Type"),
                        Column::number("Size"),
                        Column::text("Uploaded"),
                        Column::text("SHA-256"),
                        Column::text("Metadata"),
                        Column::text("Last downloaded"),
                    ],
                    entries: rows_of_files,
                },
                total: Some(Cell::Bytes(size)),
                empty: Some("No files."),
            }],
            document,
            facts: json!({ "project": p.as_str(), "version": version, "yanked": yanked, "files": file_facts }),
            delete: Some(Deletion {
                reference: version.to_owned(),
                label: format!("Delete {version} and its files"),
            }),
            actions,
        }))
    }

    /// Deletes the version's files and their metadata.
    async fn delete(&self, at: &Scope<'_>, component: &str, version: &str) -> Result<bool> {
        let p = project_of(component)?;
        let rows = rows_of(at.repo, at, &p).await?;
        let mut deleted = false;
        for (path, _) in rows {
            let file = match stored(&path) {
                Some(Stored::File(_, f) | Stored::Metadata(_, f)) => f,
                _ => continue,
            };
            if names::version_of(&p, &file).as_deref() == Some(version) {
                // The metadata rows sort after their files: a file is never listed without
                // the metadata its index entry announces.
                deleted |= at
                    .repo
                    .delete(at.ctx, &trove_core::AssetPath::parse(&path)?)
                    .await?;
            }
        }
        Ok(deleted)
    }

    async fn act(
        &self,
        at: &Scope<'_>,
        component: &str,
        version: &str,
        action: &str,
        input: Option<&str>,
    ) -> Result<bool> {
        let p = project_of(component)?;
        let reason = match action {
            YANK => Some(input.unwrap_or("").trim()),
            UNYANK => None,
            _ => {
                return Err(Error::invalid(format!(
                    "no action {action:?} for a version"
                )));
            }
        };
        if let Some(r) = reason
            && (r.len() > 500 || r.contains(char::is_control))
        {
            return Err(Error::invalid(
                "a yank reason is one line of at most 500 characters",
            ));
        }
        let changed = upload::set_yanked(at.repo, at.ctx, &p, version, reason).await?;
        if changed > 0 {
            tracing::info!(project = %p, %version, action, "version {action}ed");
        }
        // Nothing changed: no such version, or it already was as asked.
        let exists = page_of(at, &p)
            .await?
            .is_some_and(|page| by_version(&p, &page).iter().any(|(v, _)| v == version));
        Ok(changed > 0 || exists)
    }
}
