//! Hosted repositories: content pushed by clients, kept in the shared metadata store and blob
//! store. Generic over the format: it calls only `FormatSpec`, `MetadataStore` and `BlobStore`,
//! never format-specific code (a test runs it against a toy format to keep that true).
//!
//! Must never depend on HTTP frameworks or on other repository kinds.

use std::sync::Arc;

use async_trait::async_trait;
use bytes::Bytes;
use trove_core::documents::{self, GeneratedCache};
use trove_core::lifecycle::{describe, human_bytes};
use trove_core::{
    Asset, AssetIndex, AssetMeta, AssetPath, BlobStore, ByteRange, Ctx, Error, ErrorKind,
    FormatSpec, KindConfig, NewAsset, Page, Repository, RepositoryConfig, Result, StorageLimits,
    WritePolicy,
};
use trove_store::{Link, MetadataStore, Quota};

pub struct HostedRepository {
    cfg: RepositoryConfig,
    meta: MetadataStore,
    blobs: Arc<dyn BlobStore>,
    format: Arc<dyn FormatSpec>,
    /// Tag lists, catalogs, referrers, and the variants of documents: computed once per
    /// change to the rows (or to the document).
    generated_docs: GeneratedCache,
    /// The blob store's quotas and free-space floor (`[storage]`).
    limits: Arc<StorageLimits>,
}

impl HostedRepository {
    pub fn new(
        cfg: RepositoryConfig,
        meta: MetadataStore,
        blobs: Arc<dyn BlobStore>,
        format: Arc<dyn FormatSpec>,
    ) -> Self {
        HostedRepository {
            cfg,
            meta,
            blobs,
            format,
            generated_docs: GeneratedCache::default(),
            limits: Arc::default(),
        }
    }

    /// The node's `[storage]` limits (quotas, free space) for this repository's writes.
    pub fn with_limits(mut self, limits: Arc<StorageLimits>) -> Self {
        self.limits = limits;
        self
    }

    /// Refuses what an immutable tag forbids without an administrator's override.
    fn check_immutable(&self, ctx: &Ctx, key: &AssetPath, what: &str) -> Result<()> {
        match self.format.immutable(key) {
            Some(rule) if !ctx.override_immutable => {
                Err(immutable_error(&self.cfg, key, &rule, what))
            }
            _ => Ok(()),
        }
    }

    fn write_policy(&self) -> WritePolicy {
        match self.cfg.kind {
            KindConfig::Hosted { write_policy } => write_policy,
            // Only hosted configs build a hosted repository; anything else is read-only.
            _ => WritePolicy::Deny,
        }
    }

    async fn generated(&self, ctx: &Ctx, path: &AssetPath) -> Result<Option<(AssetMeta, Bytes)>> {
        let assets = self.meta.assets();
        let version = assets.content_version(&self.cfg.id);
        self.generated_docs
            .generated(version, self.format.as_ref(), self, path, ctx.variant)
            .await
    }

    /// The caller's variant of a stored document (`FormatSpec::render`), or `None` to serve
    /// the stored bytes.
    async fn rendered(
        &self,
        ctx: &Ctx,
        path: &AssetPath,
        meta: &AssetMeta,
    ) -> Result<Option<(AssetMeta, Bytes)>> {
        let Some(variant) = ctx.variant else {
            return Ok(None);
        };
        let bytes = documents::read_document(self.blobs.as_ref(), meta).await?;
        let doc = self.generated_docs.rendered(
            self.format.as_ref(),
            path,
            variant,
            meta.clone(),
            bytes,
        )?;
        Ok(Some(doc))
    }
}

#[async_trait]
impl AssetIndex for HostedRepository {
    async fn list(&self, prefix: &str, page: &Page) -> Result<Vec<AssetMeta>> {
        self.meta.assets().list(&self.cfg.id, prefix, page).await
    }

    async fn read(&self, meta: &AssetMeta) -> Result<Bytes> {
        documents::read_document(self.blobs.as_ref(), meta).await
    }

    async fn list_paths(&self, prefix: &str) -> Result<Vec<String>> {
        self.meta.assets().list_paths(&self.cfg.id, prefix).await
    }

    async fn list_paths_from(&self, prefix: &str, from: &str) -> Result<Vec<String>> {
        self.meta
            .assets()
            .list_paths_from(&self.cfg.id, prefix, from)
            .await
    }
}

#[async_trait]
impl Repository for HostedRepository {
    fn config(&self) -> &RepositoryConfig {
        &self.cfg
    }

    fn check_writable(&self) -> Result<()> {
        match self.write_policy() {
            WritePolicy::Deny => Err(Error::unsupported(format!(
                "repository {} is read-only (write_policy = \"deny\")",
                self.cfg.name
            ))),
            WritePolicy::Allow | WritePolicy::AllowOnce => Ok(()),
        }
    }

    async fn get(
        &self,
        ctx: &Ctx,
        path: &AssetPath,
        range: Option<ByteRange>,
    ) -> Result<Option<Asset>> {
        if let Some((meta, bytes)) = self.generated(ctx, path).await? {
            return Ok(Some(Asset {
                meta,
                body: documents::once(bytes),
                served: None,
            }));
        }
        let key = self.format.storage_path(path);
        let Some(meta) = self.meta.assets().get(&self.cfg.id, key.as_str()).await? else {
            return Ok(None);
        };
        self.meta.note_download(&self.cfg.id, key.as_str());
        if let Some((meta, bytes)) = self.rendered(ctx, path, &meta).await? {
            return Ok(Some(Asset {
                meta,
                body: documents::once(bytes),
                served: None,
            }));
        }
        documents::open_asset(self.blobs.as_ref(), meta, range)
            .await
            .map(Some)
    }

