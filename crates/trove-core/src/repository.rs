use std::sync::Arc;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::{Asset, AssetMeta, AssetPath, ByteRange, NewAsset, Page, RepoName, Result};

/// Per-request context passed down to repositories.
#[derive(Debug, Clone, Default)]
pub struct Ctx {
    /// The authenticated user name, for audit fields; `None` when anonymous.
    pub user: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RepoKind {
    Hosted,
    Proxy,
    Group,
}

impl RepoKind {
    pub fn as_str(self) -> &'static str {
        match self {
            RepoKind::Hosted => "hosted",
            RepoKind::Proxy => "proxy",
            RepoKind::Group => "group",
        }
    }
}

/// Whether a hosted repository accepts new content and overwrites (Nexus' "deployment policy").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WritePolicy {
    /// New paths and overwrites (moving a docker tag) are allowed.
    #[default]
    Allow,
    /// A path is written once; overwriting it with different content is refused.
    AllowOnce,
    /// Read only.
    Deny,
}

/// Settings that depend on the repository kind.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum KindConfig {
    Hosted {
        #[serde(default)]
        write_policy: WritePolicy,
    },
}

#[derive(Debug, Clone, PartialEq)]
pub struct RepositoryConfig {
    /// Stable row id (uuid v7); assets reference it, so a rename keeps content.
    pub id: String,
    pub name: RepoName,
    pub format: String,
    pub online: bool,
    pub kind: KindConfig,
}

impl RepositoryConfig {
    pub fn kind(&self) -> RepoKind {
        match self.kind {
            KindConfig::Hosted { .. } => RepoKind::Hosted,
        }
    }
}

/// The one seam between wire formats and repository kinds. Paths are format paths
/// (`/v2/<name>/manifests/<tag>`); the kind maps them to storage through `FormatSpec`.
#[async_trait]
pub trait Repository: Send + Sync {
    fn config(&self) -> &RepositoryConfig;
    /// Whether this repository accepts writes at all, asked before a client streams an upload
    /// (a read-only hosted repository, later a proxy, answers `Unsupported` with the reason).
    fn check_writable(&self) -> Result<()>;
    async fn get(
        &self,
        ctx: &Ctx,
        path: &AssetPath,
        range: Option<ByteRange>,
    ) -> Result<Option<Asset>>;
    async fn head(&self, ctx: &Ctx, path: &AssetPath) -> Result<Option<AssetMeta>>;
    async fn put(&self, ctx: &Ctx, path: &AssetPath, asset: NewAsset) -> Result<AssetMeta>;
    /// Removes the asset row (the blob stays until garbage collection); `false` if absent.
    async fn delete(&self, ctx: &Ctx, path: &AssetPath) -> Result<bool>;
    async fn list(&self, ctx: &Ctx, prefix: &str, page: &Page) -> Result<Vec<AssetMeta>>;
}

/// How a front-end finds a repository by name without depending on the server that built it.
pub trait RepoLookup: Send + Sync {
    fn get(&self, name: &str) -> Option<Arc<dyn Repository>>;
}
