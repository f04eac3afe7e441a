//! Routing rules as rows: declared in trove.toml (`managed_by = 'config'`) or created in the
//! console. The store keeps them as text; `trove-routing` compiles and validates them.

use sqlx::Row;
use trove_core::{Error, ErrorKind, Result, now_millis};

use crate::repos::check_owner;
use crate::sqlite::{Conn, DbRow, Pool, Tx, db_err};

/// A routing rule as stored. `mode` is `allow` or `block`; `matchers` are regex strings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleRow {
    pub name: String,
    pub description: String,
    pub mode: String,
    pub matchers: Vec<String>,
    pub managed_by: String,
}

pub struct Rules<'a>(pub(crate) &'a Pool);

fn rule_from_row(row: &DbRow) -> Result<RuleRow> {
    let name: String = row.get("name");
    let matchers: String = row.get("matchers");
    Ok(RuleRow {
        matchers: serde_json::from_str(&matchers)
            .map_err(|e| Error::internal(format!("stored matchers of rule {name}: {e}")))?,
        name,
        description: row.get("description"),
        mode: row.get("mode"),
        managed_by: row.get("managed_by"),
    })
}

impl Rules<'_> {
    /// Every rule, by name.
    pub async fn list(&self) -> Result<Vec<RuleRow>> {
        sqlx::query(
            "SELECT name, description, mode, matchers, managed_by FROM routing_rules ORDER BY name",
        )
        .fetch_all(self.0)
        .await
        .map_err(db_err)?
        .iter()
        .map(rule_from_row)
        .collect()
    }

    /// Creates a rule (`managed_by` = `ui`); a taken name is `AlreadyExists`.
    pub async fn create(&self, rule: &RuleRow) -> Result<()> {
        let now = now_millis();
        let r = sqlx::query(
            "INSERT INTO routing_rules (id, name, description, mode, matchers, managed_by, created, updated) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $7) ON CONFLICT (name) DO NOTHING",
        )
        .bind(uuid::Uuid::now_v7().to_string())
        .bind(&rule.name)
        .bind(&rule.description)
        .bind(&rule.mode)
        .bind(serde_json::to_string(&rule.matchers).expect("strings serialise"))
        .bind(&rule.managed_by)
        .bind(now)
        .execute(self.0)
        .await
        .map_err(db_err)?;
        if r.rows_affected() == 0 {
            return Err(Error::new(
                ErrorKind::AlreadyExists,
                format!("a routing rule named {} already exists", rule.name),
            ));
        }
        Ok(())
    }

    /// Replaces a rule owned by `rule.managed_by`; a rule declared in trove.toml is refused.
    pub async fn update(&self, rule: &RuleRow) -> Result<()> {
        let mut tx = Tx::begin_write(self.0).await?;
        let owner = owner(&mut tx, &rule.name).await?;
        check_owner(&rule.name, &owner, &rule.managed_by)?;
        sqlx::query(
            "UPDATE routing_rules SET description = $2, mode = $3, matchers = $4, updated = $5 \
             WHERE name = $1",
        )
        .bind(&rule.name)
        .bind(&rule.description)
        .bind(&rule.mode)
        .bind(serde_json::to_string(&rule.matchers).expect("strings serialise"))
        .bind(now_millis())
        .execute(&mut *tx)
        .await
        .map_err(db_err)?;
        tx.commit().await
    }

    /// Deletes a rule owned by `managed_by`. A rule still attached to a repository is refused
    /// (`Invalid`, naming the repositories).
    pub async fn delete(&self, name: &str, managed_by: &str) -> Result<()> {
        let mut tx = Tx::begin_write(self.0).await?;
        let owner = owner(&mut tx, name).await?;
        check_owner(name, &owner, managed_by)?;
        let users: Vec<String> = sqlx::query_scalar(
            "SELECT name FROM repositories WHERE routing_rule = $1 ORDER BY name",
        )
        .bind(name)
        .fetch_all(&mut *tx)
        .await
        .map_err(db_err)?;
        if !users.is_empty() {
            return Err(Error::invalid(format!(
                "routing rule {name} is used by {}; detach it first",
                users.join(", ")
            )));
        }
        sqlx::query("DELETE FROM routing_rules WHERE name = $1")
            .bind(name)
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
        tx.commit().await
    }

    /// Makes the config-owned rules match `declared` in one transaction: creates and replaces
    /// (taking over a console rule of the same name); with `remove_stale`, also deletes config
    /// rules no longer declared — or, when a repository still uses one, hands it over to the
    /// console (`managed_by = 'ui'`) instead of breaking that repository. Run it without
    /// `remove_stale` before the repositories are reconciled and with it after, so a rule and
    /// the repositories that drop it can leave the file together. Returns whether anything
    /// changed.
    pub async fn reconcile(&self, declared: &[RuleRow], remove_stale: bool) -> Result<bool> {
        let mut tx = Tx::begin_write(self.0).await?;
        let before: Vec<RuleRow> =
            sqlx::query("SELECT name, description, mode, matchers, managed_by FROM routing_rules")
                .fetch_all(&mut *tx)
                .await
                .map_err(db_err)?
                .iter()
                .map(rule_from_row)
                .collect::<Result<_>>()?;
        let now = now_millis();
        let mut changed = false;
        for d in declared {
            let d = RuleRow {
                managed_by: "config".into(),
                ..d.clone()
            };
            if before.contains(&d) {
                continue;
            }
            changed = true;
            sqlx::query(
                "INSERT INTO routing_rules (id, name, description, mode, matchers, managed_by, created, updated) \
                 VALUES ($1, $2, $3, $4, $5, 'config', $6, $6) ON CONFLICT (name) DO UPDATE SET \
                 description = excluded.description, mode = excluded.mode, \
                 matchers = excluded.matchers, managed_by = 'config', updated = excluded.updated",
            )
            .bind(uuid::Uuid::now_v7().to_string())
            .bind(&d.name)
            .bind(&d.description)
            .bind(&d.mode)
            .bind(serde_json::to_string(&d.matchers).expect("strings serialise"))
            .bind(now)
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
        }
        for old in before.iter().filter(|r| r.managed_by == "config") {
            if !remove_stale || declared.iter().any(|d| d.name == old.name) {
                continue;
            }
            changed = true;
            let used: Option<String> =
                sqlx::query_scalar("SELECT name FROM repositories WHERE routing_rule = $1 LIMIT 1")
                    .bind(&old.name)
                    .fetch_optional(&mut *tx)
                    .await
                    .map_err(db_err)?;
            let sql = match used {
                Some(_) => "UPDATE routing_rules SET managed_by = 'ui' WHERE name = $1",
                None => "DELETE FROM routing_rules WHERE name = $1",
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

async fn owner(conn: &mut Conn, name: &str) -> Result<String> {
    sqlx::query_scalar("SELECT managed_by FROM routing_rules WHERE name = $1")
        .bind(name)
        .fetch_optional(&mut *conn)
        .await
        .map_err(db_err)?
        .ok_or_else(|| Error::not_found(format!("no routing rule named {name}")))
}
