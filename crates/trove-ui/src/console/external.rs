//! The LDAP page (settings, "test connection", "test user login") and single sign-on through
//! OIDC (issue 16).
//!
//! Single sign-on: `/admin/login/sso` asks the service for the provider's URL and a `state`,
//! keeps the state in a cookie (`trove_sso`, HttpOnly, `SameSite=Lax` so it comes back with
//! the provider's redirect, path `/admin/login/sso`, 10 minutes) and sends the browser off;
//! `/admin/login/sso/callback` checks the cookie against the `state` parameter (constant
//! time), lets the service redeem the code and check the ID token, then starts a session. The
//! session cookie is `SameSite=Strict`, which a browser does not send on a navigation that a
//! cross-site redirect started, so the callback answers with a page that moves on by itself
//! (`<meta http-equiv="refresh">`, no script) instead of a redirect.

use actix_web::cookie::{Cookie, SameSite, time::Duration as CookieAge};
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use trove_auth::ldap::LdapConfig;
use trove_formats::kit::Frontend;
use trove_service::{LdapLoginView, Service, ServiceError};

use super::{Chrome, Ctx, Form, FormError, refuse, render, see_other, session, shown_on_form};

const SSO_COOKIE: &str = "trove_sso";
const SSO_PATH: &str = "/admin/login/sso";
const CALLBACK: &str = "/admin/login/sso/callback";

// ---- LDAP ----------------------------------------------------------------------------------

/// The form's values, as typed.
#[derive(Debug, Clone, Default)]
pub(crate) struct LdapForm {
    pub url: String,
    pub bind_dn: String,
    pub bind_password_file: String,
    pub user_base: String,
    pub user_filter: String,
    pub group_base: String,
    pub group_filter: String,
    pub starttls: bool,
    pub ca_file: String,
    pub cache_ttl: String,
    pub timeout: String,
    pub test_user: String,
}

fn opt(s: &str) -> Option<String> {
    let s = s.trim();
    (!s.is_empty()).then(|| s.to_owned())
}

impl LdapForm {
    fn of(c: &LdapConfig) -> Self {
        LdapForm {
            url: c.url.clone(),
            bind_dn: c.bind_dn.clone().unwrap_or_default(),
            bind_password_file: c
                .bind_password_file
                .as_ref()
                .map(|p| p.display().to_string())
                .unwrap_or_default(),
            user_base: c.user_base.clone(),
            user_filter: c.user_filter.clone(),
            group_base: c.group_base.clone().unwrap_or_default(),
            group_filter: c.group_filter.clone(),
            starttls: c.starttls,
            ca_file: c
                .ca_file
                .as_ref()
                .map(|p| p.display().to_string())
                .unwrap_or_default(),
            cache_ttl: c.cache_ttl.to_string(),
            timeout: c.timeout.to_string(),
            test_user: String::new(),
        }
    }

    fn blank() -> Self {
        LdapForm {
            user_filter: "(uid={username})".into(),
            group_filter: "(member={dn})".into(),
            cache_ttl: trove_auth::ldap::DEFAULT_CACHE_TTL.to_string(),
            timeout: "5".into(),
            ..Default::default()
        }
    }

    fn parse(form: &Form) -> Self {
        LdapForm {
            url: form.get("url").trim().to_owned(),
            bind_dn: form.get("bind_dn").trim().to_owned(),
            bind_password_file: form.get("bind_password_file").trim().to_owned(),
            user_base: form.get("user_base").trim().to_owned(),
            user_filter: form.get("user_filter").trim().to_owned(),
            group_base: form.get("group_base").trim().to_owned(),
            group_filter: form.get("group_filter").trim().to_owned(),
            starttls: form.checked("starttls"),
            ca_file: form.get("ca_file").trim().to_owned(),
            cache_ttl: form.get("cache_ttl").trim().to_owned(),
            timeout: form.get("timeout").trim().to_owned(),
            test_user: form.get("test_user").trim().to_owned(),
        }
    }

