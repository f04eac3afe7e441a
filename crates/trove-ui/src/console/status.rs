//! The dashboard and the blob store page.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;

use super::{Chrome, session};
use trove_service::{BlobStoreView, Dashboard, Service};

#[derive(Template)]
#[template(path = "dashboard.html")]
struct DashboardPage {
    chrome: Chrome,
    d: Dashboard,
    proxies: usize,
    storage_chart: String,
    requests_chart: String,
    requests_last_hour: u64,
}

pub(crate) async fn dashboard(req: HttpRequest, svc: web::Data<Service>) -> HttpResponse {
    let ctx = page_ctx!(req, svc);
    let d = match svc.dashboard(&ctx.actor).await {
        Ok(d) => d,
        Err(e) => return ctx.error(&e),
    };
    let mut storage: Vec<(String, u64)> = d
        .repositories
        .iter()
        .map(|r| (r.name.clone(), r.usage.bytes.max(0) as u64))
        .collect();
    storage.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    let storage_chart = trove_ui::charts::bar_chart(
        "storage-chart",
        "Storage per repository",
        &storage,
        trove_ui::fmt::bytes,
    );
    let requests_chart = trove_ui::charts::line_chart(
        "requests-chart",
        "Requests per minute, last hour (UTC)",
        &d.requests.per_minute,
        trove_ui::fmt::minute_of_day,
    );
    let page = DashboardPage {
        chrome: ctx.chrome("Dashboard", "dashboard"),
        proxies: d
            .repositories
            .iter()
            .filter(|r| r.upstream.is_some())
            .count(),
        requests_last_hour: d.requests.per_minute.iter().map(|(_, n)| n).sum(),
        d,
        storage_chart,
        requests_chart,
    };
    ctx.page(StatusCode::OK, &page)
}

#[derive(Template)]
#[template(path = "blobstore.html")]
struct BlobStorePage {
    chrome: Chrome,
    b: BlobStoreView,
}

pub(crate) async fn blob_store(req: HttpRequest, svc: web::Data<Service>) -> HttpResponse {
    let ctx = page_ctx!(req, svc);
    match svc.blob_store(&ctx.actor).await {
        Ok(b) => ctx.page(
            StatusCode::OK,
            &BlobStorePage {
                chrome: ctx.chrome("Blob store", "blobstore"),
                b,
            },
        ),
        Err(e) => ctx.error(&e),
    }
}
