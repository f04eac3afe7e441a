//! Browsing a repository: its settings and components, a component's assets, one asset with
//! its fields and tables; deleting assets where allowed. The pages know no format: they
//! render the format's browse views (`trove_formats::browse`) as the service hands them over,
//! at URLs named with the format's nouns (docker: `/admin/repository/<repo>/image?name=...`,
//! `/admin/repository/<repo>/manifest?image=...&reference=...`).

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use trove_formats::browse::{Cell, Column, Detail, Link, Listing, Nouns};
use trove_service::{
    AssetView, ComponentView, RepoContent, RepoInput, RepoView, Service, ServiceError,
};

use super::{Chrome, Form, enc, name, session};
use crate::escape;

/// Console URLs of a repository's browse pages.
struct Urls<'a> {
    repo: &'a str,
    nouns: Nouns,
}

impl Urls<'_> {
    fn component(&self, component: &str) -> String {
        format!(
            "/admin/repository/{}/{}?name={}",
            enc(self.repo),
            self.nouns.component,
            enc(component)
        )
    }

    fn asset(&self, component: &str, reference: &str) -> String {
        format!(
            "/admin/repository/{}/{}?{}={}&reference={}",
            enc(self.repo),
            self.nouns.asset,
            self.nouns.component,
            enc(component),
            enc(reference)
        )
    }

    /// Where asset deletions are posted.
    fn delete(&self) -> String {
        format!(
            "/admin/repository/{}/{}/delete",
            enc(self.repo),
            self.nouns.asset
        )
    }

    fn link(&self, to: &Link) -> String {
        match to {
            Link::Component { component } => self.component(component),
            Link::Asset {
                component,
                reference,
            } => self.asset(component, reference),
        }
    }
}

/// A cell as HTML, with the class and title of the element holding it.
#[derive(Debug, Default)]
pub(crate) struct CellView {
    pub html: String,
    pub class: &'static str,
    pub title: Option<String>,
}

