//! The storage lifecycle (docs/storage.md): the tasks that free space, their schedule and
//! their runs. Garbage collection ([`gc`]) collects what nothing keeps, online, under a lease
//! so one node at a time collects; cleanup policies ([`cleanup`]) delete versions; upload
//! expiry ([`uploads`]) ends abandoned sessions. Every run is recorded in the database (the
//! console and the API show it), counted in metrics and logged.
//!
//! What a format says about its paths (roles, references, versions, immutable tags, what a
//! proxy may evict) reaches this module only through `FormatSpec`; nothing here knows docker.

mod cleanup;
pub mod config;
mod gc;
mod uploads;

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::json;
use trove_core::{BlobStore, Error, ErrorKind, FormatSpec, RepositoryConfig};
use trove_service::TaskSpec;
use trove_service::metrics::{LifecycleMetrics, LifecycleSnapshot};
use trove_store::{MetadataStore, RunEnd, TaskRun};

pub use config::StorageConfig;
pub use gc::GcReport;

/// The garbage collection task's id (and its lease's name).
pub const GC: &str = "gc";
/// The upload expiry task's id.
pub const UPLOAD_EXPIRY: &str = "upload-expiry";

/// A lease lives this long unless renewed; a holder renews it at least every third of it, so
/// a node that died holds it at most this long.
const LEASE_TTL: Duration = Duration::from_secs(60);

/// What a task run found or did, before it is recorded.
#[derive(Debug, Default)]
pub struct Outcome {
    pub deleted: u64,
    pub bytes_freed: u64,
    pub errors: Vec<String>,
    pub report: serde_json::Value,
}

/// The lifecycle of one node's stores: runs tasks, on demand and on schedule.
pub struct Lifecycle {
    meta: MetadataStore,
    blobs: Arc<dyn BlobStore>,
    storage: StorageConfig,
    upload_ttl: Duration,
    /// This node's name in leases and runs: host name and process, unique per start.
    node: String,
    started: i64,
    metrics: LifecycleMetrics,
    /// Tasks running on this node now.
    running: Mutex<HashSet<String>>,
}

impl Lifecycle {
    pub fn new(
        meta: MetadataStore,
        blobs: Arc<dyn BlobStore>,
        storage: StorageConfig,
        upload_ttl: Duration,
    ) -> Lifecycle {
        let host = this_host();
        Lifecycle {
            meta,
            blobs,
            storage,
            upload_ttl,
            node: format!(
                "{host}:{}:{}",
                std::process::id(),
                uuid::Uuid::new_v4().simple()
            ),
            started: trove_core::now_millis(),
            metrics: LifecycleMetrics::default(),
            running: Mutex::default(),
        }
    }

    pub fn node(&self) -> &str {
        &self.node
    }

    pub fn storage(&self) -> &StorageConfig {
        &self.storage
    }

    pub fn metrics(&self) -> LifecycleSnapshot {
        self.metrics.snapshot()
    }

    /// Every task: garbage collection, upload expiry, then each cleanup policy.
    pub async fn tasks(&self) -> anyhow::Result<Vec<TaskSpec>> {
        let mut out = vec![
            self.spec(
                GC,
                "gc",
                "Garbage collection".into(),
                "Deletes blobs and parts (layers) nothing references, untagged manifests under a repository's untagged rule, and evicts proxies over max_cache_bytes; online, under a lease".into(),
                self.storage.gc_interval,
            )
            .await?,
            self.spec(
                UPLOAD_EXPIRY,
                "upload-expiry",
                "Upload expiry".into(),
                format!(
                    "Ends upload sessions idle for more than {} h and removes their bytes",
                    self.upload_ttl.as_secs() / 3600
                ),
                Duration::from_secs(600).min(self.upload_ttl).max(Duration::from_secs(1)),
            )
            .await?,
        ];
        for p in self.meta.cleanup().list().await? {
            let id = trove_service::policy_task(&p.name);
            let on = self.meta.cleanup().used_by(&p.name).await?;
            let description = if on.is_empty() {
                "Cleanup policy; assigned to no repository".to_owned()
            } else {
                format!("Cleanup policy on {}", on.join(", "))
            };
            out.push(
                self.spec(
                    &id,
                    "cleanup",
                    format!("Cleanup policy {}", p.name),
                    description,
                    self.storage.cleanup_interval,
                )
                .await?,
            );
        }
        Ok(out)
    }

