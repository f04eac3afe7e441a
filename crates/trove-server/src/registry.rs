use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use trove_core::{BlobStore, FormatSpec, KindConfig, RepoLookup, Repository, RepositoryConfig};
use trove_group::GroupRepository;
use trove_hosted::HostedRepository;
use trove_proxy::{ProxyRepository, UpstreamStatus};
use trove_routing::{RoutingRule, RuleGuard};
use trove_store::MetadataStore;

#[derive(Default)]
struct Snapshot {
    /// What requests get: leaves and groups, each behind its routing rule's guard.
    repos: HashMap<String, Arc<dyn Repository>>,
    /// Hosted and proxy repositories without guards, kept for reuse across rebuilds.
    leaves: HashMap<String, Arc<dyn Repository>>,
    /// The proxies again, with their concrete type, for their upstream status.
    proxies: HashMap<String, Arc<ProxyRepository>>,
    /// Repositories whose row could not be built (a proxy whose password variable is unset),
    /// with the reason: offline until fixed, while every other repository serves.
    broken: HashMap<String, String>,
}

/// The online repositories by name, built from database rows: a snapshot behind a lock, so a
/// request pays one map lookup and never reads configuration. `rebuild` swaps in a new
/// snapshot after the rows changed (config reload), reusing every repository whose row did
/// not change, so a proxy keeps its cache state and fetches in flight.
pub struct RepoRegistry {
    snapshot: RwLock<Arc<Snapshot>>,
    meta: MetadataStore,
    blobs: Arc<dyn BlobStore>,
    /// `[storage]`: quotas and free space, for every repository that writes.
    limits: Arc<trove_core::StorageLimits>,
}

fn format_spec(cfg: &RepositoryConfig) -> anyhow::Result<Arc<dyn FormatSpec>> {
    trove_formats::registry()
        .spec(cfg)
        .map_err(|e| anyhow::anyhow!("{}", e.msg))
}

impl RepoRegistry {
    pub fn new(
        meta: MetadataStore,
        blobs: Arc<dyn BlobStore>,
        limits: Arc<trove_core::StorageLimits>,
    ) -> Self {
        RepoRegistry {
            snapshot: RwLock::default(),
            meta,
            blobs,
            limits,
        }
    }