fn cell(c: &Cell, urls: &Urls<'_>) -> CellView {
    let plain = |html: String| CellView {
        html,
        ..Default::default()
    };
    match c {
        Cell::Text(s) => plain(escape(s)),
        Cell::Code(s) => CellView {
            html: escape(s),
            class: "mono",
            title: None,
        },
        Cell::Muted(s) => plain(format!(r#"<span class="muted">{}</span>"#, escape(s))),
        Cell::Count(n) => plain(n.to_string()),
        Cell::Bytes(n) => CellView {
            html: escape(&crate::fmt::bytes(n)),
            class: "",
            title: Some(format!("{n} bytes")),
        },
        Cell::Time(t) => plain(escape(&crate::fmt::time(t))),
        Cell::LastTime(t) => plain(escape(&crate::fmt::time_or_never(t))),
        Cell::Digest(d) => CellView {
            html: escape(&crate::fmt::short_digest(d)),
            class: "mono",
            title: Some(d.clone()),
        },
        Cell::Badges(labels) if labels.is_empty() => {
            plain(r#"<span class="muted">none</span>"#.into())
        }
        Cell::Badges(labels) => plain(
            labels
                .iter()
                .map(|l| format!(r#"<span class="badge">{}</span>"#, escape(l)))
                .collect::<Vec<_>>()
                .join(" "),
        ),
        Cell::Link { text, to } => {
            let inner = cell(text, urls);
            CellView {
                html: format!(r#"<a href="{}">{}</a>"#, escape(&urls.link(to)), inner.html),
                ..inner
            }
        }
    }
}

/// A value of a detail's field: its cells one after the other.
fn values(cells: &[Cell], urls: &Urls<'_>) -> CellView {
    let views: Vec<CellView> = cells.iter().map(|c| cell(c, urls)).collect();
    let class = match views.as_slice() {
        [one] => one.class,
        _ => "",
    };
    CellView {
        html: views
            .iter()
            .map(|v| match (&v.title, v.class) {
                (Some(t), _) => format!(r#"<span title="{}">{}</span>"#, escape(t), v.html),
                _ => v.html.clone(),
            })
            .collect::<Vec<_>>()
            .join(" "),
        class,
        title: None,
    }
}

/// A table of the console: columns, rows of rendered cells, and what each row may delete.
pub(crate) struct TableView {
    pub caption: Option<String>,
    pub columns: Vec<Column>,
    pub rows: Vec<RowView>,
}

pub(crate) struct RowView {
    pub cells: Vec<CellView>,
    /// `(reference, button label)`.
    pub delete: Option<(String, String)>,
}

impl TableView {
    fn of(l: &Listing, urls: &Urls<'_>) -> TableView {
        TableView {
            caption: l.caption.clone(),
            columns: l.columns.clone(),
            rows: l
                .entries
                .iter()
                .map(|e| RowView {
                    cells: e
                        .cells
                        .iter()
                        .zip(&l.columns)
                        .map(|(c, col)| {
                            let mut v = cell(c, urls);
                            if col.numeric {
                                v.class = "num";
                            }
                            v
                        })
                        .collect(),
                    delete: e.delete.clone().map(|label| (e.key.clone(), label)),
                })
                .collect(),
        }
    }
}

/// The components part of the repository page.
pub(crate) struct ContentView {
    pub nouns: Option<Nouns>,
    pub components: Option<TableView>,
    pub members: Vec<String>,
}

impl ContentView {
    fn of(c: &RepoContent) -> ContentView {
        let components = match (&c.components, c.nouns) {
            (Some(l), Some(nouns)) => Some(TableView::of(
                l,
                &Urls {
                    repo: &c.repository,
                    nouns,
                },
            )),
            _ => None,
        };
        ContentView {
            nouns: c.nouns,
            components,
            members: c.members.clone(),
        }
    }
}

/// `Images` from `images`.
fn title_case(word: &str) -> String {
    let mut c = word.chars();
    match c.next() {
        Some(first) => first.to_uppercase().chain(c).collect(),
        None => String::new(),
    }
}

#[derive(Template)]
#[template(path = "repository.html")]
struct RepositoryPage {
    chrome: Chrome,
    repo: RepoView,
    settings: RepoInput,
    content: Option<ContentView>,
    /// Why the content cannot be listed (offline, say).
    content_error: Option<String>,
    editable: bool,
}

pub(crate) async fn repository(req: HttpRequest, svc: web::Data<Service>) -> HttpResponse {
    let ctx = page_ctx!(req, svc);
    let name = name(&req);
    let repo = match svc.repository(&ctx.actor, &name).await {
        Ok(r) => r,
        Err(e) => return ctx.error(&e),
    };
    let (content, content_error) = match svc.browse(&ctx.actor, &name).await {
        Ok(c) => (Some(ContentView::of(&c)), None),
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

/// `GET /admin/repository/{name}/{view}`: a component page or an asset page, by the format's
/// nouns; any other word is not a page.
pub(crate) async fn view(req: HttpRequest, svc: web::Data<Service>) -> HttpResponse {
    let ctx = page_ctx!(req, svc);
    let repo = name(&req);
    let view = req.match_info().get("view").unwrap_or_default();
    let nouns = match svc.nouns(&repo) {
        Ok(nouns) => nouns,
        Err(e) => return ctx.error(&e),
    };
    let q = Form::query(&req);
    if view == nouns.component {
        match svc.component(&ctx.actor, &repo, q.get("name")).await {
            Ok(v) => component_page(&ctx, v),
            Err(e) => ctx.error(&e),
        }
    } else if view == nouns.asset {
        match svc
            .asset(
                &ctx.actor,
                &repo,
                q.get(nouns.component),
                q.get("reference"),
            )
            .await
        {
            Ok(v) => asset_page(&ctx, v),
            Err(e) => ctx.error(&e),
        }
    } else {
        ctx.error(&ServiceError::not_found(format!(
            "no page {view} for repository {repo}"
        )))
    }
}

#[derive(Template)]
#[template(path = "component.html")]
struct ComponentPage {
    chrome: Chrome,
    repo: String,
    component: String,
    /// `Tags and manifests`-like heading words: the format's plural asset noun.
    assets: String,
    table: TableView,
    can_delete: bool,
    delete_url: String,
    component_field: &'static str,
}

fn component_page(ctx: &session::Ctx, v: ComponentView) -> HttpResponse {
    let urls = Urls {
        repo: &v.repository,
        nouns: v.nouns,
    };
    let page = ComponentPage {
        chrome: ctx.chrome(
            format!("{} {}", title_case(v.nouns.component), v.component),
            "repositories",
        ),
        table: TableView::of(&v.assets, &urls),
        delete_url: urls.delete(),
        assets: v.nouns.assets.to_owned(),
        component_field: v.nouns.component,
        can_delete: v.can_delete,
        repo: v.repository,
        component: v.component,
    };
    ctx.page(StatusCode::OK, &page)
}

/// A detail's section, rendered.
pub(crate) struct SectionView {
    pub id: &'static str,
    pub heading: &'static str,
    pub table: TableView,
    pub total: Option<CellView>,
    pub empty: Option<&'static str>,
}

#[derive(Template)]
#[template(path = "asset.html")]
struct AssetPage {
    chrome: Chrome,
    repo: String,
    component: String,
    component_url: String,
    label: CellView,
    title: String,
    fields: Vec<(&'static str, CellView)>,
    sections: Vec<SectionView>,
    document: Option<(&'static str, String)>,
    /// `(reference, button label)` when the caller may delete it.
    delete: Option<(String, String)>,
    delete_url: String,
    component_field: &'static str,
}

fn asset_page(ctx: &session::Ctx, v: AssetView) -> HttpResponse {
    let urls = Urls {
        repo: &v.repository,
        nouns: v.nouns,
    };
    let Detail {
        title,
        label,
        fields,
        sections,
        document,
        delete,
        ..
    } = v.detail;
    let page = AssetPage {
        chrome: ctx.chrome(title.clone(), "repositories"),
        component_url: urls.component(&v.component),
        label: cell(&label, &urls),
        fields: fields
            .iter()
            .map(|f| (f.label, values(&f.values, &urls)))
            .collect(),
        sections: sections
            .iter()
            .map(|s| SectionView {
                id: s.id,
                heading: s.heading,
                table: TableView::of(&s.listing, &urls),
                total: s.total.as_ref().map(|t| {
                    let mut c = cell(t, &urls);
                    c.class = "num";
                    c
                }),
                empty: s.empty,
            })
            .collect(),
        document: document.map(|d| (d.heading, d.text)),
        delete: delete
            .filter(|_| v.can_delete)
            .map(|d| (d.reference, d.label)),
        delete_url: urls.delete(),
        component_field: v.nouns.component,
        title,
        repo: v.repository,
        component: v.component,
    };
    ctx.page(StatusCode::OK, &page)
}

/// `POST /admin/repository/{name}/{view}/delete`: deletes an asset, then shows its component
/// (or the repository, when that was the component's last asset).
pub(crate) async fn delete(
    req: HttpRequest,
    svc: web::Data<Service>,
    body: web::Bytes,
) -> HttpResponse {
    let form = Form::parse(&body);
    let ctx = post_ctx!(req, svc, form);
    let repo = name(&req);
    let view = req.match_info().get("view").unwrap_or_default();
    let nouns = match svc.nouns(&repo) {
        Ok(nouns) if nouns.asset == view => nouns,
        Ok(_) => {
            return ctx.error(&ServiceError::not_found(format!(
                "nothing to delete at {view} in repository {repo}"
            )));
        }
        Err(e) => return ctx.error(&e),
    };
    let (component, reference) = (form.get(nouns.component), form.get("reference"));
    if let Err(e) = svc
        .delete_asset(&ctx.actor, &repo, component, reference)
        .await
    {
        return ctx.error(&e);
    }
    let notice = format!("Deleted {component}:{reference}.");
    let urls = Urls { repo: &repo, nouns };
    if svc.component(&ctx.actor, &repo, component).await.is_ok() {
        ctx.done(&urls.component(component), &notice)
    } else {
        ctx.done(&format!("/admin/repository/{}", enc(&repo)), &notice)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOUNS: Nouns = Nouns {
        component: "image",
        components: "images",
        asset: "manifest",
        assets: "manifests",
    };

    #[test]
    fn links_use_the_format_nouns_and_encode_names() {
        let urls = Urls {
            repo: "hosted",
            nouns: NOUNS,
        };
        assert_eq!(
            urls.link(&Link::Component {
                component: "team/app".into()
            }),
            "/admin/repository/hosted/image?name=team%2Fapp"
        );
        assert_eq!(
            urls.asset("team/app", "sha256:ab"),
            "/admin/repository/hosted/manifest?image=team%2Fapp&reference=sha256%3Aab"
        );
        assert_eq!(urls.delete(), "/admin/repository/hosted/manifest/delete");
        let c = cell(
            &Cell::text("<b>").link(Link::Component {
                component: "a b".into(),
            }),
            &urls,
        );
        assert_eq!(
            c.html,
            r#"<a href="/admin/repository/hosted/image?name=a%20b">&lt;b&gt;</a>"#
        );
    }

    #[test]
    fn cells_format_sizes_times_and_digests() {
        let urls = Urls {
            repo: "r",
            nouns: NOUNS,
        };
        let d = format!("sha256:{}", "ab".repeat(32));
        let c = cell(&Cell::Digest(d.clone()), &urls);
        assert_eq!((c.class, c.title.as_deref()), ("mono", Some(d.as_str())));
        assert!(c.html.ends_with('…'), "{}", c.html);
        let c = cell(&Cell::Bytes(2048), &urls);
        assert_eq!(
            (c.html.as_str(), c.title.as_deref()),
            ("2.00 KiB", Some("2048 bytes"))
        );
        assert_eq!(cell(&Cell::LastTime(None), &urls).html, "never");
        assert_eq!(
            cell(&Cell::Badges(vec![]), &urls).html,
            r#"<span class="muted">none</span>"#
        );
        let v = values(
            &[Cell::text("2,"), Cell::Bytes(11), Cell::text("in total")],
            &urls,
        );
        assert_eq!(v.html, r#"2, <span title="11 bytes">11 B</span> in total"#);
    }

    /// The browse pages' words must not take the console's own repository pages.
    #[test]
    fn no_format_noun_shadows_a_repository_page() {
        for f in trove_formats::registry().list() {
            if let Some(b) = f.browse() {
                let n = b.nouns();
                for word in [n.component, n.asset] {
                    assert!(
                        !["edit", "delete"].contains(&word) && !word.is_empty(),
                        "{}: {word}",
                        f.id()
                    );
                    assert!(
                        word.bytes().all(|b| b.is_ascii_lowercase() || b == b'-'),
                        "{}: {word} is not a URL word",
                        f.id()
                    );
                }
            }
        }
    }
}
