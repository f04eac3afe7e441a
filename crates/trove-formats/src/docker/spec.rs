use async_trait::async_trait;
use bytes::Bytes;
use trove_core::{AssetIndex, AssetPath, FormatId, FormatSpec, Generated, Page, Result};

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

    /// `tags/list`: every tag of the image, from the manifest rows, sorted.
    async fn generate(
        &self,
        path: &AssetPath,
        index: &dyn AssetIndex,
    ) -> Result<Option<Generated>> {
        let Some(name) = path
            .as_str()
            .strip_prefix("/v2/")
            .and_then(|p| p.strip_suffix("/tags/list"))
        else {
            return Ok(None);
        };
        let prefix = format!("/v2/{name}/manifests/");
        let rows = index.list(&prefix, &Page::default()).await?;
        if rows.is_empty() {
            return Ok(None);
        }
        let mut tags: Vec<&str> = rows
            .iter()
            .filter_map(|m| m.path.as_str().strip_prefix(&prefix))
            .filter(|r| !r.contains('/') && !r.contains(':'))
            .collect();
        tags.sort_unstable();
        let doc = serde_json::json!({ "name": name, "tags": tags });
        Ok(Some(Generated {
            bytes: Bytes::from(serde_json::to_vec(&doc).expect("serialises")),
            content_type: "application/json".into(),
        }))
    }
}
