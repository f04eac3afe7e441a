//! Repositories as rows: declared in trove.toml (`managed_by = 'config'`) or created in the
//! console and the REST API.

use sqlx::Row;
use trove_core::{
    ConnectorSpec, Error, ErrorKind, FormatId, KindConfig, RepoLifecycle, RepoName,
    RepositoryConfig, Result, now_millis,
};

use crate::sqlite::{DbRow, Pool, Tx, db_err};

/// A repository as the config file declares it.
#[derive(Debug, Clone)]
pub struct DeclaredRepo {
    pub name: RepoName,
    pub format: FormatId,
    /// The format's own settings (a JSON object; `{}` for none).
    pub options: serde_json::Map<String, serde_json::Value>,
    pub kind: KindConfig,
    pub force_basic_auth: bool,
    pub routing_rule: Option<String>,
    pub connector: Option<ConnectorSpec>,
    /// Cleanup policies, quotas, immutable tags.
    pub lifecycle: RepoLifecycle,
}

/// A repository row with what the console shows besides its configuration.
#[derive(Debug, Clone, PartialEq)]
pub struct RepoRecord {
    pub config: RepositoryConfig,
    pub connector: Option<ConnectorSpec>,
    /// `config` (declared in trove.toml: read-only in the console) or `ui`.
    pub managed_by: String,
    pub created: i64,
    pub updated: i64,
}

/// What a reconcile changed, by repository name.
#[derive(Debug, Default, PartialEq)]
pub struct ReconcileReport {
    pub created: Vec<String>,
    pub updated: Vec<String>,
    pub disabled: Vec<String>,
}

pub struct Repos<'a>(pub(crate) &'a Pool);

fn repo_from_row(row: &DbRow) -> Result<RepositoryConfig> {
    let name: String = row.get("name");
    let config: String = row.get("config");
    let kind: KindConfig = serde_json::from_str(&config)
        .map_err(|e| Error::internal(format!("stored config of repository {name}: {e}")))?;
    let options: String = row.get("options");
    let options = serde_json::from_str(&options)
        .map_err(|e| Error::internal(format!("stored options of repository {name}: {e}")))?;
    let lifecycle: String = row.get("lifecycle");
    let lifecycle = serde_json::from_str(&lifecycle)
        .map_err(|e| Error::internal(format!("stored lifecycle of repository {name}: {e}")))?;
    Ok(RepositoryConfig {
        id: row.get("id"),
        name: RepoName::parse(&name)?,
        format: FormatId::parse(&row.get::<String, _>("format"))?,
        options,
        online: row.get::<i64, _>("online") != 0,
        kind,
        force_basic_auth: row.get::<i64, _>("force_basic_auth") != 0,
        routing_rule: row.get("routing_rule"),
        lifecycle,
    })
}

