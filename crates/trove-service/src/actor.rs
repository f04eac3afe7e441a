//! Who calls the service layer, for its checks and for the audit log: the identity (a
//! principal, and the API token it came with, whose narrowing bounds what it may do), how it
//! authenticated, from which address, and through which front end.

use std::fmt;

use serde::Serialize;
use trove_auth::{Identity, Principal};

/// The way in a change came through (the audit log's `front_end`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum FrontEnd {
    /// The web console (`/admin`).
    Console,
    /// The REST API (`/service/rest/v1`).
    Rest,
    /// A registry protocol (docker, raw): deletes of content.
    Registry,
    /// trove.toml, applied at start and on reload.
    Config,
    /// The `trove` command line.
    Cli,
}

impl FrontEnd {
    pub fn as_str(self) -> &'static str {
        match self {
            FrontEnd::Console => "console",
            FrontEnd::Rest => "rest",
            FrontEnd::Registry => "registry",
            FrontEnd::Config => "config",
            FrontEnd::Cli => "cli",
        }
    }
}

/// The caller of a service function. Derefs to its [`Principal`], so checks and messages read
/// as they did when callers were principals.
#[derive(Debug, Clone)]
pub struct Actor {
    pub identity: Identity,
    /// How it authenticated (`basic`, `docker-token`, `user-token`, `session`, `config`,
    /// `cli`); `None` for anonymous callers.
    pub realm: Option<String>,
    /// The client's address, as seen through trusted proxies.
    pub ip: Option<String>,
    pub front_end: FrontEnd,
}

impl Actor {
    /// A caller that authenticated as `identity` (its realm is the identity's).
    pub fn new(identity: Identity, front_end: FrontEnd, ip: Option<std::net::IpAddr>) -> Actor {
        Actor {
            realm: identity.realm().map(str::to_owned),
            identity,
            ip: ip.map(|i| i.to_string()),
            front_end,
        }
    }

    /// A console user, signed in with a session.
    pub fn session(principal: Principal, ip: Option<std::net::IpAddr>) -> Actor {
        Actor {
            identity: Identity::of(principal),
            realm: Some("session".into()),
            ip: ip.map(|i| i.to_string()),
            front_end: FrontEnd::Console,
        }
    }

    /// Someone not signed in yet, at `front_end` (what a sign-in is recorded as).
    pub fn anonymous(front_end: FrontEnd, ip: Option<std::net::IpAddr>) -> Actor {
        Actor {
            identity: Identity::of(Principal::Anonymous),
            realm: None,
            ip: ip.map(|i| i.to_string()),
            front_end,
        }
    }

    /// The name of the API token the call came with.
    pub fn token(&self) -> Option<&str> {
        self.identity.api_token.as_ref().map(|t| t.name.as_str())
    }

    pub fn principal(&self) -> &Principal {
        &self.identity.principal
    }
}

impl std::ops::Deref for Actor {
    type Target = Principal;
    fn deref(&self) -> &Principal {
        &self.identity.principal
    }
}

impl fmt::Display for Actor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.token() {
            None => fmt::Display::fmt(&self.identity.principal, f),
            Some(t) => write!(f, "{} (token {t})", self.identity.principal),
        }
    }
}
