//! Users, roles, privileges, anonymous access and realms, and the access explanation.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use trove_auth::ANONYMOUS_USER;

use super::{Choice, Chrome, Ctx, Form, FormError, enc, name, session, shown_on_form, status_of};
use trove_service::{
    AnonymousView, ExplainView, PrivilegeInput, PrivilegeView, RealmsView, RoleInput, RoleView,
    Service, UserInput, UserUpdate, UserView,
};

// ---- users -------------------------------------------------------------------------------

#[derive(Template)]
#[template(path = "users.html")]
struct UsersPage {
    chrome: Chrome,
    users: Vec<UserView>,
}

pub(crate) async fn users(req: HttpRequest, svc: web::Data<Service>) -> HttpResponse {
    let ctx = page_ctx!(req, svc);
    let users = try_page!(ctx, svc.users(&ctx.actor).await);
    ctx.page(
        StatusCode::OK,
        &UsersPage {
            chrome: ctx.chrome("Users", "users"),
            users,
        },
    )
}

#[derive(Template)]
#[template(path = "user_form.html")]
struct UserFormPage {
    chrome: Chrome,
    creating: bool,
    name: String,
    status: String,
    roles: Vec<Choice>,
    err: FormError,
    /// The user as stored (editing).
    user: Option<UserView>,
    anonymous: bool,
    is_self: bool,
    /// Not declared in trove.toml.
    editable: bool,
}

#[allow(clippy::too_many_arguments)]
async fn user_form(
    ctx: &Ctx,
    svc: &Service,
    creating: bool,
    name: String,
    status: String,
    chosen: &[String],
    user: Option<UserView>,
    err: FormError,
    code: StatusCode,
) -> HttpResponse {
    let roles = try_page!(ctx, svc.roles(&ctx.actor).await);
    let title = if creating {
        "New user".to_owned()
    } else {
        format!("User {name}")
    };
    let page = UserFormPage {
        chrome: ctx.chrome(title, "users"),
        creating,
        anonymous: name == ANONYMOUS_USER,
        is_self: name == ctx.user,
        editable: user.as_ref().is_none_or(|u| u.read_only.is_none()),
        name,
        status,
        roles: Choice::list(roles.iter().map(|r| r.name.as_str()), chosen),
        err,
        user,
    };
    ctx.page(code, &page)
}

pub(crate) async fn new_user_form(req: HttpRequest, svc: web::Data<Service>) -> HttpResponse {
    let ctx = page_ctx!(req, svc);
    user_form(
        &ctx,
        &svc,
        true,
        String::new(),
        "active".into(),
        &[],
        None,
        FormError::none(),
        StatusCode::OK,
    )
    .await
}

pub(crate) async fn create_user(
    req: HttpRequest,
    svc: web::Data<Service>,
    body: web::Bytes,
) -> HttpResponse {
    let form = Form::parse(&body);
    let ctx = post_ctx!(req, svc, form);
    let input = UserInput {
        name: form.get("name").trim().to_owned(),
        password: form.get("password").to_owned(),
        roles: form.all("roles"),
    };
    match svc.create_user(&ctx.actor, &input).await {
        Ok(u) => ctx.done(
            &format!("/admin/user/{}", enc(&u.name)),
            &format!("Created user {}.", u.name),
        ),
        Err(e) if shown_on_form(&e) => {
            user_form(
                &ctx,
                &svc,
                true,
                input.name,
                "active".into(),
                &input.roles,
                None,
                FormError::from(&e),
                status_of(&e),
            )
            .await
        }
        Err(e) => ctx.error(&e),
    }
}

pub(crate) async fn edit_user_form(req: HttpRequest, svc: web::Data<Service>) -> HttpResponse {
    let ctx = page_ctx!(req, svc);
    let u = try_page!(ctx, svc.user(&ctx.actor, &name(&req)).await);
    user_form(
        &ctx,
        &svc,
        false,
        u.name.clone(),
        u.status.clone(),
        &u.roles.clone(),
        Some(u),
        FormError::none(),
        StatusCode::OK,
    )
    .await
}

