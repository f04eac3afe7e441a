//! The admin web console at `/admin` on the main port: askama pages (templates in
//! `web/templates`) and plain HTML forms with POST-redirect-GET; no script. Handlers only turn
//! a request into one or two [`trove_service::Service`] calls and the result into a page: what
//! is shown and what may change is decided there, as for the REST API.
//!
//! Sessions: a random cookie (`trove_session`, HttpOnly, SameSite=Strict) whose SHA-256 names
//! a row of the sessions table, with a per-session CSRF token that every POST form carries;
//! POSTs also need an `Origin`/`Referer` naming this host when the browser sends one
//! (`session.rs`, checks in `trove_ui`). docs/console.md lists the pages.

/// The signed-in context of a page, or the response (sign-in redirect, 403) to return.
macro_rules! page_ctx {
    ($req:expr, $svc:expr) => {
        match session::page(&$req, &$svc).await {
            Ok(c) => c,
            Err(res) => return res,
        }
    };
}

/// The same for a POST, whose CSRF token and Origin are checked first.
macro_rules! post_ctx {
    ($req:expr, $svc:expr, $form:expr) => {
        match session::post(&$req, &$svc, &$form).await {
            Ok(c) => c,
            Err(res) => return res,
        }
    };
}

/// The value of a service call, or the error page.
macro_rules! try_page {
    ($ctx:expr, $call:expr) => {
        match $call {
            Ok(v) => v,
            Err(e) => return $ctx.error(&e),
        }
    };
}

mod browse;
mod external;
mod form;
pub(crate) mod governance;
mod repos;
mod rules;
mod security;
mod session;
mod status;

use actix_web::http::{StatusCode, header};
use actix_web::{HttpResponse, web};
use askama::Template;

use trove_service::ServiceError;

pub(crate) use form::Form;

/// The `{name}` segment of the path.
pub(crate) fn name(req: &actix_web::HttpRequest) -> String {
    req.match_info().get("name").unwrap_or_default().to_owned()
}

/// The status a page answers a service error with.
pub(crate) fn status_of(e: &ServiceError) -> StatusCode {
    StatusCode::from_u16(e.status()).unwrap_or(StatusCode::BAD_REQUEST)
}

/// Errors a form shows next to its fields; the others get the error page.
pub(crate) fn shown_on_form(e: &ServiceError) -> bool {
    matches!(
        e,
        ServiceError::Invalid { .. } | ServiceError::Conflict { .. }
    )
}
pub(crate) use session::Ctx;

/// Mounts the console; the app must have a `web::Data<Service>` and the front ends'
/// `web::Data<Frontend>` (trusted proxies decide whether forwarded headers count).
pub fn configure(cfg: &mut web::ServiceConfig) {
    use web::{get, post};
    cfg.route("/", get().to(session::root))
        .route("/admin", get().to(session::root))
        .route("/admin/", get().to(session::root))
        .route("/admin/static/trove.css", get().to(css))
        .route("/admin/login", get().to(session::login_page))
        .route("/admin/login", post().to(session::login))
        // Single sign-on (OIDC) and the LDAP page (issue 16).
        .route("/admin/login/sso", get().to(external::sso_start))
        .route(
            "/admin/login/sso/callback",
            get().to(external::sso_callback),
        )
        .route("/admin/ldap", get().to(external::ldap))
        .route("/admin/ldap", post().to(external::ldap_post))
        .route("/admin/logout", post().to(session::logout))
        .route("/admin/password", get().to(session::password_page))
        .route("/admin/password", post().to(session::change_password))
        .route("/admin/dashboard", get().to(status::dashboard))
        .route("/admin/blobstore", get().to(status::blob_store))
        .route("/admin/repositories", get().to(repos::list))
        .route("/admin/repositories/new", get().to(repos::new_form))
        .route("/admin/repositories/new", post().to(repos::create))
        .route("/admin/repository/{name}", get().to(browse::repository))
        .route("/admin/repository/{name}/edit", get().to(repos::edit_form))
        .route("/admin/repository/{name}/edit", post().to(repos::update))
        .route("/admin/repository/{name}/delete", post().to(repos::delete))
        // A format's browse pages, named by its nouns (after `edit` and `delete`).
        .route("/admin/repository/{name}/{view}", get().to(browse::view))
        .route(
            "/admin/repository/{name}/{view}/delete",
            post().to(browse::delete),
        )
        .route("/admin/users", get().to(security::users))
        .route("/admin/users/new", get().to(security::new_user_form))
        .route("/admin/users/new", post().to(security::create_user))
        .route("/admin/user/{name}", get().to(security::edit_user_form))
        .route("/admin/user/{name}", post().to(security::update_user))
        .route(
            "/admin/user/{name}/delete",
            post().to(security::delete_user),
        )
        .route("/admin/roles", get().to(security::roles))
        .route("/admin/roles/new", get().to(security::new_role_form))
        .route("/admin/roles/new", post().to(security::create_role))
        .route("/admin/role/{name}", get().to(security::edit_role_form))
        .route("/admin/role/{name}", post().to(security::update_role))
        .route(
            "/admin/role/{name}/delete",
            post().to(security::delete_role),
        )
        .route("/admin/privileges", get().to(security::privileges))
        .route("/admin/privileges", post().to(security::create_privilege))
        .route(
            "/admin/privileges/delete",
            post().to(security::delete_privilege),
        )
        .route("/admin/access", get().to(security::access))
        .route(
            "/admin/access/anonymous",
            post().to(security::set_anonymous),
        )
        .route("/admin/access/realms", post().to(security::set_realms))
        .route("/admin/explain", get().to(security::explain))
        .route("/admin/rules", get().to(rules::list))
        .route("/admin/rules/new", get().to(rules::new_form))
        .route("/admin/rules/new", post().to(rules::create))
        .route("/admin/rule/{name}", get().to(rules::edit_form))
        .route("/admin/rule/{name}", post().to(rules::update))
        .route("/admin/rule/{name}/delete", post().to(rules::delete))
        // API tokens and the audit log (issue 16).
        .route("/admin/tokens", get().to(governance::tokens))
        .route("/admin/tokens", post().to(governance::create_token))
        .route("/admin/tokens/revoke", post().to(governance::revoke_token))
        .route("/admin/audit", get().to(governance::audit))
        .route("/admin/audit/export", get().to(governance::export));
}