    /// The settings, or the field that is not a number.
    fn config(&self) -> Result<LdapConfig, ServiceError> {
        let number = |field: &str, v: &str| {
            v.parse::<u64>()
                .map_err(|_| ServiceError::invalid(field, "a number of seconds"))
        };
        Ok(LdapConfig {
            url: self.url.clone(),
            bind_dn: opt(&self.bind_dn),
            bind_password_file: opt(&self.bind_password_file).map(Into::into),
            user_base: self.user_base.clone(),
            user_filter: self.user_filter.clone(),
            group_base: opt(&self.group_base),
            group_filter: self.group_filter.clone(),
            starttls: self.starttls,
            ca_file: opt(&self.ca_file).map(Into::into),
            cache_ttl: number("cache_ttl", &self.cache_ttl)?,
            timeout: number("timeout", &self.timeout)?,
        })
    }
}

/// The outcome of a check, shown under the form.
pub(crate) struct Check {
    pub ok: bool,
    pub message: String,
    pub login: Option<LdapLoginView>,
}

#[derive(Template)]
#[template(path = "ldap.html")]
struct LdapPage {
    chrome: Chrome,
    f: LdapForm,
    configured: bool,
    active: bool,
    read_only: Option<&'static str>,
    err: FormError,
    check: Option<Check>,
}

async fn ldap_page(
    ctx: &Ctx,
    svc: &Service,
    form: Option<LdapForm>,
    err: FormError,
    check: Option<Check>,
    code: StatusCode,
) -> HttpResponse {
    let view = try_page!(ctx, svc.ldap(&ctx.actor).await);
    let f = form.unwrap_or_else(|| {
        view.config
            .as_ref()
            .map_or_else(LdapForm::blank, LdapForm::of)
    });
    ctx.page(
        code,
        &LdapPage {
            chrome: ctx.chrome("LDAP", "ldap"),
            f,
            configured: view.config.is_some(),
            active: view.active,
            read_only: view.read_only,
            err,
            check,
        },
    )
}

pub(crate) async fn ldap(req: HttpRequest, svc: web::Data<Service>) -> HttpResponse {
    let ctx = page_ctx!(req, svc);
    ldap_page(&ctx, &svc, None, FormError::none(), None, StatusCode::OK).await
}

/// Saves the form (`do=save`), or checks it without saving (`do=connection`, `do=login`).
pub(crate) async fn ldap_post(
    req: HttpRequest,
    svc: web::Data<Service>,
    body: web::Bytes,
) -> HttpResponse {
    let form = Form::parse(&body);
    let ctx = post_ctx!(req, svc, form);
    let mut f = LdapForm::parse(&form);
    // Settings from trove.toml are shown disabled (not sent): the checks test the saved ones.
    if let Ok(view) = svc.ldap(&ctx.actor).await
        && view.read_only.is_some()
        && let Some(saved) = &view.config
    {
        let test_user = f.test_user.clone();
        f = LdapForm::of(saved);
        f.test_user = test_user;
    }
    let config = match f.config() {
        Ok(c) => c,
        Err(e) => {
            return ldap_page(
                &ctx,
                &svc,
                Some(f),
                FormError::from(&e),
                None,
                super::status_of(&e),
            )
            .await;
        }
    };
    let outcome = match form.get("do") {
        "connection" => svc
            .test_ldap_connection(&ctx.actor, &config)
            .await
            .map(|message| Check {
                ok: true,
                message,
                login: None,
            }),
        "login" => svc
            .test_ldap_login(&ctx.actor, &config, &f.test_user, form.get("test_password"))
            .await
            .map(|v| Check {
                ok: v.signed_in,
                message: v.outcome.clone(),
                login: Some(v),
            }),
        _ => {
            return match svc.set_ldap(&ctx.actor, &config).await {
                Ok(_) => ctx.done("/admin/ldap", "LDAP settings saved."),
                Err(e) if shown_on_form(&e) => {
                    ldap_page(
                        &ctx,
                        &svc,
                        Some(f),
                        FormError::from(&e),
                        None,
                        super::status_of(&e),
                    )
                    .await
                }
                Err(e) => ctx.error(&e),
            };
        }
    };
    match outcome {
        Ok(check) => {
            ldap_page(
                &ctx,
                &svc,
                Some(f),
                FormError::none(),
                Some(check),
                StatusCode::OK,
            )
            .await
        }
        Err(ServiceError::Unavailable { message }) => {
            let check = Check {
                ok: false,
                message,
                login: None,
            };
            ldap_page(
                &ctx,
                &svc,
                Some(f),
                FormError::none(),
                Some(check),
                StatusCode::OK,
            )
            .await
        }
        Err(e) if shown_on_form(&e) => {
            ldap_page(
                &ctx,
                &svc,
                Some(f),
                FormError::from(&e),
                None,
                super::status_of(&e),
            )
            .await
        }
        Err(e) => ctx.error(&e),
    }
}

