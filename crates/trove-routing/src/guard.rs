use std::sync::Arc;

use async_trait::async_trait;
use trove_core::{
    Asset, AssetMeta, AssetPath, ByteRange, Ctx, NewAsset, Page, Repository, RepositoryConfig,
    Result,
};

use crate::RoutingRule;

/// A repository behind a routing rule: every path is checked before the inner repository is
/// asked anything, so a blocked request causes no I/O (no database read, no upstream fetch).
pub struct RuleGuard {
    inner: Arc<dyn Repository>,
    rule: Arc<RoutingRule>,
}

impl RuleGuard {
    pub fn new(inner: Arc<dyn Repository>, rule: Arc<RoutingRule>) -> Self {
        RuleGuard { inner, rule }
    }
    pub fn rule(&self) -> &Arc<RoutingRule> {
        &self.rule
    }
    pub fn inner(&self) -> &Arc<dyn Repository> {
        &self.inner
    }
}

#[async_trait]
impl Repository for RuleGuard {
    fn config(&self) -> &RepositoryConfig {
        self.inner.config()
    }

    fn check_writable(&self) -> Result<()> {
        self.inner.check_writable()
    }

    fn check_path(&self, path: &AssetPath) -> Result<()> {
        self.rule.check(path)?;
        self.inner.check_path(path)
    }

    async fn check_upload(&self, ctx: &Ctx) -> Result<()> {
        self.inner.check_upload(ctx).await
    }

    fn check_delete(&self, ctx: &Ctx, path: &AssetPath) -> Result<()> {
        self.rule.check(path)?;
        self.inner.check_delete(ctx, path)
    }

    async fn get(
        &self,
        ctx: &Ctx,
        path: &AssetPath,
        range: Option<ByteRange>,
    ) -> Result<Option<Asset>> {
        self.rule.check(path)?;
        self.inner.get(ctx, path, range).await
    }

    async fn head(&self, ctx: &Ctx, path: &AssetPath) -> Result<Option<AssetMeta>> {
        self.rule.check(path)?;
        self.inner.head(ctx, path).await
    }

    async fn put(&self, ctx: &Ctx, path: &AssetPath, asset: NewAsset) -> Result<AssetMeta> {
        self.rule.check(path)?;
        self.inner.put(ctx, path, asset).await
    }

    async fn delete(&self, ctx: &Ctx, path: &AssetPath) -> Result<bool> {
        self.rule.check(path)?;
        self.inner.delete(ctx, path).await
    }

