//! Repositories: the list, and create / edit / delete of hosted, proxy and group repositories
//! with every key of `RepoInput` (the `[[repository]]` keys of trove.toml).

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use std::collections::BTreeMap;

use trove_core::{ConnectorSpec, ProxyConfig, RepoKind};
use trove_service::{FormatView, RepoInput, RepoView, Service, ServiceError};

use super::{
    Choice, Chrome, Ctx, Form, FormError, enc, form::lines, name, session, shown_on_form, status_of,
};

#[derive(Template)]
#[template(path = "repositories.html")]
struct ListPage {
    chrome: Chrome,
    repos: Vec<RepoView>,
}

pub(crate) async fn list(req: HttpRequest, svc: web::Data<Service>) -> HttpResponse {
    let ctx = page_ctx!(req, svc);
    match svc.repositories(&ctx.actor).await {
        Ok(repos) => ctx.page(
            StatusCode::OK,
            &ListPage {
                chrome: ctx.chrome("Repositories", "repositories"),
                repos,
            },
        ),
        Err(e) => ctx.error(&e),
    }
}

/// The form's values as entered (strings, so a rejected number is shown back as typed).
#[derive(Debug, Clone, Default)]
pub(crate) struct RepoForm {
    pub name: String,
    pub kind: String,
    pub format: String,
    pub http: String,
    pub https: String,
    pub certificate: String,
    pub key: String,
    pub force_basic_auth: bool,
    pub routing_rule: String,
    pub write_policy: String,
    pub remote: String,
    /// The format's own options as typed, by `<format>.<key>` (a ticked checkbox is `on`).
    pub options: BTreeMap<String, String>,
    pub upstream_username: String,
    pub upstream_password_env: String,
    pub upstream_password_file: String,
    pub metadata_max_age: String,
    pub negative_cache_ttl: String,
    pub upstream_timeout: String,
    pub auto_block: bool,
    /// One member per line, in order.
    pub members: String,
    pub writable_member: String,
}

fn text<T: ToString>(v: &Option<T>) -> String {
    v.as_ref().map(T::to_string).unwrap_or_default()
}

fn number<T: std::str::FromStr>(field: &str, v: &str) -> Result<Option<T>, ServiceError> {
    let v = v.trim();
    if v.is_empty() {
        return Ok(None);
    }
    v.parse()
        .map(Some)
        .map_err(|_| ServiceError::invalid(field, format!("{v:?} is not a whole number")))
}

fn blank_none(v: &str) -> Option<String> {
    Some(v.trim()).filter(|v| !v.is_empty()).map(str::to_owned)
}

/// The option of `format` called `key`, as a form field name (`options.docker.hub_index`).
fn option_name(format: &str, key: &str) -> String {
    format!("options.{format}.{key}")
}

fn kind_of(kind: &str) -> Option<RepoKind> {
    match kind {
        "hosted" => Some(RepoKind::Hosted),
        "proxy" => Some(RepoKind::Proxy),
        "group" => Some(RepoKind::Group),
        _ => None,
    }
}

impl RepoForm {
    /// An empty form for a new repository of `kind` and `format`, with the defaults filled
    /// in.
    fn new(kind: &str, format: &str) -> RepoForm {
        let mut f = RepoForm {
            kind: kind.to_owned(),
            format: format.to_owned(),
            ..Default::default()
        };
        match kind {
            "proxy" => {
                f.metadata_max_age = ProxyConfig::default_metadata_max_age().to_string();
                f.negative_cache_ttl = ProxyConfig::default_negative_cache_ttl().to_string();
                f.upstream_timeout = ProxyConfig::default_upstream_timeout().to_string();
                f.auto_block = ProxyConfig::default_auto_block();
            }
            "hosted" => f.write_policy = "allow".into(),
            _ => {}
        }
        f
    }