impl Repos<'_> {
    /// Every repository, online or not, ordered by name.
    pub async fn list(&self) -> Result<Vec<RepositoryConfig>> {
        let rows =
            sqlx::query("SELECT id, name, format, options, online, config, force_basic_auth, routing_rule, lifecycle FROM repositories ORDER BY name")
                .fetch_all(self.0)
                .await
                .map_err(db_err)?;
        rows.iter().map(repo_from_row).collect()
    }

    /// Makes the database match the declared repositories in one transaction: creates new ones,
    /// updates changed ones, and disables (never deletes) config-managed ones no longer
    /// declared. Idempotent. Changing the format or kind of an existing repository is refused:
    /// its content would no longer make sense.
    pub async fn reconcile(&self, declared: &[DeclaredRepo]) -> Result<ReconcileReport> {
        let mut tx = Tx::begin_write(self.0).await?;
        let mut report = ReconcileReport::default();
        let now = now_millis();
        for d in declared {
            let config = serde_json::to_string(&d.kind).expect("config serialises");
            let options = d.options_json();
            let connector = connector_json(d.connector.as_ref());
            let lifecycle = d.lifecycle_json();
            let kind = d.kind_name();
            let existing = sqlx::query(
                "SELECT id, format, options, kind, online, config, managed_by, force_basic_auth, routing_rule, connector, lifecycle FROM repositories WHERE name = $1",
            )
            .bind(d.name.as_str())
            .fetch_optional(&mut *tx)
            .await
            .map_err(db_err)?;
            match existing {
                None => {
                    sqlx::query(
                        "INSERT INTO repositories (id, name, format, kind, online, config, managed_by, created, updated, force_basic_auth, routing_rule, connector, options, lifecycle) \
                         VALUES ($1, $2, $3, $4, 1, $5, 'config', $6, $6, $7, $8, $9, $10, $11)",
                    )
                    .bind(uuid::Uuid::now_v7().to_string())
                    .bind(d.name.as_str())
                    .bind(d.format.as_str())
                    .bind(kind)
                    .bind(&config)
                    .bind(now)
                    .bind(i64::from(d.force_basic_auth))
                    .bind(&d.routing_rule)
                    .bind(&connector)
                    .bind(&options)
                    .bind(&lifecycle)
                    .execute(&mut *tx)
                    .await
                    .map_err(db_err)?;
                    report.created.push(d.name.to_string());
                }
                Some(row) => {
                    let (format, old_kind): (String, String) = (row.get("format"), row.get("kind"));
                    if d.format != format.as_str() || old_kind != kind {
                        return Err(Error::invalid(format!(
                            "repository {} exists as a {format} {old_kind} repository; it cannot \
                             become a {} {kind} one (purge it or pick another name)",
                            d.name, d.format
                        )));
                    }
                    let unchanged = row.get::<i64, _>("online") == 1
                        && row.get::<String, _>("config") == config
                        && row.get::<String, _>("options") == options
                        && row.get::<String, _>("managed_by") == "config"
                        && (row.get::<i64, _>("force_basic_auth") != 0) == d.force_basic_auth
                        && row.get::<Option<String>, _>("routing_rule") == d.routing_rule
                        && row.get::<Option<String>, _>("connector") == connector
                        && row.get::<String, _>("lifecycle") == lifecycle;
                    if !unchanged {
                        sqlx::query(
                            "UPDATE repositories SET online = 1, config = $2, managed_by = 'config', updated = $3, \
                             force_basic_auth = $4, routing_rule = $5, connector = $6, options = $7, lifecycle = $8 WHERE name = $1",
                        )
                        .bind(d.name.as_str())
                        .bind(&config)
                        .bind(now)
                        .bind(i64::from(d.force_basic_auth))
                        .bind(&d.routing_rule)
                        .bind(&connector)
                        .bind(&options)
                        .bind(&lifecycle)
                        .execute(&mut *tx)
                        .await
                        .map_err(db_err)?;
                        report.updated.push(d.name.to_string());
                    }
                }
            }
        }
        let managed: Vec<String> = sqlx::query_scalar(
            "SELECT name FROM repositories WHERE managed_by = 'config' AND online = 1",
        )
        .fetch_all(&mut *tx)
        .await
        .map_err(db_err)?;
        for name in managed {
            if !declared.iter().any(|d| d.name.as_str() == name) {
                sqlx::query("UPDATE repositories SET online = 0, updated = $2 WHERE name = $1")
                    .bind(&name)
                    .bind(now)
                    .execute(&mut *tx)
                    .await
                    .map_err(db_err)?;
                report.disabled.push(name);
            }
        }
        tx.commit().await?;
        Ok(report)
    }
}

fn connector_json(c: Option<&ConnectorSpec>) -> Option<String> {
    c.filter(|c| !c.is_empty())
        .map(|c| serde_json::to_string(c).expect("connector serialises"))
}

