//! Repositories: list, show, create, edit, delete. The input has the keys of a
//! `[[repository]]` table in trove.toml, so what people write in the file, in the API and in
//! the console is one vocabulary.

use serde::{Deserialize, Serialize};
use trove_auth::Action;

use crate::Actor;
use crate::audit::json_of;
use trove_core::{ConnectorSpec, KindConfig, RepoKind, RepositoryConfig, WritePolicy};
use trove_store::{DeclaredRepo, RepoRecord, RepoUsage};

use crate::validate::{self, Neighbour, Source, Surroundings};
use crate::{Service, ServiceError, ServiceResult, UI, UpstreamView, read_only_reason};

/// A repository as both front ends show it.
#[derive(Debug, Clone, Serialize)]
pub struct RepoView {
    pub name: String,
    pub format: String,
    /// The format's own settings (docker: `hub_index`).
    pub options: serde_json::Map<String, serde_json::Value>,
    pub kind: RepoKind,
    pub online: bool,
    pub managed_by: String,
    /// Why it cannot be edited here (`defined in trove.toml`), if it cannot.
    pub read_only: Option<&'static str>,
    /// Path-based URL on the main port (`/repository/<name>/`).
    pub path_url: String,
    pub connector: Option<ConnectorSpec>,
    /// Ports actually bound now (`0` in the config picks one).
    pub http_port: Option<u16>,
    pub https_port: Option<u16>,
    pub force_basic_auth: bool,
    pub routing_rule: Option<String>,
    /// Kind-specific settings (write policy; remote and cache ages; members).
    pub settings: KindConfig,
    pub usage: RepoUsage,
    /// Proxies: the upstream's health.
    pub upstream: Option<UpstreamView>,
    /// Why it does not run as configured (a proxy whose password is missing, a connector port
    /// that is taken): it is saved, but offline or without that port until fixed.
    pub problem: Option<String>,
    /// Cleanup policies that run on it, by name.
    pub cleanup_policies: Vec<String>,
    /// Hosted: hard and soft quotas (bytes).
    pub quota_bytes: Option<u64>,
    pub quota_soft_bytes: Option<u64>,
    /// Docker, hosted: tag patterns pushed once and never moved or deleted.
    pub immutable_tags: Vec<String>,
    /// The quotas against the usage, when it has one.
    pub quota: Option<QuotaView>,
    /// What the console and the API warn about (a soft quota passed, a hard quota reached).
    pub warnings: Vec<String>,
    pub created: i64,
    pub updated: i64,
}

/// A repository's usage against its quotas.
#[derive(Debug, Clone, Serialize)]
pub struct QuotaView {
    pub used_bytes: u64,
    pub hard_bytes: Option<u64>,
    pub soft_bytes: Option<u64>,
    /// Past the soft quota: a warning, nothing refused.
    pub over_soft: bool,
    /// At the hard quota: writes that add a blob are refused.
    pub at_hard: bool,
}

/// Create or replace a repository: the keys of `[[repository]]` in trove.toml.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RepoInput {
    pub name: String,
    #[serde(default = "docker")]
    pub format: String,
    /// `hosted`, `proxy` or `group`.
    pub kind: String,
    /// The format's own settings, checked by the format (docker: `{"hub_index": true}`).
    #[serde(default)]
    pub options: serde_json::Map<String, serde_json::Value>,
    #[serde(default)]
    pub force_basic_auth: bool,
    #[serde(default)]
    pub routing_rule: Option<String>,
    #[serde(default)]
    pub connector: Option<ConnectorSpec>,
    /// Hosted: `allow`, `allow_once`, `deny`.
    #[serde(default)]
    pub write_policy: Option<String>,
    /// Proxy.
    #[serde(default)]
    pub remote: Option<String>,
    #[serde(default)]
    pub upstream_username: Option<String>,
    #[serde(default)]
    pub upstream_password_env: Option<String>,
    #[serde(default)]
    pub upstream_password_file: Option<String>,
    #[serde(default)]
    pub metadata_max_age: Option<u64>,
    #[serde(default)]
    pub negative_cache_ttl: Option<u64>,
    #[serde(default)]
    pub upstream_timeout: Option<u64>,
    #[serde(default)]
    pub auto_block: Option<bool>,
    /// Group.
    #[serde(default)]
    pub members: Option<Vec<String>>,
    #[serde(default)]
    pub writable_member: Option<String>,
    /// Cleanup policies (names) that run on it: hosted and proxy.
    #[serde(default)]
    pub cleanup_policies: Option<Vec<String>>,
    /// Hosted: the hard quota in bytes (writes past it are refused) and the soft one (a warning).
    #[serde(default)]
    pub quota_bytes: Option<u64>,
    #[serde(default)]
    pub quota_soft_bytes: Option<u64>,
    /// Hosted, of a format with tags (docker): tag patterns pushed once and never moved or
    /// deleted, except by an administrator's explicit override.
    #[serde(default)]
    pub immutable_tags: Option<Vec<String>>,
    /// Proxy: the cache's limit in bytes; past it, garbage collection evicts the least
    /// recently downloaded content.
    #[serde(default)]
    pub max_cache_bytes: Option<u64>,
}

