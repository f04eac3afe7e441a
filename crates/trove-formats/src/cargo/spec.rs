//! The cargo format logic the repository kinds call. A hosted repository generates a crate's
//! index file from its version rows; a proxy caches the upstream's index files (revalidated
//! after max-age with their ETag), reads the upstream's `config.json` to learn where its
//! `.crate` files are (`dl`), and keeps a `.crate` only when it hashes to the checksum its
//! path names (the index line's `cksum`, which the `dl` template put there); a group merges
//! its members' index lines.

use std::collections::HashMap;
use std::sync::{LazyLock, RwLock};

use async_trait::async_trait;
use bytes::Bytes;
use serde_json::Value;
use trove_core::{
    Algorithm, AssetClass, AssetIndex, AssetPath, Digest, Error, ErrorKind, Fetched, FormatId,
    FormatSpec, Generated, MergePart, Page, ProxyConfig, RepoKind, Result, Rewritten,
    UpstreamRequest,
};

use super::index::{self, Part};
use super::names::{Route, Stored, expand_dl, route, stored};

pub const ID: FormatId = FormatId::new("cargo");

/// The content type of index files (what crates.io's sparse index sends).
pub const INDEX_TYPE: &str = "text/plain; charset=utf-8";

#[derive(Debug, Clone)]
pub struct CargoSpec {
    pub kind: RepoKind,
    /// The repository's id: what a proxy learnt of its upstream is kept under it.
    pub repo_id: String,
    /// Groups: a crate a hosted member has hides the same name in proxy members.
    pub hosted_hides_proxied: bool,
}

/// The `dl` template of each proxy's upstream (by repository id), read from the upstream's
/// `config.json` when the proxy fetched it or the front end read the cached copy. Needed only
/// to download a `.crate` not cached yet; the front end makes sure it is known first.
static UPSTREAM_DL: LazyLock<RwLock<HashMap<String, String>>> = LazyLock::new(Default::default);

/// Remembers the upstream's `dl` from its `config.json`; false when it has none.
pub fn learn_upstream(repo_id: &str, config: &[u8]) -> bool {
    let dl = serde_json::from_slice::<Value>(config)
        .ok()
        .and_then(|v| v.get("dl").and_then(Value::as_str).map(str::to_owned));
    let Some(dl) = dl else { return false };
    UPSTREAM_DL
        .write()
        .expect("upstream dl lock")
        .insert(repo_id.to_owned(), dl);
    true
}

pub fn knows_upstream(repo_id: &str) -> bool {
    UPSTREAM_DL
        .read()
        .expect("upstream dl lock")
        .contains_key(repo_id)
}

/// The proxy's remote as an index URL: `sparse+` (how cargo's config spells it) dropped.
fn remote_of(proxy: &ProxyConfig) -> &str {
    let r = proxy.remote.trim_end_matches('/');
    r.strip_prefix("sparse+").unwrap_or(r)
}

#[async_trait]
impl FormatSpec for CargoSpec {
    fn id(&self) -> FormatId {
        ID
    }

    fn storage_path(&self, path: &AssetPath) -> AssetPath {
        match route(path.as_str()) {
            Some(Route::Download(name, version, _)) => {
                AssetPath::parse(&name.crate_path(&version)).unwrap_or_else(|_| path.clone())
            }
            _ => path.clone(),
        }
    }

    /// `(crate, Some(version))` for a version's `.crate` and index line, `(crate, None)` for
    /// its owners and a proxy's cached index file; the crate by its canonical name (lowercase,
    /// `-` as `_`), which is how the rows are stored.
    fn component_of(&self, path: &AssetPath) -> Option<(String, Option<String>)> {
        match stored(path.as_str())? {
            Stored::Line(c, v) | Stored::Crate(c, v) => Some((c, Some(v))),
            Stored::Owners(c) => Some((c, None)),
            Stored::Index(n) => Some((n.canonical(), None)),
            Stored::UpstreamConfig => None,
        }
    }

    fn generates(&self, path: &AssetPath) -> bool {
        self.kind == RepoKind::Hosted && matches!(route(path.as_str()), Some(Route::Index(_)))
    }

