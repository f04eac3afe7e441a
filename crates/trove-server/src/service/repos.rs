//! Repositories: list, show, create, edit, delete. The input has the keys of a
//! `[[repository]]` table in trove.toml, so what people write in the file, in the API and in
//! the console is one vocabulary.

use serde::{Deserialize, Serialize};
use trove_auth::{Action, Principal};
use trove_core::{
    ConnectorSpec, KindConfig, ProxyConfig, RepoKind, RepoName, RepositoryConfig, WritePolicy,
};
use trove_store::{DeclaredRepo, RepoRecord, RepoUsage};

use super::{Service, ServiceError, ServiceResult, UI, read_only_reason};

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
    pub created: i64,
    pub updated: i64,
}

/// A proxy's upstream health.
#[derive(Debug, Clone, Serialize)]
pub struct UpstreamView {
    pub remote: String,
    /// `false` while auto-blocked.
    pub available: bool,
    pub blocked_until: Option<i64>,
    pub consecutive_failures: u32,
    pub last_error: Option<String>,
    pub requests: u64,
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
}

fn docker() -> String {
    "docker".into()
}

fn none_if_blank(s: &Option<String>) -> Option<String> {
    s.as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
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
    pub async fn repositories(&self, caller: &Principal) -> ServiceResult<Vec<RepoView>> {
        let records = self.trove.meta.repos().records().await?;
        let usage = self.trove.meta.assets().usage().await?;
        let admin = self.trove.auth.authorizer.is_admin(caller);
        Ok(records
            .iter()
            .filter(|r| admin || self.may(caller, Action::Browse, &r.config))
            .map(|r| self.view(r, &usage))
            .collect())
    }

    /// One repository, if `caller` may browse it.
    pub async fn repository(&self, caller: &Principal, name: &str) -> ServiceResult<RepoView> {
        let records = self.trove.meta.repos().records().await?;
        let record = records
            .iter()
            .find(|r| r.config.name.as_str() == name)
            .ok_or_else(|| ServiceError::not_found(format!("no repository named {name}")))?;
        if !self.trove.auth.authorizer.is_admin(caller)
            && !self.may(caller, Action::Browse, &record.config)
        {
            return Err(self.denied(caller, Action::Browse, name));
        }
        let usage = self.trove.meta.assets().usage().await?;
        Ok(self.view(record, &usage))
    }

    pub async fn create_repository(
        &self,
        caller: &Principal,
        input: &RepoInput,
    ) -> ServiceResult<RepoView> {
        self.require_admin(caller)?;
        let decl = self.validate_repo(input, None).await?;
        self.trove.meta.repos().create(&decl, UI).await?;
        self.refresh().await?;
        tracing::info!(repository = %decl.name, by = %caller, "repository created");
        self.repository(caller, decl.name.as_str()).await
    }

    pub async fn update_repository(
        &self,
        caller: &Principal,
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
        self.trove.meta.repos().update(&decl, UI).await?;
        self.refresh().await?;
        tracing::info!(repository = %name, by = %caller, "repository updated");
        self.repository(caller, name).await
    }

    /// Deletes a repository and its content (other repositories' blobs stay). Groups that
    /// list it as a member are refused first.
    pub async fn delete_repository(&self, caller: &Principal, name: &str) -> ServiceResult<()> {
        self.require_admin(caller)?;
        let records = self.trove.meta.repos().records().await?;
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
        self.trove.meta.repos().delete(name, UI).await?;
        self.refresh().await?;
        tracing::info!(repository = %name, by = %caller, "repository deleted");
        Ok(())
    }

    fn may(&self, caller: &Principal, action: Action, repo: &RepositoryConfig) -> bool {
        self.trove
            .auth
            .authorizer
            .check(caller, action, repo)
            .is_ok()
    }

    pub(super) fn denied(&self, caller: &Principal, action: Action, repo: &str) -> ServiceError {
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
            http_port: self.trove.connectors.http_addr(name).map(|a| a.port()),
            https_port: self.trove.connectors.https_addr(name).map(|a| a.port()),
            force_basic_auth: r.config.force_basic_auth,
            routing_rule: r.config.routing_rule.clone(),
            settings: r.config.kind.clone(),
            usage: usage
                .iter()
                .find(|u| u.repo == name)
                .cloned()
                .unwrap_or_else(|| RepoUsage {
                    repo: name.to_owned(),
                    ..Default::default()
                }),
            upstream: self.trove.upstream_status(name).map(|s| UpstreamView {
                remote: s.remote,
                available: s.available,
                blocked_until: s.blocked_until,
                consecutive_failures: s.consecutive_failures,
                last_error: s.last_error,
                requests: s.gets + s.heads + s.token_requests,
            }),
            created: r.created,
            updated: r.updated,
        }
    }

    /// Checks every field against the current repositories (names, members, ports, rules)
    /// and builds the row. `existing` is the name being edited.
    async fn validate_repo(
        &self,
        input: &RepoInput,
        existing: Option<&str>,
    ) -> ServiceResult<DeclaredRepo> {
        let name =
            RepoName::parse(input.name.trim()).map_err(|e| ServiceError::invalid("name", e.msg))?;
        let format = trove_formats::registry()
            .find(input.format.trim())
            .map_err(|e| ServiceError::invalid("format", e))?;
        let records = self.trove.meta.repos().records().await?;
        if existing.is_none() && records.iter().any(|r| r.config.name == name) {
            return Err(ServiceError::Conflict {
                message: format!("a repository named {name} already exists"),
            });
        }
        let others: Vec<&RepoRecord> = records
            .iter()
            .filter(|r| Some(r.config.name.as_str()) != existing)
            .collect();
        let kind = match input.kind.as_str() {
            "hosted" => KindConfig::Hosted {
                write_policy: match input.write_policy.as_deref().unwrap_or("allow") {
                    "" | "allow" => WritePolicy::Allow,
                    "allow_once" => WritePolicy::AllowOnce,
                    "deny" => WritePolicy::Deny,
                    other => {
                        return Err(ServiceError::invalid(
                            "write_policy",
                            format!("{other:?} is not one of allow, allow_once, deny"),
                        ));
                    }
                },
            },
            "proxy" => KindConfig::Proxy(proxy_config(input)?),
            "group" => {
                let members: Vec<String> = input
                    .members
                    .iter()
                    .flatten()
                    .map(|m| m.trim().to_owned())
                    .filter(|m| !m.is_empty())
                    .collect();
                for m in &members {
                    if m == name.as_str() {
                        return Err(ServiceError::invalid(
                            "members",
                            "a group cannot contain itself",
                        ));
                    }
                    let Some(rec) = others.iter().find(|r| r.config.name.as_str() == m) else {
                        return Err(ServiceError::invalid(
                            "members",
                            format!("no repository named {m}"),
                        ));
                    };
                    if rec.config.format != input.format.trim() {
                        return Err(ServiceError::invalid(
                            "members",
                            format!(
                                "{m} is a {} repository, not {}",
                                rec.config.format, input.format
                            ),
                        ));
                    }
                }
                let writable = none_if_blank(&input.writable_member);
                if let Some(w) = &writable {
                    let hosted = others.iter().any(|r| {
                        r.config.name.as_str() == w
                            && matches!(r.config.kind, KindConfig::Hosted { .. })
                    });
                    trove_group::check_writable_member(name.as_str(), &members, Some(w))
                        .map_err(|e| ServiceError::invalid("writable_member", e.msg))?;
                    if !hosted {
                        return Err(ServiceError::invalid(
                            "writable_member",
                            format!("{w} is not a hosted repository"),
                        ));
                    }
                }
                let mut groups: Vec<(String, Vec<String>)> = others
                    .iter()
                    .filter_map(|r| match &r.config.kind {
                        KindConfig::Group { members, .. } => {
                            Some((r.config.name.to_string(), members.clone()))
                        }
                        _ => None,
                    })
                    .collect();
                groups.push((name.to_string(), members.clone()));
                trove_group::check_cycles(&groups)
                    .map_err(|e| ServiceError::invalid("members", e.msg))?;
                KindConfig::Group {
                    members,
                    writable_member: writable,
                }
            }
            other => {
                return Err(ServiceError::invalid(
                    "kind",
                    format!("{other:?} is not one of hosted, proxy, group"),
                ));
            }
        };
        if !matches!(kind, KindConfig::Proxy(_)) {
            let set = proxy_keys(input);
            if !set.is_empty() {
                return Err(ServiceError::invalid(
                    set[0],
                    format!("{} is a proxy setting", set[0]),
                ));
            }
        }
        if !matches!(kind, KindConfig::Group { .. })
            && (input.members.as_ref().is_some_and(|m| !m.is_empty())
                || none_if_blank(&input.writable_member).is_some())
        {
            return Err(ServiceError::invalid(
                "members",
                "members and writable_member are group settings",
            ));
        }
        let routing_rule = none_if_blank(&input.routing_rule);
        if let Some(rule) = &routing_rule
            && !self
                .trove
                .meta
                .rules()
                .list()
                .await?
                .iter()
                .any(|r| &r.name == rule)
        {
            return Err(ServiceError::invalid(
                "routing_rule",
                format!("no routing rule named {rule}"),
            ));
        }
        let connector = self.validate_connector(input.connector.as_ref(), &others)?;
        let repo_kind = match &kind {
            KindConfig::Hosted { .. } => RepoKind::Hosted,
            KindConfig::Proxy(_) => RepoKind::Proxy,
            KindConfig::Group { .. } => RepoKind::Group,
        };
        if !format.info().kinds.contains(&repo_kind) {
            return Err(ServiceError::invalid(
                "kind",
                format!(
                    "a {} repository cannot be {}",
                    format.id(),
                    repo_kind.as_str()
                ),
            ));
        }
        format
            .check_options(repo_kind, &input.options)
            .map_err(|e| ServiceError::invalid("options", e))?;
        Ok(DeclaredRepo {
            name,
            format: format.id(),
            options: input.options.clone(),
            kind,
            force_basic_auth: input.force_basic_auth,
            routing_rule,
            connector,
        })
    }

    fn validate_connector(
        &self,
        c: Option<&ConnectorSpec>,
        others: &[&RepoRecord],
    ) -> ServiceResult<Option<ConnectorSpec>> {
        let Some(c) = c else { return Ok(None) };
        let c = ConnectorSpec {
            http: c.http,
            https: c.https,
            certificate: none_if_blank(&c.certificate),
            key: none_if_blank(&c.key),
        };
        let main = self.trove.server.listen.port();
        for (field, port) in [("connector.http", c.http), ("connector.https", c.https)] {
            let Some(port) = port else { continue };
            if port == 0 {
                continue;
            }
            if port == main {
                return Err(ServiceError::invalid(
                    field,
                    format!("port {port} is the main port"),
                ));
            }
            if let Some(r) = others.iter().find(|r| {
                r.connector
                    .as_ref()
                    .is_some_and(|o| o.http == Some(port) || o.https == Some(port))
            }) {
                return Err(ServiceError::invalid(
                    field,
                    format!(
                        "port {port} is already used by repository {}",
                        r.config.name
                    ),
                ));
            }
        }
        if c.http.is_some() && c.http == c.https {
            return Err(ServiceError::invalid(
                "connector.https",
                "the http and https ports must differ",
            ));
        }
        if c.https.is_some() && (c.certificate.is_none() || c.key.is_none()) {
            return Err(ServiceError::invalid(
                "connector.certificate",
                "an https port needs certificate and key (PEM file paths on the server)",
            ));
        }
        Ok((!c.is_empty()).then_some(c))
    }
}