pub(crate) async fn update_user(
    req: HttpRequest,
    svc: web::Data<Service>,
    body: web::Bytes,
) -> HttpResponse {
    let form = Form::parse(&body);
    let ctx = post_ctx!(req, svc, form);
    let name = name(&req);
    let anonymous = name == ANONYMOUS_USER;
    let update = UserUpdate {
        password: (!anonymous)
            .then(|| form.get("password").to_owned())
            .filter(|p| !p.is_empty()),
        roles: Some(form.all("roles")),
        status: (!anonymous).then(|| form.get("status").to_owned()),
    };
    match svc.update_user(&ctx.actor, &name, &update).await {
        Ok(u) => ctx.done(
            &format!("/admin/user/{}", enc(&u.name)),
            &format!("Saved user {}.", u.name),
        ),
        Err(e) if shown_on_form(&e) => {
            let user = svc.user(&ctx.actor, &name).await.ok();
            user_form(
                &ctx,
                &svc,
                false,
                name,
                update.status.unwrap_or_default(),
                &update.roles.unwrap_or_default(),
                user,
                FormError::from(&e),
                status_of(&e),
            )
            .await
        }
        Err(e) => ctx.error(&e),
    }
}

pub(crate) async fn delete_user(
    req: HttpRequest,
    svc: web::Data<Service>,
    body: web::Bytes,
) -> HttpResponse {
    let form = Form::parse(&body);
    let ctx = post_ctx!(req, svc, form);
    let name = name(&req);
    try_page!(ctx, svc.delete_user(&ctx.actor, &name).await);
    ctx.done("/admin/users", &format!("Deleted user {name}."))
}

// ---- roles -------------------------------------------------------------------------------

#[derive(Template)]
#[template(path = "roles.html")]
struct RolesPage {
    chrome: Chrome,
    roles: Vec<RoleView>,
}

pub(crate) async fn roles(req: HttpRequest, svc: web::Data<Service>) -> HttpResponse {
    let ctx = page_ctx!(req, svc);
    let roles = try_page!(ctx, svc.roles(&ctx.actor).await);
    ctx.page(
        StatusCode::OK,
        &RolesPage {
            chrome: ctx.chrome("Roles", "roles"),
            roles,
        },
    )
}

#[derive(Template)]
#[template(path = "role_form.html")]
struct RoleFormPage {
    chrome: Chrome,
    creating: bool,
    name: String,
    description: String,
    privileges: Vec<Choice>,
    roles: Vec<Choice>,
    /// One per line.
    external_groups: String,
    err: FormError,
    read_only: Option<&'static str>,
}

async fn role_form(
    ctx: &Ctx,
    svc: &Service,
    creating: bool,
    input: RoleInput,
    read_only: Option<&'static str>,
    err: FormError,
    code: StatusCode,
) -> HttpResponse {
    let privileges = try_page!(ctx, svc.privileges(&ctx.actor).await);
    let roles = try_page!(ctx, svc.roles(&ctx.actor).await);
    let title = if creating {
        "New role".to_owned()
    } else {
        format!("Role {}", input.name)
    };
    let page = RoleFormPage {
        chrome: ctx.chrome(title, "roles"),
        creating,
        privileges: Choice::list(
            privileges.iter().map(|p| p.name.as_str()),
            &input.privileges,
        ),
        roles: Choice::list(
            roles
                .iter()
                .map(|r| r.name.as_str())
                .filter(|r| *r != input.name),
            &input.roles,
        ),
        external_groups: input.external_groups.join("\n"),
        name: input.name,
        description: input.description,
        err,
        read_only,
    };
    ctx.page(code, &page)
}

fn role_input(form: &Form, name: Option<String>) -> RoleInput {
    RoleInput {
        name: name.unwrap_or_else(|| form.get("name").trim().to_owned()),
        description: form.get("description").trim().to_owned(),
        privileges: form.all("privileges"),
        roles: form.all("roles"),
        external_groups: form
            .get("external_groups")
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .map(str::to_owned)
            .collect(),
    }
}

pub(crate) async fn new_role_form(req: HttpRequest, svc: web::Data<Service>) -> HttpResponse {
    let ctx = page_ctx!(req, svc);
    role_form(
        &ctx,
        &svc,
        true,
        RoleInput::default(),
        None,
        FormError::none(),
        StatusCode::OK,
    )
    .await
}

pub(crate) async fn create_role(
    req: HttpRequest,
    svc: web::Data<Service>,
    body: web::Bytes,
) -> HttpResponse {
    let form = Form::parse(&body);
    let ctx = post_ctx!(req, svc, form);
    save_role(&ctx, &svc, &form, None).await
}

pub(crate) async fn edit_role_form(req: HttpRequest, svc: web::Data<Service>) -> HttpResponse {
    let ctx = page_ctx!(req, svc);
    let r = try_page!(ctx, svc.role(&ctx.actor, &name(&req)).await);
    let read_only = r.read_only;
    let input = RoleInput {
        name: r.name,
        description: r.description,
        privileges: r.privileges,
        roles: r.roles,
        external_groups: r.external_groups,
    };
    role_form(
        &ctx,
        &svc,
        false,
        input,
        read_only,
        FormError::none(),
        StatusCode::OK,
    )
    .await
}

