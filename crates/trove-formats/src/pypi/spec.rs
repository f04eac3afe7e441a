//! The PyPI format logic the repository kinds call. A hosted repository generates its index
//! pages from its file rows; a proxy fetches the upstream's pages (JSON or HTML, revalidated
//! after max-age), rewrites their links to its own paths and learns where each file lives and
//! what its SHA-256 is; a group merges its members' pages. The HTML page is a variant rendered
//! from the canonical JSON one.

use async_trait::async_trait;
use bytes::Bytes;
use trove_core::{
    AssetClass, AssetIndex, AssetPath, Error, ErrorKind, Fetched, FormatId, FormatSpec, Generated,
    Link, MergePart, Page, ProxyConfig, RepoKind, Result, Rewritten, UpstreamRequest,
};

use super::index::{self, HTML, JSON_TYPE, Part, ProjectList, ProjectPage};
use super::names::{Stored, stored};

pub const ID: FormatId = FormatId::new("pypi");

/// What a proxy asks its upstream for: PEP 691 JSON first, HTML otherwise.
const UPSTREAM_ACCEPT: &str = "application/vnd.pypi.simple.v1+json, application/vnd.pypi.simple.v1+html;q=0.2, text/html;q=0.1";

#[derive(Debug, Clone)]
pub struct PypiSpec {
    pub kind: RepoKind,
    /// Groups: a project a hosted member has hides the same project in proxy members.
    pub hosted_hides_proxied: bool,
}

fn json<T: serde::Serialize>(v: &T) -> Generated {
    Generated {
        bytes: Bytes::from(serde_json::to_vec(v).expect("pages serialise")),
        content_type: JSON_TYPE.into(),
    }
}

fn is_index(path: &AssetPath) -> bool {
    matches!(
        stored(path.as_str()),
        Some(Stored::Projects | Stored::Index(_))
    )
}

/// The simple index URL of a proxy's remote: as given (what `pip --index-url` takes), or
/// `<remote>/simple` when the remote is a bare host (`https://pypi.org`, as Nexus has it).
pub fn index_url(remote: &str) -> String {
    let trimmed = remote.trim_end_matches('/');
    match url::Url::parse(trimmed) {
        Ok(u) if u.path() == "/" || u.path().is_empty() => format!("{trimmed}/simple"),
        _ => trimmed.to_owned(),
    }
}

#[async_trait]
impl FormatSpec for PypiSpec {
    fn id(&self) -> FormatId {
        ID
    }

    fn storage_path(&self, path: &AssetPath) -> AssetPath {
        path.clone()
    }

    fn generates(&self, path: &AssetPath) -> bool {
        self.kind == RepoKind::Hosted && is_index(path)
    }

    async fn generate(
        &self,
        path: &AssetPath,
        index: &dyn AssetIndex,
    ) -> Result<Option<Generated>> {
        match stored(path.as_str()) {
            Some(Stored::Index(project)) => {
                let rows = index.list(&project.prefix(), &Page::default()).await?;
                Ok(index::hosted_page(&project, &rows).map(|p| json(&p)))
            }
            Some(Stored::Projects) => {
                let paths = index.list_paths("/packages/").await?;
                Ok(Some(json(&index::hosted_projects(&paths))))
            }
            _ => Ok(None),
        }
    }

    fn render(
        &self,
        path: &AssetPath,
        variant: &str,
        doc: &Generated,
    ) -> Result<Option<Generated>> {
        if variant != HTML {
            return Ok(None);
        }
        let bad = |e: serde_json::Error| Error::internal(format!("index page {path}: {e}"));
        let html = match stored(path.as_str()) {
            Some(Stored::Index(_)) => index::project_html(
                &serde_json::from_slice::<ProjectPage>(&doc.bytes).map_err(bad)?,
            ),
            Some(Stored::Projects) => index::projects_html(
                &serde_json::from_slice::<ProjectList>(&doc.bytes).map_err(bad)?,
            ),
            _ => return Ok(None),
        };
        Ok(Some(Generated {
            bytes: Bytes::from(html),
            content_type: "text/html; charset=utf-8".into(),
        }))
    }

    fn rewrites(&self, path: &AssetPath) -> bool {
        is_index(path)
    }

