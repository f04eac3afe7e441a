use async_trait::async_trait;
use bytes::Bytes;
use trove_core::{AssetIndex, AssetPath, FormatId, FormatSpec, Generated, Page, Result};

use serde_json::json;

use super::manifests::OCI_INDEX;
use super::route::{self, Route};

/// The docker format logic that repository kinds call.
pub struct DockerFormat;

pub const ID: FormatId = FormatId("docker");

/// Where a blob of any image of a repository is stored: one blob namespace per repository,
/// as in Nexus, so a layer pushed under one image name serves every other (`-` is not a
/// valid image name, so it cannot collide).
pub fn blob_storage_path(digest: &str) -> String {
    format!("/v2/-/blobs/{digest}")
}

#[async_trait]
impl FormatSpec for DockerFormat {
    fn id(&self) -> FormatId {
        ID
    }

    fn storage_path(&self, path: &AssetPath) -> AssetPath {
        let tail = path.as_str().strip_prefix("/v2");
        match tail.map(route::parse) {
            Some(Ok(Route::Blob { digest, .. })) => {
                AssetPath::parse(&blob_storage_path(&digest.to_string())).expect("valid path")
            }
            _ => path.clone(),
        }
    }

    /// Documents computed from the manifest rows: `tags/list`, `referrers/<digest>` and
    /// `_catalog`. Pagination and filters are applied by the handlers.
    async fn generate(
        &self,
        path: &AssetPath,
        index: &dyn AssetIndex,
    ) -> Result<Option<Generated>> {
        let Some(tail) = path.as_str().strip_prefix("/v2") else {
            return Ok(None);
        };
        let doc = match route::parse(tail) {
            Ok(Route::Tags { name }) => tags(&name, index).await?,
            Ok(Route::Referrers { name, digest }) => {
                Some(referrers(&name, &digest.to_string(), index).await?)
            }
            Ok(Route::Catalog) => Some(catalog(index).await?),
            _ => None,
        };
        Ok(doc.map(|(doc, content_type)| Generated {
            bytes: Bytes::from(serde_json::to_vec(&doc).expect("serialises")),
            content_type: content_type.into(),
        }))
    }
}

type Doc = (serde_json::Value, &'static str);

/// Every tag of the image, sorted; `None` when the image has no manifest at all.
async fn tags(name: &str, index: &dyn AssetIndex) -> Result<Option<Doc>> {
    let prefix = format!("/v2/{name}/manifests/");
    let rows = index.list(&prefix, &Page::default()).await?;
    if rows.is_empty() {
        return Ok(None);
    }
    let tags: Vec<&str> = rows
        .iter()
        .filter_map(|m| m.path.as_str().strip_prefix(&prefix))
        .filter(|r| !r.contains('/') && !r.contains(':'))
        .collect();
    Ok(Some((
        json!({ "name": name, "tags": tags }),
        "application/json",
    )))
}

/// An OCI index of the manifests of `name` whose `subject` is `digest` (recorded at push), as
/// the referrers API asks; empty, not 404, when there are none.
async fn referrers(name: &str, digest: &str, index: &dyn AssetIndex) -> Result<Doc> {
    let prefix = format!("/v2/{name}/manifests/");
    let rows = index.list(&prefix, &Page::default()).await?;
    let manifests: Vec<serde_json::Value> = rows
        .iter()
        .filter(|m| m.path.as_str()[prefix.len()..].contains(':'))
        .filter(|m| m.attrs.get("subject").and_then(|s| s.as_str()) == Some(digest))
        .map(|m| {
            let mut d = json!({
                "mediaType": m.content_type,
                "digest": m.blob.digest.to_string(),
                "size": m.blob.size,
            });
            for key in ["artifactType", "annotations"] {
                if let Some(v) = m.attrs.get(key) {
                    d[key] = v.clone();
                }
            }
            d
        })
        .collect();
    let doc = json!({ "schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": manifests });
    Ok((doc, OCI_INDEX))
}

/// The image names of the repository that have at least one manifest, sorted.
async fn catalog(index: &dyn AssetIndex) -> Result<Doc> {
    let rows = index.list("/v2/", &Page::default()).await?;
    let mut names: Vec<&str> = rows
        .iter()
        .filter_map(|m| {
            m.path
                .as_str()
                .strip_prefix("/v2/")?
                .rsplit_once("/manifests/")
        })
        .map(|(name, _)| name)
        .collect();
    names.sort_unstable();
    names.dedup();
    Ok((json!({ "repositories": names }), "application/json"))
}
