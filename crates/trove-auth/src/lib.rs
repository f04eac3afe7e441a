//! Security for Trove: users, roles (nested) holding Nexus-style privileges, the anonymous user
//! and switch, the Basic and Docker bearer-token realms, authorization with explanations, the
//! token service, and the rules for names and role nesting (checked here, with a clear
//! message, before the store writes).
//!
//! Takes header *strings* and hands back decisions; it never sees an HTTP framework type, and
//! must never depend on a format or repository kind: token scopes arrive as [`ScopeAction`]s
//! that each format defines in its own table. State lives in the database
//! (`trove_store::security`); this crate keeps an in-memory snapshot for the hot path.
//!
//! Typical use by a front-end:
//! ```text
//! let id = auth.authenticator.identify(header).await?;          // 401 on Err
//! auth.authorize(&id, Action::Read, repo, Some(image))?;        // 401 anonymous / 403
//! ```

pub mod api_token;
mod authn;
mod builtins;
mod declare;
pub mod external;
pub mod ldap;
mod model;
pub mod oidc;
pub mod password;
mod policy;
mod rules;
mod token;

use std::sync::Arc;
use std::time::Duration;

use trove_core::{RepositoryConfig, Result};
use trove_store::{MetadataStore, RoleDef};

pub use api_token::{NewToken, TOKEN_PREFIX, TokenGrant};
pub use authn::{
    AuthError, AuthStats, Authenticator, DIRECTORY_UNAVAILABLE, Identity, LoginHold, claimed,
};
pub use builtins::{ADMIN_ROLE, ANONYMOUS_READ_ROLE, BOOTSTRAP_ADMIN_USER, METRICS_ROLE};
pub use declare::{PrivilegeDecl, RoleDecl, SecurityDecl, UserDecl, validate_external};
pub use model::{
    ADMIN_PRIVILEGE, APPLICATIONS, Action, ActionSet, METRICS, Pattern, Principal, Privilege,
    Realm, Realms,
};
pub use policy::{Authorizer, Denied, Explanation, Grant};
pub use rules::{check_role_graph, validate_name};
pub use token::{
    AccessClaim, Claims, DEFAULT_TTL, ISSUER, RequestedAccess, SIGNING_KEY_PURPOSE, ScopeAction,
    Token, TokenService, allows,
};
pub use trove_store::{ANONYMOUS_USER, PrivilegeKind, SecurityReport, UserStatus};

use policy::PolicyCache;

/// An OIDC client and the `[oidc]` it was built from.
type ConfiguredOidc = (oidc::OidcConfig, Arc<oidc::OidcClient>);

/// Tunables; the defaults suit a single node as well as several.
#[derive(Debug, Clone)]
pub struct AuthSettings {
    /// The token audience, `service=` in challenges.
    pub service: String,
    /// Bearer token lifetime.
    pub token_ttl: Duration,
    /// How long a successful Basic login is trusted without re-running argon2.
    pub basic_cache_ttl: Duration,
    /// How often the in-memory policy is re-read from the database (edits on other nodes).
    pub policy_ttl: Duration,
}

impl Default for AuthSettings {
    fn default() -> Self {
        AuthSettings {
            service: "trove".into(),
            token_ttl: DEFAULT_TTL,
            basic_cache_ttl: Duration::from_secs(5),
            policy_ttl: Duration::from_secs(5),
        }
    }
}

/// The security model, wired: authentication, authorization and tokens over one policy
/// snapshot. Cheap to clone.
#[derive(Clone)]
pub struct Auth {
    pub authenticator: Authenticator,
    pub authorizer: Authorizer,
    pub tokens: TokenService,
    meta: MetadataStore,
    policy: Arc<PolicyCache>,
    /// The OIDC client of the current `[oidc]` (discovery and keys cached inside).
    oidc: Arc<std::sync::Mutex<Option<ConfiguredOidc>>>,
}