    fn from_input(i: &RepoInput) -> RepoForm {
        let c = i.connector.clone().unwrap_or_default();
        RepoForm {
            name: i.name.clone(),
            kind: i.kind.clone(),
            format: i.format.clone(),
            http: text(&c.http),
            https: text(&c.https),
            certificate: text(&c.certificate),
            key: text(&c.key),
            force_basic_auth: i.force_basic_auth,
            routing_rule: text(&i.routing_rule),
            write_policy: text(&i.write_policy),
            remote: text(&i.remote),
            options: i
                .options
                .iter()
                .filter_map(|(k, v)| {
                    let typed = match v {
                        serde_json::Value::Bool(true) => "on".to_owned(),
                        serde_json::Value::Bool(false) | serde_json::Value::Null => return None,
                        serde_json::Value::String(s) => s.clone(),
                        other => other.to_string(),
                    };
                    Some((format!("{}.{k}", i.format), typed))
                })
                .collect(),
            upstream_username: text(&i.upstream_username),
            upstream_password_env: text(&i.upstream_password_env),
            upstream_password_file: text(&i.upstream_password_file),
            metadata_max_age: text(&i.metadata_max_age),
            negative_cache_ttl: text(&i.negative_cache_ttl),
            upstream_timeout: text(&i.upstream_timeout),
            auto_block: i.auto_block.unwrap_or(false),
            members: i.members.clone().unwrap_or_default().join("\n"),
            writable_member: text(&i.writable_member),
        }
    }

    fn from_form(f: &Form) -> RepoForm {
        RepoForm {
            name: f.get("name").trim().to_owned(),
            kind: f.get("kind").to_owned(),
            format: f.get("format").trim().to_owned(),
            http: f.get("connector.http").to_owned(),
            https: f.get("connector.https").to_owned(),
            certificate: f.get("connector.certificate").to_owned(),
            key: f.get("connector.key").to_owned(),
            force_basic_auth: f.checked("force_basic_auth"),
            routing_rule: f.get("routing_rule").to_owned(),
            write_policy: f.get("write_policy").to_owned(),
            remote: f.get("remote").to_owned(),
            options: f
                .pairs()
                .filter_map(|(k, v)| Some((k.strip_prefix("options.")?.to_owned(), v.to_owned())))
                .filter(|(_, v)| !v.trim().is_empty())
                .collect(),
            upstream_username: f.get("upstream_username").to_owned(),
            upstream_password_env: f.get("upstream_password_env").to_owned(),
            upstream_password_file: f.get("upstream_password_file").to_owned(),
            metadata_max_age: f.get("metadata_max_age").to_owned(),
            negative_cache_ttl: f.get("negative_cache_ttl").to_owned(),
            upstream_timeout: f.get("upstream_timeout").to_owned(),
            auto_block: f.checked("auto_block"),
            members: f.get("members").to_owned(),
            writable_member: f.get("writable_member").to_owned(),
        }
    }

    /// The service input: only the keys of this kind (the service refuses the others), and
    /// the options `format` declares for this kind. `kept`: options the form does not show
    /// (undeclared ones of an existing repository), which stay as they are.
    fn to_input(
        &self,
        format: Option<&FormatView>,
        kept: serde_json::Map<String, serde_json::Value>,
    ) -> Result<RepoInput, ServiceError> {
        let connector = ConnectorSpec {
            http: number("connector.http", &self.http)?,
            https: number("connector.https", &self.https)?,
            certificate: blank_none(&self.certificate),
            key: blank_none(&self.key),
        };
        let any_connector = connector.http.is_some()
            || connector.https.is_some()
            || connector.certificate.is_some()
            || connector.key.is_some();
        let mut input = RepoInput {
            name: self.name.trim().to_owned(),
            format: self.format.clone(),
            kind: self.kind.clone(),
            force_basic_auth: self.force_basic_auth,
            routing_rule: blank_none(&self.routing_rule),
            connector: any_connector.then_some(connector),
            options: kept,
            ..Default::default()
        };
        let kind = kind_of(&self.kind);
        for o in format
            .iter()
            .flat_map(|f| &f.options)
            .filter(|o| kind.is_some_and(|k| o.kinds.contains(&k)))
        {
            input.options.remove(o.key);
            let typed = self
                .options
                .get(&format!("{}.{}", self.format, o.key))
                .map(|v| v.trim())
                .filter(|v| !v.is_empty());
            match typed {
                Some(_) if o.is_checkbox() => {
                    input
                        .options
                        .insert(o.key.to_owned(), serde_json::Value::Bool(true));
                }
                Some(v) => {
                    input
                        .options
                        .insert(o.key.to_owned(), serde_json::Value::String(v.to_owned()));
                }
                None => {}
            }
        }
        match self.kind.as_str() {
            "hosted" => input.write_policy = blank_none(&self.write_policy),
            "proxy" => {
                input.remote = blank_none(&self.remote);
                input.upstream_username = blank_none(&self.upstream_username);
                input.upstream_password_env = blank_none(&self.upstream_password_env);
                input.upstream_password_file = blank_none(&self.upstream_password_file);
                input.metadata_max_age = number("metadata_max_age", &self.metadata_max_age)?;
                input.negative_cache_ttl = number("negative_cache_ttl", &self.negative_cache_ttl)?;
                input.upstream_timeout = number("upstream_timeout", &self.upstream_timeout)?;
                input.auto_block = Some(self.auto_block);
            }
            "group" => {
                input.members = Some(lines(&self.members));
                input.writable_member = blank_none(&self.writable_member);
            }
            _ => {}
        }
        Ok(input)
    }
}

