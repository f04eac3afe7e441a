//! Maven repositories (the Maven 2 layout) for `mvn` and every client of that layout: hosted
//! (release, snapshot or mixed, as `mvn deploy` uploads), proxy (a pull-through cache of Maven
//! Central or any Maven repository) and group (merged `maven-metadata.xml`). Files are served
//! with `ETag`, `Last-Modified` and `Range`; checksum files of every file are generated;
//! refusals carry their reason in the HTTP status line, which is all `mvn` prints of them (the
//! body repeats it with the detail). See `docs/formats/maven.md` for each behaviour and its
//! test.
//!
//! The whole format is this module plus one line in `FormatRegistry::builtin`.

mod browse;
mod deploy;
mod layout;
mod metadata;
mod spec;
pub mod version;

use std::collections::HashSet;
use std::sync::{Arc, LazyLock, Mutex};

use actix_web::http::header;
use actix_web::http::{Method, StatusCode};
use actix_web::{HttpRequest, HttpResponse, web};
use async_trait::async_trait;
use serde_json::{Map, Value};
use trove_auth::{Action, Identity};
use trove_core::{
    AssetPath, Ctx, Error, ErrorKind, FormatSpec, RepoKind, Repository, RepositoryConfig,
};

pub use spec::{ID, LayoutPolicy, MavenSpec, VersionPolicy};

use crate::kit::access::{self, Refusal};
use crate::kit::errors::{self, Failure};
use crate::kit::{Frontend, caller, file, request};
use crate::registry::{Format, FormatInfo, RepoRequest};
use crate::{OptionField, OptionInput};
use layout::Kind;

/// The Maven format.
pub struct Maven;

/// Which versions a hosted (or proxy) repository holds: `release`, `snapshot` or `mixed`.
pub const VERSION_POLICY: &str = "version_policy";
/// Whether uploads to a hosted repository must follow the Maven layout: `strict` or
/// `permissive`.
pub const LAYOUT_POLICY: &str = "layout_policy";

pub use crate::option_fields::MERGE_HOSTED_WITH_PROXIED;

const OPTIONS: &[OptionField] = &[
    OptionField {
        key: VERSION_POLICY,
        label: "Version policy",
        help: "release, snapshot or mixed: which versions the repository holds (hosted: release by default; a proxy asks its upstream only for these, mixed by default)",
        kinds: &[RepoKind::Hosted, RepoKind::Proxy],
        input: OptionInput::Text,
    },
    OptionField {
        key: LAYOUT_POLICY,
        label: "Layout policy",
        help: "strict (the default: uploads must follow the Maven layout) or permissive (any path)",
        kinds: &[RepoKind::Hosted],
        input: OptionInput::Text,
    },
    crate::option_fields::merge_hosted_with_proxied(
        "off (the default): versions of an artifact a hosted member has hide what proxy members list for it in maven-metadata.xml (the dependency-confusion guard)",
    ),
];

#[async_trait(?Send)]
impl Format for Maven {
    fn info(&self) -> FormatInfo {
        FormatInfo {
            id: ID,
            label: "Maven",
            kinds: &[RepoKind::Hosted, RepoKind::Proxy, RepoKind::Group],
            description: "Maven repositories (the Maven 2 layout) for mvn, Gradle and sbt: <url>http://<host>/repository/<name>/</url>",
        }
    }

    fn check_options(&self, kind: RepoKind, options: &Map<String, Value>) -> Result<(), String> {
        for (k, v) in options {
            let s = v.as_str();
            match k.as_str() {
                VERSION_POLICY if kind != RepoKind::Group => {
                    if s.and_then(VersionPolicy::parse).is_none() {
                        return Err(format!(
                            "maven option {k} must be \"release\", \"snapshot\" or \"mixed\""
                        ));
                    }
                }
                LAYOUT_POLICY if kind == RepoKind::Hosted => {
                    if !matches!(s, Some("strict" | "permissive")) {
                        return Err(format!(
                            "maven option {k} must be \"strict\" or \"permissive\""
                        ));
                    }
                }
                MERGE_HOSTED_WITH_PROXIED if kind == RepoKind::Group => {
                    if !v.is_boolean() {
                        return Err(format!("maven option {k} must be true or false"));
                    }
                }
                VERSION_POLICY | LAYOUT_POLICY | MERGE_HOSTED_WITH_PROXIED => {
                    return Err(format!(
                        "maven option {k} is not a setting of a {} repository",
                        kind.as_str()
                    ));
                }
                _ => {
                    return Err(format!(
                        "unknown maven option {k:?} for a {} repository",
                        kind.as_str()
                    ));
                }
            }
        }
        Ok(())
    }

