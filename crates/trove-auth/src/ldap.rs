//! The LDAP realm: users of a directory authenticate with HTTP Basic credentials, checked by
//! binding as them (decision record 0017).
//!
//! One login (a miss of the credentials cache) runs, on a fresh connection: connect (`ldap://`,
//! `ldaps://`, or `ldap://` with StartTLS), bind as the service account `bind_dn` (anonymous
//! without one), search `user_base` with `user_filter` for exactly one entry, search
//! `group_base` with `group_filter` for the user's groups, then bind as the user's DN with the
//! password. Every value put in a filter is escaped as RFC 4515 says ([`escape_filter_value`]),
//! so a user name cannot change the filter (LDAP injection). An empty password is refused
//! before any bind: to an LDAP server a simple bind with a DN and no password is an
//! *unauthenticated* bind, which succeeds (RFC 4513 §5.1.2).
//!
//! What can go wrong is told apart: the user is unknown or the password wrong (the next realm
//! is tried, and in the end "invalid username or password"), or the directory cannot answer
//! (unreachable, timed out, busy, the service account refused): [`DirectoryDown`], which the
//! authenticator turns into a 503 "directory unavailable" for the caller, never into "wrong
//! password". The detail goes to the log only.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use ldap3::{LdapConnAsync, LdapConnSettings, Scope, SearchEntry};
use serde::{Deserialize, Serialize};
use trove_core::{Error, Result};

/// `[ldap]` in trove.toml, and what the console edits; stored as JSON in the security
/// settings (`ldap`), so every node uses the same.
#[derive(Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct LdapConfig {
    /// `ldap://host:389` or `ldaps://host:636`.
    pub url: String,
    /// The service account that searches for users and groups; anonymous searches without one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bind_dn: Option<String>,
    /// The file holding the service account's password (read at each connection, so a rotated
    /// password needs no reload). Never written in the config or the database.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bind_password_file: Option<PathBuf>,
    /// Where users are searched (subtree).
    pub user_base: String,
    /// `{username}` is replaced by the escaped user name.
    #[serde(default = "default_user_filter")]
    pub user_filter: String,
    /// Where groups are searched (subtree); without it users have no groups.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group_base: Option<String>,
    /// `{dn}` is replaced by the user's escaped DN, `{username}` by the escaped user name
    /// (`(memberUid={username})` for posixGroup).
    #[serde(default = "default_group_filter")]
    pub group_filter: String,
    /// Upgrade an `ldap://` connection with StartTLS (refused for `ldaps://`, which is TLS
    /// from the start).
    #[serde(default)]
    pub starttls: bool,
    /// PEM file of the CA certificates that sign the directory's certificate (TLS only);
    /// without it the system's roots are used.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_file: Option<PathBuf>,
    /// Seconds a successful login is trusted without asking the directory again (docker sends
    /// the credentials on every request). A user removed from a group, disabled or given a new
    /// password in the directory is seen after at most this long.
    #[serde(default = "default_cache_ttl")]
    pub cache_ttl: u64,
    /// Seconds to wait for the directory to connect or answer one operation.
    #[serde(default = "default_timeout")]
    pub timeout: u64,
}

fn default_user_filter() -> String {
    "(uid={username})".into()
}
fn default_group_filter() -> String {
    "(member={dn})".into()
}
/// Default of `cache_ttl`.
pub const DEFAULT_CACHE_TTL: u64 = 60;
fn default_cache_ttl() -> u64 {
    DEFAULT_CACHE_TTL
}
fn default_timeout() -> u64 {
    5
}

/// The bind password is not here; the file name is not secret.
impl std::fmt::Debug for LdapConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LdapConfig")
            .field("url", &self.url)
            .field("bind_dn", &self.bind_dn)
            .field("user_base", &self.user_base)
            .field("user_filter", &self.user_filter)
            .field("group_base", &self.group_base)
            .field("group_filter", &self.group_filter)
            .field("starttls", &self.starttls)
            .field("cache_ttl", &self.cache_ttl)
            .finish_non_exhaustive()
    }
}

