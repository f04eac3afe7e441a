//! The vocabulary of the security model: who asks (`Principal`), what they do (`Action`), what a
//! role may hold (`Privilege`), and which ways of logging in are on (`Realms`).

use std::fmt;

use trove_core::{Error, RepoName, RepositoryConfig, Result};
use trove_store::{PrivilegeDef, PrivilegeKind};

/// Who a request comes from, once authenticated.
#[derive(Clone, PartialEq, Eq, Hash)]
pub enum Principal {
    /// No credentials: gets exactly the roles of the `anonymous` user, and only while anonymous
    /// access is on.
    Anonymous,
    User {
        id: String,
        name: String,
    },
}

impl Principal {
    /// The user name (`anonymous` for anonymous requests), for audit fields and messages.
    pub fn name(&self) -> &str {
        match self {
            Principal::Anonymous => trove_store::ANONYMOUS_USER,
            Principal::User { name, .. } => name,
        }
    }
    pub fn is_anonymous(&self) -> bool {
        matches!(self, Principal::Anonymous)
    }
}

impl fmt::Display for Principal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Principal::Anonymous => f.write_str("anonymous"),
            Principal::User { name, .. } => write!(f, "user {name}"),
        }
    }
}
impl fmt::Debug for Principal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// What a request does to a repository's content (Nexus' repository-view actions).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Action {
    /// List: the docker catalog and tag lists.
    Browse,
    /// Download: docker pull (manifests, blobs, referrers).
    Read,
    /// Create new content: blob uploads, a manifest under a new tag.
    Add,
    /// Change existing content: moving a tag to another manifest.
    Edit,
    /// Remove content.
    Delete,
}

impl Action {
    pub const ALL: [Action; 5] = [
        Action::Browse,
        Action::Read,
        Action::Add,
        Action::Edit,
        Action::Delete,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Action::Browse => "browse",
            Action::Read => "read",
            Action::Add => "add",
            Action::Edit => "edit",
            Action::Delete => "delete",
        }
    }

    /// Parses an action name (lowercase, as in the config file and Nexus).
    pub fn parse(s: &str) -> Result<Action> {
        Action::ALL
            .into_iter()
            .find(|a| a.as_str() == s)
            .ok_or_else(|| {
                Error::invalid(format!(
                    "unknown action {s:?}: use browse, read, add, edit, delete or *"
                ))
            })
    }

    fn bit(self) -> u8 {
        1 << (self as u8)
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A set of actions. Written `browse,read` (in `Action::ALL` order) or `*` for all of them.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct ActionSet(u8);

impl ActionSet {
    pub const EMPTY: ActionSet = ActionSet(0);
    pub const ALL: ActionSet = ActionSet(0b1_1111);

    pub fn of(actions: &[Action]) -> ActionSet {
        actions.iter().fold(ActionSet::EMPTY, |s, a| s.with(*a))
    }
    /// [`Self::of`] for constants (a format's scope table).
    pub const fn of_const(actions: &[Action]) -> ActionSet {
        let mut bits = 0u8;
        let mut i = 0;
        while i < actions.len() {
            bits |= 1 << actions[i] as u8;
            i += 1;
        }
        ActionSet(bits)
    }
    pub fn with(self, a: Action) -> ActionSet {
        ActionSet(self.0 | a.bit())
    }
    pub fn insert(&mut self, a: Action) {
        self.0 |= a.bit();
    }
    pub fn contains(self, a: Action) -> bool {
        self.0 & a.bit() != 0
    }
    /// Whether every action of `other` is in `self`.
    pub fn contains_all(self, other: ActionSet) -> bool {
        self.0 & other.0 == other.0
    }
    pub fn union(self, other: ActionSet) -> ActionSet {
        ActionSet(self.0 | other.0)
    }
    pub fn is_empty(self) -> bool {
        self.0 == 0
    }
    pub fn is_all(self) -> bool {
        self == ActionSet::ALL
    }
    pub fn iter(self) -> impl Iterator<Item = Action> {
        Action::ALL.into_iter().filter(move |a| self.contains(*a))
    }

    /// Parses action names; `*` means all. An empty list or an unknown name is refused.
    pub fn parse<S: AsRef<str>>(names: &[S]) -> Result<ActionSet> {
        let mut set = ActionSet::EMPTY;
        for n in names {
            match n.as_ref().trim() {
                "*" => set = ActionSet::ALL,
                n => set.insert(Action::parse(n)?),
            }
        }
        if set.is_empty() {
            return Err(Error::invalid("a privilege needs at least one action"));
        }
        Ok(set)
    }

    /// Parses the stored form (`browse,read` or `*`).
    pub fn parse_list(s: &str) -> Result<ActionSet> {
        ActionSet::parse(&s.split(',').collect::<Vec<_>>())
    }

    /// The stored and displayed form: `*`, or names joined by `,`.
    pub fn to_list_string(self) -> String {
        if self.is_all() {
            "*".to_owned()
        } else {
            self.iter()
                .map(Action::as_str)
                .collect::<Vec<_>>()
                .join(",")
        }
    }
}

impl fmt::Display for ActionSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_list_string())
    }
}
impl fmt::Debug for ActionSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "[{self}]")
    }
}

