//! Users, roles, privileges, anonymous access, realms and access explanations. Every call
//! needs the admin privilege, except changing one's own password and signing in.

use serde::{Deserialize, Serialize};
use trove_auth::{
    ADMIN_ROLE, ANONYMOUS_USER, Action, ActionSet, Pattern, Principal, Privilege, Realms,
    UserStatus,
};
use trove_store::{KEY_ANONYMOUS, KEY_REALMS, RoleDef};

use crate::audit::json_of;
use crate::{Actor, Service, ServiceError, ServiceResult, UI, named, read_only_reason};

#[derive(Debug, Clone, Serialize)]
pub struct UserView {
    pub name: String,
    /// `active` or `disabled`.
    pub status: String,
    pub roles: Vec<String>,
    pub managed_by: String,
    pub read_only: Option<&'static str>,
    pub must_change_password: bool,
    pub has_password: bool,
    pub created: i64,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct UserInput {
    pub name: String,
    pub password: String,
    #[serde(default)]
    pub roles: Vec<String>,
}

/// A partial update: absent fields stay as they are.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct UserUpdate {
    #[serde(default)]
    pub password: Option<String>,
    #[serde(default)]
    pub roles: Option<Vec<String>>,
    /// `active` or `disabled`.
    #[serde(default)]
    pub status: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PasswordChange {
    pub current: String,
    pub new: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct PrivilegeView {
    pub name: String,
    /// `repository-view` or `admin`.
    pub kind: String,
    pub format: String,
    pub repository: String,
    pub actions: String,
    pub description: String,
    pub managed_by: String,
    pub read_only: Option<&'static str>,
    /// Roles holding it.
    pub roles: Vec<String>,
}

/// A repository-view privilege; its Nexus-style name is generated.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct PrivilegeInput {
    /// A format (`docker`) or `*`.
    #[serde(default = "star")]
    pub format: String,
    /// A repository name or `*`.
    #[serde(default = "star")]
    pub repository: String,
    /// Of `browse`, `read`, `add`, `edit`, `delete`, or `["*"]`.
    pub actions: Vec<String>,
    #[serde(default)]
    pub description: String,
}

fn star() -> String {
    "*".into()
}

#[derive(Debug, Clone, Serialize)]
pub struct RoleView {
    pub name: String,
    pub description: String,
    /// Privilege names.
    pub privileges: Vec<String>,
    /// Contained roles.
    pub roles: Vec<String>,
    /// LDAP group DNs and OIDC group names whose members get this role (stored normalised).
    pub external_groups: Vec<String>,
    pub managed_by: String,
    pub read_only: Option<&'static str>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RoleInput {
    pub name: String,
    #[serde(default)]
    pub description: String,
    /// Names of existing privileges.
    #[serde(default)]
    pub privileges: Vec<String>,
    /// Names of roles this one contains.
    #[serde(default)]
    pub roles: Vec<String>,
    /// LDAP group DNs and OIDC group names whose members get this role.
    #[serde(default)]
    pub external_groups: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct AnonymousView {
    pub enabled: bool,
    /// The anonymous user's roles: what anonymous requests get.
    pub roles: Vec<String>,
    pub read_only: Option<&'static str>,
}

#[derive(Debug, Clone, Serialize)]
pub struct RealmsView {
    pub active: Vec<String>,
    pub available: Vec<&'static str>,
    pub read_only: Option<&'static str>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ExplainView {
    pub user: String,
    pub repository: String,
    pub action: String,
    pub allowed: bool,
    /// The role path that granted it (a direct role first).
    pub roles: Option<Vec<String>>,
    pub privilege: Option<String>,
    pub missing: String,
    pub explanation: String,
}

/// A user's view for the log, saying that a password was set (never which).
fn with_password(view: Option<serde_json::Value>, set: bool) -> Option<serde_json::Value> {
    let mut view = view?;
    if set {
        view["password"] = serde_json::json!("set");
    }
    Some(view)
}

fn validate_password(field: &str, pw: &str) -> ServiceResult<()> {
    if pw.chars().count() < 8 {
        return Err(ServiceError::invalid(field, "use at least 8 characters"));
    }
    if pw.len() > 1024 {
        return Err(ServiceError::invalid(field, "use at most 1024 bytes"));
    }
    Ok(())
}

fn owned_here(what: &str, name: &str, managed_by: &str) -> ServiceResult<()> {
    match read_only_reason(managed_by) {
        None => Ok(()),
        Some(why) => Err(ServiceError::forbidden(format!(
            "{what} {name} is read-only here: {why}"
        ))),
    }
}

impl Service {
    // ---- users ---------------------------------------------------------------------------

