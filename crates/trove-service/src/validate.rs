//! The rules of a repository definition, once: trove.toml's `[[repository]]` tables
//! (`trove-server`'s config), the REST API and the console all check a [`RepoInput`] with
//! [`repository`] against the repositories around it. Errors name the input field
//! (`connector.http`); the config file puts the repository's name in front.
//!
//! Whether the name is free is not checked here: the file refuses a name declared twice, the
//! service a name that exists.

use trove_core::{
    ConnectorSpec, KindConfig, ProxyConfig, RepoKind, RepoName, RepositoryConfig, WritePolicy,
};
use trove_store::DeclaredRepo;

use crate::{RepoInput, ServiceError, ServiceResult};

/// Where a definition comes from; it only changes how a missing reference is worded (the
/// file says what to declare).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// trove.toml.
    File,
    /// The console or the REST API.
    Service,
}

/// Another repository, as far as the rules need to know it.
#[derive(Debug, Clone)]
pub struct Neighbour {
    pub name: String,
    pub format: String,
    pub kind: RepoKind,
    /// A group's members.
    pub members: Vec<String>,
    /// Connector ports it holds (not 0, which picks a free one).
    pub ports: Vec<u16>,
}

impl Neighbour {
    /// A repository from its row.
    pub fn of(config: &RepositoryConfig, connector: Option<&ConnectorSpec>) -> Neighbour {
        Neighbour {
            name: config.name.to_string(),
            format: config.format.to_string(),
            kind: config.kind(),
            members: match &config.kind {
                KindConfig::Group { members, .. } => members.clone(),
                _ => Vec::new(),
            },
            ports: connector
                .into_iter()
                .flat_map(|c| [c.http, c.https])
                .flatten()
                .filter(|p| *p != 0)
                .collect(),
        }
    }
}

/// What a definition is checked against.
pub struct Surroundings<'a> {
    /// Every other repository (not the one being defined).
    pub others: &'a [Neighbour],
    /// The routing rules that exist, by name.
    pub rules: &'a [String],
    /// The cleanup policies that exist: `(name, format)` (`*` for any format).
    pub policies: &'a [(String, String)],
    /// The main port, which no connector may take.
    pub main_port: u16,
    pub source: Source,
}

fn none_if_blank(s: &Option<String>) -> Option<String> {
    s.as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
}

/// Checks every field of `input` and builds the row.
pub fn repository(input: &RepoInput, around: &Surroundings<'_>) -> ServiceResult<DeclaredRepo> {
    let name =
        RepoName::parse(input.name.trim()).map_err(|e| ServiceError::invalid("name", e.msg))?;
    let format = trove_formats::registry()
        .find(input.format.trim())
        .map_err(|e| ServiceError::invalid("format", e))?;
    let kind = match input.kind.as_str() {
        "hosted" => {
            if let Some(key) = proxy_keys(input).first() {
                return Err(ServiceError::invalid(
                    key,
                    format!("{key} is a proxy setting; this repository is hosted"),
                ));
            }
            KindConfig::Hosted {
                write_policy: write_policy(input)?,
            }
        }
        "proxy" => KindConfig::Proxy(proxy_config(input)?),
        "group" => group(&name, input, around)?,
        other => {
            return Err(ServiceError::invalid(
                "kind",
                format!("{other:?} is not one of hosted, proxy, group"),
            ));
        }
    };
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
        && !around.rules.iter().any(|r| r == rule)
    {
        return Err(ServiceError::invalid(
            "routing_rule",
            match around.source {
                Source::File => {
                    format!("routing_rule {rule:?} is not declared as a [[routing_rule]]")
                }
                Source::Service => format!("no routing rule named {rule}"),
            },
        ));
    }
    let connector = connector(input.connector.as_ref(), around)?;
    let repo_kind = kind_of(&kind);
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
    let lifecycle = lifecycle(input, repo_kind, format, around)?;
    Ok(DeclaredRepo {
        name,
        format: format.id(),
        options: input.options.clone(),
        kind,
        force_basic_auth: input.force_basic_auth,
        routing_rule,
        connector,
        lifecycle,
    })
}