impl LdapConfig {
    /// Checks the settings; the message names the key.
    pub fn validate(&self) -> Result<()> {
        let bad = |key: &str, why: &str| Err(Error::invalid(format!("[ldap] {key}: {why}")));
        let url = url::Url::parse(&self.url)
            .map_err(|e| Error::invalid(format!("[ldap] url: {:?} is not a URL: {e}", self.url)))?;
        match url.scheme() {
            "ldap" => {}
            "ldaps" if self.starttls => {
                return bad(
                    "starttls",
                    "an ldaps:// URL is TLS from the start; StartTLS is for ldap:// URLs",
                );
            }
            "ldaps" => {}
            _ => return bad("url", "use an ldap:// or ldaps:// URL"),
        }
        if url.host_str().is_none_or(str::is_empty) {
            return bad("url", "the URL names no host");
        }
        if self.user_base.trim().is_empty() {
            return bad("user_base", "the DN to search users under is required");
        }
        if !self.user_filter.contains("{username}") {
            return bad(
                "user_filter",
                "must contain {username}, e.g. (uid={username})",
            );
        }
        if !self.user_filter.starts_with('(') || !self.user_filter.ends_with(')') {
            return bad("user_filter", "an LDAP filter is written in parentheses");
        }
        if self.group_base.is_some()
            && !(self.group_filter.contains("{dn}") || self.group_filter.contains("{username}"))
        {
            return bad(
                "group_filter",
                "must contain {dn} or {username}, e.g. (member={dn})",
            );
        }
        match (&self.bind_dn, &self.bind_password_file) {
            (Some(_), None) => return bad("bind_password_file", "bind_dn needs a password file"),
            (None, Some(_)) => return bad("bind_dn", "a password file needs bind_dn"),
            _ => {}
        }
        if self.cache_ttl > 3600 {
            return bad("cache_ttl", "at most 3600 seconds");
        }
        if !(1..=120).contains(&self.timeout) {
            return bad("timeout", "between 1 and 120 seconds");
        }
        Ok(())
    }

    /// How long a successful login is cached.
    pub fn cache_ttl(&self) -> Duration {
        Duration::from_secs(self.cache_ttl)
    }
}

/// Escapes a value for an LDAP search filter (RFC 4515 §3): `*`, `(`, `)`, `\` and NUL
/// become `\2a`, `\28`, `\29`, `\5c`, `\00`; other control characters are escaped too. A user
/// name of `*)(uid=*` then matches only an entry literally named so.
pub fn escape_filter_value(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '*' | '(' | ')' | '\\' | '\0' => out.push_str(&format!("\\{:02x}", c as u32)),
            c if c.is_ascii_control() => out.push_str(&format!("\\{:02x}", c as u32)),
            c => out.push(c),
        }
    }
    out
}

/// `template` with `{username}` and `{dn}` replaced by their escaped values (in one pass, so a
/// value containing `{dn}` is not expanded again).
pub fn fill_filter(template: &str, username: &str, dn: Option<&str>) -> String {
    let mut out = String::with_capacity(template.len() + username.len());
    let mut rest = template;
    while let Some(i) = rest.find('{') {
        out.push_str(&rest[..i]);
        let tail = &rest[i..];
        if let Some(t) = tail.strip_prefix("{username}") {
            out.push_str(&escape_filter_value(username));
            rest = t;
        } else if let (Some(t), Some(dn)) = (tail.strip_prefix("{dn}"), dn) {
            out.push_str(&escape_filter_value(dn));
            rest = t;
        } else {
            out.push('{');
            rest = &tail[1..];
        }
    }
    out.push_str(rest);
    out
}

