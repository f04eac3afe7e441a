//! Browsing a repository: its settings and images, an image's tags and manifests, one
//! manifest with its layers and referrers; deleting tags and manifests where allowed.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use trove_formats::docker::browse::ManifestDetail;

use super::{Chrome, Form, enc, name, session};
use crate::service::{ImageView, RepoContent, RepoInput, RepoView, Service, ServiceError};

#[derive(Template)]
#[template(path = "repository.html")]
struct RepositoryPage {
    chrome: Chrome,
    repo: RepoView,
    settings: RepoInput,
    content: Option<RepoContent>,
    /// Why the content cannot be listed (offline, say).
    content_error: Option<String>,
    editable: bool,
}

pub(crate) async fn repository(req: HttpRequest, svc: web::Data<Service>) -> HttpResponse {
    let ctx = page_ctx!(req, svc);
    let name = name(&req);
    let repo = match svc.repository(&ctx.principal, &name).await {
        Ok(r) => r,
        Err(e) => return ctx.error(&e),
    };
    let (content, content_error) = match svc.browse(&ctx.principal, &name).await {
        Ok(c) => (Some(c), None),
        Err(e @ ServiceError::Forbidden { .. }) => return ctx.error(&e),
        Err(e) => (None, Some(e.message().to_owned())),
    };
    let page = RepositoryPage {
        chrome: ctx.chrome(format!("Repository {name}"), "repositories"),
        settings: RepoInput::from_view(&repo),
        editable: ctx.admin && repo.read_only.is_none(),
        repo,
        content,
        content_error,
    };
    ctx.page(StatusCode::OK, &page)
}

#[derive(Template)]
#[template(path = "image.html")]
struct ImagePage {
    chrome: Chrome,
    v: ImageView,
}

pub(crate) async fn image(req: HttpRequest, svc: web::Data<Service>) -> HttpResponse {
    let ctx = page_ctx!(req, svc);
    let q = Form::query(&req);
    match svc.image(&ctx.principal, &name(&req), q.get("name")).await {
        Ok(v) => ctx.page(
            StatusCode::OK,
            &ImagePage {
                chrome: ctx.chrome(format!("Image {}", v.image), "repositories"),
                v,
            },
        ),
        Err(e) => ctx.error(&e),
    }
}

#[derive(Template)]
#[template(path = "manifest.html")]
struct ManifestPage {
    chrome: Chrome,
    repo: String,
    m: ManifestDetail,
    can_delete: bool,
}

pub(crate) async fn manifest(req: HttpRequest, svc: web::Data<Service>) -> HttpResponse {
    let ctx = page_ctx!(req, svc);
    let (repo, q) = (name(&req), Form::query(&req));
    let m = match svc
        .manifest(&ctx.principal, &repo, q.get("image"), q.get("reference"))
        .await
    {
        Ok(m) => m,
        Err(e) => return ctx.error(&e),
    };
    let can_delete = svc
        .image(&ctx.principal, &repo, q.get("image"))
        .await
        .is_ok_and(|v| v.can_delete);
    let page = ManifestPage {
        chrome: ctx.chrome(format!("{}@{}", m.image, m.digest), "repositories"),
        repo,
        m,
        can_delete,
    };
    ctx.page(StatusCode::OK, &page)
}

pub(crate) async fn delete_manifest(
    req: HttpRequest,
    svc: web::Data<Service>,
    body: web::Bytes,
) -> HttpResponse {
    let form = Form::parse(&body);
    let ctx = post_ctx!(req, svc, form);
    let (repo, image, reference) = (name(&req), form.get("image"), form.get("reference"));
    if let Err(e) = svc
        .delete_manifest(&ctx.principal, &repo, image, reference)
        .await
    {
        return ctx.error(&e);
    }
    let notice = format!("Deleted {image}:{reference}.");
    if svc.image(&ctx.principal, &repo, image).await.is_ok() {
        ctx.done(
            &format!("/admin/repository/{}/image?name={}", enc(&repo), enc(image)),
            &notice,
        )
    } else {
        ctx.done(&format!("/admin/repository/{}", enc(&repo)), &notice)
    }
}
