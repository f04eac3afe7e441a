//! Hosted repositories: content pushed by clients, kept in the shared metadata store and blob
//! store. Generic over the format: it calls only `FormatSpec`, `MetadataStore` and `BlobStore`,
//! never format-specific code (a test runs it against a toy format to keep that true).
//!
//! Must never depend on HTTP frameworks or on other repository kinds.

use std::sync::Arc;

use async_trait::async_trait;
use bytes::Bytes;
use trove_core::documents::{self, GeneratedCache};
use trove_core::{
    Asset, AssetIndex, AssetMeta, AssetPath, BlobStore, ByteRange, Ctx, Error, FormatSpec,
    KindConfig, NewAsset, Page, Repository, RepositoryConfig, Result, WritePolicy,
};
use trove_store::MetadataStore;

pub struct HostedRepository {
    cfg: RepositoryConfig,
    meta: MetadataStore,
    blobs: Arc<dyn BlobStore>,
    format: Arc<dyn FormatSpec>,
    /// Tag lists, catalogs, referrers, and the variants of documents: computed once per
    /// change to the rows (or to the document).
    generated_docs: GeneratedCache,
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

    /// Under `allow_once`, only what the format calls mutable (an index, metadata) is
    /// overwritten; a version is written once.
    async fn put(&self, _ctx: &Ctx, path: &AssetPath, asset: NewAsset) -> Result<AssetMeta> {
        self.check_writable()?;
        let overwrite = match self.write_policy() {
            WritePolicy::Allow => true,
            WritePolicy::AllowOnce => self.format.is_mutable(path),
            WritePolicy::Deny => false,
        };
        let key = self.format.storage_path(path);
        let (meta, _) = self
            .meta
            .assets()
            .put(&self.cfg.id, &key, &asset, overwrite)
            .await?;
        Ok(meta)
    }

    async fn delete(&self, _ctx: &Ctx, path: &AssetPath) -> Result<bool> {
        self.check_writable()?;
        let key = self.format.storage_path(path);
        self.meta.assets().delete(&self.cfg.id, key.as_str()).await
    }

    async fn list(&self, _ctx: &Ctx, prefix: &str, page: &Page) -> Result<Vec<AssetMeta>> {
        AssetIndex::list(self, prefix, page).await
    }
}

#[cfg(test)]
mod tests;
