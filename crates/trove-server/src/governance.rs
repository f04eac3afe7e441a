//! What the server does for API tokens and the audit log (issue 16): records changes applied
//! from trove.toml and the CLI (a diff of the rows around each apply, `trove_service::audit`),
//! writes the tokens' last uses every few seconds, and applies `[audit] retention_days`.

use std::sync::Arc;
use std::time::Duration;

use trove_auth::{Identity, Principal};
use trove_service::audit;
use trove_service::{Actor, FrontEnd};

use crate::Trove;

/// How often noted token uses are written (as downloads are).
const FLUSH_EVERY: Duration = Duration::from_secs(10);
/// How often entries older than the retention are removed.
const PRUNE_EVERY: Duration = Duration::from_secs(3600);

/// Who a change applied from trove.toml is attributed to: `system`, realm `config`.
pub fn config_file() -> Actor {
    Actor {
        identity: Identity::of(Principal::User {
            id: String::new(),
            name: "system".into(),
        }),
        realm: Some("config".into()),
        ip: None,
        front_end: FrontEnd::Config,
    }
}

/// Who a change made by `trove <command>` is attributed to: the operating-system user running
/// it (`$USER`, else `cli`), realm `cli`.
pub fn cli() -> Actor {
    let name = std::env::var("USER")
        .or_else(|_| std::env::var("LOGNAME"))
        .ok()
        .filter(|u| !u.is_empty())
        .unwrap_or_else(|| "cli".into());
    Actor {
        identity: Identity::of(Principal::User {
            id: String::new(),
            name,
        }),
        realm: Some("cli".into()),
        ip: None,
        front_end: FrontEnd::Cli,
    }
}

/// The rows the audit diffs, or `None` (logged) when they cannot be read: the change then goes
/// ahead unrecorded rather than not at all.
pub(crate) async fn state(trove: &Trove) -> Option<audit::State> {
    match audit::state(&trove.meta).await {
        Ok(s) => Some(s),
        Err(e) => {
            tracing::error!(error = ?e, "reading the state for the audit log failed; this change is not recorded");
            None
        }
    }
}

/// Records what changed since `before`, attributed to `actor`.
pub(crate) async fn record_since(trove: &Trove, actor: &Actor, before: Option<audit::State>) {
    let Some(before) = before else {
        return;
    };
    if let Some(after) = state(trove).await {
        audit::record_changes(&trove.meta, actor, &before, &after).await;
    }
}

/// Writes token uses and prunes the log, until aborted (`Running::stop`).
pub(crate) async fn jobs(trove: Arc<Trove>, retention_days: u64) {
    let mut flush = tokio::time::interval(FLUSH_EVERY);
    flush.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let mut prune = tokio::time::interval(PRUNE_EVERY);
    prune.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    loop {
        tokio::select! {
            _ = flush.tick() => flush_token_uses(&trove).await,
            _ = prune.tick() => prune_audit(&trove, retention_days).await,
        }
    }
}

pub(crate) async fn flush_token_uses(trove: &Trove) {
    if let Err(e) = trove.meta.api_tokens().flush_uses().await {
        tracing::warn!(error = %e, "recording the last uses of API tokens failed");
    }
}

/// Removes entries older than `days` (0 keeps everything).
pub(crate) async fn prune_audit(trove: &Trove, days: u64) {
    if days == 0 {
        return;
    }
    match audit::prune(&trove.meta, days).await {
        Ok(0) => {}
        Ok(n) => tracing::info!(
            entries = n,
            days,
            "audit entries past their retention removed"
        ),
        Err(e) => tracing::warn!(error = %e, "removing old audit entries failed"),
    }
}