fn docker() -> String {
    "docker".into()
}

impl RepoInput {
    /// The input a view would be edited from (the console's edit form).
    pub fn from_view(v: &RepoView) -> RepoInput {
        let mut input = RepoInput {
            name: v.name.clone(),
            format: v.format.clone(),
            options: v.options.clone(),
            kind: kind_name(v.kind).into(),
            force_basic_auth: v.force_basic_auth,
            routing_rule: v.routing_rule.clone(),
            connector: v.connector.clone(),
            cleanup_policies: (!v.cleanup_policies.is_empty()).then(|| v.cleanup_policies.clone()),
            quota_bytes: v.quota_bytes,
            quota_soft_bytes: v.quota_soft_bytes,
            immutable_tags: (!v.immutable_tags.is_empty()).then(|| v.immutable_tags.clone()),
            ..Default::default()
        };
        match &v.settings {
            KindConfig::Hosted { write_policy } => {
                input.write_policy = Some(write_policy_name(*write_policy).into());
            }
            KindConfig::Proxy(p) => {
                input.remote = Some(p.remote.clone());
                input.upstream_username = p.upstream_username.clone();
                input.upstream_password_env = p.upstream_password_env.clone();
                input.upstream_password_file = p.upstream_password_file.clone();
                input.metadata_max_age = Some(p.metadata_max_age);
                input.negative_cache_ttl = Some(p.negative_cache_ttl);
                input.upstream_timeout = Some(p.upstream_timeout);
                input.auto_block = Some(p.auto_block);
                input.max_cache_bytes = p.max_cache_bytes;
            }
            KindConfig::Group {
                members,
                writable_member,
            } => {
                input.members = Some(members.clone());
                input.writable_member = writable_member.clone();
            }
        }
        input
    }
}

pub fn kind_name(k: RepoKind) -> &'static str {
    match k {
        RepoKind::Hosted => "hosted",
        RepoKind::Proxy => "proxy",
        RepoKind::Group => "group",
    }
}

pub fn write_policy_name(w: WritePolicy) -> &'static str {
    match w {
        WritePolicy::Allow => "allow",
        WritePolicy::AllowOnce => "allow_once",
        WritePolicy::Deny => "deny",
    }
}

impl Service {
    /// The repositories `caller` may browse (every one for an administrator), by name.
    pub async fn repositories(&self, caller: &Actor) -> ServiceResult<Vec<RepoView>> {
        let records = self.meta.repos().records().await?;
        let usage = self.meta.assets().usage().await?;
        let admin = self.is_admin(caller);
        Ok(records
            .iter()
            .filter(|r| admin || self.may(caller, Action::Browse, &r.config))
            .map(|r| self.view(r, &usage))
            .collect())
    }

    /// Every repository, for views that already checked the caller (the dashboard, metrics).
    pub(crate) async fn all_repositories(&self) -> ServiceResult<Vec<RepoView>> {
        let records = self.meta.repos().records().await?;
        let usage = self.meta.assets().usage().await?;
        Ok(records.iter().map(|r| self.view(r, &usage)).collect())
    }

