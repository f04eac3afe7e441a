//! Health, the dashboard and the Prometheus text.

use crate::Actor;
use serde::Serialize;

use crate::metrics::MetricsSnapshot;
use crate::{RepoView, Service, ServiceError, ServiceResult};

/// `/service/rest/v1/status` and `/status/writable`.
#[derive(Debug, Clone, Serialize)]
pub struct Health {
    pub ok: bool,
    pub version: &'static str,
    /// What failed, when not ok.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct BlobStoreView {
    pub name: &'static str,
    pub kind: &'static str,
    pub path: String,
    pub blobs: i64,
    pub bytes: i64,
    /// Free bytes on the blob store's filesystem, when known.
    pub free_bytes: Option<u64>,
    /// `[storage] quota_bytes` and `quota_soft_bytes`: the blob store's quotas.
    pub quota_bytes: Option<u64>,
    pub quota_soft_bytes: Option<u64>,
    /// `[storage] min_free_bytes`: below it, new uploads are refused (507).
    pub min_free_bytes: u64,
    /// What the console, the API and metrics warn about: a soft quota passed, a hard quota
    /// reached, free space below the floor.
    pub warnings: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Dashboard {
    pub version: &'static str,
    pub repositories: Vec<RepoView>,
    pub blob_store: BlobStoreView,
    pub requests: MetricsSnapshot,
}

const VERSION: &str = env!("CARGO_PKG_VERSION");

impl Service {
    /// Whether this node answers and reads its database (no authentication: for load
    /// balancers).
    pub async fn health(&self) -> Health {
        match self.meta.repos().list().await {
            Ok(_) => Health {
                ok: true,
                version: VERSION,
                error: None,
            },
            Err(e) => Health {
                ok: false,
                version: VERSION,
                error: Some(e.msg),
            },
        }
    }

    /// Whether this node can write: a write to the database and a file written, synced and
    /// removed in the blob store's directory.
    pub async fn health_writable(&self) -> Health {
        let db = self.meta.probe_write().await;
        let dir = self.blob_dir();
        let fs = tokio::task::spawn_blocking(move || -> std::io::Result<()> {
            use std::io::Write;
            let path = dir.join(format!(
                ".writable-{}-{}",
                std::process::id(),
                trove_core::now_millis()
            ));
            let mut f = std::fs::File::create(&path)?;
            f.write_all(b"ok")?;
            f.sync_all()?;
            std::fs::remove_file(&path)
        })
        .await;
        let floor =
            trove_hosted_free_space(self.blobs.as_ref(), self.node.info().storage.min_free_bytes)
                .await;
        let error = match (db, fs, floor) {
            (Err(e), _, _) => Some(format!("metadata database: {}", e.msg)),
            (_, Ok(Err(e)), _) => Some(format!("blob store: {e}")),
            (_, Err(e), _) => Some(format!("blob store: {e}")),
            (_, _, Some(why)) => Some(format!("blob store: {why}")),
            _ => None,
        };
        Health {
            ok: error.is_none(),
            version: VERSION,
            error,
        }
    }

    fn blob_dir(&self) -> std::path::PathBuf {
        self.node.info().blob_dir
    }

    pub async fn blob_store(&self, caller: &Actor) -> ServiceResult<BlobStoreView> {
        self.require_admin(caller)?;
        self.blob_store_view().await
    }

    async fn blob_store_view(&self) -> ServiceResult<BlobStoreView> {
        let (blobs, bytes) = self.meta.assets().blob_totals().await?;
        let dir = self.blob_dir();
        let free_bytes = match self.blobs.free_space().await {
            Ok(Some(f)) => Some(f),
            _ => free_bytes(&dir),
        };
        let limits = self.node.info().storage;
        let used = bytes.max(0) as u64;
        let mut warnings = Vec::new();
        let h = trove_core::lifecycle::human_bytes;
        if let Some(q) = limits.quota_bytes
            && used >= q
        {
            warnings.push(format!(
                "the blob store is at its hard quota: {} of [storage] quota_bytes {}; writes are refused",
                h(used),
                h(q)
            ));
        } else if let Some(q) = limits.quota_soft_bytes
            && used > q
        {
            warnings.push(format!(
                "the blob store is over its soft quota: {} of [storage] quota_soft_bytes {}",
                h(used),
                h(q)
            ));
        }
        if let Some(free) = free_bytes
            && limits.min_free_bytes > 0
            && free < limits.min_free_bytes
        {
            warnings.push(format!(
                "{} free, below [storage] min_free_bytes {}: new uploads are refused",
                h(free),
                h(limits.min_free_bytes)
            ));
        }
        Ok(BlobStoreView {
            name: "default",
            kind: "file",
            path: dir.display().to_string(),
            blobs,
            bytes,
            free_bytes,
            quota_bytes: limits.quota_bytes,
            quota_soft_bytes: limits.quota_soft_bytes,
            min_free_bytes: limits.min_free_bytes,
            warnings,
        })
    }