impl Repos<'_> {
    /// Every repository with its connector and owner, ordered by name.
    pub async fn records(&self) -> Result<Vec<RepoRecord>> {
        let rows = sqlx::query(
            "SELECT id, name, format, options, online, config, force_basic_auth, routing_rule, \
             connector, managed_by, created, updated, lifecycle FROM repositories ORDER BY name",
        )
        .fetch_all(self.0)
        .await
        .map_err(db_err)?;
        rows.iter()
            .map(|row| {
                let config = repo_from_row(row)?;
                let connector = row
                    .get::<Option<String>, _>("connector")
                    .map(|c| {
                        serde_json::from_str::<ConnectorSpec>(&c).map_err(|e| {
                            Error::internal(format!("stored connector of {}: {e}", config.name))
                        })
                    })
                    .transpose()?;
                Ok(RepoRecord {
                    config,
                    connector,
                    managed_by: row.get("managed_by"),
                    created: row.get("created"),
                    updated: row.get("updated"),
                })
            })
            .collect()
    }

    /// Creates a repository owned by `managed_by` (`ui`). A taken name is `AlreadyExists`.
    pub async fn create(&self, d: &DeclaredRepo, managed_by: &str) -> Result<()> {
        let now = now_millis();
        let r = sqlx::query(
            "INSERT INTO repositories (id, name, format, kind, online, config, managed_by, created, updated, force_basic_auth, routing_rule, connector, options, lifecycle) \
             VALUES ($1, $2, $3, $4, 1, $5, $6, $7, $7, $8, $9, $10, $11, $12) ON CONFLICT (name) DO NOTHING",
        )
        .bind(uuid::Uuid::now_v7().to_string())
        .bind(d.name.as_str())
        .bind(d.format.as_str())
        .bind(d.kind_name())
        .bind(serde_json::to_string(&d.kind).expect("config serialises"))
        .bind(managed_by)
        .bind(now)
        .bind(i64::from(d.force_basic_auth))
        .bind(&d.routing_rule)
        .bind(connector_json(d.connector.as_ref()))
        .bind(d.options_json())
        .bind(d.lifecycle_json())
        .execute(self.0)
        .await
        .map_err(db_err)?;
        if r.rows_affected() == 0 {
            return Err(Error::new(
                ErrorKind::AlreadyExists,
                format!("a repository named {} already exists", d.name),
            ));
        }
        Ok(())
    }

    /// Replaces the settings of a repository owned by `managed_by`. Its format and kind stay;
    /// a repository declared in trove.toml is refused (`Forbidden`): edit the file instead.
    pub async fn update(&self, d: &DeclaredRepo, managed_by: &str) -> Result<()> {
        let mut tx = Tx::begin_write(self.0).await?;
        let row = sqlx::query("SELECT format, kind, managed_by FROM repositories WHERE name = $1")
            .bind(d.name.as_str())
            .fetch_optional(&mut *tx)
            .await
            .map_err(db_err)?
            .ok_or_else(|| Error::not_found(format!("no repository named {}", d.name)))?;
        check_owner(
            d.name.as_str(),
            &row.get::<String, _>("managed_by"),
            managed_by,
        )?;
        let (format, kind): (String, String) = (row.get("format"), row.get("kind"));
        if d.format != format.as_str() || kind != d.kind_name() {
            return Err(Error::invalid(format!(
                "repository {} is a {format} {kind} repository; its format and kind cannot change",
                d.name
            )));
        }
        sqlx::query(
            "UPDATE repositories SET online = 1, config = $2, updated = $3, force_basic_auth = $4, \
             routing_rule = $5, connector = $6, options = $7, lifecycle = $8 WHERE name = $1",
        )
        .bind(d.name.as_str())
        .bind(serde_json::to_string(&d.kind).expect("config serialises"))
        .bind(now_millis())
        .bind(i64::from(d.force_basic_auth))
        .bind(&d.routing_rule)
        .bind(connector_json(d.connector.as_ref()))
        .bind(d.options_json())
        .bind(d.lifecycle_json())
        .execute(&mut *tx)
        .await
        .map_err(db_err)?;
        tx.commit().await
    }

    /// Deletes a repository owned by `managed_by` with its assets and upload sessions (blobs
    /// stay in the blob store for other repositories). Declared ones are refused.
    pub async fn delete(&self, name: &str, managed_by: &str) -> Result<()> {
        let mut tx = Tx::begin_write(self.0).await?;
        let owner: String =
            sqlx::query_scalar("SELECT managed_by FROM repositories WHERE name = $1")
                .bind(name)
                .fetch_optional(&mut *tx)
                .await
                .map_err(db_err)?
                .ok_or_else(|| Error::not_found(format!("no repository named {name}")))?;
        check_owner(name, &owner, managed_by)?;
        sqlx::query("DELETE FROM repositories WHERE name = $1")
            .bind(name)
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
        tx.commit().await
    }
}

impl Repos<'_> {
    /// Deletes the row of a repository that trove.toml declared once and no longer does (it
    /// stays, disabled, until purged: `trove repo purge`). Any other repository is refused:
    /// one still declared is the file's, one made in the console is deleted there.
    pub async fn remove_undeclared(&self, name: &str) -> Result<()> {
        let mut tx = Tx::begin_write(self.0).await?;
        let row: Option<(String, i64)> =
            sqlx::query_as("SELECT managed_by, online FROM repositories WHERE name = $1")
                .bind(name)
                .fetch_optional(&mut *tx)
                .await
                .map_err(db_err)?;
        match row {
            None => return Err(Error::not_found(format!("no repository named {name}"))),
            Some((owner, online)) if owner != "config" || online != 0 => {
                return Err(Error::new(
                    ErrorKind::Forbidden,
                    format!(
                        "{name} is still in use; only a repository removed from trove.toml is removed by a purge"
                    ),
                ));
            }
            Some(_) => {}
        }
        sqlx::query("DELETE FROM repositories WHERE name = $1")
            .bind(name)
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
        tx.commit().await
    }
}

/// Config-owned rows are edited in trove.toml, not through the console or the API.
pub(crate) fn check_owner(name: &str, owner: &str, caller: &str) -> Result<()> {
    if owner == caller {
        return Ok(());
    }
    let why = match owner {
        "config" => "it is defined in trove.toml; edit the file and reload".to_owned(),
        "builtin" => "it is built in".to_owned(),
        other => format!("it is managed by {other}"),
    };
    Err(Error::new(
        ErrorKind::Forbidden,
        format!("{name} is read-only here: {why}"),
    ))
}

impl DeclaredRepo {
    fn options_json(&self) -> String {
        serde_json::to_string(&self.options).expect("options serialise")
    }

    fn lifecycle_json(&self) -> String {
        serde_json::to_string(&self.lifecycle).expect("lifecycle serialises")
    }

    fn kind_name(&self) -> &'static str {
        match self.kind {
            KindConfig::Hosted { .. } => "hosted",
            KindConfig::Proxy(_) => "proxy",
            KindConfig::Group { .. } => "group",
        }
    }
}
