//! API tokens (everyone: their own; administrators: anyone's, with `?user=`) and the audit log
//! (administrators): `/admin/tokens` and `/admin/audit`.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;

use super::session;
use super::{Choice, Chrome, Ctx, Form, FormError, shown_on_form, status_of};
use trove_service::audit::AuditEntry;
use trove_service::{AuditFilter, Service, ServiceError, TokenInput, TokenView};

const ACTIONS: [&str; 5] = ["browse", "read", "add", "edit", "delete"];

// ---- dates ------------------------------------------------------------------------------------

/// `YYYY-MM-DD` (what `<input type="date">` sends) as unix millis at 00:00 UTC.
pub(crate) fn date_millis(s: &str) -> Option<i64> {
    let mut parts = s.trim().splitn(3, '-');
    let y: i64 = parts.next()?.parse().ok()?;
    let m: i64 = parts.next()?.parse().ok()?;
    let d: i64 = parts.next()?.parse().ok()?;
    if !(1..=12).contains(&m) || !(1..=31).contains(&d) || !(1970..=9999).contains(&y) {
        return None;
    }
    // Days from civil (H. Hinnant).
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    Some((era * 146_097 + doe - 719_468) * 86_400_000)
}

/// A date field: blank is `None`, a bad one an error naming the field.
fn date_field(form: &Form, key: &str, field: &str) -> Result<Option<i64>, ServiceError> {
    match form.opt(key) {
        None => Ok(None),
        Some(v) => date_millis(&v).map(Some).ok_or_else(|| {
            ServiceError::invalid(field, format!("{v:?} is not a date (YYYY-MM-DD)"))
        }),
    }
}

// ---- tokens -----------------------------------------------------------------------------------

#[derive(Template)]
#[template(path = "tokens.html")]
struct TokensPage {
    chrome: Chrome,
    /// Whose tokens are shown.
    owner: String,
    /// The caller may manage other users' tokens.
    admin: bool,
    tokens: Vec<TokenView>,
    /// The token just made, shown this once.
    created: Option<String>,
    created_name: String,
    /// The create form.
    name: String,
    expires: String,
    repositories: Vec<Choice>,
    actions: Vec<Choice>,
    err: FormError,
}

/// `?user=` (or the form's `user`) when an administrator looks at someone else's tokens.
fn owner_of(ctx: &Ctx, form: &Form) -> Option<String> {
    form.opt("user").filter(|u| u != &ctx.user)
}

#[allow(clippy::too_many_arguments)]
async fn tokens_page(
    ctx: &Ctx,
    svc: &Service,
    owner: Option<String>,
    created: Option<(String, String)>,
    input: &TokenInput,
    expires: String,
    err: FormError,
    code: StatusCode,
) -> HttpResponse {
    let tokens = try_page!(ctx, svc.tokens(&ctx.actor, owner.as_deref()).await);
    let repos = try_page!(ctx, svc.repositories(&ctx.actor).await);
    let chosen = input.repositories.clone().unwrap_or_default();
    let actions = input.actions.clone().unwrap_or_default();
    let owner = owner.unwrap_or_else(|| ctx.user.clone());
    let (created, created_name) = match created {
        Some((token, name)) => (Some(token), name),
        None => (None, String::new()),
    };
    let page = TokensPage {
        chrome: ctx.chrome("API tokens", "tokens"),
        admin: ctx.admin,
        tokens,
        created,
        created_name,
        name: input.name.clone(),
        expires,
        repositories: Choice::list(repos.iter().map(|r| r.name.as_str()), &chosen),
        actions: Choice::list(ACTIONS, &actions),
        err,
        owner,
    };
    ctx.page(code, &page)
}

pub(crate) async fn tokens(req: HttpRequest, svc: web::Data<Service>) -> HttpResponse {
    let ctx = page_ctx!(req, svc);
    let q = Form::query(&req);
    tokens_page(
        &ctx,
        &svc,
        owner_of(&ctx, &q),
        None,
        &TokenInput::default(),
        String::new(),
        FormError::none(),
        StatusCode::OK,
    )
    .await
}

/// Makes a token and shows it on the page it answers with (never in a redirect or a cookie:
/// it is shown this once, and nothing else ever holds it).
pub(crate) async fn create_token(
    req: HttpRequest,
    svc: web::Data<Service>,
    body: web::Bytes,
) -> HttpResponse {
    let form = Form::parse(&body);
    let ctx = post_ctx!(req, svc, form);
    let owner = owner_of(&ctx, &form);
    let repositories = form.all("repositories");
    let actions = form.all("actions");
    let mut input = TokenInput {
        name: form.get("name").trim().to_owned(),
        expires_at: None,
        repositories: (!repositories.is_empty()).then_some(repositories),
        actions: (!actions.is_empty()).then_some(actions),
        user: owner.clone(),
    };
    let expires = form.get("expires").trim().to_owned();
    let result = match date_field(&form, "expires", "expires_at") {
        Ok(at) => {
            input.expires_at = at;
            svc.create_token(&ctx.actor, &input).await
        }
        Err(e) => Err(e),
    };
    match result {
        Ok(t) => {
            tokens_page(
                &ctx,
                &svc,
                owner,
                Some((t.token, t.view.name)),
                &TokenInput::default(),
                String::new(),
                FormError::none(),
                StatusCode::CREATED,
            )
            .await
        }
        Err(e) if shown_on_form(&e) => {
            tokens_page(
                &ctx,
                &svc,
                owner,
                None,
                &input,
                expires,
                FormError::from(&e),
                status_of(&e),
            )
            .await
        }
        Err(e) => ctx.error(&e),
    }
}

