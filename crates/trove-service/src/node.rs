//! What the service layer needs of the node it runs in: the server implements [`Node`], tests
//! implement it in a few lines ([`crate::testing`]).

use std::path::PathBuf;
use std::sync::Arc;

use async_trait::async_trait;
use serde::Serialize;
use trove_core::Repository;

use crate::metrics::MetricsSnapshot;

/// The running node, as the service layer sees it. Kept small on purpose: anything the
/// database knows is read from the database.
#[async_trait]
pub trait Node: Send + Sync {
    /// This node changed rows: make every node (this one included) rebuild what runs from
    /// them (repositories, routing rules, connector ports).
    async fn changed(&self) -> anyhow::Result<()>;

    /// Why repository `name` does not run as configured (it could not be built, or its
    /// connector could not start), if it does not.
    fn problem(&self, _name: &str) -> Option<String> {
        None
    }

    /// The online repository called `name`, as built now.
    fn repository(&self, name: &str) -> Option<Arc<dyn Repository>>;

    /// The ports repository `name`'s connector is bound to now, `(http, https)` (`0` in the
    /// config picks one).
    fn connector_ports(&self, name: &str) -> (Option<u16>, Option<u16>);

    /// A proxy repository's upstream health.
    fn upstream(&self, name: &str) -> Option<UpstreamView>;

    /// The request counters since start.
    fn metrics(&self) -> MetricsSnapshot;

    fn info(&self) -> NodeInfo;

    // The storage lifecycle (issue 15). A node without it has no tasks.

    /// The lifecycle tasks this node schedules: garbage collection, each cleanup policy,
    /// upload expiry.
    async fn tasks(&self) -> anyhow::Result<Vec<crate::TaskSpec>> {
        Ok(Vec::new())
    }

    /// Runs task `id` now (a dry run changes nothing) on the node's runtime, so the caller
    /// going away does not stop it, and answers the recorded run once it ended; `None`: no
    /// such task.
    async fn run_task(
        &self,
        _id: &str,
        _dry_run: bool,
    ) -> anyhow::Result<Option<trove_store::TaskRun>> {
        Ok(None)
    }

    /// The lifecycle's counters since start (bytes freed, runs, durations), for `/metrics`.
    fn lifecycle_metrics(&self) -> crate::metrics::LifecycleSnapshot {
        Default::default()
    }
}

/// How this node was started (restart to change).
#[derive(Debug, Clone)]
pub struct NodeInfo {
    /// The main port, which no connector may take.
    pub main_port: u16,
    /// Where the blob store keeps its files.
    pub blob_dir: PathBuf,
    /// `[storage]`: the blob store's quotas and free-space floor.
    pub storage: trove_core::StorageLimits,
}

/// A proxy's upstream health.
#[derive(Debug, Clone, Serialize)]
pub struct UpstreamView {
    pub remote: String,
    /// `false` while auto-blocked.
    pub available: bool,
    pub blocked_until: Option<i64>,
    pub consecutive_failures: u32,
    pub last_error: Option<String>,
    pub requests: u64,
}