    fn option_fields(&self) -> &'static [OptionField] {
        OPTIONS
    }

    fn browse(&self) -> Option<&dyn crate::browse::Browse> {
        Some(&browse::MavenBrowse)
    }

    fn spec(&self, repo: &RepositoryConfig) -> trove_core::Result<Arc<dyn FormatSpec>> {
        Ok(Arc::new(spec_of(repo)))
    }

    async fn serve(&self, req: RepoRequest) -> HttpResponse {
        let http = req.http.clone();
        match serve(req).await {
            Ok(res) => res,
            Err(e) => {
                e.answered.note(&http);
                e.response()
            }
        }
    }
}

/// The policies of `repo` from its options, with the defaults: a hosted repository holds
/// releases and follows the layout strictly; a proxy fetches every version.
fn spec_of(repo: &RepositoryConfig) -> MavenSpec {
    let kind = repo.kind();
    let option = |k: &str| repo.options.get(k).and_then(Value::as_str);
    let version_policy = option(VERSION_POLICY)
        .and_then(VersionPolicy::parse)
        .unwrap_or(if kind == RepoKind::Hosted {
            VersionPolicy::Release
        } else {
            VersionPolicy::Mixed
        });
    let layout_policy = match option(LAYOUT_POLICY) {
        Some("permissive") => LayoutPolicy::Permissive,
        _ if kind == RepoKind::Hosted => LayoutPolicy::Strict,
        _ => LayoutPolicy::Permissive,
    };
    MavenSpec {
        kind,
        version_policy,
        layout_policy,
        merge_hosted_with_proxied: repo
            .options
            .get(MERGE_HOSTED_WITH_PROXIED)
            .and_then(Value::as_bool)
            .unwrap_or(false),
    }
}

/// A Maven error: a status whose reason phrase says what is wrong when `mvn` must show it (it
/// prints the status line of a failed upload, nothing of the body), and a line of text.
pub(crate) struct MavenError {
    answered: Failure,
    /// The reason phrase of the status line; `None`: the status's own.
    phrase: Option<String>,
}

impl From<Failure> for MavenError {
    fn from(answered: Failure) -> Self {
        MavenError {
            answered,
            phrase: None,
        }
    }
}

impl MavenError {
    pub(crate) fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Failure::new(status, message).into()
    }

    /// A refusal `mvn` shows: `phrase` (short, the same for every path: it names no file, as
    /// `mvn` prints the URL next to it) in the status line, `message` in the body.
    pub(crate) fn shown(
        status: StatusCode,
        phrase: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        let mut e = MavenError::new(status, message);
        e.phrase = Some(phrase.into());
        e
    }

    pub(crate) fn from_core(e: Error) -> Self {
        let shown = matches!(
            e.kind,
            ErrorKind::AlreadyExists | ErrorKind::Unsupported | ErrorKind::Blocked { .. }
        );
        let kind = e.kind.clone();
        let mut m: MavenError = Failure::from_core_with(e, errors::status_of).into();
        if shown {
            m.phrase = Some(match kind {
                ErrorKind::AlreadyExists => "Repository does not allow updating assets".into(),
                ErrorKind::Blocked { rule } => format!("Blocked by routing rule {rule}"),
                _ => m.answered.message.clone(),
            });
        }
        m
    }

    pub(crate) fn refused(r: Refusal) -> Self {
        let mut m: MavenError = Failure::refused(r).into();
        if m.answered.status == StatusCode::FORBIDDEN {
            m.phrase = Some(m.answered.message.clone());
        }
        m
    }

    fn response(&self) -> HttpResponse {
        let a = &self.answered;
        let mut res = HttpResponse::build(a.status);
        if a.challenge {
            res.insert_header((header::WWW_AUTHENTICATE, "Basic realm=\"trove\""));
        }
        let mut res = res.content_type("text/plain; charset=utf-8").body(format!(
            "{} {}: {}\n",
            a.status.as_u16(),
            a.code(),
            a.message
        ));
        if let Some(p) = self.phrase.as_deref().and_then(reason_phrase) {
            res.head_mut().reason = Some(p);
        }
        res
    }
}

/// `phrase` as a status line's reason: visible ASCII and spaces, at most 200 characters. The
/// status line wants a `&'static str`, so each distinct phrase is kept once, up to a bound
/// (phrases name a repository or a rule, never a path, so there are few); past it the
/// status's own reason is used and the body still says why.
fn reason_phrase(phrase: &str) -> Option<&'static str> {
    static KEPT: LazyLock<Mutex<HashSet<&'static str>>> =
        LazyLock::new(|| Mutex::new(HashSet::new()));
    const MAX: usize = 512;
    let clean: String = phrase
        .chars()
        .map(|c| {
            if c.is_ascii_graphic() || c == ' ' {
                c
            } else {
                '?'
            }
        })
        .take(200)
        .collect();
    let mut kept = KEPT.lock().expect("reason phrases lock");
    if let Some(p) = kept.get(clean.as_str()) {
        return Some(p);
    }
    if kept.len() >= MAX {
        return None;
    }
    let p: &'static str = Box::leak(clean.into_boxed_str());
    kept.insert(p);
    Some(p)
}