pub(crate) async fn revoke_token(
    req: HttpRequest,
    svc: web::Data<Service>,
    body: web::Bytes,
) -> HttpResponse {
    let form = Form::parse(&body);
    let ctx = post_ctx!(req, svc, form);
    let owner = owner_of(&ctx, &form);
    let name = form.get("name");
    try_page!(
        ctx,
        svc.revoke_token(&ctx.actor, name, owner.as_deref()).await
    );
    let back = match &owner {
        Some(u) => format!("/admin/tokens?user={}", super::enc(u)),
        None => "/admin/tokens".into(),
    };
    ctx.done(&back, &format!("Revoked token {name}."))
}

// ---- the audit log ----------------------------------------------------------------------------

#[derive(Template)]
#[template(path = "audit.html")]
struct AuditPage {
    chrome: Chrome,
    entries: Vec<AuditEntry>,
    user: String,
    entity: String,
    since: String,
    until: String,
    /// The query string of these filters (for the export link and the next page).
    query: String,
    /// The cursor of the next (older) page, when this one is full.
    older: Option<i64>,
    err: FormError,
}

const PAGE: u32 = 100;

/// The filters of the audit page's query string.
fn audit_filter(q: &Form) -> Result<AuditFilter, ServiceError> {
    Ok(AuditFilter {
        user: q.opt("user"),
        entity: q.opt("entity"),
        since: date_field(q, "since", "since")?,
        // Until the end of that day.
        until: date_field(q, "until", "until")?.map(|d| d + 86_400_000),
        after: q.opt("after").and_then(|a| a.parse().ok()),
        limit: Some(PAGE),
    })
}

fn filter_query(q: &Form) -> String {
    let mut out = url::form_urlencoded::Serializer::new(String::new());
    for key in ["user", "entity", "since", "until"] {
        if let Some(v) = q.opt(key) {
            out.append_pair(key, &v);
        }
    }
    out.finish()
}

pub(crate) async fn audit(req: HttpRequest, svc: web::Data<Service>) -> HttpResponse {
    let ctx = page_ctx!(req, svc);
    let q = Form::query(&req);
    let (entries, err) = match audit_filter(&q) {
        Ok(f) => match svc.audit_newest_first(&ctx.actor, &f).await {
            Ok(e) => (e, FormError::none()),
            Err(e) if shown_on_form(&e) => (Vec::new(), FormError::from(&e)),
            Err(e) => return ctx.error(&e),
        },
        Err(e) => {
            if let Err(e) = svc.require_admin(&ctx.actor) {
                return ctx.error(&e);
            }
            (Vec::new(), FormError::from(&e))
        }
    };
    let older = (entries.len() == PAGE as usize)
        .then(|| entries.last().map(|e| e.seq))
        .flatten();
    let page = AuditPage {
        chrome: ctx.chrome("Audit log", "audit"),
        entries,
        user: q.get("user").to_owned(),
        entity: q.get("entity").to_owned(),
        since: q.get("since").to_owned(),
        until: q.get("until").to_owned(),
        query: filter_query(&q),
        older,
        err,
    };
    ctx.page(StatusCode::OK, &page)
}

/// The filtered log as JSON lines, for download.
pub(crate) async fn export(req: HttpRequest, svc: web::Data<Service>) -> HttpResponse {
    let ctx = page_ctx!(req, svc);
    let q = Form::query(&req);
    let mut filter = match audit_filter(&q) {
        Ok(f) => f,
        Err(e) => return ctx.error(&e),
    };
    filter.limit = None;
    filter.after = None;
    let mut pages = try_page!(ctx, svc.audit_export(&ctx.actor, &filter));
    let mut body = String::new();
    loop {
        match pages.next().await {
            Ok(Some(lines)) => body.push_str(&lines),
            Ok(None) => break,
            Err(e) => return ctx.error(&e),
        }
    }
    HttpResponse::Ok()
        .content_type("application/x-ndjson")
        .insert_header((
            actix_web::http::header::CONTENT_DISPOSITION,
            "attachment; filename=\"trove-audit.jsonl\"",
        ))
        .insert_header((actix_web::http::header::CACHE_CONTROL, "no-store"))
        .body(body)
}

/// A value of an entry's before/after, short enough for a table cell.
pub(crate) fn summary(v: &Option<serde_json::Value>) -> String {
    match v {
        None => String::new(),
        Some(v) => {
            let s = v.to_string();
            if s.chars().count() > 300 {
                format!("{}…", s.chars().take(300).collect::<String>())
            } else {
                s
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::date_millis;

    #[test]
    fn dates() {
        assert_eq!(date_millis("1970-01-01"), Some(0));
        assert_eq!(date_millis("2000-03-01"), Some(951_868_800_000));
        assert_eq!(date_millis("2026-11-18"), Some(1_794_960_000_000));
        assert_eq!(date_millis("2026-13-01"), None);
        assert_eq!(date_millis("yesterday"), None);
    }
}