impl Auth {
    /// Creates the built-ins if missing (roles `admin` and `docker-pull-anonymous`, the
    /// anonymous user; the first-start `admin` user gets role `admin` once), loads the token
    /// signing key (creating it if no node has) and the policy.
    ///
    /// Run the server's first-start admin bootstrap *before* this: it checks for "no users",
    /// and this creates the anonymous user (or make it use
    /// `security().count_users(false)`).
    pub async fn init(meta: MetadataStore, settings: AuthSettings) -> Result<Auth> {
        builtins::ensure_builtins(&meta).await?;
        let policy = Arc::new(PolicyCache::load(meta.clone(), settings.policy_ttl).await?);
        let authorizer = Authorizer {
            policy: policy.clone(),
        };
        let tokens = TokenService::load(
            &meta,
            &settings.service,
            settings.token_ttl,
            authorizer.clone(),
        )
        .await?;
        let authenticator = Authenticator::new(
            meta.clone(),
            policy.clone(),
            tokens.clone(),
            settings.basic_cache_ttl,
        );
        Ok(Auth {
            authenticator,
            authorizer,
            tokens,
            meta,
            policy,
            oidc: Default::default(),
        })
    }

    /// Re-reads the policy now and forgets cached Basic logins (after edits made elsewhere).
    pub async fn reload(&self) -> Result<()> {
        self.policy.reload().await?;
        self.authenticator.clear_cache();
        Ok(())
    }

    /// The full check for a request: with a bearer token, its scope must cover `action` on
    /// this repository id and resource; then the principal's current roles must grant `action`
    /// (so revoking a role counts before the token expires). `resource` is `None` for
    /// repository-wide calls (catalog), which only the role check covers.
    pub fn authorize(
        &self,
        identity: &Identity,
        action: Action,
        repo: &RepositoryConfig,
        resource: Option<&str>,
    ) -> std::result::Result<Grant, Denied> {
        narrowing(identity, action, repo)?;
        if let (Some(claims), Some(name)) = (&identity.token, resource)
            && !claims.allows(&repo.id, name, action)
        {
            return Err(Denied {
                principal: identity.principal.clone(),
                action,
                repo: repo.name.to_string(),
                reason: format!(
                    "the bearer token does not grant {action} on {name} in repository {}",
                    repo.name
                ),
            });
        }
        self.authorizer.check(&identity.principal, action, repo)
    }

    /// What the caller's rights allow, leaving a bearer token's scope aside: its roles, cut
    /// down by an API token's narrowing. What decides whether a repository is visible to the
    /// caller, and whether a bearer token merely lacks a scope the caller could get.
    pub fn authorize_rights(
        &self,
        identity: &Identity,
        action: Action,
        repo: &RepositoryConfig,
    ) -> std::result::Result<Grant, Denied> {
        narrowing(identity, action, repo)?;
        self.authorizer.check(&identity.principal, action, repo)
    }

    /// Whether the caller is an administrator: an API token narrowed to some repositories or
    /// actions never is.
    pub fn is_admin(&self, identity: &Identity) -> bool {
        !identity
            .api_token
            .as_ref()
            .is_some_and(TokenGrant::is_narrowed)
            && self.authorizer.is_admin(&identity.principal)
    }

    /// Whether the caller holds application permission `name` (`metrics`); a narrowed API
    /// token holds none.
    pub fn may(&self, identity: &Identity, name: &str) -> bool {
        !identity
            .api_token
            .as_ref()
            .is_some_and(TokenGrant::is_narrowed)
            && self.authorizer.may(&identity.principal, name)
    }

    /// Makes an API token for user `user` (who must exist), shown once: the returned
    /// [`NewToken::token`] is the only copy. `created_by` is who asked (the user, or an
    /// administrator).
    pub async fn create_api_token(
        &self,
        user: &str,
        name: &str,
        repositories: Option<Vec<String>>,
        actions: Option<ActionSet>,
        expires: Option<i64>,
        created_by: &str,
    ) -> Result<(NewToken, trove_store::ApiTokenRow)> {
        validate_name("token", name)?;
        let token = api_token::generate();
        let row = self
            .meta
            .api_tokens()
            .create(&trove_store::NewApiToken {
                id: token.id.clone(),
                user: user.to_owned(),
                name: name.to_owned(),
                token_hash: token.hash.clone(),
                repositories,
                actions: actions.map(ActionSet::to_list_string),
                created_by: created_by.to_owned(),
                expires,
            })
            .await?;
        Ok((token, row))
    }

