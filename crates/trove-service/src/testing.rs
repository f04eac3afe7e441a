//! For the front ends' own tests (feature `testing`): a [`Service`] over a fresh database in a
//! temporary directory, an in-memory blob store and a [`Node`] that runs no repository, with
//! one administrator, [`ADMIN`] / [`ADMIN_PASSWORD`].

use std::sync::Arc;

use async_trait::async_trait;
use trove_core::Repository;

use crate::metrics::{Metrics, MetricsSnapshot};
use crate::{Node, NodeInfo, Service, UpstreamView};

pub const ADMIN: &str = "tester";
pub const ADMIN_PASSWORD: &str = "tester-password";

/// A node without repositories or listeners: changes are saved and nothing runs from them.
pub struct TestNode {
    metrics: Metrics,
    blob_dir: std::path::PathBuf,
}

#[async_trait]
impl Node for TestNode {
    async fn changed(&self) -> anyhow::Result<()> {
        Ok(())
    }
    fn repository(&self, _name: &str) -> Option<Arc<dyn Repository>> {
        None
    }
    fn connector_ports(&self, _name: &str) -> (Option<u16>, Option<u16>) {
        (None, None)
    }
    fn upstream(&self, _name: &str) -> Option<UpstreamView> {
        None
    }
    fn metrics(&self) -> MetricsSnapshot {
        self.metrics.snapshot()
    }
    fn info(&self) -> NodeInfo {
        NodeInfo {
            main_port: 8081,
            blob_dir: self.blob_dir.clone(),
            storage: Default::default(),
        }
    }
}

/// A service and the directory its database lives in (removed when dropped).
pub struct TestService {
    pub service: Service,
    pub dir: tempfile::TempDir,
}

/// A fresh service with the administrator [`ADMIN`].
pub async fn service() -> TestService {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let url = format!("sqlite://{}", dir.path().join("trove.db").display());
    let meta = trove_store::MetadataStore::open(&url)
        .await
        .expect("opening the test database");
    let auth = trove_auth::Auth::init(meta.clone(), Default::default())
        .await
        .expect("loading the security model");
    auth.add_user(
        ADMIN,
        Some(ADMIN_PASSWORD),
        &[trove_auth::ADMIN_ROLE.to_owned()],
        "test",
    )
    .await
    .expect("creating the administrator");
    let node = TestNode {
        metrics: Metrics::default(),
        blob_dir: dir.path().to_owned(),
    };
    let service = Service::new(
        meta,
        auth,
        Arc::new(trove_store::MemBlobStore::new()),
        Arc::new(node),
    );
    TestService { service, dir }
}
