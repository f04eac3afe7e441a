//! The audit log, as the service layer writes and reads it: every change made through the
//! console or the REST API is recorded here with who, from where, through which front end, and
//! the entity before and after (secrets redacted); sign-ins are recorded as events. Changes
//! applied from trove.toml and the CLI are recorded by the server with [`record_changes`],
//! which diffs the security, repository and rule rows around the apply ([`state`]).
//!
//! An entry is appended after its change commits; if the append fails the change stands and
//! the failure is logged as an error (the log never blocks an administrator, and a change is
//! never rolled back for it). Nothing here updates or deletes an entry except retention
//! ([`prune`]).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
pub use trove_store::AuditEntry;
use trove_store::{AuditQuery, MetadataStore, NewAuditEntry};

use crate::{Actor, Service, ServiceError, ServiceResult};

/// What replaces a secret.
pub const REDACTED: &str = "<redacted>";

/// Replaces the values of secret-looking keys (`password`, `secret`, `token`, `csrf`, and
/// `*_password`, `*_secret`, `*_hash`, `*_token`) with [`REDACTED`], at any depth. Flags
/// (`must_change_password: true`) and names of where a secret lives (`upstream_password_env`)
/// are not secrets and stay.
pub fn redact(v: Value) -> Value {
    match v {
        Value::Object(map) => Value::Object(
            map.into_iter()
                .map(|(k, v)| {
                    let secret = is_secret_key(&k) && !matches!(v, Value::Bool(_) | Value::Null);
                    (k, if secret { json!(REDACTED) } else { redact(v) })
                })
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.into_iter().map(redact).collect()),
        v => v,
    }
}

fn is_secret_key(k: &str) -> bool {
    let k = k.to_ascii_lowercase();
    matches!(k.as_str(), "password" | "secret" | "token" | "csrf")
        || ["_password", "_secret", "_hash", "_token"]
            .iter()
            .any(|s| k.ends_with(s))
}

/// An entry for `actor`, before redaction.
pub fn entry(
    actor: &Actor,
    action: &str,
    entity_type: &str,
    entity_name: &str,
    before: Option<Value>,
    after: Option<Value>,
) -> NewAuditEntry {
    NewAuditEntry {
        actor: actor.principal().name().to_owned(),
        realm: actor.realm.clone(),
        token: actor.token().map(str::to_owned),
        ip: actor.ip.clone(),
        front_end: actor.front_end.as_str().to_owned(),
        action: action.to_owned(),
        entity_type: entity_type.to_owned(),
        entity_name: entity_name.to_owned(),
        before: before.map(redact),
        after: after.map(redact),
        detail: None,
    }
}

/// Appends `entries` (redacted again, whoever built them); a failure is logged, not returned.
pub async fn append(meta: &MetadataStore, mut entries: Vec<NewAuditEntry>) {
    for e in &mut entries {
        e.before = e.before.take().map(redact);
        e.after = e.after.take().map(redact);
    }
    if let Err(e) = meta.audit().append(&entries).await {
        tracing::error!(error = ?e, entries = entries.len(), "appending to the audit log failed; the change stands");
    }
}

/// Removes entries older than `days` days; returns how many.
pub async fn prune(meta: &MetadataStore, days: u64) -> trove_core::Result<u64> {
    let cutoff = trove_core::now_millis() - (days as i64).saturating_mul(86_400_000);
    meta.audit().prune(cutoff).await
}

/// `JSON` of a view for the log.
pub(crate) fn json_of<T: Serialize>(v: &T) -> Option<Value> {
    serde_json::to_value(v).ok()
}

/// The filters of `GET /audit` and the console's audit page.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct AuditFilter {
    /// The actor's user name.
    #[serde(default)]
    pub user: Option<String>,
    /// An entity type (`repository`), or a type and name (`repository:docker-hosted`).
    #[serde(default)]
    pub entity: Option<String>,
    /// Unix millis, inclusive.
    #[serde(default)]
    pub since: Option<i64>,
    /// Unix millis, exclusive.
    #[serde(default)]
    pub until: Option<i64>,
    /// The `seq` of the last entry of the previous page.
    #[serde(default)]
    pub after: Option<i64>,
    /// At most this many (default 100, at most 1000).
    #[serde(default)]
    pub limit: Option<u32>,
}