    /// The inner listing without the entries the rule blocks. Entries are tested by their
    /// stored path, as given: a storage key that is not scoped to an image (docker's shared
    /// `/v2/-/blobs/<digest>`) is listed only if a matcher matches it. A page is refilled from
    /// the inner repository until it is full or the inner listing ends, so a short page still
    /// means "no more".
    async fn list(&self, ctx: &Ctx, prefix: &str, page: &Page) -> Result<Vec<AssetMeta>> {
        let Some(limit) = page.limit else {
            let mut all = self.inner.list(ctx, prefix, page).await?;
            all.retain(|m| self.rule.is_allowed(&m.path));
            return Ok(all);
        };
        let mut out = Vec::new();
        let mut after = page.after.clone();
        loop {
            let next = Page {
                after: after.clone(),
                limit: Some(limit),
            };
            let batch = self.inner.list(ctx, prefix, &next).await?;
            let exhausted = (batch.len() as u64) < u64::from(limit) || batch.is_empty();
            after = batch.last().map(|m| m.path.as_str().to_owned());
            out.extend(batch.into_iter().filter(|m| self.rule.is_allowed(&m.path)));
            if exhausted || out.len() >= limit as usize {
                break;
            }
        }
        out.truncate(limit as usize);
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use bytes::Bytes;
    use trove_core::{Algorithm, BlobInfo, Digest, ErrorKind, KindConfig, RepoName, WritePolicy};

    use super::*;
    use crate::Mode;

    /// A repository that records every call and holds `entries` (sorted by path).
    struct Recorder {
        cfg: RepositoryConfig,
        calls: Mutex<Vec<String>>,
        entries: Vec<AssetMeta>,
    }

    fn meta(path: &str) -> AssetMeta {
        AssetMeta {
            path: AssetPath::parse(path).unwrap(),
            blob: BlobInfo {
                digest: Digest::from_hex(Algorithm::Sha256, "0".repeat(64)),
                size: 1,
            },
            content_type: None,
            created: 0,
            last_downloaded: None,
            attrs: serde_json::Value::Null,
        }
    }

    impl Recorder {
        fn new(paths: &[&str]) -> Arc<Self> {
            let mut entries: Vec<AssetMeta> = paths.iter().map(|p| meta(p)).collect();
            entries.sort_by(|a, b| a.path.cmp(&b.path));
            Arc::new(Recorder {
                cfg: RepositoryConfig {
                    id: "r".into(),
                    name: RepoName::parse("inner").unwrap(),
                    format: "test".into(),
                    options: Default::default(),
                    online: true,
                    kind: KindConfig::Hosted {
                        write_policy: WritePolicy::Allow,
                    },
                    force_basic_auth: false,
                    routing_rule: None,
                    lifecycle: Default::default(),
                },
                calls: Mutex::new(Vec::new()),
                entries,
            })
        }
        fn record(&self, call: &str) {
            self.calls.lock().unwrap().push(call.to_owned());
        }
        fn calls(&self) -> Vec<String> {
            self.calls.lock().unwrap().clone()
        }
    }

    #[async_trait]
    impl Repository for Recorder {
        fn config(&self) -> &RepositoryConfig {
            &self.cfg
        }
        fn check_writable(&self) -> Result<()> {
            self.record("check_writable");
            Ok(())
        }
        async fn get(
            &self,
            _ctx: &Ctx,
            path: &AssetPath,
            _range: Option<ByteRange>,
        ) -> Result<Option<Asset>> {
            self.record(&format!("get {path}"));
            Ok(Some(Asset {
                meta: meta(path.as_str()),
                body: Box::pin(futures_util::stream::iter([Ok(Bytes::from_static(b"x"))])),
                served: None,
            }))
        }
        async fn head(&self, _ctx: &Ctx, path: &AssetPath) -> Result<Option<AssetMeta>> {
            self.record(&format!("head {path}"));
            Ok(Some(meta(path.as_str())))
        }
        async fn put(&self, _ctx: &Ctx, path: &AssetPath, _asset: NewAsset) -> Result<AssetMeta> {
            self.record(&format!("put {path}"));
            Ok(meta(path.as_str()))
        }
        async fn delete(&self, _ctx: &Ctx, path: &AssetPath) -> Result<bool> {
            self.record(&format!("delete {path}"));
            Ok(true)
        }
        async fn list(&self, _ctx: &Ctx, prefix: &str, page: &Page) -> Result<Vec<AssetMeta>> {
            self.record(&format!("list {prefix} {:?} {:?}", page.after, page.limit));
            Ok(self
                .entries
                .iter()
                .filter(|m| m.path.as_str().starts_with(prefix))
                .filter(|m| page.after.as_deref().is_none_or(|a| m.path.as_str() > a))
                .take(page.limit.map_or(usize::MAX, |l| l as usize))
                .cloned()
                .collect())
        }
    }

    fn p(s: &str) -> AssetPath {
        AssetPath::parse(s).unwrap()
    }

    fn guard(inner: Arc<Recorder>) -> RuleGuard {
        let rule = RoutingRule::new(
            "hub-namespaces",
            "",
            Mode::Allow,
            &["^/v2/(helloz|user2)/.*"],
        )
        .unwrap();
        RuleGuard::new(inner, Arc::new(rule))
    }

    fn new_asset() -> NewAsset {
        NewAsset {
            blob: meta("/x").blob,
            content_type: None,
            attrs: serde_json::Value::Null,
        }
    }

    #[tokio::test]
    async fn blocks_before_touching_the_inner_repository() {
        let inner = Recorder::new(&[]);
        let g = guard(inner.clone());
        let ctx = Ctx::default();
        let bad = p("/v2/someoneelse/app/manifests/latest");
        let blocked = ErrorKind::Blocked {
            rule: "hub-namespaces".into(),
        };
        let e = g.get(&ctx, &bad, None).await.err().unwrap();
        assert_eq!(e.kind, blocked);
        assert!(
            e.msg
                .contains("not allowed by routing rule 'hub-namespaces'")
        );
        assert_eq!(g.head(&ctx, &bad).await.unwrap_err().kind, blocked);
        assert_eq!(
            g.put(&ctx, &bad, new_asset()).await.unwrap_err().kind,
            blocked
        );
        assert_eq!(g.delete(&ctx, &bad).await.unwrap_err().kind, blocked);
        assert_eq!(
            g.get(&ctx, &p("/v2/hellozz/app/manifests/1"), None)
                .await
                .err()
                .unwrap()
                .kind,
            blocked
        );
        assert!(inner.calls().is_empty(), "{:?}", inner.calls());

        let good = p("/v2/helloz/onenav/manifests/0.9.33");
        assert!(g.get(&ctx, &good, None).await.unwrap().is_some());
        assert!(g.head(&ctx, &good).await.unwrap().is_some());
        g.put(&ctx, &good, new_asset()).await.unwrap();
        assert!(g.delete(&ctx, &good).await.unwrap());
        g.check_writable().unwrap();
        assert_eq!(g.config().name.as_str(), "inner");
        assert_eq!(
            inner.calls(),
            [
                "get /v2/helloz/onenav/manifests/0.9.33",
                "head /v2/helloz/onenav/manifests/0.9.33",
                "put /v2/helloz/onenav/manifests/0.9.33",
                "delete /v2/helloz/onenav/manifests/0.9.33",
                "check_writable",
            ]
        );
    }

    #[tokio::test]
    async fn lists_only_what_passes() {
        let inner = Recorder::new(&[
            "/v2/a1/x/manifests/1",
            "/v2/a2/x/manifests/1",
            "/v2/helloz/a/manifests/1",
            "/v2/helloz/b/manifests/1",
            "/v2/m/x/manifests/1",
            "/v2/n/x/manifests/1",
            "/v2/o/x/manifests/1",
            "/v2/user2/c/manifests/1",
            "/v2/z/x/manifests/1",
        ]);
        let g = guard(inner.clone());
        let ctx = Ctx::default();
        let paths = |v: Vec<AssetMeta>| -> Vec<String> {
            v.into_iter().map(|m| m.path.as_str().to_owned()).collect()
        };
        let all = g.list(&ctx, "/v2/", &Page::default()).await.unwrap();
        assert_eq!(
            paths(all),
            [
                "/v2/helloz/a/manifests/1",
                "/v2/helloz/b/manifests/1",
                "/v2/user2/c/manifests/1"
            ]
        );
        // Pages are refilled past blocked entries, and a short page means the end.
        let page = Page {
            after: None,
            limit: Some(2),
        };
        let first = g.list(&ctx, "/v2/", &page).await.unwrap();
        assert_eq!(
            paths(first),
            ["/v2/helloz/a/manifests/1", "/v2/helloz/b/manifests/1"]
        );
        let page = Page {
            after: Some("/v2/helloz/b/manifests/1".into()),
            limit: Some(2),
        };
        let second = g.list(&ctx, "/v2/", &page).await.unwrap();
        assert_eq!(paths(second), ["/v2/user2/c/manifests/1"]);
        let none = g.list(&ctx, "/v2/zz", &page).await.unwrap();
        assert!(none.is_empty());
    }
}
