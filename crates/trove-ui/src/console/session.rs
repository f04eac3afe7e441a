//! Signing in and out, the session cookie, the CSRF and Origin checks every POST passes, and
//! the first-start password change.
//!
//! The cookie `trove_session` holds 32 random bytes (base64url); the sessions table holds only
//! their SHA-256, the user, a CSRF token and the expiry, so every node of a cluster knows every
//! session and a copy of the database signs nobody in. Forms carry the CSRF token in a hidden
//! field `csrf`, compared in constant time.

use actix_web::cookie::{Cookie, SameSite, time::Duration as CookieAge};
use actix_web::http::{StatusCode, header};
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use base64::Engine as _;
use trove_formats::kit::{Frontend, external::first_header};

use super::{Chrome, ErrorPage, Form, FormError, refuse, render, see_other};
use trove_service::{Actor, PasswordChange, Service, ServiceError};

pub(crate) const SESSION_COOKIE: &str = "trove_session";
const NOTICE_COOKIE: &str = "trove_notice";
/// How long a sign-in lasts.
pub(crate) const LIFETIME_HOURS: i64 = 12;

/// The signed-in caller of a console request.
pub(crate) struct Ctx {
    /// The signed-in user, with the client's address, for the service's checks and its audit
    /// log.
    pub actor: Actor,
    pub user: String,
    /// Shows the administration pages in the navigation (the service decides access).
    pub admin: bool,
    pub csrf: String,
    pub must_change: bool,
    /// Left by the previous request's redirect.
    pub notice: Option<String>,
    /// The request came over https (directly or through a trusted proxy).
    pub secure: bool,
    token_hash: String,
}

impl Ctx {
    /// The page frame for this user.
    pub fn chrome(&self, title: impl Into<String>, section: &'static str) -> Chrome {
        Chrome {
            title: title.into(),
            user: Some(self.user.clone()),
            admin: self.admin,
            csrf: self.csrf.clone(),
            section,
            notice: self.notice.clone(),
            version: env!("CARGO_PKG_VERSION"),
        }
    }

    /// Renders a page; a notice shown now is not shown again.
    pub fn page(&self, status: StatusCode, page: &impl Template) -> HttpResponse {
        let mut res = render(status, page);
        if self.notice.is_some() {
            let _ = res.add_removal_cookie(&notice_cookie(String::new(), self.secure));
        }
        res
    }

    /// A failed service call as a page with the service's message and status.
    pub fn error(&self, e: &ServiceError) -> HttpResponse {
        let status = e.status();
        let heading = super::heading(status);
        self.page(
            StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
            &ErrorPage {
                chrome: self.chrome(heading, ""),
                status,
                heading,
                message: e.message().to_owned(),
            },
        )
    }

    /// Redirects (303) and shows `notice` on the next page.
    pub fn done(&self, location: &str, notice: &str) -> HttpResponse {
        let mut res = see_other(location);
        let value = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(notice);
        let _ = res.add_cookie(&notice_cookie(value, self.secure));
        res
    }
}

fn notice_cookie(value: String, secure: bool) -> Cookie<'static> {
    Cookie::build(NOTICE_COOKIE, value)
        .path("/admin")
        .http_only(true)
        .same_site(SameSite::Strict)
        .secure(secure)
        .max_age(CookieAge::minutes(5))
        .finish()
}

fn session_cookie(token: String, secure: bool) -> Cookie<'static> {
    Cookie::build(SESSION_COOKIE, token)
        .path("/")
        .http_only(true)
        .same_site(SameSite::Strict)
        .secure(secure)
        .max_age(CookieAge::hours(LIFETIME_HOURS))
        .finish()
}

fn notice(req: &HttpRequest) -> Option<String> {
    let c = req.cookie(NOTICE_COOKIE)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(c.value())
        .ok()?;
    String::from_utf8(bytes).ok().filter(|s| !s.is_empty())
}

fn header_str(req: &HttpRequest, name: header::HeaderName) -> Option<&str> {
    req.headers().get(name).and_then(|v| v.to_str().ok())
}

