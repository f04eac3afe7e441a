//! The npm format logic the repository kinds call. A hosted repository generates packuments
//! from its rows; a proxy fetches the upstream's full packument (revalidated after max-age with
//! its ETag), rewrites its tarball URLs and learns where each tarball lives and what its
//! SHA-512 is; a group merges its members' packuments. The abbreviated document is a variant
//! rendered from the full one.

use async_trait::async_trait;
use bytes::Bytes;
use serde_json::{Map, Value};
use trove_core::{
    AssetClass, AssetIndex, AssetPath, Error, ErrorKind, Fetched, FormatId, FormatSpec, Generated,
    Link, MergePart, Page, ProxyConfig, RepoKind, Result, Rewritten, UpstreamRequest,
};

use super::names::{Stored, stored};
use super::packument::{self, ABBREVIATED, ABBREVIATED_TYPE, FULL_TYPE, Part, VersionRow};

pub const ID: FormatId = FormatId::new("npm");

#[derive(Debug, Clone)]
pub struct NpmSpec {
    pub kind: RepoKind,
    /// Groups: a package a hosted member has hides the same name in proxy members.
    pub hosted_hides_proxied: bool,
}

fn doc(value: &Value) -> Generated {
    Generated {
        bytes: Bytes::from(serde_json::to_vec(value).expect("JSON values serialise")),
        content_type: FULL_TYPE.into(),
    }
}

fn parse(bytes: &[u8], what: &str) -> Result<Value> {
    serde_json::from_slice(bytes).map_err(|e| Error::invalid(format!("{what} is not JSON: {e}")))
}

#[async_trait]
impl FormatSpec for NpmSpec {
    fn id(&self) -> FormatId {
        ID
    }

    fn storage_path(&self, path: &AssetPath) -> AssetPath {
        path.clone()
    }

    /// `(package, Some(version))` for a version's tarball and manifest, `(package, None)` for
    /// the package document (dist-tags) and a proxy's cached packument.
    fn component_of(&self, path: &AssetPath) -> Option<(String, Option<String>)> {
        match stored(path.as_str())? {
            Stored::Manifest(name, v) => Some((name.as_str().to_owned(), Some(v))),
            Stored::Tarball(name, file) => {
                let unscoped = name.as_str().rsplit('/').next().unwrap_or_default();
                let v = file
                    .strip_prefix(unscoped)
                    .and_then(|f| f.strip_prefix('-'))
                    .and_then(|f| f.strip_suffix(".tgz"))
                    .map(str::to_owned);
                Some((name.as_str().to_owned(), v))
            }
            Stored::PackageDoc(name) | Stored::Packument(name) => {
                Some((name.as_str().to_owned(), None))
            }
        }
    }

    fn generates(&self, path: &AssetPath) -> bool {
        self.kind == RepoKind::Hosted && matches!(stored(path.as_str()), Some(Stored::Packument(_)))
    }

    async fn generate(
        &self,
        path: &AssetPath,
        index: &dyn AssetIndex,
    ) -> Result<Option<Generated>> {
        let Some(Stored::Packument(name)) = stored(path.as_str()) else {
            return Ok(None);
        };
        let rows = index.list(&name.prefix(), &Page::default()).await?;
        let mut package = None;
        let mut versions = Vec::new();
        for row in rows {
            match stored(row.path.as_str()) {
                Some(Stored::PackageDoc(_)) => {
                    package = Some(parse(&index.read(&row).await?, "a package document")?);
                }
                Some(Stored::Manifest(_, version)) => {
                    let manifest = parse(&index.read(&row).await?, "a version manifest")?;
                    versions.push(VersionRow {
                        version,
                        manifest,
                        created: row.created,
                    });
                }
                _ => {}
            }
        }
        Ok(packument::build(&name, package.as_ref(), versions).map(|v| doc(&v)))
    }

    /// Tarballs are written once; manifests (deprecation) and package documents (dist-tags)
    /// change.
    fn is_mutable(&self, path: &AssetPath) -> bool {
        !matches!(stored(path.as_str()), Some(Stored::Tarball(..)))
    }