    async fn generate(
        &self,
        path: &AssetPath,
        assets: &dyn AssetIndex,
    ) -> Result<Option<Generated>> {
        let Some(Route::Index(name)) = route(path.as_str()) else {
            return Ok(None);
        };
        let rows = assets.list(&name.prefix(), &Page::default()).await?;
        let mut lines = Vec::new();
        for row in rows {
            if !matches!(stored(row.path.as_str()), Some(Stored::Line(..))) {
                continue;
            }
            let line: Value = serde_json::from_slice(&assets.read(&row).await?)
                .map_err(|e| Error::internal(format!("index line {}: {e}", row.path)))?;
            // `foo-bar` and `foo_bar` share the rows; each index path has only its spelling.
            let spelled = line
                .get("name")
                .and_then(Value::as_str)
                .map(str::to_ascii_lowercase);
            if spelled.as_deref() == Some(name.as_str()) {
                lines.push(line);
            }
        }
        if lines.is_empty() {
            return Ok(None);
        }
        index::sort(&mut lines);
        Ok(Some(Generated {
            bytes: Bytes::from(index::file_of(&lines)),
            content_type: INDEX_TYPE.into(),
        }))
    }

    /// A `.crate` is written once; index lines (yank) and owners change.
    fn is_mutable(&self, path: &AssetPath) -> bool {
        matches!(
            stored(path.as_str()),
            Some(Stored::Line(..) | Stored::Owners(_))
        )
    }

    fn rewrites(&self, path: &AssetPath) -> bool {
        self.kind == RepoKind::Proxy && matches!(route(path.as_str()), Some(Route::Config))
    }

    /// The upstream's `config.json` is cached as it is; what it says of `dl` is learnt.
    fn rewrite_fetched(&self, path: &AssetPath, fetched: Fetched<'_>) -> Result<Rewritten> {
        if !learn_upstream(&self.repo_id, &fetched.bytes) {
            return Err(Error::new(
                ErrorKind::Upstream,
                format!("the upstream's {path} ({}) has no dl", fetched.url),
            ));
        }
        Ok(Rewritten {
            doc: Generated {
                bytes: fetched.bytes,
                content_type: "application/json".into(),
            },
            links: Vec::new(),
        })
    }

    fn classify(&self, path: &AssetPath) -> AssetClass {
        match route(path.as_str()) {
            Some(Route::Index(_) | Route::Config) => AssetClass::Metadata,
            Some(Route::Download(_, _, sum)) => AssetClass::Content {
                digest: Some(Digest::from_hex(Algorithm::Sha256, sum)),
            },
            _ => AssetClass::Local,
        }
    }

    fn upstream(&self, proxy: &ProxyConfig, path: &AssetPath) -> Result<UpstreamRequest> {
        let remote = remote_of(proxy);
        match route(path.as_str()) {
            Some(Route::Index(_) | Route::Config) => Ok(UpstreamRequest {
                url: format!("{remote}{path}"),
                ..Default::default()
            }),
            Some(Route::Download(name, version, sum)) => {
                let dl = UPSTREAM_DL
                    .read()
                    .expect("upstream dl lock")
                    .get(&self.repo_id)
                    .cloned()
                    .ok_or_else(|| {
                        Error::new(
                            ErrorKind::Upstream,
                            format!("{remote}/config.json was not read yet; cannot locate {path}"),
                        )
                    })?;
                Ok(UpstreamRequest {
                    url: expand_dl(&dl, name.as_str(), &version, &sum),
                    ..Default::default()
                })
            }
            _ => Err(Error::not_found(format!("{path} is not fetched upstream"))),
        }
    }

    fn merges(&self, path: &AssetPath) -> bool {
        matches!(route(path.as_str()), Some(Route::Index(_)))
    }

    fn merge(&self, path: &AssetPath, parts: Vec<MergePart>) -> Option<Generated> {
        if !self.merges(path) {
            return None;
        }
        let parts = parts
            .into_iter()
            .map(|p| Part {
                hosted: p.kind == RepoKind::Hosted,
                lines: index::lines_of(&p.doc.bytes),
            })
            .collect();
        let lines = index::merge(parts, self.hosted_hides_proxied).unwrap_or_default();
        Some(Generated {
            bytes: Bytes::from(index::file_of(&lines)),
            content_type: INDEX_TYPE.into(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn components_are_crates_by_canonical_name() {
        let spec = CargoSpec {
            kind: RepoKind::Hosted,
            repo_id: "r".into(),
            hosted_hides_proxied: true,
        };
        let c = |p: &str| spec.component_of(&AssetPath::parse(p).unwrap());
        let v = |s: &str| Some(("my_lib".to_owned(), Some(s.to_owned())));
        assert_eq!(c("/-/c/my_lib/1.0.0.crate"), v("1.0.0"));
        assert_eq!(c("/-/c/my_lib/1.0.0.json"), v("1.0.0"));
        assert_eq!(c("/-/c/my_lib/owners.json"), Some(("my_lib".into(), None)));
        assert_eq!(c("/my/-l/my-lib"), Some(("my_lib".into(), None)));
        assert_eq!(c("/config.json"), None);
    }
}
