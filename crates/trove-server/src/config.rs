//! `trove.toml`: node bootstrap (`[server]`) plus the declarative section (`[[repository]]`).
//! Every key is documented in docs/config.md; `config/trove.toml` shows the embedded defaults.

use std::collections::HashSet;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use serde::Deserialize;
use trove_core::{ConnectorSpec, RepoKind, RepoName, WritePolicy};
use trove_service::RepoInput;
use trove_service::validate::{self, Neighbour, Source, Surroundings};
use trove_store::DeclaredRepo;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    #[serde(default)]
    pub server: ServerConfig,
    #[serde(default, rename = "repository")]
    pub repositories: Vec<RepoDecl>,
    #[serde(default)]
    pub security: SecurityConfig,
    #[serde(default, rename = "role")]
    pub roles: Vec<trove_auth::RoleDecl>,
    #[serde(default, rename = "user")]
    pub users: Vec<UserConfig>,
    #[serde(default, rename = "routing_rule")]
    pub routing_rules: Vec<trove_routing::RoutingRuleDecl>,
    #[serde(default)]
    pub audit: AuditConfig,
    /// `[ldap]`: the directory of the `ldap` realm (docs/security.md, "LDAP").
    #[serde(default)]
    pub ldap: Option<trove_auth::ldap::LdapConfig>,
    /// `[oidc]`: single sign-on for the console (docs/security.md, "OIDC").
    #[serde(default)]
    pub oidc: Option<trove_auth::oidc::OidcConfig>,
    /// `repositories` as rows, built by the checks of [`Config::from_toml_str`].
    #[serde(skip)]
    declared: Vec<DeclaredRepo>,
}

/// `[security]`: keys left out keep what the database has (set in the console, or defaults:
/// anonymous access off, both realms on).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SecurityConfig {
    /// Anonymous requests get the `anonymous` user's roles when on.
    pub anonymous: Option<bool>,
    /// Active realms: `"basic"` (HTTP Basic with local users) and `"docker-token"` (Bearer
    /// tokens from `/v2/token`).
    pub realms: Option<Vec<String>>,
    /// Bearer token lifetime in seconds (default 300).
    pub token_ttl: Option<u64>,
}

/// `[audit]`: the audit log (issue 16).
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditConfig {
    /// Days an entry is kept (default 365); `0` keeps every entry.
    pub retention_days: Option<u64>,
}

impl AuditConfig {
    pub const DEFAULT_RETENTION_DAYS: u64 = 365;

    pub fn retention_days(&self) -> u64 {
        self.retention_days.unwrap_or(Self::DEFAULT_RETENTION_DAYS)
    }
}

/// `[[user]]`. Passwords are read from an environment variable or a file, never written in the
/// config; a user declared without one keeps the password it has.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserConfig {
    pub name: String,
    pub password_env: Option<String>,
    pub password_file: Option<PathBuf>,
    /// Refused with a clear error: present only to say so.
    password: Option<toml::Value>,
    #[serde(default)]
    pub roles: Vec<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerConfig {
    /// Main port: path-based repository access (`/repository/<name>/v2/`), later the console.
    #[serde(default = "default_listen")]
    pub listen: SocketAddr,
    #[serde(default = "default_data_dir")]
    pub data_dir: PathBuf,
    /// Metadata database URL; default `sqlite://<data_dir>/trove.db`.
    pub database: Option<String>,
    #[serde(default)]
    pub blob_store: BlobStoreConfig,
    /// Reverse proxies (addresses or CIDR ranges) whose `X-Forwarded-Proto`, `-Host`, `-Port`
    /// and `-Prefix` headers shape the URLs Trove sends back (token realm, `Location`).
    /// From anyone else those headers are ignored.
    #[serde(default)]
    pub trusted_proxies: Vec<String>,
    /// HTTP worker threads per listener.
    #[serde(default = "default_workers")]
    pub workers: usize,
    /// Seconds a graceful shutdown waits for requests in flight.
    #[serde(default = "default_shutdown_timeout")]
    pub shutdown_timeout: u64,
    /// Hours an upload session may sit idle before it expires and its bytes are removed.
    #[serde(default = "default_upload_ttl_hours")]
    pub upload_ttl_hours: u64,
    /// A request body must send at least `body_min_bytes` in every `body_window` seconds, or
    /// it is cut off (a client trickling bytes to hold a connection); slow but steady uploads
    /// of any size go through.
    #[serde(default = "default_body_window")]
    pub body_window: u64,
    #[serde(default = "default_body_min_bytes")]
    pub body_min_bytes: u64,
}