    pub async fn users(&self, caller: &Actor) -> ServiceResult<Vec<UserView>> {
        self.require_admin(caller)?;
        let sec = self.meta.security();
        let mut out = Vec::new();
        for u in sec.list_users().await? {
            let roles = sec.user_roles(&u.name).await?;
            out.push(UserView {
                read_only: read_only_reason(&u.managed_by),
                status: u.status,
                roles,
                must_change_password: u.must_change_password,
                has_password: u.password_hash.is_some(),
                created: u.created,
                managed_by: u.managed_by,
                name: u.name,
            });
        }
        Ok(out)
    }

    pub async fn user(&self, caller: &Actor, name: &str) -> ServiceResult<UserView> {
        named(self.users(caller).await?, name, "user", |u| &u.name)
    }

    pub async fn create_user(&self, caller: &Actor, input: &UserInput) -> ServiceResult<UserView> {
        self.require_admin(caller)?;
        let name = input.name.trim();
        if self.meta.security().user(name).await?.is_some() {
            return Err(ServiceError::Conflict {
                message: format!("a user named {name} already exists"),
            });
        }
        validate_password("password", &input.password)?;
        self.check_roles_exist("roles", &input.roles).await?;
        self.auth
            .add_user(name, Some(&input.password), &input.roles, UI)
            .await
            .map_err(|e| match e.kind {
                trove_core::ErrorKind::Invalid => ServiceError::invalid("name", e.msg),
                _ => e.into(),
            })?;
        tracing::info!(user = %name, by = %caller, "user created");
        let after = self.user(caller, name).await?;
        self.record(
            caller,
            "create",
            "user",
            name,
            None,
            with_password(json_of(&after), true),
        )
        .await;
        Ok(after)
    }

    /// Roles, status and password. Users declared in trove.toml are read-only here; the
    /// anonymous user's roles may change (they are what anonymous requests get).
    pub async fn update_user(
        &self,
        caller: &Actor,
        name: &str,
        update: &UserUpdate,
    ) -> ServiceResult<UserView> {
        self.require_admin(caller)?;
        let user = self
            .meta
            .security()
            .user(name)
            .await?
            .ok_or_else(|| ServiceError::not_found(format!("no user named {name}")))?;
        let anonymous = name == ANONYMOUS_USER;
        if !anonymous {
            owned_here("user", name, &user.managed_by)?;
        } else if update.password.is_some() || update.status.is_some() {
            return Err(ServiceError::invalid(
                "password",
                "the anonymous user has no password or status; switch anonymous access instead",
            ));
        }
        let status = match update.status.as_deref() {
            None => None,
            Some("active") => Some(UserStatus::Active),
            Some("disabled") => Some(UserStatus::Disabled),
            Some(other) => {
                return Err(ServiceError::invalid(
                    "status",
                    format!("{other:?} is not active or disabled"),
                ));
            }
        };
        if let Some(pw) = &update.password {
            validate_password("password", pw)?;
        }
        let before = self.user(caller, name).await.ok();
        if let Some(roles) = &update.roles {
            self.check_roles_exist("roles", roles).await?;
            if caller.name() == name
                && !roles.iter().any(|r| r == ADMIN_ROLE)
                && self.is_admin(caller)
            {
                // Not a hard rule of the model, but the usual way people lock themselves out.
                tracing::warn!(user = %name, "an administrator changed their own roles");
            }
            self.auth.set_user_roles(name, roles).await?;
        }
        if let Some(status) = status {
            if caller.name() == name && status == UserStatus::Disabled {
                return Err(ServiceError::invalid(
                    "status",
                    "you cannot disable yourself",
                ));
            }
            self.auth.set_user_status(name, status).await?;
            if status == UserStatus::Disabled {
                self.meta.sessions().delete_user(name).await?;
            }
        }
        if let Some(pw) = &update.password {
            self.auth.set_password(name, pw).await?;
        }
        tracing::info!(user = %name, by = %caller, "user updated");
        let after = self.user(caller, name).await?;
        self.record(
            caller,
            "update",
            "user",
            name,
            before.as_ref().and_then(json_of),
            with_password(json_of(&after), update.password.is_some()),
        )
        .await;
        Ok(after)
    }

