//! The storage lifecycle (issue 15), as the console and the REST API see it: cleanup policies
//! (list, create, edit, delete; the same rules check `[[cleanup_policy]]` in trove.toml), the
//! tasks the node runs (garbage collection, each cleanup policy, upload expiry) with their
//! last runs, running one now or as a dry run, and purging a repository's content.

use serde::{Deserialize, Serialize};
use trove_store::{PolicyRow, TaskRun};

use crate::audit::json_of;
use crate::{Actor, Service, ServiceError, ServiceResult, UI, read_only_reason};

/// A cleanup policy as written: the keys of `[[cleanup_policy]]` in trove.toml.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct PolicyInput {
    pub name: String,
    /// A format id (`docker`, `raw`) or `*` for any (the default).
    #[serde(default)]
    pub format: Option<String>,
    #[serde(default)]
    pub description: String,
    /// Keep the N most recent versions of each component (per image for docker), whatever the
    /// other criteria say.
    #[serde(default)]
    pub keep_latest: Option<u32>,
    /// Versions published (last pushed) more than N days ago.
    #[serde(default)]
    pub published_before_days: Option<u32>,
    /// Versions last downloaded more than N days ago, or never downloaded and published more
    /// than N days ago.
    #[serde(default)]
    pub last_downloaded_before_days: Option<u32>,
    /// Versions whose `<component>:<version>` (docker `<image>:<tag>`) matches.
    #[serde(default)]
    pub name_regex: Option<String>,
}

/// A cleanup policy as both front ends show it.
#[derive(Debug, Clone, Serialize)]
pub struct PolicyView {
    pub name: String,
    pub format: String,
    pub description: String,
    pub keep_latest: Option<u32>,
    pub published_before_days: Option<u32>,
    pub last_downloaded_before_days: Option<u32>,
    pub name_regex: Option<String>,
    pub managed_by: String,
    pub read_only: Option<&'static str>,
    /// The repositories it runs on.
    pub used_by: Vec<String>,
    /// Its task: `POST /service/rest/v1/tasks/{task}/run` (with `?dry_run=true`: the preview).
    pub task: String,
}

/// The task id of cleanup policy `name`.
pub fn policy_task(name: &str) -> String {
    format!("cleanup:{name}")
}

/// The name grammar of policies (as of repositories and rules): 1–64 of `A-Z a-z 0-9 . _ -`,
/// not starting with `.` or `-`.
fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && !name.starts_with(['.', '-'])
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

/// Checks a policy; errors name the field. The file, the console and the API share it.
pub fn validate_policy(input: &PolicyInput) -> ServiceResult<PolicyRow> {
    let name = input.name.trim();
    if !valid_name(name) {
        return Err(ServiceError::invalid(
            "name",
            format!(
                "invalid cleanup policy name {name:?}: use 1-64 of A-Z a-z 0-9 . _ -, not starting with . or -"
            ),
        ));
    }
    let format = input
        .format
        .as_deref()
        .map(str::trim)
        .filter(|f| !f.is_empty())
        .unwrap_or("*");
    if format != "*" {
        trove_formats::registry()
            .find(format)
            .map_err(|e| ServiceError::invalid("format", e))?;
    }
    let name_regex = input
        .name_regex
        .as_deref()
        .map(str::trim)
        .filter(|r| !r.is_empty())
        .map(str::to_owned);
    if let Some(r) = &name_regex {
        trove_formats::patterns::compile(r).map_err(|e| ServiceError::invalid("name_regex", e))?;
    }
    if input.keep_latest.is_none()
        && input.published_before_days.is_none()
        && input.last_downloaded_before_days.is_none()
        && name_regex.is_none()
    {
        return Err(ServiceError::invalid(
            "keep_latest",
            "a cleanup policy needs at least one criterion: keep_latest, published_before_days, \
             last_downloaded_before_days or name_regex (without one it would delete everything)",
        ));
    }
    Ok(PolicyRow {
        name: name.to_owned(),
        format: format.to_owned(),
        description: input.description.trim().to_owned(),
        keep_latest: input.keep_latest,
        published_before_days: input.published_before_days,
        last_downloaded_before_days: input.last_downloaded_before_days,
        name_regex,
        managed_by: UI.into(),
    })
}