/// The lifecycle keys: cleanup policies that exist and fit the format (hosted and proxy),
/// quotas (hosted; the soft one below the hard one), immutable tags (hosted, of a format
/// with tags; valid patterns).
fn lifecycle(
    input: &RepoInput,
    kind: RepoKind,
    format: &dyn trove_formats::Format,
    around: &Surroundings<'_>,
) -> ServiceResult<trove_core::RepoLifecycle> {
    let policies: Vec<String> = input
        .cleanup_policies
        .iter()
        .flatten()
        .map(|p| p.trim().to_owned())
        .filter(|p| !p.is_empty())
        .collect();
    if !policies.is_empty() && kind == RepoKind::Group {
        return Err(ServiceError::invalid(
            "cleanup_policies",
            "cleanup_policies is a hosted and proxy setting; a group has no content of its own",
        ));
    }
    for p in &policies {
        let Some((_, pf)) = around.policies.iter().find(|(n, _)| n == p) else {
            return Err(ServiceError::invalid(
                "cleanup_policies",
                match around.source {
                    Source::File => {
                        format!("cleanup policy {p:?} is not declared as a [[cleanup_policy]]")
                    }
                    Source::Service => format!("no cleanup policy named {p}"),
                },
            ));
        };
        if pf != "*" && pf.as_str() != format.id().as_str() {
            return Err(ServiceError::invalid(
                "cleanup_policies",
                format!(
                    "cleanup policy {p} is for {pf} repositories, not {}",
                    format.id()
                ),
            ));
        }
    }
    for (field, v) in [
        ("quota_bytes", input.quota_bytes),
        ("quota_soft_bytes", input.quota_soft_bytes),
    ] {
        if v.is_some() && kind != RepoKind::Hosted {
            return Err(ServiceError::invalid(
                field,
                match kind {
                    RepoKind::Proxy => format!(
                        "{field} is a hosted setting; a proxy is bounded by max_cache_bytes"
                    ),
                    _ => format!("{field} is a hosted setting; a group has no content of its own"),
                },
            ));
        }
        if v == Some(0) {
            return Err(ServiceError::invalid(
                field,
                format!("{field} must be more than 0"),
            ));
        }
    }
    if let (Some(hard), Some(soft)) = (input.quota_bytes, input.quota_soft_bytes)
        && soft > hard
    {
        return Err(ServiceError::invalid(
            "quota_soft_bytes",
            format!(
                "quota_soft_bytes ({soft}) is above quota_bytes ({hard}); a soft quota warns before the hard one refuses"
            ),
        ));
    }
    let immutable: Vec<String> = input
        .immutable_tags
        .iter()
        .flatten()
        .map(|p| p.trim().to_owned())
        .filter(|p| !p.is_empty())
        .collect();
    if !immutable.is_empty() {
        if !format.has_tags() {
            return Err(ServiceError::invalid(
                "immutable_tags",
                format!(
                    "immutable_tags is for formats with tags; {} has none",
                    format.id()
                ),
            ));
        }
        if kind != RepoKind::Hosted {
            return Err(ServiceError::invalid(
                "immutable_tags",
                "immutable_tags is a hosted setting: tags are pushed to hosted repositories",
            ));
        }
        trove_formats::patterns::compile_all(&immutable)
            .map_err(|e| ServiceError::invalid("immutable_tags", e))?;
    }
    Ok(trove_core::RepoLifecycle {
        cleanup_policies: policies,
        quota_bytes: input.quota_bytes,
        quota_soft_bytes: input.quota_soft_bytes,
        immutable_tags: immutable,
    })
}

fn kind_of(k: &KindConfig) -> RepoKind {
    match k {
        KindConfig::Hosted { .. } => RepoKind::Hosted,
        KindConfig::Proxy(_) => RepoKind::Proxy,
        KindConfig::Group { .. } => RepoKind::Group,
    }
}

fn write_policy(input: &RepoInput) -> ServiceResult<WritePolicy> {
    match input.write_policy.as_deref().map(str::trim).unwrap_or("") {
        "" | "allow" => Ok(WritePolicy::Allow),
        "allow_once" => Ok(WritePolicy::AllowOnce),
        "deny" => Ok(WritePolicy::Deny),
        other => Err(ServiceError::invalid(
            "write_policy",
            format!("{other:?} is not one of allow, allow_once, deny"),
        )),
    }
}