pub(crate) async fn update_role(
    req: HttpRequest,
    svc: web::Data<Service>,
    body: web::Bytes,
) -> HttpResponse {
    let form = Form::parse(&body);
    let ctx = post_ctx!(req, svc, form);
    save_role(&ctx, &svc, &form, Some(name(&req))).await
}

/// Creates (`existing` is `None`) or saves the role of a posted form.
async fn save_role(
    ctx: &Ctx,
    svc: &Service,
    form: &Form,
    existing: Option<String>,
) -> HttpResponse {
    let input = role_input(form, existing.clone());
    let result = match &existing {
        None => svc.create_role(&ctx.actor, &input).await,
        Some(name) => svc.update_role(&ctx.actor, name, &input).await,
    };
    let creating = existing.is_none();
    match result {
        Ok(r) => ctx.done(
            &format!("/admin/role/{}", enc(&r.name)),
            &format!(
                "{} role {}.",
                if creating { "Created" } else { "Saved" },
                r.name
            ),
        ),
        Err(e) if shown_on_form(&e) => {
            role_form(
                ctx,
                svc,
                creating,
                input,
                None,
                FormError::from(&e),
                status_of(&e),
            )
            .await
        }
        Err(e) => ctx.error(&e),
    }
}

pub(crate) async fn delete_role(
    req: HttpRequest,
    svc: web::Data<Service>,
    body: web::Bytes,
) -> HttpResponse {
    let form = Form::parse(&body);
    let ctx = post_ctx!(req, svc, form);
    let name = name(&req);
    try_page!(ctx, svc.delete_role(&ctx.actor, &name).await);
    ctx.done("/admin/roles", &format!("Deleted role {name}."))
}

// ---- privileges --------------------------------------------------------------------------

pub(crate) const ACTIONS: [&str; 6] = ["browse", "read", "add", "edit", "delete", "*"];

#[derive(Template)]
#[template(path = "privileges.html")]
struct PrivilegesPage {
    chrome: Chrome,
    privileges: Vec<PrivilegeView>,
    /// The create form: its values and choices.
    format: String,
    repositories: Vec<Choice>,
    actions: Vec<Choice>,
    description: String,
    err: FormError,
}

async fn privileges_page(
    ctx: &Ctx,
    svc: &Service,
    input: PrivilegeInput,
    err: FormError,
    code: StatusCode,
) -> HttpResponse {
    let privileges = try_page!(ctx, svc.privileges(&ctx.actor).await);
    let repos = try_page!(ctx, svc.repositories(&ctx.actor).await);
    let chosen_repo = vec![input.repository.clone()];
    let page = PrivilegesPage {
        chrome: ctx.chrome("Privileges", "privileges"),
        privileges,
        format: input.format,
        repositories: Choice::list(
            std::iter::once("*").chain(repos.iter().map(|r| r.name.as_str())),
            &chosen_repo,
        ),
        actions: Choice::list(ACTIONS, &input.actions),
        description: input.description,
        err,
    };
    ctx.page(code, &page)
}

pub(crate) async fn privileges(req: HttpRequest, svc: web::Data<Service>) -> HttpResponse {
    let ctx = page_ctx!(req, svc);
    let input = PrivilegeInput {
        format: "docker".into(),
        repository: "*".into(),
        actions: vec!["browse".into(), "read".into()],
        description: String::new(),
    };
    privileges_page(&ctx, &svc, input, FormError::none(), StatusCode::OK).await
}

pub(crate) async fn create_privilege(
    req: HttpRequest,
    svc: web::Data<Service>,
    body: web::Bytes,
) -> HttpResponse {
    let form = Form::parse(&body);
    let ctx = post_ctx!(req, svc, form);
    let input = PrivilegeInput {
        format: form.opt("format").unwrap_or_else(|| "*".into()),
        repository: form.opt("repository").unwrap_or_else(|| "*".into()),
        actions: form.all("actions"),
        description: form.get("description").trim().to_owned(),
    };
    match svc.create_privilege(&ctx.actor, &input).await {
        Ok(p) => ctx.done(
            "/admin/privileges",
            &format!("Created privilege {}.", p.name),
        ),
        Err(e) if shown_on_form(&e) => {
            privileges_page(&ctx, &svc, input, FormError::from(&e), status_of(&e)).await
        }
        Err(e) => ctx.error(&e),
    }
}