/// Which repositories a privilege covers: all (`*`) or one, by exact name. (Groups are checked
/// per repository name like any other repository.)
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Pattern {
    Any,
    Exact(RepoName),
}

impl Pattern {
    /// `*` or a valid repository name.
    pub fn parse(s: &str) -> Result<Pattern> {
        if s == "*" {
            Ok(Pattern::Any)
        } else {
            RepoName::parse(s).map(Pattern::Exact)
        }
    }
    pub fn matches(&self, repo: &RepoName) -> bool {
        match self {
            Pattern::Any => true,
            Pattern::Exact(name) => name == repo,
        }
    }
    pub fn as_str(&self) -> &str {
        match self {
            Pattern::Any => "*",
            Pattern::Exact(name) => name.as_str(),
        }
    }
}

/// The name of the admin privilege, as in Nexus.
pub const ADMIN_PRIVILEGE: &str = "nx-all";

/// Application permissions a privilege of kind `application` can grant (besides admin, which
/// has them all).
pub const APPLICATIONS: &[&str] = &[METRICS];
/// Reading `/metrics` (a Prometheus scraper's credential).
pub const METRICS: &str = "metrics";

/// A grant a role can hold: some actions on the repositories matching a format and a
/// repository pattern (kind `RepositoryView`), or everything (kind `Admin`, `nx-all`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Privilege {
    /// Nexus-style generated name, e.g. `nx-repository-view-docker-docker-hosted-read`.
    pub name: String,
    pub kind: PrivilegeKind,
    /// Kind `Application`: the permission it grants (`metrics`).
    pub application: Option<String>,
    /// `None` means every format (`*`).
    pub format: Option<String>,
    pub repo: Pattern,
    pub actions: ActionSet,
}