// ---- single sign-on ------------------------------------------------------------------------

fn sso_cookie(value: String, secure: bool) -> Cookie<'static> {
    Cookie::build(SSO_COOKIE, value)
        .path(SSO_PATH)
        .http_only(true)
        // Lax: sent on the provider's top-level redirect back to us, never on cross-site
        // subrequests or POSTs.
        .same_site(SameSite::Lax)
        .secure(secure)
        .max_age(CookieAge::minutes(10))
        .finish()
}

/// The callback URL as the browser reaches this server (trusted proxies' headers count).
fn callback_url(req: &HttpRequest) -> String {
    match req.app_data::<web::Data<Frontend>>() {
        Some(front) => front.external(req).url(CALLBACK),
        None => {
            let info = req.connection_info();
            format!("{}://{}{CALLBACK}", info.scheme(), info.host())
        }
    }
}

fn sso_refused(message: &str) -> HttpResponse {
    refuse(StatusCode::UNAUTHORIZED, message)
}

/// `GET /admin/login/sso?next=`: off to the identity provider.
pub(crate) async fn sso_start(req: HttpRequest, svc: web::Data<Service>) -> HttpResponse {
    let q = Form::query(&req);
    let next = session::safe_next(q.get("next")).unwrap_or("");
    match svc.sso_begin(&callback_url(&req), next).await {
        Ok((url, state)) => {
            let mut res = see_other(&url);
            let _ = res.add_cookie(&sso_cookie(state, session::secure(&req)));
            res
        }
        Err(e) => {
            tracing::warn!(error = %e, "single sign-on could not start");
            refuse(super::status_of(&e), e.message())
        }
    }
}

#[derive(Template)]
#[template(path = "sso_done.html")]
struct SsoDone {
    chrome: Chrome,
    location: String,
}

/// `GET /admin/login/sso/callback?code=&state=` (or `?error=`): the provider sent the browser
/// back.
pub(crate) async fn sso_callback(req: HttpRequest, svc: web::Data<Service>) -> HttpResponse {
    let q = Form::query(&req);
    if !q.get("error").is_empty() {
        tracing::info!(error = %q.get("error"), "the identity provider refused the sign-in");
        return sso_refused(&format!(
            "The identity provider did not sign you in ({}{}).",
            q.get("error"),
            match q.get("error_description") {
                "" => String::new(),
                d => format!(": {d}"),
            }
        ));
    }
    let (state, code) = (q.get("state"), q.get("code"));
    let cookie = req.cookie(SSO_COOKIE);
    let from_this_browser = cookie
        .as_ref()
        .is_some_and(|c| trove_ui::csrf::matches(c.value(), state));
    if state.is_empty() || code.is_empty() || !from_this_browser {
        tracing::info!("single sign-on callback without a matching state cookie");
        return sso_refused(
            "This sign-in did not start in this browser, or it expired. Start again from the \
             sign-in page.",
        );
    }
    let secure = session::secure(&req);
    let (principal, next) = match svc
        .sso_finish(
            state,
            code,
            &callback_url(&req),
            &session::anonymous_from(&req, &svc),
        )
        .await
    {
        Ok(ok) => ok,
        Err(e) => {
            tracing::info!(error = %e, "single sign-on refused");
            let mut res = refuse(super::status_of(&e), e.message());
            let _ = res.add_removal_cookie(&sso_cookie(String::new(), secure));
            return res;
        }
    };
    tracing::info!(user = %principal.name(), "console sign-in through single sign-on");
    let location = match session::safe_next(&next) {
        Some(n) => n.to_owned(),
        None => "/admin".to_owned(),
    };
    let mut res = render(
        StatusCode::OK,
        &SsoDone {
            chrome: Chrome::signed_out("Signed in"),
            location: location.clone(),
        },
    );
    if let Err(r) = session::add_session(&svc, principal.name(), secure, &mut res).await {
        return r;
    }
    let _ = res.add_removal_cookie(&sso_cookie(String::new(), secure));
    res
}