    pub async fn delete_user(&self, caller: &Actor, name: &str) -> ServiceResult<()> {
        self.require_admin(caller)?;
        let user = self
            .meta
            .security()
            .user(name)
            .await?
            .ok_or_else(|| ServiceError::not_found(format!("no user named {name}")))?;
        if name == ANONYMOUS_USER {
            return Err(ServiceError::forbidden(
                "the anonymous user is built in; switch anonymous access off instead",
            ));
        }
        owned_here("user", name, &user.managed_by)?;
        if caller.name() == name {
            return Err(ServiceError::invalid("name", "you cannot delete yourself"));
        }
        let before = self.user(caller, name).await.ok();
        self.meta.security().delete_user(name).await?;
        self.record(
            caller,
            "delete",
            "user",
            name,
            before.as_ref().and_then(json_of),
            None,
        )
        .await;
        self.auth.reload().await?;
        tracing::info!(user = %name, by = %caller, "user deleted");
        Ok(())
    }

    /// The caller's own password (the first-start flow: the generated admin password must be
    /// changed at first sign-in). Needs the current one.
    pub async fn change_own_password(
        &self,
        caller: &Actor,
        change: &PasswordChange,
    ) -> ServiceResult<()> {
        let Principal::User { name, .. } = caller.principal() else {
            return Err(ServiceError::Unauthenticated {
                message: "authentication required".into(),
            });
        };
        let user = self
            .meta
            .security()
            .user(name)
            .await?
            .ok_or_else(|| ServiceError::not_found(format!("no user named {name}")))?;
        if user.managed_by == "config" {
            return Err(ServiceError::forbidden(
                "your user is defined in trove.toml; its password comes from the file \
                 (password_env or password_file) and a reload would set it back",
            ));
        }
        // LDAP and OIDC users (issue 16): their password is the directory's or the provider's.
        if let Some(where_) = match user.managed_by.as_str() {
            "ldap" => Some("the LDAP directory"),
            "oidc" => Some("your identity provider (single sign-on)"),
            _ => None,
        } {
            return Err(ServiceError::forbidden(format!(
                "your password is managed by {where_}; change it there"
            )));
        }
        let ok = match user.password_hash.clone() {
            Some(h) => trove_auth::password::verify_async(change.current.clone(), h).await,
            None => false,
        };
        if !ok {
            return Err(ServiceError::invalid(
                "current",
                "the current password is wrong",
            ));
        }
        validate_password("new", &change.new)?;
        if change.new == change.current {
            return Err(ServiceError::invalid(
                "new",
                "the new password must differ from the current one",
            ));
        }
        self.auth.set_password(name, &change.new).await?;
        tracing::info!(user = %name, "password changed by its owner");
        self.record(
            caller,
            "update",
            "user",
            name,
            None,
            Some(serde_json::json!({"name": name, "password": "changed"})),
        )
        .await;
        Ok(())
    }

    /// Checks a user name and password (the console's sign-in): the same check, cache and
    /// single flight as HTTP Basic. Returns the principal and whether the password must be
    /// changed before anything else.
    ///
    /// Both outcomes are recorded in the audit log (`sign-in`, `sign-in-failed`), from `from`
    /// (the console, with the client's address).
    pub async fn sign_in(
        &self,
        user: &str,
        password: &str,
        from: &crate::Actor,
    ) -> ServiceResult<(Principal, bool)> {
        use base64::Engine;
        let header = format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"))
        );
        let principal = match self.auth.authenticator.authenticate(Some(&header)).await {
            Ok(p) => p,
            Err(e) => {
                self.record_failed_sign_in(from, Some(&header), &e).await;
                return Err(match e {
                    trove_auth::AuthError::NoMappedRole(_) => crate::auth_error(e),
                    e if e.service_failure().is_some() => crate::auth_error(e),
                    _ => ServiceError::Unauthenticated {
                        message: "wrong user name or password, or the user is disabled".into(),
                    },
                });
            }
        };
        let mut signed_in = from.clone();
        signed_in.identity = trove_auth::Identity::of(principal.clone());
        signed_in.realm = Some("basic".into());
        self.record_event(&signed_in, "sign-in", "user", principal.name(), None)
            .await;
        let must_change = self
            .meta
            .security()
            .user(user)
            .await?
            .is_some_and(|u| u.must_change_password);
        Ok((principal, must_change))
    }