    /// One repository, if `caller` may browse it.
    pub async fn repository(&self, caller: &Actor, name: &str) -> ServiceResult<RepoView> {
        let records = self.meta.repos().records().await?;
        let record = records
            .iter()
            .find(|r| r.config.name.as_str() == name)
            .ok_or_else(|| ServiceError::not_found(format!("no repository named {name}")))?;
        if !self.is_admin(caller) && !self.may(caller, Action::Browse, &record.config) {
            return Err(self.denied(caller, Action::Browse, name));
        }
        let usage = self.meta.assets().usage().await?;
        Ok(self.view(record, &usage))
    }

    pub async fn create_repository(
        &self,
        caller: &Actor,
        input: &RepoInput,
    ) -> ServiceResult<RepoView> {
        self.require_admin(caller)?;
        let decl = self.validate_repo(input, None).await?;
        self.meta.repos().create(&decl, UI).await?;
        let applied = self.refresh().await;
        tracing::info!(repository = %decl.name, by = %caller, "repository created");
        let after = self.repository(caller, decl.name.as_str()).await;
        self.record(
            caller,
            "create",
            "repository",
            decl.name.as_str(),
            None,
            after.as_ref().ok().and_then(json_of),
        )
        .await;
        applied?;
        after
    }

    pub async fn update_repository(
        &self,
        caller: &Actor,
        name: &str,
        input: &RepoInput,
    ) -> ServiceResult<RepoView> {
        self.require_admin(caller)?;
        if input.name != name {
            return Err(ServiceError::invalid(
                "name",
                format!("a repository cannot be renamed ({name} → {})", input.name),
            ));
        }
        let decl = self.validate_repo(input, Some(name)).await?;
        let before = self.repository(caller, name).await.ok();
        self.meta.repos().update(&decl, UI).await?;
        let applied = self.refresh().await;
        tracing::info!(repository = %name, by = %caller, "repository updated");
        let after = self.repository(caller, name).await;
        self.record(
            caller,
            "update",
            "repository",
            name,
            before.as_ref().and_then(json_of),
            after.as_ref().ok().and_then(json_of),
        )
        .await;
        applied?;
        after
    }

    /// Deletes a repository and its content (other repositories' blobs stay). Groups that
    /// list it as a member are refused first.
    pub async fn delete_repository(&self, caller: &Actor, name: &str) -> ServiceResult<()> {
        self.require_admin(caller)?;
        let records = self.meta.repos().records().await?;
        let in_groups: Vec<&str> = records
            .iter()
            .filter(|r| match &r.config.kind {
                KindConfig::Group { members, .. } => members.iter().any(|m| m == name),
                _ => false,
            })
            .map(|r| r.config.name.as_str())
            .collect();
        if !in_groups.is_empty() {
            return Err(ServiceError::Invalid {
                field: None,
                message: format!(
                    "{name} is a member of group(s) {}; remove it from them first",
                    in_groups.join(", ")
                ),
            });
        }
        let before = self.repository(caller, name).await.ok();
        self.meta.repos().delete(name, UI).await?;
        let applied = self.refresh().await;
        tracing::info!(repository = %name, by = %caller, "repository deleted");
        self.record(
            caller,
            "delete",
            "repository",
            name,
            before.as_ref().and_then(json_of),
            None,
        )
        .await;
        applied
    }

    fn may(&self, caller: &Actor, action: Action, repo: &RepositoryConfig) -> bool {
        self.auth
            .authorize_rights(&caller.identity, action, repo)
            .is_ok()
    }

    pub(crate) fn denied(&self, caller: &Actor, action: Action, repo: &str) -> ServiceError {
        if caller.is_anonymous() {
            ServiceError::Unauthenticated {
                message: "authentication required".into(),
            }
        } else {
            ServiceError::forbidden(format!(
                "{caller} may not {} repository {repo}",
                action.as_str()
            ))
        }
    }