/// What the directory said about a user name and password.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Lookup {
    /// The bind as the user succeeded: their DN and the DNs of their groups.
    Found { dn: String, groups: Vec<String> },
    /// No entry (or more than one) matches the user filter.
    NoSuchUser,
    /// The entry exists; the password is wrong (or the directory refuses the account).
    WrongPassword,
}

/// The directory could not answer; the text is for the log (and the console's checks), not
/// for the caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirectoryDown(pub String);

impl std::fmt::Display for DirectoryDown {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// A user directory. [`LdapDirectory`] is the real one; tests put in their own
/// ([`crate::Authenticator::use_directory`]).
#[async_trait::async_trait]
pub trait Directory: Send + Sync {
    async fn authenticate(
        &self,
        username: &str,
        password: &str,
    ) -> std::result::Result<Lookup, DirectoryDown>;
}

/// The LDAP client of one configuration. Cheap: a connection is opened per lookup.
pub struct LdapDirectory {
    config: LdapConfig,
}

type Ldap = ldap3::Ldap;

fn down(what: &str, e: impl std::fmt::Display) -> DirectoryDown {
    DirectoryDown(format!("{what}: {e}"))
}

/// Result codes that mean "the server cannot do it now" (RFC 4511 appendix A): busy,
/// unavailable, other, and the ones a proxy or a server without its backend answers.
fn is_unavailable_rc(rc: u32) -> bool {
    matches!(rc, 1 | 3 | 11 | 51 | 52 | 80)
}

impl LdapDirectory {
    pub fn new(config: LdapConfig) -> Self {
        LdapDirectory { config }
    }

    pub fn config(&self) -> &LdapConfig {
        &self.config
    }

    fn timeout(&self) -> Duration {
        Duration::from_secs(self.config.timeout.max(1))
    }

    fn tls_config(&self) -> std::result::Result<Option<Arc<rustls::ClientConfig>>, DirectoryDown> {
        let Some(file) = &self.config.ca_file else {
            return Ok(None);
        };
        use rustls::pki_types::{CertificateDer, pem::PemObject};
        let mut roots = rustls::RootCertStore::empty();
        let certs = CertificateDer::pem_file_iter(file)
            .map_err(|e| down(&format!("reading ca_file {}", file.display()), e))?;
        for cert in certs {
            let cert = cert.map_err(|e| down(&format!("ca_file {}", file.display()), e))?;
            roots
                .add(cert)
                .map_err(|e| down(&format!("ca_file {}", file.display()), e))?;
        }
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| down("TLS", e))?
            .with_root_certificates(roots)
            .with_no_client_auth();
        Ok(Some(Arc::new(config)))
    }

    /// Connects and binds as the service account (or not at all, for anonymous searches).
    async fn connect(&self) -> std::result::Result<Ldap, DirectoryDown> {
        let mut settings = LdapConnSettings::new()
            .set_conn_timeout(self.timeout())
            .set_starttls(self.config.starttls);
        if let Some(tls) = self.tls_config()? {
            settings = settings.set_config(tls);
        }
        let (conn, mut ldap) = LdapConnAsync::with_settings(settings, &self.config.url)
            .await
            .map_err(|e| down(&format!("connecting to {}", self.config.url), e))?;
        tokio::spawn(async move {
            if let Err(e) = conn.drive().await {
                tracing::debug!(error = %e, "LDAP connection ended");
            }
        });
        if let (Some(dn), Some(file)) = (&self.config.bind_dn, &self.config.bind_password_file) {
            let password = tokio::fs::read_to_string(file)
                .await
                .map_err(|e| down(&format!("reading bind_password_file {}", file.display()), e))?;
            let password = password.trim_end_matches(['\r', '\n']);
            let r = ldap
                .with_timeout(self.timeout())
                .simple_bind(dn, password)
                .await
                .map_err(|e| down("binding as bind_dn", e))?;
            if r.rc != 0 {
                return Err(DirectoryDown(format!(
                    "the directory refused the service account {dn} (result {}: {}); check bind_dn \
                     and bind_password_file",
                    r.rc,
                    if r.text.is_empty() {
                        "no text"
                    } else {
                        &r.text
                    }
                )));
            }
        }
        Ok(ldap)
    }