/// One run of a task, as both front ends show it.
#[derive(Debug, Clone, Serialize)]
pub struct RunView {
    pub id: String,
    pub dry_run: bool,
    /// `running`, `ok` or `failed`.
    pub outcome: String,
    pub node: String,
    /// Unix millis.
    pub started: i64,
    pub finished: Option<i64>,
    pub duration_ms: Option<i64>,
    /// What it deleted (for a dry run: would delete): rows, blobs, sessions.
    pub deleted: i64,
    pub bytes_freed: i64,
    pub errors: Vec<String>,
    /// The task's own account: counts per kind, and a bounded list of what went.
    pub report: serde_json::Value,
}

impl From<TaskRun> for RunView {
    fn from(r: TaskRun) -> Self {
        RunView {
            duration_ms: r.finished.map(|f| f - r.started),
            id: r.id,
            dry_run: r.dry_run,
            outcome: r.outcome,
            node: r.node,
            started: r.started,
            finished: r.finished,
            deleted: r.deleted,
            bytes_freed: r.bytes_freed,
            errors: r.errors,
            report: r.report,
        }
    }
}

/// A task of the node, as the node describes it ([`crate::Node::tasks`]).
#[derive(Debug, Clone)]
pub struct TaskSpec {
    /// `gc`, `upload-expiry`, `cleanup:<policy>`.
    pub id: String,
    /// `gc`, `cleanup`, `upload-expiry`.
    pub kind: &'static str,
    pub name: String,
    pub description: String,
    /// Seconds between scheduled runs.
    pub interval_seconds: Option<u64>,
    /// When it runs next (unix millis).
    pub next_run: Option<i64>,
    /// Whether a run is in progress (on any node).
    pub running: bool,
}

/// A task with its last runs.
#[derive(Debug, Clone, Serialize)]
pub struct TaskView {
    pub id: String,
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub name: String,
    pub description: String,
    pub interval_seconds: Option<u64>,
    /// The last real run (a dry run changes nothing, so it does not move the schedule).
    pub last_run: Option<RunView>,
    pub last_dry_run: Option<RunView>,
    pub next_run: Option<i64>,
    pub running: bool,
}

/// What a purge did.
#[derive(Debug, Clone, Serialize)]
pub struct PurgeView {
    pub repository: String,
    /// Asset rows deleted; their bytes come back at the next garbage collection.
    pub deleted_assets: u64,
    /// Upload sessions ended.
    pub uploads_ended: u64,
    /// Whether the repository itself went (one removed from trove.toml).
    pub repository_removed: bool,
}

impl Service {
    /// Every cleanup policy, by name (administrators).
    pub async fn cleanup_policies(&self, caller: &Actor) -> ServiceResult<Vec<PolicyView>> {
        self.require_admin(caller)?;
        let rows = self.meta.cleanup().list().await?;
        let mut out = Vec::new();
        for r in rows {
            let used_by = self.meta.cleanup().used_by(&r.name).await?;
            out.push(policy_view(r, used_by));
        }
        Ok(out)
    }

    pub async fn cleanup_policy(&self, caller: &Actor, name: &str) -> ServiceResult<PolicyView> {
        self.require_admin(caller)?;
        let row =
            self.meta.cleanup().get(name).await?.ok_or_else(|| {
                ServiceError::not_found(format!("no cleanup policy named {name}"))
            })?;
        let used_by = self.meta.cleanup().used_by(name).await?;
        Ok(policy_view(row, used_by))
    }

    pub async fn create_cleanup_policy(
        &self,
        caller: &Actor,
        input: &PolicyInput,
    ) -> ServiceResult<PolicyView> {
        self.require_admin(caller)?;
        let row = validate_policy(input)?;
        self.meta.cleanup().create(&row).await?;
        let applied = self.refresh().await;
        tracing::info!(policy = %row.name, by = %**caller, "cleanup policy created");
        let after = self.cleanup_policy(caller, &row.name).await;
        self.record(
            caller,
            "create",
            "cleanup-policy",
            &row.name,
            None,
            after.as_ref().ok().and_then(json_of),
        )
        .await;
        applied?;
        after
    }