pub(crate) async fn delete_privilege(
    req: HttpRequest,
    svc: web::Data<Service>,
    body: web::Bytes,
) -> HttpResponse {
    let form = Form::parse(&body);
    let ctx = post_ctx!(req, svc, form);
    let name = form.get("name");
    try_page!(ctx, svc.delete_privilege(&ctx.actor, name).await);
    ctx.done("/admin/privileges", &format!("Deleted privilege {name}."))
}

// ---- anonymous access and realms ---------------------------------------------------------

#[derive(Template)]
#[template(path = "access.html")]
struct AccessPage {
    chrome: Chrome,
    anonymous: AnonymousView,
    realms: RealmsView,
    realm_choices: Vec<Choice>,
    err: FormError,
}

async fn access_page(ctx: &Ctx, svc: &Service, err: FormError, code: StatusCode) -> HttpResponse {
    let anonymous = try_page!(ctx, svc.anonymous(&ctx.actor).await);
    let realms = try_page!(ctx, svc.realms(&ctx.actor).await);
    let page = AccessPage {
        chrome: ctx.chrome("Anonymous access and realms", "access"),
        realm_choices: Choice::list(realms.available.iter().copied(), &realms.active),
        anonymous,
        realms,
        err,
    };
    ctx.page(code, &page)
}

pub(crate) async fn access(req: HttpRequest, svc: web::Data<Service>) -> HttpResponse {
    let ctx = page_ctx!(req, svc);
    access_page(&ctx, &svc, FormError::none(), StatusCode::OK).await
}

pub(crate) async fn set_anonymous(
    req: HttpRequest,
    svc: web::Data<Service>,
    body: web::Bytes,
) -> HttpResponse {
    let form = Form::parse(&body);
    let ctx = post_ctx!(req, svc, form);
    let enabled = form.get("enabled") == "true";
    try_page!(ctx, svc.set_anonymous(&ctx.actor, enabled).await);
    ctx.done(
        "/admin/access",
        if enabled {
            "Anonymous access is on: requests without credentials get the anonymous user's roles."
        } else {
            "Anonymous access is off."
        },
    )
}

pub(crate) async fn set_realms(
    req: HttpRequest,
    svc: web::Data<Service>,
    body: web::Bytes,
) -> HttpResponse {
    let form = Form::parse(&body);
    let ctx = post_ctx!(req, svc, form);
    // Password realms in the order chosen: basic first unless "Try LDAP first" is ticked.
    let mut realms = form.all("realm");
    realms.sort_by_key(|r| match r.as_str() {
        "ldap" if form.checked("ldap_first") => 0,
        "basic" => 1,
        "ldap" => 2,
        _ => 3,
    });
    match svc.set_realms(&ctx.actor, &realms).await {
        Ok(r) => ctx.done(
            "/admin/access",
            &format!("Active realms: {}.", r.active.join(", ")),
        ),
        Err(e) if shown_on_form(&e) => {
            access_page(&ctx, &svc, FormError::from(&e), status_of(&e)).await
        }
        Err(e) => ctx.error(&e),
    }
}

// ---- access explanation ------------------------------------------------------------------

#[derive(Template)]
#[template(path = "explain.html")]
struct ExplainPage {
    chrome: Chrome,
    users: Vec<Choice>,
    repositories: Vec<Choice>,
    actions: Vec<Choice>,
    result: Option<ExplainView>,
    err: FormError,
}

pub(crate) async fn explain(req: HttpRequest, svc: web::Data<Service>) -> HttpResponse {
    let ctx = page_ctx!(req, svc);
    let q = Form::query(&req);
    let users = try_page!(ctx, svc.users(&ctx.actor).await);
    let repos = try_page!(ctx, svc.repositories(&ctx.actor).await);
    let (user, repo, action) = (q.get("user"), q.get("repository"), q.get("action"));
    let (mut result, mut err, mut code) = (None, FormError::none(), StatusCode::OK);
    if !user.is_empty() && !repo.is_empty() && !action.is_empty() {
        match svc.explain(&ctx.actor, user, repo, action).await {
            Ok(r) => result = Some(r),
            Err(e) if shown_on_form(&e) => {
                code = status_of(&e);
                err = FormError::from(&e);
            }
            Err(e) => return ctx.error(&e),
        }
    }
    let one = |v: &str| vec![v.to_owned()];
    let page = ExplainPage {
        chrome: ctx.chrome("Explain access", "explain"),
        users: Choice::list(users.iter().map(|u| u.name.as_str()), &one(user)),
        repositories: Choice::list(repos.iter().map(|r| r.name.as_str()), &one(repo)),
        actions: Choice::list(
            ACTIONS[..5].iter().copied(),
            &one(if action.is_empty() { "read" } else { action }),
        ),
        result,
        err,
    };
    ctx.page(code, &page)
}