    fn render(
        &self,
        path: &AssetPath,
        variant: &str,
        full: &Generated,
    ) -> Result<Option<Generated>> {
        if variant != ABBREVIATED || !matches!(stored(path.as_str()), Some(Stored::Packument(_))) {
            return Ok(None);
        }
        let v = parse(&full.bytes, "a packument")?;
        Ok(Some(Generated {
            bytes: Bytes::from(
                serde_json::to_vec(&packument::abbreviate(&v)).expect("JSON values serialise"),
            ),
            content_type: ABBREVIATED_TYPE.into(),
        }))
    }

    fn rewrites(&self, path: &AssetPath) -> bool {
        matches!(stored(path.as_str()), Some(Stored::Packument(_)))
    }

    fn rewrite_fetched(&self, path: &AssetPath, fetched: Fetched<'_>) -> Result<Rewritten> {
        let Some(Stored::Packument(name)) = stored(path.as_str()) else {
            return Err(Error::internal(format!("{path} is not a packument")));
        };
        let upstream_err = |m: String| Error::new(ErrorKind::Upstream, m);
        let value: Value = serde_json::from_slice(&fetched.bytes).map_err(|e| {
            upstream_err(format!("the upstream packument of {name} is not JSON: {e}"))
        })?;
        let (value, taught) =
            packument::rewrite_upstream(&name, value, fetched.url).map_err(upstream_err)?;
        let links = taught
            .into_iter()
            .filter_map(|t| {
                Some(Link {
                    path: AssetPath::parse(&name.tarball(&t.version)).ok()?,
                    url: t.url,
                    digest: t.sha512,
                })
            })
            .collect();
        Ok(Rewritten {
            doc: doc(&value),
            links,
        })
    }

    fn upstream_source(&self, path: &AssetPath) -> Option<AssetPath> {
        match stored(path.as_str())? {
            Stored::Tarball(name, _) => AssetPath::parse(&name.packument()).ok(),
            _ => None,
        }
    }

    fn classify(&self, path: &AssetPath) -> AssetClass {
        match stored(path.as_str()) {
            Some(Stored::Packument(_)) => AssetClass::Metadata,
            Some(Stored::Tarball(..)) => AssetClass::Content { digest: None },
            // A hosted repository's own rows; never asked upstream.
            _ => AssetClass::Local,
        }
    }

    /// The full document (its abbreviated form is rendered here), and tarballs at the
    /// registry's standard path when no packument named them.
    fn upstream(&self, proxy: &ProxyConfig, path: &AssetPath) -> Result<UpstreamRequest> {
        let remote = proxy.remote.trim_end_matches('/');
        match stored(path.as_str()) {
            Some(Stored::Packument(name)) => Ok(UpstreamRequest {
                url: format!("{remote}/{}", name.escaped()),
                accept: Some(FULL_TYPE.into()),
                ..Default::default()
            }),
            Some(Stored::Tarball(name, file)) => Ok(UpstreamRequest {
                url: format!("{remote}/{}/-/{file}", name.as_str()),
                ..Default::default()
            }),
            _ => Err(Error::not_found(format!("{path} is not fetched upstream"))),
        }
    }

    fn merges(&self, path: &AssetPath) -> bool {
        matches!(stored(path.as_str()), Some(Stored::Packument(_)))
    }

    fn merge(&self, path: &AssetPath, parts: Vec<MergePart>) -> Option<Generated> {
        if !self.merges(path) {
            return None;
        }
        let parts: Vec<Part> = parts
            .into_iter()
            .filter_map(|p| {
                let doc = serde_json::from_slice(&p.doc.bytes).ok()?;
                Some(Part { kind: p.kind, doc })
            })
            .collect();
        // Every member's copy failed to parse: the empty document (what `merges` asks for).
        Some(match packument::merge(parts, self.hosted_hides_proxied) {
            Some(v) => doc(&v),
            None => doc(&Value::Object(Map::new())),
        })
    }
}
