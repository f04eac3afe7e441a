//! Authorization: an in-memory snapshot of roles, privileges and users' roles, walked per
//! request (microseconds, no I/O), refreshed from the database every few seconds so other
//! nodes' edits are seen, and at once after edits made through [`crate::Auth`].

use std::collections::{HashMap, HashSet, VecDeque};
use std::fmt;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use trove_core::{Error, ErrorKind, RepositoryConfig, Result};
use trove_store::{ANONYMOUS_USER, MetadataStore, PrivilegeKind, SecuritySnapshot, UserStatus};

use crate::model::{Action, ActionSet, Principal, Privilege, Realms};

struct CompiledRole {
    privileges: Vec<Privilege>,
    children: Vec<String>,
}

struct UserEntry {
    active: bool,
    roles: Vec<String>,
}

/// One consistent view of the security model.
pub(crate) struct Policy {
    pub(crate) anonymous_enabled: bool,
    pub(crate) realms: Realms,
    roles: HashMap<String, CompiledRole>,
    users_by_id: HashMap<String, UserEntry>,
    ids_by_name: HashMap<String, String>,
    /// `[ldap]`, when configured and valid (the realm is used only when also listed in
    /// `realms`).
    pub(crate) ldap: Option<Arc<crate::ldap::LdapConfig>>,
    /// `[oidc]`, when configured and valid.
    pub(crate) oidc: Option<Arc<crate::oidc::OidcConfig>>,
}

/// A stored JSON setting, parsed and checked; a broken one is ignored with a warning (deny by
/// default: a realm that cannot be read signs nobody in).
fn stored_setting<T: serde::de::DeserializeOwned>(
    settings: &HashMap<String, String>,
    key: &str,
    validate: impl Fn(&T) -> Result<()>,
) -> Option<Arc<T>> {
    let raw = settings.get(key)?;
    match serde_json::from_str::<T>(raw)
        .map_err(|e| Error::invalid(e.to_string()))
        .and_then(|v| validate(&v).map(|_| v))
    {
        Ok(v) => Some(Arc::new(v)),
        Err(e) => {
            tracing::warn!(setting = key, error = %e.msg, "stored setting ignored");
            None
        }
    }
}

/// Why a request was refused, before it is worded.
enum Refusal {
    AnonymousDisabled,
    UnknownUser,
    Disabled,
    NoGrant { roles: Vec<String> },
}

enum Evaluation {
    Allowed(Grant),
    Refused(Refusal),
}

impl Policy {
    pub(crate) fn compile(s: SecuritySnapshot) -> Policy {
        let realms = match &s.realms {
            None => Realms::default(),
            Some(names) => {
                // Deny by default: a stored name this version does not know switches nothing on.
                let known: Vec<&String> = names
                    .iter()
                    .filter(|n| {
                        let ok = crate::model::Realm::parse(n).is_ok();
                        if !ok {
                            tracing::warn!(realm = %n, "unknown realm ignored");
                        }
                        ok
                    })
                    .collect();
                Realms::parse(&known).expect("only known realms are left")
            }
        };
        let roles = s
            .roles
            .into_iter()
            .map(|r| {
                let privileges = r
                    .privileges
                    .iter()
                    .filter_map(|d| match Privilege::from_def(d) {
                        Ok(p) => Some(p),
                        Err(e) => {
                            tracing::warn!(privilege = %d.name, error = %e, "privilege ignored: it grants nothing");
                            None
                        }
                    })
                    .collect();
                (
                    r.name,
                    CompiledRole {
                        privileges,
                        children: r.roles,
                    },
                )
            })
            .collect();
        let mut users_by_id = HashMap::new();
        let mut ids_by_name = HashMap::new();
        for u in s.users {
            ids_by_name.insert(u.name.clone(), u.id.clone());
            users_by_id.insert(
                u.id.clone(),
                UserEntry {
                    active: u.status == UserStatus::Active,
                    roles: u.roles,
                },
            );
        }
        Policy {
            anonymous_enabled: s.anonymous_enabled,
            realms,
            roles,
            users_by_id,
            ids_by_name,
            ldap: stored_setting(
                &s.settings,
                trove_store::KEY_LDAP,
                crate::ldap::LdapConfig::validate,
            ),
            oidc: stored_setting(
                &s.settings,
                trove_store::KEY_OIDC,
                crate::oidc::OidcConfig::validate,
            ),
        }
    }

