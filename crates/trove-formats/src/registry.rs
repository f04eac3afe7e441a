//! The formats Trove has, one [`Format`] value each, and the routes that reach them: the main
//! port mounts `/repository/{name}/{tail}` once and dispatches by the repository's format; a
//! connector port bound to one repository mounts that repository's format at `/`. Config
//! validation, the console and the REST API list formats from [`registry`].

use std::sync::{Arc, LazyLock};

use actix_web::{HttpRequest, HttpResponse, web};
use async_trait::async_trait;
use serde_json::{Map, Value};
use trove_core::{FormatId, FormatSpec, RepoKind, RepoName, Repository, RepositoryConfig};

use crate::kit::{Frontend, request};

/// What the console and the API show of a format.
#[derive(Debug, Clone, serde::Serialize)]
pub struct FormatInfo {
    pub id: FormatId,
    /// For people: `Docker / OCI`, `Raw`.
    pub label: &'static str,
    /// The repository kinds it can be.
    pub kinds: &'static [RepoKind],
    /// One line on what it serves and how clients reach it.
    pub description: &'static str,
}

/// One request addressed to a repository: on the main port `/repository/<name><tail>`, on a
/// connector port bound to the repository `<tail>` (the whole path).
pub struct RepoRequest {
    pub http: HttpRequest,
    pub payload: web::Payload,
    pub front: web::Data<Frontend>,
    /// The repository name as addressed.
    pub name: String,
    /// The repository, or `None` when no online repository has that name: the format answers
    /// exactly as it answers a caller who may not see the repository, so existence never
    /// leaks.
    pub repo: Option<Arc<dyn Repository>>,
    /// The path the repository is mounted at on this listener: `/repository/<name>` on the
    /// main port, empty on its connector.
    pub base: String,
    /// The rest of the path, from the `/` after the base (empty for the base itself).
    pub tail: String,
}

impl RepoRequest {
    /// Whether this is a connector port bound to the repository.
    pub fn on_connector(&self) -> bool {
        self.base.is_empty()
    }
}

/// A wire format. Everything a new format needs is one value of this trait plus a line in
/// [`FormatRegistry::builtin`].
#[async_trait(?Send)]
pub trait Format: Send + Sync {
    fn info(&self) -> FormatInfo;

    fn id(&self) -> FormatId {
        self.info().id
    }

    /// Checks the format's own settings for a repository of `kind` (`options` is the
    /// `[repository.<format>]` table of trove.toml, or the API's `options` object); the error
    /// names the key.
    fn check_options(&self, kind: RepoKind, options: &Map<String, Value>) -> Result<(), String> {
        match options.keys().next() {
            None => Ok(()),
            Some(k) => Err(format!(
                "unknown {} option {k:?} for a {} repository",
                self.id(),
                kind.as_str()
            )),
        }
    }

    /// The options of [`Format::check_options`] that forms should offer; none by default (the
    /// REST API and trove.toml take every option regardless).
    fn option_fields(&self) -> &'static [crate::OptionField] {
        &[]
    }

    /// Whether the format names versions by movable tags (docker), so a repository may declare
    /// `immutable_tags`; none by default.
    fn has_tags(&self) -> bool {
        false
    }

    /// The views of a repository's content for the console and the REST API; `None` (the
    /// default) means the format has no browse pages.
    fn browse(&self) -> Option<&dyn crate::browse::Browse> {
        None
    }

    /// The format logic the repository kinds call, for one repository (with its options).
    fn spec(&self, repo: &RepositoryConfig) -> trove_core::Result<Arc<dyn FormatSpec>>;

    /// Answers one request addressed to a repository of this format.
    async fn serve(&self, req: RepoRequest) -> HttpResponse;

    /// Whether a request for a repository that does not exist, at `tail`, is this format's to
    /// answer (docker claims `/v2/...`): so a missing repository answers in the shape the
    /// client speaks. Unclaimed ones get the raw format's answer.
    fn claims(&self, _tail: &str) -> bool {
        false
    }

    /// Routes of the format's own on the main port, besides `/repository/<name>/...` (docker:
    /// `/v2/...`, which stock docker clients address).
    fn main_routes(&self, _cfg: &mut web::ServiceConfig) {}
}

/// The formats this build has.
pub struct FormatRegistry {
    formats: Vec<Box<dyn Format>>,
}

impl FormatRegistry {
    /// Every built-in format, each behind its cargo feature.
    pub fn builtin() -> FormatRegistry {
        let formats: Vec<Box<dyn Format>> = vec![
            #[cfg(feature = "docker")]
            Box::new(crate::docker::Docker),
            #[cfg(feature = "raw")]
            Box::new(crate::raw::Raw),
            #[cfg(feature = "npm")]
            Box::new(crate::npm::Npm),
            #[cfg(feature = "pypi")]
            Box::new(crate::pypi::Pypi),
            #[cfg(feature = "maven")]
            Box::new(crate::maven::Maven),
            #[cfg(feature = "cargo")]
            Box::new(crate::cargo::Cargo),
        ];
        FormatRegistry { formats }
    }

