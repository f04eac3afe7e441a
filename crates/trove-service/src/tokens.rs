//! API tokens: a user makes, lists and revokes their own; an administrator does so for anyone
//! (a service account's token for CI). A token is shown once, when it is made. What a token
//! may do is its owner's rights, narrowed by the token (checked at every use by `trove-auth`).

use serde::{Deserialize, Serialize};
use trove_auth::{ANONYMOUS_USER, Action, TOKEN_PREFIX};
use trove_store::ApiTokenRow;

use crate::audit::json_of;
use crate::{Actor, Service, ServiceError, ServiceResult};

/// `POST /security/user-tokens`.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct TokenInput {
    /// Unique among the owner's tokens: 1-128 of `A-Z a-z 0-9 . _ - @`.
    pub name: String,
    /// Unix millis; absent: never expires.
    #[serde(default)]
    pub expires_at: Option<i64>,
    /// Repository names; absent: every repository the owner may use.
    #[serde(default)]
    pub repositories: Option<Vec<String>>,
    /// Of `browse`, `read`, `add`, `edit`, `delete`; absent: every action the owner has.
    #[serde(default)]
    pub actions: Option<Vec<String>>,
    /// Whose token (administrators only); absent: the caller's own.
    #[serde(default)]
    pub user: Option<String>,
}

/// A token as listed: never its secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TokenView {
    pub name: String,
    pub user: String,
    /// `trove_<selector>`: the public start of the token, to tell tokens apart.
    pub prefix: String,
    pub repositories: Option<Vec<String>>,
    pub actions: Option<Vec<String>>,
    pub created: i64,
    pub created_by: String,
    pub expires_at: Option<i64>,
    pub expired: bool,
    /// Unix millis of the last use (written every few seconds).
    pub last_used: Option<i64>,
}

/// A token just made: the only time `token` is shown.
#[derive(Clone, Serialize)]
pub struct CreatedToken {
    pub token: String,
    #[serde(flatten)]
    pub view: TokenView,
}

/// Never prints the token.
impl std::fmt::Debug for CreatedToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CreatedToken")
            .field("view", &self.view)
            .finish_non_exhaustive()
    }
}

fn view(t: &ApiTokenRow) -> TokenView {
    TokenView {
        name: t.name.clone(),
        user: t.user.clone(),
        prefix: format!("{TOKEN_PREFIX}{}", t.id),
        repositories: t.repositories.clone(),
        actions: t
            .actions
            .as_deref()
            .map(|a| a.split(',').map(str::to_owned).collect()),
        created: t.created,
        created_by: t.created_by.clone(),
        expires_at: t.expires,
        expired: t.expires.is_some_and(|e| e <= trove_core::now_millis()),
        last_used: t.last_used,
    }
}

impl Service {
    /// Whose tokens a call is about: the caller's own (`user` absent or the caller), or, for
    /// an administrator, anyone's.
    fn token_owner(&self, caller: &Actor, user: Option<&str>) -> ServiceResult<String> {
        if caller.is_anonymous() {
            return Err(ServiceError::Unauthenticated {
                message: "authentication required".into(),
            });
        }
        match user.map(str::trim).filter(|u| !u.is_empty()) {
            None => Ok(caller.name().to_owned()),
            Some(u) if u == caller.name() => Ok(u.to_owned()),
            Some(u) => {
                self.require_admin(caller)?;
                Ok(u.to_owned())
            }
        }
    }