    /// Allowed or denied and why, for `trove access explain` (reads the latest policy first).
    pub async fn explain(
        &self,
        user: &str,
        repo: &RepositoryConfig,
        action: Action,
    ) -> Result<Explanation> {
        self.policy.reload().await?;
        Ok(self.authorizer.explain(user, repo, action))
    }

    /// Applies the declarative security config in one transaction (see
    /// `trove_store::Security::reconcile`), then reloads.
    pub async fn apply_config(&self, decl: &SecurityDecl) -> Result<SecurityReport> {
        let declared = declare::resolve(&self.meta, decl).await?;
        let mut report = self.meta.security().reconcile(&declared).await?;
        self.apply_external(decl, &mut report).await?;
        self.reload().await?;
        Ok(report)
    }

    /// [`Self::apply_config`] without any password work: declared users that already have a
    /// password keep it, new ones have none, until [`Self::apply_config`] runs. What a server
    /// start runs before it listens, under a [`LoginHold`] kept until the full apply is done.
    pub async fn apply_config_quick(&self, decl: &SecurityDecl) -> Result<SecurityReport> {
        let declared = declare::resolve_with(&self.meta, decl, false).await?;
        let mut report = self.meta.security().reconcile(&declared).await?;
        self.apply_external(decl, &mut report).await?;
        self.reload().await?;
        Ok(report)
    }

    // ---- external realms (LDAP, OIDC; issue 16) ------------------------------------------

    /// The declared `[ldap]`, `[oidc]` and roles' `external_groups`, after the reconcile (which
    /// created the roles). Idempotent: an unchanged file reports nothing.
    async fn apply_external(&self, decl: &SecurityDecl, report: &mut SecurityReport) -> Result<()> {
        let sec = self.meta.security();
        let ldap = decl
            .ldap
            .as_ref()
            .map(|l| serde_json::to_string(l).expect("serialises"));
        if sec
            .apply_config_setting(trove_store::KEY_LDAP, ldap.as_deref())
            .await?
        {
            report.settings_changed.push(trove_store::KEY_LDAP.into());
        }
        let oidc = decl
            .oidc
            .as_ref()
            .map(|o| serde_json::to_string(o).expect("serialises"));
        if sec
            .apply_config_setting(trove_store::KEY_OIDC, oidc.as_deref())
            .await?
        {
            report.settings_changed.push(trove_store::KEY_OIDC.into());
        }
        for role in &decl.roles {
            let groups: Vec<String> = role
                .external_groups
                .iter()
                .map(|g| external::normalise_group(g))
                .collect();
            if sec.set_role_external_groups(&role.name, &groups).await?
                && !report.roles_created.contains(&role.name)
                && !report.roles_updated.contains(&role.name)
            {
                report.roles_updated.push(role.name.clone());
            }
        }
        Ok(())
    }

    /// Sets a role's external groups (console, REST API), normalised.
    pub async fn set_role_external_groups(&self, role: &str, groups: &[String]) -> Result<()> {
        let groups: Vec<String> = groups
            .iter()
            .map(|g| external::normalise_group(g))
            .collect();
        self.meta
            .security()
            .set_role_external_groups(role, &groups)
            .await?;
        Ok(())
    }

    /// The LDAP configuration in force, if any.
    pub fn ldap_config(&self) -> Option<ldap::LdapConfig> {
        self.policy.current().ldap.as_deref().cloned()
    }

    /// The OIDC configuration in force, if any.
    pub fn oidc_config(&self) -> Option<oidc::OidcConfig> {
        self.policy.current().oidc.as_deref().cloned()
    }

    /// Saves an LDAP configuration made in the console or the API (`managed_by`), checked.
    pub async fn set_ldap_config(&self, config: &ldap::LdapConfig, managed_by: &str) -> Result<()> {
        config.validate()?;
        let value = serde_json::to_string(config).expect("serialises");
        self.meta
            .security()
            .set_setting(trove_store::KEY_LDAP, &value, managed_by)
            .await?;
        self.reload().await
    }

