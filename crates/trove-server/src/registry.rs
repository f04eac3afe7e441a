use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use trove_core::{BlobStore, FormatSpec, KindConfig, RepoLookup, Repository, RepositoryConfig};
use trove_formats::docker::DockerFormat;
use trove_hosted::HostedRepository;
use trove_proxy::{ProxyRepository, UpstreamStatus};
use trove_store::MetadataStore;

type Snapshot = Arc<HashMap<String, Arc<dyn Repository>>>;

/// The online repositories by name, built from database rows: a snapshot behind a lock, so a
/// request pays one map lookup and never reads configuration.
pub struct RepoRegistry {
    snapshot: RwLock<Snapshot>,
    /// The proxies again, with their concrete type, for their upstream status.
    proxies: HashMap<String, Arc<ProxyRepository>>,
}

fn format_spec(format: &str) -> Option<Arc<dyn FormatSpec>> {
    match format {
        "docker" => Some(Arc::new(DockerFormat)),
        _ => None,
    }
}

impl RepoRegistry {
    pub fn build(
        rows: &[RepositoryConfig],
        meta: &MetadataStore,
        blobs: Arc<dyn BlobStore>,
    ) -> anyhow::Result<Self> {
        let mut map: HashMap<String, Arc<dyn Repository>> = HashMap::new();
        let mut proxies = HashMap::new();
        for cfg in rows.iter().filter(|r| r.online) {
            let format = format_spec(&cfg.format).ok_or_else(|| {
                anyhow::anyhow!("repository {}: unknown format {}", cfg.name, cfg.format)
            })?;
            let repo: Arc<dyn Repository> = match cfg.kind {
                KindConfig::Hosted { .. } => Arc::new(HostedRepository::new(
                    cfg.clone(),
                    meta.clone(),
                    blobs.clone(),
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
                            meta.clone(),
                            blobs.clone(),
                            format,
                            runtime,
                        )
                        .map_err(|e| anyhow::anyhow!("{}", e.msg))?,
                    );
                    proxies.insert(cfg.name.to_string(), proxy.clone());
                    proxy
                }
            };
            map.insert(cfg.name.to_string(), repo);
        }
        Ok(RepoRegistry {
            snapshot: RwLock::new(Arc::new(map)),
            proxies,
        })
    }

    /// The upstream status of proxy repository `name` (reachable or auto-blocked, last error,
    /// request counts); `None` if it is not an online proxy.
    pub fn upstream_status(&self, name: &str) -> Option<UpstreamStatus> {
        self.proxies.get(name).map(|p| p.upstream_status())
    }
}

impl RepoLookup for RepoRegistry {
    fn get(&self, name: &str) -> Option<Arc<dyn Repository>> {
        self.snapshot
            .read()
            .expect("registry lock")
            .get(name)
            .cloned()
    }
}
