//! The service layer of Trove: the one place where the console (`/admin`, crate `trove-ui`)
//! and the REST API (`/service/rest/v1`, crate `trove-rest`) read and change repositories,
//! security, routing rules and status. Each call checks the caller's rights, validates its
//! input (errors name the field) and applies the change: database first, then
//! [`Node::changed`], which rebuilds what runs. The front ends only translate HTTP to calls
//! and results to HTML or JSON.
//!
//! It owns authorization of management calls, the validation rules of repositories (the same
//! rules check `[[repository]]` in trove.toml, see [`validate`]), the ownership policy (rows
//! declared in trove.toml, `managed_by = 'config'`, are read-only here; rows created here are
//! `managed_by = 'ui'`), browsing through each format's [`trove_formats::browse::Browse`], and
//! the request counters ([`metrics`]).
//!
//! It must never depend on `trove-server`, `trove-ui` or `trove-rest`, and its API has no
//! HTTP framework types: the server it runs in is reached through the small [`Node`] trait.

mod actor;
pub mod audit;
mod browse;
mod external;
mod formats;
pub mod metrics;
mod node;
mod repos;
mod rules;
mod security;
mod sessions;
mod status;
#[cfg(any(test, feature = "testing"))]
pub mod testing;
mod tokens;
pub mod validate;

use std::sync::Arc;

use serde::Serialize;
use trove_auth::{Identity, Principal};
use trove_core::{BlobStore, ErrorKind};
use trove_store::MetadataStore;

pub use actor::{Actor, FrontEnd};
pub use audit::AuditFilter;
pub use browse::{AssetView, ComponentView, RepoContent};
pub use external::{LdapLoginView, LdapView};
pub use formats::{FormatView, OptionFieldView};
pub use node::{Node, NodeInfo, UpstreamView};
pub use repos::{RepoInput, RepoView, kind_name, write_policy_name};
pub use rules::{RuleInput, RuleTestView, RuleView, compiled as compiled_rule};
pub use security::{
    AnonymousView, ExplainView, PasswordChange, PrivilegeInput, PrivilegeView, RealmsView,
    RoleInput, RoleView, UserInput, UserUpdate, UserView,
};
pub use sessions::Session;
pub use status::{BlobStoreView, Dashboard, Health};
pub use tokens::{CreatedToken, TokenInput, TokenView};

/// Who owns rows created through the console or the API.
pub const UI: &str = "ui";

/// Why a service call failed. `Invalid` names the input field when one is at fault.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "code", rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ServiceError {
    /// No (valid) credentials.
    Unauthenticated {
        message: String,
    },
    /// Authenticated, not allowed; also: a read-only (config-declared) entity.
    Forbidden {
        message: String,
    },
    NotFound {
        message: String,
    },
    Invalid {
        #[serde(skip_serializing_if = "Option::is_none")]
        field: Option<String>,
        message: String,
    },
    /// The name is taken.
    Conflict {
        message: String,
    },
    /// Temporarily not possible (the disk holding the data is full, an upstream is down): the
    /// message says what, and trying again later may work.
    Unavailable {
        message: String,
    },
    Internal {
        message: String,
    },
}

impl ServiceError {
    pub fn invalid(field: &str, message: impl Into<String>) -> Self {
        ServiceError::Invalid {
            field: Some(field.to_owned()),
            message: message.into(),
        }
    }
    pub fn not_found(message: impl Into<String>) -> Self {
        ServiceError::NotFound {
            message: message.into(),
        }
    }
    pub fn forbidden(message: impl Into<String>) -> Self {
        ServiceError::Forbidden {
            message: message.into(),
        }
    }
    pub fn message(&self) -> &str {
        match self {
            ServiceError::Unauthenticated { message }
            | ServiceError::Forbidden { message }
            | ServiceError::NotFound { message }
            | ServiceError::Invalid { message, .. }
            | ServiceError::Conflict { message }
            | ServiceError::Unavailable { message }
            | ServiceError::Internal { message } => message,
        }
    }
    /// The input field at fault, if any.
    pub fn field(&self) -> Option<&str> {
        match self {
            ServiceError::Invalid { field, .. } => field.as_deref(),
            _ => None,
        }
    }
    /// The HTTP status both front ends answer with.
    pub fn status(&self) -> u16 {
        match self {
            ServiceError::Unauthenticated { .. } => 401,
            ServiceError::Forbidden { .. } => 403,
            ServiceError::NotFound { .. } => 404,
            ServiceError::Invalid { .. } => 400,
            ServiceError::Conflict { .. } => 409,
            ServiceError::Unavailable { .. } => 503,
            ServiceError::Internal { .. } => 500,
        }
    }
}

impl std::fmt::Display for ServiceError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.field() {
            Some(field) => write!(f, "{field}: {}", self.message()),
            None => f.write_str(self.message()),
        }
    }
}

impl From<trove_core::Error> for ServiceError {
    fn from(e: trove_core::Error) -> Self {
        let message = e.msg.clone();
        match e.kind {
            ErrorKind::NotFound => ServiceError::NotFound { message },
            ErrorKind::AlreadyExists => ServiceError::Conflict { message },
            ErrorKind::Invalid | ErrorKind::DigestMismatch | ErrorKind::RangeNotSatisfiable => {
                ServiceError::Invalid {
                    field: None,
                    message,
                }
            }
            ErrorKind::Unauthenticated => ServiceError::Unauthenticated { message },
            ErrorKind::Forbidden | ErrorKind::Blocked { .. } => ServiceError::Forbidden { message },
            ErrorKind::Unsupported => ServiceError::Invalid {
                field: None,
                message,
            },
            ErrorKind::Unavailable => {
                tracing::warn!(error = ?e, "service call failed: unavailable");
                ServiceError::Unavailable { message }
            }
            ErrorKind::Upstream | ErrorKind::Internal => {
                tracing::error!(error = ?e, "service call failed");
                ServiceError::Internal {
                    message: "internal error; see the server log".into(),
                }
            }
        }
    }
}

