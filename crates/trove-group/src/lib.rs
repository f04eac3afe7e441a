//! Group repositories: one repository name over ordered members (hosted, proxy or other
//! groups). Reads ask the members in order and the first that has the path answers; a member
//! whose routing rule blocks the path, or that does not have it, is skipped; a member that fails
//! (upstream down) is skipped too, and its error is the answer only when no member has the path.
//! Documents the format merges (docker tag lists, catalog, referrers: `FormatSpec::merge`) are
//! gathered from every member and merged. Writes go to the optional writable member, or answer
//! `Unsupported`. [`check_cycles`] refuses groups that contain themselves.
//!
//! Members arrive as `Arc<dyn Repository>` (each already behind its own `RuleGuard`), so this
//! crate depends on `trove-core` only: never on the hosted or proxy crates, storage, or HTTP.
//! Like every kind it calls nothing format-specific but `FormatSpec` (tests use a toy format).

mod validate;

use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;
use bytes::Bytes;
use futures_util::StreamExt;
use futures_util::future::join_all;
use sha2::Digest as _;
use trove_core::documents::{self, GeneratedCache};
use trove_core::{
    ATTR_UPSTREAM_STALE, Algorithm, Asset, AssetMeta, AssetPath, BlobInfo, ByteRange, Ctx, Digest,
    Error, ErrorKind, FormatSpec, Generated, MergePart, NewAsset, Page, RepoName, Repository,
    RepositoryConfig, Result, now_millis,
};

pub use validate::{check_cycles, check_writable_member};

pub struct GroupRepository {
    cfg: RepositoryConfig,
    members: Vec<Arc<dyn Repository>>,
    writable: Option<Arc<dyn Repository>>,
    format: Arc<dyn FormatSpec>,
    /// Merged documents (keyed by the digests of the parts they were merged from) and their
    /// variants.
    merged_docs: GeneratedCache,
}

impl GroupRepository {
    /// A group over `members`, asked in this order. `writable` receives writes; it should be
    /// one of the members (see [`check_writable_member`]) so that what is pushed through the
    /// group can be pulled through it. Every member must be of `format`.
    pub fn new(
        config: RepositoryConfig,
        members: Vec<Arc<dyn Repository>>,
        writable: Option<Arc<dyn Repository>>,
        format: Arc<dyn FormatSpec>,
    ) -> Self {
        GroupRepository {
            cfg: config,
            members,
            writable,
            format,
            merged_docs: GeneratedCache::default(),
        }
    }

    pub fn members(&self) -> &[Arc<dyn Repository>] {
        &self.members
    }

    pub fn writable_member(&self) -> Option<&Arc<dyn Repository>> {
        self.writable.as_ref()
    }

    fn writer(&self) -> Result<&Arc<dyn Repository>> {
        self.writable.as_ref().ok_or_else(|| {
            Error::unsupported(format!(
                "group {} has no writable member; push to a hosted repository or set \
                 writable_member",
                self.cfg.name
            ))
        })
    }

    /// Whether `path` is a document merged from every member.
    fn merges(&self, path: &AssetPath) -> bool {
        self.format.merges(path)
    }

    /// Gathers `path` from every member at once (in its canonical form) and merges what they
    /// have, then renders the caller's variant. The merge is kept against the digests of the
    /// parts, so an unchanged set of member documents is merged once.
    async fn merged(&self, ctx: &Ctx, path: &AssetPath) -> Result<Option<(AssetMeta, Bytes)>> {
        let Some((meta, bytes)) = self.merged_canonical(&ctx.canonical(), path).await? else {
            return Ok(None);
        };
        match ctx.variant {
            None => Ok(Some((meta, bytes))),
            Some(v) => self
                .merged_docs
                .rendered(self.format.as_ref(), path, v, meta, bytes)
                .map(Some),
        }
    }