    pub async fn dashboard(&self, caller: &Actor) -> ServiceResult<Dashboard> {
        self.require_admin(caller)?;
        self.dashboard_view().await
    }

    async fn dashboard_view(&self) -> ServiceResult<Dashboard> {
        Ok(Dashboard {
            version: VERSION,
            repositories: self.all_repositories().await?,
            blob_store: self.blob_store_view().await?,
            requests: self.node.metrics(),
        })
    }

    /// Prometheus text exposition (version 0.0.4) of requests, repositories, storage and
    /// upstreams. Needs the `metrics` application permission (the built-in role `metrics`, so
    /// a scraper's credential can read it and nothing else), which administrators have.
    pub async fn prometheus(&self, caller: &Actor) -> ServiceResult<String> {
        use std::fmt::Write;
        if !self.auth.may(&caller.identity, trove_auth::METRICS) {
            return Err(if caller.is_anonymous() {
                ServiceError::Unauthenticated {
                    message: "authentication required".into(),
                }
            } else {
                ServiceError::forbidden(format!(
                    "{caller} may not read metrics (needs the nx-metrics-all privilege: role metrics)"
                ))
            });
        }
        let d = self.dashboard_view().await?;
        let m = &d.requests;
        let mut out = String::new();
        let metric = |out: &mut String, name: &str, kind: &str, help: &str| {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
        };
        metric(
            &mut out,
            "trove_http_requests_total",
            "counter",
            "HTTP requests answered, by status class.",
        );
        for (class, n) in &m.by_class {
            let _ = writeln!(out, "trove_http_requests_total{{class=\"{class}\"}} {n}");
        }
        metric(
            &mut out,
            "trove_http_client_aborts_total",
            "counter",
            "Requests the client abandoned mid-body (aborted uploads); not server errors.",
        );
        let _ = writeln!(out, "trove_http_client_aborts_total {}", m.client_aborts);
        metric(
            &mut out,
            "trove_http_request_duration_seconds",
            "histogram",
            "Time to answer a request (head written; streamed bodies not included).",
        );
        for (le, n) in &m.duration_buckets {
            let le = if le.is_infinite() {
                "+Inf".to_owned()
            } else {
                le.to_string()
            };
            let _ = writeln!(
                out,
                "trove_http_request_duration_seconds_bucket{{le=\"{le}\"}} {n}"
            );
        }
        let _ = writeln!(
            out,
            "trove_http_request_duration_seconds_sum {}",
            m.duration_seconds_sum
        );
        let _ = writeln!(
            out,
            "trove_http_request_duration_seconds_count {}",
            m.requests_total
        );
        let gauge = |out: &mut String, name: &str, help: &str, rows: Vec<(String, String)>| {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} gauge");
            for (labels, v) in rows {
                let _ = writeln!(out, "{name}{labels} {v}");
            }
        };
        let repo = |r: &RepoView| format!("{{repository=\"{}\"}}", r.name);
        gauge(
            &mut out,
            "trove_repository_blob_bytes",
            "Bytes of the distinct blobs a repository links.",
            d.repositories
                .iter()
                .map(|r| (repo(r), r.usage.bytes.to_string()))
                .collect(),
        );
        gauge(
            &mut out,
            "trove_repository_assets",
            "Assets (tags, manifests, blobs) a repository holds.",
            d.repositories
                .iter()
                .map(|r| (repo(r), r.usage.assets.to_string()))
                .collect(),
        );
        gauge(
            &mut out,
            "trove_upstream_available",
            "1 when a proxy's upstream is usable, 0 while auto-blocked.",
            d.repositories
                .iter()
                .filter_map(|r| {
                    r.upstream
                        .as_ref()
                        .map(|u| (repo(r), u8::from(u.available).to_string()))
                })
                .collect(),
        );
        gauge(
            &mut out,
            "trove_upstream_consecutive_failures",
            "Connection failures in a row to a proxy's upstream.",
            d.repositories
                .iter()
                .filter_map(|r| {
                    r.upstream
                        .as_ref()
                        .map(|u| (repo(r), u.consecutive_failures.to_string()))
                })
                .collect(),
        );
        gauge(
            &mut out,
            "trove_blob_store_bytes",
            "Bytes of every blob in the blob store.",
            vec![(String::new(), d.blob_store.bytes.to_string())],
        );
        gauge(
            &mut out,
            "trove_blob_store_blobs",
            "Blobs in the blob store.",
            vec![(String::new(), d.blob_store.blobs.to_string())],
        );
        gauge(
            &mut out,
            "trove_repository_quota_bytes",
            "A repository's quotas (quota_bytes: kind hard; quota_soft_bytes: kind soft).",
            d.repositories
                .iter()
                .flat_map(|r| {
                    let q = r.quota.as_ref();
                    [
                        ("hard", q.and_then(|q| q.hard_bytes)),
                        ("soft", q.and_then(|q| q.soft_bytes)),
                    ]
                    .into_iter()
                    .filter_map(move |(kind, v)| {
                        v.map(|v| {
                            (
                                format!("{{repository=\"{}\",kind=\"{kind}\"}}", r.name),
                                v.to_string(),
                            )
                        })
                    })
                })
                .collect(),
        );
        gauge(
            &mut out,
            "trove_repository_over_quota",
            "1 when a repository's usage passed its soft quota (kind soft) or reached its hard quota (kind hard).",
            d.repositories
                .iter()
                .filter_map(|r| r.quota.as_ref().map(|q| (r, q)))
                .flat_map(|(r, q)| {
                    [
                        ("soft", q.soft_bytes.map(|_| q.over_soft)),
                        ("hard", q.hard_bytes.map(|_| q.at_hard)),
                    ]
                    .into_iter()
                    .filter_map(move |(kind, v)| {
                        v.map(|v| {
                            (
                                format!("{{repository=\"{}\",kind=\"{kind}\"}}", r.name),
                                u8::from(v).to_string(),
                            )
                        })
                    })
                })
                .collect(),
        );
        let store = &d.blob_store;
        gauge(
            &mut out,
            "trove_blob_store_quota_bytes",
            "The blob store's quotas ([storage] quota_bytes: kind hard; quota_soft_bytes: kind soft).",
            [
                ("hard", store.quota_bytes),
                ("soft", store.quota_soft_bytes),
            ]
            .into_iter()
            .filter_map(|(k, v)| v.map(|v| (format!("{{kind=\"{k}\"}}"), v.to_string())))
            .collect(),
        );
        gauge(
            &mut out,
            "trove_blob_store_free_bytes",
            "Free bytes on the blob store's filesystem.",
            store
                .free_bytes
                .map(|f| vec![(String::new(), f.to_string())])
                .unwrap_or_default(),
        );
        gauge(
            &mut out,
            "trove_blob_store_warnings",
            "Warnings about the blob store (quota, free space); the console and the API say which.",
            vec![(String::new(), store.warnings.len().to_string())],
        );
        let life = self.node.lifecycle_metrics();
        metric(
            &mut out,
            "trove_gc_bytes_freed_total",
            "counter",
            "Bytes garbage collection removed from the blob store (real runs).",
        );
        let _ = writeln!(out, "trove_gc_bytes_freed_total {}", life.gc_bytes_freed);
        let labels = |(kind, dry, outcome): &(String, bool, String)| {
            format!("{{task=\"{kind}\",dry_run=\"{dry}\",outcome=\"{outcome}\"}}")
        };
        metric(
            &mut out,
            "trove_task_runs_total",
            "counter",
            "Runs of the storage lifecycle's tasks (gc, cleanup, upload-expiry).",
        );
        for (k, c) in &life.tasks {
            let _ = writeln!(out, "trove_task_runs_total{} {}", labels(k), c.runs);
        }
        metric(
            &mut out,
            "trove_task_deleted_total",
            "counter",
            "What the lifecycle's tasks deleted (dry runs: would delete).",
        );
        for (k, c) in &life.tasks {
            let _ = writeln!(out, "trove_task_deleted_total{} {}", labels(k), c.deleted);
        }
        metric(
            &mut out,
            "trove_task_duration_seconds",
            "summary",
            "Time the lifecycle's tasks took.",
        );
        for (k, c) in &life.tasks {
            let l = labels(k);
            let _ = writeln!(
                out,
                "trove_task_duration_seconds_sum{l} {}",
                c.duration_seconds_sum
            );
            let _ = writeln!(out, "trove_task_duration_seconds_count{l} {}", c.runs);
        }
        gauge(
            &mut out,
            "trove_uptime_seconds",
            "Seconds since this node started.",
            vec![(String::new(), m.uptime_seconds.to_string())],
        );
        Ok(out)
    }
}

/// Why the blob store refuses new uploads for lack of space, if it does.
async fn trove_hosted_free_space(
    blobs: &dyn trove_core::BlobStore,
    min_free: u64,
) -> Option<String> {
    if min_free == 0 {
        return None;
    }
    match blobs.free_space().await {
        Ok(Some(free)) if free < min_free => Some(format!(
            "{} free, below [storage] min_free_bytes {}: new uploads are refused",
            trove_core::lifecycle::human_bytes(free),
            trove_core::lifecycle::human_bytes(min_free)
        )),
        _ => None,
    }
}

/// Free bytes on the filesystem holding `dir` (`df`, read through `/proc/self/mountinfo`
/// would need more code than this one `statvfs` call through `nix`: none of our crates has
/// it, so ask `df`, which every Linux has).
fn free_bytes(dir: &std::path::Path) -> Option<u64> {
    let out = std::process::Command::new("df")
        .args(["-B1", "--output=avail"])
        .arg(dir)
        .output()
        .ok()?;
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .nth(1)?
        .trim()
        .parse()
        .ok()
}