    async fn check_roles_exist(&self, field: &str, roles: &[String]) -> ServiceResult<()> {
        let known = self.meta.security().list_roles().await?;
        for r in roles {
            if !known.iter().any(|k| &k.name == r) {
                return Err(ServiceError::invalid(field, format!("no role named {r}")));
            }
        }
        Ok(())
    }

    // ---- roles ---------------------------------------------------------------------------

    pub async fn roles(&self, caller: &Actor) -> ServiceResult<Vec<RoleView>> {
        self.require_admin(caller)?;
        let mut groups: std::collections::HashMap<String, Vec<String>> = Default::default();
        for (role, group) in self.meta.security().all_role_external_groups().await? {
            groups.entry(role).or_default().push(group);
        }
        Ok(self
            .meta
            .security()
            .list_roles()
            .await?
            .into_iter()
            .map(|r| RoleView {
                external_groups: groups.remove(&r.name).unwrap_or_default(),
                read_only: read_only_reason(&r.managed_by),
                privileges: r.privileges.iter().map(|p| p.name.clone()).collect(),
                roles: r.roles,
                managed_by: r.managed_by,
                description: r.description,
                name: r.name,
            })
            .collect())
    }

    pub async fn role(&self, caller: &Actor, name: &str) -> ServiceResult<RoleView> {
        named(self.roles(caller).await?, name, "role", |r| &r.name)
    }

    async fn role_def(&self, input: &RoleInput) -> ServiceResult<RoleDef> {
        trove_auth::validate_name("role", input.name.trim())
            .map_err(|e| ServiceError::invalid("name", e.msg))?;
        let known = self.meta.security().list_privileges().await?;
        let mut privileges = Vec::new();
        for p in &input.privileges {
            let def = known.iter().find(|k| &k.name == p).ok_or_else(|| {
                ServiceError::invalid(
                    "privileges",
                    format!("no privilege named {p} (create it first)"),
                )
            })?;
            privileges.push(def.clone());
        }
        self.check_roles_exist("roles", &input.roles).await?;
        if let Some(g) = input
            .external_groups
            .iter()
            .find(|g| g.trim().is_empty() || g.len() > 1024)
        {
            return Err(ServiceError::invalid(
                "external_groups",
                format!("{g:?}: a group name or DN of 1 to 1024 bytes"),
            ));
        }
        if input.roles.iter().any(|r| r == input.name.trim()) {
            return Err(ServiceError::invalid(
                "roles",
                "a role cannot contain itself",
            ));
        }
        Ok(RoleDef {
            name: input.name.trim().to_owned(),
            description: input.description.trim().to_owned(),
            privileges,
            roles: input.roles.clone(),
        })
    }

    pub async fn create_role(&self, caller: &Actor, input: &RoleInput) -> ServiceResult<RoleView> {
        self.require_admin(caller)?;
        let def = self.role_def(input).await?;
        if self.meta.security().role(&def.name).await?.is_some() {
            return Err(ServiceError::Conflict {
                message: format!("a role named {} already exists", def.name),
            });
        }
        self.write_role(&def).await?;
        self.set_external_groups(&def.name, &input.external_groups)
            .await?;
        let after = self.role(caller, &def.name).await?;
        self.record(caller, "create", "role", &def.name, None, json_of(&after))
            .await;
        Ok(after)
    }

    pub async fn update_role(
        &self,
        caller: &Actor,
        name: &str,
        input: &RoleInput,
    ) -> ServiceResult<RoleView> {
        self.require_admin(caller)?;
        let existing = self
            .meta
            .security()
            .role(name)
            .await?
            .ok_or_else(|| ServiceError::not_found(format!("no role named {name}")))?;
        owned_here("role", name, &existing.managed_by)?;
        if input.name.trim() != name {
            return Err(ServiceError::invalid("name", "a role cannot be renamed"));
        }
        let def = self.role_def(input).await?;
        let before = self.role(caller, name).await.ok();
        self.write_role(&def).await?;
        self.set_external_groups(name, &input.external_groups)
            .await?;
        let after = self.role(caller, name).await?;
        self.record(
            caller,
            "update",
            "role",
            name,
            before.as_ref().and_then(json_of),
            json_of(&after),
        )
        .await;
        Ok(after)
    }

