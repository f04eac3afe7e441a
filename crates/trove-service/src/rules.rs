//! Routing rules: list, create, edit, delete, and previews (a stored rule, or a draft from
//! the edit form, against a request path).

use crate::Actor;
use crate::audit::json_of;
use serde::{Deserialize, Serialize};
use trove_core::AssetPath;
use trove_routing::{Mode, RoutingRule, RoutingRuleDecl};
use trove_store::RuleRow;

use crate::{Service, ServiceError, ServiceResult, UI, named, read_only_reason};

#[derive(Debug, Clone, Serialize)]
pub struct RuleView {
    pub name: String,
    pub description: String,
    pub mode: String,
    pub matchers: Vec<String>,
    pub managed_by: String,
    pub read_only: Option<&'static str>,
    /// Repositories this rule guards.
    pub used_by: Vec<String>,
}

/// A rule as written: the keys of `[[routing_rule]]` in trove.toml.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RuleInput {
    pub name: String,
    #[serde(default)]
    pub description: String,
    /// `allow` or `block`.
    pub mode: String,
    pub matchers: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct RuleTestView {
    pub rule: String,
    pub path: String,
    pub allowed: bool,
    pub explanation: String,
}

fn compile(input: &RuleInput) -> ServiceResult<RoutingRule> {
    let mode = match input.mode.as_str() {
        "allow" => Mode::Allow,
        "block" => Mode::Block,
        other => {
            return Err(ServiceError::invalid(
                "mode",
                format!("{other:?} is not allow or block"),
            ));
        }
    };
    let matchers: Vec<String> = input
        .matchers
        .iter()
        .map(|m| m.trim().to_owned())
        .filter(|m| !m.is_empty())
        .collect();
    if matchers.is_empty() {
        return Err(ServiceError::invalid(
            "matchers",
            "a rule needs at least one matcher (a regular expression for the request path)",
        ));
    }
    let decl = RoutingRuleDecl {
        name: input.name.trim().to_owned(),
        description: input.description.trim().to_owned(),
        mode,
        matchers,
    };
    RoutingRule::try_from(&decl).map_err(|e| {
        let field = if e.msg.contains("name") && !e.msg.contains("matcher") {
            "name"
        } else {
            "matchers"
        };
        ServiceError::invalid(field, e.msg)
    })
}

fn row(rule: &RoutingRule) -> RuleRow {
    RuleRow {
        name: rule.name().to_owned(),
        description: rule.description().to_owned(),
        mode: rule.mode().as_str().to_owned(),
        matchers: rule.matchers().map(str::to_owned).collect(),
        managed_by: UI.into(),
    }
}

/// A stored rule, compiled: what the node runs and what [`Service::test_rule`] asks.
pub fn compiled(row: &RuleRow) -> trove_core::Result<RoutingRule> {
    let decl = RoutingRuleDecl {
        name: row.name.clone(),
        description: row.description.clone(),
        mode: match row.mode.as_str() {
            "allow" => Mode::Allow,
            _ => Mode::Block,
        },
        matchers: row.matchers.clone(),
    };
    RoutingRule::try_from(&decl).map_err(|e| {
        trove_core::Error::internal(format!("stored routing rule {}: {}", row.name, e.msg))
    })
}

fn test_path(rule: &RoutingRule, path: &str) -> ServiceResult<RuleTestView> {
    let parsed = AssetPath::parse(path.trim()).map_err(|e| ServiceError::invalid("path", e.msg))?;
    Ok(RuleTestView {
        rule: rule.name().to_owned(),
        path: parsed.as_str().to_owned(),
        allowed: rule.is_allowed(&parsed),
        explanation: rule.explain(&parsed),
    })
}

impl Service {
    pub async fn rules(&self, caller: &Actor) -> ServiceResult<Vec<RuleView>> {
        self.require_admin(caller)?;
        let records = self.meta.repos().records().await?;
        Ok(self
            .meta
            .rules()
            .list()
            .await?
            .into_iter()
            .map(|r| RuleView {
                used_by: records
                    .iter()
                    .filter(|x| x.config.routing_rule.as_deref() == Some(&r.name))
                    .map(|x| x.config.name.to_string())
                    .collect(),
                read_only: read_only_reason(&r.managed_by),
                name: r.name,
                description: r.description,
                mode: r.mode,
                matchers: r.matchers,
                managed_by: r.managed_by,
            })
            .collect())
    }

    pub async fn rule(&self, caller: &Actor, name: &str) -> ServiceResult<RuleView> {
        named(self.rules(caller).await?, name, "routing rule", |r| &r.name)
    }

    pub async fn create_rule(&self, caller: &Actor, input: &RuleInput) -> ServiceResult<RuleView> {
        self.require_admin(caller)?;
        let rule = compile(input)?;
        self.meta.rules().create(&row(&rule)).await?;
        let applied = self.refresh().await;
        let after = self.rule(caller, rule.name()).await;
        self.record(
            caller,
            "create",
            "routing-rule",
            rule.name(),
            None,
            after.as_ref().ok().and_then(json_of),
        )
        .await;
        applied?;
        after
    }

    pub async fn update_rule(
        &self,
        caller: &Actor,
        name: &str,
        input: &RuleInput,
    ) -> ServiceResult<RuleView> {
        self.require_admin(caller)?;
        if input.name.trim() != name {
            return Err(ServiceError::invalid(
                "name",
                "a routing rule cannot be renamed",
            ));
        }
        let rule = compile(input)?;
        let before = self.rule(caller, name).await.ok();
        self.meta.rules().update(&row(&rule)).await?;
        let applied = self.refresh().await;
        let after = self.rule(caller, name).await;
        self.record(
            caller,
            "update",
            "routing-rule",
            name,
            before.as_ref().and_then(json_of),
            after.as_ref().ok().and_then(json_of),
        )
        .await;
        applied?;
        after
    }

    pub async fn delete_rule(&self, caller: &Actor, name: &str) -> ServiceResult<()> {
        self.require_admin(caller)?;
        let before = self.rule(caller, name).await.ok();
        self.meta.rules().delete(name, UI).await?;
        let applied = self.refresh().await;
        self.record(
            caller,
            "delete",
            "routing-rule",
            name,
            before.as_ref().and_then(json_of),
            None,
        )
        .await;
        applied
    }

    /// Would the routing rule called `name` let `path` through, and why.
    pub async fn test_rule(
        &self,
        caller: &Actor,
        name: &str,
        path: &str,
    ) -> ServiceResult<RuleTestView> {
        self.require_admin(caller)?;
        let row = named(self.meta.rules().list().await?, name, "routing rule", |r| {
            &r.name
        })?;
        test_path(&compiled(&row)?, path)
    }

    /// The same for a rule not saved yet (the console's live preview while editing).
    pub fn preview_rule(
        &self,
        caller: &Actor,
        draft: &RuleInput,
        path: &str,
    ) -> ServiceResult<RuleTestView> {
        self.require_admin(caller)?;
        let mut draft = draft.clone();
        if draft.name.trim().is_empty() {
            draft.name = "draft".into();
        }
        test_path(&compile(&draft)?, path)
    }
}