    /// DNs of the entries under `base` matching `filter`, at most `limit` (more is an error
    /// for users; groups take any number).
    async fn search_dns(
        &self,
        ldap: &mut Ldap,
        what: &str,
        base: &str,
        filter: &str,
    ) -> std::result::Result<Vec<String>, DirectoryDown> {
        let r = ldap
            .with_timeout(self.timeout())
            .search(base, Scope::Subtree, filter, vec!["1.1"])
            .await
            .map_err(|e| down(&format!("searching {what}"), e))?;
        let (entries, result) = (r.0, r.1);
        match result.rc {
            0 => {}
            32 => {
                return Err(DirectoryDown(format!(
                    "searching {what}: the base {base} does not exist in the directory"
                )));
            }
            rc => {
                return Err(DirectoryDown(format!(
                    "searching {what} under {base} with {filter}: result {rc} ({})",
                    result.text
                )));
            }
        }
        Ok(entries
            .into_iter()
            .map(|e| SearchEntry::construct(e).dn)
            .collect())
    }

    /// Connects, binds as the service account and reads `user_base`: what the console's "test
    /// connection" runs. Says what it found.
    pub async fn test_connection(&self) -> std::result::Result<String, DirectoryDown> {
        let mut ldap = self.connect().await?;
        let base = &self.config.user_base;
        let r = ldap
            .with_timeout(self.timeout())
            .search(base, Scope::Base, "(objectClass=*)", vec!["1.1"])
            .await
            .map_err(|e| down("reading user_base", e))?;
        let _ = ldap.unbind().await;
        match r.1.rc {
            0 => Ok(format!(
                "connected to {}{}, user_base {base} exists",
                self.config.url,
                match &self.config.bind_dn {
                    Some(dn) => format!(" as {dn}"),
                    None => " anonymously".into(),
                }
            )),
            32 => Err(DirectoryDown(format!(
                "connected, but user_base {base} does not exist"
            ))),
            rc => Err(DirectoryDown(format!(
                "connected, but reading user_base {base} answered {rc} ({})",
                r.1.text
            ))),
        }
    }
}

