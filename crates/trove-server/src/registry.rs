use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use trove_core::{BlobStore, FormatSpec, KindConfig, RepoLookup, Repository, RepositoryConfig};
use trove_formats::docker::DockerFormat;
use trove_hosted::HostedRepository;
use trove_proxy::{ProxyRepository, UpstreamStatus};
use trove_store::MetadataStore;

#[derive(Default)]
struct Snapshot {
    repos: HashMap<String, Arc<dyn Repository>>,
    /// The proxies again, with their concrete type, for their upstream status.
    proxies: HashMap<String, Arc<ProxyRepository>>,
}

/// The online repositories by name, built from database rows: a snapshot behind a lock, so a
/// request pays one map lookup and never reads configuration. `rebuild` swaps in a new
/// snapshot after the rows changed (config reload), reusing every repository whose row did
/// not change, so a proxy keeps its cache state and fetches in flight.
pub struct RepoRegistry {
    snapshot: RwLock<Arc<Snapshot>>,
    meta: MetadataStore,
    blobs: Arc<dyn BlobStore>,
}

fn format_spec(format: &str) -> Option<Arc<dyn FormatSpec>> {
    match format {
        "docker" => Some(Arc::new(DockerFormat)),
        _ => None,
    }
}

impl RepoRegistry {
    pub fn new(meta: MetadataStore, blobs: Arc<dyn BlobStore>) -> Self {
        RepoRegistry {
            snapshot: RwLock::default(),
            meta,
            blobs,
        }
    }

    pub fn rebuild(&self, rows: &[RepositoryConfig]) -> anyhow::Result<()> {
        let old = self.snapshot.read().expect("registry lock").clone();
        let mut next = Snapshot::default();
        for cfg in rows.iter().filter(|r| r.online) {
            let name = cfg.name.to_string();
            if let Some(existing) = old.repos.get(&name).filter(|r| r.config() == cfg) {
                next.repos.insert(name.clone(), existing.clone());
                if let Some(p) = old.proxies.get(&name) {
                    next.proxies.insert(name, p.clone());
                }
                continue;
            }
            let format = format_spec(&cfg.format).ok_or_else(|| {
                anyhow::anyhow!("repository {}: unknown format {}", cfg.name, cfg.format)
            })?;
            let repo: Arc<dyn Repository> = match cfg.kind {
                KindConfig::Hosted { .. } => Arc::new(HostedRepository::new(
                    cfg.clone(),
                    self.meta.clone(),
                    self.blobs.clone(),
                    format,
                )),
                KindConfig::Proxy(_) => {
                    // Proxy fetches must outlive requests: they run on the runtime that builds
                    // the registry (the server's multi-thread runtime), not on a worker's.
                    let runtime = tokio::runtime::Handle::try_current().map_err(|_| {
                        anyhow::anyhow!("repository {}: proxies need a tokio runtime", cfg.name)
                    })?;
                    let proxy = Arc::new(
                        ProxyRepository::new(
                            cfg.clone(),
                            self.meta.clone(),
                            self.blobs.clone(),
                            format,
                            runtime,
                        )
                        .map_err(|e| anyhow::anyhow!("{}", e.msg))?,
                    );
                    next.proxies.insert(name.clone(), proxy.clone());
                    proxy
                }
            };
            next.repos.insert(name, repo);
        }
        *self.snapshot.write().expect("registry lock") = Arc::new(next);
        Ok(())
    }

    /// The upstream status of proxy repository `name` (reachable or auto-blocked, last error,
    /// request counts); `None` if it is not an online proxy.
    pub fn upstream_status(&self, name: &str) -> Option<UpstreamStatus> {
        let snapshot = self.snapshot.read().expect("registry lock").clone();
        snapshot.proxies.get(name).map(|p| p.upstream_status())
    }
}

impl RepoLookup for RepoRegistry {
    fn get(&self, name: &str) -> Option<Arc<dyn Repository>> {
        self.snapshot
            .read()
            .expect("registry lock")
            .repos
            .get(name)
            .cloned()
    }
}
