//! Browsing a repository's content through its format's views
//! ([`trove_formats::browse::Browse`]): components, a component's assets, one asset, and
//! deleting an asset. Needs `browse` to list, `read` to open an asset and `delete` to delete
//! (hosted repositories only), as on the wire protocols.

use std::sync::Arc;

use serde::Serialize;
use trove_auth::Action;

use crate::Actor;
use trove_core::{Ctx, KindConfig, RepoKind, Repository};
use trove_formats::browse::{Browse, Detail, Listing, Nouns, Scope};

use crate::{Service, ServiceError, ServiceResult};

/// A repository's components.
#[derive(Debug, Clone, Serialize)]
pub struct RepoContent {
    pub repository: String,
    pub format: String,
    pub kind: RepoKind,
    /// What its format calls components and assets; `None` when the format has no browse
    /// views.
    pub nouns: Option<Nouns>,
    /// `None` for a group (its members are browsed instead) and for a format without browse
    /// views.
    pub components: Option<Listing>,
    /// Groups have no content of their own: their members are browsed instead.
    pub members: Vec<String>,
}

/// One component: its assets.
#[derive(Debug, Clone, Serialize)]
pub struct ComponentView {
    pub repository: String,
    pub component: String,
    pub nouns: Nouns,
    pub assets: Listing,
    /// Whether the caller may delete here (the console shows delete buttons then).
    pub can_delete: bool,
}

/// One asset, opened.
#[derive(Debug, Clone, Serialize)]
pub struct AssetView {
    pub repository: String,
    pub component: String,
    pub reference: String,
    pub nouns: Nouns,
    pub detail: Detail,
    pub can_delete: bool,
}

impl Service {
    fn repo_for(
        &self,
        caller: &Actor,
        name: &str,
        action: Action,
    ) -> ServiceResult<Arc<dyn Repository>> {
        let repo = self
            .node
            .repository(name)
            .ok_or_else(|| ServiceError::not_found(format!("no online repository named {name}")))?;
        if self
            .auth
            .authorize_rights(&caller.identity, action, repo.config())
            .is_err()
        {
            return Err(self.denied(caller, action, name));
        }
        Ok(repo)
    }

    fn ctx(caller: &Actor) -> Ctx {
        Ctx {
            user: (!caller.is_anonymous()).then(|| caller.name().to_owned()),
            ..Ctx::default()
        }
    }

    /// The browse views of `repo`'s format, or `NotFound` naming the format.
    fn views(repo: &dyn Repository) -> ServiceResult<&'static dyn Browse> {
        let format = &repo.config().format;
        trove_formats::registry()
            .get(format)
            .and_then(|f| f.browse())
            .ok_or_else(|| {
                ServiceError::not_found(format!("{format} repositories have no browse views"))
            })
    }

    fn may_delete(&self, caller: &Actor, repo: &dyn Repository) -> bool {
        repo.config().kind() == RepoKind::Hosted
            && self
                .auth
                .authorize_rights(&caller.identity, Action::Delete, repo.config())
                .is_ok()
    }

    /// What the format of online repository `repo` calls its components and assets, or
    /// `NotFound` (no such repository, or a format without browse views). Says nothing the
    /// browse calls themselves would not: they check the caller's privileges.
    pub fn nouns(&self, repo: &str) -> ServiceResult<Nouns> {
        let r = self
            .node
            .repository(repo)
            .ok_or_else(|| ServiceError::not_found(format!("no online repository named {repo}")))?;
        Ok(Self::views(r.as_ref())?.nouns())
    }

    pub async fn browse(&self, caller: &Actor, repo: &str) -> ServiceResult<RepoContent> {
        let r = self.repo_for(caller, repo, Action::Browse)?;
        let members = match &r.config().kind {
            KindConfig::Group { members, .. } => members.clone(),
            _ => Vec::new(),
        };
        let views = trove_formats::registry()
            .get(&r.config().format)
            .and_then(|f| f.browse());
        let components = match views {
            Some(views) if members.is_empty() => Some(
                views
                    .components(&Scope {
                        repo: r.as_ref(),
                        blobs: self.blobs.as_ref(),
                        ctx: &Self::ctx(caller),
                    })
                    .await?,
            ),
            _ => None,
        };
        Ok(RepoContent {
            repository: repo.to_owned(),
            format: r.config().format.to_string(),
            kind: r.config().kind(),
            nouns: views.map(|v| v.nouns()),
            components,
            members,
        })
    }

    /// The assets of component `name` of `repo`.
    pub async fn component(
        &self,
        caller: &Actor,
        repo: &str,
        name: &str,
    ) -> ServiceResult<ComponentView> {
        let r = self.repo_for(caller, repo, Action::Browse)?;
        let views = Self::views(r.as_ref())?;
        let nouns = views.nouns();
        let at = Scope {
            repo: r.as_ref(),
            blobs: self.blobs.as_ref(),
            ctx: &Self::ctx(caller),
        };
        let assets = views.component(&at, name).await?.ok_or_else(|| {
            ServiceError::not_found(format!(
                "no {} {name} in repository {repo}",
                nouns.component
            ))
        })?;
        Ok(ComponentView {
            repository: repo.to_owned(),
            component: name.to_owned(),
            nouns,
            assets,
            can_delete: self.may_delete(caller, r.as_ref()),
        })
    }

    /// Asset `reference` of component `component` of `repo`.
    pub async fn asset(
        &self,
        caller: &Actor,
        repo: &str,
        component: &str,
        reference: &str,
    ) -> ServiceResult<AssetView> {
        let r = self.repo_for(caller, repo, Action::Read)?;
        let views = Self::views(r.as_ref())?;
        let nouns = views.nouns();
        let at = Scope {
            repo: r.as_ref(),
            blobs: self.blobs.as_ref(),
            ctx: &Self::ctx(caller),
        };
        let detail = views
            .asset(&at, component, reference)
            .await?
            .ok_or_else(|| {
                ServiceError::not_found(format!(
                    "no {} {component}:{reference} in {repo}",
                    nouns.asset
                ))
            })?;
        Ok(AssetView {
            repository: repo.to_owned(),
            component: component.to_owned(),
            reference: reference.to_owned(),
            nouns,
            detail,
            can_delete: self.may_delete(caller, r.as_ref()),
        })
    }

    /// Deletes asset `reference` of `component` the way the format's protocol does (docker:
    /// a tag, or a manifest by digest with its tags). Hosted repositories only.
    pub async fn delete_asset(
        &self,
        caller: &Actor,
        repo: &str,
        component: &str,
        reference: &str,
    ) -> ServiceResult<()> {
        let r = self.repo_for(caller, repo, Action::Delete)?;
        if r.config().kind() != RepoKind::Hosted {
            return Err(ServiceError::Invalid {
                field: None,
                message: format!(
                    "{repo} is not a hosted repository; only hosted content is deleted here"
                ),
            });
        }
        let views = Self::views(r.as_ref())?;
        let at = Scope {
            repo: r.as_ref(),
            blobs: self.blobs.as_ref(),
            ctx: &Self::ctx(caller),
        };
        if views.delete(&at, component, reference).await? {
            tracing::info!(repository = %repo, %component, %reference, by = %caller, "deleted");
            self.record(
                caller,
                "delete",
                "content",
                &format!("{repo}:{component}:{reference}"),
                Some(serde_json::json!({
                    "repository": repo, "component": component, "reference": reference,
                })),
                None,
            )
            .await;
            Ok(())
        } else {
            Err(ServiceError::not_found(format!(
                "no {} {component}:{reference} in {repo}",
                views.nouns().asset
            )))
        }
    }
}