    async fn set_external_groups(&self, role: &str, groups: &[String]) -> ServiceResult<()> {
        self.auth.set_role_external_groups(role, groups).await?;
        Ok(())
    }

    async fn write_role(&self, def: &RoleDef) -> ServiceResult<()> {
        let current = self.meta.security().list_roles().await?;
        trove_auth::check_role_graph(&current, std::slice::from_ref(def))
            .map_err(|e| ServiceError::invalid("roles", e.msg))?;
        self.meta
            .security()
            .upsert_role(def, UI)
            .await
            .map_err(|e| match e.kind {
                trove_core::ErrorKind::Invalid if e.msg.contains("cycle") => {
                    ServiceError::invalid("roles", e.msg)
                }
                trove_core::ErrorKind::Invalid => ServiceError::invalid("name", e.msg),
                _ => e.into(),
            })?;
        self.auth.reload().await?;
        Ok(())
    }

    pub async fn delete_role(&self, caller: &Actor, name: &str) -> ServiceResult<()> {
        self.require_admin(caller)?;
        let existing = self
            .meta
            .security()
            .role(name)
            .await?
            .ok_or_else(|| ServiceError::not_found(format!("no role named {name}")))?;
        owned_here("role", name, &existing.managed_by)?;
        let before = self.role(caller, name).await.ok();
        self.meta.security().delete_role(name).await?;
        self.auth.reload().await?;
        self.record(
            caller,
            "delete",
            "role",
            name,
            before.as_ref().and_then(json_of),
            None,
        )
        .await;
        Ok(())
    }

    // ---- privileges ----------------------------------------------------------------------

    pub async fn privileges(&self, caller: &Actor) -> ServiceResult<Vec<PrivilegeView>> {
        self.require_admin(caller)?;
        Ok(self
            .meta
            .security()
            .privilege_records()
            .await?
            .into_iter()
            .map(|p| PrivilegeView {
                kind: p.def.kind.as_str().into(),
                name: p.def.name,
                format: p.def.format,
                repository: p.def.repo,
                actions: p.def.actions,
                description: p.def.description,
                read_only: read_only_reason(&p.managed_by),
                managed_by: p.managed_by,
                roles: p.roles,
            })
            .collect())
    }

    pub async fn privilege(&self, caller: &Actor, name: &str) -> ServiceResult<PrivilegeView> {
        named(self.privileges(caller).await?, name, "privilege", |p| {
            &p.name
        })
    }

    pub async fn create_privilege(
        &self,
        caller: &Actor,
        input: &PrivilegeInput,
    ) -> ServiceResult<PrivilegeView> {
        self.require_admin(caller)?;
        let format = input.format.trim();
        let repo = Pattern::parse(input.repository.trim())
            .map_err(|e| ServiceError::invalid("repository", e.msg))?;
        let actions = ActionSet::parse(&input.actions)
            .map_err(|e| ServiceError::invalid("actions", e.msg))?;
        if actions.is_empty() {
            return Err(ServiceError::invalid(
                "actions",
                "choose at least one of browse, read, add, edit, delete (or *)",
            ));
        }
        let privilege = Privilege::repository_view(Some(format), repo, actions)
            .map_err(|e| ServiceError::invalid("format", e.msg))?;
        let mut def = privilege.to_def();
        def.description = input.description.trim().to_owned();
        let name = def.name.clone();
        if self
            .meta
            .security()
            .list_privileges()
            .await?
            .iter()
            .any(|p| p.name == name)
        {
            return Err(ServiceError::Conflict {
                message: format!("privilege {name} already exists"),
            });
        }
        self.meta.security().upsert_privilege(&def, UI).await?;
        let after = self.privilege(caller, &name).await?;
        self.record(caller, "create", "privilege", &name, None, json_of(&after))
            .await;
        Ok(after)
    }

    pub async fn delete_privilege(&self, caller: &Actor, name: &str) -> ServiceResult<()> {
        self.require_admin(caller)?;
        let p = self.privilege(caller, name).await?;
        owned_here("privilege", name, &p.managed_by)?;
        self.meta.security().delete_privilege(name).await?;
        self.auth.reload().await?;
        self.record(caller, "delete", "privilege", name, json_of(&p), None)
            .await;
        Ok(())
    }