    pub(crate) fn knows_user(&self, id: &str) -> bool {
        self.users_by_id.contains_key(id)
    }

    /// The direct roles of the user with `id`, if the snapshot knows them.
    pub(crate) fn user_roles(&self, id: &str) -> Option<Vec<String>> {
        self.users_by_id.get(id).map(|u| u.roles.clone())
    }

    /// Whether the user with `id` exists and is active now.
    pub(crate) fn user_active(&self, id: &str) -> bool {
        self.users_by_id.get(id).is_some_and(|u| u.active)
    }

    /// The user row whose roles apply to `principal`.
    fn entry(&self, principal: &Principal) -> std::result::Result<&UserEntry, Refusal> {
        let entry = match principal {
            Principal::Anonymous => {
                if !self.anonymous_enabled {
                    return Err(Refusal::AnonymousDisabled);
                }
                self.ids_by_name
                    .get(ANONYMOUS_USER)
                    .and_then(|id| self.users_by_id.get(id))
            }
            Principal::User { id, .. } => self.users_by_id.get(id),
        };
        match entry {
            None => Err(Refusal::UnknownUser),
            Some(e) if !e.active => Err(Refusal::Disabled),
            Some(e) => Ok(e),
        }
    }

    /// Breadth-first over the user's roles and their children (so the reported path is a
    /// shortest one), in name order; the first privilege that grants wins. Deny by default.
    fn evaluate(
        &self,
        principal: &Principal,
        action: Action,
        repo: &RepositoryConfig,
    ) -> Evaluation {
        self.evaluate_with(principal, &|p| p.grants(action, repo))
    }

    /// Walks the principal's roles (nested, breadth first) for a privilege that `grants`.
    fn evaluate_with(
        &self,
        principal: &Principal,
        grants: &dyn Fn(&Privilege) -> bool,
    ) -> Evaluation {
        let user = match self.entry(principal) {
            Ok(u) => u,
            Err(r) => return Evaluation::Refused(r),
        };
        let mut direct = user.roles.clone();
        direct.sort();
        let mut seen: HashSet<&str> = HashSet::new();
        let mut queue: VecDeque<Vec<&str>> = VecDeque::new();
        for r in &direct {
            if seen.insert(r) {
                queue.push_back(vec![r.as_str()]);
            }
        }
        while let Some(path) = queue.pop_front() {
            let name = *path.last().expect("paths are never empty");
            let Some(role) = self.roles.get(name) else {
                continue;
            };
            let mut privileges: Vec<&Privilege> = role.privileges.iter().collect();
            privileges.sort_by(|a, b| a.name.cmp(&b.name));
            if let Some(p) = privileges.into_iter().find(|p| grants(p)) {
                return Evaluation::Allowed(Grant {
                    role_path: path.iter().map(|s| s.to_string()).collect(),
                    privilege: p.name.clone(),
                });
            }
            let mut children: Vec<&str> = role.children.iter().map(String::as_str).collect();
            children.sort();
            for c in children {
                if seen.insert(c) {
                    let mut next = path.clone();
                    next.push(c);
                    queue.push_back(next);
                }
            }
        }
        Evaluation::Refused(Refusal::NoGrant { roles: direct })
    }

    pub(crate) fn check(
        &self,
        principal: &Principal,
        action: Action,
        repo: &RepositoryConfig,
    ) -> std::result::Result<Grant, Denied> {
        match self.evaluate(principal, action, repo) {
            Evaluation::Allowed(g) => Ok(g),
            Evaluation::Refused(r) => Err(Denied {
                principal: principal.clone(),
                action,
                repo: repo.name.to_string(),
                reason: missing(principal.name(), action, repo, &r),
            }),
        }
    }

    /// Every action `principal` may take on `repo`.
    pub(crate) fn allowed_actions(
        &self,
        principal: &Principal,
        repo: &RepositoryConfig,
    ) -> ActionSet {
        Action::ALL
            .into_iter()
            .filter(|a| matches!(self.evaluate(principal, *a, repo), Evaluation::Allowed(_)))
            .fold(ActionSet::EMPTY, ActionSet::with)
    }