#[async_trait::async_trait]
impl Directory for LdapDirectory {
    async fn authenticate(
        &self,
        username: &str,
        password: &str,
    ) -> std::result::Result<Lookup, DirectoryDown> {
        if username.is_empty() || password.is_empty() {
            // An empty password would be an unauthenticated bind, which succeeds.
            return Ok(Lookup::WrongPassword);
        }
        let mut ldap = self.connect().await?;
        let filter = fill_filter(&self.config.user_filter, username, None);
        let users = self
            .search_dns(&mut ldap, "users", &self.config.user_base, &filter)
            .await?;
        let dn = match users.as_slice() {
            [dn] => dn.clone(),
            [] => {
                let _ = ldap.unbind().await;
                return Ok(Lookup::NoSuchUser);
            }
            many => {
                tracing::warn!(
                    user = %username, entries = many.len(), filter = %filter,
                    "LDAP user filter matches several entries; the user cannot sign in"
                );
                let _ = ldap.unbind().await;
                return Ok(Lookup::NoSuchUser);
            }
        };
        // Groups are read with the service account's rights, before the user's bind.
        let groups = match &self.config.group_base {
            Some(base) => {
                let filter = fill_filter(&self.config.group_filter, username, Some(&dn));
                self.search_dns(&mut ldap, "groups", base, &filter).await?
            }
            None => Vec::new(),
        };
        let r = ldap
            .with_timeout(self.timeout())
            .simple_bind(&dn, password)
            .await
            .map_err(|e| down("binding as the user", e))?;
        let _ = ldap.unbind().await;
        match r.rc {
            0 => Ok(Lookup::Found { dn, groups }),
            rc if is_unavailable_rc(rc) => Err(DirectoryDown(format!(
                "binding as {dn}: result {rc} ({})",
                r.text
            ))),
            // 49 invalidCredentials, 53 unwillingToPerform (a locked account), 50, ...
            rc => {
                tracing::debug!(dn = %dn, rc, "LDAP bind refused");
                Ok(Lookup::WrongPassword)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> LdapConfig {
        toml_like(r#"{"url":"ldap://127.0.0.1:389","user_base":"ou=people,dc=example,dc=org"}"#)
    }

    fn toml_like(json: &str) -> LdapConfig {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn filter_values_are_escaped() {
        assert_eq!(escape_filter_value("alice"), "alice");
        assert_eq!(escape_filter_value("*"), "\\2a");
        assert_eq!(escape_filter_value("*)(uid=*"), "\\2a\\29\\28uid=\\2a");
        assert_eq!(escape_filter_value("a\\b"), "a\\5cb");
        assert_eq!(escape_filter_value("a\0b\n"), "a\\00b\\0a");
        assert_eq!(escape_filter_value("jürgen"), "jürgen");
        // An injection attempt stays inside the one assertion value.
        assert_eq!(
            fill_filter("(uid={username})", "x)(|(uid=*", None),
            "(uid=x\\29\\28|\\28uid=\\2a)"
        );
        assert_eq!(
            fill_filter(
                "(&(objectClass=groupOfNames)(member={dn}))",
                "u",
                Some("uid=a(b),ou=people,dc=x")
            ),
            "(&(objectClass=groupOfNames)(member=uid=a\\28b\\29,ou=people,dc=x))"
        );
        // Placeholders inside values are not expanded again; unknown braces stay.
        assert_eq!(
            fill_filter(
                "(|(cn={username})(memberUid={username}){x})",
                "{dn}",
                Some("D")
            ),
            "(|(cn={dn})(memberUid={dn}){x})"
        );
    }

    #[test]
    fn config_defaults_and_checks() {
        let c = config();
        assert_eq!(c.user_filter, "(uid={username})");
        assert_eq!(c.group_filter, "(member={dn})");
        assert_eq!(c.cache_ttl, DEFAULT_CACHE_TTL);
        c.validate().unwrap();
        let cases = [
            (r#""url":"http://x""#, "ldap:// or ldaps://"),
            (
                r#""url":"ldaps://x","starttls":true"#,
                "StartTLS is for ldap://",
            ),
            (r#""url":"ldap://x","user_filter":"(uid=x)""#, "{username}"),
            (r#""url":"ldap://x","bind_dn":"cn=a""#, "bind_password_file"),
            (
                r#""url":"ldap://x","group_base":"ou=g","group_filter":"(member=x)""#,
                "{dn}",
            ),
            (r#""url":"ldap://x","timeout":0"#, "timeout"),
        ];
        for (json, want) in cases {
            let c = toml_like(&format!(r#"{{{json},"user_base":"dc=x"}}"#));
            let e = c.validate().unwrap_err();
            assert!(e.msg.contains(want), "{json}: {}", e.msg);
        }
        assert!(
            serde_json::from_str::<LdapConfig>(
                r#"{"url":"ldap://x","user_base":"dc=x","bind_password":"p"}"#
            )
            .is_err(),
            "no inline password key"
        );
    }

    #[tokio::test]
    async fn empty_password_is_never_a_bind() {
        // Nothing listens on port 9 (discard); an empty password must not even connect.
        let mut c = config();
        c.url = "ldap://127.0.0.1:9".into();
        let d = LdapDirectory::new(c);
        assert_eq!(d.authenticate("alice", "").await, Ok(Lookup::WrongPassword));
        assert!(
            d.authenticate("alice", "pw").await.is_err(),
            "port 9 is closed"
        );
    }
}