impl AuditFilter {
    fn query(&self, newest_first: bool) -> ServiceResult<AuditQuery> {
        let (entity_type, entity_name) = match self.entity.as_deref().map(str::trim) {
            None | Some("") => (None, None),
            Some(e) => match e.split_once(':') {
                Some((t, n)) => (Some(t.to_owned()), Some(n.to_owned())),
                None => (Some(e.to_owned()), None),
            },
        };
        let limit = self.limit.unwrap_or(100);
        if limit == 0 || limit > trove_store::AUDIT_MAX_PAGE {
            return Err(ServiceError::invalid(
                "limit",
                format!("use 1 to {}", trove_store::AUDIT_MAX_PAGE),
            ));
        }
        Ok(AuditQuery {
            actor: self
                .user
                .as_deref()
                .map(str::trim)
                .filter(|u| !u.is_empty())
                .map(str::to_owned),
            entity_type,
            entity_name,
            since: self.since,
            until: self.until,
            after: self.after,
            limit,
            newest_first,
        })
    }
}

impl Service {
    /// Records one change made by `actor`.
    pub(crate) async fn record(
        &self,
        actor: &Actor,
        action: &str,
        entity_type: &str,
        entity_name: &str,
        before: Option<Value>,
        after: Option<Value>,
    ) {
        append(
            &self.meta,
            vec![entry(
                actor,
                action,
                entity_type,
                entity_name,
                before,
                after,
            )],
        )
        .await;
    }

    /// Records an event (a sign-in) with a short detail.
    pub(crate) async fn record_event(
        &self,
        actor: &Actor,
        action: &str,
        entity_type: &str,
        entity_name: &str,
        detail: Option<String>,
    ) {
        let mut e = entry(actor, action, entity_type, entity_name, None, None);
        e.detail = detail;
        append(&self.meta, vec![e]).await;
    }

    /// Records refused credentials (not missing ones, not a database failure) as a
    /// `sign-in-failed` event naming whom they claimed, never their secret. At most a few a
    /// second are written per node (`trove_formats::kit::audit::FAILURES_PER_SECOND`).
    pub(crate) async fn record_failed_sign_in(
        &self,
        from: &Actor,
        authorization: Option<&str>,
        err: &trove_auth::AuthError,
    ) {
        if matches!(
            err,
            trove_auth::AuthError::Required | trove_auth::AuthError::Internal(_)
        ) {
            return;
        }
        let ip = from.ip.as_deref().and_then(|i| i.parse().ok());
        if let Some(e) = trove_formats::kit::audit::failed_sign_in(
            from.front_end.as_str(),
            ip,
            authorization,
            &err.to_string(),
        ) {
            append(&self.meta, vec![e]).await;
        }
    }

    /// Records a console sign-out.
    pub async fn record_sign_out(&self, actor: &Actor) {
        self.record_event(actor, "sign-out", "user", actor.name(), None)
            .await;
    }

    /// Audit entries matching `filter`, oldest first (admin).
    pub async fn audit(
        &self,
        caller: &Actor,
        filter: &AuditFilter,
    ) -> ServiceResult<Vec<AuditEntry>> {
        self.require_admin(caller)?;
        Ok(self.meta.audit().query(&filter.query(false)?).await?)
    }

    /// The same, newest first (the console's page).
    pub async fn audit_newest_first(
        &self,
        caller: &Actor,
        filter: &AuditFilter,
    ) -> ServiceResult<Vec<AuditEntry>> {
        self.require_admin(caller)?;
        Ok(self.meta.audit().query(&filter.query(true)?).await?)
    }

    /// Every entry matching `filter` (its `limit` is the page size), oldest first, as JSON
    /// lines, page by page: `next` returns `None` after the last page (admin, checked once).
    pub fn audit_export(&self, caller: &Actor, filter: &AuditFilter) -> ServiceResult<AuditExport> {
        self.require_admin(caller)?;
        let mut filter = filter.clone();
        filter.limit = Some(filter.limit.unwrap_or(trove_store::AUDIT_MAX_PAGE));
        let query = filter.query(false)?;
        Ok(AuditExport {
            meta: self.meta.clone(),
            query,
            done: false,
        })
    }
}

/// Pages of an export (see [`Service::audit_export`]).
pub struct AuditExport {
    meta: MetadataStore,
    query: AuditQuery,
    done: bool,
}

impl AuditExport {
    /// The next page as JSON lines, `None` when there is no more.
    pub async fn next(&mut self) -> ServiceResult<Option<String>> {
        if self.done {
            return Ok(None);
        }
        let page = self.meta.audit().query(&self.query).await?;
        if page.len() < self.query.limit as usize {
            self.done = true;
        }
        let Some(last) = page.last() else {
            return Ok(None);
        };
        self.query.after = Some(last.seq);
        let mut out = String::new();
        for e in &page {
            out.push_str(&serde_json::to_string(e).map_err(anyhow::Error::from)?);
            out.push('\n');
        }
        Ok(Some(out))
    }
}