/// The client's address, through trusted proxies (the audit log's "from where").
/// The caller of a sign-in page: nobody yet, from the client's address.
pub(super) fn anonymous_from(req: &HttpRequest, svc: &Service) -> Actor {
    Actor::anonymous(trove_service::FrontEnd::Console, client_ip(req, svc))
}

fn client_ip(req: &HttpRequest, svc: &Service) -> Option<std::net::IpAddr> {
    let forwarded: Vec<&str> = req
        .headers()
        .get_all("x-forwarded-for")
        .filter_map(|v| v.to_str().ok())
        .collect();
    svc.client_ip(
        req.peer_addr().map(|a| a.ip()),
        Some(forwarded.join(","))
            .as_deref()
            .filter(|f| !f.is_empty()),
    )
}

/// Whether the direct peer is one of `[server] trusted_proxies`.
fn from_trusted_proxy(req: &HttpRequest) -> bool {
    req.app_data::<web::Data<Frontend>>()
        .is_some_and(|f| f.external(req).trusted)
}

fn forwarded(req: &HttpRequest, name: &str) -> Option<String> {
    first_header(req, name).map(str::to_owned)
}

/// Whether the browser talks https to us (or to the trusted proxy in front): cookies get
/// `Secure` then.
pub(crate) fn secure(req: &HttpRequest) -> bool {
    req.app_config().secure()
        || (from_trusted_proxy(req)
            && forwarded(req, "x-forwarded-proto").as_deref() == Some("https"))
}

/// The host names this request was sent to: `Host` (or the HTTP/2 authority), and behind a
/// trusted proxy `X-Forwarded-Host`.
fn hosts(req: &HttpRequest) -> Vec<String> {
    let mut hosts = Vec::new();
    if let Some(h) = header_str(req, header::HOST) {
        hosts.push(h.to_owned());
    } else if let Some(a) = req.uri().authority() {
        hosts.push(a.as_str().to_owned());
    }
    if from_trusted_proxy(req)
        && let Some(h) = forwarded(req, "x-forwarded-host")
    {
        hosts.push(h);
    }
    hosts
}

/// Whether a POST's `Origin` (else `Referer`) names this host; requests without either pass
/// (the CSRF token still decides).
fn same_origin(req: &HttpRequest) -> bool {
    let hosts = hosts(req);
    let hosts: Vec<&str> = hosts.iter().map(String::as_str).collect();
    trove_ui::origin::same_origin(
        header_str(req, header::ORIGIN),
        header_str(req, header::REFERER),
        &hosts,
    )
}

fn cross_site() -> HttpResponse {
    refuse(
        StatusCode::FORBIDDEN,
        "This form was sent from another site: its Origin does not match this host. \
         Nothing was changed.",
    )
}

fn internal(e: impl std::fmt::Display) -> HttpResponse {
    tracing::error!(error = %e, "console session lookup failed");
    refuse(
        StatusCode::INTERNAL_SERVER_ERROR,
        "internal error; see the server log",
    )
}

/// The request's session, if it has a live one.
async fn current(req: &HttpRequest, svc: &Service) -> Result<Option<Ctx>, HttpResponse> {
    let Some(cookie) = req.cookie(SESSION_COOKIE) else {
        return Ok(None);
    };
    let token = cookie.value();
    if !trove_ui::csrf::well_formed(token) {
        return Ok(None);
    }
    let token_hash = trove_ui::csrf::hash(token);
    let Some(s) = svc.session(&token_hash).await.map_err(internal)? else {
        return Ok(None);
    };
    Ok(Some(Ctx {
        actor: Actor::session(s.principal, client_ip(req, svc)),
        user: s.user,
        admin: s.admin,
        csrf: s.csrf,
        must_change: s.must_change_password,
        notice: notice(req),
        secure: secure(req),
        token_hash,
    }))
}

/// Where an unsigned request goes: the sign-in page, back here afterwards.
fn to_sign_in(req: &HttpRequest) -> HttpResponse {
    let here = match req.query_string() {
        "" => req.path().to_owned(),
        q => format!("{}?{q}", req.path()),
    };
    see_other(&format!("/admin/login?next={}", super::enc(&here)))
}