    fn view(&self, r: &RepoRecord, usage: &[RepoUsage]) -> RepoView {
        let name = r.config.name.as_str();
        let ports = self.node.connector_ports(name);
        let usage = usage
            .iter()
            .find(|u| u.repo == name)
            .cloned()
            .unwrap_or_else(|| RepoUsage {
                repo: name.to_owned(),
                ..Default::default()
            });
        let life = &r.config.lifecycle;
        let used = usage.bytes.max(0) as u64;
        let quota =
            (life.quota_bytes.is_some() || life.quota_soft_bytes.is_some()).then(|| QuotaView {
                used_bytes: used,
                hard_bytes: life.quota_bytes,
                soft_bytes: life.quota_soft_bytes,
                over_soft: life.quota_soft_bytes.is_some_and(|q| used > q),
                at_hard: life.quota_bytes.is_some_and(|q| used >= q),
            });
        let h = trove_core::lifecycle::human_bytes;
        let mut warnings = Vec::new();
        if let Some(q) = &quota {
            if q.at_hard {
                warnings.push(format!(
                    "at its hard quota: {} of quota_bytes {}; pushes that add content are refused",
                    h(used),
                    h(q.hard_bytes.unwrap_or(0))
                ));
            } else if q.over_soft {
                warnings.push(format!(
                    "over its soft quota: {} of quota_soft_bytes {}",
                    h(used),
                    h(q.soft_bytes.unwrap_or(0))
                ));
            }
        }
        if let KindConfig::Proxy(p) = &r.config.kind
            && let Some(max) = p.max_cache_bytes
            && used > max
        {
            warnings.push(format!(
                "its cache holds {} of max_cache_bytes {}; the next garbage collection evicts the least recently downloaded content",
                h(used),
                h(max)
            ));
        }
        RepoView {
            name: name.to_owned(),
            format: r.config.format.to_string(),
            options: r.config.options.clone(),
            kind: r.config.kind(),
            online: r.config.online,
            managed_by: r.managed_by.clone(),
            read_only: read_only_reason(&r.managed_by),
            path_url: format!("/repository/{name}/"),
            connector: r.connector.clone(),
            http_port: ports.0,
            https_port: ports.1,
            force_basic_auth: r.config.force_basic_auth,
            routing_rule: r.config.routing_rule.clone(),
            settings: r.config.kind.clone(),
            usage,
            upstream: self.node.upstream(name),
            problem: self.node.problem(name),
            cleanup_policies: life.cleanup_policies.clone(),
            quota_bytes: life.quota_bytes,
            quota_soft_bytes: life.quota_soft_bytes,
            immutable_tags: life.immutable_tags.clone(),
            quota,
            warnings,
            created: r.created,
            updated: r.updated,
        }
    }

    /// Checks every field against the current repositories and routing rules (the rules of
    /// [`crate::validate`]) and builds the row. `existing` is the name being edited.
    async fn validate_repo(
        &self,
        input: &RepoInput,
        existing: Option<&str>,
    ) -> ServiceResult<DeclaredRepo> {
        let records = self.meta.repos().records().await?;
        if existing.is_none()
            && records
                .iter()
                .any(|r| r.config.name.as_str() == input.name.trim())
        {
            return Err(ServiceError::Conflict {
                message: format!("a repository named {} already exists", input.name.trim()),
            });
        }
        let others: Vec<Neighbour> = records
            .iter()
            .filter(|r| Some(r.config.name.as_str()) != existing)
            .map(|r| Neighbour::of(&r.config, r.connector.as_ref()))
            .collect();
        let rules: Vec<String> = self
            .meta
            .rules()
            .list()
            .await?
            .into_iter()
            .map(|r| r.name)
            .collect();
        let policies: Vec<(String, String)> = self
            .meta
            .cleanup()
            .list()
            .await?
            .into_iter()
            .map(|p| (p.name, p.format))
            .collect();
        validate::repository(
            input,
            &Surroundings {
                others: &others,
                rules: &rules,
                policies: &policies,
                main_port: self.node.info().main_port,
                source: Source::Service,
            },
        )
    }
}