// ---- changes applied outside the service layer (trove.toml, the CLI) -------------------------

/// What the audit diffs: each security entity, repository and routing rule as JSON, keyed by
/// `(entity type, name)`. A user's password shows only as `"set"`; its hash is kept beside the
/// JSON (never in it, never logged) to notice a changed password.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct State {
    entities: BTreeMap<(String, String), (Value, Option<String>)>,
}

/// Reads [`State`] from the database.
pub async fn state(meta: &MetadataStore) -> trove_core::Result<State> {
    let mut entities = BTreeMap::new();
    let mut put = |kind: &str, name: &str, v: Value, secret: Option<String>| {
        entities.insert((kind.to_owned(), name.to_owned()), (v, secret));
    };
    let sec = meta.security();
    for u in sec.list_users().await? {
        let roles = sec.user_roles(&u.name).await?;
        put(
            "user",
            &u.name,
            json!({
                "name": u.name, "status": u.status, "roles": roles, "managed_by": u.managed_by,
                "password": u.password_hash.as_ref().map(|_| "set"),
            }),
            u.password_hash.clone(),
        );
    }
    for r in sec.list_roles().await? {
        put(
            "role",
            &r.name,
            json!({
                "name": r.name, "description": r.description, "managed_by": r.managed_by,
                "privileges": r.privileges.iter().map(|p| p.name.clone()).collect::<Vec<_>>(),
                "roles": r.roles,
            }),
            None,
        );
    }
    for p in sec.privilege_records().await? {
        put(
            "privilege",
            &p.def.name,
            json!({
                "name": p.def.name, "kind": p.def.kind.as_str(), "format": p.def.format,
                "repository": p.def.repo, "actions": p.def.actions, "managed_by": p.managed_by,
            }),
            None,
        );
    }
    put(
        "anonymous",
        "anonymous-access",
        json!({"enabled": sec.anonymous_enabled().await?}),
        None,
    );
    let snapshot = sec.snapshot().await?;
    put("realms", "realms", json!({"active": snapshot.realms}), None);
    for r in meta.repos().records().await? {
        let c = &r.config;
        put(
            "repository",
            c.name.as_str(),
            json!({
                "name": c.name.as_str(), "format": c.format.as_str(),
                "online": c.online, "settings": serde_json::to_value(&c.kind).unwrap_or(Value::Null),
                "options": c.options, "routing_rule": c.routing_rule,
                "force_basic_auth": c.force_basic_auth, "connector": r.connector,
                "managed_by": r.managed_by,
            }),
            None,
        );
    }
    for t in meta.api_tokens().list(None).await? {
        // Not `last_used`: a use is no change.
        put(
            "token",
            &format!("{}/{}", t.user, t.name),
            json!({
                "name": t.name, "user": t.user, "prefix": format!("{}{}", trove_auth::TOKEN_PREFIX, t.id),
                "repositories": t.repositories, "actions": t.actions, "created_by": t.created_by,
                "expires_at": t.expires,
            }),
            None,
        );
    }
    for r in meta.rules().list().await? {
        put(
            "routing-rule",
            &r.name,
            json!({
                "name": r.name, "description": r.description, "mode": r.mode,
                "matchers": r.matchers, "managed_by": r.managed_by,
            }),
            None,
        );
    }
    Ok(State { entities })
}

/// Records what changed between `before` and `after` as one entry per entity (`create`,
/// `update` or `delete`), attributed to `actor` (the config file, or the CLI).
pub async fn record_changes(meta: &MetadataStore, actor: &Actor, before: &State, after: &State) {
    let mut entries = Vec::new();
    for (key, (new, new_secret)) in &after.entities {
        match before.entities.get(key) {
            None => entries.push(entry(
                actor,
                "create",
                &key.0,
                &key.1,
                None,
                Some(new.clone()),
            )),
            Some((old, old_secret)) if old != new || old_secret != new_secret => {
                let mut new = new.clone();
                if old_secret != new_secret && new_secret.is_some() {
                    new["password"] = json!("changed");
                }
                entries.push(entry(
                    actor,
                    "update",
                    &key.0,
                    &key.1,
                    Some(old.clone()),
                    Some(new),
                ));
            }
            Some(_) => {}
        }
    }
    for (key, (old, _)) in &before.entities {
        if !after.entities.contains_key(key) {
            entries.push(entry(
                actor,
                "delete",
                &key.0,
                &key.1,
                Some(old.clone()),
                None,
            ));
        }
    }
    if !entries.is_empty() {
        append(meta, entries).await;
    }
}