    // ---- anonymous access and realms -----------------------------------------------------

    pub async fn anonymous(&self, caller: &Actor) -> ServiceResult<AnonymousView> {
        self.require_admin(caller)?;
        let sec = self.meta.security();
        Ok(AnonymousView {
            enabled: sec.anonymous_enabled().await?,
            roles: sec.user_roles(ANONYMOUS_USER).await?,
            read_only: match sec.setting_owner(KEY_ANONYMOUS).await?.as_deref() {
                Some("config") => Some("defined in trove.toml"),
                _ => None,
            },
        })
    }

    pub async fn set_anonymous(
        &self,
        caller: &Actor,
        enabled: bool,
    ) -> ServiceResult<AnonymousView> {
        let current = self.anonymous(caller).await?;
        if let Some(why) = current.read_only {
            return Err(ServiceError::forbidden(format!(
                "anonymous access is read-only here: {why}"
            )));
        }
        self.auth.set_anonymous_enabled(enabled, UI).await?;
        tracing::info!(enabled, by = %caller, "anonymous access switched");
        let after = self.anonymous(caller).await?;
        self.record(
            caller,
            "update",
            "anonymous",
            "anonymous-access",
            json_of(&current),
            json_of(&after),
        )
        .await;
        Ok(after)
    }

    pub async fn realms(&self, caller: &Actor) -> ServiceResult<RealmsView> {
        self.require_admin(caller)?;
        let owner = self.meta.security().setting_owner(KEY_REALMS).await?;
        Ok(RealmsView {
            active: self.auth.realms().names(),
            // The password realms in the order they are tried, then the token realm.
            available: {
                let r = self.auth.realms();
                if r.ldap_first {
                    vec!["ldap", "basic", "docker-token"]
                } else {
                    vec!["basic", "ldap", "docker-token"]
                }
            },
            read_only: match owner.as_deref() {
                Some("config") => Some("defined in trove.toml"),
                _ => None,
            },
        })
    }

    pub async fn set_realms(&self, caller: &Actor, active: &[String]) -> ServiceResult<RealmsView> {
        let current = self.realms(caller).await?;
        if let Some(why) = current.read_only {
            return Err(ServiceError::forbidden(format!(
                "realms are read-only here: {why}"
            )));
        }
        let realms = Realms::parse(active).map_err(|e| ServiceError::invalid("active", e.msg))?;
        if realms.names().is_empty() {
            return Err(ServiceError::invalid(
                "active",
                "at least one realm must stay active, or nobody can sign in",
            ));
        }
        if realms.ldap && self.auth.ldap_config().is_none() {
            return Err(ServiceError::invalid(
                "active",
                "the ldap realm needs the LDAP settings first (Security → LDAP)",
            ));
        }
        self.auth.set_realms(realms, UI).await?;
        let after = self.realms(caller).await?;
        self.record(
            caller,
            "update",
            "realms",
            "realms",
            json_of(&current),
            json_of(&after),
        )
        .await;
        Ok(after)
    }

    // ---- explanations --------------------------------------------------------------------

    pub async fn explain(
        &self,
        caller: &Actor,
        user: &str,
        repo: &str,
        action: &str,
    ) -> ServiceResult<ExplainView> {
        self.require_admin(caller)?;
        let action = Action::parse(action).map_err(|e| ServiceError::invalid("action", e.msg))?;
        let r = self.node.repository(repo).ok_or_else(|| {
            ServiceError::invalid("repository", format!("no online repository named {repo}"))
        })?;
        if user != ANONYMOUS_USER && self.meta.security().user(user).await?.is_none() {
            return Err(ServiceError::invalid(
                "user",
                format!("no user named {user}"),
            ));
        }
        let e = self.auth.explain(user, r.config(), action).await?;
        Ok(ExplainView {
            user: user.to_owned(),
            repository: repo.to_owned(),
            action: action.as_str().to_owned(),
            allowed: e.allowed,
            roles: e.granted_by.as_ref().map(|(path, _)| path.clone()),
            privilege: e.granted_by.as_ref().map(|(_, p)| p.clone()),
            missing: e.missing.clone(),
            explanation: e.to_string(),
        })
    }
}