    async fn spec(
        &self,
        id: &str,
        kind: &'static str,
        name: String,
        description: String,
        interval: Duration,
    ) -> anyhow::Result<TaskSpec> {
        let last = self.meta.tasks().last(id, Some(false)).await?;
        let running = self
            .meta
            .tasks()
            .last(id, None)
            .await?
            .is_some_and(|r| r.outcome == "running");
        let next_run = (!interval.is_zero()).then(|| {
            let base = last.as_ref().map_or(self.started, |r| r.started);
            base + interval.as_millis() as i64
        });
        Ok(TaskSpec {
            id: id.to_owned(),
            kind,
            name,
            description,
            interval_seconds: (!interval.is_zero()).then_some(interval.as_secs()),
            next_run,
            running,
        })
    }

    /// Runs task `id` and records the run; `None` if there is no such task. Refused while it
    /// runs on this node already (and, for garbage collection, while another node holds its
    /// lease).
    pub async fn run(&self, id: &str, dry_run: bool) -> anyhow::Result<Option<TaskRun>> {
        let kind = if id == GC {
            "gc"
        } else if id == UPLOAD_EXPIRY {
            "upload-expiry"
        } else if let Some(policy) = id.strip_prefix("cleanup:") {
            if self.meta.cleanup().get(policy).await?.is_none() {
                return Ok(None);
            }
            "cleanup"
        } else {
            return Ok(None);
        };
        {
            let mut running = self.running.lock().expect("running lock");
            if !running.insert(id.to_owned()) {
                return Err(Error::new(
                    ErrorKind::Unavailable,
                    format!("task {id} is running on this node already; try again when it ended"),
                )
                .into());
            }
        }
        let result = self.run_recorded(id, kind, dry_run).await;
        self.running.lock().expect("running lock").remove(id);
        result.map(Some)
    }

    async fn run_recorded(&self, id: &str, kind: &str, dry_run: bool) -> anyhow::Result<TaskRun> {
        // A real run of a task holds its lease: two nodes never run the same task at once.
        let leased = !dry_run;
        if leased && !self.acquire(id).await? {
            let (holder, until) = match self.meta.leases().get(id).await? {
                Some(h) => (h.holder, h.expires),
                None => ("?".to_owned(), 0),
            };
            return Err(Error::new(
                ErrorKind::Unavailable,
                format!(
                    "task {id} is running on node {holder} (its lease ends {until}); try again later"
                ),
            )
            .into());
        }
        let run_id = self.meta.tasks().start(id, dry_run, &self.node).await?;
        let started = Instant::now();
        tracing::info!(task = %id, dry_run, run = %run_id, "task started");
        let lease = Lease {
            meta: &self.meta,
            name: id,
            holder: &self.node,
            renewed: Mutex::new(Instant::now()),
            held: leased,
        };
        let result = match kind {
            "gc" => gc::run(self, &lease, dry_run).await,
            "upload-expiry" => uploads::run(self, dry_run).await,
            _ => cleanup::run(self, &lease, id.trim_start_matches("cleanup:"), dry_run).await,
        };
        if leased {
            let _ = self.meta.leases().release(id, &self.node).await;
        }
        let took = started.elapsed();
        let (failed, outcome) = match result {
            Ok(o) => (false, o),
            Err(e) => (
                true,
                Outcome {
                    errors: vec![format!("{e:#}")],
                    report: json!({}),
                    ..Default::default()
                },
            ),
        };
        self.metrics.record(
            kind,
            dry_run,
            !failed,
            outcome.deleted,
            outcome.bytes_freed,
            took,
        );
        let end = RunEnd {
            failed,
            deleted: outcome.deleted as i64,
            bytes_freed: outcome.bytes_freed as i64,
            errors: outcome.errors.clone(),
            report: outcome.report,
        };
        self.meta.tasks().finish(&run_id, &end).await?;
        if failed {
            tracing::warn!(task = %id, dry_run, run = %run_id, ms = took.as_secs_f64() * 1e3, errors = ?outcome.errors, "task failed");
        } else {
            tracing::info!(
                task = %id, dry_run, run = %run_id, ms = took.as_secs_f64() * 1e3,
                deleted = outcome.deleted, bytes_freed = outcome.bytes_freed,
                errors = outcome.errors.len(), "task ended"
            );
        }
        self.meta
            .tasks()
            .get(&run_id)
            .await?
            .ok_or_else(|| anyhow::anyhow!("task run {run_id} vanished"))
    }

    /// Takes the lease of task `id`: free, expired, ours, or held by a process of this host
    /// (same host name and boot) that no longer runs: a node killed mid-run (kill -9) and
    /// restarted does not wait for its old lease to expire.
    async fn acquire(&self, id: &str) -> anyhow::Result<bool> {
        let ttl = LEASE_TTL.as_millis() as i64;
        if self.meta.leases().acquire(id, &self.node, ttl).await? {
            return Ok(true);
        }
        let Some(held) = self.meta.leases().get(id).await? else {
            // Released between the two reads: ask again.
            return Ok(self.meta.leases().acquire(id, &self.node, ttl).await?);
        };
        if holder_is_dead(&held.holder) {
            tracing::warn!(task = %id, holder = %held.holder, "taking over the lease of a process of this host that no longer runs");
            return Ok(self
                .meta
                .leases()
                .take_over(id, &held.holder, &self.node, ttl)
                .await?);
        }
        Ok(false)
    }