    /// "Test user login": binds as `user` against `config` (not necessarily saved) without
    /// signing anyone in or caching anything; says what was found and which roles the user's
    /// groups map to.
    pub async fn test_ldap_login(
        &self,
        config: &ldap::LdapConfig,
        user: &str,
        password: &str,
    ) -> Result<LdapLoginReport> {
        config.validate()?;
        let dir = ldap::LdapDirectory::new(config.clone());
        use ldap::Directory as _;
        match dir.authenticate(user, password).await {
            Err(down) => Err(trove_core::Error::new(
                trove_core::ErrorKind::Unavailable,
                format!("directory unavailable: {down}"),
            )),
            Ok(ldap::Lookup::NoSuchUser) => Ok(LdapLoginReport {
                outcome: format!("no entry matches the user filter for {user}"),
                ..Default::default()
            }),
            Ok(ldap::Lookup::WrongPassword) => Ok(LdapLoginReport {
                outcome: format!("{user} exists, but the bind with this password was refused"),
                ..Default::default()
            }),
            Ok(ldap::Lookup::Found { dn, groups }) => {
                let normalised: Vec<String> = groups
                    .iter()
                    .map(|g| external::normalise_group(g))
                    .collect();
                let roles = self
                    .meta
                    .security()
                    .roles_of_external_groups(&normalised)
                    .await?;
                Ok(LdapLoginReport {
                    outcome: if roles.is_empty() {
                        format!(
                            "bound as {dn}, but no group is mapped to a Trove role: sign-in would be refused"
                        )
                    } else {
                        format!("bound as {dn}")
                    },
                    signed_in: !roles.is_empty(),
                    dn: Some(dn),
                    groups,
                    roles,
                })
            }
        }
    }
}

/// How long a browser may take between leaving for the identity provider and coming back.
const SIGN_IN_FLOW_TTL_MILLIS: i64 = 10 * 60 * 1000;

fn sha256_hex(s: &str) -> String {
    use sha2::Digest as _;
    hex::encode(sha2::Sha256::digest(s.as_bytes()))
}

impl Auth {
    /// The OIDC client of the `[oidc]` in force, if any (rebuilt when it changes).
    pub fn oidc_client(&self) -> Result<Option<Arc<oidc::OidcClient>>> {
        let Some(config) = self.oidc_config() else {
            return Ok(None);
        };
        let mut current = self.oidc.lock().expect("oidc lock");
        if let Some((c, client)) = current.as_ref()
            && *c == config
        {
            return Ok(Some(client.clone()));
        }
        let client = Arc::new(oidc::OidcClient::new(config.clone())?);
        *current = Some((config, client.clone()));
        Ok(Some(client))
    }

    /// Starts an OIDC sign-in: the flow's nonce and PKCE verifier are kept in the database
    /// under the SHA-256 of its `state` (any node may receive the callback). Returns the URL
    /// to send the browser to and the `state`, which the console also puts in a cookie.
    pub async fn oidc_begin(&self, redirect_uri: &str, next: &str) -> Result<(String, String)> {
        let client = self.oidc_client()?.ok_or_else(|| {
            trove_core::Error::not_found("single sign-on is not configured ([oidc])")
        })?;
        let flow = client.begin(redirect_uri).await?;
        self.meta
            .sign_in_flows()
            .create(
                &sha256_hex(&flow.state),
                &trove_store::SignInFlow {
                    nonce: flow.nonce,
                    verifier: flow.verifier,
                    next: next.to_owned(),
                },
                trove_core::now_millis() + SIGN_IN_FLOW_TTL_MILLIS,
            )
            .await?;
        Ok((flow.authorization_url, flow.state))
    }