async fn css() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/css; charset=utf-8")
        .insert_header((header::CACHE_CONTROL, "public, max-age=3600"))
        .body(trove_ui::CSS)
}

/// What every page's frame shows: the title, the signed-in user and their navigation, the
/// CSRF token for the sign-out form, and a notice left by the last redirect.
pub(crate) struct Chrome {
    pub title: String,
    pub user: Option<String>,
    pub admin: bool,
    pub csrf: String,
    /// The navigation entry to mark as current.
    pub section: &'static str,
    pub notice: Option<String>,
    pub version: &'static str,
}

impl Chrome {
    /// A page shown without a session (sign-in, refusals).
    pub fn signed_out(title: &str) -> Chrome {
        Chrome {
            title: title.to_owned(),
            user: None,
            admin: false,
            csrf: String::new(),
            section: "",
            notice: None,
            version: env!("CARGO_PKG_VERSION"),
        }
    }
}

/// A service error shown on a form: the message, and the field it names (shown next to that
/// field, and in a summary at the top).
#[derive(Debug, Default, Clone)]
pub(crate) struct FormError {
    pub field: Option<String>,
    pub message: Option<String>,
}

impl FormError {
    pub fn none() -> FormError {
        FormError::default()
    }

    pub fn from(e: &ServiceError) -> FormError {
        FormError {
            field: e.field().map(str::to_owned),
            message: Some(e.message().to_owned()),
        }
    }

    /// The message, when it names `field`.
    pub fn of(&self, field: &str) -> Option<&str> {
        match (&self.field, &self.message) {
            (Some(f), Some(m)) if f == field => Some(m),
            _ => None,
        }
    }

    /// Whether it names `field` (for `aria-invalid`).
    pub fn on(&self, field: &str) -> bool {
        self.of(field).is_some()
    }
}

/// An `<option>` or checkbox: a value and whether it is chosen.
#[derive(Debug, Clone)]
pub(crate) struct Choice {
    pub value: String,
    pub chosen: bool,
}

impl Choice {
    pub fn list<'a>(values: impl IntoIterator<Item = &'a str>, chosen: &[String]) -> Vec<Choice> {
        values
            .into_iter()
            .map(|v| Choice {
                value: v.to_owned(),
                chosen: chosen.iter().any(|c| c == v),
            })
            .collect()
    }
}

/// Renders a template with the console's headers.
pub(crate) fn render(status: StatusCode, page: &impl Template) -> HttpResponse {
    match page.render() {
        Ok(body) => {
            let mut res = HttpResponse::build(status);
            security_headers(&mut res);
            res.content_type("text/html; charset=utf-8").body(body)
        }
        Err(e) => {
            tracing::error!(error = %e, "rendering a console page failed");
            HttpResponse::InternalServerError()
                .content_type("text/plain; charset=utf-8")
                .body("internal error rendering the page; see the server log")
        }
    }
}

/// No caching of pages that show state; no framing; scripts nowhere; forms only to ourselves.
fn security_headers(res: &mut actix_web::HttpResponseBuilder) {
    res.insert_header((header::CACHE_CONTROL, "no-store"))
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .insert_header((header::X_FRAME_OPTIONS, "DENY"))
        .insert_header((header::REFERRER_POLICY, "same-origin"))
        .insert_header((
            header::CONTENT_SECURITY_POLICY,
            "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; \
             frame-ancestors 'none'; base-uri 'none'",
        ));
}

/// 303 See Other: the R of POST-redirect-GET, and every redirect of the console.
pub(crate) fn see_other(location: &str) -> HttpResponse {
    let mut res = HttpResponse::SeeOther();
    security_headers(&mut res);
    res.insert_header((header::LOCATION, location)).finish()
}

#[derive(Template)]
#[template(path = "error.html")]
pub(crate) struct ErrorPage {
    pub chrome: Chrome,
    pub status: u16,
    pub heading: &'static str,
    pub message: String,
}

fn heading(status: u16) -> &'static str {
    match status {
        400 => "Not accepted",
        401 => "Sign-in required",
        403 => "Not allowed",
        404 => "Not found",
        409 => "Already exists",
        _ => "Something went wrong",
    }
}

/// A refusal before any session is known (bad Origin, bad CSRF token).
pub(crate) fn refuse(status: StatusCode, message: &str) -> HttpResponse {
    let s = status.as_u16();
    render(
        status,
        &ErrorPage {
            chrome: Chrome::signed_out(heading(s)),
            status: s,
            heading: heading(s),
            message: message.to_owned(),
        },
    )
}

/// Percent-encodes everything but RFC 3986's unreserved characters: a path segment or a
/// query value in links and redirects built here (templates use askama's `urlencode_strict`).
pub(crate) fn enc(s: &str) -> String {
    use std::fmt::Write;
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn encodes_segments() {
        assert_eq!(super::enc("team/app b+c"), "team%2Fapp%20b%2Bc");
        assert_eq!(super::enc("a-b_c.d~"), "a-b_c.d~");
    }
}