    pub async fn update_cleanup_policy(
        &self,
        caller: &Actor,
        name: &str,
        input: &PolicyInput,
    ) -> ServiceResult<PolicyView> {
        self.require_admin(caller)?;
        if input.name.trim() != name {
            return Err(ServiceError::invalid(
                "name",
                format!(
                    "a cleanup policy cannot be renamed ({name} → {})",
                    input.name.trim()
                ),
            ));
        }
        let row = validate_policy(input)?;
        let before = self.cleanup_policy(caller, name).await.ok();
        self.meta.cleanup().update(&row).await?;
        let applied = self.refresh().await;
        tracing::info!(policy = %name, by = %**caller, "cleanup policy updated");
        let after = self.cleanup_policy(caller, name).await;
        self.record(
            caller,
            "update",
            "cleanup-policy",
            name,
            before.as_ref().and_then(json_of),
            after.as_ref().ok().and_then(json_of),
        )
        .await;
        applied?;
        after
    }

    pub async fn delete_cleanup_policy(&self, caller: &Actor, name: &str) -> ServiceResult<()> {
        self.require_admin(caller)?;
        let before = self.cleanup_policy(caller, name).await.ok();
        self.meta.cleanup().delete(name, UI).await?;
        let applied = self.refresh().await;
        tracing::info!(policy = %name, by = %**caller, "cleanup policy deleted");
        self.record(
            caller,
            "delete",
            "cleanup-policy",
            name,
            before.as_ref().and_then(json_of),
            None,
        )
        .await;
        applied
    }

    /// The node's tasks with their last runs (administrators).
    pub async fn tasks(&self, caller: &Actor) -> ServiceResult<Vec<TaskView>> {
        self.require_admin(caller)?;
        let specs = self.node.tasks().await?;
        let mut out = Vec::new();
        for spec in specs {
            out.push(self.task_view(spec).await?);
        }
        Ok(out)
    }

    pub async fn task(&self, caller: &Actor, id: &str) -> ServiceResult<TaskView> {
        self.require_admin(caller)?;
        let spec = self
            .node
            .tasks()
            .await?
            .into_iter()
            .find(|t| t.id == id)
            .ok_or_else(|| ServiceError::not_found(format!("no task {id}")))?;
        self.task_view(spec).await
    }

    async fn task_view(&self, spec: TaskSpec) -> ServiceResult<TaskView> {
        let last_run = self.meta.tasks().last(&spec.id, Some(false)).await?;
        let last_dry_run = self.meta.tasks().last(&spec.id, Some(true)).await?;
        Ok(TaskView {
            id: spec.id,
            kind: spec.kind,
            name: spec.name,
            description: spec.description,
            interval_seconds: spec.interval_seconds,
            last_run: last_run.map(RunView::from),
            last_dry_run: last_dry_run.map(RunView::from),
            next_run: spec.next_run,
            running: spec.running,
        })
    }

    /// Runs task `id` now and answers its run once it ended; with `dry_run`, reports what it
    /// would delete and free and changes nothing (a cleanup policy's preview). The run goes
    /// on if the caller goes away.
    pub async fn run_task(
        &self,
        caller: &Actor,
        id: &str,
        dry_run: bool,
    ) -> ServiceResult<RunView> {
        self.require_admin(caller)?;
        tracing::info!(task = %id, dry_run, by = %**caller, "task run asked for");
        match self.node.run_task(id, dry_run).await {
            Ok(Some(run)) => {
                // A real run deletes content: the audit log says who asked and what went.
                if !dry_run {
                    let summary = serde_json::json!({
                        "run": run.id, "outcome": run.outcome, "deleted": run.deleted,
                        "bytes_freed": run.bytes_freed, "errors": run.errors,
                    });
                    self.record(caller, "run", "task", id, None, Some(summary))
                        .await;
                }
                Ok(run.into())
            }
            Ok(None) => Err(ServiceError::not_found(format!("no task {id}"))),
            Err(e) => match e.downcast::<trove_core::Error>() {
                Ok(core) => Err(core.into()),
                Err(e) => Err(e.into()),
            },
        }
    }

