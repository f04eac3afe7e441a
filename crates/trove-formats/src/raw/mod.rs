//! Raw files (Nexus "raw"): placeholder while the format lands.

use std::sync::Arc;

use actix_web::HttpResponse;
use async_trait::async_trait;
use trove_core::{FormatId, FormatSpec, RepoKind, RepositoryConfig};

use crate::registry::{Format, FormatInfo, RepoRequest};

pub const ID: FormatId = FormatId::new("raw");

pub struct Raw;

#[async_trait(?Send)]
impl Format for Raw {
    fn info(&self) -> FormatInfo {
        FormatInfo {
            id: ID,
            label: "Raw",
            kinds: &[RepoKind::Hosted, RepoKind::Proxy, RepoKind::Group],
            description: "plain files at any path",
        }
    }
    fn spec(&self, _repo: &RepositoryConfig) -> trove_core::Result<Arc<dyn FormatSpec>> {
        Err(trove_core::Error::unsupported("raw is not built yet"))
    }
    async fn serve(&self, _req: RepoRequest) -> HttpResponse {
        HttpResponse::NotFound().finish()
    }
}