    pub fn get(&self, id: &FormatId) -> Option<&dyn Format> {
        self.formats
            .iter()
            .find(|f| f.id() == *id)
            .map(|f| f.as_ref())
    }

    /// The format called `name`, or an error listing the known ones.
    pub fn find(&self, name: &str) -> Result<&dyn Format, String> {
        FormatId::parse(name)
            .ok()
            .and_then(|id| self.get(&id))
            .ok_or_else(|| {
                format!(
                    "unknown format {name:?} (known: {})",
                    self.ids()
                        .map(|i| i.to_string())
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            })
    }

    pub fn list(&self) -> impl Iterator<Item = &dyn Format> {
        self.formats.iter().map(|f| f.as_ref())
    }

    pub fn ids(&self) -> impl Iterator<Item = FormatId> + '_ {
        self.formats.iter().map(|f| f.id())
    }

    /// The format logic for `repo`, built from its format and options.
    pub fn spec(&self, repo: &RepositoryConfig) -> trove_core::Result<Arc<dyn FormatSpec>> {
        let format = self.get(&repo.format).ok_or_else(|| {
            trove_core::Error::invalid(format!(
                "repository {}: unknown format {}",
                repo.name, repo.format
            ))
        })?;
        format.spec(repo)
    }

    /// The format that answers for a missing repository at `tail`.
    fn claimant(&self, tail: &str) -> Option<&dyn Format> {
        self.list().find(|f| f.claims(tail)).or_else(|| {
            self.get(&FormatId::new("raw"))
                .or_else(|| self.formats.first().map(|f| f.as_ref()))
        })
    }
}

/// The formats of this build.
pub fn registry() -> &'static FormatRegistry {
    static REGISTRY: LazyLock<FormatRegistry> = LazyLock::new(FormatRegistry::builtin);
    &REGISTRY
}

/// App data of a connector bound to one repository, which serves it at `/`.
#[derive(Clone, Debug)]
pub struct ConnectorRepo(pub RepoName);

/// Mounts the main port's repository routes: every format's own routes, then
/// `/repository/{name}` and `/repository/{name}/{tail}`.
pub fn configure_main(cfg: &mut web::ServiceConfig) {
    for f in registry().list() {
        f.main_routes(cfg);
    }
    cfg.service(web::resource("/repository/{repo}").route(web::route().to(main_entry)))
        .service(web::resource("/repository/{repo}/{tail:.*}").route(web::route().to(main_entry)));
}

/// Mounts everything at `/` for the repository named by the app's [`ConnectorRepo`].
pub fn configure_connector(cfg: &mut web::ServiceConfig) {
    cfg.default_service(web::route().to(connector_entry));
}

async fn main_entry(
    http: HttpRequest,
    payload: web::Payload,
    front: web::Data<Frontend>,
) -> HttpResponse {
    let name = http.match_info().get("repo").unwrap_or_default().to_owned();
    let tail = match http.match_info().get("tail") {
        Some(t) => format!("/{t}"),
        None => String::new(),
    };
    let base = format!("/repository/{name}");
    dispatch(http, payload, front, name, base, tail).await
}

async fn connector_entry(
    http: HttpRequest,
    payload: web::Payload,
    front: web::Data<Frontend>,
) -> HttpResponse {
    let name = http
        .app_data::<ConnectorRepo>()
        .map(|c| c.0.to_string())
        .unwrap_or_default();
    let tail = http.path().to_owned();
    dispatch(http, payload, front, name, String::new(), tail).await
}

async fn dispatch(
    http: HttpRequest,
    payload: web::Payload,
    front: web::Data<Frontend>,
    name: String,
    base: String,
    tail: String,
) -> HttpResponse {
    let repo = front.repos.get(&name);
    let format = match &repo {
        Some(r) => registry().get(&r.config().format),
        None => registry().claimant(&tail),
    };
    request::note(&http, |f| {
        f.repository = Some(name.clone());
        f.format = format.map(|f| f.id().to_string());
    });
    let Some(format) = format else {
        return HttpResponse::NotFound()
            .content_type("text/plain; charset=utf-8")
            .body(format!(
                "repository {name:?} does not exist or is offline\n"
            ));
    };
    format
        .serve(RepoRequest {
            http,
            payload,
            front,
            name,
            repo,
            base,
            tail,
        })
        .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_builtin_format_is_listed_once_with_a_valid_id() {
        let r = FormatRegistry::builtin();
        let ids: Vec<_> = r.ids().collect();
        for id in &ids {
            assert_eq!(FormatId::parse(id.as_str()).ok().as_ref(), Some(id));
            assert_eq!(ids.iter().filter(|x| *x == id).count(), 1, "{id} twice");
            assert!(r.get(id).is_some());
        }
        assert!(r.find("nope").err().unwrap().contains("known: "));
    }
}