impl Privilege {
    /// A repository-view privilege with its generated name. `format` `None` or `*` means every
    /// format.
    pub fn repository_view(
        format: Option<&str>,
        repo: Pattern,
        actions: ActionSet,
    ) -> Result<Self> {
        let format = match format.map(str::trim) {
            None | Some("*") => None,
            Some(f) => {
                let ok = !f.is_empty()
                    && f.len() <= 32
                    && f.bytes()
                        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit());
                if !ok {
                    return Err(Error::invalid(format!(
                        "invalid format {f:?} in a privilege: use a format id such as docker, or *"
                    )));
                }
                Some(f.to_owned())
            }
        };
        if actions.is_empty() {
            return Err(Error::invalid("a privilege needs at least one action"));
        }
        Ok(Privilege {
            name: Self::generated_name(format.as_deref(), &repo, actions),
            kind: PrivilegeKind::RepositoryView,
            application: None,
            format,
            repo,
            actions,
        })
    }

    /// The admin privilege: every action on every repository, and administration.
    pub fn admin() -> Self {
        Privilege {
            name: ADMIN_PRIVILEGE.to_owned(),
            kind: PrivilegeKind::Admin,
            application: None,
            format: None,
            repo: Pattern::Any,
            actions: ActionSet::ALL,
        }
    }

    /// The application permission `name` (`metrics`), named `nx-<name>-all` as in Nexus.
    pub fn application(name: &str) -> Result<Self> {
        if !APPLICATIONS.contains(&name) {
            return Err(Error::invalid(format!(
                "unknown application permission {name:?} (known: {})",
                APPLICATIONS.join(", ")
            )));
        }
        Ok(Privilege {
            name: format!("nx-{name}-all"),
            kind: PrivilegeKind::Application,
            application: Some(name.to_owned()),
            format: None,
            repo: Pattern::Any,
            actions: ActionSet::EMPTY,
        })
    }

    /// `nx-repository-view-<format|*>-<repo|*>-<actions|*>`, the names Nexus gives these grants.
    pub fn generated_name(format: Option<&str>, repo: &Pattern, actions: ActionSet) -> String {
        format!(
            "nx-repository-view-{}-{}-{}",
            format.unwrap_or("*"),
            repo.as_str(),
            actions
        )
    }

    /// Whether this privilege allows `action` on `repo`.
    pub fn grants(&self, action: Action, repo: &RepositoryConfig) -> bool {
        match self.kind {
            PrivilegeKind::Admin => true,
            PrivilegeKind::Application => false,
            PrivilegeKind::RepositoryView => {
                self.actions.contains(action)
                    && self.format.as_deref().is_none_or(|f| repo.format == f)
                    && self.repo.matches(&repo.name)
            }
        }
    }

    /// From the stored form; a row that does not parse is an error (callers skip it: it grants
    /// nothing).
    pub fn from_def(d: &PrivilegeDef) -> Result<Self> {
        match d.kind {
            PrivilegeKind::Admin => Ok(Privilege {
                name: d.name.clone(),
                ..Privilege::admin()
            }),
            PrivilegeKind::Application => Ok(Privilege {
                name: d.name.clone(),
                ..Privilege::application(&d.actions)?
            }),
            PrivilegeKind::RepositoryView => {
                let mut p = Privilege::repository_view(
                    Some(&d.format),
                    Pattern::parse(&d.repo)?,
                    ActionSet::parse_list(&d.actions)?,
                )?;
                p.name = d.name.clone();
                Ok(p)
            }
        }
    }

    /// The stored form.
    pub fn to_def(&self) -> PrivilegeDef {
        PrivilegeDef {
            name: self.name.clone(),
            kind: self.kind,
            format: self.format.clone().unwrap_or_else(|| "*".into()),
            repo: self.repo.as_str().to_owned(),
            actions: match &self.application {
                Some(app) => app.clone(),
                None => self.actions.to_list_string(),
            },
            description: String::new(),
        }
    }
}

/// A way of authenticating, each switchable (Nexus "realms").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Realm {
    /// Local users with a password, sent as HTTP Basic (also what `/v2/token` accepts).
    Basic,
    /// The Docker bearer-token realm: `/v2/token` mints JWTs, requests carry `Bearer`.
    DockerToken,
    /// Users of an LDAP directory (`[ldap]`), who authenticate by bind with the same HTTP
    /// Basic credentials; tried before or after `basic` as listed.
    Ldap,
}

impl Realm {
    pub const ALL: [Realm; 3] = [Realm::Basic, Realm::DockerToken, Realm::Ldap];
    pub fn as_str(self) -> &'static str {
        match self {
            Realm::Basic => "basic",
            Realm::DockerToken => "docker-token",
            Realm::Ldap => "ldap",
        }
    }
    pub fn parse(s: &str) -> Result<Realm> {
        Realm::ALL
            .into_iter()
            .find(|r| r.as_str() == s)
            .ok_or_else(|| {
                Error::invalid(format!(
                    "unknown realm {s:?}: use basic, ldap or docker-token"
                ))
            })
    }
}

/// Which realms are on, and which of the two password realms is tried first. Default (never
/// configured): basic and docker-token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Realms {
    pub basic: bool,
    pub docker_token: bool,
    pub ldap: bool,
    /// `ldap` is listed before `basic`: Basic credentials are tried against the directory
    /// first.
    pub ldap_first: bool,
}

impl Default for Realms {
    fn default() -> Self {
        Realms {
            basic: true,
            docker_token: true,
            ldap: false,
            ldap_first: false,
        }
    }
}