impl ServerConfig {
    /// Where the blob store keeps its files.
    pub fn blob_dir(&self) -> PathBuf {
        match &self.blob_store {
            BlobStoreConfig::Fs { path: Some(p) } => p.clone(),
            _ => self.data_dir.join("blobs"),
        }
    }

    /// The body progress rule of every listener.
    pub fn body_progress(&self) -> trove_formats::kit::body::Progress {
        trove_formats::kit::body::Progress {
            window: std::time::Duration::from_secs(self.body_window.max(1)),
            min_bytes: self.body_min_bytes,
        }
    }
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, tag = "kind", rename_all = "lowercase")]
pub enum BlobStoreConfig {
    /// Blobs on a local filesystem; default path `<data_dir>/blobs`.
    #[default]
    #[serde(skip)]
    Default,
    Fs {
        path: Option<PathBuf>,
    },
}

fn default_listen() -> SocketAddr {
    "127.0.0.1:8081".parse().expect("valid")
}
fn default_data_dir() -> PathBuf {
    PathBuf::from("./data")
}
fn default_workers() -> usize {
    std::thread::available_parallelism().map_or(2, |n| n.get().min(4))
}
fn default_shutdown_timeout() -> u64 {
    30
}
fn default_upload_ttl_hours() -> u64 {
    24
}
fn default_body_window() -> u64 {
    trove_formats::kit::body::Progress::default()
        .window
        .as_secs()
}
fn default_body_min_bytes() -> u64 {
    trove_formats::kit::body::Progress::default().min_bytes
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            listen: default_listen(),
            data_dir: default_data_dir(),
            database: None,
            blob_store: BlobStoreConfig::Default,
            workers: default_workers(),
            shutdown_timeout: default_shutdown_timeout(),
            upload_ttl_hours: default_upload_ttl_hours(),
            body_window: default_body_window(),
            body_min_bytes: default_body_min_bytes(),
            trusted_proxies: Vec::new(),
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RepoDecl {
    pub name: RepoName,
    pub format: String,
    pub kind: RepoKind,
    /// The format's own settings (docker: `hub_index`), checked by the format.
    #[serde(default)]
    pub options: toml::Table,
    #[serde(default)]
    pub connector: Option<ConnectorDecl>,
    /// Refuse anonymous requests and anonymous tokens on this repository, even when anonymous
    /// access would allow them (Nexus' "force basic authentication").
    #[serde(default)]
    pub force_basic_auth: bool,
    /// The routing rule (`[[routing_rule]]` name) guarding this repository, any kind.
    pub routing_rule: Option<String>,
    /// Group only: member repositories, asked in this order.
    pub members: Option<Vec<String>>,
    /// Group only: the member that receives pushes (a hosted repository).
    pub writable_member: Option<String>,
    /// Hosted only: `allow` (default), `allow_once`, `deny`.
    #[serde(default)]
    pub write_policy: Option<WritePolicy>,
    /// Proxy only: the upstream's base URL (`https://registry-1.docker.io`).
    pub remote: Option<String>,
    /// Proxy only: credentials for a private upstream; the password comes from an environment
    /// variable or a file, never from this file.
    pub upstream_username: Option<String>,
    pub upstream_password_env: Option<String>,
    pub upstream_password_file: Option<PathBuf>,
    /// Refused with a clear error: present only to say so.
    upstream_password: Option<toml::Value>,
    /// Proxy only: seconds a cached tag is served before it is revalidated upstream (300).
    pub metadata_max_age: Option<u64>,
    /// Proxy only: seconds an upstream "not found" is remembered (60; 0 = off).
    pub negative_cache_ttl: Option<u64>,
    /// Proxy only: seconds to wait for the upstream to connect, answer or send more (60).
    pub upstream_timeout: Option<u64>,
    /// Proxy only: block the upstream for a while after repeated connection failures (true).
    pub auto_block: Option<bool>,
}

impl RepoDecl {
    /// `options` as the JSON object the format reads.
    fn options_json(&self) -> anyhow::Result<serde_json::Map<String, serde_json::Value>> {
        match serde_json::to_value(&self.options)? {
            serde_json::Value::Object(m) => Ok(m),
            _ => bail!("repository {}: options must be a table", self.name),
        }
    }

    /// The declaration as the service layer's input, whose rules this file shares.
    fn input(&self) -> anyhow::Result<RepoInput> {
        Ok(RepoInput {
            name: self.name.to_string(),
            format: self.format.clone(),
            kind: trove_service::kind_name(self.kind).into(),
            options: self.options_json()?,
            force_basic_auth: self.force_basic_auth,
            routing_rule: self.routing_rule.clone(),
            connector: self.connector.as_ref().map(|c| ConnectorSpec {
                http: c.http,
                https: c.https,
                certificate: c.certificate.as_ref().map(|p| p.display().to_string()),
                key: c.key.as_ref().map(|p| p.display().to_string()),
            }),
            write_policy: self
                .write_policy
                .map(|w| trove_service::write_policy_name(w).to_owned()),
            remote: self.remote.clone(),
            upstream_username: self.upstream_username.clone(),
            upstream_password_env: self.upstream_password_env.clone(),
            upstream_password_file: self
                .upstream_password_file
                .as_ref()
                .map(|p| p.display().to_string()),
            metadata_max_age: self.metadata_max_age,
            negative_cache_ttl: self.negative_cache_ttl,
            upstream_timeout: self.upstream_timeout,
            auto_block: self.auto_block,
            members: self.members.clone(),
            writable_member: self.writable_member.clone(),
        })
    }

    /// What the rules need to know of this declaration when another one is checked.
    fn neighbour(&self) -> Neighbour {
        Neighbour {
            name: self.name.to_string(),
            format: self.format.clone(),
            kind: self.kind,
            members: match self.kind {
                RepoKind::Group => self.members.clone().unwrap_or_default(),
                _ => Vec::new(),
            },
            ports: self
                .connector
                .iter()
                .flat_map(|c| [c.http, c.https])
                .flatten()
                .filter(|p| *p != 0)
                .collect(),
        }
    }
}

/// Extra ports that serve one repository at `/v2/` (what docker clients need for a
/// repository-per-host setup such as a registry mirror).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConnectorDecl {
    /// Plain HTTP port (0 picks a free one, for tests).
    pub http: Option<u16>,
    /// HTTPS port, terminated by Trove itself with `certificate` and `key` (PEM files).
    pub https: Option<u16>,
    pub certificate: Option<PathBuf>,
    pub key: Option<PathBuf>,
}