pub(crate) type Answer = Result<HttpResponse, MavenError>;

/// One request, with who is calling.
pub(crate) struct Call {
    pub http: HttpRequest,
    pub front: web::Data<Frontend>,
    pub name: String,
    pub repo: Arc<dyn Repository>,
    pub identity: Identity,
    pub ctx: Ctx,
    pub payload: Option<web::Payload>,
    /// The request's file path.
    pub path: String,
}

impl Call {
    /// May the caller do `action` on this request's path?
    pub fn allow(&self, action: Action) -> Result<(), MavenError> {
        access::check(
            &self.front.auth,
            &self.identity,
            &ID,
            &self.name,
            Some(self.repo.config()),
            action,
            Some(&self.path),
        )
        .map_err(MavenError::refused)
    }

    pub fn asset_path(&self) -> AssetPath {
        AssetPath::parse(&self.path).expect("checked by file::path_of")
    }

    /// The policies of the repository a write lands in: the one addressed, or a group's
    /// writable member (a group has none of its own; a deploy through it must meet the
    /// member's).
    pub fn spec(&self) -> MavenSpec {
        let cfg = self.repo.config();
        if let trove_core::KindConfig::Group {
            writable_member: Some(member),
            ..
        } = &cfg.kind
            && let Some(m) = self.front.repos.get(member)
        {
            return spec_of(m.config());
        }
        spec_of(cfg)
    }
}

async fn serve(req: RepoRequest) -> Answer {
    let (path, folder) = file::path_of(&req.http, &req.tail)
        .map_err(|why| MavenError::new(StatusCode::BAD_REQUEST, why))?;
    let method = req.http.method().clone();
    let action = match method {
        Method::GET | Method::HEAD => Action::Read,
        Method::PUT if !folder => Action::Add,
        Method::DELETE if !folder => Action::Delete,
        _ => {
            return Err(MavenError::new(
                StatusCode::METHOD_NOT_ALLOWED,
                format!("{method} is not supported on {}", req.http.path()),
            ));
        }
    };
    request::note(&req.http, |f| f.action = Some(action.as_str()));
    let RepoRequest {
        http,
        payload,
        front,
        name,
        repo,
        ..
    } = req;
    let identity = caller::identify(&front.auth, &http)
        .await
        .map_err(|e| match e {
            trove_auth::AuthError::Internal(e) => MavenError::from_core(e),
            e => MavenError::refused(Refusal::Challenge(e.to_string())),
        })?;
    // Existence is never told to a caller who may not see the repository.
    access::check(
        &front.auth,
        &identity,
        &ID,
        &name,
        repo.as_deref().map(|r| r.config()),
        action,
        Some(&path),
    )
    .map_err(MavenError::refused)?;
    let repo = repo.expect("checked: the repository exists");
    let ctx = request::ctx(&http, &identity.principal);
    let mut call = Call {
        http,
        front,
        name,
        repo,
        identity,
        ctx,
        payload: Some(payload),
        path,
    };
    if folder {
        return Err(MavenError::new(
            StatusCode::NOT_FOUND,
            format!(
                "{} is a folder; Maven repositories serve files (the console browses artifacts)",
                call.path
            ),
        ));
    }
    match method {
        Method::GET | Method::HEAD => get(&mut call).await,
        Method::PUT => deploy::put(&mut call).await,
        _ => delete(&call).await,
    }
}

fn not_found(path: &str) -> MavenError {
    MavenError::new(StatusCode::NOT_FOUND, format!("{path} not found"))
}

/// A file, generated document or checksum. The checksum of a `maven-metadata.xml` is the
/// document's variant, so it is computed from the very bytes the document is served with in
/// every kind (hosted: generated; proxy: as cached; group: as merged).
async fn get(call: &mut Call) -> Answer {
    let mut path = call.asset_path();
    if let Kind::Checksum { file, algo } = layout::parse(path.as_str())
        && matches!(layout::parse(&file), Kind::Metadata { .. })
    {
        path = AssetPath::parse(&file).expect("a prefix of a valid path");
        call.ctx.variant = Some(algo.name());
    }
    let repo = call.repo.as_ref();
    let content_type = |m: &trove_core::AssetMeta| {
        m.content_type
            .clone()
            .unwrap_or_else(|| layout::content_type(&call.path))
    };
    if call.http.method() == Method::HEAD {
        let meta = repo
            .head(&call.ctx, &path)
            .await
            .map_err(MavenError::from_core)?
            .ok_or_else(|| not_found(&call.path))?;
        let res = file::ok(&meta, &content_type(&meta));
        return Ok(file::answer(&call.http, res, &meta, None));
    }
    let asset = repo
        .get(&call.ctx, &path, file::range(&call.http))
        .await
        .map_err(MavenError::from_core)?
        .ok_or_else(|| not_found(&call.path))?;
    let meta = asset.meta.clone();
    let res = file::ok(&meta, &content_type(&meta));
    Ok(file::answer(&call.http, res, &meta, Some(asset)))
}