    async fn merged_canonical(
        &self,
        ctx: &Ctx,
        path: &AssetPath,
    ) -> Result<Option<(AssetMeta, Bytes)>> {
        let answers = join_all(self.members.iter().map(|m| async move {
            match m.get(ctx, path, None).await? {
                Some(asset) => read_all(asset).await.map(Some),
                None => Ok(None),
            }
        }))
        .await;
        let mut misses = Misses::default();
        let mut first: Option<(AssetMeta, Bytes)> = None;
        let mut parts = Vec::new();
        let mut stamp = sha2::Sha256::new();
        // Why the merged document may be out of date: a member could not answer, or served a
        // copy it could not revalidate. Front-ends warn the client (as for a proxy's copy).
        let mut stale = None;
        for (member, answer) in self.members.iter().zip(answers) {
            match answer {
                Ok(Some((meta, bytes))) => {
                    if stale.is_none()
                        && let Some(why) = meta.attrs.get(ATTR_UPSTREAM_STALE)
                    {
                        stale = Some(format!(
                            "{}: {}",
                            member.config().name,
                            why.as_str().unwrap_or("stale")
                        ));
                    }
                    stamp.update(member.config().name.as_str());
                    stamp.update(meta.blob.digest.to_string());
                    parts.push(MergePart {
                        member: member.config().name.to_string(),
                        kind: member.config().kind(),
                        doc: Generated {
                            bytes: bytes.clone(),
                            content_type: meta
                                .content_type
                                .clone()
                                .unwrap_or_else(|| "application/octet-stream".into()),
                        },
                    });
                    first.get_or_insert((meta, bytes));
                }
                Ok(None) => misses.missed += 1,
                Err(e) => misses.absorb(&self.cfg.name, member.as_ref(), path, e)?,
            }
        }
        let Some((first_meta, first_bytes)) = first else {
            return misses.finish(&self.cfg.name, path);
        };
        if let Some((member, e)) = misses.failed.first() {
            stale = Some(format!("{member} could not answer: {}", e.msg));
        }
        let stamp = Digest::from_hex(Algorithm::Sha256, hex::encode(stamp.finalize()));
        // A stamp that is not a document's digest: cached under a variant of its own.
        let key = documents::stamp_of(&stamp);
        if stale.is_none()
            && let Some(hit) = self.merged_docs.lookup_stamped(path, MERGED, key)
        {
            return Ok(Some(hit));
        }
        let Some(doc) = self.format.merge(path, parts) else {
            return Ok(Some((first_meta, first_bytes)));
        };
        let attrs = match &stale {
            Some(why) => {
                serde_json::json!({ ATTR_UPSTREAM_STALE: format!("group {}: {why}", self.cfg.name) })
            }
            None => serde_json::Value::Null,
        };
        let digest = Digest::of(Algorithm::Sha256, &doc.bytes);
        let meta = AssetMeta {
            path: path.clone(),
            blob: BlobInfo {
                digest,
                size: doc.bytes.len() as u64,
            },
            content_type: Some(doc.content_type),
            created: now_millis(),
            last_downloaded: None,
            attrs,
        };
        if stale.is_none() {
            self.merged_docs
                .insert_stamped(path, MERGED, key, &meta, &doc.bytes);
        }
        Ok(Some((meta, doc.bytes)))
    }
}

/// The cache slot of a merged document (its variants are cached under their own names).
const MERGED: &str = "\0merged";

async fn read_all(asset: Asset) -> Result<(AssetMeta, Bytes)> {
    let mut buf = Vec::with_capacity(asset.meta.blob.size.min(1 << 20) as usize);
    let mut body = asset.body;
    while let Some(chunk) = body.next().await {
        buf.extend_from_slice(&chunk.map_err(|e| Error::io("reading a member's document", e))?);
    }
    Ok((asset.meta, Bytes::from(buf)))
}

/// Why the members asked so far did not answer with the asset.
#[derive(Default)]
struct Misses {
    /// Members that do not have the path.
    missed: usize,
    /// Members whose routing rule refuses the path: (member, error).
    blocked: Vec<(RepoName, Error)>,
    /// Members that could not tell (upstream down, internal error): (member, error).
    failed: Vec<(RepoName, Error)>,
}

impl Misses {
    /// Records a member's error and lets the next member be asked, or hands the error back when
    /// it is the member's answer about an asset it has (an unsatisfiable range).
    fn absorb(
        &mut self,
        group: &RepoName,
        member: &dyn Repository,
        path: &AssetPath,
        e: Error,
    ) -> Result<()> {
        let name = member.config().name.clone();
        match e.kind {
            ErrorKind::NotFound => self.missed += 1,
            ErrorKind::Blocked { .. } => self.blocked.push((name, e)),
            ErrorKind::RangeNotSatisfiable => return Err(e),
            _ => {
                tracing::warn!(%group, member = %name, %path, error = ?e,
                    "group member failed; asking the next one");
                self.failed.push((name, e));
            }
        }
        Ok(())
    }