impl Config {
    /// Parses and validates a TOML document; errors name the line and column.
    pub fn from_toml_str(s: &str) -> anyhow::Result<Config> {
        let mut config: Config = toml::from_str(s).map_err(|e| anyhow::anyhow!("{e}"))?;
        config.declared = config.validate()?;
        Ok(config)
    }

    /// Reads `path` (or the embedded defaults when `None`), then applies `TROVE_LISTEN`,
    /// `TROVE_DATA_DIR` and `TROVE_DATABASE` overrides for the node's bootstrap keys.
    pub fn load(path: Option<&Path>) -> anyhow::Result<Config> {
        let mut config = match path {
            Some(p) => {
                let text = std::fs::read_to_string(p)
                    .with_context(|| format!("reading {}", p.display()))?;
                Config::from_toml_str(&text).with_context(|| format!("in {}", p.display()))?
            }
            None => Config::default(),
        };
        if let Ok(v) = std::env::var("TROVE_LISTEN") {
            config.server.listen = v.parse().with_context(|| format!("TROVE_LISTEN={v:?}"))?;
        }
        if let Ok(v) = std::env::var("TROVE_DATA_DIR") {
            config.server.data_dir = v.into();
        }
        if let Ok(v) = std::env::var("TROVE_DATABASE") {
            config.server.database = Some(v);
        }
        Ok(config)
    }