impl Realms {
    /// Nothing on.
    pub const NONE: Realms = Realms {
        basic: false,
        docker_token: false,
        ldap: false,
        ldap_first: false,
    };

    /// Realm names in order; the order of `basic` and `ldap` is the order Basic credentials
    /// are tried in.
    pub fn parse<S: AsRef<str>>(names: &[S]) -> Result<Realms> {
        let mut r = Realms::NONE;
        for n in names {
            match Realm::parse(n.as_ref())? {
                Realm::Basic => r.basic = true,
                Realm::DockerToken => r.docker_token = true,
                Realm::Ldap => {
                    r.ldap = true;
                    r.ldap_first = !r.basic;
                }
            }
        }
        Ok(r)
    }
    pub fn contains(self, realm: Realm) -> bool {
        match realm {
            Realm::Basic => self.basic,
            Realm::DockerToken => self.docker_token,
            Realm::Ldap => self.ldap,
        }
    }
    /// The realms that check a user name and password (HTTP Basic, the console's sign-in), in
    /// the order they are tried.
    pub fn password_realms(self) -> Vec<Realm> {
        let order = if self.ldap_first {
            [Realm::Ldap, Realm::Basic]
        } else {
            [Realm::Basic, Realm::Ldap]
        };
        order.into_iter().filter(|r| self.contains(*r)).collect()
    }
    /// The names of the realms that are on, the password realms in their order.
    pub fn names(self) -> Vec<String> {
        let mut names: Vec<String> = self
            .password_realms()
            .into_iter()
            .map(|r| r.as_str().to_owned())
            .collect();
        if self.docker_token {
            names.push(Realm::DockerToken.as_str().to_owned());
        }
        names
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn action_sets() {
        let s = ActionSet::parse(&["read", "browse"]).unwrap();
        assert_eq!(s.to_list_string(), "browse,read");
        assert_eq!(ActionSet::parse_list("browse,read").unwrap(), s);
        assert_eq!(ActionSet::parse(&["*"]).unwrap().to_list_string(), "*");
        assert_eq!(ActionSet::parse_list("*").unwrap(), ActionSet::ALL);
        assert!(ActionSet::parse::<&str>(&[]).is_err());
        assert!(ActionSet::parse(&["pull"]).is_err());
        assert!(ActionSet::ALL.contains_all(s) && !s.contains_all(ActionSet::ALL));
    }

    #[test]
    fn nexus_names() {
        let p = Privilege::repository_view(
            Some("docker"),
            Pattern::parse("docker-hosted").unwrap(),
            ActionSet::of(&[Action::Read]),
        )
        .unwrap();
        assert_eq!(p.name, "nx-repository-view-docker-docker-hosted-read");
        let p = Privilege::repository_view(Some("*"), Pattern::Any, ActionSet::ALL).unwrap();
        assert_eq!(p.name, "nx-repository-view-*-*-*");
        assert_eq!(Privilege::admin().name, "nx-all");
        assert_eq!(Privilege::from_def(&p.to_def()).unwrap(), p);
        assert!(Privilege::repository_view(Some("Dock er"), Pattern::Any, ActionSet::ALL).is_err());
        assert!(Pattern::parse("a/b").is_err());
    }

    #[test]
    fn realms() {
        assert_eq!(Realms::parse(&["basic"]).unwrap().names(), ["basic"]);
        assert!(Realms::parse(&["kerberos"]).is_err());
        assert_eq!(Realms::default().names(), ["basic", "docker-token"]);
        // The order of the password realms is kept; docker-token's place does not matter.
        let r = Realms::parse(&["docker-token", "ldap", "basic"]).unwrap();
        assert_eq!(r.password_realms(), [Realm::Ldap, Realm::Basic]);
        assert_eq!(r.names(), ["ldap", "basic", "docker-token"]);
        let r = Realms::parse(&["basic", "ldap"]).unwrap();
        assert_eq!(r.password_realms(), [Realm::Basic, Realm::Ldap]);
        assert_eq!(Realms::parse(&["ldap"]).unwrap().names(), ["ldap"]);
    }
}