fn proxy_keys(i: &RepoInput) -> Vec<&'static str> {
    [
        ("remote", none_if_blank(&i.remote).is_some()),
        (
            "upstream_username",
            none_if_blank(&i.upstream_username).is_some(),
        ),
        (
            "upstream_password_env",
            none_if_blank(&i.upstream_password_env).is_some(),
        ),
        (
            "upstream_password_file",
            none_if_blank(&i.upstream_password_file).is_some(),
        ),
        ("metadata_max_age", i.metadata_max_age.is_some()),
        ("negative_cache_ttl", i.negative_cache_ttl.is_some()),
        ("upstream_timeout", i.upstream_timeout.is_some()),
        ("auto_block", i.auto_block.is_some()),
    ]
    .into_iter()
    .filter(|(_, on)| *on)
    .map(|(k, _)| k)
    .collect()
}

/// A proxy's settings from the input, validated: the one set of rules for trove.toml, the API
/// and the console.
pub fn proxy_config(i: &RepoInput) -> ServiceResult<ProxyConfig> {
    let remote = none_if_blank(&i.remote).ok_or_else(|| {
        ServiceError::invalid(
            "remote",
            "a proxy needs remote = \"https://upstream.example\" (the upstream's URL)",
        )
    })?;
    match url::Url::parse(&remote) {
        Ok(u) if matches!(u.scheme(), "http" | "https") && u.host().is_some() => {}
        _ => {
            return Err(ServiceError::invalid(
                "remote",
                format!("{remote:?} is not an http:// or https:// URL"),
            ));
        }
    }
    if none_if_blank(&i.write_policy).is_some() {
        return Err(ServiceError::invalid(
            "write_policy",
            "write_policy is a hosted setting; a proxy is read-only",
        ));
    }
    let username = none_if_blank(&i.upstream_username);
    let env = none_if_blank(&i.upstream_password_env);
    let file = none_if_blank(&i.upstream_password_file);
    if env.is_some() && file.is_some() {
        return Err(ServiceError::invalid(
            "upstream_password_file",
            "set upstream_password_env or upstream_password_file, not both",
        ));
    }
    if username.is_some() != (env.is_some() || file.is_some()) {
        return Err(ServiceError::invalid(
            "upstream_username",
            "upstream_username goes with upstream_password_env or upstream_password_file \
             (passwords are read from the server's environment or a file, never stored)",
        ));
    }
    Ok(ProxyConfig {
        remote,
        upstream_username: username,
        upstream_password_env: env,
        upstream_password_file: file,
        metadata_max_age: i
            .metadata_max_age
            .unwrap_or_else(ProxyConfig::default_metadata_max_age),
        negative_cache_ttl: i
            .negative_cache_ttl
            .unwrap_or_else(ProxyConfig::default_negative_cache_ttl),
        upstream_timeout: i
            .upstream_timeout
            .unwrap_or_else(ProxyConfig::default_upstream_timeout),
        auto_block: i.auto_block.unwrap_or_else(ProxyConfig::default_auto_block),
    })
}