#[derive(Template)]
#[template(path = "repository_form.html")]
struct FormPage {
    chrome: Chrome,
    creating: bool,
    f: RepoForm,
    err: FormError,
    rules: Vec<Choice>,
    /// Hosted repositories: the writable member's choices.
    hosted: Vec<Choice>,
    /// Every other repository, listed as a hint for members.
    others: Vec<String>,
    read_only: Option<&'static str>,
    /// The formats offered (creating: every format of the registry; editing: the
    /// repository's), with the option fields each declares for this kind.
    formats: Vec<FormatChoice>,
}

/// A format on the form.
struct FormatChoice {
    id: String,
    label: &'static str,
    /// The kinds it supports, for people: `hosted, proxy, group`.
    kinds: String,
    chosen: bool,
    /// Whether it can be this form's kind.
    usable: bool,
    fields: Vec<OptionInputView>,
}

/// One option field of a format.
struct OptionInputView {
    id: String,
    name: String,
    label: &'static str,
    help: &'static str,
    checkbox: bool,
    value: String,
}

impl FormatChoice {
    fn list(formats: &[FormatView], f: &RepoForm, creating: bool) -> Vec<FormatChoice> {
        let kind = kind_of(&f.kind);
        formats
            .iter()
            .filter(|x| creating || x.id == f.format)
            .map(|x| FormatChoice {
                id: x.id.clone(),
                label: x.label,
                kinds: x
                    .kinds
                    .iter()
                    .map(|k| k.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
                chosen: x.id == f.format,
                usable: kind.is_some_and(|k| x.kinds.contains(&k)),
                fields: x
                    .options
                    .iter()
                    .filter(|o| kind.is_some_and(|k| o.kinds.contains(&k)))
                    .map(|o| OptionInputView {
                        id: format!("opt-{}-{}", x.id, o.key),
                        name: option_name(&x.id, o.key),
                        label: o.label,
                        help: o.help,
                        checkbox: o.is_checkbox(),
                        value: f
                            .options
                            .get(&format!("{}.{}", x.id, o.key))
                            .cloned()
                            .unwrap_or_default(),
                    })
                    .collect(),
            })
            .collect()
    }
}

/// The form page with the choices it offers (routing rules, repositories).
async fn form_page(
    ctx: &Ctx,
    svc: &Service,
    creating: bool,
    f: RepoForm,
    err: FormError,
    read_only: Option<&'static str>,
    status: StatusCode,
) -> HttpResponse {
    let rules = match svc.rules(&ctx.actor).await {
        Ok(r) => r,
        Err(e) => return ctx.error(&e),
    };
    let repos = match svc.repositories(&ctx.actor).await {
        Ok(r) => r,
        Err(e) => return ctx.error(&e),
    };
    let chosen = |v: &str| vec![v.to_owned()];
    let others: Vec<&RepoView> = repos.iter().filter(|r| r.name != f.name).collect();
    let page = FormPage {
        chrome: ctx.chrome(
            if creating {
                format!("New {} repository", f.kind)
            } else {
                format!("Edit {}", f.name)
            },
            "repositories",
        ),
        creating,
        rules: Choice::list(
            rules.iter().map(|r| r.name.as_str()),
            &chosen(&f.routing_rule),
        ),
        hosted: Choice::list(
            others
                .iter()
                .filter(|r| r.kind == trove_core::RepoKind::Hosted)
                .map(|r| r.name.as_str()),
            &chosen(&f.writable_member),
        ),
        others: others.iter().map(|r| r.name.clone()).collect(),
        formats: FormatChoice::list(&svc.formats(&ctx.actor), &f, creating),
        f,
        err,
        read_only,
    };
    ctx.page(status, &page)
}

pub(crate) async fn new_form(req: HttpRequest, svc: web::Data<Service>) -> HttpResponse {
    let ctx = page_ctx!(req, svc);
    if let Err(e) = svc.require_admin(&ctx.actor) {
        return ctx.error(&e);
    }
    let q = Form::query(&req);
    let kind = match q.get("kind") {
        k @ ("hosted" | "proxy" | "group") => k.to_owned(),
        _ => "hosted".to_owned(),
    };
    // The format asked for, else the first that can be this kind.
    let formats = svc.formats(&ctx.actor);
    let format = formats
        .iter()
        .find(|f| f.id == q.get("format"))
        .or_else(|| {
            formats
                .iter()
                .find(|f| kind_of(&kind).is_some_and(|k| f.kinds.contains(&k)))
        })
        .map(|f| f.id.clone())
        .unwrap_or_default();
    form_page(
        &ctx,
        &svc,
        true,
        RepoForm::new(&kind, &format),
        FormError::none(),
        None,
        StatusCode::OK,
    )
    .await
}

pub(crate) async fn create(
    req: HttpRequest,
    svc: web::Data<Service>,
    body: web::Bytes,
) -> HttpResponse {
    let form = Form::parse(&body);
    let ctx = post_ctx!(req, svc, form);
    save(&ctx, &svc, &form, None).await
}

pub(crate) async fn edit_form(req: HttpRequest, svc: web::Data<Service>) -> HttpResponse {
    let ctx = page_ctx!(req, svc);
    if let Err(e) = svc.require_admin(&ctx.actor) {
        return ctx.error(&e);
    }
    let repo = match svc.repository(&ctx.actor, &name(&req)).await {
        Ok(r) => r,
        Err(e) => return ctx.error(&e),
    };
    let f = RepoForm::from_input(&RepoInput::from_view(&repo));
    form_page(
        &ctx,
        &svc,
        false,
        f,
        FormError::none(),
        repo.read_only,
        StatusCode::OK,
    )
    .await
}

pub(crate) async fn update(
    req: HttpRequest,
    svc: web::Data<Service>,
    body: web::Bytes,
) -> HttpResponse {
    let form = Form::parse(&body);
    let ctx = post_ctx!(req, svc, form);
    save(&ctx, &svc, &form, Some(name(&req))).await
}

/// Creates (`existing` is `None`) or saves the repository of a posted form; a rejected form
/// comes back with the values as typed and the error on its field.
async fn save(ctx: &Ctx, svc: &Service, form: &Form, existing: Option<String>) -> HttpResponse {
    let mut f = RepoForm::from_form(form);
    if let Some(name) = &existing {
        // The name and kind are fixed on the edit form.
        f.name.clone_from(name);
    }
    // Options the form does not show stay as they are on an edit.
    let kept = match &existing {
        Some(name) => match svc.repository(&ctx.actor, name).await {
            Ok(r) if r.format == f.format => r.options,
            Ok(_) => Default::default(),
            Err(e) => return ctx.error(&e),
        },
        None => Default::default(),
    };
    let format = svc.format(&ctx.actor, &f.format).ok();
    let result = match (f.to_input(format.as_ref(), kept), &existing) {
        (Err(e), _) => Err(e),
        (Ok(input), None) => svc.create_repository(&ctx.actor, &input).await,
        (Ok(input), Some(name)) => svc.update_repository(&ctx.actor, name, &input).await,
    };
    let creating = existing.is_none();
    match result {
        Ok(r) => ctx.done(
            &format!("/admin/repository/{}", enc(&r.name)),
            &format!(
                "{} repository {}.",
                if creating { "Created" } else { "Saved" },
                r.name
            ),
        ),
        Err(e) if shown_on_form(&e) => {
            form_page(
                ctx,
                svc,
                creating,
                f,
                FormError::from(&e),
                None,
                status_of(&e),
            )
            .await
        }
        Err(e) => ctx.error(&e),
    }
}

pub(crate) async fn delete(
    req: HttpRequest,
    svc: web::Data<Service>,
    body: web::Bytes,
) -> HttpResponse {
    let form = Form::parse(&body);
    let ctx = post_ctx!(req, svc, form);
    let name = name(&req);
    if !form.checked("confirm") {
        return ctx.error(&ServiceError::invalid(
            "confirm",
            "tick the box to confirm that the repository and its content are deleted",
        ));
    }
    match svc.delete_repository(&ctx.actor, &name).await {
        Ok(()) => ctx.done(
            "/admin/repositories",
            &format!("Deleted repository {name} and its content."),
        ),
        Err(e) => ctx.error(&e),
    }
}