/// The session of a GET page; without one, the sign-in page; with a password to change, the
/// change-password page.
pub(crate) async fn page(req: &HttpRequest, svc: &Service) -> Result<Ctx, HttpResponse> {
    match current(req, svc).await? {
        None => Err(to_sign_in(req)),
        Some(c) if c.must_change => Err(see_other("/admin/password")),
        Some(c) => Ok(c),
    }
}

/// The session of a POST, after the Origin and CSRF checks.
pub(crate) async fn post(
    req: &HttpRequest,
    svc: &Service,
    form: &Form,
) -> Result<Ctx, HttpResponse> {
    let ctx = checked_post(req, svc, form).await?;
    if ctx.must_change {
        return Err(see_other("/admin/password"));
    }
    Ok(ctx)
}

async fn checked_post(req: &HttpRequest, svc: &Service, form: &Form) -> Result<Ctx, HttpResponse> {
    if !same_origin(req) {
        return Err(cross_site());
    }
    let Some(ctx) = current(req, svc).await? else {
        return Err(see_other("/admin/login"));
    };
    if !trove_ui::csrf::matches(&ctx.csrf, form.get("csrf")) {
        return Err(refuse(
            StatusCode::FORBIDDEN,
            "The form's security token is missing or stale (reload the page and try again). \
             Nothing was changed.",
        ));
    }
    Ok(ctx)
}

/// `/` and `/admin`: the dashboard, the repositories (non-administrators) or the sign-in page.
pub(crate) async fn root(req: HttpRequest, svc: web::Data<Service>) -> HttpResponse {
    match page(&req, &svc).await {
        Ok(ctx) if ctx.admin => see_other("/admin/dashboard"),
        Ok(_) => see_other("/admin/repositories"),
        Err(_) if matches!(current(&req, &svc).await, Ok(Some(_))) => see_other("/admin/password"),
        Err(_) => see_other("/admin/login"),
    }
}

#[derive(Template)]
#[template(path = "login.html")]
struct LoginPage {
    chrome: Chrome,
    user: String,
    next: String,
    error: Option<String>,
    signed_out: bool,
    /// The single sign-on button's label, when `[oidc]` is configured.
    sso: Option<String>,
}

/// Only console pages are followed after sign-in (no open redirect).
pub(crate) fn safe_next(next: &str) -> Option<&str> {
    (next.starts_with("/admin/")
        && !next.starts_with("/admin/login")
        && !next.contains("//")
        && !next.contains('\\'))
    .then_some(next)
}

pub(crate) async fn login_page(req: HttpRequest, svc: web::Data<Service>) -> HttpResponse {
    if let Ok(Some(_)) = current(&req, &svc).await {
        return see_other("/admin");
    }
    let q = Form::query(&req);
    render(
        StatusCode::OK,
        &LoginPage {
            chrome: Chrome::signed_out("Sign in"),
            user: String::new(),
            next: safe_next(q.get("next")).unwrap_or("").to_owned(),
            error: None,
            signed_out: q.checked("signed_out"),
            sso: svc.sso_label(),
        },
    )
}

/// Starts a session for `user`: a new token in the cookie, its hash and a CSRF token stored.
async fn start_session(
    svc: &Service,
    user: &str,
    secure: bool,
    location: &str,
) -> Result<HttpResponse, HttpResponse> {
    let mut res = see_other(location);
    add_session(svc, user, secure, &mut res).await?;
    Ok(res)
}

/// Starts a session for `user` and sets its cookie on `res`.
pub(crate) async fn add_session(
    svc: &Service,
    user: &str,
    secure: bool,
    res: &mut HttpResponse,
) -> Result<(), HttpResponse> {
    let token = trove_ui::csrf::token();
    let expires = trove_core::now_millis() + LIFETIME_HOURS * 3600 * 1000;
    svc.start_session(
        &trove_ui::csrf::hash(&token),
        user,
        &trove_ui::csrf::token(),
        expires,
    )
    .await
    .map_err(internal)?;
    let _ = res.add_cookie(&session_cookie(token, secure));
    Ok(())
}