    pub(crate) fn explain(
        &self,
        user: &str,
        repo: &RepositoryConfig,
        action: Action,
    ) -> Explanation {
        let principal = if user == ANONYMOUS_USER {
            Some(Principal::Anonymous)
        } else {
            self.ids_by_name.get(user).map(|id| Principal::User {
                id: id.clone(),
                name: user.to_owned(),
            })
        };
        let evaluation = match &principal {
            None => Evaluation::Refused(Refusal::UnknownUser),
            Some(p) => self.evaluate(p, action, repo),
        };
        match evaluation {
            Evaluation::Allowed(g) => Explanation {
                allowed: true,
                granted_by: Some((g.role_path, g.privilege)),
                missing: String::new(),
            },
            Evaluation::Refused(r) => Explanation {
                allowed: false,
                granted_by: None,
                missing: missing(user, action, repo, &r),
            },
        }
    }
}

/// What is missing, worded for an operator.
fn missing(user: &str, action: Action, repo: &RepositoryConfig, r: &Refusal) -> String {
    let suggestion = Privilege::generated_name(
        Some(repo.format.as_str()),
        &crate::model::Pattern::Exact(repo.name.clone()),
        ActionSet::of(&[action]),
    );
    match r {
        Refusal::AnonymousDisabled => "anonymous access is disabled; log in, or turn it on \
             ([security] anonymous = true) and give the anonymous user a role"
            .to_owned(),
        Refusal::UnknownUser => format!("no user named {user}"),
        Refusal::Disabled => format!("user {user} is disabled"),
        Refusal::NoGrant { roles } => {
            let subject = if user == ANONYMOUS_USER {
                "anonymous requests have the roles of user anonymous:".to_owned()
            } else {
                format!("user {user} has roles")
            };
            format!(
                "{subject} [{}]; none grants {action} on {}; add e.g. privilege {suggestion}",
                roles.join(", "),
                repo.name
            )
        }
    }
}

/// Why a request was allowed: the role path (a direct role of the user first) and the
/// privilege at its end.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    pub role_path: Vec<String>,
    pub privilege: String,
}

/// A refusal. Anonymous callers are told to authenticate (`Unauthenticated`, so the front-end
/// sends a challenge); authenticated ones are `Forbidden`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Denied {
    pub principal: Principal,
    pub action: Action,
    pub repo: String,
    /// What is missing, for logs and operators (`Auth::explain` words it the same way).
    pub reason: String,
}

impl Denied {
    pub fn kind(&self) -> ErrorKind {
        if self.principal.is_anonymous() {
            ErrorKind::Unauthenticated
        } else {
            ErrorKind::Forbidden
        }
    }
}

impl fmt::Display for Denied {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.principal.is_anonymous() {
            f.write_str("authentication required")
        } else {
            write!(
                f,
                "{} may not {} in repository {}",
                self.principal, self.action, self.repo
            )
        }
    }
}

impl std::error::Error for Denied {}

impl From<Denied> for Error {
    fn from(d: Denied) -> Error {
        Error::new(d.kind(), d.to_string())
    }
}

/// The answer to "may this user do that, and why?".
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Explanation {
    pub allowed: bool,
    /// The role path (a direct role first) and the privilege that granted it.
    pub granted_by: Option<(Vec<String>, String)>,
    /// What is missing when denied; empty when allowed.
    pub missing: String,
}

impl fmt::Display for Explanation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.granted_by {
            Some((path, privilege)) if self.allowed => {
                let path: Vec<String> = path.iter().map(|r| format!("role {r}")).collect();
                write!(f, "allowed: {} grants {privilege}", path.join(" → "))
            }
            _ => write!(f, "denied: {}", self.missing),
        }
    }
}

/// Holds the current [`Policy`] and reloads it.
pub(crate) struct PolicyCache {
    meta: MetadataStore,
    current: RwLock<Arc<Policy>>,
    loaded_at: Mutex<Instant>,
    ttl: Duration,
    reload_lock: tokio::sync::Mutex<()>,
}

/// However stale the policy, a miss on an unknown user reloads at most this often.
const MIN_RELOAD_INTERVAL: Duration = Duration::from_millis(500);

impl PolicyCache {
    pub(crate) async fn load(meta: MetadataStore, ttl: Duration) -> Result<PolicyCache> {
        let policy = Policy::compile(meta.security().snapshot().await?);
        Ok(PolicyCache {
            meta,
            current: RwLock::new(Arc::new(policy)),
            loaded_at: Mutex::new(Instant::now()),
            ttl,
            reload_lock: tokio::sync::Mutex::new(()),
        })
    }