    fn rewrite_fetched(&self, path: &AssetPath, fetched: Fetched<'_>) -> Result<Rewritten> {
        let upstream = |m: String| Error::new(ErrorKind::Upstream, m);
        match stored(path.as_str()) {
            Some(Stored::Index(project)) => {
                let (page, taught) = index::rewrite_project(
                    &project,
                    &fetched.bytes,
                    fetched.content_type,
                    fetched.url,
                )
                .map_err(upstream)?;
                let links = taught
                    .into_iter()
                    .filter_map(|t| {
                        Some(Link {
                            path: AssetPath::parse(&t.path).ok()?,
                            url: t.url,
                            digest: t.sha256,
                        })
                    })
                    .collect();
                Ok(Rewritten {
                    doc: json(&page),
                    links,
                })
            }
            Some(Stored::Projects) => {
                let list = index::rewrite_projects(&fetched.bytes, fetched.content_type)
                    .map_err(upstream)?;
                Ok(Rewritten {
                    doc: json(&list),
                    links: Vec::new(),
                })
            }
            _ => Err(Error::internal(format!("{path} is not an index page"))),
        }
    }

    fn upstream_source(&self, path: &AssetPath) -> Option<AssetPath> {
        match stored(path.as_str())? {
            Stored::File(p, _) | Stored::Metadata(p, _) => AssetPath::parse(&p.index()).ok(),
            _ => None,
        }
    }

    fn classify(&self, path: &AssetPath) -> AssetClass {
        match stored(path.as_str()) {
            Some(Stored::Projects | Stored::Index(_)) => AssetClass::Metadata,
            // Checked against the SHA-256 of the link that named them.
            Some(Stored::File(..) | Stored::Metadata(..)) => AssetClass::Content { digest: None },
            None => AssetClass::Local,
        }
    }

    /// Index pages at `<index>/<project>/`; files only where an index page linked them.
    fn upstream(&self, proxy: &ProxyConfig, path: &AssetPath) -> Result<UpstreamRequest> {
        let index = index_url(&proxy.remote);
        let url = match stored(path.as_str()) {
            Some(Stored::Index(p)) => format!("{index}/{}/", p.as_str()),
            Some(Stored::Projects) => format!("{index}/"),
            _ => {
                return Err(Error::not_found(format!(
                    "{path} is not linked from the upstream's index page"
                )));
            }
        };
        Ok(UpstreamRequest {
            url,
            accept: Some(UPSTREAM_ACCEPT.into()),
            ..Default::default()
        })
    }

    fn merges(&self, path: &AssetPath) -> bool {
        is_index(path)
    }

    fn merge(&self, path: &AssetPath, parts: Vec<MergePart>) -> Option<Generated> {
        match stored(path.as_str())? {
            Stored::Index(project) => {
                let parts: Vec<Part> = parts
                    .into_iter()
                    .filter_map(|p| {
                        Some(Part {
                            kind: p.kind,
                            page: serde_json::from_slice(&p.doc.bytes).ok()?,
                        })
                    })
                    .collect();
                let page = index::merge_project(project.as_str(), parts, self.hosted_hides_proxied)
                    .unwrap_or_else(|| ProjectPage {
                        meta: index::Meta {
                            api_version: "1.1".into(),
                        },
                        name: project.as_str().to_owned(),
                        versions: Vec::new(),
                        files: Vec::new(),
                    });
                Some(json(&page))
            }
            Stored::Projects => {
                let lists = parts
                    .into_iter()
                    .filter_map(|p| serde_json::from_slice(&p.doc.bytes).ok())
                    .collect();
                Some(json(&index::merge_projects(lists)))
            }
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn index_urls() {
        assert_eq!(index_url("https://pypi.org"), "https://pypi.org/simple");
        assert_eq!(index_url("https://pypi.org/"), "https://pypi.org/simple");
        assert_eq!(
            index_url("https://pypi.org/simple/"),
            "https://pypi.org/simple"
        );
        assert_eq!(
            index_url("http://127.0.0.1:3141/root/dev/+simple/"),
            "http://127.0.0.1:3141/root/dev/+simple"
        );
    }

    #[test]
    fn upstream_requests() {
        let s = PypiSpec {
            kind: RepoKind::Proxy,
            hosted_hides_proxied: true,
        };
        let proxy = ProxyConfig::new("http://up:1/simple/");
        let at = |p: &str| s.upstream(&proxy, &AssetPath::parse(p).unwrap());
        assert_eq!(at("/simple/demo").unwrap().url, "http://up:1/simple/demo/");
        assert_eq!(at("/simple").unwrap().url, "http://up:1/simple/");
        assert!(
            at("/simple/demo")
                .unwrap()
                .accept
                .unwrap()
                .starts_with(JSON_TYPE)
        );
        assert_eq!(
            at("/packages/demo/demo-1.0.tar.gz").unwrap_err().kind,
            ErrorKind::NotFound
        );
        let src = s.upstream_source(&AssetPath::parse("/packages/demo/demo-1.0.tar.gz").unwrap());
        assert_eq!(src.unwrap().as_str(), "/simple/demo");
        assert_eq!(
            s.classify(&AssetPath::parse("/simple/demo").unwrap()),
            AssetClass::Metadata
        );
    }
}