    /// The answer when no member had the path. A failure is more informative than a 404 (the
    /// asset may well exist behind the member that failed), and an upstream that could not be
    /// reached says most; a path every member's rule refuses is `Blocked`; otherwise the path
    /// is simply not there.
    fn finish<T>(mut self, group: &RepoName, path: &AssetPath) -> Result<Option<T>> {
        if !self.failed.is_empty() {
            let best = self
                .failed
                .iter()
                .position(|(_, e)| matches!(e.kind, ErrorKind::Unavailable | ErrorKind::Upstream))
                .unwrap_or(0);
            let others = self.failed.len() - 1;
            let (member, e) = self.failed.swap_remove(best);
            let more = match others {
                0 => String::new(),
                n => format!(" ({n} other member(s) failed too)"),
            };
            return Err(Error {
                kind: e.kind,
                msg: format!(
                    "no member of group {group} could answer for {path}; {member}: {}{more}",
                    e.msg
                ),
                source: e.source,
            });
        }
        if self.missed == 0 && !self.blocked.is_empty() {
            let kind = self.blocked[0].1.kind.clone();
            let why: Vec<String> = self
                .blocked
                .iter()
                .map(|(member, e)| format!("{member}: {}", e.msg))
                .collect();
            return Err(Error::new(
                kind,
                format!(
                    "every member of group {group} refuses {path}: {}",
                    why.join("; ")
                ),
            ));
        }
        Ok(None)
    }
}

#[async_trait]
impl Repository for GroupRepository {
    fn config(&self) -> &RepositoryConfig {
        &self.cfg
    }

    fn check_writable(&self) -> Result<()> {
        self.writer()?.check_writable()
    }

    async fn check_upload(&self, ctx: &Ctx) -> Result<()> {
        self.writer()?.check_upload(ctx).await
    }

    fn check_delete(&self, ctx: &Ctx, path: &AssetPath) -> Result<()> {
        self.writer()?.check_delete(ctx, path)
    }

    /// First hit in member order. Content named by its digest (docker blobs, manifests by
    /// digest) is the same bytes in every member that has it, so a manifest resolved by tag in
    /// one member and its blobs found first in another still form one consistent image.
    async fn get(
        &self,
        ctx: &Ctx,
        path: &AssetPath,
        range: Option<ByteRange>,
    ) -> Result<Option<Asset>> {
        if self.merges(path) {
            // Like a hosted repository's generated documents, a merged one ignores ranges.
            return Ok(self.merged(ctx, path).await?.map(|(meta, bytes)| Asset {
                meta,
                body: Box::pin(futures_util::stream::iter([Ok(bytes)])),
                served: None,
            }));
        }
        let mut misses = Misses::default();
        for member in &self.members {
            match member.get(ctx, path, range).await {
                Ok(Some(asset)) => return Ok(Some(asset)),
                Ok(None) => misses.missed += 1,
                Err(e) => misses.absorb(&self.cfg.name, member.as_ref(), path, e)?,
            }
        }
        misses.finish(&self.cfg.name, path)
    }

    async fn head(&self, ctx: &Ctx, path: &AssetPath) -> Result<Option<AssetMeta>> {
        if self.merges(path) {
            return Ok(self.merged(ctx, path).await?.map(|(meta, _)| meta));
        }
        let mut misses = Misses::default();
        for member in &self.members {
            match member.head(ctx, path).await {
                Ok(Some(meta)) => return Ok(Some(meta)),
                Ok(None) => misses.missed += 1,
                Err(e) => misses.absorb(&self.cfg.name, member.as_ref(), path, e)?,
            }
        }
        misses.finish(&self.cfg.name, path)
    }

    async fn put(&self, ctx: &Ctx, path: &AssetPath, asset: NewAsset) -> Result<AssetMeta> {
        self.writer()?.put(ctx, path, asset).await
    }

    /// Deletes from the writable member only: content of the other members is theirs.
    async fn delete(&self, ctx: &Ctx, path: &AssetPath) -> Result<bool> {
        self.writer()?.delete(ctx, path).await
    }

    /// The union of the members' listings by path, sorted; where two members hold the same
    /// path, the earlier member's entry wins (the one a read would serve). Each member is asked
    /// for the same page, which is enough: the first `limit` entries of the union are among the
    /// first `limit` of each member. A member whose rule refuses the prefix adds nothing; any
    /// other failure fails the listing (a partial list would look complete).
    async fn list(&self, ctx: &Ctx, prefix: &str, page: &Page) -> Result<Vec<AssetMeta>> {
        let lists = join_all(self.members.iter().map(|m| m.list(ctx, prefix, page))).await;
        let mut union: BTreeMap<String, AssetMeta> = BTreeMap::new();
        for (member, list) in self.members.iter().zip(lists) {
            let entries = match list {
                Ok(entries) => entries,
                Err(e) if matches!(e.kind, ErrorKind::Blocked { .. }) => continue,
                Err(e) => {
                    return Err(Error {
                        kind: e.kind,
                        msg: format!(
                            "group {}: listing member {}: {}",
                            self.cfg.name,
                            member.config().name,
                            e.msg
                        ),
                        source: e.source,
                    });
                }
            };
            for meta in entries {
                union.entry(meta.path.as_str().to_owned()).or_insert(meta);
            }
        }
        let mut out: Vec<AssetMeta> = union.into_values().collect();
        if let Some(limit) = page.limit {
            out.truncate(limit as usize);
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests;