pub(crate) async fn login(
    req: HttpRequest,
    svc: web::Data<Service>,
    body: web::Bytes,
) -> HttpResponse {
    if !same_origin(&req) {
        return cross_site();
    }
    let form = Form::parse(&body);
    let user = form.get("user").trim().to_owned();
    let next = safe_next(form.get("next")).unwrap_or("").to_owned();
    let from = anonymous_from(&req, &svc);
    let (principal, must_change) = match svc.sign_in(&user, form.get("password"), &from).await {
        Ok(ok) => ok,
        Err(e) => {
            tracing::info!(%user, "console sign-in refused");
            return render(
                StatusCode::from_u16(e.status()).unwrap_or(StatusCode::UNAUTHORIZED),
                &LoginPage {
                    chrome: Chrome::signed_out("Sign in"),
                    user,
                    next,
                    error: Some(match e {
                        ServiceError::Unauthenticated { message }
                            if message.starts_with("wrong user name") =>
                        {
                            "Wrong user name or password, or the user is disabled.".into()
                        }
                        e => e.message().to_owned(),
                    }),
                    signed_out: false,
                    sso: svc.sso_label(),
                },
            );
        }
    };
    let location = if must_change {
        "/admin/password"
    } else if next.is_empty() {
        "/admin"
    } else {
        &next
    };
    tracing::info!(user = %principal.name(), "console sign-in");
    start_session(&svc, principal.name(), secure(&req), location)
        .await
        .unwrap_or_else(|e| e)
}

pub(crate) async fn logout(
    req: HttpRequest,
    svc: web::Data<Service>,
    body: web::Bytes,
) -> HttpResponse {
    let form = Form::parse(&body);
    let ctx = match checked_post(&req, &svc, &form).await {
        Ok(c) => c,
        Err(res) => return res,
    };
    if let Err(e) = svc.end_session(&ctx.token_hash).await {
        return internal(e);
    }
    svc.record_sign_out(&ctx.actor).await;
    let mut res = see_other("/admin/login?signed_out=1");
    let _ = res.add_removal_cookie(&session_cookie(String::new(), ctx.secure));
    res
}

#[derive(Template)]
#[template(path = "password.html")]
struct PasswordPage {
    chrome: Chrome,
    must_change: bool,
    err: FormError,
}

pub(crate) async fn password_page(req: HttpRequest, svc: web::Data<Service>) -> HttpResponse {
    let ctx = match current(&req, &svc).await {
        Ok(Some(c)) => c,
        Ok(None) => return to_sign_in(&req),
        Err(res) => return res,
    };
    ctx.page(
        StatusCode::OK,
        &PasswordPage {
            chrome: ctx.chrome("Change your password", "password"),
            must_change: ctx.must_change,
            err: FormError::none(),
        },
    )
}

/// Changes the caller's password, ends their other sessions and starts a new one.
pub(crate) async fn change_password(
    req: HttpRequest,
    svc: web::Data<Service>,
    body: web::Bytes,
) -> HttpResponse {
    let form = Form::parse(&body);
    let ctx = match checked_post(&req, &svc, &form).await {
        Ok(c) => c,
        Err(res) => return res,
    };
    let result = if form.get("new") != form.get("confirm") {
        Err(ServiceError::invalid(
            "confirm",
            "the two new passwords differ",
        ))
    } else {
        svc.change_own_password(
            &ctx.actor,
            &PasswordChange {
                current: form.get("current").to_owned(),
                new: form.get("new").to_owned(),
            },
        )
        .await
    };
    if let Err(e) = result {
        return ctx.page(
            StatusCode::from_u16(e.status()).unwrap_or(StatusCode::BAD_REQUEST),
            &PasswordPage {
                chrome: ctx.chrome("Change your password", "password"),
                must_change: ctx.must_change,
                err: FormError::from(&e),
            },
        );
    }
    if let Err(e) = svc.end_sessions_of(&ctx.user).await {
        return internal(e);
    }
    let mut res = match start_session(&svc, &ctx.user, ctx.secure, "/admin").await {
        Ok(r) => r,
        Err(r) => return r,
    };
    let value = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode("Password changed. Other sessions of yours were signed out.");
    let _ = res.add_cookie(&notice_cookie(value, ctx.secure));
    res
}
