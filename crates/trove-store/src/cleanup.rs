//! Cleanup policies as rows: declared in trove.toml (`[[cleanup_policy]]`, `managed_by =
//! 'config'`) or created in the console and the REST API. The store keeps them as data; the
//! service layer validates them and the server evaluates them.

use sqlx::Row;
use trove_core::{Error, ErrorKind, Result, now_millis};

use crate::repos::check_owner;
use crate::sqlite::{Conn, DbRow, Pool, Tx, db_err, dialect};

/// A cleanup policy as stored. Every criterion that is set must hold for a version to be
/// deleted; `keep_latest` protects the most recent versions of each component whatever the
/// other criteria say.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PolicyRow {
    pub name: String,
    /// A format id, or `*` for any.
    pub format: String,
    pub description: String,
    pub keep_latest: Option<u32>,
    pub published_before_days: Option<u32>,
    pub last_downloaded_before_days: Option<u32>,
    pub name_regex: Option<String>,
    pub managed_by: String,
}

pub struct Cleanup<'a>(pub(crate) &'a Pool);

fn u32_of(row: &DbRow, col: &str) -> Option<u32> {
    row.get::<Option<i64>, _>(col)
        .map(|v| u32::try_from(v.max(0)).unwrap_or(u32::MAX))
}

fn policy_from_row(row: &DbRow) -> PolicyRow {
    PolicyRow {
        name: row.get("name"),
        format: row.get("format"),
        description: row.get("description"),
        keep_latest: u32_of(row, "keep_latest"),
        published_before_days: u32_of(row, "published_before_days"),
        last_downloaded_before_days: u32_of(row, "last_downloaded_before_days"),
        name_regex: row.get("name_regex"),
        managed_by: row.get("managed_by"),
    }
}

const SELECT: &str = "SELECT name, format, description, keep_latest, published_before_days, \
     last_downloaded_before_days, name_regex, managed_by FROM cleanup_policies";

fn opt(v: Option<u32>) -> Option<i64> {
    v.map(i64::from)
}