fn group(
    name: &RepoName,
    input: &RepoInput,
    around: &Surroundings<'_>,
) -> ServiceResult<KindConfig> {
    if let Some(key) = proxy_keys(input).first() {
        return Err(ServiceError::invalid(
            key,
            format!("{key} is a proxy setting; this repository is a group"),
        ));
    }
    if none_if_blank(&input.write_policy).is_some() {
        return Err(ServiceError::invalid(
            "write_policy",
            "write_policy is a hosted setting; a group writes through writable_member",
        ));
    }
    let members: Vec<String> = input
        .members
        .iter()
        .flatten()
        .map(|m| m.trim().to_owned())
        .filter(|m| !m.is_empty())
        .collect();
    if members.is_empty() {
        return Err(ServiceError::invalid(
            "members",
            "a group needs members = [\"repo\", ...]: the repositories it asks, in order",
        ));
    }
    let format = input.format.trim();
    for m in &members {
        if m == name.as_str() {
            return Err(ServiceError::invalid(
                "members",
                "a group cannot contain itself",
            ));
        }
        let Some(member) = around.others.iter().find(|r| &r.name == m) else {
            return Err(ServiceError::invalid(
                "members",
                match around.source {
                    Source::File => format!("member {m:?} is not declared"),
                    Source::Service => format!("no repository named {m}"),
                },
            ));
        };
        if member.format != format {
            return Err(ServiceError::invalid(
                "members",
                format!("member {m} is a {} repository, not {format}", member.format),
            ));
        }
    }
    let writable = none_if_blank(&input.writable_member);
    if let Some(w) = &writable {
        trove_group::check_writable_member(name.as_str(), &members, Some(w))
            .map_err(|e| ServiceError::invalid("writable_member", e.msg))?;
        if !around
            .others
            .iter()
            .any(|r| &r.name == w && r.kind == RepoKind::Hosted)
        {
            return Err(ServiceError::invalid(
                "writable_member",
                format!("writable_member {w} must be a hosted repository"),
            ));
        }
    }
    let mut groups: Vec<(&str, &[String])> = around
        .others
        .iter()
        .filter(|r| r.kind == RepoKind::Group)
        .map(|r| (r.name.as_str(), r.members.as_slice()))
        .collect();
    groups.push((name.as_str(), &members));
    let groups: Vec<(&str, Vec<&String>)> = groups
        .into_iter()
        .map(|(g, m)| (g, m.iter().collect()))
        .collect();
    trove_group::check_cycles(&groups).map_err(|e| ServiceError::invalid("members", e.msg))?;
    Ok(KindConfig::Group {
        members,
        writable_member: writable,
    })
}

fn connector(
    c: Option<&ConnectorSpec>,
    around: &Surroundings<'_>,
) -> ServiceResult<Option<ConnectorSpec>> {
    let Some(c) = c else { return Ok(None) };
    let c = ConnectorSpec {
        http: c.http,
        https: c.https,
        certificate: none_if_blank(&c.certificate),
        key: none_if_blank(&c.key),
    };
    for (field, port) in [("connector.http", c.http), ("connector.https", c.https)] {
        let Some(port) = port.filter(|p| *p != 0) else {
            continue;
        };
        if port == around.main_port {
            return Err(ServiceError::invalid(
                field,
                format!("connector port {port} is already used by the main port"),
            ));
        }
        if let Some(r) = around.others.iter().find(|r| r.ports.contains(&port)) {
            return Err(ServiceError::invalid(
                field,
                format!(
                    "connector port {port} is already used by repository {}",
                    r.name
                ),
            ));
        }
    }
    if c.http.is_some_and(|p| p != 0) && c.http == c.https {
        return Err(ServiceError::invalid(
            "connector.https",
            "the http and https ports must differ",
        ));
    }
    match (c.https.is_some(), c.certificate.is_some(), c.key.is_some()) {
        (true, true, true) | (false, false, false) => {}
        (true, _, _) => {
            return Err(ServiceError::invalid(
                if c.certificate.is_none() {
                    "connector.certificate"
                } else {
                    "connector.key"
                },
                "an https port needs certificate and key (PEM file paths on the server)",
            ));
        }
        (false, ..) => {
            return Err(ServiceError::invalid(
                "connector.https",
                "certificate and key only make sense with an https port",
            ));
        }
    }
    Ok((!c.is_empty()).then_some(c))
}

/// The proxy keys `i` sets, by name.
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
        ("max_cache_bytes", i.max_cache_bytes.is_some()),
    ]
    .into_iter()
    .filter(|(_, on)| *on)
    .map(|(k, _)| k)
    .collect()
}

