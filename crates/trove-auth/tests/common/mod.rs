//! Shared setup: a real SQLite database in a temp dir, the real `Auth`.
#![allow(dead_code)]

use std::time::Duration;

use base64::Engine as _;
use trove_auth::{
    Action, ActionSet, Auth, AuthSettings, PrivilegeDecl, RequestedAccess, RoleDecl, ScopeAction,
    UserDecl,
};
use trove_core::{KindConfig, RepoName, RepositoryConfig, WritePolicy};
use trove_store::MetadataStore;

pub async fn store() -> (tempfile::TempDir, MetadataStore) {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("t.db").display());
    let meta = MetadataStore::open(&url).await.unwrap();
    (dir, meta)
}

pub async fn auth_with(settings: AuthSettings) -> (tempfile::TempDir, MetadataStore, Auth) {
    let (dir, meta) = store().await;
    let auth = Auth::init(meta.clone(), settings).await.unwrap();
    (dir, meta, auth)
}

pub async fn auth() -> (tempfile::TempDir, MetadataStore, Auth) {
    auth_with(AuthSettings::default()).await
}

pub fn settings(cache_ttl: Duration) -> AuthSettings {
    AuthSettings {
        basic_cache_ttl: cache_ttl,
        ..AuthSettings::default()
    }
}

pub fn repo(id: &str, name: &str, format: &str) -> RepositoryConfig {
    RepositoryConfig {
        id: id.into(),
        name: RepoName::parse(name).unwrap(),
        format: trove_core::FormatId::parse(format).unwrap(),
        options: Default::default(),
        online: true,
        kind: KindConfig::Hosted {
            write_policy: WritePolicy::Allow,
        },
        force_basic_auth: false,
        routing_rule: None,
    }
}

pub fn basic(user: &str, password: &str) -> String {
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"))
    )
}

pub fn privilege(format: &str, repo: &str, actions: &[&str]) -> PrivilegeDecl {
    PrivilegeDecl {
        format: Some(format.into()),
        repo: Some(repo.into()),
        actions: actions.iter().map(|s| s.to_string()).collect(),
        ..Default::default()
    }
}

pub fn role(name: &str, privileges: Vec<PrivilegeDecl>, roles: &[&str]) -> RoleDecl {
    RoleDecl {
        name: name.into(),
        description: String::new(),
        privileges,
        roles: roles.iter().map(|s| s.to_string()).collect(),
        external_groups: Vec::new(),
    }
}

pub fn user(name: &str, password: Option<&str>, roles: &[&str]) -> UserDecl {
    UserDecl {
        name: name.into(),
        password: password.map(str::to_owned),
        roles: roles.iter().map(|s| s.to_string()).collect(),
    }
}

/// A format's scope vocabulary, as a format defines it (this one has docker's shape: the
/// docker module keeps the real table and tests it against the registry API).
pub const PULL: ScopeAction = ScopeAction {
    name: "pull",
    covers: ActionSet::of_const(&[Action::Browse, Action::Read]),
    requires: ActionSet::of_const(&[Action::Read]),
};
pub const PUSH: ScopeAction = ScopeAction {
    name: "push",
    covers: ActionSet::of_const(&[Action::Add, Action::Edit]),
    requires: ActionSet::of_const(&[Action::Read, Action::Add, Action::Edit]),
};
pub const DELETE: ScopeAction = ScopeAction {
    name: "delete",
    covers: ActionSet::of_const(&[Action::Delete]),
    requires: ActionSet::of_const(&[Action::Delete]),
};

/// The scope actions named `names` (`*` is all three; unknown names ask for nothing).
pub fn scope(names: &[&str]) -> Vec<ScopeAction> {
    let mut out = Vec::new();
    for n in names {
        let add: &[ScopeAction] = match *n {
            "pull" => &[PULL],
            "push" => &[PUSH],
            "delete" => &[DELETE],
            "*" => &[PULL, PUSH, DELETE],
            _ => &[],
        };
        for a in add {
            if !out.contains(a) {
                out.push(*a);
            }
        }
    }
    out
}

pub fn ask<'a>(repo: &'a RepositoryConfig, name: &str, actions: &[&str]) -> RequestedAccess<'a> {
    RequestedAccess {
        repo,
        name: name.into(),
        actions: scope(actions),
    }
}