    /// Makes a token; the answer carries it, once.
    pub async fn create_token(
        &self,
        caller: &Actor,
        input: &TokenInput,
    ) -> ServiceResult<CreatedToken> {
        let owner = self.token_owner(caller, input.user.as_deref())?;
        if caller.identity.api_token.is_some() {
            // A leaked token must not be able to outlive its revocation through tokens it made.
            return Err(ServiceError::forbidden(
                "an API token cannot make API tokens; sign in with a password (or the console)",
            ));
        }
        if owner == ANONYMOUS_USER {
            return Err(ServiceError::invalid(
                "user",
                "the anonymous user cannot have tokens",
            ));
        }
        if self.meta.security().user(&owner).await?.is_none() {
            return Err(ServiceError::invalid(
                "user",
                format!("no user named {owner}"),
            ));
        }
        let name = input.name.trim();
        trove_auth::validate_name("token", name)
            .map_err(|e| ServiceError::invalid("name", e.msg))?;
        if let Some(at) = input.expires_at
            && at <= trove_core::now_millis()
        {
            return Err(ServiceError::invalid(
                "expires_at",
                "the expiry is in the past (unix milliseconds)",
            ));
        }
        let (repositories, _) =
            trove_auth::api_token::parse_narrowing(input.repositories.as_deref(), None)
                .map_err(|e| ServiceError::invalid("repositories", e.msg))?;
        let (_, actions) = trove_auth::api_token::parse_narrowing(None, input.actions.as_deref())
            .map_err(|e| ServiceError::invalid("actions", e.msg))?;
        if let Some(repos) = &repositories {
            self.check_token_repositories(caller, &owner, repos).await?;
        }
        if self.meta.api_tokens().named(&owner, name).await?.is_some() {
            return Err(ServiceError::Conflict {
                message: format!("user {owner} already has a token named {name}"),
            });
        }
        let (token, row) = self
            .auth
            .create_api_token(
                &owner,
                name,
                repositories,
                actions,
                input.expires_at,
                caller.name(),
            )
            .await?;
        let view = view(&row);
        self.record(
            caller,
            "create",
            "token",
            &format!("{owner}/{name}"),
            None,
            json_of(&view),
        )
        .await;
        tracing::info!(user = %owner, token = %name, by = %caller, "API token created");
        Ok(CreatedToken {
            token: token.token,
            view,
        })
    }

    /// Each narrowing repository must exist; for one's own token, it must also be one the
    /// caller may browse (the same answer either way, so nothing leaks).
    async fn check_token_repositories(
        &self,
        caller: &Actor,
        owner: &str,
        repos: &[String],
    ) -> ServiceResult<()> {
        let known = self.meta.repos().records().await?;
        for r in repos {
            let found = known.iter().find(|k| k.config.name.as_str() == r);
            let usable = match found {
                None => false,
                Some(_) if owner != caller.name() => true,
                Some(k) => self
                    .auth
                    .authorize_rights(&caller.identity, Action::Browse, &k.config)
                    .is_ok(),
            };
            if !usable {
                return Err(ServiceError::invalid(
                    "repositories",
                    format!("no repository named {r}"),
                ));
            }
        }
        Ok(())
    }

    /// `user`'s tokens (the caller's own when absent), without secrets.
    pub async fn tokens(
        &self,
        caller: &Actor,
        user: Option<&str>,
    ) -> ServiceResult<Vec<TokenView>> {
        let owner = self.token_owner(caller, user)?;
        Ok(self
            .meta
            .api_tokens()
            .list(Some(&owner))
            .await?
            .iter()
            .map(view)
            .collect())
    }

    /// Revokes `user`'s token `name` (the caller's own when `user` is absent): refused by the
    /// next request on every node.
    pub async fn revoke_token(
        &self,
        caller: &Actor,
        name: &str,
        user: Option<&str>,
    ) -> ServiceResult<()> {
        let owner = self.token_owner(caller, user)?;
        let Some(row) = self.meta.api_tokens().delete(&owner, name).await? else {
            return Err(ServiceError::not_found(format!(
                "user {owner} has no token named {name}"
            )));
        };
        self.record(
            caller,
            "revoke",
            "token",
            &format!("{owner}/{name}"),
            json_of(&view(&row)),
            None,
        )
        .await;
        tracing::info!(user = %owner, token = %name, by = %caller, "API token revoked");
        Ok(())
    }
}