/// A proxy's settings from the input, validated.
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
        max_cache_bytes: match i.max_cache_bytes {
            Some(0) => {
                return Err(ServiceError::invalid(
                    "max_cache_bytes",
                    "max_cache_bytes must be more than 0 (leave it out for no limit)",
                ));
            }
            v => v,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input(json: serde_json::Value) -> RepoInput {
        serde_json::from_value(json).unwrap()
    }

    fn hosted(name: &str, ports: &[u16]) -> Neighbour {
        Neighbour {
            name: name.into(),
            format: "docker".into(),
            kind: RepoKind::Hosted,
            members: Vec::new(),
            ports: ports.to_vec(),
        }
    }

    fn check(
        json: serde_json::Value,
        others: &[Neighbour],
        source: Source,
    ) -> ServiceResult<DeclaredRepo> {
        let rules = ["team".to_owned()];
        let policies = [
            ("keep-2".to_owned(), "docker".to_owned()),
            ("files".to_owned(), "raw".to_owned()),
        ];
        repository(
            &input(json),
            &Surroundings {
                others,
                rules: &rules,
                policies: &policies,
                main_port: 8081,
                source,
            },
        )
    }

    #[track_caller]
    fn refused(r: ServiceResult<DeclaredRepo>, field: &str, says: &str) {
        let e = r.expect_err("refused");
        assert_eq!(e.field(), Some(field), "{e}");
        assert!(e.message().contains(says), "{e}");
    }

    /// The lifecycle keys: where each applies, what it must name, what it must be.
    #[test]
    fn lifecycle_keys() {
        let s = Source::Service;
        let ok = check(
            serde_json::json!({"name": "h", "kind": "hosted", "cleanup_policies": ["keep-2"],
                "quota_bytes": 100, "quota_soft_bytes": 80, "immutable_tags": [r"^v\d+$"]}),
            &[],
            s,
        )
        .unwrap();
        assert_eq!(ok.lifecycle.cleanup_policies, vec!["keep-2"]);
        assert_eq!(
            (ok.lifecycle.quota_bytes, ok.lifecycle.quota_soft_bytes),
            (Some(100), Some(80))
        );
        let proxy = check(
            serde_json::json!({"name": "p", "kind": "proxy", "remote": "https://x", "max_cache_bytes": 1000, "cleanup_policies": ["keep-2"]}),
            &[],
            s,
        )
        .unwrap();
        let KindConfig::Proxy(p) = proxy.kind else {
            panic!()
        };
        assert_eq!(p.max_cache_bytes, Some(1000));
        let cases = [
            (
                serde_json::json!({"name": "h", "kind": "hosted", "cleanup_policies": ["nope"]}),
                "cleanup_policies",
                "no cleanup policy named nope",
            ),
            (
                serde_json::json!({"name": "h", "kind": "hosted", "cleanup_policies": ["files"]}),
                "cleanup_policies",
                "for raw repositories",
            ),
            (
                serde_json::json!({"name": "h", "kind": "proxy", "remote": "https://x", "quota_bytes": 1}),
                "quota_bytes",
                "bounded by max_cache_bytes",
            ),
            (
                serde_json::json!({"name": "h", "kind": "hosted", "max_cache_bytes": 1}),
                "max_cache_bytes",
                "proxy setting",
            ),
            (
                serde_json::json!({"name": "h", "kind": "hosted", "quota_bytes": 10, "quota_soft_bytes": 20}),
                "quota_soft_bytes",
                "above quota_bytes",
            ),
            (
                serde_json::json!({"name": "h", "kind": "hosted", "quota_bytes": 0}),
                "quota_bytes",
                "more than 0",
            ),
            (
                serde_json::json!({"name": "h", "kind": "hosted", "immutable_tags": ["(x"]}),
                "immutable_tags",
                "not a valid regular expression",
            ),
            (
                serde_json::json!({"name": "h", "format": "raw", "kind": "hosted", "immutable_tags": ["x"]}),
                "immutable_tags",
                "formats with tags",
            ),
            (
                serde_json::json!({"name": "h", "kind": "proxy", "remote": "https://x", "immutable_tags": ["x"]}),
                "immutable_tags",
                "hosted setting",
            ),
        ];
        for (json, field, says) in cases {
            refused(check(json, &[], s), field, says);
        }
        refused(
            check(
                serde_json::json!({"name": "h", "kind": "hosted", "cleanup_policies": ["nope"]}),
                &[],
                Source::File,
            ),
            "cleanup_policies",
            "is not declared as a [[cleanup_policy]]",
        );
    }

    #[test]
    fn ports_are_the_main_port_or_taken() {
        let others = [hosted("a", &[5000])];
        let s = Source::Service;
        refused(
            check(
                serde_json::json!({"name": "b", "kind": "hosted", "connector": {"http": 8081}}),
                &others,
                s,
            ),
            "connector.http",
            "already used by the main port",
        );
        refused(
            check(
                serde_json::json!({"name": "b", "kind": "hosted", "connector": {"https": 5000, "certificate": "c", "key": "k"}}),
                &others,
                s,
            ),
            "connector.https",
            "already used by repository a",
        );
        refused(
            check(
                serde_json::json!({"name": "b", "kind": "hosted", "connector": {"http": 5001, "https": 5001, "certificate": "c", "key": "k"}}),
                &others,
                s,
            ),
            "connector.https",
            "must differ",
        );
        refused(
            check(
                serde_json::json!({"name": "b", "kind": "hosted", "connector": {"https": 5002, "certificate": "c"}}),
                &others,
                s,
            ),
            "connector.key",
            "needs certificate and key",
        );
        refused(
            check(
                serde_json::json!({"name": "b", "kind": "hosted", "connector": {"certificate": "c", "key": "k"}}),
                &others,
                s,
            ),
            "connector.https",
            "only make sense with an https port",
        );
        // 0 picks a free port: never a conflict.
        let d = check(
            serde_json::json!({"name": "b", "kind": "hosted", "connector": {"http": 0}}),
            &[hosted("a", &[])],
            s,
        )
        .unwrap();
        assert_eq!(d.connector.unwrap().http, Some(0));
    }

    #[test]
    fn groups_need_existing_members_of_their_format_and_no_cycle() {
        let mut g = hosted("g", &[]);
        g.kind = RepoKind::Group;
        g.members = vec!["h".into()];
        let others = [hosted("h", &[]), g];
        for (source, says) in [
            (Source::File, "member \"x\" is not declared"),
            (Source::Service, "no repository named x"),
        ] {
            refused(
                check(
                    serde_json::json!({"name": "n", "kind": "group", "members": ["x"]}),
                    &others,
                    source,
                ),
                "members",
                says,
            );
        }
        refused(
            check(
                serde_json::json!({"name": "n", "kind": "group"}),
                &others,
                Source::Service,
            ),
            "members",
            "a group needs members",
        );
        refused(
            check(
                serde_json::json!({"name": "n", "kind": "group", "members": ["h"], "write_policy": "deny"}),
                &others,
                Source::Service,
            ),
            "write_policy",
            "hosted setting",
        );
        refused(
            check(
                serde_json::json!({"name": "n", "kind": "group", "members": ["g"], "writable_member": "g"}),
                &others,
                Source::Service,
            ),
            "writable_member",
            "must be a hosted repository",
        );
        // g already contains h; h is not a group, so g → n is fine, n → g → h too.
        let d = check(serde_json::json!({"name": "n", "kind": "group", "members": ["g", "h"], "writable_member": "h"}), &others, Source::Service).unwrap();
        assert_eq!(
            d.kind,
            KindConfig::Group {
                members: vec!["g".into(), "h".into()],
                writable_member: Some("h".into())
            }
        );
        // Editing g to contain a group that contains g is a cycle.
        let mut n = hosted("n", &[]);
        n.kind = RepoKind::Group;
        n.members = vec!["g".into()];
        refused(
            check(
                serde_json::json!({"name": "g", "kind": "group", "members": ["n"]}),
                &[hosted("h", &[]), n],
                Source::Service,
            ),
            "members",
            "cycle",
        );
    }

    #[test]
    fn references_and_kind_settings() {
        for (source, says) in [
            (Source::File, "is not declared as a [[routing_rule]]"),
            (Source::Service, "no routing rule named nope"),
        ] {
            refused(
                check(
                    serde_json::json!({"name": "n", "kind": "hosted", "routing_rule": "nope"}),
                    &[],
                    source,
                ),
                "routing_rule",
                says,
            );
        }
        let d = check(
            serde_json::json!({"name": "n", "kind": "hosted", "routing_rule": "team"}),
            &[],
            Source::Service,
        )
        .unwrap();
        assert_eq!(d.routing_rule.as_deref(), Some("team"));
        refused(
            check(
                serde_json::json!({"name": "n", "kind": "hosted", "remote": "https://x"}),
                &[],
                Source::Service,
            ),
            "remote",
            "remote is a proxy setting; this repository is hosted",
        );
        refused(
            check(
                serde_json::json!({"name": "n", "kind": "hosted", "members": ["h"]}),
                &[],
                Source::Service,
            ),
            "members",
            "group settings",
        );
        refused(
            check(
                serde_json::json!({"name": "n", "format": "nope", "kind": "hosted"}),
                &[],
                Source::Service,
            ),
            "format",
            "unknown format",
        );
        refused(
            check(
                serde_json::json!({"name": "n", "kind": "hosted", "options": {"hub_index": true}}),
                &[],
                Source::Service,
            ),
            "options",
            "hub_index is a proxy setting",
        );
        let d = check(serde_json::json!({"name": "n", "kind": "proxy", "remote": "https://x", "options": {"hub_index": true}}), &[], Source::Service).unwrap();
        assert_eq!(d.options["hub_index"], serde_json::json!(true));
    }
}
