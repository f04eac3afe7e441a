//! May the caller do this, for formats whose refusals are a plain challenge or a 403 (docker
//! has its own, with token scopes). One rule for every format: a caller who may not see a
//! repository gets exactly the answer a missing repository gives, so existence never leaks;
//! a caller who would see a repository of that name learns it is missing.

use trove_auth::{Action, Auth, Identity};
use trove_core::{FormatId, KindConfig, RepoName, RepositoryConfig};

/// Why a request may not proceed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// No (or anonymous) credentials: the client should log in. The message says why.
    Challenge(String),
    /// A known user who may see the repository but not do this: the message says what is
    /// missing (`reason` is for the log).
    Denied { message: String, reason: String },
    /// The same answer for a repository the caller may not see and one that does not exist.
    Hidden { repository: String },
    /// No such repository, told to a caller who could see it if it existed.
    Missing { repository: String },
}

impl Refusal {
    /// The message a client is shown.
    pub fn message(&self) -> String {
        match self {
            Refusal::Challenge(m) => m.clone(),
            Refusal::Denied { message, .. } => message.clone(),
            Refusal::Hidden { repository } => {
                format!("access to repository {repository} is denied (or it does not exist)")
            }
            Refusal::Missing { repository } => {
                format!("repository {repository} does not exist or is offline")
            }
        }
    }

    /// What the log line says.
    pub fn reason(&self) -> String {
        match self {
            Refusal::Challenge(m) => m.clone(),
            Refusal::Denied { reason, .. } => reason.clone(),
            Refusal::Hidden { .. } => "may not see the repository".into(),
            Refusal::Missing { .. } => "no such repository".into(),
        }
    }
}

/// Whether the caller's privileges would let them browse a `format` repository called `name`.
pub fn would_see(auth: &Auth, identity: &Identity, format: &FormatId, name: &str) -> bool {
    let Ok(name) = RepoName::parse(name) else {
        return false;
    };
    let hypothetical = RepositoryConfig {
        id: String::new(),
        name,
        format: format.clone(),
        options: Default::default(),
        online: true,
        kind: KindConfig::Hosted {
            write_policy: Default::default(),
        },
        force_basic_auth: false,
        routing_rule: None,
    };
    auth.authorize_rights(identity, Action::Browse, &hypothetical)
        .is_ok()
}

/// Checks `action` on `resource` (a path, or `None` for repository-wide calls) of `repo`, or
/// answers for a repository `name` that does not exist.
pub fn check(
    auth: &Auth,
    identity: &Identity,
    format: &FormatId,
    name: &str,
    repo: Option<&RepositoryConfig>,
    action: Action,
    resource: Option<&str>,
) -> Result<(), Refusal> {
    let anonymous = identity.principal.is_anonymous();
    let Some(repo) = repo else {
        return Err(if would_see(auth, identity, format, name) {
            Refusal::Missing {
                repository: name.to_owned(),
            }
        } else if anonymous {
            Refusal::Challenge("authentication required".into())
        } else {
            Refusal::Hidden {
                repository: name.to_owned(),
            }
        });
    };
    if repo.force_basic_auth && anonymous {
        return Err(Refusal::Challenge(format!(
            "authentication required: repository {} does not allow anonymous access",
            repo.name
        )));
    }
    let Err(d) = auth.authorize(identity, action, repo, resource) else {
        return Ok(());
    };
    if anonymous {
        return Err(Refusal::Challenge(d.to_string()));
    }
    let visible = auth
        .authorize_rights(identity, Action::Browse, repo)
        .is_ok();
    tracing::info!(principal = %d.principal, action = %d.action, repo = %d.repo, reason = %d.reason, "denied");
    Err(if visible {
        Refusal::Denied {
            message: format!("{d}: {}", d.reason),
            reason: d.reason,
        }
    } else {
        Refusal::Hidden {
            repository: repo.name.to_string(),
        }
    })
}