    /// The security section with passwords read from their env vars and files.
    pub fn security_decl(&self) -> anyhow::Result<trove_auth::SecurityDecl> {
        let mut users = Vec::new();
        for u in &self.users {
            let password = match (&u.password_env, &u.password_file) {
                (Some(var), None) => Some(std::env::var(var).with_context(|| {
                    format!("user {}: environment variable {var} is not set", u.name)
                })?),
                (None, Some(file)) => Some(
                    std::fs::read_to_string(file)
                        .with_context(|| format!("user {}: reading {}", u.name, file.display()))?
                        .trim_end_matches(['\r', '\n'])
                        .to_owned(),
                ),
                (None, None) => None,
                (Some(_), Some(_)) => bail!(
                    "user {}: set password_env or password_file, not both",
                    u.name
                ),
            };
            users.push(trove_auth::UserDecl {
                name: u.name.clone(),
                password,
                roles: u.roles.clone(),
            });
        }
        Ok(trove_auth::SecurityDecl {
            anonymous: self.security.anonymous,
            realms: self.security.realms.clone(),
            roles: self.roles.clone(),
            users,
            ldap: self.ldap.clone(),
            oidc: self.oidc.clone(),
        })
    }

    /// The routing rules, compiled.
    pub fn rules(
        &self,
    ) -> anyhow::Result<std::collections::HashMap<String, std::sync::Arc<trove_routing::RoutingRule>>>
    {
        let mut rules = std::collections::HashMap::new();
        for decl in &self.routing_rules {
            let rule = trove_routing::RoutingRule::try_from(decl)
                .map_err(|e| anyhow::anyhow!("{}", e.msg))?;
            if rules
                .insert(decl.name.clone(), std::sync::Arc::new(rule))
                .is_some()
            {
                bail!("routing rule {} is declared twice", decl.name);
            }
        }
        Ok(rules)
    }

    /// Checks the file; the repositories with the rules the console and the REST API use
    /// ([`trove_service::validate`]), against the other repositories and the routing rules
    /// declared here. Returns the repositories as rows.
    fn validate(&self) -> anyhow::Result<Vec<DeclaredRepo>> {
        self.rules()?;
        self.trusted_proxies()?;
        // [ldap], [oidc], external_groups and a realm without its section.
        trove_auth::validate_external(&trove_auth::SecurityDecl {
            realms: self.security.realms.clone(),
            roles: self.roles.clone(),
            ldap: self.ldap.clone(),
            oidc: self.oidc.clone(),
            ..Default::default()
        })
        .map_err(|e| anyhow::anyhow!("{}", e.msg))?;
        for u in &self.users {
            if u.password.is_some() {
                bail!(
                    "user {}: passwords are not written in the config file; use password_env = \"VAR\" \
                     or password_file = \"/path\"",
                    u.name
                );
            }
        }
        let mut names = HashSet::new();
        for r in &self.repositories {
            if !names.insert(r.name.as_str()) {
                bail!("repository {} is declared twice", r.name);
            }
            if r.upstream_password.is_some() {
                bail!(
                    "repository {}: passwords are not written in the config file; use \
                     upstream_password_env = \"VAR\" or upstream_password_file = \"/path\"",
                    r.name
                );
            }
        }
        let all: Vec<Neighbour> = self.repositories.iter().map(RepoDecl::neighbour).collect();
        let rules: Vec<String> = self.routing_rules.iter().map(|r| r.name.clone()).collect();
        self.repositories
            .iter()
            .enumerate()
            .map(|(i, r)| {
                // A port declared twice is blamed on the later declaration.
                let others: Vec<Neighbour> = all
                    .iter()
                    .enumerate()
                    .filter(|(j, _)| *j != i)
                    .map(|(j, n)| {
                        let mut n = n.clone();
                        if j > i {
                            n.ports.clear();
                        }
                        n
                    })
                    .collect();
                let around = Surroundings {
                    others: &others,
                    rules: &rules,
                    main_port: self.server.listen.port(),
                    source: Source::File,
                };
                validate::repository(&r.input()?, &around)
                    .map_err(|e| anyhow::anyhow!("repository {}: {}", r.name, e.message()))
            })
            .collect()
    }

