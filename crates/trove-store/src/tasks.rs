//! Runs of the storage lifecycle's tasks (garbage collection, cleanup policies, upload
//! expiry), real and dry, shared by every node: what the console and the REST API show as a
//! task's last run, and what its next run is scheduled from.

use sqlx::Row;
use trove_core::{Result, now_millis};

use crate::sqlite::{DbRow, Pool, db_err};

pub struct Tasks<'a>(pub(crate) &'a Pool);

/// One run of a task.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct TaskRun {
    pub id: String,
    pub task: String,
    pub dry_run: bool,
    /// The node that ran it.
    pub node: String,
    pub started: i64,
    pub finished: Option<i64>,
    /// `running`, `ok` or `failed`.
    pub outcome: String,
    /// What it deleted (rows, blobs, sessions: the task's report says which), or would have.
    pub deleted: i64,
    pub bytes_freed: i64,
    pub errors: Vec<String>,
    /// The task's own account (counts, and a bounded sample of what went).
    pub report: serde_json::Value,
}

/// How a run ended.
#[derive(Debug, Clone, Default)]
pub struct RunEnd {
    pub failed: bool,
    pub deleted: i64,
    pub bytes_freed: i64,
    pub errors: Vec<String>,
    pub report: serde_json::Value,
}

fn run_from_row(r: &DbRow) -> TaskRun {
    let errors: String = r.get("errors");
    let report: String = r.get("report");
    TaskRun {
        id: r.get("id"),
        task: r.get("task"),
        dry_run: r.get::<i64, _>("dry_run") != 0,
        node: r.get("node"),
        started: r.get("started"),
        finished: r.get("finished"),
        outcome: r.get("outcome"),
        deleted: r.get("deleted"),
        bytes_freed: r.get("bytes_freed"),
        errors: serde_json::from_str(&errors).unwrap_or_default(),
        report: serde_json::from_str(&report).unwrap_or(serde_json::Value::Null),
    }
}

/// Runs kept per task and kind (real, dry); older ones are deleted as new ones start.
const KEEP: i64 = 20;

impl Tasks<'_> {
    /// Records that `node` started `task`; returns the run's id. A run of the same task that
    /// is still marked running was cut short (its node stopped or was killed: a task runs
    /// under a lease, so two never run at once) and is marked failed.
    pub async fn start(&self, task: &str, dry_run: bool, node: &str) -> Result<String> {
        let now = now_millis();
        sqlx::query(
            "UPDATE task_runs SET outcome = 'failed', finished = $2, \
             errors = '[\"interrupted: its node stopped before the run ended\"]' \
             WHERE task = $1 AND outcome = 'running'",
        )
        .bind(task)
        .bind(now)
        .execute(self.0)
        .await
        .map_err(db_err)?;
        let id = uuid::Uuid::now_v7().to_string();
        sqlx::query(
            "INSERT INTO task_runs (id, task, dry_run, node, started, outcome) \
             VALUES ($1, $2, $3, $4, $5, 'running')",
        )
        .bind(&id)
        .bind(task)
        .bind(i64::from(dry_run))
        .bind(node)
        .bind(now)
        .execute(self.0)
        .await
        .map_err(db_err)?;
        sqlx::query(
            "DELETE FROM task_runs WHERE task = $1 AND dry_run = $2 AND id NOT IN \
             (SELECT id FROM task_runs WHERE task = $1 AND dry_run = $2 ORDER BY started DESC LIMIT $3)",
        )
        .bind(task)
        .bind(i64::from(dry_run))
        .bind(KEEP)
        .execute(self.0)
        .await
        .map_err(db_err)?;
        Ok(id)
    }

    /// Records how run `id` ended.
    pub async fn finish(&self, id: &str, end: &RunEnd) -> Result<()> {
        sqlx::query(
            "UPDATE task_runs SET finished = $2, outcome = $3, deleted = $4, bytes_freed = $5, \
             errors = $6, report = $7 WHERE id = $1",
        )
        .bind(id)
        .bind(now_millis())
        .bind(if end.failed { "failed" } else { "ok" })
        .bind(end.deleted)
        .bind(end.bytes_freed)
        .bind(serde_json::to_string(&end.errors).expect("strings serialise"))
        .bind(end.report.to_string())
        .execute(self.0)
        .await
        .map_err(db_err)?;
        Ok(())
    }

    /// The latest run of `task` (of either kind with `dry_run = None`).
    pub async fn last(&self, task: &str, dry_run: Option<bool>) -> Result<Option<TaskRun>> {
        let sql = match dry_run {
            None => {
                "SELECT id, task, dry_run, node, started, finished, outcome, deleted, bytes_freed, errors, report \
                     FROM task_runs WHERE task = $1 AND $2 = $2 ORDER BY started DESC LIMIT 1"
            }
            Some(_) => {
                "SELECT id, task, dry_run, node, started, finished, outcome, deleted, bytes_freed, errors, report \
                        FROM task_runs WHERE task = $1 AND dry_run = $2 ORDER BY started DESC LIMIT 1"
            }
        };
        let row = sqlx::query(sql)
            .bind(task)
            .bind(i64::from(dry_run.unwrap_or(false)))
            .fetch_optional(self.0)
            .await
            .map_err(db_err)?;
        Ok(row.as_ref().map(run_from_row))
    }

    /// One run by id.
    pub async fn get(&self, id: &str) -> Result<Option<TaskRun>> {
        let row = sqlx::query(
            "SELECT id, task, dry_run, node, started, finished, outcome, deleted, bytes_freed, errors, report \
             FROM task_runs WHERE id = $1",
        )
        .bind(id)
        .fetch_optional(self.0)
        .await
        .map_err(db_err)?;
        Ok(row.as_ref().map(run_from_row))
    }

    /// The latest runs of `task`, newest first.
    pub async fn history(&self, task: &str, limit: u32) -> Result<Vec<TaskRun>> {
        let rows = sqlx::query(
            "SELECT id, task, dry_run, node, started, finished, outcome, deleted, bytes_freed, errors, report \
             FROM task_runs WHERE task = $1 ORDER BY started DESC LIMIT $2",
        )
        .bind(task)
        .bind(i64::from(limit))
        .fetch_all(self.0)
        .await
        .map_err(db_err)?;
        Ok(rows.iter().map(run_from_row).collect())
    }
}