    /// Ends an OIDC sign-in: takes the flow of `state` (once), redeems `code` with its PKCE
    /// verifier, checks the ID token (see `oidc`), and signs the user in with the roles their
    /// groups map to. Returns the principal and the `next` page recorded at the start.
    pub async fn oidc_finish(
        &self,
        state: &str,
        code: &str,
        redirect_uri: &str,
    ) -> Result<(Principal, String)> {
        let refused = |why: &str| {
            trove_core::Error::new(
                trove_core::ErrorKind::Unauthenticated,
                format!("single sign-on refused: {why}"),
            )
        };
        let client = self
            .oidc_client()?
            .ok_or_else(|| refused("single sign-on is not configured"))?;
        let flow = self
            .meta
            .sign_in_flows()
            .take(&sha256_hex(state))
            .await?
            .ok_or_else(|| refused("this sign-in is unknown, used or expired; start again"))?;
        let who = client
            .finish(code, redirect_uri, &flow.verifier, &flow.nonce)
            .await?;
        tracing::info!(user = %who.username, subject = %who.subject, groups = ?who.groups, "OIDC identity verified");
        let principal = self
            .authenticator
            .sign_in_oidc(&who.username, &who.groups)
            .await?;
        Ok((principal, flow.next))
    }
}

/// What "test user login" found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LdapLoginReport {
    /// One sentence for the operator.
    pub outcome: String,
    /// Whether a real sign-in would succeed.
    pub signed_in: bool,
    pub dn: Option<String>,
    pub groups: Vec<String>,
    /// The Trove roles the groups map to.
    pub roles: Vec<String>,
}

impl Auth {
    /// Creates a user (`managed_by` e.g. `ui` or `cli`) with an optional password and roles.
    pub async fn add_user(
        &self,
        name: &str,
        password: Option<&str>,
        roles: &[String],
        managed_by: &str,
    ) -> Result<()> {
        validate_name("user", name)?;
        let hash = match password {
            Some(pw) => Some(hash_blocking(pw).await?),
            None => None,
        };
        let sec = self.meta.security();
        sec.create_user(name, hash.as_deref(), managed_by).await?;
        if !roles.is_empty() {
            sec.set_user_roles(name, roles).await?;
        }
        self.reload().await
    }

    pub async fn set_password(&self, name: &str, password: &str) -> Result<()> {
        let hash = hash_blocking(password).await?;
        self.meta
            .security()
            .set_password(name, &hash, false)
            .await?;
        self.reload().await
    }

    pub async fn set_user_status(&self, name: &str, status: UserStatus) -> Result<()> {
        self.meta.security().set_user_status(name, status).await?;
        self.reload().await
    }

    pub async fn set_user_roles(&self, name: &str, roles: &[String]) -> Result<()> {
        self.meta.security().set_user_roles(name, roles).await?;
        self.reload().await
    }

    /// Creates or replaces a role (bad names, cycles and unknown child roles refused).
    pub async fn upsert_role(&self, role: &RoleDecl, managed_by: &str) -> Result<()> {
        validate_name("role", &role.name)?;
        let def: RoleDef = role.to_role_def()?;
        let current = self.meta.security().list_roles().await?;
        check_role_graph(&current, std::slice::from_ref(&def))?;
        self.meta.security().upsert_role(&def, managed_by).await?;
        self.reload().await
    }

    pub async fn set_anonymous_enabled(&self, on: bool, managed_by: &str) -> Result<()> {
        self.meta
            .security()
            .set_anonymous_enabled(on, managed_by)
            .await?;
        self.reload().await
    }

    pub async fn set_realms(&self, realms: Realms, managed_by: &str) -> Result<()> {
        self.meta
            .security()
            .set_realms(&realms.names(), managed_by)
            .await?;
        self.reload().await
    }

    /// Which realms are on (for choosing the `WWW-Authenticate` challenge).
    pub fn realms(&self) -> Realms {
        self.authorizer.realms()
    }

    pub fn anonymous_enabled(&self) -> bool {
        self.authorizer.anonymous_enabled()
    }
}

/// An API token's narrowing: refuses what it does not cover, whatever the roles allow.
fn narrowing(
    identity: &Identity,
    action: Action,
    repo: &RepositoryConfig,
) -> std::result::Result<(), Denied> {
    match &identity.api_token {
        Some(g) if !g.covers(repo.name.as_str(), action) => Err(Denied {
            principal: identity.principal.clone(),
            action,
            repo: repo.name.to_string(),
            reason: format!(
                "the API token {} does not grant {action} on repository {}",
                g.name, repo.name
            ),
        }),
        _ => Ok(()),
    }
}

async fn hash_blocking(password: &str) -> Result<String> {
    password::hash_async(password.to_owned()).await
}