    /// Builds the snapshot from the rows: hosted and proxy repositories first (reusing those
    /// whose row did not change), each wrapped in its routing rule's guard, then groups from
    /// their guarded members, innermost first (cycles are refused when config is validated).
    pub fn rebuild(
        &self,
        rows: &[RepositoryConfig],
        rules: &HashMap<String, Arc<RoutingRule>>,
    ) -> anyhow::Result<()> {
        let old = self.snapshot.read().expect("registry lock").clone();
        let mut next = Snapshot::default();
        let online: Vec<&RepositoryConfig> = rows.iter().filter(|r| r.online).collect();
        let guard = |cfg: &RepositoryConfig,
                     repo: Arc<dyn Repository>|
         -> anyhow::Result<Arc<dyn Repository>> {
            match &cfg.routing_rule {
                None => Ok(repo),
                Some(name) => {
                    let rule = rules.get(name).ok_or_else(|| {
                        anyhow::anyhow!(
                            "repository {}: routing rule {name} is not declared",
                            cfg.name
                        )
                    })?;
                    Ok(Arc::new(RuleGuard::new(repo, rule.clone())))
                }
            }
        };
        for cfg in online
            .iter()
            .filter(|c| !matches!(c.kind, KindConfig::Group { .. }))
        {
            let name = cfg.name.to_string();
            let leaf = match old.leaves.get(&name).filter(|r| r.config() == *cfg) {
                Some(existing) => {
                    if let Some(p) = old.proxies.get(&name) {
                        next.proxies.insert(name.clone(), p.clone());
                    }
                    Ok(existing.clone())
                }
                None => self.build_leaf(cfg, &mut next),
            };
            match leaf.and_then(|leaf| Ok((leaf.clone(), guard(cfg, leaf)?))) {
                Ok((leaf, guarded)) => {
                    next.leaves.insert(name.clone(), leaf);
                    next.repos.insert(name, guarded);
                }
                Err(e) => {
                    tracing::error!(repository = %name, error = format!("{e:#}"), "repository is offline: it cannot be built");
                    next.proxies.remove(&name);
                    next.broken.insert(name, format!("{e:#}"));
                }
            }
        }
        let mut groups: Vec<&RepositoryConfig> = online
            .iter()
            .copied()
            .filter(|c| matches!(c.kind, KindConfig::Group { .. }))
            .collect();
        while !groups.is_empty() {
            let before = groups.len();
            let mut waiting = Vec::new();
            for cfg in groups {
                let KindConfig::Group {
                    members,
                    writable_member,
                } = &cfg.kind
                else {
                    unreachable!()
                };
                let pending = members.iter().any(|m| {
                    !next.repos.contains_key(m)
                        && online.iter().any(|c| {
                            c.name.as_str() == m && matches!(c.kind, KindConfig::Group { .. })
                        })
                });
                if pending {
                    waiting.push(cfg);
                    continue;
                }
                let format = match format_spec(cfg) {
                    Ok(f) => f,
                    Err(e) => {
                        next.broken.insert(cfg.name.to_string(), format!("{e:#}"));
                        continue;
                    }
                };
                let mut found = Vec::new();
                for m in members {
                    match next.repos.get(m) {
                        Some(r) => found.push(r.clone()),
                        None => {
                            tracing::warn!(group = %cfg.name, member = %m, "group member is offline or missing; skipped")
                        }
                    }
                }
                let writable = writable_member
                    .as_ref()
                    .and_then(|w| next.repos.get(w).cloned());
                let group: Arc<dyn Repository> = Arc::new(GroupRepository::new(
                    (*cfg).clone(),
                    found,
                    writable,
                    format,
                ));
                match guard(cfg, group) {
                    Ok(g) => {
                        next.repos.insert(cfg.name.to_string(), g);
                    }
                    Err(e) => {
                        tracing::error!(repository = %cfg.name, error = format!("{e:#}"), "repository is offline: it cannot be built");
                        next.broken.insert(cfg.name.to_string(), format!("{e:#}"));
                    }
                }
            }
            if waiting.len() == before {
                anyhow::bail!(
                    "groups {:?} wait on each other (a cycle)",
                    waiting
                        .iter()
                        .map(|c| c.name.to_string())
                        .collect::<Vec<_>>()
                );
            }
            groups = waiting;
        }
        *self.snapshot.write().expect("registry lock") = Arc::new(next);
        Ok(())
    }

    fn build_leaf(
        &self,
        cfg: &RepositoryConfig,
        next: &mut Snapshot,
    ) -> anyhow::Result<Arc<dyn Repository>> {
        let format = format_spec(cfg)?;
        Ok(match cfg.kind {
            KindConfig::Hosted { .. } => Arc::new(
                HostedRepository::new(cfg.clone(), self.meta.clone(), self.blobs.clone(), format)
                    .with_limits(self.limits.clone()),
            ),
            KindConfig::Proxy(_) => {
                // Proxy fetches must outlive requests: they run on the runtime that builds the
                // registry (the server's multi-thread runtime), not on a worker's.
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
                    .map_err(|e| anyhow::anyhow!("{}", e.msg))?
                    .with_limits(self.limits.clone()),
                );
                next.proxies.insert(cfg.name.to_string(), proxy.clone());
                proxy
            }
            KindConfig::Group { .. } => unreachable!("groups are built from their members"),
        })
    }

    /// Why repository `name` is offline although its row says online (it could not be built:
    /// a proxy whose password variable or file is missing), if it is.
    pub fn problem(&self, name: &str) -> Option<String> {
        let snapshot = self.snapshot.read().expect("registry lock").clone();
        snapshot.broken.get(name).cloned()
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

    fn names(&self) -> Vec<String> {
        let snapshot = self.snapshot.read().expect("registry lock").clone();
        let mut names: Vec<String> = snapshot.repos.keys().cloned().collect();
        names.sort_unstable();
        names
    }
}