impl Cleanup<'_> {
    /// Every policy, by name.
    pub async fn list(&self) -> Result<Vec<PolicyRow>> {
        let rows = sqlx::query(
            "SELECT name, format, description, keep_latest, published_before_days, \
             last_downloaded_before_days, name_regex, managed_by FROM cleanup_policies ORDER BY name",
        )
        .fetch_all(self.0)
        .await
        .map_err(db_err)?;
        Ok(rows.iter().map(policy_from_row).collect())
    }

    /// The policy called `name`.
    pub async fn get(&self, name: &str) -> Result<Option<PolicyRow>> {
        let row = sqlx::query(
            "SELECT name, format, description, keep_latest, published_before_days, \
             last_downloaded_before_days, name_regex, managed_by FROM cleanup_policies WHERE name = $1",
        )
        .bind(name)
        .fetch_optional(self.0)
        .await
        .map_err(db_err)?;
        Ok(row.as_ref().map(policy_from_row))
    }

    /// Creates a policy owned by `p.managed_by`; a taken name is `AlreadyExists`.
    pub async fn create(&self, p: &PolicyRow) -> Result<()> {
        let now = now_millis();
        let r = sqlx::query(
            "INSERT INTO cleanup_policies (id, name, format, description, keep_latest, \
             published_before_days, last_downloaded_before_days, name_regex, managed_by, created, updated) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $10) ON CONFLICT (name) DO NOTHING",
        )
        .bind(uuid::Uuid::now_v7().to_string())
        .bind(&p.name)
        .bind(&p.format)
        .bind(&p.description)
        .bind(opt(p.keep_latest))
        .bind(opt(p.published_before_days))
        .bind(opt(p.last_downloaded_before_days))
        .bind(&p.name_regex)
        .bind(&p.managed_by)
        .bind(now)
        .execute(self.0)
        .await
        .map_err(db_err)?;
        if r.rows_affected() == 0 {
            return Err(Error::new(
                ErrorKind::AlreadyExists,
                format!("a cleanup policy named {} already exists", p.name),
            ));
        }
        Ok(())
    }

    /// Replaces a policy owned by `p.managed_by`; one declared in trove.toml is refused.
    pub async fn update(&self, p: &PolicyRow) -> Result<()> {
        let mut tx = Tx::begin_write(self.0).await?;
        let owner = owner(&mut tx, &p.name).await?;
        check_owner(&p.name, &owner, &p.managed_by)?;
        write(&mut tx, p, now_millis()).await?;
        tx.commit().await
    }

    /// Deletes a policy owned by `managed_by`. One still assigned to a repository is refused
    /// (`Invalid`, naming the repositories).
    pub async fn delete(&self, name: &str, managed_by: &str) -> Result<()> {
        let mut tx = Tx::begin_write(self.0).await?;
        let owner = owner(&mut tx, name).await?;
        check_owner(name, &owner, managed_by)?;
        let users = users(&mut tx, name).await?;
        if !users.is_empty() {
            return Err(Error::invalid(format!(
                "cleanup policy {name} is used by {}; remove it from them first",
                users.join(", ")
            )));
        }
        sqlx::query("DELETE FROM cleanup_policies WHERE name = $1")
            .bind(name)
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
        tx.commit().await
    }

    /// The repositories that list policy `name`, by name.
    pub async fn used_by(&self, name: &str) -> Result<Vec<String>> {
        sqlx::query_scalar(dialect::REPOS_USING_POLICY)
            .bind(name)
            .fetch_all(self.0)
            .await
            .map_err(db_err)
    }

    /// Makes the config-owned policies match `declared` (as routing rules: see
    /// `Rules::reconcile`): creates and replaces, taking over a console policy of the same
    /// name; with `remove_stale`, deletes config policies no longer declared, or hands one a
    /// repository still uses over to the console. Returns whether anything changed.
    pub async fn reconcile(&self, declared: &[PolicyRow], remove_stale: bool) -> Result<bool> {
        let mut tx = Tx::begin_write(self.0).await?;
        let before: Vec<PolicyRow> = sqlx::query(SELECT)
            .fetch_all(&mut *tx)
            .await
            .map_err(db_err)?
            .iter()
            .map(policy_from_row)
            .collect();
        let now = now_millis();
        let mut changed = false;
        for d in declared {
            let d = PolicyRow {
                managed_by: "config".into(),
                ..d.clone()
            };
            if before.contains(&d) {
                continue;
            }
            changed = true;
            sqlx::query(
                "INSERT INTO cleanup_policies (id, name, format, description, managed_by, created, updated) \
                 VALUES ($1, $2, $3, $4, 'config', $5, $5) ON CONFLICT (name) DO NOTHING",
            )
            .bind(uuid::Uuid::now_v7().to_string())
            .bind(&d.name)
            .bind(&d.format)
            .bind(&d.description)
            .bind(now)
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
            write(&mut tx, &d, now).await?;
        }
        for old in before.iter().filter(|p| p.managed_by == "config") {
            if !remove_stale || declared.iter().any(|d| d.name == old.name) {
                continue;
            }
            changed = true;
            let sql = if users(&mut tx, &old.name).await?.is_empty() {
                "DELETE FROM cleanup_policies WHERE name = $1"
            } else {
                "UPDATE cleanup_policies SET managed_by = 'ui' WHERE name = $1"
            };
            sqlx::query(sql)
                .bind(&old.name)
                .execute(&mut *tx)
                .await
                .map_err(db_err)?;
        }
        tx.commit().await?;
        Ok(changed)
    }
}

async fn write(conn: &mut Conn, p: &PolicyRow, now: i64) -> Result<()> {
    sqlx::query(
        "UPDATE cleanup_policies SET format = $2, description = $3, keep_latest = $4, \
         published_before_days = $5, last_downloaded_before_days = $6, name_regex = $7, \
         managed_by = $8, updated = $9 WHERE name = $1",
    )
    .bind(&p.name)
    .bind(&p.format)
    .bind(&p.description)
    .bind(opt(p.keep_latest))
    .bind(opt(p.published_before_days))
    .bind(opt(p.last_downloaded_before_days))
    .bind(&p.name_regex)
    .bind(&p.managed_by)
    .bind(now)
    .execute(&mut *conn)
    .await
    .map_err(db_err)?;
    Ok(())
}

async fn owner(conn: &mut Conn, name: &str) -> Result<String> {
    sqlx::query_scalar("SELECT managed_by FROM cleanup_policies WHERE name = $1")
        .bind(name)
        .fetch_optional(&mut *conn)
        .await
        .map_err(db_err)?
        .ok_or_else(|| Error::not_found(format!("no cleanup policy named {name}")))
}

async fn users(conn: &mut Conn, name: &str) -> Result<Vec<String>> {
    sqlx::query_scalar(dialect::REPOS_USING_POLICY)
        .bind(name)
        .fetch_all(&mut *conn)
        .await
        .map_err(db_err)
}