    pub(crate) fn current(&self) -> Arc<Policy> {
        self.current.read().expect("policy lock").clone()
    }

    fn age(&self) -> Duration {
        self.loaded_at.lock().expect("policy lock").elapsed()
    }

    pub(crate) async fn reload(&self) -> Result<()> {
        let _guard = self.reload_lock.lock().await;
        self.reload_locked().await
    }

    async fn reload_locked(&self) -> Result<()> {
        let policy = Policy::compile(self.meta.security().snapshot().await?);
        *self.current.write().expect("policy lock") = Arc::new(policy);
        *self.loaded_at.lock().expect("policy lock") = Instant::now();
        Ok(())
    }

    /// Reloads when older than the TTL. One caller reloads; the others keep using the current
    /// snapshot meanwhile. A failed reload keeps the old snapshot (and is logged).
    pub(crate) async fn refresh_if_stale(&self) {
        if self.age() < self.ttl {
            return;
        }
        if let Ok(_guard) = self.reload_lock.try_lock()
            && self.age() >= self.ttl
            && let Err(e) = self.reload_locked().await
        {
            tracing::warn!(error = ?e, "reloading the security policy failed; keeping the previous one");
        }
    }

    /// Makes sure a user that just authenticated is in the snapshot (created moments ago here
    /// or on another node). `verified_in_db` is for callers that have just read the user's row
    /// (Basic): the reload is then always worth it. Otherwise (a token naming a user the
    /// snapshot lacks, perhaps deleted since) reloads happen at most every
    /// `MIN_RELOAD_INTERVAL`.
    pub(crate) async fn ensure_user_known(&self, id: &str, verified_in_db: bool) {
        if self.current().knows_user(id) || (!verified_in_db && self.age() < MIN_RELOAD_INTERVAL) {
            return;
        }
        let _guard = self.reload_lock.lock().await;
        if !self.current().knows_user(id)
            && (verified_in_db || self.age() >= MIN_RELOAD_INTERVAL)
            && let Err(e) = self.reload_locked().await
        {
            tracing::warn!(error = ?e, "reloading the security policy failed");
        }
    }
}

/// Decides whether a principal may take an action on a repository, from the in-memory
/// snapshot. Deny by default: no role, no grant; unknown or disabled users get nothing;
/// anonymous requests get the anonymous user's roles only while anonymous access is on.
#[derive(Clone)]
pub struct Authorizer {
    pub(crate) policy: Arc<PolicyCache>,
}

impl Authorizer {
    pub fn check(
        &self,
        principal: &Principal,
        action: Action,
        repo: &RepositoryConfig,
    ) -> std::result::Result<Grant, Denied> {
        self.policy.current().check(principal, action, repo)
    }

    /// Every action `principal` may take on `repo` (what the token endpoint intersects with).
    pub fn allowed_actions(&self, principal: &Principal, repo: &RepositoryConfig) -> ActionSet {
        self.policy.current().allowed_actions(principal, repo)
    }

    /// Allowed or denied, and why, for the user named `user` (`anonymous` for anonymous
    /// requests), from the same evaluation `check` runs.
    pub fn explain(&self, user: &str, repo: &RepositoryConfig, action: Action) -> Explanation {
        self.policy.current().explain(user, repo, action)
    }

    /// Whether the principal holds the admin privilege (`nx-all`), directly or through nested
    /// roles: what the admin API and console require.
    /// Whether `principal` holds application permission `name` (`metrics`): through a
    /// privilege of kind application, or as an administrator.
    pub fn may(&self, principal: &Principal, name: &str) -> bool {
        let policy = self.policy.current();
        matches!(
            policy.evaluate_with(principal, &|p| {
                p.kind == PrivilegeKind::Admin
                    || (p.kind == PrivilegeKind::Application
                        && p.application.as_deref() == Some(name))
            }),
            Evaluation::Allowed(_)
        )
    }

    pub fn is_admin(&self, principal: &Principal) -> bool {
        let policy = self.policy.current();
        matches!(
            policy.evaluate_with(principal, &|p| p.kind == PrivilegeKind::Admin),
            Evaluation::Allowed(_)
        )
    }

    pub fn anonymous_enabled(&self) -> bool {
        self.policy.current().anonymous_enabled
    }

    pub fn realms(&self) -> Realms {
        self.policy.current().realms
    }
}
