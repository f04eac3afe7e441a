use async_trait::async_trait;
use bytes::Bytes;

use crate::{AssetMeta, AssetPath, Page, Result};

/// A format's identifier ("docker"; later "raw", "npm", ...).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct FormatId(pub &'static str);

/// A document a repository computes rather than stores (docker `tags/list`).
pub struct Generated {
    pub bytes: Bytes,
    pub content_type: String,
}

/// Read access to a repository's own asset rows, handed to `FormatSpec::generate`.
#[async_trait]
pub trait AssetIndex: Send + Sync {
    /// Assets whose storage path starts with `prefix`, ordered by path.
    async fn list(&self, prefix: &str, page: &Page) -> Result<Vec<AssetMeta>>;
}

/// The format logic a repository kind may call. Kinds never call anything else of a format, so a
/// new format needs no change in `trove-hosted` (nor later in proxy or group).
#[async_trait]
pub trait FormatSpec: Send + Sync {
    fn id(&self) -> FormatId;
    /// Maps a request path to the key the asset is stored under (docker: every image name of a
    /// repository shares one blob namespace, as in Nexus).
    fn storage_path(&self, path: &AssetPath) -> AssetPath;
    /// Computes a document the repository does not store; `None` when `path` is not one.
    async fn generate(&self, path: &AssetPath, index: &dyn AssetIndex)
    -> Result<Option<Generated>>;
}