async fn delete(call: &Call) -> Answer {
    if let Kind::Checksum { .. } = layout::parse(&call.path) {
        // Checksums are computed, never stored: deleting one deletes nothing.
        return Ok(HttpResponse::NoContent().finish());
    }
    if call
        .repo
        .delete(&call.ctx, &call.asset_path())
        .await
        .map_err(MavenError::from_core)?
    {
        Ok(HttpResponse::NoContent().finish())
    } else {
        Err(not_found(&call.path))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn options() {
        let m = |v: Value| v.as_object().unwrap().clone();
        for (kind, opts, ok) in [
            (
                RepoKind::Hosted,
                json!({VERSION_POLICY: "snapshot", LAYOUT_POLICY: "permissive"}),
                true,
            ),
            (RepoKind::Proxy, json!({VERSION_POLICY: "release"}), true),
            (RepoKind::Hosted, json!({VERSION_POLICY: "releases"}), false),
            (RepoKind::Hosted, json!({LAYOUT_POLICY: true}), false),
            (RepoKind::Proxy, json!({LAYOUT_POLICY: "strict"}), false),
            (RepoKind::Group, json!({VERSION_POLICY: "mixed"}), false),
            (
                RepoKind::Group,
                json!({MERGE_HOSTED_WITH_PROXIED: true}),
                true,
            ),
            (
                RepoKind::Group,
                json!({MERGE_HOSTED_WITH_PROXIED: "yes"}),
                false,
            ),
            (
                RepoKind::Hosted,
                json!({MERGE_HOSTED_WITH_PROXIED: true}),
                false,
            ),
            (RepoKind::Hosted, json!({"x": 1}), false),
        ] {
            assert_eq!(
                Maven.check_options(kind, &m(opts.clone())).is_ok(),
                ok,
                "{kind:?} {opts}"
            );
        }
    }

    #[test]
    fn defaults() {
        let cfg = |kind: trove_core::KindConfig, options: Value| RepositoryConfig {
            id: String::new(),
            name: trove_core::RepoName::parse("m").unwrap(),
            format: ID,
            options: options.as_object().unwrap().clone(),
            online: true,
            kind,
            force_basic_auth: false,
            routing_rule: None,
            lifecycle: Default::default(),
        };
        let hosted = trove_core::KindConfig::Hosted {
            write_policy: Default::default(),
        };
        let s = spec_of(&cfg(hosted.clone(), json!({})));
        assert_eq!(
            (s.version_policy, s.layout_policy),
            (VersionPolicy::Release, LayoutPolicy::Strict)
        );
        let s = spec_of(&cfg(
            hosted,
            json!({VERSION_POLICY: "snapshot", LAYOUT_POLICY: "permissive"}),
        ));
        assert_eq!(
            (s.version_policy, s.layout_policy),
            (VersionPolicy::Snapshot, LayoutPolicy::Permissive)
        );
        let proxy = trove_core::KindConfig::Proxy(trove_core::ProxyConfig::new("http://x"));
        assert_eq!(
            spec_of(&cfg(proxy, json!({}))).version_policy,
            VersionPolicy::Mixed
        );
    }

    #[test]
    fn error_table_and_reason_phrases() {
        errors::check_table(|k| errors::status_of(k).as_u16());
        let e = MavenError::from_core(Error::new(ErrorKind::AlreadyExists, "x"));
        let res = e.response();
        assert_eq!(res.status(), StatusCode::CONFLICT);
        assert_eq!(
            res.head().reason,
            Some("Repository does not allow updating assets")
        );
        let plain = MavenError::from_core(Error::not_found("gone")).response();
        assert_eq!(plain.head().reason, None, "misses keep the plain reason");
        assert_eq!(
            reason_phrase("a\r\nb"),
            Some("a??b"),
            "no line breaks in a status line"
        );
        let a = reason_phrase("same phrase").unwrap();
        assert!(
            std::ptr::eq(a, reason_phrase("same phrase").unwrap()),
            "kept once"
        );
    }
}
