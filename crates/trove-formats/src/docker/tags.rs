//! Listings computed by the repository: tags (end-8a/8b), the catalog, with `n`/`last`
//! pagination and a `Link` header as the spec describes.

use actix_web::{HttpRequest, HttpResponse, web};
use futures_util::StreamExt;
use serde::Deserialize;
use trove_core::Error;

use super::errors::{OciCode, OciError, Subject};
use super::{Target, asset_path};

#[derive(Deserialize)]
pub(crate) struct ListQuery {
    pub n: Option<usize>,
    pub last: Option<String>,
    #[serde(rename = "artifactType")]
    pub artifact_type: Option<String>,
}

pub(crate) fn list_query(req: &HttpRequest) -> Result<ListQuery, OciError> {
    web::Query::<ListQuery>::from_query(req.query_string())
        .map(web::Query::into_inner)
        .map_err(|e| {
            OciError::new(OciCode::Unsupported, format!("bad query string: {e}")).status(400)
        })
}

/// The JSON document a repository generates at `path`, or `None` when it has none.
pub(crate) async fn generated(
    t: &Target,
    path: String,
) -> Result<Option<serde_json::Value>, OciError> {
    let path = asset_path(path)?;
    let err = |e| OciError::from_core(e, Subject::Repository);
    let Some(asset) = t.repo.get(&t.ctx, &path, None).await.map_err(err)? else {
        return Ok(None);
    };
    let mut doc = Vec::with_capacity(asset.meta.blob.size as usize);
    let mut body = asset.body;
    while let Some(chunk) = body.next().await {
        doc.extend_from_slice(&chunk.map_err(|e| err(Error::io("reading a listing", e)))?);
    }
    let doc = serde_json::from_slice(&doc)
        .map_err(|e| err(Error::internal(format!("listing document: {e}"))))?;
    Ok(Some(doc))
}

/// Applies `last` and `n` to a sorted list of strings; returns the `Link` header value for the
/// next page when entries were cut.
pub(crate) fn paginate(
    items: &mut Vec<serde_json::Value>,
    q: &ListQuery,
    next_url: impl Fn(usize, &str) -> String,
) -> Option<String> {
    if let Some(last) = &q.last {
        items.retain(|t| t.as_str().is_some_and(|t| t > last.as_str()));
    }
    let n = q.n?;
    if items.len() <= n {
        return None;
    }
    items.truncate(n);
    let last = items.last().and_then(|v| v.as_str())?;
    Some(format!("<{}>; rel=\"next\"", next_url(n, last)))
}

fn page_response(link: Option<String>, doc: &serde_json::Value) -> HttpResponse {
    let mut res = HttpResponse::Ok();
    if let Some(link) = link {
        res.insert_header(("Link", link));
    }
    res.json(doc)
}

pub async fn list(t: &Target, req: &HttpRequest, name: &str) -> Result<HttpResponse, OciError> {
    let q = list_query(req)?;
    let mut doc = generated(t, format!("/v2/{name}/tags/list"))
        .await?
        .ok_or_else(|| {
            OciError::new(
                OciCode::NameUnknown,
                format!("repository name {name:?} is not known"),
            )
        })?;
    let tags = doc["tags"].as_array_mut().expect("generated tag list");
    let link = paginate(tags, &q, |n, last| {
        t.url(&format!("{name}/tags/list?n={n}&last={last}"))
    });
    Ok(page_response(link, &doc))
}

/// `GET /v2/_catalog[?n=&last=]`: the image names of the repository.
pub async fn catalog(t: &Target, req: &HttpRequest) -> Result<HttpResponse, OciError> {
    let q = list_query(req)?;
    let mut doc = generated(t, "/v2/_catalog".into())
        .await?
        .unwrap_or_else(|| serde_json::json!({"repositories": []}));
    let names = doc["repositories"]
        .as_array_mut()
        .expect("generated catalog");
    let link = paginate(names, &q, |n, last| {
        t.url(&format!("_catalog?n={n}&last={last}"))
    });
    Ok(page_response(link, &doc))
}

/// `GET /v2/_catalog` on the main port: every image of every repository the caller may
/// browse, as `<repository>/<image>` (the form `docker pull host/<repository>/<image>` uses),
/// sorted and paginated like a repository's own catalog. Repositories the caller may not
/// browse are left out, not refused.
pub async fn registry_catalog(
    api: &super::DockerApi,
    caller: &super::auth::Caller,
    req: &HttpRequest,
) -> Result<HttpResponse, OciError> {
    let q = list_query(req)?;
    let mut names = Vec::new();
    for repo_name in api.repos.names() {
        let Some(repo) = api.repos.get(&repo_name) else {
            continue;
        };
        let allowed = caller
            .auth
            .authorize(
                &caller.identity,
                trove_auth::Action::Browse,
                repo.config(),
                None,
            )
            .is_ok();
        if !allowed || (repo.config().force_basic_auth && caller.identity.principal.is_anonymous())
        {
            continue;
        }
        let target = Target {
            repo,
            prefix: format!("/v2/{repo_name}/"),
            mount: super::Mount::ByName,
            ctx: Default::default(),
            caller: super::auth::Caller {
                identity: caller.identity.clone(),
                auth: caller.auth.clone(),
                token_url: caller.token_url.clone(),
                scope_prefix: caller.scope_prefix.clone(),
            },
        };
        // A repository that cannot answer (its upstream down) must not hide the others.
        let Ok(Some(doc)) = generated(&target, "/v2/_catalog".into()).await else {
            continue;
        };
        let images = doc["repositories"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|v| v.as_str());
        for image in images {
            names.push(serde_json::Value::String(format!("{repo_name}/{image}")));
        }
    }
    names.sort_unstable_by(|a, b| a.as_str().cmp(&b.as_str()));
    let link = paginate(&mut names, &q, |n, last| {
        format!("/v2/_catalog?n={n}&last={last}")
    });
    Ok(page_response(
        link,
        &serde_json::json!({ "repositories": names }),
    ))
}