    /// The scheduler's tick: runs every task that is due (and not running anywhere). Called
    /// every few seconds by the server's background jobs.
    pub async fn tick(&self) {
        let tasks = match self.tasks().await {
            Ok(t) => t,
            Err(e) => {
                tracing::warn!(
                    error = format!("{e:#}"),
                    "reading the lifecycle's tasks failed"
                );
                return;
            }
        };
        let now = trove_core::now_millis();
        for t in tasks {
            if t.running || t.next_run.is_none_or(|n| n > now) {
                continue;
            }
            match self.run(&t.id, false).await {
                Ok(_) => {}
                Err(e) => match e.downcast_ref::<Error>() {
                    // Another node runs it (it holds the lease) or this one does already.
                    Some(core) if core.kind == ErrorKind::Unavailable => {
                        tracing::debug!(task = %t.id, reason = %core.msg, "scheduled run skipped")
                    }
                    _ => {
                        tracing::warn!(task = %t.id, error = format!("{e:#}"), "scheduled run failed")
                    }
                },
            }
        }
    }

    /// The format logic of a repository, for the rules its paths follow.
    fn spec_of(&self, repo: &RepositoryConfig) -> trove_core::Result<Arc<dyn FormatSpec>> {
        trove_formats::registry().spec(repo)
    }
}

/// A held lease, renewed as the work goes on; losing it (another node took it over after it
/// expired: this node stalled for a minute) stops the work.
pub(crate) struct Lease<'a> {
    meta: &'a MetadataStore,
    name: &'a str,
    holder: &'a str,
    renewed: Mutex<Instant>,
    held: bool,
}

impl Lease<'_> {
    /// Renews the lease when a third of its time passed; an error when it was lost.
    pub(crate) async fn keep(&self) -> trove_core::Result<()> {
        if !self.held {
            return Ok(());
        }
        let due = self.renewed.lock().expect("lease lock").elapsed() >= LEASE_TTL / 3;
        if !due {
            return Ok(());
        }
        if !self
            .meta
            .leases()
            .acquire(self.name, self.holder, LEASE_TTL.as_millis() as i64)
            .await?
        {
            return Err(Error::new(
                ErrorKind::Unavailable,
                format!(
                    "lost the lease of task {} to another node; stopped",
                    self.name
                ),
            ));
        }
        *self.renewed.lock().expect("lease lock") = Instant::now();
        Ok(())
    }
}

/// This host's name and boot: `<hostname>/<boot id prefix>`, the first part of a node's name.
fn this_host() -> String {
    let read = |p: &str| std::fs::read_to_string(p).map(|s| s.trim().to_owned()).ok();
    let host = read("/proc/sys/kernel/hostname").unwrap_or_else(|| "node".into());
    match read("/proc/sys/kernel/random/boot_id") {
        Some(boot) => format!("{host}/{}", &boot[..boot.len().min(8)]),
        None => host,
    }
}

/// Whether a lease holder's name (`<host>/<boot>:<pid>:<uuid>`) is a process of this host and
/// boot that no longer runs. Anything else (another host, a name of another shape, a running
/// pid, even one reused by another program) counts as alive: its lease is waited out.
fn holder_is_dead(holder: &str) -> bool {
    let mut parts = holder.rsplitn(3, ':');
    let (Some(_uuid), Some(pid), Some(host)) = (parts.next(), parts.next(), parts.next()) else {
        return false;
    };
    if host != this_host() || !host.contains('/') {
        return false;
    }
    let Ok(pid) = pid.parse::<u32>() else {
        return false;
    };
    pid != std::process::id() && !std::path::Path::new(&format!("/proc/{pid}")).exists()
}

/// Unix millis `d` ago.
fn ago(d: Duration) -> i64 {
    trove_core::now_millis() - d.as_millis() as i64
}

/// A bounded list for reports: what went, the first `limit` of it.
struct Sample {
    items: Vec<serde_json::Value>,
    limit: usize,
    total: u64,
}

impl Sample {
    fn new(limit: usize) -> Sample {
        Sample {
            items: Vec::new(),
            limit,
            total: 0,
        }
    }
    fn push(&mut self, v: serde_json::Value) {
        self.total += 1;
        if self.items.len() < self.limit {
            self.items.push(v);
        }
    }
}

/// Peak resident memory of this process (VmHWM), for reports of long runs.
pub fn peak_rss_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}
