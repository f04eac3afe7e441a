//! The LDAP realm's settings and checks, and OIDC sign-in for the console (issue 16). Reading
//! and changing the LDAP settings and running the checks needs the admin privilege; the OIDC
//! flow is what the sign-in page runs, before there is a caller.

use serde::Serialize;
use trove_auth::ldap::LdapConfig;
use trove_store::KEY_LDAP;

use crate::actor::Actor;
use crate::{Service, ServiceError, ServiceResult, UI, read_only_reason};
use trove_auth::Principal;

/// The LDAP realm as the console shows it.
#[derive(Debug, Clone, Serialize)]
pub struct LdapView {
    /// `None` when not configured.
    pub config: Option<LdapConfig>,
    /// Whether `ldap` is among the active realms.
    pub active: bool,
    pub read_only: Option<&'static str>,
}

/// The outcome of "test user login".
#[derive(Debug, Clone, Serialize)]
pub struct LdapLoginView {
    pub outcome: String,
    pub signed_in: bool,
    pub dn: Option<String>,
    pub groups: Vec<String>,
    pub roles: Vec<String>,
}

/// `[ldap] key: message` → the field `key`, so forms show it next to the input.
fn ldap_invalid(e: trove_core::Error) -> ServiceError {
    let field = e
        .msg
        .strip_prefix("[ldap] ")
        .and_then(|rest| rest.split_once(':'))
        .map(|(key, _)| key.to_owned());
    ServiceError::Invalid {
        field,
        message: e.msg,
    }
}

impl Service {
    pub async fn ldap(&self, caller: &Actor) -> ServiceResult<LdapView> {
        self.require_admin(caller)?;
        let owner = self.meta.security().setting_owner(KEY_LDAP).await?;
        Ok(LdapView {
            config: self.auth.ldap_config(),
            active: self.auth.realms().ldap,
            read_only: owner.as_deref().and_then(read_only_reason),
        })
    }

    /// Saves the LDAP settings (not when trove.toml declares them).
    pub async fn set_ldap(&self, caller: &Actor, config: &LdapConfig) -> ServiceResult<LdapView> {
        let current = self.ldap(caller).await?;
        if let Some(why) = current.read_only {
            return Err(ServiceError::forbidden(format!(
                "the LDAP settings are read-only here: {why}"
            )));
        }
        config.validate().map_err(ldap_invalid)?;
        self.auth.set_ldap_config(config, UI).await?;
        tracing::info!(by = %caller, url = %config.url, "LDAP settings saved");
        let after = self.ldap(caller).await?;
        self.record(
            caller,
            "update",
            "setting",
            "ldap",
            serde_json::to_value(&current.config).ok(),
            serde_json::to_value(&after.config).ok(),
        )
        .await;
        Ok(after)
    }

    /// "Test connection": connects to `config` (saved or not), binds as its service account
    /// and reads `user_base`. The directory's answer is shown to the administrator as is.
    pub async fn test_ldap_connection(
        &self,
        caller: &Actor,
        config: &LdapConfig,
    ) -> ServiceResult<String> {
        self.require_admin(caller)?;
        config.validate().map_err(ldap_invalid)?;
        trove_auth::ldap::LdapDirectory::new(config.clone())
            .test_connection()
            .await
            .map_err(|e| ServiceError::Unavailable {
                message: format!("directory unavailable: {e}"),
            })
    }

    /// "Test user login": binds as `user` against `config` and says what it found (DN, groups,
    /// the roles they map to), signing nobody in.
    pub async fn test_ldap_login(
        &self,
        caller: &Actor,
        config: &LdapConfig,
        user: &str,
        password: &str,
    ) -> ServiceResult<LdapLoginView> {
        self.require_admin(caller)?;
        if user.is_empty() {
            return Err(ServiceError::invalid("test_user", "enter a user name"));
        }
        let r = self
            .auth
            .test_ldap_login(config, user, password)
            .await
            .map_err(|e| match e.kind {
                trove_core::ErrorKind::Invalid => ldap_invalid(e),
                _ => ServiceError::Unavailable { message: e.msg },
            })?;
        Ok(LdapLoginView {
            outcome: r.outcome,
            signed_in: r.signed_in,
            dn: r.dn,
            groups: r.groups,
            roles: r.roles,
        })
    }

    // ---- OIDC sign-in ----------------------------------------------------------------------

    /// The label of the single sign-on button, when `[oidc]` is configured.
    pub fn sso_label(&self) -> Option<String> {
        self.auth.oidc_config().map(|c| c.label)
    }

    /// Starts a single sign-on: the URL to send the browser to, and the `state` to keep in
    /// its cookie. `redirect_uri` is the callback as the browser reaches it.
    pub async fn sso_begin(
        &self,
        redirect_uri: &str,
        next: &str,
    ) -> ServiceResult<(String, String)> {
        Ok(self.auth.oidc_begin(redirect_uri, next).await?)
    }

    /// Ends a single sign-on (see `trove_auth::Auth::oidc_finish`): the user, and the page to
    /// go to.
    pub async fn sso_finish(
        &self,
        state: &str,
        code: &str,
        redirect_uri: &str,
        from: &Actor,
    ) -> ServiceResult<(Principal, String)> {
        match self.auth.oidc_finish(state, code, redirect_uri).await {
            Ok((principal, next)) => {
                let mut signed_in = from.clone();
                signed_in.identity = trove_auth::Identity::of(principal.clone());
                signed_in.realm = Some("oidc".into());
                self.record_event(&signed_in, "sign-in", "user", principal.name(), None)
                    .await;
                Ok((principal, next))
            }
            Err(e) => {
                self.record_event(
                    from,
                    "sign-in-failed",
                    "user",
                    "",
                    Some(format!("single sign-on: {e}")),
                )
                .await;
                Err(e.into())
            }
        }
    }
}