    /// `trusted_proxies` parsed; a bare address means just that address.
    pub fn trusted_proxies(&self) -> anyhow::Result<Vec<ipnet::IpNet>> {
        self.server
            .trusted_proxies
            .iter()
            .map(|p| {
                p.parse::<ipnet::IpNet>()
                    .or_else(|_| p.parse::<std::net::IpAddr>().map(ipnet::IpNet::from))
                    .with_context(|| {
                        format!("trusted_proxies: {p:?} is not an address or CIDR range")
                    })
            })
            .collect()
    }

    pub fn database_url(&self) -> String {
        self.server.database.clone().unwrap_or_else(|| {
            format!(
                "sqlite://{}",
                self.server.data_dir.join("trove.db").display()
            )
        })
    }

    pub fn blob_dir(&self) -> PathBuf {
        self.server.blob_dir()
    }

    /// The repositories as rows for the store (built and checked when the file was read).
    pub fn declared_repos(&self) -> Vec<DeclaredRepo> {
        self.declared.clone()
    }

    /// The routing rules as rows for the store (compiled and checked by `validate`).
    pub fn declared_rules(&self) -> Vec<trove_store::RuleRow> {
        self.routing_rules
            .iter()
            .map(|d| trove_store::RuleRow {
                name: d.name.clone(),
                description: d.description.clone(),
                mode: d.mode.as_str().to_owned(),
                matchers: d.matchers.clone(),
                managed_by: "config".into(),
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use trove_core::{KindConfig, ProxyConfig};

    #[test]
    fn empty_file_means_embedded_defaults() {
        let c = Config::from_toml_str("").unwrap();
        assert_eq!(c.server.listen.to_string(), "127.0.0.1:8081");
        assert_eq!(c.server.data_dir, PathBuf::from("./data"));
        assert_eq!(c.database_url(), "sqlite://./data/trove.db");
        assert_eq!(c.blob_dir(), PathBuf::from("./data/blobs"));
        assert!(c.repositories.is_empty());
    }

    #[test]
    fn shipped_config_files_parse() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../config");
        let c = Config::from_toml_str(&std::fs::read_to_string(root.join("trove.toml")).unwrap())
            .unwrap();
        assert_eq!(c.server.listen.to_string(), "127.0.0.1:8081");
        // Every example parses and validates (secrets are only read at start, not here).
        let mut examples = 0;
        for entry in std::fs::read_dir(root.join("examples")).unwrap() {
            let path = entry.unwrap().path();
            let text = std::fs::read_to_string(&path).unwrap();
            Config::from_toml_str(&text).unwrap_or_else(|e| panic!("{}: {e:#}", path.display()));
            examples += 1;
        }
        assert!(examples >= 1);
    }

    #[test]
    fn repositories() {
        let c = Config::from_toml_str(
            r#"
            [[repository]]
            name = "docker-hosted"
            format = "docker"
            kind = "hosted"
            connector = { http = 5000 }
            write_policy = "allow_once"
            "#,
        )
        .unwrap();
        let d = c.declared_repos();
        assert_eq!(
            d[0].kind,
            KindConfig::Hosted {
                write_policy: WritePolicy::AllowOnce
            }
        );
    }

    #[test]
    fn proxy_repositories() {
        let c = Config::from_toml_str(
            r#"
            [[repository]]
            name = "docker-hub"
            format = "docker"
            kind = "proxy"
            remote = "https://registry-1.docker.io"
            options = { hub_index = true }
            metadata_max_age = 60

            [[repository]]
            name = "private"
            format = "docker"
            kind = "proxy"
            remote = "https://registry.example.com"
            upstream_username = "ci"
            upstream_password_file = "/run/secrets/upstream"
            negative_cache_ttl = 0
            upstream_timeout = 5
            auto_block = false
            "#,
        )
        .unwrap();
        let d = c.declared_repos();
        let KindConfig::Proxy(hub) = &d[0].kind else {
            panic!("{:?}", d[0].kind)
        };
        assert_eq!(hub.remote, "https://registry-1.docker.io");
        assert_eq!(d[0].options["hub_index"], serde_json::json!(true));
        assert_eq!(hub.metadata_max_age, 60);
        assert_eq!(
            hub.negative_cache_ttl,
            ProxyConfig::default_negative_cache_ttl()
        );
        assert!(hub.upstream_username.is_none());
        let KindConfig::Proxy(p) = &d[1].kind else {
            panic!("{:?}", d[1].kind)
        };
        assert_eq!(p.upstream_username.as_deref(), Some("ci"));
        assert_eq!(
            p.upstream_password_file.as_deref(),
            Some("/run/secrets/upstream")
        );
        assert_eq!(
            (p.negative_cache_ttl, p.upstream_timeout, p.auto_block),
            (0, 5, false)
        );
        assert!(d[1].options.is_empty());
        // What the database keeps: no password, only where to read it.
        let stored = serde_json::to_string(&d[1].kind).unwrap();
        assert!(stored.contains(r#""kind":"proxy""#), "{stored}");
        let back: KindConfig = serde_json::from_str(&stored).unwrap();
        assert_eq!(back, d[1].kind);
    }

    #[test]
    fn clear_errors() {
        let cases = [
            ("[server]\nlisten = \"x\"", "invalid socket address"),
            ("[server]\nlisen = \"127.0.0.1:1\"", "unknown field `lisen`"),
            (
                "[[repository]]\nname = \"a\"\nformat = \"gems\"\nkind = \"hosted\"",
                "unknown format",
            ),
            (
                "[[repository]]\nname = \"a\"\nformat = \"docker\"\nkind = \"hosted\"\noptions = { hub_index = true }",
                "hub_index is a proxy setting",
            ),
            (
                "[[repository]]\nname = \"a\"\nformat = \"docker\"\nkind = \"proxy\"\nremote = \"https://x\"\noptions = { nope = 1 }",
                "unknown field `nope`",
            ),
            (
                "[[repository]]\nname = \"a\"\nformat = \"docker\"\nkind = \"group\"",
                "a group needs members",
            ),
            (
                "[[repository]]\nname = \"a\"\nformat = \"docker\"\nkind = \"proxy\"",
                "a proxy needs remote",
            ),
            (
                "[[repository]]\nname = \"a\"\nformat = \"docker\"\nkind = \"proxy\"\n\
                 remote = \"ftp://x\"",
                "not an http:// or https:// URL",
            ),
            (
                "[[repository]]\nname = \"a\"\nformat = \"docker\"\nkind = \"proxy\"\n\
                 remote = \"https://x\"\nupstream_username = \"u\"\nupstream_password = \"p\"",
                "passwords are not written in the config file",
            ),
            (
                "[[repository]]\nname = \"a\"\nformat = \"docker\"\nkind = \"proxy\"\n\
                 remote = \"https://x\"\nupstream_username = \"u\"",
                "upstream_username goes with",
            ),
            (
                "[[repository]]\nname = \"a\"\nformat = \"docker\"\nkind = \"proxy\"\n\
                 remote = \"https://x\"\nwrite_policy = \"deny\"",
                "write_policy is a hosted setting",
            ),
            (
                "[[repository]]\nname = \"a\"\nformat = \"docker\"\nkind = \"hosted\"\n\
                 remote = \"https://x\"",
                "remote is a proxy setting",
            ),
            (
                "[[repository]]\nname = \"h\"\nformat = \"docker\"\nkind = \"hosted\"\n[[repository]]\nname = \"g\"\nformat = \"docker\"\nkind = \"group\"\nmembers = [\"nope\"]",
                "member \"nope\" is not declared",
            ),
            (
                "[[repository]]\nname = \"h\"\nformat = \"docker\"\nkind = \"hosted\"\n[[repository]]\nname = \"g1\"\nformat = \"docker\"\nkind = \"group\"\nmembers = [\"g2\"]\n[[repository]]\nname = \"g2\"\nformat = \"docker\"\nkind = \"group\"\nmembers = [\"g1\"]",
                "g1",
            ),
            (
                "[[repository]]\nname = \"h\"\nformat = \"docker\"\nkind = \"hosted\"\n[[repository]]\nname = \"g\"\nformat = \"docker\"\nkind = \"group\"\nmembers = [\"h\"]\nwritable_member = \"x\"",
                "x",
            ),
            (
                "[[repository]]\nname = \"h\"\nformat = \"docker\"\nkind = \"hosted\"\nrouting_rule = \"missing\"",
                "is not declared as a [[routing_rule]]",
            ),
            (
                "[[routing_rule]]\nname = \"r\"\nmode = \"allow\"\nmatchers = [\"(unclosed\"]",
                "not a valid regular expression",
            ),
            (
                "[[repository]]\nname = \"h\"\nformat = \"docker\"\nkind = \"hosted\"\nmembers = [\"h\"]",
                "group settings",
            ),
            (
                "[[repository]]\nname = \"a b\"\nformat = \"docker\"\nkind = \"hosted\"",
                "invalid repository name",
            ),
            (
                "[[repository]]\nname = \"a\"\nformat = \"docker\"\nkind = \"hosted\"\n\
                 [[repository]]\nname = \"a\"\nformat = \"docker\"\nkind = \"hosted\"",
                "declared twice",
            ),
            (
                "[[repository]]\nname = \"a\"\nformat = \"docker\"\nkind = \"hosted\"\nconnector = { http = 8081 }",
                "already used",
            ),
            (
                "[[repository]]\nname = \"a\"\nformat = \"docker\"\nkind = \"hosted\"\nconnector = { http = 5000 }\n\
                 [[repository]]\nname = \"b\"\nformat = \"docker\"\nkind = \"hosted\"\nconnector = { http = 5000 }",
                "repository b: connector port 5000 is already used by repository a",
            ),
        ];
        for (text, want) in cases {
            let err = format!("{:#}", Config::from_toml_str(text).expect_err(text));
            assert!(err.contains(want), "{text:?}: {err}");
        }
        let err = format!(
            "{:#}",
            Config::from_toml_str("[[user]]\nname = \"a\"\npassword = \"x\"").unwrap_err()
        );
        assert!(
            err.contains("password_env"),
            "inline passwords are refused: {err}"
        );
        let err = Config::from_toml_str("\n\n[server]\nlisen = 1")
            .err()
            .unwrap()
            .to_string();
        assert!(err.contains("line 4"), "points at the line: {err}");
    }
}