    /// Deletes every asset of repository `name` and ends its upload sessions; the bytes come
    /// back at the next garbage collection. A repository removed from trove.toml (disabled,
    /// kept until purged) is removed too. Immutable tags do not stop a purge: it is an
    /// administrator's explicit act.
    pub async fn purge_repository(&self, caller: &Actor, name: &str) -> ServiceResult<PurgeView> {
        self.require_admin(caller)?;
        let records = self.meta.repos().records().await?;
        let record = records
            .iter()
            .find(|r| r.config.name.as_str() == name)
            .ok_or_else(|| ServiceError::not_found(format!("no repository named {name}")))?;
        let report = purge(&self.meta, self.blobs.as_ref(), record).await?;
        let applied = self.refresh().await;
        tracing::warn!(
            repository = %name, by = %**caller, deleted = report.deleted_assets,
            removed = report.repository_removed, "repository purged"
        );
        self.record(caller, "purge", "repository", name, None, json_of(&report))
            .await;
        applied?;
        Ok(report)
    }
}

/// The purge itself, for the service and `trove repo purge`.
pub async fn purge(
    meta: &trove_store::MetadataStore,
    blobs: &dyn trove_core::BlobStore,
    record: &trove_store::RepoRecord,
) -> trove_core::Result<PurgeView> {
    let id = &record.config.id;
    let mut uploads_ended = 0;
    for u in meta.uploads().of_repository(id).await? {
        if let Ok(upload) = trove_core::UploadId::parse(&u) {
            match blobs.abort(&upload).await {
                Ok(()) => {}
                Err(e) if e.kind == trove_core::ErrorKind::NotFound => {}
                Err(e) => return Err(e),
            }
        }
        meta.uploads().delete(&u).await?;
        uploads_ended += 1;
    }
    let deleted_assets = meta.assets().purge(id).await?;
    let removable = record.managed_by == "config" && !record.config.online;
    if removable {
        meta.repos()
            .remove_undeclared(record.config.name.as_str())
            .await?;
    }
    Ok(PurgeView {
        repository: record.config.name.to_string(),
        deleted_assets,
        uploads_ended,
        repository_removed: removable,
    })
}

fn policy_view(r: PolicyRow, used_by: Vec<String>) -> PolicyView {
    PolicyView {
        task: policy_task(&r.name),
        read_only: read_only_reason(&r.managed_by),
        name: r.name,
        format: r.format,
        description: r.description,
        keep_latest: r.keep_latest,
        published_before_days: r.published_before_days,
        last_downloaded_before_days: r.last_downloaded_before_days,
        name_regex: r.name_regex,
        managed_by: r.managed_by,
        used_by,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input(json: serde_json::Value) -> PolicyInput {
        serde_json::from_value(json).unwrap()
    }

    #[test]
    fn policies_are_checked_field_by_field() {
        let ok = validate_policy(&input(
            serde_json::json!({"name": "keep-2", "format": "docker", "keep_latest": 2}),
        ))
        .unwrap();
        assert_eq!((ok.format.as_str(), ok.keep_latest), ("docker", Some(2)));
        assert_eq!(
            validate_policy(&input(
                serde_json::json!({"name": "any", "published_before_days": 30})
            ))
            .unwrap()
            .format,
            "*"
        );
        let cases = [
            (
                serde_json::json!({"name": "none"}),
                "keep_latest",
                "at least one criterion",
            ),
            (
                serde_json::json!({"name": "-x", "keep_latest": 1}),
                "name",
                "invalid cleanup policy name",
            ),
            (
                serde_json::json!({"name": "f", "format": "cobol", "keep_latest": 1}),
                "format",
                "unknown format",
            ),
            (
                serde_json::json!({"name": "r", "name_regex": "(x"}),
                "name_regex",
                "not a valid regular expression",
            ),
        ];
        for (json, field, want) in cases {
            let e = validate_policy(&input(json.clone())).unwrap_err();
            assert_eq!(e.field(), Some(field), "{json}");
            assert!(e.message().contains(want), "{json}: {}", e.message());
        }
        assert!(
            serde_json::from_value::<PolicyInput>(serde_json::json!({"name": "x", "keep": 1}))
                .is_err(),
            "unknown keys are refused"
        );
    }
}
