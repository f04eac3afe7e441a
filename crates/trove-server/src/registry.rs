use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use trove_core::{BlobStore, FormatSpec, KindConfig, RepoLookup, Repository, RepositoryConfig};
use trove_formats::docker::DockerFormat;
use trove_hosted::HostedRepository;
use trove_store::MetadataStore;

type Snapshot = Arc<HashMap<String, Arc<dyn Repository>>>;

/// The online repositories by name, built from database rows: a snapshot behind a lock, so a
/// request pays one map lookup and never reads configuration.
pub struct RepoRegistry {
    snapshot: RwLock<Snapshot>,
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
            };
            map.insert(cfg.name.to_string(), repo);
        }
        Ok(RepoRegistry {
            snapshot: RwLock::new(Arc::new(map)),
        })
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
