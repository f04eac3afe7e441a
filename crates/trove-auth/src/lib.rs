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
mod model;
pub mod password;
mod policy;
mod rules;
mod token;

use std::sync::Arc;
use std::time::Duration;

use trove_core::{RepositoryConfig, Result};
use trove_store::{MetadataStore, RoleDef};

pub use api_token::{NewToken, TOKEN_PREFIX, TokenGrant};
pub use authn::{AuthError, AuthStats, Authenticator, Identity, LoginHold, claimed};
pub use builtins::{ADMIN_ROLE, ANONYMOUS_READ_ROLE, BOOTSTRAP_ADMIN_USER, METRICS_ROLE};
pub use declare::{PrivilegeDecl, RoleDecl, SecurityDecl, UserDecl};
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
        let report = self.meta.security().reconcile(&declared).await?;
        self.reload().await?;
        Ok(report)
    }

    /// [`Self::apply_config`] without any password work: declared users that already have a
    /// password keep it, new ones have none, until [`Self::apply_config`] runs. What a server
    /// start runs before it listens, under a [`LoginHold`] kept until the full apply is done.
    pub async fn apply_config_quick(&self, decl: &SecurityDecl) -> Result<SecurityReport> {
        let declared = declare::resolve_with(&self.meta, decl, false).await?;
        let report = self.meta.security().reconcile(&declared).await?;
        self.reload().await?;
        Ok(report)
    }

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
