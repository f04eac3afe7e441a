//! Browsing a repository's content: images, tags and manifests (with layers and referrers),
//! and deleting tags and manifests. Needs `browse` to list, `read` to open a manifest and
//! `delete` to delete, as on the registry API.

use serde::Serialize;
use trove_auth::{Action, Principal};
use trove_core::{Ctx, RepoKind, Repository};
use trove_formats::docker::browse::{self, ImageSummary, ManifestDetail, ManifestRef};

use super::{Service, ServiceError, ServiceResult};

/// A repository's images.
#[derive(Debug, Clone, Serialize)]
pub struct RepoContent {
    pub repository: String,
    pub kind: RepoKind,
    pub images: Vec<ImageSummary>,
    /// Groups have no content of their own: their members are browsed instead.
    pub members: Vec<String>,
}

/// One image: its tags and stored manifests.
#[derive(Debug, Clone, Serialize)]
pub struct ImageView {
    pub repository: String,
    pub image: String,
    pub manifests: Vec<ManifestRef>,
    /// Whether the caller may delete here (the console shows delete buttons then).
    pub can_delete: bool,
}

impl Service {
    fn repo_for(
        &self,
        caller: &Principal,
        name: &str,
        action: Action,
    ) -> ServiceResult<std::sync::Arc<dyn Repository>> {
        let repo = self
            .trove
            .repository(name)
            .ok_or_else(|| ServiceError::not_found(format!("no online repository named {name}")))?;
        if self
            .trove
            .auth
            .authorizer
            .check(caller, action, repo.config())
            .is_err()
        {
            return Err(self.denied(caller, action, name));
        }
        Ok(repo)
    }

    fn ctx(caller: &Principal) -> Ctx {
        Ctx {
            user: (!caller.is_anonymous()).then(|| caller.name().to_owned()),
            ..Ctx::default()
        }
    }

    pub async fn browse(&self, caller: &Principal, repo: &str) -> ServiceResult<RepoContent> {
        let r = self.repo_for(caller, repo, Action::Browse)?;
        let members = match &r.config().kind {
            trove_core::KindConfig::Group { members, .. } => members.clone(),
            _ => Vec::new(),
        };
        let images = if members.is_empty() {
            browse::images(r.as_ref(), &Self::ctx(caller)).await?
        } else {
            Vec::new()
        };
        Ok(RepoContent {
            repository: repo.to_owned(),
            kind: r.config().kind(),
            images,
            members,
        })
    }

    pub async fn image(
        &self,
        caller: &Principal,
        repo: &str,
        image: &str,
    ) -> ServiceResult<ImageView> {
        let r = self.repo_for(caller, repo, Action::Browse)?;
        let manifests = browse::manifests(r.as_ref(), &Self::ctx(caller), image).await?;
        if manifests.is_empty() {
            return Err(ServiceError::not_found(format!(
                "no image {image} in repository {repo}"
            )));
        }
        let can_delete = r.config().kind() == RepoKind::Hosted
            && self
                .trove
                .auth
                .authorizer
                .check(caller, Action::Delete, r.config())
                .is_ok();
        Ok(ImageView {
            repository: repo.to_owned(),
            image: image.to_owned(),
            manifests,
            can_delete,
        })
    }

    /// A manifest by tag or digest, with layers, config, children and referrers.
    pub async fn manifest(
        &self,
        caller: &Principal,
        repo: &str,
        image: &str,
        reference: &str,
    ) -> ServiceResult<ManifestDetail> {
        let r = self.repo_for(caller, repo, Action::Read)?;
        browse::manifest(
            r.as_ref(),
            self.trove.front.blobs.as_ref(),
            &Self::ctx(caller),
            image,
            reference,
        )
        .await?
        .ok_or_else(|| {
            ServiceError::not_found(format!("no manifest {image}:{reference} in {repo}"))
        })
    }

    /// Deletes a tag, or a manifest by digest with its tags (hosted repositories only).
    pub async fn delete_manifest(
        &self,
        caller: &Principal,
        repo: &str,
        image: &str,
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
        if browse::delete_reference(r.as_ref(), &Self::ctx(caller), image, reference).await? {
            tracing::info!(repository = %repo, %image, %reference, by = %caller, "manifest deleted");
            Ok(())
        } else {
            Err(ServiceError::not_found(format!(
                "no manifest {image}:{reference} in {repo}"
            )))
        }
    }
}
