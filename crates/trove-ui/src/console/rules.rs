//! Routing rules: the list, create / edit / delete, a preview of the draft on the form
//! ("does this path pass?", `Service::preview_rule`) and a test of the saved rule
//! (`Service::test_rule`).

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;

use super::{
    Chrome, Ctx, Form, FormError, enc, form::lines, name, session, shown_on_form, status_of,
};
use trove_service::{RuleInput, RuleTestView, RuleView, Service, ServiceError};

#[derive(Template)]
#[template(path = "rules.html")]
struct ListPage {
    chrome: Chrome,
    rules: Vec<RuleView>,
}

pub(crate) async fn list(req: HttpRequest, svc: web::Data<Service>) -> HttpResponse {
    let ctx = page_ctx!(req, svc);
    match svc.rules(&ctx.actor).await {
        Ok(rules) => ctx.page(
            StatusCode::OK,
            &ListPage {
                chrome: ctx.chrome("Routing rules", "rules"),
                rules,
            },
        ),
        Err(e) => ctx.error(&e),
    }
}

#[derive(Template)]
#[template(path = "rule_form.html")]
struct FormPage {
    chrome: Chrome,
    creating: bool,
    name: String,
    description: String,
    mode: String,
    /// One matcher per line.
    matchers: String,
    err: FormError,
    read_only: Option<&'static str>,
    used_by: Vec<String>,
    /// The draft preview: the path asked about and the answer.
    preview_path: String,
    preview: Option<RuleTestView>,
    /// The saved rule's test.
    test_path: String,
    test: Option<RuleTestView>,
    test_error: Option<String>,
}

impl FormPage {
    fn new(ctx: &Ctx, creating: bool, input: &RuleInput) -> FormPage {
        FormPage {
            chrome: ctx.chrome(
                if creating {
                    "New routing rule".to_owned()
                } else {
                    format!("Routing rule {}", input.name)
                },
                "rules",
            ),
            creating,
            name: input.name.clone(),
            description: input.description.clone(),
            mode: input.mode.clone(),
            matchers: input.matchers.join("\n"),
            err: FormError::none(),
            read_only: None,
            used_by: Vec::new(),
            preview_path: String::new(),
            preview: None,
            test_path: String::new(),
            test: None,
            test_error: None,
        }
    }
}

fn draft(form: &Form, name: Option<String>) -> RuleInput {
    RuleInput {
        name: name.unwrap_or_else(|| form.get("name").trim().to_owned()),
        description: form.get("description").trim().to_owned(),
        mode: form.get("mode").to_owned(),
        matchers: lines(form.get("matchers")),
    }
}

pub(crate) async fn new_form(req: HttpRequest, svc: web::Data<Service>) -> HttpResponse {
    let ctx = page_ctx!(req, svc);
    if let Err(e) = svc.require_admin(&ctx.actor) {
        return ctx.error(&e);
    }
    let input = RuleInput {
        mode: "allow".into(),
        ..Default::default()
    };
    ctx.page(StatusCode::OK, &FormPage::new(&ctx, true, &input))
}

pub(crate) async fn edit_form(req: HttpRequest, svc: web::Data<Service>) -> HttpResponse {
    let ctx = page_ctx!(req, svc);
    let rule = match svc.rule(&ctx.actor, &name(&req)).await {
        Ok(r) => r,
        Err(e) => return ctx.error(&e),
    };
    let input = RuleInput {
        name: rule.name.clone(),
        description: rule.description.clone(),
        mode: rule.mode.clone(),
        matchers: rule.matchers.clone(),
    };
    let mut page = FormPage::new(&ctx, false, &input);
    page.read_only = rule.read_only;
    page.used_by = rule.used_by;
    let q = Form::query(&req);
    let mut status = StatusCode::OK;
    if let Some(path) = q.opt("path") {
        match svc.test_rule(&ctx.actor, &rule.name, &path).await {
            Ok(t) => page.test = Some(t),
            Err(e) => {
                status = status_of(&e);
                page.test_error = Some(e.message().to_owned());
            }
        }
        page.test_path = path;
    }
    ctx.page(status, &page)
}

/// Saves the draft, or previews a path against it (`action=preview`), from the create and
/// the edit form.
async fn save_or_preview(
    ctx: &Ctx,
    svc: &Service,
    form: &Form,
    existing: Option<String>,
) -> HttpResponse {
    let creating = existing.is_none();
    let input = draft(form, existing.clone());
    let mut page = FormPage::new(ctx, creating, &input);
    if let Some(name) = &existing
        && let Ok(rule) = svc.rule(&ctx.actor, name).await
    {
        page.used_by = rule.used_by;
    }
    if form.get("action") == "preview" {
        page.preview_path = form.get("path").trim().to_owned();
        return match svc.preview_rule(&ctx.actor, &input, &page.preview_path) {
            Ok(t) => {
                page.preview = Some(t);
                ctx.page(StatusCode::OK, &page)
            }
            Err(e @ ServiceError::Invalid { .. }) => {
                page.err = FormError::from(&e);
                ctx.page(StatusCode::BAD_REQUEST, &page)
            }
            Err(e) => ctx.error(&e),
        };
    }
    let result = match &existing {
        None => svc.create_rule(&ctx.actor, &input).await,
        Some(name) => svc.update_rule(&ctx.actor, name, &input).await,
    };
    match result {
        Ok(r) => ctx.done(
            &format!("/admin/rule/{}", enc(&r.name)),
            &format!(
                "{} routing rule {}.",
                if creating { "Created" } else { "Saved" },
                r.name
            ),
        ),
        Err(e) if shown_on_form(&e) => {
            page.err = FormError::from(&e);
            ctx.page(status_of(&e), &page)
        }
        Err(e) => ctx.error(&e),
    }
}

pub(crate) async fn create(
    req: HttpRequest,
    svc: web::Data<Service>,
    body: web::Bytes,
) -> HttpResponse {
    let form = Form::parse(&body);
    let ctx = post_ctx!(req, svc, form);
    save_or_preview(&ctx, &svc, &form, None).await
}

pub(crate) async fn update(
    req: HttpRequest,
    svc: web::Data<Service>,
    body: web::Bytes,
) -> HttpResponse {
    let form = Form::parse(&body);
    let ctx = post_ctx!(req, svc, form);
    save_or_preview(&ctx, &svc, &form, Some(name(&req))).await
}

pub(crate) async fn delete(
    req: HttpRequest,
    svc: web::Data<Service>,
    body: web::Bytes,
) -> HttpResponse {
    let form = Form::parse(&body);
    let ctx = post_ctx!(req, svc, form);
    let name = name(&req);
    match svc.delete_rule(&ctx.actor, &name).await {
        Ok(()) => ctx.done("/admin/rules", &format!("Deleted routing rule {name}.")),
        Err(e) => ctx.error(&e),
    }
}