    async fn head(&self, ctx: &Ctx, path: &AssetPath) -> Result<Option<AssetMeta>> {
        if let Some((meta, _)) = self.generated(ctx, path).await? {
            return Ok(Some(meta));
        }
        let key = self.format.storage_path(path);
        let Some(meta) = self.meta.assets().get(&self.cfg.id, key.as_str()).await? else {
            return Ok(None);
        };
        Ok(Some(match self.rendered(ctx, path, &meta).await? {
            Some((rendered, _)) => rendered,
            None => meta,
        }))
    }

    /// Refuses a new upload before any byte moves: at the repository's or the blob store's
    /// hard quota, or below `[storage] min_free_bytes` of free space (507).
    async fn check_upload(&self, _ctx: &Ctx) -> Result<()> {
        self.check_writable()?;
        if let Some(limit) = self.cfg.lifecycle.quota_bytes {
            let (used, _) = self.meta.assets().repo_usage(&self.cfg.id).await?;
            if used >= limit {
                return Err(Error::new(
                    ErrorKind::Forbidden,
                    format!(
                        "repository {} is at its quota: it uses {} of quota_bytes {}; delete \
                         content or raise the quota",
                        self.cfg.name,
                        human_bytes(used),
                        human_bytes(limit)
                    ),
                ));
            }
        }
        if let Some(limit) = self.limits.quota_bytes {
            let (_, used) = self.meta.assets().blob_totals().await?;
            let used = used.max(0) as u64;
            if used >= limit {
                return Err(Error::new(
                    ErrorKind::Forbidden,
                    format!(
                        "the blob store is at its quota: it holds {} of [storage] quota_bytes {}; \
                         delete content or raise the quota",
                        human_bytes(used),
                        human_bytes(limit)
                    ),
                ));
            }
        }
        check_free_space(self.blobs.as_ref(), self.limits.min_free_bytes).await
    }

    fn check_delete(&self, ctx: &Ctx, path: &AssetPath) -> Result<()> {
        self.check_writable()?;
        self.check_immutable(ctx, &self.format.storage_path(path), "deleted")
    }

    /// Under `allow_once`, only what the format calls mutable (an index, metadata) is
    /// overwritten; a version is written once, and so is an immutable tag. The row is written
    /// with its role and references, in a transaction that checks that the blob and every
    /// asset it needs are still there and that the quotas hold (`Assets::link`).
    async fn put(&self, ctx: &Ctx, path: &AssetPath, asset: NewAsset) -> Result<AssetMeta> {
        self.check_writable()?;
        let key = self.format.storage_path(path);
        let immutable = self
            .format
            .immutable(&key)
            .filter(|_| !ctx.override_immutable);
        let overwrite = immutable.is_none()
            && match self.write_policy() {
                WritePolicy::Allow => true,
                WritePolicy::AllowOnce => self.format.is_mutable(path),
                WritePolicy::Deny => false,
            };
        let (role, refs) =
            describe(self.format.as_ref(), self.blobs.as_ref(), &key, &asset.blob).await?;
        let link = Link {
            overwrite,
            role,
            refs: &refs,
            require_targets: true,
            blobs: Some(self.blobs.as_ref()),
            quota: Quota {
                repo: self.cfg.name.as_str(),
                repo_bytes: self.cfg.lifecycle.quota_bytes,
                store_bytes: self.limits.quota_bytes,
            },
        };
        match self
            .meta
            .assets()
            .link(&self.cfg.id, &key, &asset, &link)
            .await
        {
            Ok((meta, _)) => Ok(meta),
            Err(e) if e.kind == ErrorKind::AlreadyExists => match immutable {
                Some(rule) => Err(immutable_error(&self.cfg, &key, &rule, "moved")),
                None => Err(e),
            },
            Err(e) => Err(e),
        }
    }

    async fn delete(&self, ctx: &Ctx, path: &AssetPath) -> Result<bool> {
        self.check_delete(ctx, path)?;
        let key = self.format.storage_path(path);
        self.meta.assets().delete(&self.cfg.id, key.as_str()).await
    }

    async fn list(&self, _ctx: &Ctx, prefix: &str, page: &Page) -> Result<Vec<AssetMeta>> {
        AssetIndex::list(self, prefix, page).await
    }
}

/// The refusal of an immutable tag, naming the rule.
fn immutable_error(cfg: &RepositoryConfig, key: &AssetPath, rule: &str, what: &str) -> Error {
    Error::new(
        ErrorKind::Forbidden,
        format!(
            "{key} is immutable in repository {} (immutable_tags rule {rule:?}): it may be pushed \
             once and never {what}; push a new tag",
            cfg.name
        ),
    )
}

/// Refuses (507) while the blob store's filesystem has less than `min_free` bytes free.
pub async fn check_free_space(blobs: &dyn BlobStore, min_free: u64) -> Result<()> {
    if min_free == 0 {
        return Ok(());
    }
    match blobs.free_space().await? {
        Some(free) if free < min_free => Err(Error::new(
            ErrorKind::InsufficientStorage,
            format!(
                "the blob store has {} free, less than [storage] min_free_bytes {}: new uploads \
                 are refused until space is freed (delete content, then run garbage collection)",
                human_bytes(free),
                human_bytes(min_free)
            ),
        )),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests;