impl From<anyhow::Error> for ServiceError {
    /// Logged in full; the client gets no internals (paths, SQL) in the message.
    fn from(e: anyhow::Error) -> Self {
        tracing::error!(error = format!("{e:#}"), "service call failed");
        ServiceError::Internal {
            message: "internal error; see the server log".into(),
        }
    }
}

pub type ServiceResult<T> = Result<T, ServiceError>;

/// The service functions, over the stores, security and the running [`Node`]. Cheap to clone.
#[derive(Clone)]
pub struct Service {
    meta: MetadataStore,
    auth: trove_auth::Auth,
    blobs: Arc<dyn BlobStore>,
    node: Arc<dyn Node>,
    /// Peers whose `X-Forwarded-For` names the client (the audit log's address).
    trusted_proxies: Arc<Vec<ipnet::IpNet>>,
}

impl Service {
    pub fn new(
        meta: MetadataStore,
        auth: trove_auth::Auth,
        blobs: Arc<dyn BlobStore>,
        node: Arc<dyn Node>,
    ) -> Self {
        Service {
            meta,
            auth,
            blobs,
            node,
            trusted_proxies: Default::default(),
        }
    }

    /// Believes `X-Forwarded-For` from these peers when naming a caller's address
    /// ([`Self::client_ip`]); `[server] trusted_proxies`.
    pub fn with_trusted_proxies(mut self, trusted: Vec<ipnet::IpNet>) -> Self {
        self.trusted_proxies = Arc::new(trusted);
        self
    }

    /// The client's address from the peer's and the `X-Forwarded-For` header (believed only
    /// from trusted proxies): what the audit log records.
    pub fn client_ip(
        &self,
        peer: Option<std::net::IpAddr>,
        forwarded_for: Option<&str>,
    ) -> Option<std::net::IpAddr> {
        trove_formats::kit::external::client_ip(peer, forwarded_for, &self.trusted_proxies)
    }

    /// Whether `caller` holds the admin privilege (the console shows its administration
    /// pages then; every call still checks for itself).
    pub fn is_admin(&self, caller: &Actor) -> bool {
        self.auth.is_admin(&caller.identity)
    }

    /// Administrators pass; anonymous callers are `Unauthenticated`, others `Forbidden`.
    pub fn require_admin(&self, caller: &Actor) -> ServiceResult<()> {
        if self.auth.is_admin(&caller.identity) {
            Ok(())
        } else if caller.is_anonymous() {
            Err(ServiceError::Unauthenticated {
                message: "authentication required".into(),
            })
        } else {
            Err(ServiceError::forbidden(format!(
                "{caller} is not an administrator (needs the nx-all privilege)"
            )))
        }
    }

    /// Authenticates an `Authorization` header value (Basic, or a Bearer token of ours).
    pub async fn authenticate(&self, authorization: Option<&str>) -> ServiceResult<Principal> {
        self.auth
            .authenticator
            .authenticate(authorization)
            .await
            .map_err(auth_error)
    }

    /// Authenticates an `Authorization` header value, keeping the API token (and its
    /// narrowing) it came with, if any: what the REST API builds its [`Actor`] from. A failure
    /// is recorded in the audit log as a failed sign-in (at most a few a second are: see
    /// [`Self::record_failed_sign_in`]).
    pub async fn identify(
        &self,
        authorization: Option<&str>,
        from: &Actor,
    ) -> ServiceResult<Identity> {
        match self.auth.authenticator.identify(authorization).await {
            Ok(id) => Ok(id),
            // The database failing, or a directory that cannot answer: not the caller's fault
            // (500, 503), and no failed sign-in.
            Err(e) if e.service_failure().is_some() => Err(auth_error(e)),
            Err(e) => {
                self.record_failed_sign_in(from, authorization, &e).await;
                Err(ServiceError::Unauthenticated {
                    message: e.to_string(),
                })
            }
        }
    }

    /// After a change in the database: rebuild what runs from it, here and on other nodes.
    async fn refresh(&self) -> ServiceResult<()> {
        self.node.changed().await.map_err(|e| {
            tracing::error!(error = format!("{e:#}"), "applying a change failed");
            ServiceError::Invalid {
                field: None,
                message: format!("saved, but not applied: {e:#}"),
            }
        })
    }
}

/// A failed authentication: a refusal is `Unauthenticated` with what was wrong; a directory
/// that cannot answer is `Unavailable` (503), the database failing `Internal`.
pub(crate) fn auth_error(e: trove_auth::AuthError) -> ServiceError {
    match e.into_service_failure() {
        Ok(f) => f.into(),
        Err(e) => ServiceError::Unauthenticated {
            message: e.to_string(),
        },
    }
}

/// The item of a listing whose `key` is `name`, or `NotFound` saying "no {what} named {name}".
fn named<T>(items: Vec<T>, name: &str, what: &str, key: fn(&T) -> &str) -> ServiceResult<T> {
    items
        .into_iter()
        .find(|i| key(i) == name)
        .ok_or_else(|| ServiceError::not_found(format!("no {what} named {name}")))
}

/// Read-only marker and reason for an owner, as both front ends show it.
pub fn read_only_reason(managed_by: &str) -> Option<&'static str> {
    match managed_by {
        "config" => Some("defined in trove.toml"),
        "builtin" => Some("built in"),
        _ => None,
    }
}
